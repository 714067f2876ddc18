//! Bedrock Converse, on the command's or function's one AWS connection (IAM auth); tools as
//! `toolConfig`, their calls and results as `toolUse` / `toolResult` blocks.

use std::collections::HashMap;

use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message, SystemContentBlock, Tool as BedrockTool,
    ToolConfiguration, ToolInputSchema, ToolResultBlock, ToolResultContentBlock, ToolResultStatus, ToolSpecification,
    ToolUseBlock,
};
use aws_smithy_types::{Document, Number};
use serde_json::Value;

use super::{with_backoff, Backoff, Block, BoxFuture, Chat, Model, ModelError, Reply, Role, Turn};
use crate::aws::Aws;

/// Bedrock Converse.
pub struct Bedrock {
    pub client: aws_sdk_bedrockruntime::Client,
    pub model_id: String,
    pub backoff: Backoff,
}

/// JSON → a Smithy document (tool schemas and inputs travel as documents).
fn document(v: &Value) -> Document {
    match v {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => Document::Number(match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Number::PosInt(u),
            (None, Some(i)) => Number::NegInt(i),
            _ => Number::Float(n.as_f64().unwrap_or(0.0)),
        }),
        Value::String(s) => Document::String(s.clone()),
        Value::Array(a) => Document::Array(a.iter().map(document).collect()),
        Value::Object(m) => {
            Document::Object(m.iter().map(|(k, v)| (k.clone(), document(v))).collect::<HashMap<_, _>>())
        }
    }
}

/// A Smithy document → JSON.
fn json(d: &Document) -> Value {
    match d {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        Document::Number(Number::Float(f)) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Document::String(s) => Value::String(s.clone()),
        Document::Array(a) => Value::Array(a.iter().map(json).collect()),
        Document::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), json(v))).collect()),
    }
}

fn invalid(e: impl std::fmt::Display) -> (bool, ModelError) {
    (false, ModelError(format!("Bedrock Converse: cannot build the request: {e}")))
}

fn block(b: &Block) -> Result<ContentBlock, (bool, ModelError)> {
    Ok(match b {
        Block::Text(t) => ContentBlock::Text(t.clone()),
        Block::ToolUse { id, name, input } => ContentBlock::ToolUse(
            ToolUseBlock::builder().tool_use_id(id).name(name).input(document(input)).build().map_err(invalid)?,
        ),
        Block::ToolResult { id, content, is_error } => ContentBlock::ToolResult(
            ToolResultBlock::builder()
                .tool_use_id(id)
                .content(ToolResultContentBlock::Json(document(content)))
                .status(if *is_error { ToolResultStatus::Error } else { ToolResultStatus::Success })
                .build()
                .map_err(invalid)?,
        ),
    })
}

fn message(t: &Turn) -> Result<Message, (bool, ModelError)> {
    let role = match t.role {
        Role::User => ConversationRole::User,
        Role::Assistant => ConversationRole::Assistant,
    };
    let content = t.content.iter().map(block).collect::<Result<Vec<_>, _>>()?;
    Message::builder().role(role).set_content(Some(content)).build().map_err(invalid)
}

fn tools(chat: &Chat) -> Result<Option<ToolConfiguration>, (bool, ModelError)> {
    if chat.tools.is_empty() {
        return Ok(None);
    }
    let specs = chat
        .tools
        .iter()
        .map(|t| {
            let spec = ToolSpecification::builder()
                .name(&t.name)
                .description(&t.description)
                .input_schema(ToolInputSchema::Json(document(&t.schema)))
                .build()
                .map_err(invalid)?;
            Ok(BedrockTool::ToolSpec(spec))
        })
        .collect::<Result<Vec<_>, _>>()?;
    ToolConfiguration::builder().set_tools(Some(specs)).build().map(Some).map_err(invalid)
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

    async fn once(&self, chat: &Chat) -> Result<Reply, (bool, ModelError)> {
        let messages = chat.turns.iter().map(message).collect::<Result<Vec<_>, _>>()?;
        let sent = self
            .client
            .converse()
            .model_id(&self.model_id)
            .system(SystemContentBlock::Text(chat.system.clone()))
            .set_messages(Some(messages))
            .set_tool_config(tools(chat)?)
            .inference_config(
                InferenceConfiguration::builder().max_tokens(chat.max_tokens as i32).temperature(0.0).build(),
            )
            .send()
            .await;
        let out = sent.map_err(|e| {
            let msg = format!("Bedrock Converse ({}): {}", self.model_id, crate::aws::sdk_message(&e));
            (crate::aws::is_transient(&e), ModelError(msg))
        })?;
        let content = out
            .output()
            .and_then(|o| o.as_message().ok())
            .map(|m| {
                m.content()
                    .iter()
                    .filter_map(|c| match c {
                        ContentBlock::Text(t) => Some(Block::Text(t.clone())),
                        ContentBlock::ToolUse(u) => Some(Block::ToolUse {
                            id: u.tool_use_id().to_string(),
                            name: u.name().to_string(),
                            input: json(u.input()),
                        }),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let usage = out.usage();
        Ok(Reply {
            content,
            stop_reason: out.stop_reason().as_str().to_string(),
            input_tokens: usage.map_or(0, |u| u.input_tokens().max(0) as u64),
            output_tokens: usage.map_or(0, |u| u.output_tokens().max(0) as u64),
        })
    }
}

impl Model for Bedrock {
    fn name(&self) -> String {
        format!("bedrock:{}", self.model_id)
    }
    fn chat<'a>(&'a self, chat: &'a Chat) -> BoxFuture<'a, Option<Result<Reply, ModelError>>> {
        Box::pin(async move { Some(with_backoff(&self.backoff, || self.once(chat)).await) })
    }
}
