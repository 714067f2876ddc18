//! Failure analysis where the team is: what the central and member templates hold for it.
//!
//! - The `analyze` worker (asynchronous only: no URL), its run ledger (DynamoDB, TTL written by
//!   the worker), and a dead-letter queue for every delivery that fails for good.
//! - The `slack` function behind the one public Function URL (auth NONE: Slack cannot sign AWS
//!   requests; every request is signature-verified before anything runs, and its reserved
//!   concurrency bounds what a flood can cost).
//! - The alarm trigger: an EventBridge rule on `CloudWatch Alarm State Change` to ALARM in
//!   every account and region of the spec, forwarded to a bus in the home account whose policy
//!   admits only the organization (or the listed accounts), and the spec's SNS alarm topics.
//! - In the other accounts, a read-only role the worker may assume (and no one else), because an
//!   alarm's logs, metrics and traces are in the account where it fired.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use opslake_runtime::functions::env::{AnalyzeEnv, EnvValue, PlacedGroup, SlackEnv};

use super::{bedrock_resources, lake_env, model_env, Names, ParamSource, FUNCTION_LOG_RETENTION_DAYS};
use crate::spec::model::{FailureAnalysis, Provider, Spec};

fn enabled(spec: &Spec) -> Option<&FailureAnalysis> {
    spec.features.failure_analysis.as_ref().filter(|f| f.enabled)
}

/// The functions' zip parameters.
pub(super) fn parameters(spec: &Spec) -> BTreeMap<String, ParamSource> {
    let mut p = BTreeMap::new();
    if let Some(fa) = enabled(spec) {
        p.insert("AnalyzeFunctionKey".to_string(), ParamSource::Artifact { bin: "analyze".into() });
        if fa.slack.is_some() {
            p.insert("SlackFunctionKey".to_string(), ParamSource::Artifact { bin: "slack".into() });
        }
    }
    p
}

/// The other accounts of the spec (where the reader role is).
fn away_accounts(spec: &Spec) -> Vec<String> {
    spec.account_ids().into_iter().filter(|a| *a != spec.home.account).collect()
}

/// The event pattern of an alarm going to ALARM (with the spec's name prefix).
fn alarm_pattern(fa: &FailureAnalysis) -> Value {
    let mut detail = json!({"state": {"value": ["ALARM"]}});
    if !fa.alarm_prefix.is_empty() {
        detail["alarmName"] = json!([{"prefix": fa.alarm_prefix}]);
    }
    json!({"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"], "detail": detail})
}

fn worker(spec: &Spec, names: &Names, fa: &FailureAnalysis) -> Value {
    let home = &spec.home;
    let placed: Vec<PlacedGroup> = fa
        .placed_log_groups(home)
        .into_iter()
        .map(|g| PlacedGroup { account: g.account, region: g.region, name: g.name })
        .collect();
    let away = away_accounts(spec);
    let env = AnalyzeEnv {
        lake: lake_env(spec, names),
        model: model_env(spec),
        home_account: home.account.clone(),
        ledger_table: EnvValue::Ref("AnalysisRunsTable".into()),
        log_groups: placed.clone(),
        namespaces: fa.capture.namespaces.clone(),
        xray: fa.xray,
        time_zone: fa.time_zone.clone(),
        redact_ips: fa.redact_ips,
        quiet_minutes: fa.quiet_minutes,
        reader_role: (!away.is_empty() || spec.organization.is_some()).then(|| names.reader_role.clone()),
        bot_token_arn: fa.slack.as_ref().map(|s| s.bot_token.clone()),
        channel: fa.slack.as_ref().map(|s| s.channel.clone()),
    };
    // Logs Insights in the home account (the other accounts' groups are read through their
    // reader role): StartQuery and GetQueryResults on the groups; StopQuery takes no resource.
    let groups: Vec<String> = placed
        .iter()
        .filter(|g| g.account == home.account)
        .flat_map(|g| {
            let arn = format!("arn:aws:logs:{}:{}:log-group:{}", g.region, g.account, g.name);
            [arn.clone(), format!("{arn}:*")]
        })
        .collect();
    let alarms: Vec<String> =
        spec.regions.iter().map(|r| format!("arn:aws:cloudwatch:{r}:{}:alarm:*", home.account)).collect();
    let m = &spec.model;
    let bedrock = match (m.provider, &m.id) {
        (Provider::Bedrock, Some(id)) => bedrock_resources(spec, id),
        _ => Vec::new(),
    };
    // In an organization, accounts join its OUs after generation: the reader role of any of
    // its accounts (the role trusts only this worker's role).
    let assume: Vec<String> = match &spec.organization {
        Some(_) => vec![format!("arn:aws:iam::*:role/{}", names.reader_role)],
        None => away.iter().map(|a| format!("arn:aws:iam::{a}:role/{}", names.reader_role)).collect(),
    };
    let secrets: Vec<String> =
        [m.api_key_secret.clone(), fa.slack.as_ref().map(|s| s.bot_token.clone())].into_iter().flatten().collect();
    json!({
        "name": names.analyze_function,
        "role_name": names.analyze_function,
        "description": format!("opslake {}: failure analysis of an alarm or a Slack request, answered in Slack", spec.name),
        "log_group": format!("/aws/lambda/{}", names.analyze_function),
        "log_retention_days": FUNCTION_LOG_RETENTION_DAYS,
        "env": env.to_vars(),
        "log_groups": groups,
        "alarms": alarms,
        "assume": assume,
        "assume_org": spec.organization.as_ref().map(|o| o.id.clone()),
        "bedrock_resources": if bedrock.is_empty() { Value::Null } else { json!(bedrock) },
        "secrets": secrets,
    })
}

fn slack(spec: &Spec, names: &Names, fa: &FailureAnalysis) -> Value {
    let Some(s) = &fa.slack else { return Value::Null };
    let mut groups: Vec<String> = fa.placed_log_groups(&spec.home).into_iter().map(|g| g.name).collect();
    groups.sort();
    groups.dedup();
    let env = SlackEnv {
        signing_secret_arn: s.signing_secret.clone(),
        bot_token_arn: s.bot_token.clone(),
        worker: EnvValue::Ref("AnalyzeFunction".into()),
        log_groups: groups,
    };
    json!({
        "name": names.slack_function,
        "description": format!("opslake {}: Slack's endpoint (signature-verified) for failure analysis", spec.name),
        "log_group": format!("/aws/lambda/{}", names.slack_function),
        "log_retention_days": FUNCTION_LOG_RETENTION_DAYS,
        "env": env.to_vars(),
        "secrets": [s.signing_secret, s.bot_token],
    })
}

/// Who may put events on a bus of the home account (alarms, API calls): the organization, or
/// the spec's other accounts.
pub(super) fn bus_principals(spec: &Spec) -> Value {
    match &spec.organization {
        Some(o) => json!({"org_id": o.id}),
        None => json!({"accounts": away_accounts(spec)}),
    }
}

/// The central template's part (`null` without failure analysis).
pub(super) fn central(spec: &Spec, names: &Names) -> Value {
    let Some(fa) = enabled(spec) else { return Value::Null };
    let topics: Vec<Value> = fa
        .alarm_topics
        .iter()
        .enumerate()
        .map(|(i, arn)| {
            let region = arn.split(':').nth(3).unwrap_or_default();
            let account = arn.split(':').nth(4).unwrap_or_default();
            json!({"id": format!("AlarmTopic{}", i + 1), "arn": arn, "account": account,
                "region": if region == spec.home.region { Value::Null } else { json!(region) }})
        })
        .collect();
    let principals = bus_principals(spec);
    let forwarded = principals["org_id"].is_string()
        || principals["accounts"].as_array().is_some_and(|a| !a.is_empty())
        || spec.regions.len() > 1;
    json!({
        "worker": worker(spec, names, fa),
        "slack": slack(spec, names, fa),
        "table": names.runs_table,
        "dlq": names.analyze_dlq,
        "events": if fa.alarm_events {
            json!({"bus": names.alarm_bus, "pattern": alarm_pattern(fa), "principals": principals, "forwarded": forwarded})
        } else {
            Value::Null
        },
        "topics": topics,
    })
}

/// The member template's part: the rule that forwards alarms to the home bus (everywhere
/// but the home account's home region), and the reader role (once per other account, in the
/// home region's stack).
pub(super) fn member(spec: &Spec, names: &Names) -> Value {
    let Some(fa) = enabled(spec) else { return Value::Null };
    let home = &spec.home;
    let groups: Vec<String> = fa
        .placed_log_groups(home)
        .into_iter()
        .filter(|g| g.account != home.account)
        .flat_map(|g| {
            let arn = format!("arn:aws:logs:{}:{}:log-group:{}", g.region, g.account, g.name);
            [arn.clone(), format!("{arn}:*")]
        })
        .collect();
    json!({
        "forward": if fa.alarm_events {
            json!({"bus_arn": format!("arn:aws:events:{}:{}:event-bus/{}", home.region, home.account, names.alarm_bus),
                "pattern": alarm_pattern(fa)})
        } else {
            Value::Null
        },
        "reader": if away_accounts(spec).is_empty() && spec.organization.is_none() {
            Value::Null
        } else {
            json!({"name": names.reader_role,
                "worker_role_arn": format!("arn:aws:iam::{}:role/{}", home.account, names.analyze_function),
                "log_groups": groups})
        },
    })
}
