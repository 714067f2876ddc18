//! The `insights` function live, against `moto_server` (DynamoDB, S3, SNS, SQS): SQS batches
//! of `AWS API Call via CloudTrail` EventBridge events whose details are the example mirror's
//! real CloudTrail records (re-timed onto a test clock, each copy its own eventID).
//!
//! - Every call is counted once into its own 10-second window: the table's counters and the
//!   EMF lines equal an independent count; a redelivered message, a late event and an
//!   unreadable message are dropped, each counted as such, none reported as a failure.
//! - The schedule scores the closed windows with the forests kept in S3: steady activity
//!   gives nothing; a burst of AccessDenied gives one message on the topic, once.
//! - A region an account uses for the first time after the learning day is published once; a
//!   console sign-in (EventBridge's `AWS Console Signin via CloudTrail`) is counted as one.
//! - When the Slack app exists, each alert is also posted in its channel (a local server
//!   speaking Slack's `chat.postMessage`); a Slack that refuses does not stop the topic's.

#[path = "../../runtime/tests/common/mod.rs"]
mod common;
mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::process::Command;

use aws_lambda_events::event::sqs::SqsEvent;
use jiff::{SignedDuration, Timestamp};
use opslake_runtime::functions::insights::{activity_of, InsightsService, SlackAlerts, LATENESS, WIDTH};
use opslake_runtime::slack::api::SlackApi;
use serde_json::{json, Value};
use support::*;

const TABLE: &str = "insights";
const BUCKET: &str = "lake";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:anomalies";

/// The example mirror's CloudTrail records (real third-party records).
fn real_records() -> Vec<Value> {
    let mut out = Vec::new();
    for p in common::files_under(&workspace().join("examples/logs")) {
        let name = p.to_string_lossy().to_string();
        if !name.contains("/CloudTrail/") || !name.ends_with(".json.gz") {
            continue;
        }
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&p).unwrap()).read_to_string(&mut text).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        out.extend(doc["Records"].as_array().unwrap().iter().cloned());
    }
    out
}

/// A record as an EventBridge event, at `t`, with its own eventID.
fn event(record: &Value, t: Timestamp, id: &str) -> String {
    let mut detail = record.clone();
    detail["eventTime"] = json!(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
    detail["eventID"] = json!(id);
    // Console sign-ins reach EventBridge under their own detail-type.
    let detail_type = match detail["eventName"].as_str() {
        Some("ConsoleLogin") => "AWS Console Signin via CloudTrail",
        _ => "AWS API Call via CloudTrail",
    };
    json!({
        "version": "0", "id": format!("eb-{id}"), "detail-type": detail_type,
        "source": format!("aws.{}", detail["eventSource"].as_str().unwrap_or("").trim_end_matches(".amazonaws.com")),
        "account": detail["recipientAccountId"].as_str().unwrap_or("222222222222"),
        "time": detail["eventTime"], "region": detail["awsRegion"], "resources": [], "detail": detail,
    })
    .to_string()
}

/// An SQS batch as Lambda delivers it.
fn batch(bodies: &[(String, String)]) -> SqsEvent {
    let records: Vec<Value> = bodies
        .iter()
        .map(|(id, body)| {
            json!({"messageId": id, "receiptHandle": format!("rh-{id}"), "body": body, "attributes": {},
                   "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                   "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:insights", "awsRegion": "us-east-1"})
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

/// The table (key `pk`, TTL `expires_at`), the state bucket, the topic, and a queue subscribed
/// to the topic to read what it published; returns the queue's URL.
fn resources(moto: &Moto) -> String {
    let script = r#"
import boto3, sys
kw = dict(endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
ddb = boto3.client("dynamodb", **kw)
ddb.create_table(TableName="insights", BillingMode="PAY_PER_REQUEST",
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
ddb.update_time_to_live(TableName="insights", TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})
boto3.client("s3", **kw).create_bucket(Bucket="lake")
sns = boto3.client("sns", **kw)
topic = sns.create_topic(Name="anomalies")["TopicArn"]
sqs = boto3.client("sqs", **kw)
q = sqs.create_queue(QueueName="read-anomalies")["QueueUrl"]
arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
print(q)
"#;
    let (code, out, err) = run(Command::new(tool("tools", "python")).args(["-c", script, &moto.url]));
    assert_eq!(code, 0, "{err}");
    out.trim().to_string()
}

fn published(moto: &Moto, queue: &str) -> Vec<String> {
    let script = r#"
import boto3, sys, json
sqs = boto3.client("sqs", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
out = []
while True:
    got = sqs.receive_message(QueueUrl=sys.argv[2], MaxNumberOfMessages=10).get("Messages", [])
    if not got:
        break
    for m in got:
        out.append(m["Body"])
        sqs.delete_message(QueueUrl=sys.argv[2], ReceiptHandle=m["ReceiptHandle"])
print(json.dumps(out))
"#;
    let (code, out, err) = run(Command::new(tool("tools", "python")).args(["-c", script, &moto.url, queue]));
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

/// The table's window counters: window start → calls.
fn window_counts(moto: &Moto) -> BTreeMap<i64, u64> {
    let script = r#"
import boto3, sys, json
ddb = boto3.client("dynamodb", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
out = {}
for page in ddb.get_paginator("scan").paginate(TableName="insights"):
    for i in page["Items"]:
        if i["pk"]["S"].startswith("window#"):
            out[i["pk"]["S"][7:]] = int(i["total"]["N"])
print(json.dumps(out))
"#;
    let (code, out, err) = run(Command::new(tool("tools", "python")).args(["-c", script, &moto.url]));
    assert_eq!(code, 0, "{err}");
    let m: BTreeMap<String, u64> = serde_json::from_str(&out).unwrap();
    m.into_iter().map(|(k, v)| (k.parse().unwrap(), v)).collect()
}

fn service(aws: opslake_runtime::aws::Aws, slack: Option<&common::FakeAws>) -> InsightsService {
    InsightsService {
        aws,
        slack: slack.map(|f| SlackAlerts {
            api: SlackApi::new(&format!("{}/api", f.url), "xoxb-test".into()).unwrap(),
            channel: "C0ALERTS01".into(),
        }),
        table: TABLE.into(),
        bucket: BUCKET.into(),
        state_key: "insights/state.json.gz".into(),
        topic_arn: TOPIC.into(),
        namespace: "opslake/test".into(),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn live_windows_count_each_call_once_and_the_schedule_reports_a_burst_once() {
    let moto = start_moto();
    let queue = resources(&moto);
    // A Slack that refuses every post (the bot was removed from the channel).
    let slack = common::serve(Box::new(|_, _| (200, json!({"ok": false, "error": "not_in_channel"}))));
    let svc = service(common::aws(&moto.url).await, Some(&slack));
    let records = real_records();
    let steady: Vec<&Value> = records
        .iter()
        .filter(|r| {
            r.get("errorCode").is_none() && r["userIdentity"]["type"] != "Root" && r["eventName"] != "ConsoleLogin"
        })
        .collect();
    let denied: Vec<&Value> = records.iter().filter(|r| r["errorCode"] == "AccessDenied").collect();
    assert!(steady.len() > 500 && denied.len() >= 5, "{} steady, {} denied", steady.len(), denied.len());

    // Deployed before the traffic: the first run starts the forests at the first window.
    let t0: Timestamp = "2026-12-01T12:00:00Z".parse().unwrap();
    let lateness = SignedDuration::try_from(LATENESS).unwrap();
    assert!(svc.score(t0 + lateness).await.unwrap().is_empty());

    // 200 windows of steady calls (3 to 5 a window), then 60 AccessDenied in window 170.
    let mut bodies: Vec<(String, String, i64)> = Vec::new();
    let mut next = 0usize;
    for w in 0..200i64 {
        for k in 0..(3 + w % 3) {
            let t = t0 + SignedDuration::from_secs(w * WIDTH + k);
            let id = format!("steady-{w}-{k}");
            bodies.push((id.clone(), event(steady[next % steady.len()], t, &id), w));
            next += 1;
        }
        if w == 170 {
            for k in 0..60 {
                let t = t0 + SignedDuration::from_secs(w * WIDTH + k % 10);
                let id = format!("denied-{k}");
                bodies.push((id.clone(), event(denied[k as usize % denied.len()], t, &id), w));
            }
        }
    }
    let mut want: BTreeMap<i64, u64> = BTreeMap::new();
    for (_, _, w) in &bodies {
        *want.entry(t0.as_second() + w * WIDTH).or_default() += 1;
    }
    let mut emf_calls: BTreeMap<i64, u64> = BTreeMap::new();
    let mut counted = 0;
    for chunk in bodies.chunks(100) {
        let last = chunk.iter().map(|(_, _, w)| *w).max().unwrap();
        let now = t0 + SignedDuration::from_secs(last * WIDTH + 30);
        let done =
            svc.ingest(batch(&chunk.iter().map(|(i, b, _)| (i.clone(), b.clone())).collect::<Vec<_>>()), now).await;
        assert!(done.response.batch_item_failures.is_empty());
        assert_eq!((done.repeated, done.late, done.malformed), (0, 0, 0));
        counted += done.counted;
        for line in &done.lines {
            let v: Value = serde_json::from_str(line).unwrap();
            if let Some(aws) = v.get("_aws") {
                let cwm = &aws["CloudWatchMetrics"][0];
                assert_eq!(cwm["Namespace"], "opslake/test");
                if cwm["Dimensions"] == json!([[]]) {
                    *emf_calls.entry(aws["Timestamp"].as_i64().unwrap() / 1000).or_default() +=
                        v["Calls"].as_u64().unwrap();
                }
            } else {
                assert_eq!(v["insight"], "call", "{line}");
            }
        }
    }
    assert_eq!(counted, bodies.len() as u64);
    assert_eq!(window_counts(&moto), want, "the table's counters");
    assert_eq!(emf_calls, want, "the EMF lines");

    // Again: a redelivered message, a late event, a message that is not an API call.
    let now = t0 + SignedDuration::from_secs(200 * WIDTH);
    let late = event(steady[0], now - lateness - SignedDuration::from_secs(60), "late-1");
    let last = bodies.last().unwrap();
    let again = batch(&[
        (last.0.clone(), last.1.clone()),
        ("late".into(), late),
        ("junk".into(), r#"{"detail-type": "Scheduled Event", "detail": {}}"#.into()),
    ]);
    let done = svc.ingest(again, now).await;
    assert_eq!((done.counted, done.repeated, done.late, done.malformed), (0, 1, 1, 1));
    assert!(done.response.batch_item_failures.is_empty());
    assert_eq!(window_counts(&moto), want, "nothing counted twice");

    // The schedule, once every window is closed: one anomaly episode, at the burst.
    let after = t0 + SignedDuration::from_secs(200 * WIDTH) + lateness + SignedDuration::from_secs(WIDTH);
    let found = svc.score(after).await.unwrap();
    let burst = opslake_runtime::analysis::insights::text(t0 + SignedDuration::from_secs(170 * WIDTH));
    let got: Vec<(String, &str)> = found.iter().map(|a| (a.start.clone(), a.series.name())).collect();
    assert!(got.contains(&(burst.clone(), "access_denied")), "{found:#?}");
    assert!(got.iter().all(|(s, _)| s == &burst), "only the burst: {found:#?}");
    let messages = published(&moto, &queue);
    assert_eq!(messages.len(), found.len(), "{messages:#?}");
    assert!(messages.iter().any(|m| m.starts_with("access_denied in the 10-second window from") && m.contains(&burst)));
    // Slack was asked once per anomaly and refused; the topic has them all the same.
    assert_eq!(slack.calls.lock().unwrap().len(), found.len());
    // Run again at the same time: nothing new to score, nothing published again.
    assert!(svc.score(after).await.unwrap().is_empty());
    assert!(published(&moto, &queue).is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn a_first_region_is_reported_once_after_the_learning_day() {
    let moto = start_moto();
    let queue = resources(&moto);
    let slack =
        common::serve(Box::new(|_, body| (200, json!({"ok": true, "channel": body["channel"], "ts": "1.000100"}))));
    let svc = service(common::aws(&moto.url).await, Some(&slack));
    let records = real_records();
    let r = records.iter().find(|r| r["awsRegion"] == "us-east-1" && r.get("errorCode").is_none()).unwrap();
    let t0: Timestamp = "2026-12-01T12:00:00Z".parse().unwrap();
    let first = svc.ingest(batch(&[("a".into(), event(r, t0, "a"))]), t0).await;
    assert!(first.firsts.is_empty(), "the learning day: {:?}", first.firsts);
    let day = t0 + SignedDuration::from_hours(25);
    let mut away = r.clone();
    away["awsRegion"] = json!("eu-west-3");
    let account = activity_of(&event(r, t0, "x")).unwrap().account;
    let b = batch(&[("b".into(), event(&away, day, "b")), ("c".into(), event(&away, day, "c"))]);
    let done = svc.ingest(b, day).await;
    assert_eq!(done.firsts, [(account.clone(), "region".to_string(), "eu-west-3".to_string())]);
    let again = svc.ingest(batch(&[("d".into(), event(&away, day, "d"))]), day).await;
    assert!(again.firsts.is_empty());
    // A console sign-in arrives under its own detail-type, and is counted as one.
    let login = records.iter().find(|r| r["eventName"] == "ConsoleLogin" && r["awsRegion"] == "us-east-1").unwrap();
    let body = event(login, t0, "login");
    assert!(body.contains(r#""detail-type":"AWS Console Signin via CloudTrail""#), "{body}");
    // (in the learning day, so that its service is not a first use)
    let signed_in = svc.ingest(batch(&[("e".into(), body)]), t0).await;
    assert_eq!(signed_in.counted, 1);
    let totals: Value = serde_json::from_str(&signed_in.lines[0]).unwrap();
    let result = login["responseElements"]["ConsoleLogin"].as_str().unwrap();
    let metric = if result == "Success" { "SignInSuccesses" } else { "SignInFailures" };
    assert_eq!(totals[metric], 1, "{totals}");
    // Published once, on the anomaly topic.
    let messages = published(&moto, &queue);
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert!(
        messages[0].starts_with(&format!("Account {account} made its first call in region eu-west-3")),
        "{messages:#?}"
    );
    // And once in the Slack channel, the subject in bold over the message.
    let posts = slack.calls.lock().unwrap().clone();
    assert_eq!(posts.len(), 1, "{posts:#?}");
    assert_eq!(posts[0].0, "/api/chat.postMessage");
    assert_eq!(posts[0].1["channel"], "C0ALERTS01");
    let text = posts[0].1["blocks"][0]["text"]["text"].as_str().unwrap();
    assert!(
        text.starts_with(&format!("*opslake: account {account} used region eu-west-3 for the first time*\n")),
        "{text}"
    );
    assert!(text.contains(&messages[0]), "{text}");
}
