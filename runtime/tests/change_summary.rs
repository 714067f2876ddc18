//! The `change-summary` function: real Function URL events, Athena and Bedrock Converse on a
//! local server speaking both APIs; bad input, Athena failure and model fallback.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use common::serve;
use opslake_runtime::backoff::Backoff;
use opslake_runtime::engine::athena::AthenaEngine;
use opslake_runtime::functions::change_summary::ChangeSummaryService;
use opslake_runtime::lake::LakeLayout;
use opslake_runtime::llm::{Bedrock, NoModel};
use opslake_runtime::report::Language;
use opslake_runtime::source::Source;
use serde_json::{json, Value};

fn layout() -> LakeLayout {
    serde_json::from_value(json!({
        "database": "acme_opslake", "bucket": "acme-log-archive-111111111111", "prefix": "",
        "organization_trail": "o-a1b2c3d4e5", "accounts": ["111111111111", "222222222222"],
        "regions": ["ap-northeast-1", "us-east-1"], "start": "2024-01-01", "end": null,
        "cloudtrail": true, "config": true, "alb": []
    }))
    .unwrap()
}

fn page(cols: &[(&str, &str)], rows: &[Vec<&str>]) -> Value {
    let mut data = vec![json!({"Data": cols.iter().map(|(n, _)| json!({"VarCharValue": n})).collect::<Vec<_>>()})];
    for r in rows {
        data.push(json!({"Data": r.iter().map(|v| json!({"VarCharValue": v})).collect::<Vec<_>>()}));
    }
    json!({"ResultSet": {"Rows": data, "ResultSetMetadata": {"ColumnInfo": cols.iter().map(|(n, t)| json!({"Name": n, "Type": t})).collect::<Vec<_>>()}}})
}

/// Athena answering every month with the same changes (so nothing is unusual) unless
/// `fail_athena`; Bedrock failing `model_failures` times before answering.
fn server(fail_athena: bool, model_failures: usize) -> common::FakeAws {
    let sql: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let model_calls = Arc::new(Mutex::new(0usize));
    serve(Box::new(move |op, body| match op {
        "StartQueryExecution" => {
            let mut s = sql.lock().unwrap();
            s.push(body["QueryString"].as_str().unwrap_or("").to_string());
            (200, json!({"QueryExecutionId": format!("q-{}", s.len())}))
        }
        "GetQueryExecution" => {
            let state = if fail_athena {
                json!({"State": "FAILED", "StateChangeReason": "HIVE_CURSOR_ERROR: bad file"})
            } else {
                json!({"State": "SUCCEEDED"})
            };
            (
                200,
                json!({"QueryExecution": {"QueryExecutionId": body["QueryExecutionId"], "Status": state, "Statistics": {"DataScannedInBytes": 1000}}}),
            )
        }
        "GetQueryResults" => {
            let n: usize = body["QueryExecutionId"].as_str().unwrap_or("q-1")[2..].parse().unwrap_or(1);
            let q = sql.lock().unwrap()[n - 1].clone();
            if q.contains("recordcount") {
                let cols = [
                    ("resourcetype", "varchar"),
                    ("resourcename", "varchar"),
                    ("awsaccountid", "varchar"),
                    ("awsregion", "varchar"),
                    ("year", "integer"),
                    ("month", "integer"),
                    ("recordcount", "bigint"),
                ];
                (200, page(&cols, &[vec!["AWS::EC2::Instance", "web", "111111111111", "us-east-1", "2025", "6", "4"]]))
            } else {
                let cols = [
                    ("resourcetype", "varchar"),
                    ("resourceid", "varchar"),
                    ("resourcename", "varchar"),
                    ("awsaccountid", "varchar"),
                    ("awsregion", "varchar"),
                    ("status", "varchar"),
                    ("capturetime", "varchar"),
                ];
                (200, page(&cols, &[]))
            }
        }
        p if p.ends_with("/converse") => {
            let mut n = model_calls.lock().unwrap();
            *n += 1;
            if *n <= model_failures {
                (500, json!({"__type": "InternalServerException", "message": "boom"}))
            } else {
                (
                    200,
                    json!({"output": {"message": {"role": "assistant", "content": [{"text": "Narrative."}]}}, "stopReason": "end_turn", "usage": {"inputTokens": 900, "outputTokens": 3, "totalTokens": 903}, "metrics": {"latencyMs": 1}}),
                )
            }
        }
        other => (400, json!({"__type": "InvalidRequestException", "Message": other})),
    }))
}

async fn service(url: &str, bedrock: bool) -> ChangeSummaryService {
    let aws = common::aws(url).await;
    let mut athena = AthenaEngine::new(&aws, "acme-opslake", "acme_opslake");
    athena.poll = Backoff::polls(Duration::from_millis(5), Duration::from_millis(20));
    let model: Box<dyn opslake_runtime::llm::Model> = if bedrock {
        let id = "global.anthropic.claude-sonnet-4-5-20250929-v1:0";
        Box::new(Bedrock::new(&aws, id, Backoff::retries(3, Duration::from_millis(5))))
    } else {
        Box::new(NoModel)
    };
    ChangeSummaryService {
        layout: layout(),
        source: Source::Athena(athena),
        model,
        language: Language::En,
        max_tokens: 500,
    }
}

fn event(body: &str) -> LambdaFunctionUrlRequest {
    let mut v: Value = serde_json::from_str(include_str!("fixtures/function-url-post.json")).unwrap();
    v["body"] = json!(body);
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn a_month_is_summarised_by_the_model_from_exact_facts() {
    let fake = server(false, 0);
    let s = service(&fake.url, true).await;
    let r = s.handle_url(event(r#"{"target_year": "2025", "target_month": "6"}"#)).await;
    assert_eq!(r.status_code, 200, "{:?}", r.body);
    let v: Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
    assert_eq!((v["status"].as_str(), v["summary"].as_str()), (Some("SUCCEEDED"), Some("Narrative.")));
    assert_eq!(v["facts"]["total_changes"], 4);
    assert_eq!(v["facts"]["baseline_months"].as_array().unwrap().len(), 6);
    assert_eq!(v["query"]["ids"].as_array().unwrap().len(), 14, "two queries for each of 7 months");
    assert_eq!(v["query"]["bytes_scanned"], 14_000);
    let calls = fake.calls.lock().unwrap();
    let converse = calls.iter().find(|(p, _)| p.ends_with("/converse")).unwrap();
    let prompt = converse.1["messages"][0]["content"][0]["text"].as_str().unwrap();
    assert!(prompt.contains("\"total_changes\":4"), "the model sees the facts: {prompt}");
    let starts: Vec<&Value> = calls.iter().filter(|(op, _)| op == "StartQueryExecution").map(|(_, b)| b).collect();
    assert!(starts.iter().all(|b| !b["QueryString"].as_str().unwrap().contains("2025")), "values travel as parameters");
}

#[tokio::test]
async fn the_model_failing_leaves_the_deterministic_report() {
    let fake = server(false, 99);
    let s = service(&fake.url, true).await;
    let (code, v) = s.handle(br#"{"target_year": 2025, "target_month": 6, "language": "ja"}"#).await;
    assert_eq!(code, 200);
    assert_eq!(v["status"], "FALLBACK");
    assert!(v["model_error"].as_str().unwrap().contains("after 3 attempts"), "{v}");
    assert!(v["summary"].as_str().unwrap().contains("2025-06 の変更: 4 件"), "{v}");
}

#[tokio::test]
async fn athena_failures_are_502_with_the_reason_and_bad_input_is_400() {
    let fake = server(true, 0);
    let s = service(&fake.url, false).await;
    let (code, v) = s.handle(br#"{"target_year": "2025", "target_month": "6"}"#).await;
    assert_eq!(code, 502);
    assert!(v["error"].as_str().unwrap().contains("HIVE_CURSOR_ERROR") && v.get("facts").is_some(), "{v}");

    let cases: &[(&str, &str)] = &[
        (r#"{"target_year": "2025", "target_month": "13"}"#, "not a month"),
        (r#"{"target_year": "1999", "target_month": "1"}"#, "not a year"),
        (r#"{"target_year": "twenty", "target_month": "1"}"#, "not a year"),
        (r#"{"target_year": "2025", "target_month": "1", "account": "1' OR '1'='1"}"#, "contains `'`"),
        (r#"{"target_year": "2025", "target_month": "1", "sql": "DROP TABLE x"}"#, "unknown field `sql`"),
        (r#"{"target_year": "2025", "target_month": "1", "language": "fr"}"#, "not en or ja"),
        (r#"{"target_month": "1"}"#, "missing field `target_year`"),
    ];
    for (body, expect) in cases {
        let (code, v) = s.handle(body.as_bytes()).await;
        assert_eq!(code, 400, "{body}: {v}");
        assert!(v["error"].as_str().unwrap().contains(expect), "{body}: {v}");
    }
    let (code, v) = s
        .handle(
            format!(r#"{{"target_year": "2025", "target_month": "1", "region": "{}"}}"#, "x".repeat(5000)).as_bytes(),
        )
        .await;
    assert_eq!(code, 400);
    assert!(v["error"].as_str().unwrap().contains("limit"));
}
