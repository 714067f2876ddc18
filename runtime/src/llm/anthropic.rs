//! The Anthropic Messages API (an API key: from the environment on the command line, from
//! Secrets Manager in Lambda), over `crate::http`.

use serde_json::{json, Value};

use super::{with_backoff, Backoff, Block, BoxFuture, Chat, Model, ModelError, Reply, Role, Turn};
use crate::http::HttpClient;

/// The Anthropic Messages API.
pub struct Anthropic {
    pub api_key: String,
    pub model: String,
    /// `https://api.anthropic.com` (tests point it at a local server).
    pub base_url: String,
    pub backoff: Backoff,
    pub http: HttpClient,
}

/// A turn as a Messages `message`: a lone text as a string, else content blocks.
fn message(t: &Turn) -> Value {
    let role = match t.role {
        Role::User => "user",
        Role::Assistant => "assistant",
    };
    if let [Block::Text(text)] = t.content.as_slice() {
        return json!({"role": role, "content": text});
    }
    let blocks: Vec<Value> = t
        .content
        .iter()
        .map(|b| match b {
            Block::Text(text) => json!({"type": "text", "text": text}),
            Block::ToolUse { id, name, input } => json!({"type": "tool_use", "id": id, "name": name, "input": input}),
            Block::ToolResult { id, content, is_error } => {
                json!({"type": "tool_result", "tool_use_id": id, "content": content.to_string(), "is_error": is_error})
            }
        })
        .collect();
    json!({"role": role, "content": blocks})
}

fn request(model: &str, chat: &Chat) -> Value {
    let mut body = json!({
        "model": model,
        "max_tokens": chat.max_tokens,
        "temperature": 0,
        "system": chat.system,
        "messages": chat.turns.iter().map(message).collect::<Vec<_>>(),
    });
    if !chat.tools.is_empty() {
        let tools: Vec<Value> = (chat.tools.iter())
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.schema}))
            .collect();
        body["tools"] = json!(tools);
    }
    body
}

impl Anthropic {
    async fn once(&self, chat: &Chat) -> Result<Reply, (bool, ModelError)> {
        let url = format!("{}/v1/messages", self.base_url.trim_end_matches('/'));
        let headers = [("x-api-key", self.api_key.as_str()), ("anthropic-version", "2023-06-01")];
        let resp = self
            .http
            .post_json(&url, &headers, &request(&self.model, chat))
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
        let content = v["content"]
            .as_array()
            .map(|blocks| {
                blocks
                    .iter()
                    .filter_map(|b| match b["type"].as_str() {
                        Some("text") => Some(Block::Text(b["text"].as_str().unwrap_or("").to_string())),
                        Some("tool_use") => Some(Block::ToolUse {
                            id: b["id"].as_str().unwrap_or("").to_string(),
                            name: b["name"].as_str().unwrap_or("").to_string(),
                            input: b["input"].clone(),
                        }),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Reply {
            content,
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
    fn chat<'a>(&'a self, chat: &'a Chat) -> BoxFuture<'a, Option<Result<Reply, ModelError>>> {
        Box::pin(async move { Some(with_backoff(&self.backoff, || self.once(chat)).await) })
    }
}
