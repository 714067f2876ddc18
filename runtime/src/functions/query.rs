//! The `query` function: the named-query catalogue behind a Function URL (IAM auth).
//!
//! POST `{"name": "events", "params": {"from": "2025-01-01", "to": "2025-01-31"}}` →
//! `{"status": "SUCCEEDED", "columns": [...], "rows": [{...}], "query": {"id", "bytes_scanned",
//! "estimated_cost_usd"}}`. Bad input is a 400 with the reason; an Athena failure a 502.

use std::collections::BTreeMap;

use aws_lambda_events::event::lambda_function_urls::{LambdaFunctionUrlRequest, LambdaFunctionUrlResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::engine::athena::AthenaEngine;
use crate::lake::LakeLayout;
use crate::query;

/// Request bodies larger than this are refused.
pub const MAX_BODY: usize = 16 * 1024;

/// Environment variable holding the lake layout (JSON), set by the generated template.
pub const LAYOUT_ENV: &str = "OPSLAKE_LAYOUT";
/// Environment variable holding the Athena workgroup.
pub const WORKGROUP_ENV: &str = "OPSLAKE_WORKGROUP";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    name: String,
    #[serde(default)]
    params: BTreeMap<String, Value>,
}

pub struct QueryService {
    pub layout: LakeLayout,
    pub engine: AthenaEngine,
}

fn bad(msg: impl Into<String>) -> (u16, Value) {
    (400, json!({"status": "BAD_REQUEST", "error": msg.into()}))
}

impl QueryService {
    /// Handles a request body; returns the HTTP status and the JSON answer.
    pub async fn handle(&self, body: &[u8]) -> (u16, Value) {
        if body.len() > MAX_BODY {
            return bad(format!("the request body is {} bytes; the limit is {MAX_BODY}", body.len()));
        }
        let req: Request = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => return bad(format!("expected {{\"name\": QUERY, \"params\": {{...}}}}: {e}")),
        };
        let Some(q) = query::find(&req.name) else {
            let names: Vec<&str> = query::QUERIES.iter().map(|q| q.name).collect();
            return bad(format!("no query named `{}`; the queries are: {}", req.name, names.join(", ")));
        };
        let mut pairs = Vec::new();
        for (k, v) in req.params {
            let v = match v {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => return bad(format!("{k}: expected a string, number or boolean, found {other}")),
            };
            pairs.push((k, v));
        }
        let params = match query::validate(q, &pairs, &self.layout) {
            Ok(p) => p,
            Err(e) => return bad(e.0),
        };
        let sql = match query::render_sql(q, &params, &self.layout) {
            Ok(s) => s,
            Err(e) => return bad(e.0),
        };
        match self.engine.run(&sql).await {
            Ok(mut a) => {
                if q.post.is_some() {
                    a.columns = q.columns.iter().map(|c| c.to_string()).collect();
                }
                let finished = query::finish(q, std::mem::take(&mut a.rows));
                let rows: Vec<Value> = finished
                    .iter()
                    .map(|r| Value::Object(a.columns.iter().cloned().zip(r.iter().cloned()).collect()))
                    .collect();
                (
                    200,
                    json!({
                        "status": "SUCCEEDED",
                        "columns": a.columns,
                        "rows": rows,
                        "query": {"id": a.query_id, "bytes_scanned": a.bytes_scanned, "estimated_cost_usd": a.estimated_cost_usd},
                    }),
                )
            }
            Err(e) => (502, json!({"status": "FAILED", "error": e.to_string()})),
        }
    }

    /// Adapts a Function URL event (POST only).
    pub async fn handle_url(&self, req: LambdaFunctionUrlRequest) -> LambdaFunctionUrlResponse {
        match super::request_body(req) {
            Ok(body) => {
                let (status, v) = self.handle(&body).await;
                super::response(status, &v)
            }
            Err((status, v)) => super::response(status, &v),
        }
    }
}

/// The layout from the environment the generated template sets.
pub fn layout_from_env() -> Result<(LakeLayout, String), String> {
    let raw = std::env::var(LAYOUT_ENV).map_err(|_| format!("{LAYOUT_ENV} is not set"))?;
    let layout: LakeLayout = serde_json::from_str(&raw).map_err(|e| format!("{LAYOUT_ENV}: {e}"))?;
    let workgroup = std::env::var(WORKGROUP_ENV).map_err(|_| format!("{WORKGROUP_ENV} is not set"))?;
    Ok((layout, workgroup))
}
