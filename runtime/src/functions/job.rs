//! What starts a failure analysis in the cloud, as the `analyze` worker receives it: a job the
//! `slack` function hands over (a person asked), a CloudWatch `Alarm State Change` event from
//! EventBridge, or an alarm notification through SNS (nobody asked: the alarm did). Each
//! becomes a [`Run`] with the key its run is claimed under in the ledger: one run per Slack
//! request, one per alarm per quiet period.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What `kind` a job from the `slack` function carries.
pub const JOB_KIND: &str = "opslake.analyze/v1";

/// When the failure happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum When {
    /// Around this time (30 minutes before to 10 after).
    At { at: Timestamp },
    /// Around the alarm's last transition to ALARM.
    Alarm { name: String },
}

/// Where the answer goes in Slack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub channel: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<String>,
    /// Who asked: the report's times are in their zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// A request from the `slack` function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub kind: String,
    /// The ledger key: the Slack request's own id, so a retry of it is the same job.
    pub key: String,
    pub when: When,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_groups: Vec<String>,
    /// The person's own words (an error message, what they saw): shown with the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub reply: Reply,
}

/// Why the run exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Slack,
    Alarm,
}

/// One analysis to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub origin: Origin,
    pub key: String,
    pub when: When,
    /// The alarm's account and region (an alarm), or what the person chose.
    pub account: Option<String>,
    pub region: Option<String>,
    pub log_groups: Vec<String>,
    /// The alarm the run is about: its metric is read first.
    pub alarm: Option<String>,
    pub note: Option<String>,
    /// Where to answer; `None`: the configured channel.
    pub reply: Option<Reply>,
}

impl Run {
    fn alarm(account: &str, region: &str, name: &str, at: Timestamp) -> Run {
        Run {
            origin: Origin::Alarm,
            key: format!("alarm:{account}:{region}:{name}"),
            when: When::At { at },
            account: Some(account.to_string()),
            region: Some(region.to_string()),
            log_groups: Vec::new(),
            alarm: Some(name.to_string()),
            note: None,
            reply: None,
        }
    }
}

/// What an event means for the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    Runs(Vec<Run>),
    /// Nothing to do (an alarm leaving ALARM, a notification that is not an alarm's): why.
    Ignored(String),
}

/// The SNS notification time format of CloudWatch alarms: `2025-06-12T09:41:00.000+0000`.
fn alarm_time(s: &str) -> Option<Timestamp> {
    s.parse::<Timestamp>()
        .ok()
        .or_else(|| jiff::fmt::strtime::parse("%Y-%m-%dT%H:%M:%S%.f%z", s).ok().and_then(|t| t.to_timestamp().ok()))
}

/// `arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME` → (region, account).
fn alarm_place(arn: &str) -> Option<(&str, &str)> {
    let mut p = arn.splitn(7, ':');
    let (_, _, service, region, account, kind) = (p.next()?, p.next()?, p.next()?, p.next()?, p.next()?, p.next()?);
    (service == "cloudwatch" && kind == "alarm").then_some((region, account))
}

fn from_eventbridge(v: &Value) -> Result<Trigger, String> {
    let d = &v["detail"];
    let name = d["alarmName"].as_str().ok_or("the alarm event has no detail.alarmName")?;
    let state = d["state"]["value"].as_str().unwrap_or_default();
    if state != "ALARM" {
        return Ok(Trigger::Ignored(format!("alarm {name} is {state}, not ALARM")));
    }
    let account = v["account"].as_str().ok_or("the alarm event has no account")?;
    let region = v["region"].as_str().ok_or("the alarm event has no region")?;
    let at = d["state"]["timestamp"]
        .as_str()
        .and_then(alarm_time)
        .or_else(|| v["time"].as_str().and_then(alarm_time))
        .ok_or("the alarm event has no time")?;
    Ok(Trigger::Runs(vec![Run::alarm(account, region, name, at)]))
}

fn from_sns(records: &[Value]) -> Result<Trigger, String> {
    let mut runs = Vec::new();
    let mut ignored = Vec::new();
    for r in records {
        let message = r["Sns"]["Message"].as_str().unwrap_or_default();
        let Ok(m) = serde_json::from_str::<Value>(message) else {
            ignored.push("an SNS message that is not an alarm's JSON".to_string());
            continue;
        };
        let (Some(name), Some(arn)) = (m["AlarmName"].as_str(), m["AlarmArn"].as_str()) else {
            ignored.push("an SNS message without AlarmName and AlarmArn".to_string());
            continue;
        };
        if m["NewStateValue"].as_str() != Some("ALARM") {
            ignored.push(format!("alarm {name} is {}, not ALARM", m["NewStateValue"].as_str().unwrap_or("?")));
            continue;
        }
        let (region, account) = alarm_place(arn).ok_or_else(|| format!("AlarmArn {arn} is not an alarm's ARN"))?;
        let at = m["StateChangeTime"]
            .as_str()
            .and_then(alarm_time)
            .ok_or_else(|| format!("alarm {name}: StateChangeTime is missing or not a time"))?;
        runs.push(Run::alarm(account, region, name, at));
    }
    Ok(if runs.is_empty() { Trigger::Ignored(ignored.join("; ")) } else { Trigger::Runs(runs) })
}

fn from_job(v: &Value) -> Result<Trigger, String> {
    let job: Job = serde_json::from_value(v.clone()).map_err(|e| format!("the job: {e}"))?;
    let alarm = match &job.when {
        When::Alarm { name } => Some(name.clone()),
        When::At { .. } => None,
    };
    Ok(Trigger::Runs(vec![Run {
        origin: Origin::Slack,
        key: job.key,
        when: job.when,
        alarm,
        account: job.account,
        region: job.region,
        log_groups: job.log_groups,
        note: job.note,
        reply: Some(job.reply),
    }]))
}

/// Reads the worker's event. An error is an event the worker should never have been given.
pub fn trigger(v: &Value) -> Result<Trigger, String> {
    if v["kind"].as_str() == Some(JOB_KIND) {
        return from_job(v);
    }
    if v["detail-type"].as_str() == Some("CloudWatch Alarm State Change") {
        return from_eventbridge(v);
    }
    if let Some(records) = v["Records"].as_array().filter(|r| r.iter().all(|r| r["EventSource"] == "aws:sns")) {
        return from_sns(records);
    }
    Err("not a job, an alarm state change or an SNS notification".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/alarms/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    #[test]
    fn an_alarm_reaches_the_worker_by_eventbridge_or_sns_as_the_same_run() {
        let at: Timestamp = "2025-06-12T09:41:30.117Z".parse().unwrap();
        let expected = Run::alarm("222222222222", "ap-northeast-1", "orders-target-5xx", at);
        assert_eq!(trigger(&fixture("state-change-alarm.json")), Ok(Trigger::Runs(vec![expected.clone()])));
        assert_eq!(trigger(&fixture("sns-alarm.json")), Ok(Trigger::Runs(vec![expected.clone()])));
        assert_eq!(expected.key, "alarm:222222222222:ap-northeast-1:orders-target-5xx");
        let Ok(Trigger::Ignored(why)) = trigger(&fixture("state-change-ok.json")) else { panic!() };
        assert!(why.contains("is OK, not ALARM"), "{why}");
    }

    #[test]
    fn a_job_round_trips_and_anything_else_is_refused() {
        let job = Job {
            kind: JOB_KIND.into(),
            key: "slack:V1".into(),
            when: When::Alarm { name: "orders-target-5xx".into() },
            account: None,
            region: Some("ap-northeast-1".into()),
            log_groups: vec!["/aws/lambda/orders-api".into()],
            note: Some("502s".into()),
            reply: Reply { channel: "C1".into(), thread_ts: Some("1.2".into()), user: Some("U1".into()) },
        };
        let Ok(Trigger::Runs(runs)) = trigger(&serde_json::to_value(&job).unwrap()) else { panic!() };
        assert_eq!(runs[0].key, "slack:V1");
        assert_eq!(runs[0].alarm.as_deref(), Some("orders-target-5xx"));
        assert_eq!(runs[0].reply.as_ref(), Some(&job.reply));
        let mut extra = serde_json::to_value(&job).unwrap();
        extra["sql"] = "DROP TABLE".into();
        assert!(trigger(&extra).unwrap_err().contains("unknown field"));
        assert!(trigger(&serde_json::json!({"hello": 1})).is_err());
        let mut bad_sns = fixture("sns-alarm.json");
        bad_sns["Records"][0]["Sns"]["Message"] = "plain text".into();
        assert!(matches!(trigger(&bad_sns), Ok(Trigger::Ignored(_))));
    }
}
