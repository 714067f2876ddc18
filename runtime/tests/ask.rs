//! `ask` against local servers that speak Bedrock Converse and Anthropic Messages with tool use,
//! scripted per case, over the example mirror (and a scripted Athena for the scan budget): two
//! tool calls then an answer; a refused argument corrected; SQL in an argument refused before
//! anything runs; the step limit; the scan budget; throttling mid-conversation; a citation of a
//! call that never happened.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::serve;
use opslake_runtime::analysis::ask::{self, CallStatus, Status};
use opslake_runtime::backoff::Backoff;
use opslake_runtime::engine::athena::AthenaEngine;
use opslake_runtime::engine::local::Mirror;
use opslake_runtime::http::HttpClient;
use opslake_runtime::lake::LakeLayout;
use opslake_runtime::llm::{Anthropic, Bedrock, Model};
use opslake_runtime::report::Language;
use opslake_runtime::source::Source;
use serde_json::{json, Value};

fn layout() -> LakeLayout {
    serde_json::from_value(json!({
        "database": "acme_opslake", "bucket": "acme-log-archive-111111111111", "prefix": "",
        "organization_trail": "o-a1b2c3d4e5", "accounts": ["111111111111", "222222222222"],
        "regions": ["ap-northeast-1", "us-east-1"], "start": "2024-01-01", "end": null,
        "cloudtrail": true, "config": true, "alb": [], "app_logs": true, "metrics": true
    }))
    .unwrap()
}

fn mirror() -> Source {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/logs");
    Source::Mirror { mirror: Mirror::new(root), today: jiff::civil::date(2026, 11, 27) }
}

fn options() -> ask::Options {
    ask::Options::new(Language::En, 800, jiff::civil::date(2026, 11, 27))
}

/// A Converse answer: optional text, then tool uses (id, tool, input).
fn converse(text: Option<&str>, uses: &[(&str, &str, Value)]) -> Value {
    let mut content: Vec<Value> = text.map(|t| json!({"text": t})).into_iter().collect();
    content.extend(
        uses.iter().map(|(id, name, input)| json!({"toolUse": {"toolUseId": id, "name": name, "input": input}})),
    );
    let stop = if uses.is_empty() { "end_turn" } else { "tool_use" };
    json!({"output": {"message": {"role": "assistant", "content": content}}, "stopReason": stop,
           "usage": {"inputTokens": 100, "outputTokens": 10, "totalTokens": 110}, "metrics": {"latencyMs": 1}})
}

/// A server whose n-th model call gets `script[n]` (the last one repeats); Athena answers
/// every query with one row and `bytes` scanned. Model requests are recorded.
fn scripted(script: Vec<(u16, Value)>, bytes: u64) -> (common::FakeAws, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = Arc::clone(&seen);
    let fake = serve(Box::new(move |op, body| match op {
        "StartQueryExecution" => (200, json!({"QueryExecutionId": "q-1"})),
        "GetQueryExecution" => (
            200,
            json!({"QueryExecution": {"QueryExecutionId": "q-1", "Status": {"State": "SUCCEEDED"}, "Statistics": {"DataScannedInBytes": bytes}}}),
        ),
        "GetQueryResults" => (
            200,
            json!({"ResultSet": {"Rows": [{"Data": [{"VarCharValue": "eventsource"}, {"VarCharValue": "eventname"}, {"VarCharValue": "calls"}, {"VarCharValue": "errors"}]},
                                           {"Data": [{"VarCharValue": "ec2.amazonaws.com"}, {"VarCharValue": "RunInstances"}, {"VarCharValue": "3"}, {"VarCharValue": "1"}]}],
                                  "ResultSetMetadata": {"ColumnInfo": [{"Name": "eventsource", "Type": "varchar"}, {"Name": "eventname", "Type": "varchar"}, {"Name": "calls", "Type": "bigint"}, {"Name": "errors", "Type": "bigint"}]}}}),
        ),
        _ => {
            let mut s = s2.lock().unwrap();
            s.push(body.clone());
            script[(s.len() - 1).min(script.len() - 1)].clone()
        }
    }));
    (fake, seen)
}

async fn bedrock(url: &str) -> Bedrock {
    Bedrock::new(&common::aws(url).await, "anthropic.claude-test-v1:0", Backoff::retries(3, Duration::from_millis(5)))
}

#[tokio::test]
async fn two_tool_calls_then_a_cited_answer() {
    let script = vec![
        (
            200,
            converse(Some("Counting."), &[("t1", "event_counts", json!({"from": "2025-03-01", "to": "2025-03-31"}))]),
        ),
        (200, converse(None, &[("t2", "switch_roles", json!({"from": "2025-01-01", "to": "2025-12-31"}))])),
        (200, converse(Some("March had these API calls [c1]; role switches are listed in [c2]."), &[])),
    ];
    let (fake, seen) = scripted(script, 0);
    let model = bedrock(&fake.url).await;
    let a = ask::ask("What happened in March 2025?", &mirror(), &layout(), &model, &options()).await;
    assert_eq!(a.status, Status::Answered, "{a:#?}");
    assert_eq!(a.calls.len(), 2);
    assert!(a.calls.iter().all(|c| c.status == CallStatus::Ok), "{:#?}", a.calls);
    assert!(a.calls[0].rows > 0, "event-counts over the mirror has rows");
    assert_eq!(
        a.citations.iter().map(|c| (c.call.as_str(), c.known)).collect::<Vec<_>>(),
        [("c1", true), ("c2", true)]
    );
    assert_eq!((a.steps, a.input_tokens), (3, 300));

    let requests = seen.lock().unwrap();
    // Every catalogue query is on offer as a tool, plus the change summary, the leftovers and
    // failure analysis.
    let tools = requests[0]["toolConfig"]["tools"].as_array().unwrap();
    assert_eq!(tools.len(), opslake_runtime::query::QUERIES.len() + 3);
    assert!(tools.iter().any(|t| t["toolSpec"]["name"] == "created_deleted"));
    // The model got the first result back, with its call id and the exact total.
    let turns = requests[1]["messages"].as_array().unwrap();
    let result = &turns[2]["content"][0]["toolResult"];
    assert_eq!((result["toolUseId"].as_str(), result["status"].as_str()), (Some("t1"), Some("success")));
    let content = &result["content"][0]["json"];
    assert_eq!(content["call"], "c1");
    assert_eq!(content["total_rows"], a.calls[0].rows);
    assert!(content["rows"][0]["eventname"].is_string(), "{content}");
}

/// Failure analysis is a tool too: the model gets the hypotheses with their evidence ids.
#[tokio::test]
async fn the_analyze_tool_answers_with_cited_hypotheses() {
    let script = vec![
        (
            200,
            converse(
                None,
                &[("t1", "analyze", json!({"start": "2025-06-12T09:15:00Z", "end": "2025-06-12T09:55:00Z"}))],
            ),
        ),
        (200, converse(Some("A security-group rule was revoked just before the errors [c1]."), &[])),
    ];
    let (fake, seen) = scripted(script, 0);
    let model = bedrock(&fake.url).await;
    let a =
        ask::ask("Why did orders fail on 2025-06-12 around 09:40 UTC?", &mirror(), &layout(), &model, &options()).await;
    assert_eq!(a.status, Status::Answered, "{a:#?}");
    assert_eq!(a.calls[0].status, CallStatus::Ok, "{:#?}", a.calls);
    let second = seen.lock().unwrap()[1].clone();
    let result = &second["messages"].as_array().unwrap()[2]["content"][0]["toolResult"]["content"][0]["json"];
    assert_eq!(result["window"]["onset"], "2025-06-12T09:40:00Z", "{result}");
    let top = &result["rows"][0];
    assert!(top["title"].as_str().unwrap().contains("RevokeSecurityGroupIngress"), "{top}");
    assert!(top["evidence"][0].as_str().unwrap().starts_with("ct:"), "{top}");
    // A window over 24 hours is refused like a bad --param, and goes back to the model.
    let script = vec![
        (
            200,
            converse(
                None,
                &[("t1", "analyze", json!({"start": "2025-06-10T00:00:00Z", "end": "2025-06-12T00:00:00Z"}))],
            ),
        ),
        (200, converse(Some("I could not analyse that window."), &[])),
    ];
    let (fake, _) = scripted(script, 0);
    let model = bedrock(&fake.url).await;
    let a = ask::ask("Why?", &mirror(), &layout(), &model, &options()).await;
    assert_eq!(a.calls[0].status, CallStatus::Invalid, "{:#?}", a.calls);
    assert!(a.calls[0].error.as_deref().unwrap_or("").contains("longer than 24 hours"), "{:#?}", a.calls);
}

#[tokio::test]
async fn a_refused_argument_goes_back_to_the_model_which_corrects_it() {
    let script = vec![
        (200, converse(None, &[("t1", "config_changes", json!({"year": 2025, "month": 13}))])),
        (200, converse(None, &[("t2", "config_changes", json!({"year": 2025, "month": 6}))])),
        (200, converse(Some("June 2025 had changes [c2]."), &[])),
    ];
    let (fake, seen) = scripted(script, 0);
    let model = bedrock(&fake.url).await;
    let a = ask::ask("What changed in June 2025?", &mirror(), &layout(), &model, &options()).await;
    assert_eq!(a.status, Status::Answered, "{a:#?}");
    assert_eq!(a.calls[0].status, CallStatus::Invalid);
    assert!(a.calls[0].error.as_deref().unwrap().contains("not a month"), "{:?}", a.calls[0]);
    assert_eq!((a.calls[1].status, a.calls[1].rows > 0), (CallStatus::Ok, true));
    let requests = seen.lock().unwrap();
    let result = &requests[1]["messages"][2]["content"][0]["toolResult"];
    assert_eq!(result["status"], "error");
    assert!(result["content"][0]["json"]["error"].as_str().unwrap().contains("not a month"));
}

#[tokio::test]
async fn sql_in_an_argument_is_refused_and_never_reaches_athena() {
    let script = vec![
        (
            200,
            converse(None, &[("t1", "events", json!({"from": "2025-01-01", "to": "2025-01-02", "user": "x' OR 1=1"}))]),
        ),
        (
            200,
            converse(
                None,
                &[("t2", "events", json!({"from": "2025-01-01", "to": "2025-01-02", "sql": "DROP TABLE x"}))],
            ),
        ),
        (200, converse(Some("I cannot run that."), &[])),
    ];
    let (fake, _) = scripted(script, 1000);
    let model = bedrock(&fake.url).await;
    let mut athena = AthenaEngine::new(&common::aws(&fake.url).await, "acme-opslake", "acme_opslake");
    athena.poll = Backoff::polls(Duration::from_millis(5), Duration::from_millis(20));
    let a = ask::ask("Who is x?", &Source::Athena(athena), &layout(), &model, &options()).await;
    assert_eq!(a.status, Status::Answered);
    assert!(a.calls.iter().all(|c| c.status == CallStatus::Invalid), "{:#?}", a.calls);
    assert!(a.calls[0].error.as_deref().unwrap().contains("contains `'`"), "{:?}", a.calls[0]);
    assert!(a.calls[1].error.as_deref().unwrap().contains("unknown parameter `sql`"), "{:?}", a.calls[1]);
    let ops: Vec<String> = fake.calls.lock().unwrap().iter().map(|(op, _)| op.clone()).collect();
    assert!(!ops.iter().any(|op| op == "StartQueryExecution"), "nothing ran: {ops:?}");
}

#[tokio::test]
async fn the_step_limit_stops_a_model_that_never_answers() {
    let script =
        vec![(200, converse(None, &[("t", "event_counts", json!({"from": "2025-03-01", "to": "2025-03-02"}))]))];
    let (fake, seen) = scripted(script, 0);
    let model = bedrock(&fake.url).await;
    let mut opts = options();
    opts.max_steps = 3;
    let a = ask::ask("Loop forever", &mirror(), &layout(), &model, &opts).await;
    assert_eq!((a.status, a.steps, a.calls.len()), (Status::StepLimit, 3, 3));
    assert_eq!(seen.lock().unwrap().len(), 3);
    assert!(a.error.as_deref().unwrap().contains("--max-steps"));
}

#[tokio::test]
async fn the_scan_budget_stops_the_question_in_athena() {
    let uses = |id| vec![(id, "event_counts", json!({"from": "2025-03-01", "to": "2025-03-31"}))];
    let script = vec![
        (200, converse(None, &uses("t1"))),
        (200, converse(None, &uses("t2"))),
        (200, converse(Some("done"), &[])),
    ];
    let (fake, _) = scripted(script, 60_000_000);
    let model = bedrock(&fake.url).await;
    let mut athena = AthenaEngine::new(&common::aws(&fake.url).await, "acme-opslake", "acme_opslake");
    athena.poll = Backoff::polls(Duration::from_millis(5), Duration::from_millis(20));
    let mut opts = options();
    opts.max_scan_bytes = Some(50_000_000);
    let a = ask::ask("How many?", &Source::Athena(athena), &layout(), &model, &opts).await;
    assert_eq!(a.status, Status::ScanLimit, "{a:#?}");
    assert_eq!((a.calls[0].status, a.calls[0].bytes_scanned), (CallStatus::Ok, 60_000_000));
    assert!(a.calls[0].cost_usd > 0.0);
    assert_eq!(a.calls[1].status, CallStatus::OverBudget);
    assert_eq!(a.bytes_scanned, 60_000_000, "the refused call scanned nothing");
    assert!(a.error.as_deref().unwrap().contains("budget is 50.0 MB"), "{:?}", a.error);
}

#[tokio::test]
async fn throttling_mid_conversation_is_retried() {
    let script = vec![
        (200, converse(None, &[("t1", "event_counts", json!({"from": "2025-03-01", "to": "2025-03-31"}))])),
        (429, json!({"__type": "ThrottlingException", "message": "slow down"})),
        (200, converse(Some("Here [c1]."), &[])),
    ];
    let (fake, seen) = scripted(script, 0);
    let model = bedrock(&fake.url).await;
    let a = ask::ask("Count", &mirror(), &layout(), &model, &options()).await;
    assert_eq!(a.status, Status::Answered, "{a:#?}");
    assert_eq!(seen.lock().unwrap().len(), 3, "the throttled turn was asked again");
}

#[tokio::test]
async fn a_citation_of_a_call_that_never_happened_is_flagged() {
    let script = vec![
        (200, converse(None, &[("t1", "event_counts", json!({"from": "2025-03-01", "to": "2025-03-31"}))])),
        (200, converse(Some("3 calls [c1], and 99 more [c7]."), &[])),
    ];
    let (fake, _) = scripted(script, 0);
    let model = bedrock(&fake.url).await;
    let a = ask::ask("Count", &mirror(), &layout(), &model, &options()).await;
    assert_eq!(
        a.citations.iter().map(|c| (c.call.as_str(), c.known)).collect::<Vec<_>>(),
        [("c1", true), ("c7", false)]
    );
}

#[tokio::test]
async fn anthropic_messages_tool_use_round_trip() {
    let reply = |content: Value, stop: &str| {
        (
            200,
            json!({"id": "m", "type": "message", "role": "assistant", "model": "claude", "content": content, "stop_reason": stop, "usage": {"input_tokens": 50, "output_tokens": 5}}),
        )
    };
    let script = vec![
        reply(
            json!([{"type": "tool_use", "id": "tu1", "name": "leftovers", "input": {"from": "2024-10-01", "to": "2025-11-30"}}]),
            "tool_use",
        ),
        reply(json!([{"type": "text", "text": "Resources are left [c1]."}]), "end_turn"),
    ];
    let (fake, seen) = scripted(script, 0);
    let model = Anthropic {
        api_key: "sk-test".into(),
        model: "claude-sonnet-4-5".into(),
        base_url: fake.url.clone(),
        backoff: Backoff::retries(3, Duration::from_millis(5)),
        http: HttpClient::new(Duration::from_secs(10)).unwrap(),
    };
    let a = ask::ask("What was left running?", &mirror(), &layout(), &model, &options()).await;
    assert_eq!(a.status, Status::Answered, "{a:#?}");
    assert!(a.calls[0].rows > 0, "the mirror has leftovers: {:?}", a.calls[0]);
    let requests = seen.lock().unwrap();
    let tools = requests[0]["tools"].as_array().unwrap();
    assert!(tools.iter().any(|t| t["name"] == "leftovers" && t["input_schema"]["required"] == json!(["from", "to"])));
    let result = &requests[1]["messages"][2]["content"][0];
    assert_eq!((result["type"].as_str(), result["tool_use_id"].as_str()), (Some("tool_result"), Some("tu1")));
    let content: Value = serde_json::from_str(result["content"].as_str().unwrap()).unwrap();
    assert_eq!(content["call"], "c1");
    assert_eq!(model.name(), "anthropic:claude-sonnet-4-5");
}

#[tokio::test]
async fn the_ask_function_answers_function_url_events() {
    use opslake_runtime::functions::ask::AskService;
    let script = vec![
        (200, converse(None, &[("t1", "event_counts", json!({"from": "2025-03-01", "to": "2025-03-31"}))])),
        (200, converse(Some("3 RunInstances calls [c1]."), &[])),
    ];
    let (fake, _) = scripted(script, 2_000_000);
    let mut athena = AthenaEngine::new(&common::aws(&fake.url).await, "acme-opslake", "acme_opslake");
    athena.poll = Backoff::polls(Duration::from_millis(5), Duration::from_millis(20));
    let service = AskService {
        layout: layout(),
        source: Source::Athena(athena),
        model: Box::new(bedrock(&fake.url).await),
        language: Language::Ja,
        max_tokens: 500,
        max_scan_bytes: 1_000_000_000,
    };
    let mut event: Value = serde_json::from_str(include_str!("fixtures/function-url-post.json")).unwrap();
    event["body"] = json!(r#"{"question": "How many instances were started in March 2025?"}"#);
    let r = service.handle_url(serde_json::from_value(event).unwrap()).await;
    assert_eq!(r.status_code, 200, "{:?}", r.body);
    let v: Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
    assert_eq!((v["status"].as_str(), v["answer"].as_str()), (Some("answered"), Some("3 RunInstances calls [c1].")));
    let call = &v["calls"][0];
    assert_eq!(
        (call["id"].as_str(), call["tool"].as_str(), call["status"].as_str()),
        (Some("c1"), Some("event_counts"), Some("ok"))
    );
    assert_eq!((call["rows"].as_u64(), call["bytes_scanned"].as_u64()), (Some(1), Some(2_000_000)));
    assert!(call["cost_usd"].as_f64().unwrap() > 0.0);
    assert_eq!(v["citations"], json!([{"call": "c1", "known": true}]));
    assert_eq!(v["model"], "bedrock:anthropic.claude-test-v1:0");
    for (body, want) in [
        (r#"{"question": "  "}"#, "question is empty"),
        (r#"{"question": "x", "sql": "DROP"}"#, "unknown field `sql`"),
        (r#"{"question": "x", "max_steps": 99}"#, "max_steps must be 1 to 12"),
        ("not json", "expected"),
    ] {
        let (code, v) = service.handle(body.as_bytes()).await;
        assert_eq!(code, 400, "{body}: {v}");
        assert!(v["error"].as_str().unwrap().contains(want), "{body}: {v}");
    }
}
