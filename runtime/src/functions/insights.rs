//! The `insights` function: activity insights live. Two entry points, one state.
//!
//! **Ingest** (an SQS batch of EventBridge `AWS API Call via CloudTrail` and `AWS Console
//! Signin via CloudTrail` events, forwarded
//! from every account and region to the home account's bus): each event becomes an
//! [`Activity`] exactly as a trail file's record does for `opslake insights`. An event older
//! than [`LATENESS`] is dropped as late; one already counted (the same `eventID`, claimed in
//! the run ledger for the lateness horizon) is dropped as repeated. The rest are counted into
//! 10-second windows of their own `eventTime`:
//! - the window's counters in the DynamoDB table (one atomic `ADD` per window and batch, so
//!   concurrent batches add up), which the scorer reads;
//! - CloudWatch metrics as Embedded Metric Format lines, timestamped with the window
//!   (calls, errors, access denied, failed sign-ins, root's calls; calls per service);
//! - one structured line per call, for the Contributor Insights rules that rank principals,
//!   source IPs, APIs and refused principals (high cardinality, so not metrics).
//!
//! A region or service an account uses for the first time (after the learning day that
//! starts with the first batch) is claimed once in the table and published to the topic.
//!
//! **Score** (every minute): the windows that can no longer change (older than the lateness)
//! are read from the table in order and fed to the random cut forests, whose state lives in
//! S3 (the bucket's default encryption; written only if nobody else wrote it meanwhile). An anomaly is published to the
//! encrypted SNS topic: one message per episode, and as the windows sum every account and
//! region, one burst seen in several regions is one message.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write};
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use futures_util::StreamExt;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::log;
use crate::analysis::insights::anomaly::{self, Anomaly, Scorer};
use crate::analysis::insights::{text, Activity, Window};
use crate::aws::{sdk_message, Aws};
use crate::ledger::{Claim, Ledger, EXPIRES_AT, KEY};
use crate::records::cloudtrail::Record;
use crate::slack::api::{self, SlackApi};

/// The live windows' width (the anchor's).
pub const WIDTH: i64 = 10;
/// How late an event may arrive and still be counted: CloudTrail delivers to EventBridge on a
/// best-effort basis, typically within minutes.
pub const LATENESS: Duration = Duration::from_secs(15 * 60);
/// How long a window's counters are kept after it closes (the scorer reads them once).
const KEEP_WINDOWS: i64 = 2 * 86_400;
/// At most this many windows are scored in one run (an hour), so a run that catches up after
/// an outage stays inside the function's timeout.
pub const MAX_WINDOWS_PER_RUN: usize = 360;
/// The learning day: first uses are not reported before it has passed.
const LEARNING: i64 = 86_400;

/// How many event claims are in flight at once (DynamoDB writes; the SDK's connection pool
/// reuses connections across them).
const CLAIMS_AT_ONCE: usize = 32;

/// The events counted: API calls, and console sign-ins (which CloudTrail gives EventBridge
/// under their own detail-type). The rules match exactly these.
pub const DETAIL_TYPES: [&str; 2] = ["AWS API Call via CloudTrail", "AWS Console Signin via CloudTrail"];

/// The counters a window keeps in the table.
const COUNTERS: [&str; 5] = ["total", "errors", "denied", "signin_failures", "root"];

/// One parsed message: an EventBridge event's account and CloudTrail record.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "detail-type", default)]
    detail_type: Option<String>,
    #[serde(default)]
    account: Option<String>,
    #[serde(borrow)]
    detail: Option<&'a serde_json::value::RawValue>,
}

/// The activity in one SQS message body (an EventBridge event), or why there is none.
pub fn activity_of(body: &str) -> Result<Activity, String> {
    let env: Envelope = serde_json::from_str(body).map_err(|e| format!("not an EventBridge event: {e}"))?;
    if !env.detail_type.as_deref().is_some_and(|d| DETAIL_TYPES.contains(&d)) {
        return Err(format!("detail-type {:?} is not one of {DETAIL_TYPES:?}", env.detail_type.unwrap_or_default()));
    }
    let detail = env.detail.ok_or("the event has no detail")?;
    let record: Record =
        serde_json::from_str(detail.get()).map_err(|e| format!("detail is not a CloudTrail record: {e}"))?;
    let account = env
        .account
        .or_else(|| record.recipient_account_id.as_ref().map(|t| t.as_str().to_string()))
        .unwrap_or_default();
    Activity::from_record(&record, &account).ok_or_else(|| "the record has no eventID or eventTime".to_string())
}

/// Embedded Metric Format lines for one window: its series without dimensions, and calls
/// per service, at one-second storage resolution, timestamped with the window's start.
pub fn emf(namespace: &str, start: Timestamp, w: &Window) -> Vec<String> {
    let metric = |name: &str| json!({"Name": name, "Unit": "Count", "StorageResolution": 1});
    let head = |dims: Value, metrics: Vec<Value>| json!({"Timestamp": start.as_millisecond(), "CloudWatchMetrics": [{"Namespace": namespace, "Dimensions": dims, "Metrics": metrics}]});
    let mut out = vec![json!({
        "_aws": head(json!([[]]), ["Calls", "Errors", "AccessDenied", "SignInFailures", "SignInSuccesses", "RootCalls"].map(metric).to_vec()),
        "Calls": w.total, "Errors": w.error_count(), "AccessDenied": w.denied_count(),
        "SignInFailures": w.signins.failure, "SignInSuccesses": w.signins.success, "RootCalls": w.root,
    })
    .to_string()];
    for (service, n) in &w.by_service {
        out.push(
            json!({"_aws": head(json!([["Service"]]), vec![metric("Calls")]), "Service": service, "Calls": n})
                .to_string(),
        );
    }
    out
}

/// The line per call the Contributor Insights rules read (`$.insight = "call"`).
pub fn contributor_line(a: &Activity) -> String {
    json!({
        "insight": "call", "account": a.account, "region": a.region, "api": a.api, "principal": a.principal,
        "ip": a.ip, "error": a.error.as_deref().unwrap_or(""),
        "denied": a.error.as_deref().is_some_and(crate::analysis::insights::is_access_denied),
    })
    .to_string()
}

/// What one batch did.
#[derive(Debug, Default, Serialize)]
pub struct Ingested {
    pub counted: u64,
    pub repeated: u64,
    pub late: u64,
    pub malformed: u64,
    /// First uses found in this batch: (account, kind, key).
    pub firsts: Vec<(String, String, String)>,
    /// The lines to log: EMF metrics, then one per counted call.
    #[serde(skip)]
    pub lines: Vec<String>,
    #[serde(skip)]
    pub response: SqsBatchResponse,
}

/// The scorer's state in S3.
#[derive(Serialize, Deserialize)]
struct State {
    /// The next window to score (Unix seconds).
    next: i64,
    scorer: Scorer,
}

/// Where alerts also go when the failure-analysis Slack app exists: its bot posts in a channel.
pub struct SlackAlerts {
    pub api: SlackApi,
    pub channel: String,
}

pub struct InsightsService {
    pub aws: Aws,
    pub slack: Option<SlackAlerts>,
    pub table: String,
    pub bucket: String,
    pub state_key: String,
    pub topic_arn: String,
    pub namespace: String,
}

impl InsightsService {
    fn dynamo(&self) -> aws_sdk_dynamodb::Client {
        let config =
            aws_sdk_dynamodb::config::Builder::from(self.aws.config()).retry_config(crate::aws::retries(4)).build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(self.aws.config())
                .retry_config(crate::aws::retries(4))
                .force_path_style(true)
                .build(),
        )
    }

    /// One SQS batch, at `now`.
    pub async fn ingest(&self, event: SqsEvent, now: Timestamp) -> Ingested {
        let mut out = Ingested::default();
        let fresh = read_batch(event, now, &mut out);
        let claims = self.claim(&fresh, now).await;
        // Window start → (its counts, the messages in it).
        let mut windows: BTreeMap<i64, (Window, Vec<String>)> = BTreeMap::new();
        let mut counted: Vec<Activity> = Vec::new();
        for ((id, a), claim) in fresh.into_iter().zip(claims) {
            match claim {
                Ok(Claim::Taken) => out.repeated += 1,
                Ok(Claim::Won) => {
                    let (w, ids) = windows.entry(window_of(&a)).or_default();
                    w.count(&a);
                    ids.push(id);
                    counted.push(a);
                }
                Err(e) => {
                    log("error", "insights: the run ledger failed", json!({"message_id": id, "error": e}));
                    out.response.batch_item_failures.push(failure(&id));
                }
            }
        }
        let dynamo = self.dynamo();
        let failed = self.write_windows(&dynamo, &windows, &counted, &mut out).await;
        let mut pairs: BTreeSet<(String, String, String)> = BTreeSet::new();
        for a in counted.iter().filter(|a| !failed.contains(&window_of(a))) {
            out.lines.push(contributor_line(a));
            pairs.insert((a.account.clone(), "region".into(), a.region.clone()));
            pairs.insert((a.account.clone(), "service".into(), a.service.clone()));
        }
        out.firsts = self.firsts(&dynamo, pairs, now).await;
        for (account, kind, key) in &out.firsts {
            let subject = format!("opslake: account {account} used {kind} {key} for the first time");
            let message = format!(
                "Account {account} made its first call in {kind} {key} since activity insights started (after its learning day). If nobody in the team expected it, look at who did: the dashboard's rankings, or opslake insights over the lake."
            );
            if let Err(e) = self.alert(&subject, &message).await {
                log("error", "insights: a first use was not published", json!({"error": e}));
            }
        }
        out
    }

    /// Claims each event's id in the ledger. The claims are independent writes: sent
    /// [`CLAIMS_AT_ONCE`] at a time, their answers in the batch's order.
    async fn claim(&self, fresh: &[(String, Activity)], now: Timestamp) -> Vec<Result<Claim, String>> {
        let ledger = Ledger::new(&self.aws, &self.table);
        futures_util::stream::iter(fresh.iter())
            .map(|(_, a)| {
                let (key, ledger) = (format!("event#{}", a.id), &ledger);
                async move { ledger.claim(&key, now, LATENESS * 2).await }
            })
            .buffered(CLAIMS_AT_ONCE)
            .collect()
            .await
    }

    /// Adds each window's counters to the table, with its metric lines; the windows that
    /// failed (their messages reported for SQS to retry, their claims released so that the
    /// retry counts them).
    async fn write_windows(
        &self,
        dynamo: &aws_sdk_dynamodb::Client,
        windows: &BTreeMap<i64, (Window, Vec<String>)>,
        counted: &[Activity],
        out: &mut Ingested,
    ) -> BTreeSet<i64> {
        let mut failed = BTreeSet::new();
        for (start, (w, ids)) in windows {
            if let Err(e) = self.add_window(dynamo, *start, w).await {
                log("error", "insights: a window's counters were not written", json!({"window": start, "error": e}));
                for a in counted.iter().filter(|a| window_of(a) == *start) {
                    let _ = dynamo
                        .delete_item()
                        .table_name(&self.table)
                        .key(KEY, s(format!("event#{}", a.id)))
                        .send()
                        .await;
                }
                out.response.batch_item_failures.extend(ids.iter().map(|i| failure(i)));
                failed.insert(*start);
                continue;
            }
            out.counted += w.total;
            if let Ok(t) = Timestamp::from_second(*start) {
                out.lines.extend(emf(&self.namespace, t, w));
            }
        }
        failed
    }

    async fn add_window(&self, dynamo: &aws_sdk_dynamodb::Client, start: i64, w: &Window) -> Result<(), String> {
        let values = [w.total, w.error_count(), w.denied_count(), w.signins.failure, w.root];
        let mut req = dynamo
            .update_item()
            .table_name(&self.table)
            .key(KEY, s(format!("window#{start}")))
            .update_expression(format!(
                "ADD {} SET #e = :e",
                COUNTERS.iter().map(|c| format!("#{c} :{c}")).collect::<Vec<_>>().join(", ")
            ))
            .expression_attribute_names("#e", EXPIRES_AT)
            .expression_attribute_values(":e", n(start + WIDTH + KEEP_WINDOWS));
        for (c, v) in COUNTERS.iter().zip(values) {
            req = req
                .expression_attribute_names(format!("#{c}"), *c)
                .expression_attribute_values(format!(":{c}"), n(v as i64));
        }
        req.send().await.map(|_| ()).map_err(|e| format!("DynamoDB UpdateItem on {}: {}", self.table, sdk_message(&e)))
    }

    /// Claims each (account, kind, key) once for good; those claimed now, after the learning
    /// day, are first uses.
    async fn firsts(
        &self,
        dynamo: &aws_sdk_dynamodb::Client,
        pairs: BTreeSet<(String, String, String)>,
        now: Timestamp,
    ) -> Vec<(String, String, String)> {
        let mut found = Vec::new();
        if pairs.is_empty() {
            return found;
        }
        let learning = match self.installed(dynamo, now).await {
            Ok(since) => now.as_second() < since + LEARNING,
            Err(e) => {
                log("warn", "insights: first uses not checked", json!({"error": e}));
                return found;
            }
        };
        for (account, kind, key) in pairs {
            let put = dynamo
                .put_item()
                .table_name(&self.table)
                .item(KEY, s(format!("first#{account}#{kind}#{key}")))
                .item("seen_at", n(now.as_second()))
                .condition_expression("attribute_not_exists(#k)")
                .expression_attribute_names("#k", KEY)
                .send()
                .await;
            match put {
                Ok(_) if !learning => found.push((account, kind, key)),
                Ok(_) => {}
                Err(e) if e.as_service_error().is_some_and(|x| x.is_conditional_check_failed_exception()) => {}
                Err(e) => log("warn", "insights: a first use was not recorded", json!({"error": sdk_message(&e)})),
            }
        }
        found
    }

    /// When the function first ran (its learning day starts then): claimed once in the table.
    async fn installed(&self, dynamo: &aws_sdk_dynamodb::Client, now: Timestamp) -> Result<i64, String> {
        let _ = dynamo
            .put_item()
            .table_name(&self.table)
            .item(KEY, s("meta#installed"))
            .item("at", n(now.as_second()))
            .condition_expression("attribute_not_exists(#k)")
            .expression_attribute_names("#k", KEY)
            .send()
            .await;
        let got = dynamo
            .get_item()
            .table_name(&self.table)
            .key(KEY, s("meta#installed"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| format!("DynamoDB GetItem on {}: {}", self.table, sdk_message(&e)))?;
        got.item()
            .and_then(|i| i.get("at"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| "no install time".into())
    }

    /// Scores the closed windows since the last run, at `now`; the anomalies found (each also
    /// published to the topic and logged).
    pub async fn score(&self, now: Timestamp) -> Result<Vec<Anomaly>, String> {
        let s3 = self.s3();
        let (state, etag) = self.load(&s3).await?;
        let closed = (now.as_second() - LATENESS.as_secs() as i64).div_euclid(WIDTH) * WIDTH;
        let mut state = state.unwrap_or(State { next: closed, scorer: Scorer::new(anomaly::SEED) });
        let starts: Vec<i64> =
            (0..).map(|i| state.next + i * WIDTH).take_while(|s| *s < closed).take(MAX_WINDOWS_PER_RUN).collect();
        let counts = self.read_windows(&starts).await?;
        let mut found = Vec::new();
        for start in &starts {
            let Ok(t) = Timestamp::from_second(*start) else { continue };
            let c = counts.get(start).copied().unwrap_or_default();
            let mut w = Window {
                start: text(t),
                end: text(t + SignedDuration::from_secs(WIDTH)),
                total: c[0],
                root: c[4],
                ..Window::default()
            };
            w.signins.failure = c[3];
            if c[1] > 0 {
                w.errors.insert("(all)".into(), c[1]);
            }
            if c[2] > 0 {
                w.access_denied.insert("(all)".into(), c[2]);
            }
            found.extend(state.scorer.window(&w).into_iter().map(|mut a| {
                // The live counters keep no keys: the dashboard's rankings name them.
                a.key = None;
                a
            }));
        }
        if let Some(last) = starts.last() {
            state.next = last + WIDTH;
        }
        self.save(&s3, &state, etag).await?;
        for a in &found {
            log(
                "warn",
                "insights: anomaly",
                json!({"window": a.start, "series": a.series, "score": a.score, "value": a.value}),
            );
            let subject = format!("opslake: unusual {} at {}", a.series.name(), a.start);
            let message = format!(
                "{} in the 10-second window from {} UTC: {} (random cut forest score {:.2}, threshold {}).\nThe dashboard's rankings name the principals, IPs and APIs behind it.",
                a.series.name(),
                a.start,
                a.value,
                a.score,
                anomaly::THRESHOLD
            );
            self.alert(&subject, &message).await?;
        }
        Ok(found)
    }

    async fn read_windows(&self, starts: &[i64]) -> Result<HashMap<i64, [u64; 5]>, String> {
        let dynamo = self.dynamo();
        let mut out = HashMap::new();
        for chunk in starts.chunks(100) {
            let mut keys = KeysAndAttributes::builder().consistent_read(true);
            for start in chunk {
                keys = keys.keys(HashMap::from([(KEY.to_string(), s(format!("window#{start}")))]));
            }
            let mut pending = Some(HashMap::from([(self.table.clone(), keys.build().map_err(|e| e.to_string())?)]));
            while let Some(items) = pending.take().filter(|m| !m.is_empty()) {
                let got = dynamo
                    .batch_get_item()
                    .set_request_items(Some(items))
                    .send()
                    .await
                    .map_err(|e| format!("DynamoDB BatchGetItem on {}: {}", self.table, sdk_message(&e)))?;
                for item in got.responses().and_then(|r| r.get(&self.table)).into_iter().flatten() {
                    let Some(start) =
                        item.get(KEY).and_then(|v| v.as_s().ok()).and_then(|k| k.strip_prefix("window#")?.parse().ok())
                    else {
                        continue;
                    };
                    let num =
                        |c: &str| item.get(c).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
                    out.insert(start, COUNTERS.map(num));
                }
                pending = got.unprocessed_keys().cloned();
            }
        }
        Ok(out)
    }

    async fn load(&self, s3: &aws_sdk_s3::Client) -> Result<(Option<State>, Option<String>), String> {
        let got = s3.get_object().bucket(&self.bucket).key(&self.state_key).send().await;
        let obj = match got {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|x| x.is_no_such_key()) => return Ok((None, None)),
            Err(e) => return Err(format!("S3 GetObject s3://{}/{}: {}", self.bucket, self.state_key, sdk_message(&e))),
        };
        let etag = obj.e_tag().map(str::to_string);
        let bytes = obj.body.collect().await.map_err(|e| format!("reading the scorer's state: {e}"))?.into_bytes();
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut json)
            .map_err(|e| format!("the scorer's state: {e}"))?;
        match serde_json::from_slice(&json) {
            Ok(state) => Ok((Some(state), etag)),
            Err(e) => {
                // A state this version cannot read (an older format) starts the forests again.
                log(
                    "warn",
                    "insights: the scorer's state is unreadable; starting again",
                    json!({"error": e.to_string()}),
                );
                Ok((None, etag))
            }
        }
    }

    async fn save(&self, s3: &aws_sdk_s3::Client, state: &State, etag: Option<String>) -> Result<(), String> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&serde_json::to_vec(state).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
        let body = gz.finish().map_err(|e| e.to_string())?;
        let mut put = s3
            .put_object()
            .bucket(&self.bucket)
            .key(&self.state_key)
            .body(body.into())
            .content_type("application/gzip");
        // Written only over the state this run read: a concurrent run's state is not lost.
        put = match etag {
            Some(tag) => put.if_match(tag),
            None => put.if_none_match("*"),
        };
        put.send()
            .await
            .map(|_| ())
            .map_err(|e| format!("S3 PutObject s3://{}/{}: {}", self.bucket, self.state_key, sdk_message(&e)))
    }

    /// Sends one alert: to the topic (an error if that fails), then to Slack when the app
    /// exists (a failure there is logged: the topic already has it).
    async fn alert(&self, subject: &str, message: &str) -> Result<(), String> {
        let sns = aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::config::Builder::from(self.aws.config()).retry_config(crate::aws::retries(4)).build(),
        );
        sns.publish()
            .topic_arn(&self.topic_arn)
            .subject(subject.chars().take(100).collect::<String>())
            .message(message)
            .send()
            .await
            .map_err(|e| format!("SNS Publish to {}: {}", self.topic_arn, sdk_message(&e)))?;
        if let Some(slack) = &self.slack {
            let (text, blocks) = slack_alert(subject, message);
            if let Err(e) = slack.api.post_message(&slack.channel, None, &text, &blocks).await {
                log("warn", "insights: an alert was not posted to Slack", json!({"error": e.to_string()}));
            }
        }
        Ok(())
    }
}

/// An alert as a Slack message: its subject in bold over its text, both escaped (they carry
/// values from the logs); the notification's text is the subject, escaped too (Slack formats it).
pub fn slack_alert(subject: &str, message: &str) -> (String, Value) {
    let section = format!("*{}*\n{}", api::escape(subject), api::escape(message));
    (api::escape(subject), json!([{"type": "section", "text": {"type": "mrkdwn", "text": section}}]))
}

/// The batch's messages that can be counted (message id, activity); the late and the
/// unreadable are counted in `out` and dropped (a message that can never be read is not
/// retried: it is reported).
fn read_batch(event: SqsEvent, now: Timestamp, out: &mut Ingested) -> Vec<(String, Activity)> {
    let horizon = now - SignedDuration::try_from(LATENESS).unwrap_or(SignedDuration::ZERO);
    let mut fresh = Vec::new();
    for m in event.records {
        let id = m.message_id.clone().unwrap_or_default();
        match activity_of(m.body.as_deref().unwrap_or("")) {
            Ok(a) if a.time < horizon => out.late += 1,
            Ok(a) => fresh.push((id, a)),
            Err(why) => {
                out.malformed += 1;
                log("warn", "insights: a message is not a CloudTrail API call", json!({"message_id": id, "why": why}));
            }
        }
    }
    fresh
}

/// The start of the live window a call falls in.
fn window_of(a: &Activity) -> i64 {
    a.time.as_second().div_euclid(WIDTH) * WIDTH
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn failure(id: &str) -> BatchItemFailure {
    let mut f = BatchItemFailure::default();
    f.item_identifier = id.to_string();
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slack_alert_cannot_mention_or_link_anyone() {
        let (text, blocks) = slack_alert("first use of <!channel>", "key a&b <https://evil.example|click>");
        assert_eq!(text, "first use of &lt;!channel&gt;");
        assert_eq!(
            blocks[0]["text"]["text"],
            "*first use of &lt;!channel&gt;*\nkey a&amp;b &lt;https://evil.example|click&gt;"
        );
    }
}
