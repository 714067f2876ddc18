//! The live services of cloud mode, played by [`super::serve`] over the example mirror's own
//! captured logs and metrics, as the documented APIs answer:
//!
//! - Logs Insights: `StartQuery` (one ThrottlingException first), `GetQueryResults` going
//!   Scheduled → Running → Complete, `StopQuery`. The two query shapes failure analysis sends
//!   are evaluated here, independently: the per-minute `stats` query by the words it names in
//!   `strcontains(tolower(@message), "…")`, the events query by its `like /…/` regular
//!   expression, its `sort` and `limit`. The range is whole seconds, end second included.
//! - CloudWatch (RPC v2 CBOR): `DescribeAlarms`, `DescribeAlarmHistory` (two pages, newest
//!   first), `ListMetrics` (two metrics a page), `GetMetricData` (15 points per result a page,
//!   every third call throttled).
//! - X-Ray: `GetTraceSummaries` (REST-JSON), five summaries a page, ranges over six hours and
//!   any other filter expression refused, the second call throttled (429); the traces are
//!   made up here (faults from the onset).
//! - Athena (for the command line's `--athena`): every query succeeds with no rows — a lake
//!   that holds nothing yet, so what the analysis finds comes from the live services alone.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::{serve, FakeAws};

pub const ACCOUNT: &str = "222222222222";
pub const ALARM: &str = "orders-target-5xx";
pub const LOAD_BALANCER: &str = "app/acme-web/50dc6c495c0c9188";
/// The alarm's last transition to ALARM (2025-06-12T09:41:30Z) and the transition back.
pub const ALARM_AT: i64 = 1_749_721_290;
pub const OK_AT: i64 = 1_749_722_400;
/// The made-up failed traces: three a minute from 09:40 to 09:54, root cause in this service.
pub const TRACE_SERVICE: &str = "orders-api";
pub const TRACE_EXCEPTION: &str = "ConnectTimeoutError";
pub const ONSET_MS: i64 = 1_749_721_200_000;

#[derive(Debug, Clone)]
pub struct LogEvent {
    pub group: String,
    pub stream: String,
    pub id: String,
    pub ts: i64,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct MetricPoint {
    pub namespace: String,
    pub name: String,
    pub dims: BTreeMap<String, String>,
    pub ts: i64,
    pub value: Value,
}

fn mirror_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../examples/logs/acme-log-archive-111111111111/AWSLogs/{ACCOUNT}/{kind}"))
}

fn lines(kind: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for p in super::files_under(&mirror_dir(kind)) {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(&p).unwrap()).read_to_string(&mut text).unwrap();
        out.extend(text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()));
    }
    out
}

/// The mirror's application log events (control messages left out).
pub fn log_events() -> Vec<LogEvent> {
    let mut out = Vec::new();
    for r in lines("CloudWatchLogs") {
        if r["messageType"] != "DATA_MESSAGE" {
            continue;
        }
        for e in r["logEvents"].as_array().unwrap() {
            out.push(LogEvent {
                group: r["logGroup"].as_str().unwrap().into(),
                stream: r["logStream"].as_str().unwrap().into(),
                id: e["id"].as_str().unwrap().into(),
                ts: e["timestamp"].as_i64().unwrap(),
                message: e["message"].as_str().unwrap().into(),
            });
        }
    }
    out.sort_by(|a, b| (a.ts, &a.id).cmp(&(b.ts, &b.id)));
    out
}

/// The mirror's metric-stream points.
pub fn metric_points() -> Vec<MetricPoint> {
    lines("CloudWatchMetrics")
        .into_iter()
        .map(|r| MetricPoint {
            namespace: r["namespace"].as_str().unwrap().into(),
            name: r["metric_name"].as_str().unwrap().into(),
            dims: serde_json::from_value(r["dimensions"].clone()).unwrap(),
            ts: r["timestamp"].as_i64().unwrap(),
            value: r["value"].clone(),
        })
        .collect()
}

fn insights_time(ms: i64) -> String {
    let t = jiff::Timestamp::from_millisecond(ms).unwrap();
    format!("{}.{:03}", t.strftime("%Y-%m-%d %H:%M:%S"), ms.rem_euclid(1000))
}

/// What the fake saw and did.
#[derive(Debug, Default)]
pub struct Seen {
    pub queries: Vec<(String, String, Vec<String>, i64, i64)>,
    pub polls: HashMap<String, usize>,
    pub stopped: Vec<String>,
    pub throttled: usize,
    pub metric_calls: usize,
    pub list_filters: Vec<Value>,
    pub trace_calls: Vec<(f64, f64)>,
}

/// How Logs Insights behaves for a query: finishes, or never does, or ends in `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insights {
    Completes,
    /// The events query ends `Timeout`, the stats query runs forever.
    Stalls,
}

pub struct Cloud {
    pub fake: FakeAws,
    pub seen: Arc<Mutex<Seen>>,
}

/// Starts the fake services.
pub fn serve_cloud(insights: Insights) -> Cloud {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let events = Arc::new(log_events());
    let points = Arc::new(metric_points());
    let s = Arc::clone(&seen);
    let fake = serve(Box::new(move |op, body| {
        let mut seen = s.lock().unwrap();
        match op {
            "StartQuery" => start_query(&mut seen, body),
            // Athena's operation of the same name reads a query execution.
            "GetQueryResults" if body.get("QueryExecutionId").is_some() => {
                (200, json!({"ResultSet": {"Rows": [], "ResultSetMetadata": {"ColumnInfo": []}}}))
            }
            "GetQueryResults" => query_results(&mut seen, body, &events, insights),
            "StopQuery" => {
                seen.stopped.push(body["queryId"].as_str().unwrap_or("").into());
                (200, json!({"success": true}))
            }
            "DescribeAlarms" => describe_alarms(body),
            "DescribeAlarmHistory" => alarm_history(body),
            "ListMetrics" => {
                seen.list_filters.push(body["Dimensions"].clone());
                list_metrics(body, &points)
            }
            "GetMetricData" => {
                seen.metric_calls += 1;
                if seen.metric_calls % 3 == 0 {
                    seen.throttled += 1;
                    return (400, json!({"__type": "Throttling", "message": "Rate exceeded"}));
                }
                metric_data(body, &points)
            }
            "/TraceSummaries" => {
                let (from, to) = (body["StartTime"].as_f64().unwrap_or(0.0), body["EndTime"].as_f64().unwrap_or(0.0));
                seen.trace_calls.push((from, to));
                if seen.trace_calls.len() == 2 {
                    seen.throttled += 1;
                    return (429, json!({"__type": "ThrottledException", "message": "Rate exceeded"}));
                }
                trace_summaries(body)
            }
            "StartQueryExecution" => (200, json!({"QueryExecutionId": "athena-1"})),
            "GetQueryExecution" => (
                200,
                json!({"QueryExecution": {"QueryExecutionId": "athena-1",
                    "Status": {"State": "SUCCEEDED"}, "Statistics": {"DataScannedInBytes": 0}}}),
            ),
            other => (400, json!({"__type": "UnknownOperationException", "message": other})),
        }
    }));
    Cloud { fake, seen }
}

fn start_query(seen: &mut Seen, body: &Value) -> (u16, Value) {
    if seen.throttled == 0 {
        seen.throttled += 1;
        return (400, json!({"__type": "ThrottlingException", "message": "Rate exceeded"}));
    }
    let id = format!("q-{}", seen.queries.len() + 1);
    let groups = body["logGroupNames"].as_array().unwrap().iter().map(|g| g.as_str().unwrap().to_string()).collect();
    seen.queries.push((
        id.clone(),
        body["queryString"].as_str().unwrap().into(),
        groups,
        body["startTime"].as_i64().unwrap(),
        body["endTime"].as_i64().unwrap(),
    ));
    (200, json!({"queryId": id}))
}

fn query_results(seen: &mut Seen, body: &Value, events: &[LogEvent], mode: Insights) -> (u16, Value) {
    let id = body["queryId"].as_str().unwrap_or("").to_string();
    let Some((_, query, groups, start, end)) = seen.queries.iter().find(|q| q.0 == id).cloned() else {
        return (400, json!({"__type": "ResourceNotFoundException", "message": "no such query"}));
    };
    let n = {
        let n = seen.polls.entry(id).or_insert(0);
        *n += 1;
        *n
    };
    let stats = query.contains("stats ");
    if mode == Insights::Stalls {
        let status = if stats { "Running" } else { "Timeout" };
        return (200, json!({"status": status, "results": []}));
    }
    if n < 3 {
        return (200, json!({"status": if n == 1 { "Scheduled" } else { "Running" }, "results": []}));
    }
    let in_range: Vec<&LogEvent> = events
        .iter()
        .filter(|e| groups.contains(&e.group) && e.ts >= start * 1000 && e.ts < (end + 1) * 1000)
        .collect();
    let scanned = in_range.len();
    let bytes: usize = in_range.iter().map(|e| e.message.len()).sum();
    let (results, matched) = if stats { per_minute(&query, &in_range) } else { error_events(&query, &in_range) };
    (
        200,
        json!({
            "status": "Complete",
            "results": results,
            "statistics": {"recordsMatched": matched as f64, "recordsScanned": scanned as f64, "bytesScanned": bytes as f64}
        }),
    )
}

fn field(name: &str, value: impl ToString) -> Value {
    json!({"field": name, "value": value.to_string()})
}

/// `fields greatest(strcontains(tolower(@message), "w"), …) as is_error | stats … by bin(1m), @log`
fn per_minute(query: &str, events: &[&LogEvent]) -> (Vec<Value>, usize) {
    let words: Vec<String> = regex::Regex::new(r#"strcontains\(tolower\(@message\), "([^"]+)"\)"#)
        .unwrap()
        .captures_iter(query)
        .map(|c| c[1].to_string())
        .collect();
    assert!(!words.is_empty(), "the stats query names its error words: {query}");
    let mut by: BTreeMap<(i64, String), (u64, u64)> = BTreeMap::new();
    for e in events {
        let lower = e.message.to_lowercase();
        let c = by.entry((e.ts - e.ts.rem_euclid(60_000), format!("{ACCOUNT}:{}", e.group))).or_default();
        c.0 += 1;
        c.1 += u64::from(words.iter().any(|w| lower.contains(w.as_str())));
    }
    let rows = by
        .iter()
        .map(|((m, log), (events, errors))| {
            json!([
                field("bin(1m)", insights_time(*m)),
                field("@log", log),
                field("events", events),
                field("errors", errors)
            ])
        })
        .collect();
    (rows, events.len())
}

/// `filter @message like /RE/ | fields … | sort @timestamp asc | limit N`
fn error_events(query: &str, events: &[&LogEvent]) -> (Vec<Value>, usize) {
    let re = query.split("like /").nth(1).and_then(|r| r.split("/ |").next()).expect("a like /…/ filter");
    let re = regex::Regex::new(re).unwrap();
    let limit: usize = query.rsplit("limit ").next().and_then(|n| n.trim().parse().ok()).unwrap_or(10_000);
    assert!(query.find("filter").unwrap() < query.find("limit").unwrap(), "filter before limit: {query}");
    let matched: Vec<&&LogEvent> = events.iter().filter(|e| re.is_match(&e.message)).collect();
    let rows = matched
        .iter()
        .take(limit)
        .map(|e| {
            json!([
                field("@timestamp", insights_time(e.ts)),
                field("@log", format!("{ACCOUNT}:{}", e.group)),
                field("@logStream", &e.stream),
                field("@message", &e.message),
                field("@ptr", format!("ptr-{}", e.id)),
            ])
        })
        .collect();
    (rows, matched.len())
}

fn describe_alarms(body: &Value) -> (u16, Value) {
    let names = body["AlarmNames"].as_array().cloned().unwrap_or_default();
    if names.iter().any(|n| n == ALARM) {
        return (
            200,
            json!({"MetricAlarms": [{
                "AlarmName": ALARM,
                "Namespace": "AWS/ApplicationELB",
                "MetricName": "HTTPCode_Target_5XX_Count",
                "Dimensions": [{"Name": "LoadBalancer", "Value": LOAD_BALANCER}],
                "Statistic": "Sum", "Period": 60,
                "StateValue": "OK",
                "StateUpdatedTimestamp": {"$time": OK_AT}
            }], "CompositeAlarms": []}),
        );
    }
    (200, json!({"MetricAlarms": [], "CompositeAlarms": []}))
}

fn alarm_history(body: &Value) -> (u16, Value) {
    let item = |at: i64, from: &str, to: &str| {
        json!({
            "AlarmName": ALARM, "AlarmType": "MetricAlarm", "HistoryItemType": "StateUpdate",
            "Timestamp": {"$time": at},
            "HistorySummary": format!("Alarm updated from {from} to {to}"),
            "HistoryData": json!({"version": "1.0", "oldState": {"stateValue": from}, "newState": {"stateValue": to}}).to_string()
        })
    };
    assert_eq!(body["ScanBy"], "TimestampDescending");
    if body["NextToken"].is_null() {
        (200, json!({"AlarmHistoryItems": [item(OK_AT, "ALARM", "OK")], "NextToken": "page-2"}))
    } else {
        (200, json!({"AlarmHistoryItems": [item(ALARM_AT, "OK", "ALARM"), item(ALARM_AT - 86_400, "OK", "ALARM")]}))
    }
}

fn list_metrics(body: &Value, points: &[MetricPoint]) -> (u16, Value) {
    let ns = body["Namespace"].as_str().unwrap_or("");
    let filters: Vec<(String, String)> = body["Dimensions"]
        .as_array()
        .map(|a| a.iter().map(|f| (f["Name"].as_str().unwrap().into(), f["Value"].as_str().unwrap().into())).collect())
        .unwrap_or_default();
    let mut metrics: Vec<(String, BTreeMap<String, String>)> = points
        .iter()
        .filter(|p| p.namespace == ns && filters.iter().all(|(k, v)| p.dims.get(k) == Some(v)))
        .map(|p| (p.name.clone(), p.dims.clone()))
        .collect();
    metrics.sort();
    metrics.dedup();
    let from: usize = body["NextToken"].as_str().and_then(|t| t.parse().ok()).unwrap_or(0);
    let page: Vec<Value> = metrics
        .iter()
        .skip(from)
        .take(2)
        .map(|(name, dims)| {
            json!({"Namespace": ns, "MetricName": name,
                   "Dimensions": dims.iter().map(|(k, v)| json!({"Name": k, "Value": v})).collect::<Vec<_>>()})
        })
        .collect();
    let mut out = json!({"Metrics": page});
    if from + 2 < metrics.len() {
        out["NextToken"] = json!((from + 2).to_string());
    }
    (200, out)
}

fn metric_data(body: &Value, points: &[MetricPoint]) -> (u16, Value) {
    let (start, end) =
        (body["StartTime"].as_f64().unwrap() as i64 * 1000, body["EndTime"].as_f64().unwrap() as i64 * 1000);
    let skip: usize = body["NextToken"].as_str().and_then(|t| t.parse().ok()).unwrap_or(0);
    let mut more = false;
    let mut results = Vec::new();
    for q in body["MetricDataQueries"].as_array().unwrap() {
        let stat = &q["MetricStat"];
        let m = &stat["Metric"];
        assert_eq!(stat["Period"], 60);
        let dims: BTreeMap<String, String> = m["Dimensions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["Name"].as_str().unwrap().into(), d["Value"].as_str().unwrap().into()))
            .collect();
        let key = match stat["Stat"].as_str().unwrap() {
            "Sum" => "sum",
            "SampleCount" => "count",
            "Maximum" => "max",
            "Minimum" => "min",
            other => panic!("unexpected statistic {other}"),
        };
        let mut series: Vec<(i64, f64)> = points
            .iter()
            .filter(|p| p.namespace == m["Namespace"] && p.name == m["MetricName"] && p.dims == dims)
            .filter(|p| p.ts >= start && p.ts < end)
            .map(|p| (p.ts, p.value[key].as_f64().unwrap()))
            .collect();
        series.sort_by_key(|p| p.0);
        more |= series.len() > skip + 15;
        let page: Vec<(i64, f64)> = series.into_iter().skip(skip).take(15).collect();
        results.push(json!({
            "Id": q["Id"], "Label": m["MetricName"], "StatusCode": "Complete",
            "Timestamps": page.iter().map(|(t, _)| json!({"$time": *t as f64 / 1000.0})).collect::<Vec<_>>(),
            "Values": page.iter().map(|(_, v)| json!(v)).collect::<Vec<_>>(),
        }));
    }
    let mut out = json!({"MetricDataResults": results, "Messages": []});
    if more {
        out["NextToken"] = json!((skip + 15).to_string());
    }
    (200, out)
}

/// The made-up failed traces: one 4xx at 09:20 (no root cause), and three faults a minute
/// from the onset to 09:54 with their root cause in [`TRACE_SERVICE`].
pub fn traces() -> Vec<Value> {
    let mut out = vec![json!({"Id": "1-684a9f30-decoy000000000000000000", "StartTime": 1_749_720_000.0,
        "HasFault": false, "HasError": true, "HasThrottle": false, "ResponseTime": 0.02,
        "Http": {"HttpURL": "https://orders.example.com/health", "HttpStatus": 404, "HttpMethod": "GET"}})];
    for minute in 0..15 {
        for k in 0..3 {
            let t = (ONSET_MS / 1000 + minute * 60 + k * 15) as f64;
            out.push(json!({
                "Id": format!("1-684aa{minute:03x}-{k:024x}"), "StartTime": t,
                "HasFault": true, "HasError": false, "HasThrottle": false, "ResponseTime": 10.0,
                "Http": {"HttpURL": "https://orders.example.com/orders", "HttpStatus": 504, "HttpMethod": "POST"},
                "FaultRootCauses": [{"Services": [{"Name": TRACE_SERVICE, "Names": [TRACE_SERVICE], "Type": "AWS::Lambda::Function",
                    "EntityPath": [{"Name": TRACE_SERVICE, "Exceptions": []}, {"Name": "orders-db", "Exceptions": [{"Name": TRACE_EXCEPTION, "Message": "connect timed out"}]}]}]}]
            }));
        }
    }
    out
}

fn trace_summaries(body: &Value) -> (u16, Value) {
    let (from, to) = (body["StartTime"].as_f64().unwrap_or(0.0), body["EndTime"].as_f64().unwrap_or(0.0));
    if to - from > 6.0 * 3600.0 {
        return (400, json!({"__type": "InvalidRequestException", "message": "Time range exceeds 6 hours"}));
    }
    if body["FilterExpression"] != "fault = true OR error = true OR throttle = true" {
        return (400, json!({"__type": "InvalidRequestException", "message": "unexpected filter expression"}));
    }
    let all: Vec<Value> =
        traces().into_iter().filter(|t| (from..to).contains(&t["StartTime"].as_f64().unwrap())).collect();
    let skip: usize = body["NextToken"].as_str().and_then(|t| t.parse().ok()).unwrap_or(0);
    let page: Vec<Value> = all.iter().skip(skip).take(5).cloned().collect();
    let mut out = json!({"TraceSummaries": page, "ApproximateTime": to, "TracesProcessedCount": all.len()});
    if skip + 5 < all.len() {
        out["NextToken"] = json!((skip + 5).to_string());
    }
    (200, out)
}
