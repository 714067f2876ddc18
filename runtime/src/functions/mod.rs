//! The Lambda functions' logic, as libraries: each `src/bin/*.rs` is only an adapter that
//! reads its configuration and hands events to these.

pub mod change_summary;
pub mod leftovers;
pub mod query;

use aws_lambda_events::event::lambda_function_urls::{LambdaFunctionUrlRequest, LambdaFunctionUrlResponse};
use base64::Engine as _;
use serde_json::{json, Value};

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
            .map_err(|e| (400, json!({"status": "BAD_REQUEST", "error": format!("body is not base64: {e}")})))
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
