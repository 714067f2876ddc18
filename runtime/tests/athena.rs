//! The Athena engine against a local test server that speaks the Athena JSON API with
//! scripted behaviour: FAILED queries, throttling, pagination, a deadline, access denied.
//! (The happy path against `moto_server` runs through the CLI: generator/tests/athena.rs.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opslake_runtime::engine::athena::{AthenaEngine, AthenaError, Connection};
use opslake_runtime::query::Sql;
use serde_json::{json, Value};

fn credentials() {
    // The engine uses the standard credential chain; tests give it static test keys.
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    std::env::set_var("AWS_REGION", "us-east-1");
    std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/opslake-test");
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/opslake-test");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
}

type Handler = dyn Fn(&str, &Value) -> (u16, Value) + Send + Sync;

/// A one-thread HTTP server on loopback that answers Athena JSON-1.1 calls with `handler`,
/// recording every (operation, body). Stops when the test ends (the listener is dropped with
/// the process; each test uses its own port).
struct FakeAthena {
    url: String,
    calls: Arc<Mutex<Vec<(String, Value)>>>,
}

fn serve(handler: Box<Handler>) -> FakeAthena {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let calls = Arc::new(Mutex::new(Vec::new()));
    let rec = Arc::clone(&calls);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = handle(stream, &*handler, &rec);
        }
    });
    FakeAthena { url, calls }
}

fn handle(
    stream: TcpStream,
    handler: &Handler,
    calls: &Mutex<Vec<(String, Value)>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let (mut target, mut len) = (String::new(), 0usize);
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap_or((h, ""));
        match k.to_ascii_lowercase().as_str() {
            "x-amz-target" => target = v.trim().to_string(),
            "content-length" => len = v.trim().parse().unwrap_or(0),
            _ => {}
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let op = target.trim_start_matches("AmazonAthena.").to_string();
    calls.lock().unwrap().push((op.clone(), body.clone()));
    let (status, reply) = handler(&op, &body);
    let text = reply.to_string();
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status} X\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )?;
    out.flush()
}

async fn engine(url: &str) -> AthenaEngine {
    credentials();
    let conn = Connection {
        endpoint_url: Some(url.to_string()),
        region: Some("us-east-1".into()),
        profile: None,
    };
    let mut e = AthenaEngine::connect(&conn, "acme-opslake", "acme_opslake").await;
    e.poll = (Duration::from_millis(10), Duration::from_millis(50));
    e
}

fn sql() -> Sql {
    Sql { text: "SELECT eventname, count(*) AS n FROM \"acme_opslake\".\"cloudtrail\" WHERE account = ? GROUP BY 1".into(), parameters: vec!["'111111111111'".into()] }
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
                (
                    400,
                    json!({"__type": "TooManyRequestsException", "Message": "Rate exceeded"}),
                )
            } else {
                (200, json!({"QueryExecutionId": "q-1"}))
            }
        }
        "GetQueryExecution" => {
            let mut n = p2.lock().unwrap();
            *n += 1;
            (
                200,
                status(if *n < 3 { "RUNNING" } else { "SUCCEEDED" }, json!({})),
            )
        }
        "GetQueryResults" => match body.get("NextToken").and_then(Value::as_str) {
            None => (
                200,
                rows_page(
                    &[("RunInstances", "3"), ("TerminateInstances", "2")],
                    true,
                    Some("page-2"),
                ),
            ),
            Some("page-2") => (200, rows_page(&[("CreateBucket", "1")], false, None)),
            Some(other) => (
                400,
                json!({"__type": "InvalidRequestException", "Message": format!("bad token {other}")}),
            ),
        },
        other => (
            400,
            json!({"__type": "InvalidRequestException", "Message": format!("unexpected {other}")}),
        ),
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
    assert_eq!(
        *starts.lock().unwrap(),
        3,
        "two throttled attempts, then success"
    );
    let calls = fake.calls.lock().unwrap();
    let start = calls
        .iter()
        .rev()
        .find(|(op, _)| op == "StartQueryExecution")
        .unwrap();
    assert_eq!(start.1["ExecutionParameters"], json!(["'111111111111'"]));
    assert_eq!(start.1["WorkGroup"], json!("acme-opslake"));
    assert_eq!(
        start.1["QueryExecutionContext"]["Database"],
        json!("acme_opslake")
    );
    assert!(
        !start.1["QueryString"]
            .as_str()
            .unwrap()
            .contains("111111111111"),
        "values travel as parameters only"
    );
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
        _ => (
            400,
            json!({"__type": "InvalidRequestException", "Message": "unexpected"}),
        ),
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
        _ => (
            400,
            json!({"__type": "InvalidRequestException", "Message": "unexpected"}),
        ),
    }));
    let mut e = engine(&fake.url).await;
    e.deadline = Duration::from_millis(300);
    let err = e.run(&sql()).await.unwrap_err();
    assert!(matches!(err, AthenaError::Deadline { .. }), "{err:?}");
    assert!(
        fake.calls
            .lock()
            .unwrap()
            .iter()
            .any(|(op, _)| op == "StopQueryExecution"),
        "the query must be cancelled"
    );
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
