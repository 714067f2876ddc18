//! The `query` function: the named-query catalogue behind a Function URL (IAM auth).
//!
//! POST `{"name": "events", "params": {"from": "2025-01-01", "to": "2025-01-31"}}` →
//! `{"status": "SUCCEEDED", "columns": [...], "rows": [{...}], "query": {"id", "bytes_scanned",
//! "estimated_cost_usd"}}`. Bad input is a 400 with the reason; an Athena failure a 502.

use std::collections::BTreeMap;

use aws_lambda_events::event::lambda_function_urls::{LambdaFunctionUrlRequest, LambdaFunctionUrlResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{bad_request, failed, parse_body};
use crate::lake::LakeLayout;
use crate::query::Via;
use crate::source::Source;

/// Request bodies larger than this are refused.
pub const MAX_BODY: usize = 16 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    name: String,
    #[serde(default)]
    params: BTreeMap<String, Value>,
}

pub struct QueryService {
    pub layout: LakeLayout,
    pub source: Source,
}

impl QueryService {
    /// Handles a request body; returns the HTTP status and the JSON answer.
    pub async fn handle(&self, body: &[u8]) -> (u16, Value) {
        let req: Request = match parse_body(body, MAX_BODY, "{\"name\": QUERY, \"params\": {...}}") {
            Ok(r) => r,
            Err(e) => return e,
        };
        let mut pairs = Vec::new();
        for (k, v) in req.params {
            let v = match v {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => return bad_request(format!("{k}: expected a string, number or boolean, found {other}")),
            };
            pairs.push((k, v));
        }
        match self.source.ask(&req.name, &pairs, &self.layout).await {
            Ok(a) => {
                let (id, cost) = match &a.via {
                    Via::Athena { query_id, estimated_cost_usd } => (Some(query_id.clone()), *estimated_cost_usd),
                    _ => (None, 0.0),
                };
                (
                    200,
                    json!({
                        "status": "SUCCEEDED",
                        "columns": a.columns,
                        "rows": a.objects(),
                        "query": {"id": id, "bytes_scanned": a.stats.bytes_scanned, "estimated_cost_usd": cost},
                    }),
                )
            }
            Err(e) if e.is_bad_input() => bad_request(e.to_string()),
            Err(e) => failed(e.to_string()),
        }
    }

    /// Adapts a Function URL event (POST only).
    pub async fn handle_url(&self, req: LambdaFunctionUrlRequest) -> LambdaFunctionUrlResponse {
        super::serve_url(req, |body| async move { self.handle(&body).await }).await
    }
}
