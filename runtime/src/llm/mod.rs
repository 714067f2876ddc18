//! Language models: one small trait, three providers — Bedrock Converse (IAM auth), the
//! Anthropic Messages API (API key), and `none`. Throttling and server errors are retried
//! with backoff; a caller that still gets an error falls back to the deterministic report.
//! Temperature is always 0: the model narrates facts, it does not explore.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message, SystemContentBlock,
};
use serde_json::{json, Value};

use crate::aws::Aws;
pub use crate::backoff::Backoff;
use crate::http::HttpClient;

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

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ModelError(pub String);

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

/// The retries of every provider: 4 calls, pauses doubling from half a second.
pub const RETRIES: Backoff = Backoff::retries(4, Duration::from_millis(500));

/// Bedrock Converse.
pub struct Bedrock {
    pub client: aws_sdk_bedrockruntime::Client,
    pub model_id: String,
    pub backoff: Backoff,
}

impl Bedrock {
    /// A Converse client on `aws`'s credentials, region and endpoint.
    pub fn new(aws: &Aws, model_id: &str, backoff: Backoff) -> Bedrock {
        // Retries are ours (same policy for every provider).
        let conf = aws_sdk_bedrockruntime::config::Builder::from(aws.config())
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
            Err(e) => Err((
                crate::aws::is_transient(&e),
                ModelError(format!("Bedrock Converse ({}): {}", self.model_id, crate::aws::sdk_message(&e))),
            )),
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
    pub http: HttpClient,
}

impl Anthropic {
    async fn once(&self, req: &Request) -> Result<Completion, (bool, ModelError)> {
        let body = json!({
            "model": self.model,
            "max_tokens": req.max_tokens,
            "temperature": 0,
            "system": req.system,
            "messages": [{"role": "user", "content": req.user}],
        });
        let url = format!("{}/v1/messages", self.base_url.trim_end_matches('/'));
        let headers = [("x-api-key", self.api_key.as_str()), ("anthropic-version", "2023-06-01")];
        let resp = self
            .http
            .post_json(&url, &headers, &body)
            .await
            .map_err(|e| (true, ModelError(format!("Anthropic Messages: {e}"))))?;
        let v: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
        if resp.status != 200 {
            let retry = resp.status == 429 || resp.status == 529 || resp.status >= 500;
            let text = String::from_utf8_lossy(&resp.body);
            let msg = v["error"]["message"].as_str().map_or_else(|| text.to_string(), str::to_string);
            let kind = v["error"]["type"].as_str().unwrap_or("error");
            return Err((retry, ModelError(format!("Anthropic Messages: HTTP {} {kind}: {msg}", resp.status))));
        }
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

/// Retries transient failures (`(true, _)`); the error says how many calls were made.
async fn with_backoff<F, Fut>(b: &Backoff, call: F) -> Result<Completion, ModelError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Completion, (bool, ModelError)>>,
{
    b.retry(call, |(transient, _)| *transient).await.map_err(|e| {
        let n = e.attempts;
        ModelError(format!("{} (after {n} attempt{})", e.error.1, if n == 1 { "" } else { "s" }))
    })
}

/// Which model: `none`, `bedrock:MODEL_ID` or `anthropic:MODEL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelChoice {
    None,
    Bedrock(String),
    Anthropic(String),
}

impl std::str::FromStr for ModelChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            None if s == "none" => Ok(ModelChoice::None),
            Some(("bedrock", id)) if !id.is_empty() => Ok(ModelChoice::Bedrock(id.to_string())),
            Some(("anthropic", id)) if !id.is_empty() => Ok(ModelChoice::Anthropic(id.to_string())),
            _ => Err(format!("`{s}`: expected none, bedrock:MODEL_ID or anthropic:MODEL")),
        }
    }
}

impl std::fmt::Display for ModelChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelChoice::None => f.write_str("none"),
            ModelChoice::Bedrock(id) => write!(f, "bedrock:{id}"),
            ModelChoice::Anthropic(id) => write!(f, "anthropic:{id}"),
        }
    }
}

/// Where the Anthropic API key comes from: the `ANTHROPIC_API_KEY` environment variable (the
/// command line) or a Secrets Manager secret (Lambda: the key is never in the environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnthropicKey {
    Environment,
    Secret { arn: String },
}

/// The variable holding the Anthropic API key on the command line.
pub const ANTHROPIC_KEY_ENV: &str = "ANTHROPIC_API_KEY";
/// Where the Anthropic API is (tests point it at a local server).
pub const ANTHROPIC_BASE_URL_ENV: &str = "ANTHROPIC_BASE_URL";

/// Why a model could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The configuration is missing something (exit 2, or a 4xx).
    #[error("{0}")]
    Config(String),
    /// The key could not be read.
    #[error("{0}")]
    Secret(String),
}

/// The model `choice`, on `aws`'s credentials (Bedrock; the Anthropic key's secret).
pub async fn connect(choice: &ModelChoice, aws: &Aws, key: &AnthropicKey) -> Result<Box<dyn Model>, ConnectError> {
    match choice {
        ModelChoice::None => Ok(Box::new(NoModel)),
        ModelChoice::Bedrock(id) => Ok(Box::new(Bedrock::new(aws, id, RETRIES))),
        ModelChoice::Anthropic(id) => {
            let api_key = match key {
                AnthropicKey::Environment => std::env::var(ANTHROPIC_KEY_ENV).map_err(|_| {
                    ConnectError::Config(format!(
                        "--model {choice}: set {ANTHROPIC_KEY_ENV} (in Lambda the key comes from Secrets Manager)"
                    ))
                })?,
                AnthropicKey::Secret { arn } => secret_string(aws, arn).await?,
            };
            let http = HttpClient::new(Duration::from_secs(120)).map_err(|e| ConnectError::Config(e.to_string()))?;
            Ok(Box::new(Anthropic {
                api_key,
                model: id.clone(),
                base_url: std::env::var(ANTHROPIC_BASE_URL_ENV).unwrap_or_else(|_| "https://api.anthropic.com".into()),
                backoff: RETRIES,
                http,
            }))
        }
    }
}

/// A secret's string value, trimmed.
async fn secret_string(aws: &Aws, arn: &str) -> Result<String, ConnectError> {
    let got =
        aws_sdk_secretsmanager::Client::new(aws.config()).get_secret_value().secret_id(arn).send().await.map_err(
            |e| ConnectError::Secret(format!("Secrets Manager GetSecretValue: {}", crate::aws::sdk_message(&e))),
        )?;
    let value = got.secret_string().ok_or_else(|| ConnectError::Secret(format!("{arn} has no string value")))?;
    Ok(value.trim().to_string())
}
