//! Language models: one small trait, three providers — Bedrock Converse (IAM auth), the
//! Anthropic Messages API (API key), and `none`. A [`Chat`] is a conversation that may offer
//! tools (native tool use of both APIs: the model asks for a tool by name with JSON input, it
//! never writes code that runs); [`Model::complete`] is the one-question case. Throttling and
//! server errors are retried with backoff; a caller that still gets an error falls back to
//! what the code computed. Temperature is always 0: the model narrates facts, it does not
//! explore.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

#[cfg(feature = "anthropic")]
mod anthropic;
#[cfg(feature = "bedrock")]
mod bedrock;

#[cfg(feature = "anthropic")]
pub use anthropic::Anthropic;
#[cfg(feature = "bedrock")]
pub use bedrock::Bedrock;

use serde_json::Value;

use crate::aws::Aws;
pub use crate::backoff::Backoff;

/// What to ask.
#[derive(Debug, Clone)]
pub struct Request {
    pub system: String,
    pub user: String,
    pub max_tokens: u32,
}

/// A tool the model may ask for: its name, what it is for, and its input's JSON Schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: String,
    pub schema: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

/// A piece of a turn.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Text(String),
    /// The model asks for a tool (`id` is the model's, echoed in the result).
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    /// What a tool gave back, or why it could not run (`is_error`).
    ToolResult {
        id: String,
        content: Value,
        is_error: bool,
    },
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub role: Role,
    pub content: Vec<Block>,
}

impl Turn {
    pub fn user(text: impl Into<String>) -> Turn {
        Turn { role: Role::User, content: vec![Block::Text(text.into())] }
    }
}

/// A conversation: the system prompt, the turns so far, the tools on offer.
#[derive(Debug, Clone, PartialEq)]
pub struct Chat {
    pub system: String,
    pub turns: Vec<Turn>,
    pub tools: Vec<Tool>,
    pub max_tokens: u32,
}

/// The model's turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub content: Vec<Block>,
    /// `end_turn`, `tool_use`, `max_tokens`, …
    pub stop_reason: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl Reply {
    /// The text blocks, joined.
    pub fn text(&self) -> String {
        self.content.iter().filter_map(|b| if let Block::Text(t) = b { Some(t.as_str()) } else { None }).collect()
    }
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

    /// The model's next turn; `None` for the `none` provider (no call is made).
    fn chat<'a>(&'a self, chat: &'a Chat) -> BoxFuture<'a, Option<Result<Reply, ModelError>>>;

    /// One question, one answer: a chat of a single user turn, without tools.
    fn complete<'a>(&'a self, req: &'a Request) -> BoxFuture<'a, Option<Result<Completion, ModelError>>> {
        Box::pin(async move {
            let chat = Chat {
                system: req.system.clone(),
                turns: vec![Turn::user(&req.user)],
                tools: vec![],
                max_tokens: req.max_tokens,
            };
            let reply = self.chat(&chat).await?;
            Some(reply.map(|r| Completion {
                text: r.text(),
                stop_reason: r.stop_reason,
                input_tokens: r.input_tokens,
                output_tokens: r.output_tokens,
            }))
        })
    }
}

/// No model: the deterministic report is the answer.
pub struct NoModel;

impl Model for NoModel {
    fn name(&self) -> String {
        "none".into()
    }
    fn chat<'a>(&'a self, _: &'a Chat) -> BoxFuture<'a, Option<Result<Reply, ModelError>>> {
        Box::pin(async { None })
    }
}

/// The retries of every provider: 4 calls, pauses doubling from half a second.
pub const RETRIES: Backoff = Backoff::retries(4, Duration::from_millis(500));

/// Retries transient failures (`(true, _)`); the error says how many calls were made.
#[cfg(any(feature = "bedrock", feature = "anthropic"))]
async fn with_backoff<F, Fut>(b: &Backoff, call: F) -> Result<Reply, ModelError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Reply, (bool, ModelError)>>,
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
    let _ = (aws, key);
    match choice {
        ModelChoice::None => Ok(Box::new(NoModel)),
        #[cfg(feature = "bedrock")]
        ModelChoice::Bedrock(id) => Ok(Box::new(Bedrock::new(aws, id, RETRIES))),
        #[cfg(feature = "anthropic")]
        ModelChoice::Anthropic(id) => {
            let api_key = match key {
                AnthropicKey::Environment => std::env::var(ANTHROPIC_KEY_ENV).map_err(|_| {
                    ConnectError::Config(format!(
                        "--model {choice}: set {ANTHROPIC_KEY_ENV} (in Lambda the key comes from Secrets Manager)"
                    ))
                })?,
                AnthropicKey::Secret { arn } => {
                    crate::aws::secret_string(aws, arn).await.map_err(ConnectError::Secret)?
                }
            };
            let http = crate::http::HttpClient::new(Duration::from_secs(120))
                .map_err(|e| ConnectError::Config(e.to_string()))?;
            Ok(Box::new(Anthropic {
                api_key,
                model: id.clone(),
                base_url: std::env::var(ANTHROPIC_BASE_URL_ENV).unwrap_or_else(|_| "https://api.anthropic.com".into()),
                backoff: RETRIES,
                http,
            }))
        }
        #[allow(unreachable_patterns)]
        other => Err(ConnectError::Config(format!("{other}: this build has no client for it"))),
    }
}
