//! Language models: one small trait, three providers — Bedrock Converse (IAM auth), the
//! Anthropic Messages API (API key), and `none`. Throttling and server errors are retried
//! with backoff; a caller that still gets an error falls back to the deterministic report.
//! Temperature is always 0: the model narrates facts, it does not explore.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message, SystemContentBlock,
};
use serde_json::{json, Value};

/// What to ask.
#[derive(Debug, Clone)]
pub struct Request {
    pub system: String,
    pub user: String,
    pub max_tokens: u32,
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub text: String,
    /// `end_turn`, `max_tokens`, …
    pub stop_reason: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelError(pub String);

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ModelError {}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A language model.
pub trait Model: Send + Sync {
    /// `none`, `bedrock:ID` or `anthropic:ID`.
    fn name(&self) -> String;
    /// `None` for the `none` provider: no call is made.
    fn complete<'a>(&'a self, req: &'a Request) -> BoxFuture<'a, Option<Result<Completion, ModelError>>>;
}

/// No model: the deterministic report is the answer.
pub struct NoModel;

impl Model for NoModel {
    fn name(&self) -> String {
        "none".into()
    }
    fn complete<'a>(&'a self, _: &'a Request) -> BoxFuture<'a, Option<Result<Completion, ModelError>>> {
        Box::pin(async { None })
    }
}

/// Waits between attempts on throttling and 5xx.
#[derive(Debug, Clone)]
pub struct Backoff {
    pub attempts: u32,
    pub first: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { attempts: 4, first: Duration::from_millis(500) }
    }
}

/// Bedrock Converse.
pub struct Bedrock {
    pub client: aws_sdk_bedrockruntime::Client,
    pub model_id: String,
    pub backoff: Backoff,
}

impl Bedrock {
    pub async fn connect(
        model_id: &str,
        region: Option<&str>,
        endpoint_url: Option<&str>,
        backoff: Backoff,
    ) -> Bedrock {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(r) = region {
            loader = loader.region(aws_config::Region::new(r.to_string()));
        }
        if let Some(u) = endpoint_url {
            loader = loader.endpoint_url(u);
        }
        let shared = loader.load().await;
        // Retries are ours (same policy for every provider).
        let conf = aws_sdk_bedrockruntime::config::Builder::from(&shared)
            .retry_config(aws_sdk_bedrockruntime::config::retry::RetryConfig::disabled())
            .build();
        Bedrock { client: aws_sdk_bedrockruntime::Client::from_conf(conf), model_id: model_id.into(), backoff }
    }

    async fn once(&self, req: &Request) -> Result<Completion, (bool, ModelError)> {
        let message = Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Text(req.user.clone()))
            .build()
            .map_err(|e| (false, ModelError(e.to_string())))?;
        let sent = self
            .client
            .converse()
            .model_id(&self.model_id)
            .system(SystemContentBlock::Text(req.system.clone()))
            .messages(message)
            .inference_config(
                InferenceConfiguration::builder().max_tokens(req.max_tokens as i32).temperature(0.0).build(),
            )
            .send()
            .await;
        match sent {
            Ok(out) => {
                let text = out
                    .output()
                    .and_then(|o| o.as_message().ok())
                    .map(|m| m.content().iter().filter_map(|c| c.as_text().ok()).cloned().collect::<Vec<_>>().join(""))
                    .unwrap_or_default();
                let usage = out.usage();
                Ok(Completion {
                    text,
                    stop_reason: out.stop_reason().as_str().to_string(),
                    input_tokens: usage.map_or(0, |u| u.input_tokens().max(0) as u64),
                    output_tokens: usage.map_or(0, |u| u.output_tokens().max(0) as u64),
                })
            }
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
                let code = e.code().unwrap_or("").to_string();
                let retry = code == "ThrottlingException"
                    || code == "ServiceUnavailableException"
                    || status == 429
                    || status >= 500
                    || e.raw_response().is_none();
                let code = if code.is_empty() { format!("HTTP {status}") } else { code };
                Err((
                    retry,
                    ModelError(format!("Bedrock Converse ({}): {code}: {}", self.model_id, e.message().unwrap_or(""))),
                ))
            }
        }
    }
}

impl Model for Bedrock {
    fn name(&self) -> String {
        format!("bedrock:{}", self.model_id)
    }
    fn complete<'a>(&'a self, req: &'a Request) -> BoxFuture<'a, Option<Result<Completion, ModelError>>> {
        Box::pin(async move { Some(with_backoff(&self.backoff, || self.once(req)).await) })
    }
}

/// The Anthropic Messages API.
pub struct Anthropic {
    pub api_key: String,
    pub model: String,
    /// `https://api.anthropic.com` (tests point it at a local server).
    pub base_url: String,
    pub backoff: Backoff,
}

impl Anthropic {
    fn once_blocking(base: &str, key: &str, body: &Value) -> Result<Value, (bool, ModelError)> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let resp = agent
            .post(&format!("{}/v1/messages", base.trim_end_matches('/')))
            .header("x-api-key", key)
            .header("anthropic-version", "2023-06-01")
            .header("content-type", "application/json")
            .send(body.to_string());
        let mut resp = match resp {
            Ok(r) => r,
            Err(e) => return Err((true, ModelError(format!("Anthropic Messages: {e}")))),
        };
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status == 200 {
            return Ok(v);
        }
        let retry = status == 429 || status == 529 || status >= 500;
        let msg = v["error"]["message"].as_str().unwrap_or(&text).to_string();
        let kind = v["error"]["type"].as_str().unwrap_or("error").to_string();
        Err((retry, ModelError(format!("Anthropic Messages: HTTP {status} {kind}: {msg}"))))
    }

    async fn once(&self, req: &Request) -> Result<Completion, (bool, ModelError)> {
        let body = json!({
            "model": self.model,
            "max_tokens": req.max_tokens,
            "temperature": 0,
            "system": req.system,
            "messages": [{"role": "user", "content": req.user}],
        });
        let (base, key) = (self.base_url.clone(), self.api_key.clone());
        let v = tokio::task::spawn_blocking(move || Anthropic::once_blocking(&base, &key, &body))
            .await
            .map_err(|e| (false, ModelError(format!("Anthropic Messages: {e}"))))??;
        let text = v["content"]
            .as_array()
            .map(|c| c.iter().filter_map(|b| b["text"].as_str()).collect::<Vec<_>>().join(""))
            .unwrap_or_default();
        Ok(Completion {
            text,
            stop_reason: v["stop_reason"].as_str().unwrap_or("").to_string(),
            input_tokens: v["usage"]["input_tokens"].as_u64().unwrap_or(0),
            output_tokens: v["usage"]["output_tokens"].as_u64().unwrap_or(0),
        })
    }
}

impl Model for Anthropic {
    fn name(&self) -> String {
        format!("anthropic:{}", self.model)
    }
    fn complete<'a>(&'a self, req: &'a Request) -> BoxFuture<'a, Option<Result<Completion, ModelError>>> {
        Box::pin(async move { Some(with_backoff(&self.backoff, || self.once(req)).await) })
    }
}

/// Retries transient failures (`(true, _)`) with doubling waits.
async fn with_backoff<'a, F, Fut>(b: &Backoff, mut call: F) -> Result<Completion, ModelError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Completion, (bool, ModelError)>> + 'a,
{
    let mut wait = b.first;
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(c) => return Ok(c),
            Err((true, e)) if attempt < b.attempts => {
                let _ = e;
                tokio::time::sleep(wait).await;
                wait *= 2;
                attempt += 1;
            }
            Err((_, e)) => {
                return Err(ModelError(format!("{e} (after {attempt} attempt{})", if attempt == 1 { "" } else { "s" })))
            }
        }
    }
}

/// Parses `none`, `bedrock:ID` or `anthropic:ID`.
pub fn parse_model(spec: &str) -> Result<(&str, Option<&str>), String> {
    match spec.split_once(':') {
        None if spec == "none" => Ok(("none", None)),
        Some((p @ ("bedrock" | "anthropic"), id)) if !id.is_empty() => Ok((p, Some(id))),
        _ => Err(format!("`{spec}`: expected none, bedrock:MODEL_ID or anthropic:MODEL")),
    }
}
