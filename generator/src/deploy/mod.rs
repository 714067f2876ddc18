//! `opslake deploy`: the only code that talks to CloudFormation.
//!
//! In order: check the credentials are the spec's home account; deploy the bootstrap stack
//! (the assets bucket); build or take the functions' zips and upload the ones the bucket does
//! not hold yet; then for each template of the plan create a change set, print its diff,
//! execute it on confirmation while streaming progress; for member templates create or update
//! the StackSet and its instances. Every step's outcome lands in a [`Summary`] (`--format json`).

pub mod artifacts;
mod diff;
mod stack;
mod stackset;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use opslake_runtime::engine::athena::Connection;

use crate::plan::{ParamSource, Plan, PlannedTemplate, Target};
use crate::render::OutputFile;
use crate::spec::model::Spec;

pub use artifacts::Arch;

/// CloudFormation takes a template body inline up to this size; larger ones go through S3.
pub const MAX_INLINE_TEMPLATE_BYTES: usize = 51_200;

/// A deploy that stopped: `code` 2 for bad input (fix the command or the spec), 1 for a
/// failure on the AWS side.
#[derive(Debug, Clone)]
pub struct DeployError {
    pub code: u8,
    pub message: String,
}

impl DeployError {
    pub fn input(message: impl Into<String>) -> Self {
        DeployError { code: crate::cli::BAD_INPUT, message: message.into() }
    }
    pub fn failed(message: impl Into<String>) -> Self {
        DeployError { code: crate::cli::FAILURE, message: message.into() }
    }
}

pub(crate) use crate::doctor::sdk_message;

#[derive(Debug, Clone)]
pub struct Options {
    pub yes: bool,
    pub change_set_only: bool,
    pub artifacts: Option<PathBuf>,
    pub arch: Arch,
    pub json: bool,
    /// How long one stack or StackSet operation may take.
    pub timeout: Duration,
    /// First and largest wait between status polls.
    pub poll: (Duration, Duration),
}

/// Whether to go ahead with a change: `--yes`, an answer at the terminal, or a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    Yes,
    Ask,
    Refuse,
}

impl Consent {
    pub fn from_flags(yes: bool) -> Consent {
        if yes {
            Consent::Yes
        } else if std::io::stdin().is_terminal() {
            Consent::Ask
        } else {
            Consent::Refuse
        }
    }
}

/// Where a deploy writes: the human text (stdout, or stderr under `--format json`, whose stdout
/// carries only the summary) and the progress (stderr).
pub struct Ui<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    pub json: bool,
    /// stderr is a terminal: progress redraws one line.
    pub tty: bool,
    pub consent: Consent,
}

impl Ui<'_> {
    pub(crate) fn say(&mut self, text: &str) {
        let w: &mut dyn Write = if self.json { &mut *self.err } else { &mut *self.out };
        let _ = writeln!(w, "{text}");
        let _ = w.flush();
    }

    pub(crate) fn progress(&mut self, line: &str, last: bool) {
        if self.tty {
            let _ = write!(self.err, "\r\x1b[2K{line}");
            if last {
                let _ = writeln!(self.err);
            }
        } else {
            let _ = writeln!(self.err, "{line}");
        }
        let _ = self.err.flush();
    }

    /// Asks before changing `what`; `Ok(false)` when the answer is no.
    pub(crate) fn confirm(&mut self, what: &str) -> Result<bool, DeployError> {
        match self.consent {
            Consent::Yes => Ok(true),
            Consent::Refuse => Err(DeployError::input(format!(
                "not deploying {what}: stdin is not a terminal, so there is nobody to confirm\n  hint: pass --yes to deploy, or --change-set-only to create the change sets for review"
            ))),
            Consent::Ask => {
                let _ = write!(self.err, "Deploy these changes to {what}? [y/N] ");
                let _ = self.err.flush();
                let mut answer = String::new();
                std::io::stdin()
                    .read_line(&mut answer)
                    .map_err(|e| DeployError::input(format!("cannot read the answer: {e}")))?;
                Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES"))
            }
        }
    }
}

/// One artifact's fate.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactOutcome {
    pub bin: String,
    pub key: String,
    pub bytes: usize,
    pub sha256: String,
    /// `uploaded`, `unchanged` (the bucket already holds this key) or `not_uploaded`
    /// (`--change-set-only`).
    pub result: String,
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

/// One stack's fate.
#[derive(Debug, Clone, Serialize)]
pub struct StackOutcome {
    pub template: String,
    pub stack_name: String,
    pub account: String,
    pub region: String,
    /// `created`, `updated`, `up_to_date`, `change_set_created` (`--change-set-only`),
    /// `declined`, `failed`.
    pub result: String,
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

/// One StackSet's fate.
#[derive(Debug, Clone, Serialize)]
pub struct StackSetOutcome {
    pub template: String,
    pub stack_set_name: String,
    pub permission_model: String,
    /// `created`, `updated`, `up_to_date`, `planned` (`--change-set-only`), `declined`, `failed`.
    pub result: String,
    /// What was (or would be) done: `create stack set`, `update template`, `add instances …`.
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
    pub doctor: Option<crate::doctor::Report>,
    pub ok: bool,
}

impl Summary {
    /// One closing line: what changed, or that nothing had to.
    pub fn headline(&self) -> String {
        let results =
            self.stacks.iter().map(|s| s.result.as_str()).chain(self.stack_sets.iter().map(|s| s.result.as_str()));
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for r in results {
            *counts.entry(r).or_default() += 1;
        }
        let parts: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {}", r.replace('_', " "))).collect();
        let verdict = if !self.ok {
            "deploy failed"
        } else if self.change_set_only {
            "change sets ready for review"
        } else if counts.keys().all(|r| *r == "up_to_date") {
            "everything up to date"
        } else {
            "deploy done"
        };
        format!("{verdict}: {}", parts.join(", "))
    }

    fn failed(&self) -> bool {
        self.stacks.iter().any(|s| s.result == "failed") || self.stack_sets.iter().any(|s| s.result == "failed")
    }
}

/// AWS clients of one account and region.
pub(crate) struct Clients {
    pub region: String,
    pub config: aws_config::SdkConfig,
    pub cfn: aws_sdk_cloudformation::Client,
    pub s3: aws_sdk_s3::Client,
}

impl Clients {
    pub(crate) async fn new(conn: &Connection, region: &str) -> Clients {
        let config = conn.sdk_config(Some(region)).await;
        Clients {
            region: region.to_string(),
            cfn: aws_sdk_cloudformation::Client::new(&config),
            s3: crate::doctor::s3_client(&config, region),
            config,
        }
    }
}

/// The account the credentials belong to.
async fn caller_account(config: &aws_config::SdkConfig) -> Result<String, DeployError> {
    let sts = aws_sdk_sts::Client::new(config);
    match sts.get_caller_identity().send().await {
        Ok(out) => out.account().map(str::to_string).ok_or_else(|| DeployError::failed("STS returned no account")),
        Err(e) => {
            let detail = sdk_message(&e);
            Err(DeployError::failed(format!(
                "cannot tell which account the credentials belong to (sts:GetCallerIdentity): {detail}\n  hint: check --profile, AWS_PROFILE or the credentials in the environment"
            )))
        }
    }
}

/// The values of a template's parameters, resolved from their sources.
fn parameters(
    t: &PlannedTemplate,
    assets_bucket: &str,
    keys: &BTreeMap<String, String>,
    arch: Arch,
    outputs: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<Vec<(String, String)>, DeployError> {
    let mut out = Vec::new();
    for (name, source) in &t.parameters {
        let value = match source {
            ParamSource::AssetsBucket => assets_bucket.to_string(),
            ParamSource::Architecture => arch.lambda_name().to_string(),
            ParamSource::Artifact { bin } => keys
                .get(bin)
                .cloned()
                .ok_or_else(|| DeployError::failed(format!("{}: no artifact for {bin}", t.name)))?,
            ParamSource::StackOutput { template, output } => outputs
                .get(template)
                .and_then(|o| o.get(output))
                .cloned()
                .ok_or_else(|| {
                    DeployError::failed(format!(
                        "{}: parameter {name} needs the output {output} of the {template} stack, which that stack does not have",
                        t.name
                    ))
                })?,
        };
        out.push((name.clone(), value));
    }
    Ok(out)
}

/// Deploys a rendered plan. Returns the summary; the exit code follows `summary.ok`.
pub async fn deploy(
    spec: &Spec,
    plan: &Plan,
    files: &[OutputFile],
    conn: &Connection,
    opts: &Options,
    ui: &mut Ui<'_>,
) -> Result<Summary, DeployError> {
    let home_region = conn.region.clone().unwrap_or_else(|| spec.home.region.clone());
    if home_region != spec.home.region {
        return Err(DeployError::input(format!(
            "--region {home_region} is not the spec's home region {}: the central stack lives in the home region",
            spec.home.region
        )));
    }
    let home = Clients::new(conn, &home_region).await;
    let account = caller_account(&home.config).await?;
    if account != spec.home.account {
        return Err(DeployError::input(format!(
            "the credentials are for account {account}, but the spec's home account is {}\n  hint: choose the home account's credentials with --profile or AWS_PROFILE",
            spec.home.account
        )));
    }
    let mut summary = Summary {
        account: account.clone(),
        region: home_region.clone(),
        change_set_only: opts.change_set_only,
        ..Summary::default()
    };
    let names = crate::plan::Names::of(spec);
    let body = |t: &PlannedTemplate| -> Result<String, DeployError> {
        files
            .iter()
            .find(|f| f.name == t.file)
            .map(|f| String::from_utf8_lossy(&f.bytes).into_owned())
            .ok_or_else(|| DeployError::failed(format!("{} was not rendered", t.file)))
    };

    // The zips of the bins the templates name, before anything changes: a missing tool or
    // file stops the deploy here.
    let mut bins: Vec<String> = plan
        .templates
        .iter()
        .flat_map(|t| t.parameters.values())
        .filter_map(|p| match p {
            ParamSource::Artifact { bin } => Some(bin.clone()),
            _ => None,
        })
        .collect();
    bins.sort();
    bins.dedup();
    let zips = match (&opts.artifacts, bins.is_empty()) {
        (_, true) => vec![],
        (Some(dir), false) => artifacts::prebuilt(dir, &bins)?,
        (None, false) => {
            let source = artifacts::source_dir()?;
            artifacts::check_toolchain(opts.arch)?;
            ui.say(&format!(
                "building {} for {} with cargo-lambda (release; the first build takes several minutes)",
                bins.join(", "),
                opts.arch.lambda_name()
            ));
            artifacts::build(&source, &bins, opts.arch)?
        }
    };

    // 1. Bootstrap: the assets bucket everything else is uploaded to.
    let mut outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut bootstrapped = true;
    for t in plan.templates.iter().filter(|t| t.name == "bootstrap") {
        let outcome = stack::deploy(&home, t, &body(t)?, &[], &names.assets_bucket, opts, ui).await?;
        bootstrapped = matches!(outcome.result.as_str(), "created" | "updated" | "up_to_date");
        let failed = outcome.result == "failed";
        summary.stacks.push(outcome);
        if failed {
            summary.ok = false;
            return Ok(summary);
        }
    }
    if !bootstrapped && !opts.change_set_only {
        summary.ok = !summary.failed();
        return Ok(summary);
    }

    // 2. Artifacts: upload the zips the bucket does not hold yet.
    let mut keys = BTreeMap::new();
    {
        for zip in zips {
            let key = zip.key();
            let result = if opts.change_set_only && !bootstrapped {
                "not_uploaded".to_string()
            } else {
                stack::upload(&home.s3, &names.assets_bucket, &key, zip.bytes.clone()).await?
            };
            ui.say(&format!(
                "artifact {:<15} {} ({} bytes): {}",
                zip.bin,
                key,
                zip.bytes.len(),
                result.replace('_', " ")
            ));
            keys.insert(zip.bin.clone(), key.clone());
            summary.artifacts.push(ArtifactOutcome {
                bin: zip.bin,
                key,
                bytes: zip.bytes.len(),
                sha256: zip.sha256,
                result,
            });
        }
    }

    // 3. The templates, in plan order (a template's stack outputs feed later ones).
    for t in plan.templates.iter().filter(|t| t.name != "bootstrap") {
        let params = match parameters(t, &names.assets_bucket, &keys, opts.arch, &outputs) {
            Ok(p) => p,
            Err(e) if opts.change_set_only => {
                ui.say(&format!("{}: not planned: {}", t.name, e.message));
                continue;
            }
            Err(e) => return Err(e),
        };
        let text = body(t)?;
        match &t.target {
            Target::Stack { .. } => {
                let outcome = stack::deploy(&home, t, &text, &params, &names.assets_bucket, opts, ui).await?;
                let failed = outcome.result == "failed";
                if matches!(outcome.result.as_str(), "created" | "updated" | "up_to_date") {
                    outputs.insert(t.name.clone(), stack::outputs(&home.cfn, &outcome.stack_name).await?);
                }
                summary.stacks.push(outcome);
                if failed {
                    break;
                }
            }
            Target::StackSet { regions, also_as_stacks_in, .. } => {
                let outcome = stackset::deploy(&home, &account, t, &text, &params, opts, ui).await?;
                let failed = outcome.result == "failed";
                summary.stack_sets.push(outcome);
                if failed {
                    break;
                }
                // Accounts the StackSet cannot reach (the management account): plain stacks.
                for acct in also_as_stacks_in {
                    if *acct != account {
                        ui.say(&format!(
                            "{}: account {acct} needs plain stacks; run deploy again with its credentials",
                            t.name
                        ));
                        continue;
                    }
                    for region in regions {
                        let clients =
                            if *region == home_region { None } else { Some(Clients::new(conn, region).await) };
                        let target = PlannedTemplate {
                            target: Target::Stack {
                                stack_name: names.member_stack.clone(),
                                account: acct.clone(),
                                region: region.clone(),
                            },
                            ..t.clone()
                        };
                        let c = clients.as_ref().unwrap_or(&home);
                        let outcome = stack::deploy(c, &target, &text, &params, &names.assets_bucket, opts, ui).await?;
                        summary.stacks.push(outcome);
                    }
                }
            }
        }
    }
    summary.ok = !summary.failed();
    // Verify what was deployed: Glue tables vs the spec, prefixes, trail and recorders. Its
    // findings are shown, not fatal (a new lake has no logs yet).
    if summary.ok && !opts.change_set_only {
        let report = crate::doctor::doctor(spec, plan, &home.config, &crate::doctor::Options::default()).await;
        ui.say(&format!("\ndoctor:\n{}", report.text().trim_end()));
        summary.doctor = Some(report);
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(parameters: &[(&str, ParamSource)]) -> PlannedTemplate {
        PlannedTemplate {
            name: "member".into(),
            file: "member.yaml".into(),
            source: String::new(),
            description: String::new(),
            target: Target::Stack { stack_name: "s".into(), account: "1".into(), region: "r".into() },
            parameters: parameters.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            context: serde_json::Value::Null,
        }
    }

    #[test]
    fn parameters_come_from_their_sources() {
        let t = template(&[
            ("ArtifactBucket", ParamSource::AssetsBucket),
            ("FunctionArchitecture", ParamSource::Architecture),
            ("QueryFunctionKey", ParamSource::Artifact { bin: "query".into() }),
            ("LakeKeyArn", ParamSource::StackOutput { template: "central".into(), output: "LakeKeyArn".into() }),
        ]);
        let keys = BTreeMap::from([("query".to_string(), "artifacts/query/ab.zip".to_string())]);
        let mut outputs = BTreeMap::new();
        outputs.insert(
            "central".to_string(),
            BTreeMap::from([("LakeKeyArn".to_string(), "arn:aws:kms:r:1:key/k".to_string())]),
        );
        let got = parameters(&t, "assets", &keys, Arch::X86_64, &outputs).unwrap();
        assert_eq!(
            got,
            [
                ("ArtifactBucket".to_string(), "assets".to_string()),
                ("FunctionArchitecture".to_string(), "x86_64".to_string()),
                ("LakeKeyArn".to_string(), "arn:aws:kms:r:1:key/k".to_string()),
                ("QueryFunctionKey".to_string(), "artifacts/query/ab.zip".to_string()),
            ]
        );
        // A stack without the output is a clear error, naming both.
        let err = parameters(&t, "assets", &keys, Arch::Arm64, &BTreeMap::new()).unwrap_err();
        assert!(err.message.contains("LakeKeyArn of the central stack"), "{}", err.message);
    }
}
