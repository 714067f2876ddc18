//! The Lambda functions' logic, as libraries: each `src/bin/*.rs` is only an adapter that
//! reads its environment ([`env`]), connects, and hands events to these.

#[cfg(all(feature = "slack", feature = "live", feature = "athena"))]
pub mod analyze;
pub mod ask;
pub mod change_summary;
pub mod env;
#[cfg(feature = "insights")]
pub mod insights;
pub mod job;
#[cfg(feature = "sns")]
pub mod leftovers;
pub mod query;
#[cfg(feature = "slack")]
pub mod slack;

use std::future::Future;

use aws_lambda_events::event::lambda_function_urls::{LambdaFunctionUrlRequest, LambdaFunctionUrlResponse};
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

/// One structured log line on stderr (Lambda sends it to the function's log group): a level,
/// a message, and fields that never hold a secret, a prompt or an evidence row.
pub fn log(level: &str, message: &str, fields: Value) {
    let mut line = json!({"level": level, "message": message});
    if let (Some(l), Value::Object(f)) = (line.as_object_mut(), fields) {
        l.extend(f);
    }
    eprintln!("{line}");
}

/// The body of a Function URL request, or the (status, answer) to send when it is not a POST
/// or not decodable.
pub fn request_body(req: LambdaFunctionUrlRequest) -> Result<Vec<u8>, (u16, Value)> {
    let method = req.request_context.http.method.clone().unwrap_or_default();
    if method != "POST" {
        return Err((405, json!({"status": "BAD_REQUEST", "error": format!("use POST, not {method}")})));
    }
    let raw = req.body.unwrap_or_default();
    if req.is_base64_encoded {
        base64::engine::general_purpose::STANDARD
            .decode(raw.as_bytes())
            .map_err(|e| bad_request(format!("body is not base64: {e}")))
    } else {
        Ok(raw.into_bytes())
    }
}

/// A JSON Function URL response.
pub fn response(status: u16, body: &Value) -> LambdaFunctionUrlResponse {
    let mut headers = aws_lambda_events::http::HeaderMap::new();
    headers.insert("content-type", aws_lambda_events::http::HeaderValue::from_static("application/json"));
    let mut r = LambdaFunctionUrlResponse::default();
    r.status_code = i64::from(status);
    r.headers = headers;
    r.body = Some(body.to_string());
    r.is_base64_encoded = false;
    r
}

/// Serves one Function URL event: the body to `handle`, its (status, JSON) as the response.
pub async fn serve_url<F, Fut>(req: LambdaFunctionUrlRequest, handle: F) -> LambdaFunctionUrlResponse
where
    F: FnOnce(Vec<u8>) -> Fut,
    Fut: Future<Output = (u16, Value)>,
{
    let (status, v) = match request_body(req) {
        Ok(body) => handle(body).await,
        Err(e) => e,
    };
    response(status, &v)
}

/// A 400 answer.
pub fn bad_request(msg: impl Into<String>) -> (u16, Value) {
    (400, json!({"status": "BAD_REQUEST", "error": msg.into()}))
}

/// A 502 answer: the engine behind the function failed.
pub fn failed(msg: impl Into<String>) -> (u16, Value) {
    (502, json!({"status": "FAILED", "error": msg.into()}))
}

/// A request body as `T`: at most `max` bytes of strict JSON, else a 400 that shows `shape`.
pub fn parse_body<T: DeserializeOwned>(body: &[u8], max: usize, shape: &str) -> Result<T, (u16, Value)> {
    if body.len() > max {
        return Err(bad_request(format!("the request body is {} bytes; the limit is {max}", body.len())));
    }
    serde_json::from_slice(body).map_err(|e| bad_request(format!("expected {shape}: {e}")))
}

/// How long one Athena query of a function may run: a minute inside the shortest timeout the
/// templates give a function that queries ([`FUNCTION_TIMEOUT_SECS`]), so that a query past its
/// deadline is stopped and reported instead of the function being killed mid-answer.
pub const ATHENA_DEADLINE: std::time::Duration = std::time::Duration::from_secs(240);
/// The timeout of the functions behind a Function URL (the templates set it).
pub const FUNCTION_TIMEOUT_SECS: u64 = 300;

/// The functions read the lake through Athena: the workgroup and database of their environment,
/// each query under [`ATHENA_DEADLINE`].
#[cfg(feature = "athena")]
pub fn athena(lake: &env::LakeEnv, aws: &crate::aws::Aws) -> crate::source::Source {
    crate::source::Source::Athena(
        crate::engine::athena::AthenaEngine::new(aws, &lake.workgroup, &lake.layout.database)
            .with_deadline(ATHENA_DEADLINE),
    )
}
