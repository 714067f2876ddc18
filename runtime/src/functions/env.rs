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
