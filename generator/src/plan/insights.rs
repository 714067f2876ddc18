//! Activity insights live: what the central and member templates hold for it.
//!
//! - Ingestion: an EventBridge rule on `AWS API Call via CloudTrail` (and console sign-ins) in every account and
//!   region of the spec (its state includes the read-only calls when the spec asks), forwarded
//!   to a bus in the home account whose policy admits only the organization (or the listed
//!   accounts); the home account's home region has its own rule on its default bus. Both
//!   deliver to an SQS queue (a dead-letter queue behind it) that the `insights` function
//!   consumes in batches, reporting the messages it could not count.
//! - State: the run ledger and window counters (DynamoDB, TTL written by the function), the
//!   forests (one object in the lake bucket).
//! - Output: CloudWatch metrics (EMF), six Contributor Insights rules over the function's log
//!   (principals, source IPs, APIs, refused principals, failed calls per API, EC2 calls by
//!   error code: too many keys for metrics, and no table to keep), a dashboard, an anomaly-detection alarm on all calls as a second
//!   opinion, and an encrypted topic for the function's anomalies and the alarm. When the
//!   failure-analysis Slack app exists, its bot also posts the function's alerts (in its
//!   channel, or `slack_channel`).

use serde_json::{json, Value};

use opslake_runtime::functions::env::{EnvValue, InsightsEnv};
use opslake_runtime::functions::insights::{DETAIL_TYPES, WIDTH};

use super::incident::bus_principals;
use super::{join_prefix, ParamSource, FUNCTION_LOG_RETENTION_DAYS};
use crate::spec::model::{ActivityInsights, Spec};

/// Where calls to global services (IAM, STS's global endpoint, Organizations, Route 53,
/// CloudFront) and root's console sign-ins reach EventBridge.
pub const GLOBAL_REGION: &str = "us-east-1";

/// Whether calls are forwarded from us-east-1 by a StackSet of their own (activity insights
/// on, and the spec's regions leave us-east-1 out).
pub(super) fn forwards_global(spec: &Spec) -> bool {
    enabled(spec).is_some() && !spec.regions.iter().any(|r| r == GLOBAL_REGION)
}

fn enabled(spec: &Spec) -> Option<&ActivityInsights> {
    spec.features.activity_insights.as_ref().filter(|a| a.enabled)
}

/// The function's zip parameter.
pub(super) fn parameters(spec: &Spec) -> Option<(String, ParamSource)> {
    enabled(spec).map(|_| ("InsightsFunctionKey".to_string(), ParamSource::Artifact { bin: "insights".into() }))
}

/// What the rules match.
fn pattern() -> Value {
    json!({ "detail-type": DETAIL_TYPES })
}

/// The rules' state: read-only calls reach EventBridge only with the state that includes
/// every management event.
fn state(a: &ActivityInsights) -> &'static str {
    if a.read_only {
        "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
    } else {
        "ENABLED"
    }
}

/// The metrics' namespace.
fn namespace(spec: &Spec) -> String {
    format!("opslake/{}/activity", spec.name)
}

/// Which calls a ranking counts.
#[derive(Clone, Copy)]
enum Calls {
    All,
    Refused,
    Failed,
    FailedEc2,
}

/// The Contributor Insights rules: (logical id suffix, rule name suffix, key, calls counted).
const RANKINGS: [(&str, &str, &str, Calls); 6] = [
    ("Principals", "principals", "$.principal", Calls::All),
    ("SourceIps", "source-ips", "$.ip", Calls::All),
    ("Apis", "apis", "$.api", Calls::All),
    ("Denied", "denied-principals", "$.principal", Calls::Refused),
    ("ApiErrors", "api-errors", "$.api", Calls::Failed),
    ("Ec2Errors", "ec2-errors", "$.error", Calls::FailedEc2),
];

fn rule_body(log_group: &str, key: &str, calls: Calls) -> String {
    let mut filters = vec![json!({"Match": "$.insight", "In": ["call"]})];
    let failed = json!({"Match": "$.error", "NotIn": [""]});
    match calls {
        Calls::All => {}
        Calls::Refused => filters.push(json!({"Match": "$.denied", "In": [true]})),
        Calls::Failed => filters.push(failed),
        Calls::FailedEc2 => filters.extend([failed, json!({"Match": "$.api", "StartsWith": ["ec2:"]})]),
    }
    json!({
        "Schema": {"Name": "CloudWatchLogRule", "Version": 1},
        "LogGroupNames": [log_group],
        "LogFormat": "JSON",
        "Contribution": {"Keys": [key], "Filters": filters},
        "AggregateOn": "Count",
    })
    .to_string()
}

/// The dashboard: the anchor's panels (calls in all with the anomaly band, per service, per
/// API, per principal, per source IP, EC2 errors) and the new ones (errors, access denied,
/// sign-ins, root), from the metrics and the rankings.
fn dashboard(spec: &Spec, ns: &str, rules: &[(String, String)]) -> String {
    let region = &spec.home.region;
    let metric = |title: &str, metrics: Value, y: u32, x: u32| {
        json!({"type": "metric", "x": x, "y": y, "width": 12, "height": 6,
            "properties": {"title": title, "region": region, "view": "timeSeries", "stat": "Sum", "period": WIDTH, "metrics": metrics}})
    };
    let ranking = |title: &str, rule: &str, y: u32, x: u32| {
        json!({"type": "metric", "x": x, "y": y, "width": 12, "height": 6,
            "properties": {"title": title, "region": region, "view": "timeSeries", "period": 60,
                "insightRule": {"maxContributorCount": 10, "orderBy": "Sum", "ruleName": rule}}})
    };
    let rule = |suffix: &str| rules.iter().find(|(s, _)| s == suffix).map(|(_, n)| n.clone()).unwrap_or_default();
    let widgets = vec![
        metric(
            "Calls (10 s) and the expected band",
            json!([[ns, "Calls", {"id": "m1"}], [{"expression": "ANOMALY_DETECTION_BAND(m1, 3)", "label": "expected", "id": "band"}]]),
            0,
            0,
        ),
        metric(
            "Calls per service",
            json!([[{"expression": format!("SEARCH('{{{ns},Service}} MetricName=\"Calls\"', 'Sum', {WIDTH})"), "id": "s"}]]),
            0,
            12,
        ),
        ranking("Calls per API (top 10)", &rule("apis"), 6, 0),
        ranking("Calls per principal (top 10)", &rule("principals"), 6, 12),
        ranking("Calls per source IP (top 10, per minute)", &rule("source-ips"), 12, 0),
        ranking("Access denied, per principal (top 10)", &rule("denied-principals"), 12, 12),
        ranking("Failed calls per API (top 10; with calls per API, the error rate)", &rule("api-errors"), 24, 0),
        ranking("EC2 calls by error code (top 10)", &rule("ec2-errors"), 24, 12),
        metric("Errors and access denied", json!([[ns, "Errors"], [ns, "AccessDenied"]]), 18, 0),
        metric(
            "Console sign-ins and root's calls",
            json!([[ns, "SignInFailures"], [ns, "SignInSuccesses"], [ns, "RootCalls"]]),
            18,
            12,
        ),
    ];
    json!({"widgets": widgets}).to_string()
}

/// The central template's part (`null` without activity insights).
pub(super) fn central(spec: &Spec) -> Value {
    let Some(a) = enabled(spec) else { return Value::Null };
    let name = format!("{}-opslake-insights", spec.name);
    let log_group = format!("/aws/lambda/{name}");
    let ns = namespace(spec);
    let state_key = format!("{}opslake/insights/forests.json.gz", join_prefix(&spec.lake.prefix));
    // The failure-analysis Slack app, when it exists, also carries the alerts.
    let slack = spec.slack_app();
    let env = InsightsEnv {
        table: EnvValue::Ref("InsightsTable".into()),
        bucket: EnvValue::Text(spec.lake.bucket.clone()),
        state_key: EnvValue::Text(state_key.clone()),
        topic_arn: EnvValue::Ref("InsightsTopic".into()),
        namespace: EnvValue::Text(ns.clone()),
        bot_token_arn: slack.map(|s| s.bot_token.clone()),
        channel: slack.map(|s| a.slack_channel.clone().unwrap_or_else(|| s.channel.clone())),
    };
    let rules: Vec<(String, String)> =
        RANKINGS.iter().map(|(_, suffix, _, _)| (suffix.to_string(), format!("{name}-{suffix}"))).collect();
    let rankings: Vec<Value> = RANKINGS
        .iter()
        .map(|(id, suffix, key, calls)| {
            json!({"id": format!("InsightsRanking{id}"), "name": format!("{name}-{suffix}"), "body": rule_body(&log_group, key, *calls)})
        })
        .collect();
    let emails: Vec<Value> = a
        .notify
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"logical_id": format!("InsightsSubscription{}", i + 1), "email": e}))
        .collect();
    let principals = bus_principals(spec);
    let forwarded = principals["org_id"].is_string()
        || principals["accounts"].as_array().is_some_and(|x| !x.is_empty())
        || spec.regions.len() > 1
        || forwards_global(spec);
    json!({
        "name": name,
        "description": format!("opslake {}: API activity of every account and region in 10-second windows, scored", spec.name),
        "log_group": log_group,
        "log_retention_days": FUNCTION_LOG_RETENTION_DAYS,
        "env": env.to_vars(),
        "table": name,
        "queue": format!("{name}-events"),
        "failed_queue": format!("{name}-failed"),
        "topic": format!("{name}-anomalies"),
        "bus": format!("{}-opslake-activity", spec.name),
        "principals": principals,
        "forwarded": forwarded,
        "pattern": pattern(),
        "state": state(a),
        "schedule_name": format!("{name}-score"),
        "state_object": format!("arn:aws:s3:::{}/{state_key}", spec.lake.bucket),
        "namespace": ns,
        "rankings": rankings,
        "dashboard_name": format!("{}-opslake-activity", spec.name),
        "dashboard": dashboard(spec, &ns, &rules),
        "emails": emails,
        "errors_alarm": format!("{name}-errors"),
        "calls_alarm": format!("{name}-unusual-calls"),
        "secrets": slack.map(|s| vec![s.bot_token.clone()]).unwrap_or_default(),
    })
}

/// The member template's part: the rule that forwards API calls to the home bus (everywhere
/// but the home account's home region).
pub(super) fn member(spec: &Spec) -> Value {
    let Some(a) = enabled(spec) else { return Value::Null };
    let home = &spec.home;
    json!({
        "bus_arn": format!("arn:aws:events:{}:{}:event-bus/{}-opslake-activity", home.region, home.account, spec.name),
        "pattern": pattern(),
        "state": state(a),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ranking_counts_calls_and_the_denied_one_only_refused_calls() {
        let body: Value = serde_json::from_str(&rule_body("/aws/lambda/x", "$.principal", Calls::Refused)).unwrap();
        assert_eq!(body["Contribution"]["Keys"], json!(["$.principal"]));
        assert_eq!(body["Contribution"]["Filters"][1], json!({"Match": "$.denied", "In": [true]}));
        let ec2: Value = serde_json::from_str(&rule_body("/aws/lambda/x", "$.error", Calls::FailedEc2)).unwrap();
        assert_eq!(ec2["Contribution"]["Filters"][2], json!({"Match": "$.api", "StartsWith": ["ec2:"]}));
        // The function's per-call line has exactly these fields.
        let a = opslake_runtime::analysis::insights::Activity {
            id: "e".into(),
            time: "2025-06-12T09:00:00Z".parse().unwrap(),
            account: "111111111111".into(),
            region: "us-east-1".into(),
            service: "s3.amazonaws.com".into(),
            api: "s3:GetObject".into(),
            principal: "arn:aws:iam::111111111111:user/mallory".into(),
            identity: "IAMUser".into(),
            ip: "203.0.113.9".into(),
            error: Some("AccessDenied".into()),
            sign_in: None,
        };
        let line: Value = serde_json::from_str(&opslake_runtime::functions::insights::contributor_line(&a)).unwrap();
        for (_, _, key, _) in RANKINGS {
            assert!(line[key.trim_start_matches("$.")].is_string(), "{key}");
        }
        assert_eq!((line["insight"].as_str(), line["denied"].as_bool()), (Some("call"), Some(true)));
    }
}
