//! The validated spec as typed values. Built only from JSON that passed the shape check,
//! so deserialisation cannot fail on structure; defaults live here (and are documented in
//! `shape.rs`, which a test keeps in step).

use std::collections::BTreeMap;

use jiff::civil::Date;
use opslake_runtime::report::Language;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub name: String,
    pub home: Home,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<Organization>,
    #[serde(default)]
    pub accounts: Vec<Account>,
    pub regions: Vec<String>,
    pub lake: Lake,
    #[serde(default)]
    pub sources: Sources,
    #[serde(default)]
    pub athena: Athena,
    #[serde(default)]
    pub model: Model,
    #[serde(default)]
    pub features: Features,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Home {
    pub account: String,
    pub region: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organization {
    pub id: String,
    #[serde(default)]
    pub member_ous: Vec<String>,
    /// The organization's management account, which owns the organization trail. Absent: the
    /// home account is the management account (a warning recommends a separate log-archive
    /// home).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_account: Option<String>,
}

impl Organization {
    /// The management account: the one named, else the home account.
    pub fn management<'a>(&'a self, home: &'a Home) -> &'a str {
        self.management_account.as_deref().unwrap_or(&home.account)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lake {
    pub bucket: String,
    #[serde(default)]
    pub existing: bool,
    #[serde(default)]
    pub prefix: String,
    #[serde(default = "d_retention")]
    pub retention_days: u32,
    #[serde(default = "d_true")]
    pub kms: bool,
    #[serde(default)]
    pub projection: ProjectionRange,
    /// The one role (its name, in the home account) that may delete log objects and change
    /// the bucket's policy, lifecycle, versioning and encryption outside a stack deployment.
    /// It need not exist until it is needed; creating it is itself recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass_role: Option<String>,
    /// The trails record reads of the lake's objects (GetObject) besides its deletes and ACL,
    /// retention and restore changes.
    #[serde(default = "d_true")]
    pub audit_reads: bool,
}

impl Lake {
    /// The break-glass role's name.
    pub fn break_glass_role(&self, spec_name: &str) -> String {
        self.break_glass_role.clone().unwrap_or_else(|| format!("{spec_name}-opslake-break-glass"))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectionRange {
    #[serde(default = "d_start")]
    pub start: Date,
    /// `None`: up to NOW.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<Date>,
}

impl Default for ProjectionRange {
    fn default() -> Self {
        ProjectionRange { start: d_start(), end: None }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    #[serde(default)]
    pub cloudtrail: CloudTrailSource,
    #[serde(default)]
    pub config: ConfigSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alb: Option<AlbSource>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrailMode {
    Organization,
    Account,
    Existing,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudTrailSource {
    /// `None`: organization when the spec has an organization, else account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trail: Option<TrailMode>,
    #[serde(default)]
    pub data_events: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSource {
    #[serde(default = "d_true")]
    pub recorder: bool,
    #[serde(default = "d_true")]
    pub aggregator: bool,
    #[serde(default = "d_frequency")]
    pub delivery_frequency: String,
}

impl Default for ConfigSource {
    fn default() -> Self {
        ConfigSource { recorder: true, aggregator: true, delivery_frequency: d_frequency() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlbSource {
    pub buckets: BTreeMap<String, String>,
    #[serde(default)]
    pub prefix: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Athena {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workgroup: Option<String>,
    #[serde(default = "d_cutoff")]
    pub bytes_scanned_cutoff_mb: u64,
    #[serde(default = "d_results_days")]
    pub results_retention_days: u32,
}

impl Default for Athena {
    fn default() -> Self {
        Athena { workgroup: None, bytes_scanned_cutoff_mb: d_cutoff(), results_retention_days: d_results_days() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    None,
    Bedrock,
    Anthropic,
}

impl Model {
    /// The model as the functions and commands name it (`none` without an id).
    pub fn choice(&self) -> opslake_runtime::llm::ModelChoice {
        use opslake_runtime::llm::ModelChoice;
        match (self.provider, &self.id) {
            (Provider::Bedrock, Some(id)) => ModelChoice::Bedrock(id.clone()),
            (Provider::Anthropic, Some(id)) => ModelChoice::Anthropic(id.clone()),
            _ => ModelChoice::None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    #[serde(default = "d_provider")]
    pub provider: Provider,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default = "d_max_tokens")]
    pub max_tokens: u32,
    #[serde(default)]
    pub language: Language,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret: Option<String>,
}

impl Default for Model {
    fn default() -> Self {
        Model {
            provider: Provider::None,
            id: None,
            max_tokens: d_max_tokens(),
            language: Language::En,
            api_key_secret: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Features {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_summary: Option<Toggle>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<Toggle>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ask: Option<Ask>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leftovers: Option<Leftovers>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_analysis: Option<FailureAnalysis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_insights: Option<ActivityInsights>,
}

/// Activity insights live: every account and region's API calls forwarded to the home
/// account, counted in 10-second windows, scored, and alerted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityInsights {
    #[serde(default = "d_true")]
    pub enabled: bool,
    /// Also the read-only calls (Describe*, Get*, List*): the rules' state that includes every
    /// management event.
    #[serde(default)]
    pub read_only: bool,
    /// E-mail addresses subscribed to the anomaly topic.
    #[serde(default)]
    pub notify: Vec<String>,
    /// The Slack channel for alerts, when not failure analysis's (the same app posts them).
    #[serde(default)]
    pub slack_channel: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Toggle {
    #[serde(default = "d_true")]
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ask {
    #[serde(default = "d_true")]
    pub enabled: bool,
    #[serde(default = "d_scan_mb")]
    pub max_scan_mb: u64,
}

fn d_scan_mb() -> u64 {
    1024
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Leftovers {
    #[serde(default = "d_true")]
    pub enabled: bool,
    #[serde(default = "d_schedule")]
    pub schedule: String,
    #[serde(default = "d_lookback")]
    pub lookback_days: u32,
    #[serde(default)]
    pub notify: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailureAnalysis {
    #[serde(default = "d_true")]
    pub enabled: bool,
    #[serde(default)]
    pub log_groups: Vec<String>,
    /// Not used (kept so that specs that set it still load): a warning says so.
    #[serde(default = "default_insights_query")]
    pub insights_query: String,
    #[serde(default = "d_true")]
    pub xray: bool,
    #[serde(default)]
    pub alarm_topics: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<Slack>,
    #[serde(default)]
    pub capture: Capture,
    /// IP addresses are replaced before evidence reaches a model (access keys, tokens and
    /// e-mail addresses always are).
    #[serde(default)]
    pub redact_ips: bool,
    /// Every alarm of the spec's accounts and regions that goes to ALARM starts an analysis
    /// (EventBridge rules forwarded to the home account).
    #[serde(default = "d_true")]
    pub alarm_events: bool,
    /// Only alarms whose names start with this (empty: all).
    #[serde(default)]
    pub alarm_prefix: String,
    /// An alarm starts at most one analysis per this many minutes (a flapping alarm does not
    /// flood the channel).
    #[serde(default = "d_quiet_minutes")]
    pub quiet_minutes: u32,
    /// The zone of the report's times when the asker's is unknown (alarms).
    #[serde(default = "d_time_zone")]
    pub time_zone: String,
}

/// A log group of the spec, where it lives.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PlacedLogGroup {
    pub account: String,
    pub region: String,
    pub name: String,
}

impl FailureAnalysis {
    /// The log groups with their account and region: a name lives in the home account and
    /// region, an ARN where it says (entries that are neither are left out: validation
    /// reports them).
    pub fn placed_log_groups(&self, home: &Home) -> Vec<PlacedLogGroup> {
        self.log_groups
            .iter()
            .filter_map(|g| {
                if g.starts_with("arn:") {
                    let (region, account, name) = super::aws::log_group_arn(g).ok()?;
                    Some(PlacedLogGroup { account: account.into(), region: region.into(), name: name.into() })
                } else {
                    Some(PlacedLogGroup { account: home.account.clone(), region: home.region.clone(), name: g.clone() })
                }
            })
            .collect()
    }
}

/// What failure analysis keeps in the lake besides CloudTrail and ALB logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capture {
    /// The spec's log groups, through a subscription filter and Firehose (`app_logs`).
    #[serde(default = "d_true")]
    pub logs: bool,
    /// A metric stream of `namespaces`, through Firehose (`metrics`).
    #[serde(default = "d_true")]
    pub metrics: bool,
    #[serde(default = "d_namespaces")]
    pub namespaces: Vec<String>,
}

impl Default for Capture {
    fn default() -> Self {
        Capture { logs: true, metrics: true, namespaces: d_namespaces() }
    }
}

fn d_namespaces() -> Vec<String> {
    ["AWS/ApplicationELB", "AWS/Lambda", "AWS/RDS"].map(String::from).to_vec()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slack {
    pub signing_secret: String,
    pub bot_token: String,
    pub channel: String,
}

fn d_true() -> bool {
    true
}
fn d_quiet_minutes() -> u32 {
    30
}
fn d_time_zone() -> String {
    "UTC".into()
}
fn d_retention() -> u32 {
    400
}
fn d_start() -> Date {
    Date::constant(2024, 1, 1)
}
fn d_frequency() -> String {
    "TwentyFour_Hours".into()
}
fn d_cutoff() -> u64 {
    10240
}
fn d_results_days() -> u32 {
    30
}
fn d_provider() -> Provider {
    Provider::None
}
fn d_max_tokens() -> u32 {
    1500
}
fn d_schedule() -> String {
    "cron(0 0 * * ? *)".into()
}
fn d_lookback() -> u32 {
    30
}
pub(crate) fn default_insights_query() -> String {
    "fields @timestamp, @message | filter @message like /(?i)error/".into()
}

impl Spec {
    /// The accounts whose logs land in the lake (the home account when none are listed).
    pub fn account_ids(&self) -> Vec<String> {
        if self.accounts.is_empty() {
            vec![self.home.account.clone()]
        } else {
            self.accounts.iter().map(|a| a.id.clone()).collect()
        }
    }

    pub fn trail_mode(&self) -> TrailMode {
        self.sources.cloudtrail.trail.unwrap_or(if self.organization.is_some() {
            TrailMode::Organization
        } else {
            TrailMode::Account
        })
    }

    pub fn workgroup(&self) -> String {
        self.athena.workgroup.clone().unwrap_or_else(|| format!("{}-opslake", self.name))
    }

    /// What failure analysis captures into the lake (`None` when the feature is off).
    pub fn capture(&self) -> Option<&Capture> {
        self.features.failure_analysis.as_ref().filter(|f| f.enabled).map(|f| &f.capture)
    }

    /// Failure analysis's Slack app, when the feature is on and has one (activity insights'
    /// alerts are posted by it too).
    pub fn slack_app(&self) -> Option<&Slack> {
        self.features.failure_analysis.as_ref().filter(|f| f.enabled).and_then(|f| f.slack.as_ref())
    }

    /// Whether the spec deploys any Lambda function.
    pub fn has_functions(&self) -> bool {
        [
            Feature::Query,
            Feature::Leftovers,
            Feature::ChangeSummary,
            Feature::Ask,
            Feature::FailureAnalysis,
            Feature::ActivityInsights,
        ]
        .into_iter()
        .any(|f| self.enabled(f))
    }

    pub fn enabled(&self, feature: Feature) -> bool {
        let f = &self.features;
        match feature {
            Feature::ChangeSummary => f.change_summary.as_ref().is_some_and(|t| t.enabled),
            Feature::Query => f.query.as_ref().is_some_and(|t| t.enabled),
            Feature::Ask => f.ask.as_ref().is_some_and(|t| t.enabled),
            Feature::Leftovers => f.leftovers.as_ref().is_some_and(|t| t.enabled),
            Feature::FailureAnalysis => f.failure_analysis.as_ref().is_some_and(|t| t.enabled),
            Feature::ActivityInsights => f.activity_insights.as_ref().is_some_and(|t| t.enabled),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    ChangeSummary,
    Query,
    Ask,
    Leftovers,
    FailureAnalysis,
    ActivityInsights,
}
