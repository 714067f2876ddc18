//! The `slack` function: Slack's one public endpoint (a Function URL with auth NONE, because
//! Slack cannot sign AWS requests). Every request's signature is checked before a byte of it
//! is parsed; a refused request gets 401 and starts nothing. It answers within Slack's 3 s:
//! it opens modals (`views.open`, with the `trigger_id` that lives 3 s) and hands analyses to
//! the `analyze` worker with an asynchronous invocation, never running one itself.
//!
//! - `/opslake analyze` opens the modal; `/opslake analyze at TIME` or `… alarm NAME` starts
//!   at once; other words open the modal with them as what was seen.
//! - The message shortcut opens the modal at the message's time, with the alarm named in it.
//! - The modal's submission starts the worker, under the view's id.
//!
//! A delivery Slack retries (`X-Slack-Retry-Num`) is acknowledged and dropped; the worker's
//! ledger claims each request's key once, so no path starts a second run.

use std::future::Future;
use std::pin::Pin;

use aws_lambda_events::event::lambda_function_urls::{LambdaFunctionUrlRequest, LambdaFunctionUrlResponse};
use aws_lambda_events::http::{HeaderMap, HeaderValue};
use jiff::Timestamp;
use serde_json::{json, Value};

use super::job::{Job, Reply, When, JOB_KIND};
use crate::slack::api::SlackApi;
use crate::slack::blocks::{self, Origin, MODAL, SHORTCUT};
use crate::slack::payload::{self, Command, Inbound, Shortcut, Submission};
use crate::slack::verify::SigningSecret;

/// Largest body read (Slack's payloads are a few KB; a modal's state with long text, tens).
pub const MAX_BODY: usize = 256 * 1024;

/// Starts the worker with a job, without waiting for it.
pub trait Worker: Send + Sync {
    fn start<'a>(&'a self, job: &'a Job) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}

/// The worker as a Lambda function, invoked asynchronously (`InvocationType: Event`).
pub struct LambdaWorker {
    client: aws_sdk_lambda::Client,
    function: String,
}

impl LambdaWorker {
    pub fn new(aws: &crate::aws::Aws, function: &str) -> LambdaWorker {
        let config = aws_sdk_lambda::config::Builder::from(aws.config()).retry_config(crate::aws::retries(3)).build();
        LambdaWorker { client: aws_sdk_lambda::Client::from_conf(config), function: function.to_string() }
    }
}

impl Worker for LambdaWorker {
    fn start<'a>(&'a self, job: &'a Job) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            let payload = serde_json::to_vec(job).map_err(|e| e.to_string())?;
            self.client
                .invoke()
                .function_name(&self.function)
                .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
                .payload(aws_smithy_types::Blob::new(payload))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| format!("Lambda Invoke {}: {}", self.function, crate::aws::sdk_message(&e)))
        })
    }
}

/// What the endpoint answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    /// JSON, or nothing (an empty 200 is Slack's plain acknowledgement).
    pub body: Option<Value>,
    /// Tell Slack not to retry (`X-Slack-No-Retry: 1`).
    pub no_retry: bool,
}

impl Answer {
    fn ack() -> Answer {
        Answer { status: 200, body: None, no_retry: false }
    }
    fn json(status: u16, body: Value) -> Answer {
        Answer { status, body: Some(body), no_retry: false }
    }
    /// A message only the person who typed the command sees.
    fn ephemeral(text: impl Into<String>) -> Answer {
        Answer::json(200, json!({"response_type": "ephemeral", "text": text.into()}))
    }

    pub fn into_response(self) -> LambdaFunctionUrlResponse {
        let mut headers = HeaderMap::new();
        if self.no_retry {
            headers.insert("x-slack-no-retry", HeaderValue::from_static("1"));
        }
        let mut r = LambdaFunctionUrlResponse::default();
        if let Some(b) = &self.body {
            headers.insert("content-type", HeaderValue::from_static("application/json"));
            r.body = Some(b.to_string());
        }
        r.status_code = i64::from(self.status);
        r.headers = headers;
        r.is_base64_encoded = false;
        r
    }
}

const USAGE: &str =
    "Usage: `/opslake analyze` (a form), `/opslake analyze at 2025-06-12T09:40:00Z`, or `/opslake analyze alarm NAME`.";

pub struct SlackService {
    pub secret: SigningSecret,
    pub api: SlackApi,
    pub worker: Box<dyn Worker>,
    /// The spec's log groups (the modal offers them).
    pub log_groups: Vec<String>,
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

impl SlackService {
    pub async fn handle_url(&self, req: LambdaFunctionUrlRequest) -> LambdaFunctionUrlResponse {
        let headers = req.headers.clone();
        let answer = match super::request_body(req) {
            Ok(body) => self.handle(&headers, &body, Timestamp::now()).await,
            Err((status, v)) => Answer::json(status, v),
        };
        answer.into_response()
    }

    /// One request at `now`: verified, then read and acted on.
    pub async fn handle(&self, headers: &HeaderMap, body: &[u8], now: Timestamp) -> Answer {
        if body.len() > MAX_BODY {
            return Answer::json(413, json!({"error": format!("the body is over {MAX_BODY} bytes")}));
        }
        let verified = self.secret.verify(
            header(headers, "x-slack-request-timestamp"),
            header(headers, "x-slack-signature"),
            body,
            now.as_second(),
        );
        if let Err(refused) = verified {
            // Why, never the body or the headers' values.
            super::log("WARN", "refused a request", json!({"reason": refused.to_string()}));
            return Answer::json(401, json!({"error": "the request is not signed by Slack"}));
        }
        if header(headers, "x-slack-retry-num").is_some() {
            return Answer { no_retry: true, ..Answer::ack() };
        }
        let inbound = match payload::parse(header(headers, "content-type"), body) {
            Ok(i) => i,
            Err(e) => return Answer::json(400, json!({"error": e.to_string()})),
        };
        match inbound {
            Inbound::UrlVerification { challenge } => Answer::json(200, json!({"challenge": challenge})),
            Inbound::Command(c) => self.command(c, now).await,
            Inbound::Shortcut(s) if s.callback_id == SHORTCUT => self.shortcut(s).await,
            Inbound::Submission(s) if s.callback_id == MODAL => self.submission(s).await,
            _ => Answer::ack(),
        }
    }

    async fn open(&self, trigger_id: &str, origin: &Origin, at: Timestamp, alarm: Option<&str>, note: &str) -> Answer {
        let view = blocks::modal(origin, at, alarm, note, &self.log_groups);
        match self.api.views_open(trigger_id, &view).await {
            Ok(()) => Answer::ack(),
            Err(e) => Answer::ephemeral(format!("Could not open the form: {e}")),
        }
    }

    async fn command(&self, c: Command, now: Timestamp) -> Answer {
        let text = c.text.trim();
        let (verb, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        if verb != "analyze" {
            return Answer::ephemeral(USAGE);
        }
        let rest = rest.trim();
        let origin = Origin { channel: c.channel_id.clone(), thread_ts: None };
        let when = match rest.split_once(char::is_whitespace).unwrap_or((rest, "")) {
            ("", _) => return self.open(&c.trigger_id, &origin, now, None, "").await,
            ("alarm", name) if !name.trim().is_empty() => When::Alarm { name: name.trim().to_string() },
            ("at", t) => match crate::query::parse_time(t.trim()) {
                Some(at) => When::At { at },
                None => return Answer::ephemeral(format!("`{}` is not a time. {USAGE}", t.trim())),
            },
            (first, "") if crate::query::parse_time(first).is_some() => {
                When::At { at: crate::query::parse_time(first).unwrap_or(now) }
            }
            _ => return self.open(&c.trigger_id, &origin, now, None, rest).await,
        };
        let job = Job {
            kind: JOB_KIND.into(),
            key: format!("slack:{}", c.trigger_id),
            when,
            account: None,
            region: None,
            log_groups: Vec::new(),
            note: None,
            reply: Reply { channel: c.channel_id, thread_ts: None, user: Some(c.user_id) },
        };
        match self.worker.start(&job).await {
            Ok(()) => Answer::ephemeral("Analyzing; the answer will be posted in this channel."),
            Err(e) => Answer::ephemeral(format!("Could not start the analysis: {e}")),
        }
    }

    async fn shortcut(&self, s: Shortcut) -> Answer {
        let at = s
            .message_ts
            .split('.')
            .next()
            .and_then(|secs| secs.parse::<i64>().ok())
            .and_then(|secs| Timestamp::from_second(secs).ok())
            .unwrap_or_else(Timestamp::now);
        let origin = Origin { channel: s.channel_id.clone(), thread_ts: Some(s.thread_ts.clone()) };
        let alarm = payload::alarm_name(&s.text);
        self.open(&s.trigger_id, &origin, at, alarm.as_deref(), &s.text).await
    }

    async fn submission(&self, s: Submission) -> Answer {
        let errors =
            |block: &str, msg: String| Answer::json(200, json!({"response_action": "errors", "errors": {block: msg}}));
        let origin: Origin = match serde_json::from_str(&s.private_metadata) {
            Ok(o) => o,
            Err(_) => return errors("when", "this form was not opened by opslake; open it again".into()),
        };
        let asked = match blocks::submitted(&s.values, &self.log_groups) {
            Ok(a) => a,
            Err((block, msg)) => return errors(block, msg),
        };
        let when = match (asked.alarm, asked.at) {
            (Some(name), _) => When::Alarm { name },
            (None, Some(at)) => When::At { at },
            (None, None) => return errors("when", "choose a time, or name an alarm".into()),
        };
        let job = Job {
            kind: JOB_KIND.into(),
            key: format!("slack:{}", s.view_id),
            when,
            account: None,
            region: None,
            log_groups: asked.log_groups,
            note: asked.note,
            reply: Reply { channel: origin.channel, thread_ts: origin.thread_ts, user: Some(s.user_id) },
        };
        match self.worker.start(&job).await {
            Ok(()) => Answer::ack(),
            Err(e) => errors("when", format!("could not start the analysis: {e}")),
        }
    }
}
