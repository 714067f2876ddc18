//! The functions' environment, written once: the plan builds these values, the generated
//! template renders them as each function's `Environment.Variables`, and the function parses
//! them back when it starts. A test renders the template and parses what it set.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use crate::lake::LakeLayout;
use crate::llm::ModelChoice;
use crate::report::Language;

pub const LAYOUT: &str = "OPSLAKE_LAYOUT";
pub const WORKGROUP: &str = "OPSLAKE_WORKGROUP";
pub const MODEL: &str = "OPSLAKE_MODEL";
pub const LANGUAGE: &str = "OPSLAKE_LANGUAGE";
pub const MAX_TOKENS: &str = "OPSLAKE_MAX_TOKENS";
pub const ANTHROPIC_SECRET_ARN: &str = "OPSLAKE_ANTHROPIC_SECRET_ARN";
pub const TOPIC_ARN: &str = "OPSLAKE_TOPIC_ARN";
pub const LOOKBACK_DAYS: &str = "OPSLAKE_LOOKBACK_DAYS";
pub const SOURCE: &str = "OPSLAKE_SOURCE";
pub const MAX_SCAN_MB: &str = "OPSLAKE_MAX_SCAN_MB";

/// Lambda allows 4 KB of environment in all; a layout longer than this leaves out the account
/// list (the function then checks account ids by format only).
pub const MAX_LAYOUT_BYTES: usize = 3000;

/// One variable's value in the template: text, or a resource's `Ref` that CloudFormation fills
/// in at deploy time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    Text(String),
    Ref(String),
}

impl EnvValue {
    /// The value a running function sees (a `Ref` only exists in the template).
    pub fn text(&self) -> &str {
        match self {
            EnvValue::Text(t) | EnvValue::Ref(t) => t,
        }
    }
}

impl Serialize for EnvValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            EnvValue::Text(t) => s.serialize_str(t),
            EnvValue::Ref(id) => BTreeMap::from([("Ref", id)]).serialize(s),
        }
    }
}

/// Variable name → value, as the template sets them.
pub type Vars = BTreeMap<&'static str, EnvValue>;

/// Reads a variable (the process environment, or a test's map).
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn text(v: impl Into<String>) -> EnvValue {
    EnvValue::Text(v.into())
}

fn required(get: Lookup, name: &str) -> Result<String, String> {
    get(name).ok_or_else(|| format!("{name} is not set"))
}

fn parsed<T: std::str::FromStr>(get: Lookup, name: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    required(get, name)?.parse().map_err(|e| format!("{name}: {e}"))
}

/// What every function that reads the lake knows: where the tables are, and the workgroup.
#[derive(Debug, Clone, PartialEq)]
pub struct LakeEnv {
    pub layout: LakeLayout,
    pub workgroup: String,
}

impl LakeEnv {
    /// The layout as JSON, within [`MAX_LAYOUT_BYTES`].
    pub fn layout_json(layout: &LakeLayout) -> String {
        let full = serde_json::to_string(layout).unwrap_or_default();
        if full.len() <= MAX_LAYOUT_BYTES {
            return full;
        }
        let slim = LakeLayout { accounts: Vec::new(), ..layout.clone() };
        serde_json::to_string(&slim).unwrap_or_default()
    }

    fn to_vars(&self, vars: &mut Vars) {
        vars.insert(LAYOUT, text(LakeEnv::layout_json(&self.layout)));
        vars.insert(WORKGROUP, text(&self.workgroup));
    }

    fn from_vars(get: Lookup) -> Result<LakeEnv, String> {
        let layout = serde_json::from_str(&required(get, LAYOUT)?).map_err(|e| format!("{LAYOUT}: {e}"))?;
        Ok(LakeEnv { layout, workgroup: required(get, WORKGROUP)? })
    }
}

/// The `query` function.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryEnv {
    pub lake: LakeEnv,
}

impl QueryEnv {
    pub fn to_vars(&self) -> Vars {
        let mut vars = Vars::new();
        self.lake.to_vars(&mut vars);
        vars
    }

    pub fn from_vars(get: Lookup) -> Result<QueryEnv, String> {
        Ok(QueryEnv { lake: LakeEnv::from_vars(get)? })
    }

    pub fn from_env() -> Result<QueryEnv, String> {
        QueryEnv::from_vars(&|k| std::env::var(k).ok())
    }
}

/// What every function that asks a model knows: which model, the report language, the answer
/// budget, and (for Anthropic) the secret holding the API key.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelEnv {
    pub model: ModelChoice,
    pub language: Language,
    pub max_tokens: u32,
    /// The Anthropic API key's secret (with an `anthropic:` model).
    pub anthropic_secret_arn: Option<String>,
}

impl ModelEnv {
    fn to_vars(&self, vars: &mut Vars) {
        vars.insert(MODEL, text(self.model.to_string()));
        vars.insert(LANGUAGE, text(self.language.as_str()));
        vars.insert(MAX_TOKENS, text(self.max_tokens.to_string()));
        if let Some(arn) = &self.anthropic_secret_arn {
            vars.insert(ANTHROPIC_SECRET_ARN, text(arn));
        }
    }

    fn from_vars(get: Lookup) -> Result<ModelEnv, String> {
        Ok(ModelEnv {
            model: parsed(get, MODEL)?,
            language: parsed(get, LANGUAGE)?,
            max_tokens: parsed(get, MAX_TOKENS)?,
            anthropic_secret_arn: get(ANTHROPIC_SECRET_ARN),
        })
    }

    /// Where the function's Anthropic key is (a secret, never the environment).
    pub fn anthropic_key(&self) -> crate::llm::AnthropicKey {
        match &self.anthropic_secret_arn {
            Some(arn) => crate::llm::AnthropicKey::Secret { arn: arn.clone() },
            None => crate::llm::AnthropicKey::Environment,
        }
    }
}

/// The `change-summary` function.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeSummaryEnv {
    pub lake: LakeEnv,
    pub model: ModelEnv,
}

impl ChangeSummaryEnv {
    pub fn to_vars(&self) -> Vars {
        let mut vars = Vars::new();
        self.lake.to_vars(&mut vars);
        self.model.to_vars(&mut vars);
        vars
    }

    pub fn from_vars(get: Lookup) -> Result<ChangeSummaryEnv, String> {
        Ok(ChangeSummaryEnv { lake: LakeEnv::from_vars(get)?, model: ModelEnv::from_vars(get)? })
    }

    pub fn from_env() -> Result<ChangeSummaryEnv, String> {
        ChangeSummaryEnv::from_vars(&|k| std::env::var(k).ok())
    }
}

/// The `ask` function.
#[derive(Debug, Clone, PartialEq)]
pub struct AskEnv {
    pub lake: LakeEnv,
    pub model: ModelEnv,
    /// Megabytes one question's Athena queries may scan in all.
    pub max_scan_mb: u64,
}

impl AskEnv {
    pub fn to_vars(&self) -> Vars {
        let mut vars = Vars::new();
        self.lake.to_vars(&mut vars);
        self.model.to_vars(&mut vars);
        vars.insert(MAX_SCAN_MB, text(self.max_scan_mb.to_string()));
        vars
    }

    pub fn from_vars(get: Lookup) -> Result<AskEnv, String> {
        Ok(AskEnv {
            lake: LakeEnv::from_vars(get)?,
            model: ModelEnv::from_vars(get)?,
            max_scan_mb: parsed(get, MAX_SCAN_MB)?,
        })
    }

    pub fn from_env() -> Result<AskEnv, String> {
        AskEnv::from_vars(&|k| std::env::var(k).ok())
    }
}

/// Where the `leftovers` function reads create and delete events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeftoversSource {
    Athena,
    LookupEvents,
}

impl LeftoversSource {
    pub fn as_str(self) -> &'static str {
        match self {
            LeftoversSource::Athena => "athena",
            LeftoversSource::LookupEvents => "lookup-events",
        }
    }
}

impl std::str::FromStr for LeftoversSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "athena" => Ok(LeftoversSource::Athena),
            "lookup-events" => Ok(LeftoversSource::LookupEvents),
            other => Err(format!("`{other}` is not athena or lookup-events")),
        }
    }
}

/// The `leftovers` function.
#[derive(Debug, Clone, PartialEq)]
pub struct LeftoversEnv {
    pub lake: LakeEnv,
    /// The topic the report goes to (a `Ref` to it in the template).
    pub topic_arn: EnvValue,
    pub lookback_days: u32,
    pub source: LeftoversSource,
}

impl LeftoversEnv {
    pub fn to_vars(&self) -> Vars {
        let mut vars = Vars::new();
        self.lake.to_vars(&mut vars);
        vars.insert(TOPIC_ARN, self.topic_arn.clone());
        vars.insert(LOOKBACK_DAYS, text(self.lookback_days.to_string()));
        vars.insert(SOURCE, text(self.source.as_str()));
        vars
    }

    pub fn from_vars(get: Lookup) -> Result<LeftoversEnv, String> {
        Ok(LeftoversEnv {
            lake: LakeEnv::from_vars(get)?,
            topic_arn: EnvValue::Text(required(get, TOPIC_ARN)?),
            lookback_days: parsed(get, LOOKBACK_DAYS)?,
            source: parsed(get, SOURCE)?,
        })
    }

    pub fn from_env() -> Result<LeftoversEnv, String> {
        LeftoversEnv::from_vars(&|k| std::env::var(k).ok())
    }
}

pub const SIGNING_SECRET_ARN: &str = "OPSLAKE_SLACK_SIGNING_SECRET_ARN";
pub const BOT_TOKEN_ARN: &str = "OPSLAKE_SLACK_BOT_TOKEN_ARN";
pub const SLACK_CHANNEL: &str = "OPSLAKE_SLACK_CHANNEL";
pub const WORKER: &str = "OPSLAKE_WORKER";
pub const LOG_GROUPS: &str = "OPSLAKE_LOG_GROUPS";
pub const NAMESPACES: &str = "OPSLAKE_NAMESPACES";
pub const XRAY: &str = "OPSLAKE_XRAY";
pub const TIME_ZONE: &str = "OPSLAKE_TIME_ZONE";
pub const REDACT_IPS: &str = "OPSLAKE_REDACT_IPS";
pub const LEDGER_TABLE: &str = "OPSLAKE_LEDGER_TABLE";
pub const QUIET_MINUTES: &str = "OPSLAKE_QUIET_MINUTES";
pub const READER_ROLE: &str = "OPSLAKE_READER_ROLE";
pub const HOME_ACCOUNT: &str = "OPSLAKE_HOME_ACCOUNT";
/// Slack's Web API base URL; unset in the templates (Slack's own), set by tests and benches.
pub const SLACK_API_URL: &str = "OPSLAKE_SLACK_API_URL";

/// A log group of the spec and where it lives (in the environment, as its ARN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedGroup {
    pub account: String,
    pub region: String,
    pub name: String,
}

impl PlacedGroup {
    pub fn arn(&self) -> String {
        format!("arn:aws:logs:{}:{}:log-group:{}", self.region, self.account, self.name)
    }

    /// `arn:PARTITION:logs:REGION:ACCOUNT:log-group:NAME`.
    pub fn from_arn(arn: &str) -> Result<PlacedGroup, String> {
        let mut p = arn.splitn(7, ':');
        match (p.next(), p.next(), p.next(), p.next(), p.next(), p.next(), p.next()) {
            (Some("arn"), Some(_), Some("logs"), Some(region), Some(account), Some("log-group"), Some(name))
                if !region.is_empty() && !account.is_empty() && !name.is_empty() =>
            {
                Ok(PlacedGroup { account: account.into(), region: region.into(), name: name.into() })
            }
            _ => Err(format!("`{arn}` is not a log group's ARN")),
        }
    }
}

fn json_var<T: serde::de::DeserializeOwned>(get: Lookup, name: &str) -> Result<T, String> {
    serde_json::from_str(&required(get, name)?).map_err(|e| format!("{name}: {e}"))
}

fn json_text<T: Serialize>(v: &T) -> EnvValue {
    text(serde_json::to_string(v).unwrap_or_default())
}

/// The `slack` function: where its two secrets are, the worker it starts, the log groups its
/// form offers.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackEnv {
    pub signing_secret_arn: String,
    pub bot_token_arn: String,
    /// The worker function (a `Ref` in the template).
    pub worker: EnvValue,
    pub log_groups: Vec<String>,
}

impl SlackEnv {
    pub fn to_vars(&self) -> Vars {
        let mut vars = Vars::new();
        vars.insert(SIGNING_SECRET_ARN, text(&self.signing_secret_arn));
        vars.insert(BOT_TOKEN_ARN, text(&self.bot_token_arn));
        vars.insert(WORKER, self.worker.clone());
        vars.insert(LOG_GROUPS, json_text(&self.log_groups));
        vars
    }

    pub fn from_vars(get: Lookup) -> Result<SlackEnv, String> {
        Ok(SlackEnv {
            signing_secret_arn: required(get, SIGNING_SECRET_ARN)?,
            bot_token_arn: required(get, BOT_TOKEN_ARN)?,
            worker: EnvValue::Text(required(get, WORKER)?),
            log_groups: json_var(get, LOG_GROUPS)?,
        })
    }

    pub fn from_env() -> Result<SlackEnv, String> {
        SlackEnv::from_vars(&|k| std::env::var(k).ok())
    }
}

/// The `analyze` worker.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyzeEnv {
    pub lake: LakeEnv,
    pub model: ModelEnv,
    pub home_account: String,
    /// The run ledger's table (a `Ref` in the template).
    pub ledger_table: EnvValue,
    pub log_groups: Vec<PlacedGroup>,
    pub namespaces: Vec<String>,
    pub xray: bool,
    /// The zone of the report's times when the person's is unknown (alarms).
    pub time_zone: String,
    pub redact_ips: bool,
    /// An alarm starts at most one run per this many minutes.
    pub quiet_minutes: u32,
    /// The read-only role's name in the other accounts (where an alarm fired).
    pub reader_role: Option<String>,
    /// Slack: the bot token's secret and the channel alarms are answered in.
    pub bot_token_arn: Option<String>,
    pub channel: Option<String>,
}

impl AnalyzeEnv {
    pub fn to_vars(&self) -> Vars {
        let mut vars = Vars::new();
        self.lake.to_vars(&mut vars);
        self.model.to_vars(&mut vars);
        vars.insert(HOME_ACCOUNT, text(&self.home_account));
        vars.insert(LEDGER_TABLE, self.ledger_table.clone());
        vars.insert(LOG_GROUPS, json_text(&self.log_groups.iter().map(PlacedGroup::arn).collect::<Vec<_>>()));
        vars.insert(NAMESPACES, json_text(&self.namespaces));
        vars.insert(XRAY, text(self.xray.to_string()));
        vars.insert(TIME_ZONE, text(&self.time_zone));
        vars.insert(REDACT_IPS, text(self.redact_ips.to_string()));
        vars.insert(QUIET_MINUTES, text(self.quiet_minutes.to_string()));
        if let Some(r) = &self.reader_role {
            vars.insert(READER_ROLE, text(r));
        }
        if let Some(b) = &self.bot_token_arn {
            vars.insert(BOT_TOKEN_ARN, text(b));
        }
        if let Some(c) = &self.channel {
            vars.insert(SLACK_CHANNEL, text(c));
        }
        vars
    }

    pub fn from_vars(get: Lookup) -> Result<AnalyzeEnv, String> {
        Ok(AnalyzeEnv {
            lake: LakeEnv::from_vars(get)?,
            model: ModelEnv::from_vars(get)?,
            home_account: required(get, HOME_ACCOUNT)?,
            ledger_table: EnvValue::Text(required(get, LEDGER_TABLE)?),
            log_groups: json_var::<Vec<String>>(get, LOG_GROUPS)?
                .iter()
                .map(|a| PlacedGroup::from_arn(a))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("{LOG_GROUPS}: {e}"))?,
            namespaces: json_var(get, NAMESPACES)?,
            xray: parsed(get, XRAY)?,
            time_zone: required(get, TIME_ZONE)?,
            redact_ips: parsed(get, REDACT_IPS)?,
            quiet_minutes: parsed(get, QUIET_MINUTES)?,
            reader_role: get(READER_ROLE),
            bot_token_arn: get(BOT_TOKEN_ARN),
            channel: get(SLACK_CHANNEL),
        })
    }

    pub fn from_env() -> Result<AnalyzeEnv, String> {
        AnalyzeEnv::from_vars(&|k| std::env::var(k).ok())
    }
}

pub const INSIGHTS_TABLE: &str = "OPSLAKE_INSIGHTS_TABLE";
pub const STATE_BUCKET: &str = "OPSLAKE_STATE_BUCKET";
pub const STATE_KEY: &str = "OPSLAKE_STATE_KEY";
pub const METRICS_NAMESPACE: &str = "OPSLAKE_METRICS_NAMESPACE";

/// The `insights` function.
#[derive(Debug, Clone, PartialEq)]
pub struct InsightsEnv {
    /// The run ledger and window counters (a `Ref` in the template).
    pub table: EnvValue,
    /// Where the forests' state is kept, and its key.
    pub bucket: EnvValue,
    pub state_key: EnvValue,
    /// The anomaly topic (a `Ref`).
    pub topic_arn: EnvValue,
    /// The CloudWatch namespace of the metrics.
    pub namespace: EnvValue,
    /// The Slack bot token's secret and the channel alerts go to, when the app exists.
    pub bot_token_arn: Option<String>,
    pub channel: Option<String>,
}

impl InsightsEnv {
    pub fn to_vars(&self) -> Vars {
        let mut vars = Vars::from([
            (INSIGHTS_TABLE, self.table.clone()),
            (STATE_BUCKET, self.bucket.clone()),
            (STATE_KEY, self.state_key.clone()),
            (TOPIC_ARN, self.topic_arn.clone()),
            (METRICS_NAMESPACE, self.namespace.clone()),
        ]);
        if let (Some(token), Some(channel)) = (&self.bot_token_arn, &self.channel) {
            vars.insert(BOT_TOKEN_ARN, text(token));
            vars.insert(SLACK_CHANNEL, text(channel));
        }
        vars
    }

    pub fn from_vars(get: Lookup) -> Result<InsightsEnv, String> {
        let t = |k| required(get, k).map(EnvValue::Text);
        Ok(InsightsEnv {
            table: t(INSIGHTS_TABLE)?,
            bucket: t(STATE_BUCKET)?,
            state_key: t(STATE_KEY)?,
            topic_arn: t(TOPIC_ARN)?,
            namespace: t(METRICS_NAMESPACE)?,
            bot_token_arn: get(BOT_TOKEN_ARN),
            channel: get(SLACK_CHANNEL),
        })
    }

    pub fn from_env() -> Result<InsightsEnv, String> {
        InsightsEnv::from_vars(&|k| std::env::var(k).ok())
    }
}
