//! The Athena engine against a local test server that speaks the Athena JSON API with
//! scripted behaviour: FAILED queries, throttling, pagination, a deadline, access denied.
//! (The happy path against `moto_server` runs through the CLI: generator/tests/athena.rs.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opslake_runtime::backoff::Backoff;
use opslake_runtime::engine::athena::{AthenaEngine, AthenaError};
use opslake_runtime::query::Sql;
use serde_json::{json, Value};

mod common;
use common::serve;

async fn engine(url: &str) -> AthenaEngine {
    let mut e = AthenaEngine::new(&common::aws(url).await, "acme-opslake", "acme_opslake");
    e.poll = Backoff::polls(Duration::from_millis(10), Duration::from_millis(50));
    e
}

fn sql() -> Sql {
    Sql {
        text: "SELECT eventname, count(*) AS n FROM \"acme_opslake\".\"cloudtrail\" WHERE account = ? GROUP BY 1"
            .into(),
        parameters: vec!["'111111111111'".into()],
    }
}

fn status(state: &str, extra: Value) -> Value {
    let mut s = json!({"State": state});
    if let (Value::Object(a), Value::Object(b)) = (&mut s, extra) {
        a.extend(b);
    }
    json!({"QueryExecution": {"QueryExecutionId": "q-1", "Status": s, "Statistics": {"DataScannedInBytes": 123456789}}})
}

fn rows_page(rows: &[(&str, &str)], header: bool, next: Option<&str>) -> Value {
    let mut data: Vec<Value> = Vec::new();
    if header {
        data.push(json!({"Data": [{"VarCharValue": "eventname"}, {"VarCharValue": "n"}]}));
    }
    for (a, b) in rows {
        data.push(json!({"Data": [{"VarCharValue": a}, {"VarCharValue": b}]}));
    }
    let mut page = json!({"ResultSet": {"Rows": data, "ResultSetMetadata": {"ColumnInfo": [
        {"Name": "eventname", "Type": "varchar"}, {"Name": "n", "Type": "bigint"}
    ]}}});
    if let Some(t) = next {
        page["NextToken"] = json!(t);
    }
    page
}

#[tokio::test]
async fn throttling_is_retried_and_results_are_paged_and_typed() {
    let starts = Arc::new(Mutex::new(0));
    let polls = Arc::new(Mutex::new(0));
    let (s2, p2) = (Arc::clone(&starts), Arc::clone(&polls));
    let fake = serve(Box::new(move |op, body| match op {
        "StartQueryExecution" => {
            let mut n = s2.lock().unwrap();
            *n += 1;
            if *n <= 2 {
                (400, json!({"__type": "TooManyRequestsException", "Message": "Rate exceeded"}))
            } else {
                (200, json!({"QueryExecutionId": "q-1"}))
            }
        }
        "GetQueryExecution" => {
            let mut n = p2.lock().unwrap();
            *n += 1;
            (200, status(if *n < 3 { "RUNNING" } else { "SUCCEEDED" }, json!({})))
        }
        "GetQueryResults" => match body.get("NextToken").and_then(Value::as_str) {
            None => (200, rows_page(&[("RunInstances", "3"), ("TerminateInstances", "2")], true, Some("page-2"))),
            Some("page-2") => (200, rows_page(&[("CreateBucket", "1")], false, None)),
            Some(other) => (400, json!({"__type": "InvalidRequestException", "Message": format!("bad token {other}")})),
        },
        other => (400, json!({"__type": "InvalidRequestException", "Message": format!("unexpected {other}")})),
    }));
    let answer = engine(&fake.url).await.run(&sql()).await.unwrap();
    assert_eq!(answer.columns, vec!["eventname", "n"]);
    assert_eq!(
        answer.rows,
        vec![
            vec![json!("RunInstances"), json!(3)],
            vec![json!("TerminateInstances"), json!(2)],
            vec![json!("CreateBucket"), json!(1)]
        ]
    );
    assert_eq!(answer.bytes_scanned, 123456789);
    assert!((answer.estimated_cost_usd - 123456789.0 / 1e12 * 5.0).abs() < 1e-12);
    assert_eq!(*starts.lock().unwrap(), 3, "two throttled attempts, then success");
    let calls = fake.calls.lock().unwrap();
    let start = calls.iter().rev().find(|(op, _)| op == "StartQueryExecution").unwrap();
    assert_eq!(start.1["ExecutionParameters"], json!(["'111111111111'"]));
    assert_eq!(start.1["WorkGroup"], json!("acme-opslake"));
    assert_eq!(start.1["QueryExecutionContext"]["Database"], json!("acme_opslake"));
    assert!(!start.1["QueryString"].as_str().unwrap().contains("111111111111"), "values travel as parameters only");
}

#[tokio::test]
async fn a_failed_query_reports_athenas_reason() {
    let fake = serve(Box::new(|op, _| match op {
        "StartQueryExecution" => (200, json!({"QueryExecutionId": "q-1"})),
        "GetQueryExecution" => (
            200,
            status(
                "FAILED",
                json!({"StateChangeReason": "TABLE_NOT_FOUND: line 1:45: Table 'acme_opslake.cloudtrail' does not exist", "AthenaError": {"ErrorCategory": 2, "ErrorType": 1301, "Retryable": false, "ErrorMessage": "TABLE_NOT_FOUND: line 1:45: Table 'acme_opslake.cloudtrail' does not exist"}}),
            ),
        ),
        _ => (400, json!({"__type": "InvalidRequestException", "Message": "unexpected"})),
    }));
    let err = engine(&fake.url).await.run(&sql()).await.unwrap_err();
    match err {
        AthenaError::Query { id, state, reason } => {
            assert_eq!((id.as_str(), state.as_str()), ("q-1", "FAILED"));
            assert!(reason.contains("TABLE_NOT_FOUND"), "{reason}");
        }
        other => panic!("expected a query failure, got {other:?}"),
    }
}

#[tokio::test]
async fn a_query_past_the_deadline_is_cancelled() {
    let fake = serve(Box::new(|op, _| match op {
        "StartQueryExecution" => (200, json!({"QueryExecutionId": "q-1"})),
        "GetQueryExecution" => (200, status("RUNNING", json!({}))),
        "StopQueryExecution" => (200, json!({})),
        _ => (400, json!({"__type": "InvalidRequestException", "Message": "unexpected"})),
    }));
    let mut e = engine(&fake.url).await;
    e.deadline = Duration::from_millis(300);
    let err = e.run(&sql()).await.unwrap_err();
    assert!(matches!(err, AthenaError::Deadline { .. }), "{err:?}");
    assert!(fake.calls.lock().unwrap().iter().any(|(op, _)| op == "StopQueryExecution"), "the query must be cancelled");
}

#[tokio::test]
async fn access_denied_is_a_clear_error() {
    let fake = serve(Box::new(|_, _| {
        (
            400,
            json!({"__type": "AccessDeniedException", "Message": "User is not authorized to perform: athena:StartQueryExecution"}),
        )
    }));
    let err = engine(&fake.url).await.run(&sql()).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("StartQueryExecution")
            && text.contains("AccessDeniedException")
            && text.contains("not authorized"),
        "{text}"
    );
}

// --- the `query` function's handler, with real Function URL events ---------------------

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use base64::Engine as _;
use opslake_runtime::functions::query::QueryService;
use opslake_runtime::lake::LakeLayout;
use opslake_runtime::source::Source;

fn event(body: &str, method: &str, base64: bool) -> LambdaFunctionUrlRequest {
    let mut v: Value = serde_json::from_str(include_str!("fixtures/function-url-post.json")).unwrap();
    v["requestContext"]["http"]["method"] = json!(method);
    v["body"] = json!(if base64 { base64::engine::general_purpose::STANDARD.encode(body) } else { body.to_string() });
    v["isBase64Encoded"] = json!(base64);
    serde_json::from_value(v).unwrap()
}

fn layout() -> LakeLayout {
    serde_json::from_value(json!({
        "database": "acme_opslake", "bucket": "acme-log-archive-111111111111", "prefix": "",
        "organization_trail": "o-a1b2c3d4e5", "accounts": ["111111111111", "222222222222"],
        "regions": ["ap-northeast-1", "us-east-1"], "start": "2024-01-01", "end": null,
        "cloudtrail": true, "config": true, "alb": []
    }))
    .unwrap()
}

#[tokio::test]
async fn the_query_function_answers_function_url_events() {
    let fake = serve(Box::new(|op, body| match op {
        "StartQueryExecution" if body["QueryString"].as_str().unwrap_or("").contains("FAIL_ME") => {
            (200, json!({"QueryExecutionId": "q-f"}))
        }
        "StartQueryExecution" => (200, json!({"QueryExecutionId": "q-1"})),
        "GetQueryExecution" => (200, status("SUCCEEDED", json!({}))),
        "GetQueryResults" => (200, rows_page(&[("RunInstances", "3")], true, None)),
        _ => (400, json!({"__type": "InvalidRequestException", "Message": "unexpected"})),
    }));
    let service = QueryService { layout: layout(), source: Source::Athena(engine(&fake.url).await) };
    let fixture: LambdaFunctionUrlRequest =
        serde_json::from_str(include_str!("fixtures/function-url-post.json")).unwrap();
    let ok = service.handle_url(fixture).await;
    assert_eq!(ok.status_code, 200, "{:?}", ok.body);
    let body: Value = serde_json::from_str(ok.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["status"], "SUCCEEDED");
    assert_eq!(body["rows"][0]["eventname"], "RunInstances");
    assert_eq!(body["query"]["bytes_scanned"], 123456789);
    let start = fake.calls.lock().unwrap().iter().find(|(op, _)| op == "StartQueryExecution").cloned().unwrap();
    assert_eq!(start.1["ExecutionParameters"].as_array().unwrap().last().unwrap(), "'111111111111'");

    let good = r#"{"name": "event-counts", "params": {"from": "2025-03-01", "to": "2025-03-31"}}"#;
    let cases: Vec<(LambdaFunctionUrlRequest, i64, &str)> = vec![
        (event(good, "POST", true), 200, "SUCCEEDED"),
        (event(good, "GET", false), 405, "use POST"),
        (
            event(r#"{"name": "config-changes", "params": {"year": "2025", "month": "13"}}"#, "POST", false),
            400,
            "not a month",
        ),
        (
            event(r#"{"name": "config-changes", "params": {"year": 1999, "month": 1}}"#, "POST", false),
            400,
            "not a year",
        ),
        (
            event(
                r#"{"name": "events", "params": {"from": "2025-01-01", "to": "2025-01-02", "user": "x' OR '1'='1"}}"#,
                "POST",
                false,
            ),
            400,
            "contains `'`",
        ),
        (
            event(r#"{"name": "events", "params": {}, "sql": "DROP TABLE x"}"#, "POST", false),
            400,
            "unknown field `sql`",
        ),
        (event(r#"{"name": "nope"}"#, "POST", false), 400, "no query named"),
        (event("not json", "POST", false), 400, "expected"),
        (
            event(&format!(r#"{{"name": "events", "params": {{"x": "{}"}}}}"#, "a".repeat(20000)), "POST", false),
            400,
            "limit",
        ),
        (
            {
                let mut e = event("%%%", "POST", false);
                e.is_base64_encoded = true; // claims base64, is not
                e
            },
            400,
            "base64",
        ),
    ];
    for (ev, want, text) in cases {
        let r = service.handle_url(ev).await;
        let body = r.body.clone().unwrap_or_default();
        assert_eq!(r.status_code, want, "{body}");
        assert!(body.contains(text), "expected {text:?} in {body}");
        assert_eq!(r.headers.get("content-type").unwrap(), "application/json");
    }
}

#[tokio::test]
async fn the_query_function_reports_athena_failures_as_502() {
    let fake = serve(Box::new(|op, _| match op {
        "StartQueryExecution" => (200, json!({"QueryExecutionId": "q-1"})),
        "GetQueryExecution" => (200, status("FAILED", json!({"StateChangeReason": "HIVE_BAD_DATA: malformed"}))),
        _ => (400, json!({"__type": "InvalidRequestException", "Message": "unexpected"})),
    }));
    let service = QueryService { layout: layout(), source: Source::Athena(engine(&fake.url).await) };
    let (code, body) =
        service.handle(br#"{"name": "event-counts", "params": {"from": "2025-03-01", "to": "2025-03-31"}}"#).await;
    assert_eq!(code, 502);
    assert_eq!(body["status"], "FAILED");
    assert!(body["error"].as_str().unwrap().contains("HIVE_BAD_DATA"), "{body}");
}

/// A result too large for a Function URL answer: the rows that fit, `truncated`, and where
/// Athena wrote the whole result; the engine's row cap stops the paging.
#[tokio::test]
async fn a_large_answer_is_cut_and_names_its_whole_result() {
    let long = "x".repeat(1000);
    let fake = serve(Box::new(move |op, body| match op {
        "StartQueryExecution" => (200, json!({"QueryExecutionId": "q-1"})),
        "GetQueryExecution" => {
            let mut s = status("SUCCEEDED", json!({}));
            s["QueryExecution"]["ResultConfiguration"] = json!({"OutputLocation": "s3://acme-athena/q-1.csv"});
            (200, s)
        }
        "GetQueryResults" => {
            let page: usize = body.get("NextToken").and_then(Value::as_str).and_then(|t| t.parse().ok()).unwrap_or(0);
            let rows: Vec<(&str, &str)> = (0..1000).map(|_| (long.as_str(), "1")).collect();
            (200, rows_page(&rows, page == 0, (page < 99).then(|| (page + 1).to_string()).as_deref()))
        }
        _ => (400, json!({"__type": "InvalidRequestException", "Message": "unexpected"})),
    }));
    // 100 pages of 1,000 rows of ~1 KB: the function's cap stops at 20,000 rows, and 5 MB of
    // them fit the answer.
    let engine = engine(&fake.url).await.with_row_cap(opslake_runtime::functions::query::MAX_ROWS);
    let service = QueryService { layout: layout(), source: Source::Athena(engine) };
    let (status, body) =
        service.handle(br#"{"name": "event-counts", "params": {"from": "2025-03-01", "to": "2025-03-31"}}"#).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["truncated"], true);
    assert_eq!(body["query"]["result_location"], "s3://acme-athena/q-1.csv");
    let returned = body["rows_returned"].as_u64().unwrap();
    assert!(returned > 4000 && returned < 5000, "{returned} rows of ~1 KB fit 5 MB");
    assert_eq!(body["rows"].as_array().unwrap().len() as u64, returned);
    assert!(body.to_string().len() < 6_000_000, "the answer fits a Function URL response");
    let pages = fake.calls.lock().unwrap().iter().filter(|(op, _)| op == "GetQueryResults").count();
    // (1,000 rows a page: the cap is reached on the 20th page, and the 21st is never asked for.)
    assert_eq!(pages, 20, "paging stopped at the row cap");
}
