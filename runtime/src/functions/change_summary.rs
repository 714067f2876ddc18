//! The `change-summary` function behind a Function URL (IAM auth):
//! POST `{"target_year": "2025", "target_month": "6"}` (optional `account`, `region`,
//! `language`) → `{"status", "summary", "facts", "model", "query": {"id", "ids", "bytes_scanned"}}`.
//! Bad input is a 400; an Athena failure a 502 with the reason and the facts so far; a model
//! failure leaves the deterministic report (`status: FALLBACK`, with `model_error`).

use serde::Deserialize;
use serde_json::{json, Value};

use super::{bad_request, parse_body};
use crate::analysis::change_summary::{gather, narrate, Scope};
use crate::lake::LakeLayout;
use crate::llm::Model;
use crate::report::Language;
use crate::source::Source;

pub const MAX_BODY: usize = 4 * 1024;

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
    pub source: Source,
    pub model: Box<dyn Model>,
    pub language: Language,
    pub max_tokens: u32,
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
        super::serve_url(req, |body| async move { self.handle(&body).await }).await
    }

    pub async fn handle(&self, body: &[u8]) -> (u16, Value) {
        let req: Body = match parse_body(body, MAX_BODY, "{\"target_year\": \"2025\", \"target_month\": \"6\"}") {
            Ok(b) => b,
            Err(e) => return e,
        };
        let (Some(year), Some(month)) = (scalar(&req.target_year), scalar(&req.target_month)) else {
            return bad_request("target_year and target_month must be strings or numbers");
        };
        let language = match req.language.as_deref().map(str::parse::<Language>) {
            None => self.language,
            Some(Ok(l)) => l,
            Some(Err(e)) => return bad_request(e),
        };
        let scope = match Scope::new(&year, &month, req.account.as_deref(), req.region.as_deref(), &self.layout) {
            Ok(s) => s,
            Err(e) => return bad_request(e.0),
        };
        let g = gather(&self.source, &self.layout, &scope).await;
        let query = json!({"id": g.query_ids.first(), "ids": g.query_ids, "bytes_scanned": g.bytes_scanned});
        if let Some(e) = g.failure {
            return (502, json!({"status": "FAILED", "error": e.to_string(), "facts": g.facts, "query": query}));
        }
        let n = match narrate(&g.facts, language, self.model.as_ref(), self.max_tokens).await {
            Ok(n) => n,
            Err(e) => return (500, json!({"status": "FAILED", "error": e, "facts": g.facts})),
        };
        let mut answer = json!({"status": n.status, "summary": n.summary, "facts": g.facts, "model": self.model.name(), "query": query});
        if let Some(usage) = n.usage {
            answer["usage"] = json!(usage);
        }
        if let Some(e) = n.model_error {
            answer["model_error"] = json!(e);
        }
        (200, answer)
    }
}
