//! What a deploy did, step by step: the typed outcomes `--format json` prints and the reporter
//! words.

use serde::Serialize;

use crate::doctor;

/// What happened to an artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactResult {
    Uploaded,
    /// The bucket already holds this key (keys are content hashes).
    Unchanged,
    /// `--change-set-only` before the assets bucket exists.
    NotUploaded,
    /// The bucket held the key with another SHA-256 (`found`, base64; "none" without one): a
    /// corrupted or tampered copy, replaced by the build.
    Replaced {
        found: String,
    },
}

/// One artifact's fate.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactOutcome {
    pub bin: String,
    pub key: String,
    pub bytes: usize,
    pub sha256: String,
    pub result: ArtifactResult,
}

/// One resource change of a change set.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ResourceChange {
    /// `Add`, `Modify`, `Remove`, `Import`, `Dynamic`.
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// `True`, `False`, `Conditional`, or absent when CloudFormation does not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    /// The properties (and attributes) that change.
    pub properties: Vec<String>,
}

/// How a stack or a StackSet ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StackResult {
    Created,
    Updated,
    UpToDate,
    /// `--change-set-only`: a stack's change set kept for review.
    ChangeSetCreated,
    /// `--change-set-only`: what a StackSet would do.
    Planned,
    /// The answer at the prompt was no.
    Declined,
    Failed,
}

impl StackResult {
    /// The stack exists as the spec says (its outputs can feed later templates).
    pub fn is_deployed(self) -> bool {
        matches!(self, StackResult::Created | StackResult::Updated | StackResult::UpToDate)
    }
}

/// One stack's fate.
#[derive(Debug, Clone, Serialize)]
pub struct StackOutcome {
    pub template: String,
    pub stack_name: String,
    pub account: String,
    pub region: String,
    pub result: StackResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_set: Option<String>,
    pub changes: Vec<ResourceChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

/// The first resource that failed, and where the stack ended.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logical_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack_status: Option<String>,
}

impl Failure {
    /// A failure with only a reason (a change set CloudFormation rejected).
    pub fn because(reason: String, stack_status: Option<String>) -> Failure {
        Failure { logical_id: None, resource_type: None, reason, stack_status }
    }
}

/// One StackSet instance.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceOutcome {
    pub account: String,
    pub region: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detailed_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl InstanceOutcome {
    pub fn failed(&self) -> bool {
        self.status == "INOPERABLE" || self.detailed_status.as_deref() == Some("FAILED")
    }
}

/// One StackSet's fate.
#[derive(Debug, Clone, Serialize)]
pub struct StackSetOutcome {
    pub template: String,
    pub stack_set_name: String,
    pub permission_model: String,
    pub result: StackResult,
    /// What was (or would be) done: `create StackSet …`, `update …`, `add instances …`.
    pub actions: Vec<String>,
    pub operations: Vec<String>,
    pub instances: Vec<InstanceOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// What a deploy did (`--format json`).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Summary {
    pub account: String,
    pub region: String,
    pub change_set_only: bool,
    pub artifacts: Vec<ArtifactOutcome>,
    pub stacks: Vec<StackOutcome>,
    pub stack_sets: Vec<StackSetOutcome>,
    /// `opslake doctor` on the deployed lake (after a deploy that changed or checked everything).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doctor: Option<doctor::Report>,
    pub ok: bool,
}

impl Summary {
    /// Every stack's and StackSet's result.
    pub fn results(&self) -> impl Iterator<Item = StackResult> + '_ {
        self.stacks.iter().map(|s| s.result).chain(self.stack_sets.iter().map(|s| s.result))
    }

    pub fn failed(&self) -> bool {
        self.results().any(|r| r == StackResult::Failed)
    }
}
