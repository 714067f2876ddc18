//! The `ask` function behind a Function URL (IAM auth): POST `{"question": "…"}` (optional
//! `max_steps`) → `{"status", "answer", "calls", "citations", "steps", "bytes_scanned", …}`.
//! Bad input is a 400; a model that fails, or a question stopped by its step or scan budget,
//! is still a 200 whose `status` says so (the calls made so far are in the answer).

use serde::Deserialize;
use serde_json::{json, Value};

use super::{bad_request, parse_body};
use crate::analysis::ask::{ask, Options};
use crate::lake::LakeLayout;
use crate::llm::Model;
use crate::report::Language;
use crate::source::Source;

pub const MAX_BODY: usize = 4 * 1024;
/// Model turns a request may ask for, at most.
pub const MAX_STEPS: usize = 12;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    question: String,
    #[serde(default)]
    max_steps: Option<usize>,
}

pub struct AskService {
    pub layout: LakeLayout,
    pub source: Source,
    pub model: Box<dyn Model>,
    pub language: Language,
    pub max_tokens: u32,
    pub max_scan_bytes: u64,
}

impl AskService {
    pub async fn handle_url(
        &self,
        req: aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest,
    ) -> aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse {
        super::serve_url(req, |body| async move { self.handle(&body).await }).await
    }

    pub async fn handle(&self, body: &[u8]) -> (u16, Value) {
        let req: Body = match parse_body(body, MAX_BODY, "{\"question\": \"…\"}") {
            Ok(b) => b,
            Err(e) => return e,
        };
        let question = req.question.trim();
        if question.is_empty() {
            return bad_request("question is empty");
        }
        let mut opts = Options::new(
            self.language,
            self.max_tokens,
            jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date(),
        );
        match req.max_steps {
            Some(n) if !(1..=MAX_STEPS).contains(&n) => {
                return bad_request(format!("max_steps must be 1 to {MAX_STEPS}"))
            }
            Some(n) => opts.max_steps = n,
            None => {}
        }
        opts.max_scan_bytes = Some(self.max_scan_bytes);
        let asked = ask(question, &self.source, &self.layout, self.model.as_ref(), &opts).await;
        let mut v = json!(asked);
        v["model"] = json!(self.model.name());
        (200, v)
    }
}
