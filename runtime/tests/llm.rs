//! The model providers against a local server that speaks the documented Bedrock Converse
//! and Anthropic Messages APIs: text, a max_tokens stop, throttling and a 500 (retried),
//! a persistent failure (reported, so the caller falls back to the deterministic report).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::serve;
use opslake_runtime::backoff::Backoff;
use opslake_runtime::http::HttpClient;
use opslake_runtime::llm::{Anthropic, Bedrock, Model, NoModel, Request};
use serde_json::{json, Value};

fn req() -> Request {
    Request { system: "You summarise.".into(), user: "FACTS: {\"total_changes\": 3}".into(), max_tokens: 200 }
}

fn fast() -> Backoff {
    Backoff::retries(4, Duration::from_millis(5))
}

/// Fails the first `fail` calls with `error`, then answers `ok`.
fn scripted(fail: usize, error: (u16, Value), ok: Value) -> (common::FakeAws, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = Arc::clone(&seen);
    let fake = serve(Box::new(move |_, body| {
        let mut s = s2.lock().unwrap();
        s.push(body.clone());
        if s.len() <= fail {
            error.clone()
        } else {
            (200, ok.clone())
        }
    }));
    (fake, seen)
}

fn converse_reply(text: &str, stop: &str) -> Value {
    json!({"output": {"message": {"role": "assistant", "content": [{"text": text}]}}, "stopReason": stop, "usage": {"inputTokens": 42, "outputTokens": 7, "totalTokens": 49}, "metrics": {"latencyMs": 10}})
}

#[tokio::test]
async fn bedrock_converse_request_response_and_retries() {
    let id = "global.anthropic.claude-sonnet-4-5-20250929-v1:0";
    // throttled once, then an answer
    let (fake, seen) = scripted(
        1,
        (429, json!({"__type": "ThrottlingException", "message": "Too many requests"})),
        converse_reply("Three changes.", "end_turn"),
    );
    let model = Bedrock::new(&common::aws(&fake.url).await, id, fast());
    let c = model.complete(&req()).await.unwrap().unwrap();
    assert_eq!(
        (c.text.as_str(), c.stop_reason.as_str(), c.input_tokens, c.output_tokens),
        ("Three changes.", "end_turn", 42, 7)
    );
    let (path, body) = fake.calls.lock().unwrap().last().cloned().unwrap();
    assert!(path.starts_with("/model/") && path.ends_with("/converse") && path.contains("claude-sonnet-4-5"), "{path}");
    assert_eq!(body["inferenceConfig"], json!({"maxTokens": 200, "temperature": 0.0}));
    assert_eq!(body["system"], json!([{"text": "You summarise."}]));
    assert_eq!(body["messages"][0]["role"], "user");
    assert_eq!(seen.lock().unwrap().len(), 2);
    drop(fake);

    let (fake, _) = scripted(0, (500, json!({})), converse_reply("Cut", "max_tokens"));
    let model = Bedrock::new(&common::aws(&fake.url).await, id, fast());
    assert_eq!(model.complete(&req()).await.unwrap().unwrap().stop_reason, "max_tokens");

    let (fake, seen) =
        scripted(99, (500, json!({"__type": "InternalServerException", "message": "internal"})), json!({}));
    let model = Bedrock::new(&common::aws(&fake.url).await, id, fast());
    let err = model.complete(&req()).await.unwrap().unwrap_err();
    assert!(err.0.contains("after 4 attempts"), "{err}");
    assert_eq!(seen.lock().unwrap().len(), 4);

    let (fake, seen) = scripted(
        99,
        (400, json!({"__type": "ValidationException", "message": "The provided model identifier is invalid."})),
        json!({}),
    );
    let model = Bedrock::new(&common::aws(&fake.url).await, "nope", fast());
    let err = model.complete(&req()).await.unwrap().unwrap_err();
    assert!(err.0.contains("invalid") && err.0.contains("after 1 attempt"), "a 400 is not retried: {err}");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

fn messages_reply(text: &str, stop: &str) -> Value {
    json!({"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [{"type": "text", "text": text}], "stop_reason": stop, "usage": {"input_tokens": 40, "output_tokens": 5}})
}

#[tokio::test]
async fn anthropic_messages_request_response_and_retries() {
    let (fake, seen) = scripted(
        2,
        (529, json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})),
        messages_reply("Three changes.", "end_turn"),
    );
    let model = Anthropic {
        api_key: "sk-test".into(),
        model: "claude-sonnet-4-5".into(),
        base_url: fake.url.clone(),
        backoff: fast(),
        http: HttpClient::new(Duration::from_secs(10)).unwrap(),
    };
    let c = model.complete(&req()).await.unwrap().unwrap();
    assert_eq!((c.text.as_str(), c.stop_reason.as_str(), c.input_tokens), ("Three changes.", "end_turn", 40));
    let seen: Vec<Value> = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "two overloaded answers retried");
    let body = seen.last().unwrap();
    assert_eq!((body["__api_key"].as_str(), body["__version"].as_str()), (Some("sk-test"), Some("2023-06-01")));
    assert_eq!(
        (body["model"].as_str(), body["max_tokens"].as_u64(), body["temperature"].as_u64()),
        (Some("claude-sonnet-4-5"), Some(200), Some(0))
    );
    assert_eq!(body["messages"], json!([{"role": "user", "content": "FACTS: {\"total_changes\": 3}"}]));
    assert_eq!(fake.calls.lock().unwrap()[0].0, "/v1/messages");

    let (fake, _) = scripted(
        99,
        (401, json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}})),
        json!({}),
    );
    let model = Anthropic {
        api_key: "bad".into(),
        model: "claude-sonnet-4-5".into(),
        base_url: fake.url.clone(),
        backoff: fast(),
        http: HttpClient::new(Duration::from_secs(10)).unwrap(),
    };
    let err = model.complete(&req()).await.unwrap().unwrap_err();
    assert!(
        err.0.contains("401") && err.0.contains("authentication_error") && err.0.contains("after 1 attempt"),
        "{err}"
    );
}

#[tokio::test]
async fn no_model_makes_no_call() {
    assert!(NoModel.complete(&req()).await.is_none());
    assert_eq!(NoModel.name(), "none");
}
