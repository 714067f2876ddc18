//! The `change-summary` function behind a Function URL (IAM auth):
//! POST `{"target_year": "2025", "target_month": "6"}` (optional `account`, `region`,
//! `language`) → `{"status", "summary", "facts", "model", "query": {"id", "ids", "bytes_scanned"}}`.
//! Bad input is a 400; an Athena failure a 502 with the reason; a model failure leaves the
//! deterministic report (`status: FALLBACK`, with `model_error`).

use serde::Deserialize;
use serde_json::{json, Value};

use crate::analysis::change_summary::{self, Month};
use crate::engine::athena::AthenaEngine;
use crate::lake::LakeLayout;
use crate::llm::{Model, Request};
use crate::query;

pub const MAX_BODY: usize = 4 * 1024;
/// Months of baseline before the target month.
pub const BASELINE_MONTHS: i32 = 6;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    target_year: Value,
    target_month: Value,
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    language: Option<String>,
}

pub struct ChangeSummaryService {
    pub layout: LakeLayout,
    pub athena: AthenaEngine,
    pub model: Box<dyn Model>,
    pub language: String,
    pub max_tokens: u32,
}

fn bad(msg: impl Into<String>) -> (u16, Value) {
    (400, json!({"status": "BAD_REQUEST", "error": msg.into()}))
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl ChangeSummaryService {
    pub async fn handle_url(
        &self,
        req: aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest,
    ) -> aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse {
        match super::request_body(req) {
            Ok(body) => {
                let (status, v) = self.handle(&body).await;
                super::response(status, &v)
            }
            Err((status, v)) => super::response(status, &v),
        }
    }

    pub async fn handle(&self, body: &[u8]) -> (u16, Value) {
        if body.len() > MAX_BODY {
            return bad(format!("the request body is {} bytes; the limit is {MAX_BODY}", body.len()));
        }
        let req: Body = match serde_json::from_slice(body) {
            Ok(b) => b,
            Err(e) => return bad(format!("expected {{\"target_year\": \"2025\", \"target_month\": \"6\"}}: {e}")),
        };
        let (Some(year), Some(month)) = (scalar(&req.target_year), scalar(&req.target_month)) else {
            return bad("target_year and target_month must be strings or numbers");
        };
        let language = req.language.unwrap_or_else(|| self.language.clone());
        if language != "en" && language != "ja" {
            return bad(format!("language `{language}` is not en or ja"));
        }
        let mut params = vec![("year".to_string(), year), ("month".to_string(), month)];
        if let Some(a) = req.account {
            params.push(("account".into(), a));
        }
        if let Some(r) = req.region {
            params.push(("region".into(), r));
        }
        let changes_q = query::find("config-changes").expect("catalogued");
        let lifecycle_q = query::find("config-lifecycle").expect("catalogued");
        let target = match query::validate(changes_q, &params, &self.layout) {
            Ok(p) => p,
            Err(e) => return bad(e.0),
        };
        let (y, m) = (target.int("year").unwrap_or(0) as i32, target.int("month").unwrap_or(0) as i32);
        let start = (i32::from(self.layout.start.year()), i32::from(self.layout.start.month()));
        let mut months = Vec::new();
        let (mut ids, mut bytes) = (Vec::new(), 0u64);
        let mut first_error = None;
        for (yy, mm) in change_summary::months_to_read(start, y, m, BASELINE_MONTHS) {
            let mut p = params.clone();
            p[0].1 = yy.to_string();
            p[1].1 = mm.to_string();
            let mut month = Month { label: format!("{yy}-{mm:02}"), ..Month::default() };
            for (q, into_changes) in [(changes_q, true), (lifecycle_q, false)] {
                let run = async {
                    let params = query::validate(q, &p, &self.layout).map_err(|e| e.0)?;
                    let sql = query::render_sql(q, &params, &self.layout).map_err(|e| e.0)?;
                    self.athena.run(&sql).await.map_err(|e| e.to_string())
                };
                match run.await {
                    Ok(a) => {
                        ids.push(a.query_id.clone());
                        bytes += a.bytes_scanned;
                        if into_changes {
                            month.changes = a.rows;
                        } else {
                            month.lifecycle = a.rows;
                        }
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            months.push(month);
        }
        let query = json!({"id": ids.first(), "ids": ids, "bytes_scanned": bytes});
        let target_month = months.remove(0);
        let facts = change_summary::facts(&target_month, &months);
        if let Some(e) = first_error {
            return (502, json!({"status": "FAILED", "error": e, "facts": facts, "query": query}));
        }
        let report = change_summary::report(&facts, &language);
        let mut answer = json!({"status": "SUCCEEDED", "summary": report, "facts": facts, "model": self.model.name(), "query": query});
        if change_summary::is_empty(&facts) {
            return (200, answer);
        }
        let (system, user) = match change_summary::prompt(&facts, &language) {
            Ok(p) => p,
            Err(e) => {
                return (500, json!({"status": "FAILED", "error": format!("prompt template: {e}"), "facts": facts}))
            }
        };
        match self.model.complete(&Request { system, user, max_tokens: self.max_tokens }).await {
            Some(Ok(c)) => {
                answer["summary"] = json!(c.text);
                answer["usage"] = json!({"input_tokens": c.input_tokens, "output_tokens": c.output_tokens, "stop_reason": c.stop_reason});
            }
            Some(Err(e)) => {
                answer["status"] = json!("FALLBACK");
                answer["model_error"] = json!(e.0);
            }
            None => {}
        }
        (200, answer)
    }
}
