//! Semantic checks on a structurally valid spec: formats, uniqueness, cross-field rules,
//! and features that need a source or setting the spec lacks. Every problem is collected.

use std::collections::HashMap;

use jiff::civil::Date;

use super::aws;
use super::diag::{did_you_mean, Diagnostic};
use super::model::{Feature, Provider, Spec, TrailMode};
use super::shape::Locations;

struct Checker<'a> {
    locs: &'a Locations,
    diags: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn error(&mut self, pointer: &str, message: impl Into<String>, hint: Option<String>) {
        let mut d = Diagnostic::error(self.locs.value(pointer), message);
        if let Some(h) = hint {
            d = d.hint(h);
        }
        self.diags.push(d);
    }

    fn warn(&mut self, pointer: &str, message: impl Into<String>, hint: Option<String>) {
        let mut d = Diagnostic::warning(self.locs.value(pointer), message);
        if let Some(h) = hint {
            d = d.hint(h);
        }
        self.diags.push(d);
    }

    fn account(&mut self, pointer: &str, id: &str) {
        if !aws::is_account_id(id) {
            self.error(
                pointer,
                format!("`{id}` is not an AWS account id"),
                Some("an account id is exactly 12 digits, quoted: \"123456789012\"".into()),
            );
        }
    }

    fn region(&mut self, pointer: &str, region: &str) -> bool {
        self.region_at(pointer, region, false)
    }

    /// Checks a region name; `at_key` points the diagnostic at the mapping key that holds
    /// it (the ALB bucket map is keyed by region).
    fn region_at(&mut self, pointer: &str, region: &str, at_key: bool) -> bool {
        if aws::REGIONS.contains(&region) {
            return true;
        }
        let hint = if region.starts_with("cn-") || region.starts_with("us-gov-") {
            Some("only the commercial `aws` partition is supported".to_string())
        } else {
            did_you_mean(region, aws::REGIONS.iter().copied()).map(|m| format!("did you mean `{m}`?"))
        };
        let pos = if at_key { self.locs.key(pointer) } else { self.locs.value(pointer) };
        let hint = hint.unwrap_or_else(|| "see `aws ec2 describe-regions --all-regions`".into());
        self.diags.push(Diagnostic::error(pos, format!("`{region}` is not an AWS region")).hint(hint));
        false
    }
}

/// Runs every semantic check. `today` is passed in so tests are independent of the clock.
pub fn check(spec: &Spec, locs: &Locations, today: Date) -> Vec<Diagnostic> {
    let mut c = Checker { locs, diags: Vec::new() };
    check_identity(&mut c, spec);
    check_accounts(&mut c, spec);
    check_regions(&mut c, spec);
    check_lake(&mut c, spec, today);
    check_sources(&mut c, spec);
    check_model(&mut c, spec);
    check_features(&mut c, spec);
    check_limits(&mut c, spec);
    c.diags
}

/// The name, the home account and region, the organization.
fn check_identity(c: &mut Checker, spec: &Spec) {
    // name
    let n = &spec.name;
    let name_ok = n.len() >= 2
        && n.len() <= 20
        && n.as_bytes()[0].is_ascii_lowercase()
        && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !n.ends_with('-')
        && !n.contains("--");
    if !name_ok {
        c.error(
            "/name",
            format!("`{n}` is not a valid name"),
            Some("2 to 20 characters: a lowercase letter, then lowercase letters, digits or single hyphens (it prefixes bucket and role names)".into()),
        );
    }

    // home
    c.account("/home/account", &spec.home.account);
    c.region("/home/region", &spec.home.region);

    // organization
    if let Some(org) = &spec.organization {
        if !aws::is_org_id(&org.id) {
            c.error(
                "/organization/id",
                format!("`{}` is not an organization id", org.id),
                Some("it looks like o-a1b2c3d4e5 (o- and 10 to 32 lowercase letters or digits)".into()),
            );
        }
        for (i, ou) in org.member_ous.iter().enumerate() {
            if !aws::is_ou_or_root(ou) {
                c.error(
                    &format!("/organization/member_ous/{i}"),
                    format!("`{ou}` is not an OU or root id"),
                    Some("an OU id looks like ou-ab12-cdef3456; the root is r-ab12".into()),
                );
            }
        }
        match &org.management_account {
            Some(m) => c.account("/organization/management_account", m),
            None => {
                let d = Diagnostic::warning(
                    c.locs.key("/organization"),
                    "the home account is the organization's management account: the archive and the functions would sit in the one account SCPs cannot restrict",
                )
                .hint("make home a separate log-archive account and name the management account: organization: { management_account: \"…\" } (it then owns only the organization trail)");
                c.diags.push(d);
            }
        }
        if org.member_ous.is_empty() && spec.sources.config.recorder {
            c.error(
                "/organization",
                "organization.member_ous is empty: the member stacks (Config recorders) would reach no account",
                Some("list the OUs (or the root r-…) to deploy to: member_ous: [ou-ab12-cdef3456]".into()),
            );
        }
    }
}

/// The accounts: ids, names, no duplicates.
fn check_accounts(c: &mut Checker, spec: &Spec) {
    // accounts
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, a) in spec.accounts.iter().enumerate() {
        let p = format!("/accounts/{i}/id");
        c.account(&p, &a.id);
        if let Some(first) = seen.insert(a.id.as_str(), i) {
            let line = c.locs.value(&format!("/accounts/{first}/id")).line;
            c.error(
                &p,
                format!("account `{}` is listed twice", a.id),
                Some(format!("it is already listed at line {line}")),
            );
        }
        if let Some(name) = &a.name {
            let ok = !name.is_empty()
                && name.len() <= 63
                && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !ok {
                c.error(
                    &format!("/accounts/{i}/name"),
                    format!("`{name}` is not a valid account label"),
                    Some("use lowercase letters, digits and hyphens (at most 63)".into()),
                );
            }
        }
    }
    if !spec.accounts.is_empty() && !spec.accounts.iter().any(|a| a.id == spec.home.account) {
        c.warn(
            "/accounts",
            format!(
                "the home account {} is not in `accounts`: its own activity will not be in the lake",
                spec.home.account
            ),
            Some(format!("add - {{ id: \"{}\", name: logs }} if it should be", spec.home.account)),
        );
    }
}

/// The regions: real ones, no duplicates, the home region among them.
fn check_regions(c: &mut Checker, spec: &Spec) {
    // regions
    if spec.regions.is_empty() {
        c.error(
            "/regions",
            "`regions` is empty",
            Some(format!("list at least the home region: regions: [{}]", spec.home.region)),
        );
    }
    let mut seen_r: HashMap<&str, usize> = HashMap::new();
    for (i, r) in spec.regions.iter().enumerate() {
        let p = format!("/regions/{i}");
        c.region(&p, r);
        if seen_r.insert(r.as_str(), i).is_some() {
            c.error(&p, format!("region `{r}` is listed twice"), None);
        }
    }
    if aws::REGIONS.contains(&spec.home.region.as_str())
        && !spec.regions.is_empty()
        && !spec.regions.contains(&spec.home.region)
    {
        c.error(
            "/regions",
            format!("the home region {} is not in `regions`", spec.home.region),
            Some("the home region records global resources (IAM) and holds the tables: add it to `regions`".into()),
        );
    }
}

/// The lake: bucket, prefix, retention, projection range.
fn check_lake(c: &mut Checker, spec: &Spec, today: Date) {
    // lake
    if let Some(problem) = aws::bucket_name_problem(&spec.lake.bucket) {
        c.error("/lake/bucket", format!("`{}` is not a valid bucket name: {problem}", spec.lake.bucket), None);
    } else if spec.lake.bucket.contains('.') {
        c.warn(
            "/lake/bucket",
            "a bucket name with `.` breaks virtual-hosted TLS certificates",
            Some("prefer hyphens".into()),
        );
    }
    let prefix = &spec.lake.prefix;
    if prefix.starts_with('/') || prefix.ends_with('/') {
        c.error(
            "/lake/prefix",
            format!("the prefix `{prefix}` must not start or end with `/`"),
            Some(format!("write `{}`", prefix.trim_matches('/'))),
        );
    } else if prefix.len() > 200 {
        c.error(
            "/lake/prefix",
            format!("the prefix has {} characters; CloudTrail accepts at most 200", prefix.len()),
            None,
        );
    } else if prefix.split('/').any(|s| s == "AWSLogs") {
        c.error("/lake/prefix", "the prefix must not contain `AWSLogs`: the services add it after the prefix", None);
    } else if let Some(ch) = prefix.chars().find(|ch| !(ch.is_ascii_alphanumeric() || "!-_.*'()/".contains(*ch))) {
        c.error(
            "/lake/prefix",
            format!("the prefix contains `{ch}`"),
            Some("use letters, digits and !-_.*'() (S3 safe characters) separated by `/`".into()),
        );
    } else if prefix.contains("//") {
        c.error("/lake/prefix", "the prefix contains an empty segment (`//`)", None);
    }
    if spec.lake.existing && spec.lake.kms && c.locs.has("/lake/kms") {
        c.warn(
            "/lake/kms",
            "lake.kms has no effect with lake.existing: true: opslake creates no key for a bucket it does not own",
            Some("the existing bucket's own default encryption applies; remove `kms` to silence this".into()),
        );
    }
    let (start, end) = (spec.lake.projection.start, spec.lake.projection.end);
    if start > today {
        c.error(
            "/lake/projection/start",
            format!("the projection starts in the future ({start}; today is {today})"),
            Some("start at or before today, when logs begin to arrive".into()),
        );
    }
    if start < Date::constant(2013, 11, 1) {
        c.error("/lake/projection/start", "the projection starts before CloudTrail existed (2013-11)", None);
    }
    if let Some(e) = end.filter(|e| *e < start) {
        c.error(
            "/lake/projection/end",
            format!("the projection ends ({e}) before it starts ({start})"),
            Some("end must be on or after start; omit it to project up to NOW".into()),
        );
    }
}

/// The sources: trail mode, data events, Config, ALB buckets.
fn check_sources(c: &mut Checker, spec: &Spec) {
    // sources
    let trail = spec.trail_mode();
    if trail == TrailMode::Organization && spec.organization.is_none() {
        c.error(
            "/sources/cloudtrail/trail",
            "an organization trail needs the `organization` section",
            Some("add organization: { id: o-…, member_ous: [...] } or use trail: account".into()),
        );
    }
    if trail == TrailMode::Existing && !spec.sources.cloudtrail.data_events.is_empty() {
        c.error(
            "/sources/cloudtrail/data_events",
            "data events cannot be set on an existing trail",
            Some("configure them on that trail, or let opslake create the trail".into()),
        );
    }
    let mut seen_de: Vec<&str> = Vec::new();
    for (i, de) in spec.sources.cloudtrail.data_events.iter().enumerate() {
        if seen_de.contains(&de.as_str()) {
            c.error(&format!("/sources/cloudtrail/data_events/{i}"), format!("`{de}` is listed twice"), None);
        }
        seen_de.push(de);
    }
    if let Some(alb) = &spec.sources.alb {
        if alb.buckets.is_empty() {
            c.error(
                "/sources/alb/buckets",
                "no ALB buckets listed",
                Some("map a region to its bucket: { ap-northeast-1: my-alb-logs }, or remove `alb`".into()),
            );
        }
        for (region, bucket) in &alb.buckets {
            let p = format!("/sources/alb/buckets/{}", super::shape::escape(region));
            if c.region_at(&p, region, true) && !spec.regions.contains(region) {
                c.diags.push(
                    Diagnostic::error(c.locs.key(&p), format!("ALB region `{region}` is not in `regions`"))
                        .hint("add it to `regions` so the table projects its account partitions"),
                );
            }
            if let Some(problem) = aws::bucket_name_problem(bucket) {
                c.error(&p, format!("`{bucket}` is not a valid bucket name: {problem}"), None);
            }
            if *bucket == spec.lake.bucket && spec.lake.kms {
                c.error(
                    &p,
                    "ALB access logs support SSE-S3 only, but the lake bucket uses KMS",
                    Some("use a separate ALB bucket in that region, or set lake.kms: false".into()),
                );
            }
        }
        let ap = &alb.prefix;
        if ap.starts_with('/') || ap.ends_with('/') || ap.contains("AWSLogs") {
            c.error("/sources/alb/prefix", format!("`{ap}` must not start or end with `/` or contain AWSLogs"), None);
        }
    }
}

/// The model: provider, id, the Anthropic key's secret, and the features that need one.
fn check_model(c: &mut Checker, spec: &Spec) {
    // model
    let m = &spec.model;
    match (m.provider, &m.id) {
        (Provider::None, Some(_)) => c.error(
            "/model/id",
            "model.id is set but the provider is none",
            Some("set provider: bedrock or anthropic, or remove id".into()),
        ),
        (Provider::Bedrock | Provider::Anthropic, None) => c.error(
            "/model",
            "the model provider needs `model.id`",
            Some(
                "e.g. id: global.anthropic.claude-sonnet-4-5-20250929-v1:0 (bedrock) or claude-sonnet-4-5 (anthropic)"
                    .into(),
            ),
        ),
        (p @ (Provider::Bedrock | Provider::Anthropic), Some(id)) => {
            let provider = if p == Provider::Bedrock { "bedrock" } else { "anthropic" };
            if let Some(problem) = aws::model_id_problem(provider, id) {
                c.error("/model/id", format!("`{id}` is not a {provider} model id: {problem}"), None);
            }
        }
        (Provider::None, None) => {}
    }
    if let Some(secret) = &m.api_key_secret {
        if m.provider != Provider::Anthropic {
            c.error("/model/api_key_secret", "api_key_secret is only used with provider: anthropic", None);
        } else if let Some(problem) = aws::secret_arn_problem(secret) {
            c.error("/model/api_key_secret", problem, None);
        }
    }
    let uses_model =
        spec.enabled(Feature::ChangeSummary) || spec.enabled(Feature::FailureAnalysis) || spec.enabled(Feature::Ask);
    if spec.enabled(Feature::Ask) && m.choice() == opslake_runtime::llm::ModelChoice::None {
        c.error(
            "/features/ask",
            "questions in plain language need a model: `model.provider` is none",
            Some("set model: { provider: bedrock, id: … } (or anthropic), or turn ask off; `opslake query` answers without one".into()),
        );
    }
    if m.provider == Provider::Anthropic && m.api_key_secret.is_none() && uses_model {
        c.error(
            "/model",
            "the deployed functions call the Anthropic API, which needs `model.api_key_secret`",
            Some("store the API key in Secrets Manager and set api_key_secret: arn:aws:secretsmanager:…:secret:NAME-XXXXXX".into()),
        );
    }
}

/// A list of e-mail addresses, each checked for its shape.
fn check_emails(c: &mut Checker, path: &str, list: &[String]) {
    for (i, addr) in list.iter().enumerate() {
        let ok = addr.split_once('@').is_some_and(|(u, d)| {
            !u.is_empty()
                && d.contains('.')
                && !d.starts_with('.')
                && !d.ends_with('.')
                && !addr.contains(char::is_whitespace)
        });
        if !ok {
            c.error(&format!("{path}/{i}"), format!("`{addr}` is not an e-mail address"), None);
        }
    }
}

/// The features' own settings.
fn check_features(c: &mut Checker, spec: &Spec) {
    // features
    if let Some(l) = &spec.features.leftovers {
        if let Some(problem) = aws::schedule_problem(&l.schedule) {
            c.error(
                "/features/leftovers/schedule",
                format!("`{}` is not a schedule expression: {problem}", l.schedule),
                None,
            );
        }
        check_emails(c, "/features/leftovers/notify", &l.notify);
    }
    if let Some(a) = &spec.features.activity_insights {
        check_emails(c, "/features/activity_insights/notify", &a.notify);
        if let Some(ch) = &a.slack_channel {
            check_channel(c, "/features/activity_insights/slack_channel", ch);
            if spec.slack_app().is_none() {
                c.error(
                    "/features/activity_insights/slack_channel",
                    "alerts are posted by failure analysis's Slack app, which this spec does not have",
                    Some("add features.failure_analysis.slack {signing_secret, bot_token, channel}, or remove slack_channel".into()),
                );
            }
        }
    }
    if let Some(fa) = &spec.features.failure_analysis {
        check_failure_analysis(c, spec, fa);
    }
}

/// A Slack channel id (not a `#name`).
fn check_channel(c: &mut Checker, at: &str, ch: &str) {
    let ok = ch.len() >= 9
        && matches!(ch.as_bytes()[0], b'C' | b'G' | b'D')
        && ch.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if !ok {
        c.error(
            at,
            format!("`{ch}` is not a Slack channel id"),
            Some("use the channel id (C0123456789), not its #name".into()),
        );
    }
}

/// Failure analysis: its log groups, topics, Slack section, what triggers it, its zone.
fn check_failure_analysis(c: &mut Checker, spec: &Spec, fa: &super::model::FailureAnalysis) {
    if fa.enabled && fa.log_groups.is_empty() {
        c.error(
            "/features/failure_analysis",
            "failure analysis needs at least one log group to search",
            Some("set features.failure_analysis.log_groups: [/aws/lambda/my-api]".into()),
        );
    }
    if fa.log_groups.len() > 50 {
        c.error(
            "/features/failure_analysis/log_groups",
            format!("{} log groups listed; Logs Insights searches at most 50 per query", fa.log_groups.len()),
            None,
        );
    }
    check_log_groups(c, spec, fa);
    if fa.insights_query != super::model::default_insights_query() {
        let d = Diagnostic::warning(
            c.locs.key("/features/failure_analysis/insights_query"),
            "insights_query is not used: every engine (mirror, Athena, Logs Insights) counts as errors the \
             messages holding error, exception, timeout, timed out, fatal or panic, so their answers agree",
        )
        .hint("remove insights_query; narrow what is read with log_groups or `opslake analyze --log-group`");
        c.diags.push(d);
    }
    check_triggers(c, fa);
    if jiff::tz::TimeZone::get(&fa.time_zone).is_err() {
        c.error(
            "/features/failure_analysis/time_zone",
            format!("`{}` is not a time zone", fa.time_zone),
            Some("use an IANA zone name, e.g. Asia/Tokyo or UTC".into()),
        );
    }
}

/// What starts an analysis and where its answer goes: the Slack section, the alarm topics and
/// events, the alarm-name prefix.
fn check_triggers(c: &mut Checker, fa: &super::model::FailureAnalysis) {
    for (i, t) in fa.alarm_topics.iter().enumerate() {
        if let Some(problem) = aws::topic_arn_problem(t) {
            c.error(&format!("/features/failure_analysis/alarm_topics/{i}"), problem, None);
        }
    }
    if let Some(s) = &fa.slack {
        for (key, v) in [("signing_secret", &s.signing_secret), ("bot_token", &s.bot_token)] {
            if let Some(problem) = aws::secret_arn_problem(v) {
                c.error(&format!("/features/failure_analysis/slack/{key}"), problem, None);
            }
        }
        check_channel(c, "/features/failure_analysis/slack/channel", &s.channel);
    }
    if fa.enabled && fa.slack.is_none() && fa.alarm_topics.is_empty() && !fa.alarm_events {
        c.error(
            "/features/failure_analysis",
            "nothing would trigger failure analysis: it needs `slack`, `alarm_events` or `alarm_topics`",
            Some("add a slack section, alarm_topics: [arn:aws:sns:…], or remove alarm_events: false".into()),
        );
    }
    if fa.enabled && fa.slack.is_none() && (fa.alarm_events || !fa.alarm_topics.is_empty()) {
        let d = Diagnostic::warning(
            c.locs.key("/features/failure_analysis"),
            "alarms start analyses, but without a slack section their answers only reach the worker's log",
        )
        .hint("add slack: {signing_secret, bot_token, channel} to have them posted");
        c.diags.push(d);
    }
    if fa.alarm_prefix.len() > 255 || fa.alarm_prefix.chars().any(char::is_control) {
        c.error(
            "/features/failure_analysis/alarm_prefix",
            "an alarm name prefix is at most 255 characters, none of them control characters",
            None,
        );
    }
}

/// Each log group: a name (the home account and region) or an ARN in one of the spec's
/// accounts and regions, each place listed once.
fn check_log_groups(c: &mut Checker, spec: &Spec, fa: &super::model::FailureAnalysis) {
    let accounts = spec.account_ids();
    let mut seen: HashMap<(String, String, String), usize> = HashMap::new();
    for (i, lg) in fa.log_groups.iter().enumerate() {
        let p = format!("/features/failure_analysis/log_groups/{i}");
        let (account, region, name) = if lg.starts_with("arn:") {
            match aws::log_group_arn(lg) {
                Ok((region, account, name)) => (account.to_string(), region.to_string(), name.to_string()),
                Err(problem) => {
                    c.error(&p, format!("`{lg}` is not a log group ARN: {problem}"), None);
                    continue;
                }
            }
        } else {
            if let Some(problem) = aws::log_group_problem(lg) {
                c.error(&p, format!("`{lg}` is not a log group name: {problem}"), None);
            }
            (spec.home.account.clone(), spec.home.region.clone(), lg.clone())
        };
        if !accounts.contains(&account) {
            c.error(
                &p,
                format!("log group `{name}` is in account {account}, which is not one of the spec's accounts"),
                Some(format!("add {{ id: \"{account}\" }} to accounts, or name a log group of one of them")),
            );
        }
        if !spec.regions.contains(&region) {
            c.error(
                &p,
                format!("log group `{name}` is in {region}, which is not one of the spec's regions"),
                Some(format!("add {region} to regions")),
            );
        }
        if seen.insert((account.clone(), region.clone(), name.clone()), i).is_some() {
            c.error(&p, format!("log group `{name}` ({account}, {region}) is listed twice"), None);
        }
    }
}

/// What a feature's section cannot do with the rest of the spec: said, not ignored.
fn check_limits(c: &mut Checker, spec: &Spec) {
    if let Some(fa) = spec.features.failure_analysis.as_ref() {
        for (i, ns) in fa.capture.namespaces.iter().enumerate() {
            if fa.capture.namespaces[..i].contains(ns) {
                c.error(
                    &format!("/features/failure_analysis/capture/namespaces/{i}"),
                    format!("namespace `{ns}` is listed twice"),
                    None,
                );
            }
        }
    }
}
