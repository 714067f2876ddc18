//! The `query` function: the named-query catalogue behind a Function URL (IAM auth).
//!
//! POST `{"name": "events", "params": {"from": "2025-01-01", "to": "2025-01-31"}}` →
//! `{"status": "SUCCEEDED", "columns": [...], "rows": [{...}], "truncated": false, "query": {"id",
//! "bytes_scanned", "estimated_cost_usd", "result_location"}}`. Bad input is a 400 with the
//! reason; an Athena failure a 502.
//!
//! A Function URL answers at most 6 MB, and the function reads at most [`MAX_ROWS`] rows: an
//! answer that would be larger carries the rows that fit, `"truncated": true`, and the S3
//! location of the whole result Athena wrote, so a large answer is never lost after its scan
//! was paid for.

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
/// Rows the function reads of a result at most (the engine stops paging there).
pub const MAX_ROWS: usize = 20_000;
/// Bytes of rows in an answer at most (a Function URL response is at most 6 MB, headers and
/// the rest of the answer included).
pub const MAX_ROWS_BYTES: usize = 5_000_000;

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
                let (id, cost, location, complete) = match &a.via {
                    Via::Athena { query_id, estimated_cost_usd, output_location, complete } => {
                        (Some(query_id.clone()), *estimated_cost_usd, output_location.clone(), *complete)
                    }
                    _ => (None, 0.0, None, true),
                };
                let mut rows = Vec::new();
                let mut bytes = 0usize;
                let mut fits = true;
                for row in a.objects() {
                    let size = serde_json::to_string(&row).map(|t| t.len() + 1).unwrap_or(0);
                    if bytes + size > MAX_ROWS_BYTES {
                        fits = false;
                        break;
                    }
                    bytes += size;
                    rows.push(row);
                }
                (
                    200,
                    json!({
                        "status": "SUCCEEDED",
                        "columns": a.columns,
                        "truncated": !(fits && complete),
                        "rows_returned": rows.len(),
                        "rows": rows,
                        "query": {"id": id, "bytes_scanned": a.stats.bytes_scanned, "estimated_cost_usd": cost,
                            "result_location": location},
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
