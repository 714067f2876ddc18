//! `opslake ask` on the command line: over the example mirror with a scripted Bedrock (the
//! same local server the runtime's tests use), the JSON shape, and `--model none`.

mod support;

#[path = "../../runtime/tests/common/mod.rs"]
mod fake_aws;

use serde_json::{json, Value};
use support::*;

fn args<'a>(spec: &'a str, logs: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["ask", "Which APIs were called most in March 2025?", "--spec", spec, "--local", logs];
    all.extend_from_slice(extra);
    all
}

#[test]
fn a_question_is_answered_with_cited_tool_calls() {
    test_credentials();
    // First turn of a conversation: a tool; once a result came back: the answer.
    let fake = fake_aws::serve(Box::new(move |op, body| {
        if !op.ends_with("/converse") {
            return (400, json!({"__type": "UnknownOperationException", "message": op}));
        }
        let first = body["messages"].as_array().is_some_and(|m| m.len() == 1);
        let content = if first {
            json!([{"toolUse": {"toolUseId": "t1", "name": "event_counts", "input": {"from": "2025-03-01", "to": "2025-03-31"}}}])
        } else {
            json!([{"text": "DescribeAlarms was called most [c1]."}])
        };
        let stop = if first { "tool_use" } else { "end_turn" };
        (
            200,
            json!({"output": {"message": {"role": "assistant", "content": content}}, "stopReason": stop,
                     "usage": {"inputTokens": 10, "outputTokens": 2, "totalTokens": 12}, "metrics": {"latencyMs": 1}}),
        )
    }));
    let spec = workspace().join("examples/specs/full.yaml");
    let logs = workspace().join("examples/logs");
    let (spec, logs) = (spec.to_str().unwrap(), logs.to_str().unwrap());
    let extra = ["--model", "bedrock:anthropic.claude-test-v1:0", "--endpoint-url", &fake.url, "--format", "json"];
    let (code, out, err) = cli(&args(spec, logs, &extra));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let r = &v["result"];
    assert_eq!(r["status"], "answered");
    assert_eq!(r["answer"], "DescribeAlarms was called most [c1].");
    let call = &r["calls"][0];
    for key in ["id", "tool", "arguments", "status", "rows", "bytes_scanned", "cost_usd"] {
        assert!(call.get(key).is_some(), "calls[0] lacks {key}: {call}");
    }
    assert_eq!((call["tool"].as_str(), call["status"].as_str()), (Some("event_counts"), Some("ok")));
    assert!(call["rows"].as_u64().unwrap() > 0);
    assert_eq!(r["citations"], json!([{"call": "c1", "known": true}]));
    assert!(err.contains("2 model turn(s), 1 tool call(s)"), "{err}");

    // The text report: the answer, then the call it rests on.
    let extra = ["--model", "bedrock:anthropic.claude-test-v1:0", "--endpoint-url", &fake.url];
    let (code, out, _) = cli(&args(spec, logs, &extra));
    assert_eq!(code, 0);
    assert!(out.starts_with("DescribeAlarms was called most [c1].\n\n[c1] event_counts"), "{out}");
}

#[test]
fn a_question_without_a_model_points_to_named_queries() {
    let spec = workspace().join("examples/specs/minimal.yaml");
    let logs = workspace().join("examples/logs");
    let (code, _, err) = cli(&args(spec.to_str().unwrap(), logs.to_str().unwrap(), &["--model", "none"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("a question needs a model") && err.contains("opslake query"), "{err}");
    // the minimal spec names no model either
    let (code, _, err) = cli(&args(spec.to_str().unwrap(), logs.to_str().unwrap(), &[]));
    assert_eq!(code, 2, "{err}");
}
