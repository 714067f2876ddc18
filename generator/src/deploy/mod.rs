//! `opslake deploy` as a library: the only code that talks to CloudFormation.
//!
//! In order: check the credentials are the spec's home account; deploy the bootstrap stack
//! (the assets bucket); build or take the functions' zips and upload the ones the bucket does
//! not hold yet; then for each template of the plan create a change set, show its diff, execute
//! it on consent while following its events; for member templates create or update the
//! StackSet and its instances; then run doctor. Every step's outcome lands in a [`Summary`]; as
//! it goes, the deploy tells a [`Ui`] what happens ([`Event`]) and asks it before changing
//! anything. The words are the reporter's (`report::deploy`).

pub mod artifacts;
mod diff;
pub mod outcome;
mod stack;
mod stackset;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use jiff::civil::Date;
use opslake_runtime::aws::{sdk_message, Aws, Connection};
use opslake_runtime::backoff::Backoff;

pub use artifacts::Arch;
pub use outcome::*;

use crate::clients;
use crate::error::{Error, Result};
use crate::plan::{Names, ParamSource, Plan, PlannedTemplate, Target};
use crate::render::{OutputFile, MAX_TEMPLATE_BYTES_INLINE};
use crate::spec::model::Spec;

#[derive(Debug, Clone)]
pub struct Options {
    pub change_set_only: bool,
    pub artifacts: Option<PathBuf>,
    pub arch: Arch,
    /// How long one stack or StackSet operation may take.
    pub timeout: Duration,
    /// The pauses between status polls.
    pub poll: Backoff,
    /// For the doctor that runs after the deploy.
    pub today: Date,
    /// A named profile of the organization's management account (when it is not the home
    /// account): the organization trail's stack and the member stacks there are deployed with
    /// it; without it they are reported as needing its credentials.
    pub management_profile: Option<String>,
}

/// What a deploy tells the person watching it, as it happens.
#[derive(Debug)]
pub enum Event<'a> {
    /// The functions are being built with cargo-lambda.
    Building {
        bins: &'a [String],
        arch: Arch,
    },
    Artifact(&'a ArtifactOutcome),
    /// A stack's creation failed earlier (`ROLLBACK_COMPLETE`): it is deleted to start over.
    Restarting {
        stack: &'a str,
    },
    /// A change set with nothing to change.
    UpToDate {
        stack: &'a str,
        account: &'a str,
        region: &'a str,
    },
    /// CloudFormation refused the change set.
    Rejected {
        stack: &'a str,
        reason: &'a str,
    },
    /// The change set, as a diff.
    Diff {
        stack: &'a str,
        account: &'a str,
        region: &'a str,
        create: bool,
        changes: &'a [ResourceChange],
    },
    /// `--change-set-only`: the change set stays for review.
    Kept {
        change_set: &'a str,
    },
    /// The answer was no: the change set was deleted.
    Declined {
        stack: &'a str,
    },
    /// A stack event while the change set executes: `done` of `total` resources.
    Progress {
        stack: &'a str,
        done: usize,
        total: usize,
        elapsed: Duration,
        resource: &'a str,
        state: &'a str,
        reason: &'a str,
    },
    /// The stack reached `state`, as it should.
    Deployed {
        stack: &'a str,
        state: &'a str,
        create: bool,
        total: usize,
        elapsed: Duration,
    },
    /// The stack reached `state`, failing.
    StackFailed {
        stack: &'a str,
        state: &'a str,
        failure: &'a Failure,
    },
    /// What a StackSet needs (nothing: up to date).
    StackSetPlan {
        name: &'a str,
        account: &'a str,
        region: &'a str,
        permission_model: &'a str,
        actions: &'a [String],
    },
    /// A StackSet operation, while it runs and when it ends (`done`).
    Operation {
        name: &'a str,
        operation: &'a str,
        state: &'a str,
        elapsed: Duration,
        done: bool,
    },
    /// Every instance of a StackSet.
    Instances {
        name: &'a str,
        instances: &'a [InstanceOutcome],
    },
    StackSetFailed {
        name: &'a str,
        message: &'a str,
    },
    /// `--change-set-only`: a template whose parameters need a stack that does not exist yet.
    NotPlanned {
        template: &'a str,
        reason: &'a str,
    },
    /// An account the StackSet cannot reach, whose stacks need its own credentials.
    OtherAccount {
        template: &'a str,
        account: &'a str,
    },
    Doctor(&'a crate::doctor::Report),
}

/// Who watches a deploy: told what happens, asked before each change.
pub trait Ui {
    fn event(&mut self, e: Event<'_>);
    /// Asks before changing `what`; `Ok(false)` when the answer is no, `Err` when nobody can
    /// answer.
    fn confirm(&mut self, what: &str) -> Result<bool>;
}

/// The clients of one account and region.
#[derive(Clone)]
pub(crate) struct Clients {
    pub region: String,
    pub cfn: aws_sdk_cloudformation::Client,
    pub s3: aws_sdk_s3::Client,
}

impl Clients {
    pub(crate) fn new(aws: &Aws, region: &str) -> Clients {
        Clients { region: region.to_string(), cfn: clients::cloudformation(aws, region), s3: clients::s3(aws, region) }
    }
}

/// The account the credentials belong to.
async fn caller_account(aws: &Aws) -> Result<String> {
    match clients::sts(aws).get_caller_identity().send().await {
        Ok(out) => out.account().map(str::to_string).ok_or_else(|| Error::failed("STS returned no account")),
        Err(e) => Err(Error::failed(format!(
            "cannot tell which account the credentials belong to (sts:GetCallerIdentity): {}",
            sdk_message(&e)
        ))
        .hint("check --profile, AWS_PROFILE or the credentials in the environment")),
    }
}

/// The values of a template's parameters, resolved from their sources.
fn parameters(
    t: &PlannedTemplate,
    assets_bucket: &str,
    keys: &BTreeMap<String, (String, Option<String>)>,
    arch: Arch,
    outputs: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (name, source) in &t.parameters {
        let value = match source {
            ParamSource::AssetsBucket => assets_bucket.to_string(),
            ParamSource::Architecture => arch.lambda_name().to_string(),
            ParamSource::Artifact { bin } => keys
                .get(bin)
                .map(|(key, _)| key.clone())
                .ok_or_else(|| Error::failed(format!("{}: no artifact for {bin}", t.name)))?,
            // Empty (the latest) when the bucket keeps no versions.
            ParamSource::ArtifactVersion { bin } => keys
                .get(bin)
                .map(|(_, v)| v.clone().unwrap_or_default())
                .ok_or_else(|| Error::failed(format!("{}: no artifact for {bin}", t.name)))?,
            ParamSource::StackOutput { template, output } => {
                outputs.get(template).and_then(|o| o.get(output)).cloned().ok_or_else(|| {
                    Error::failed(format!(
                        "{}: parameter {name} needs the output {output} of the {template} stack, which that stack does not have",
                        t.name
                    ))
                })?
            }
        };
        out.push((name.clone(), value));
    }
    Ok(out)
}

/// What one deploy works with.
struct Run<'a> {
    spec: &'a Spec,
    plan: &'a Plan,
    files: &'a [OutputFile],
    opts: &'a Options,
    aws: Aws,
    home: Clients,
    names: Names,
    summary: Summary,
    /// Each deployed template's stack outputs (they feed later templates' parameters).
    outputs: BTreeMap<String, BTreeMap<String, String>>,
    /// bin → the artifact's S3 key and object version.
    keys: BTreeMap<String, (String, Option<String>)>,
    /// The management account and its credentials (`--management-profile`).
    management: Option<(String, Aws)>,
}

impl Run<'_> {
    fn body(&self, t: &PlannedTemplate) -> Result<String> {
        self.files
            .iter()
            .find(|f| f.name == t.file)
            .map(|f| String::from_utf8_lossy(&f.bytes).into_owned())
            .ok_or_else(|| Error::failed(format!("{} was not rendered", t.file)))
    }

    /// The bins the templates name, built (or taken from `--artifacts`) before anything
    /// changes: a missing tool or file stops the deploy here.
    fn artifacts(&self, ui: &mut dyn Ui) -> Result<Vec<artifacts::Artifact>> {
        let mut bins: Vec<String> = (self.plan.templates.iter().flat_map(|t| t.parameters.values()))
            .filter_map(|p| match p {
                ParamSource::Artifact { bin } => Some(bin.clone()),
                _ => None,
            })
            .collect();
        bins.sort();
        bins.dedup();
        match (&self.opts.artifacts, bins.is_empty()) {
            (_, true) => Ok(vec![]),
            (Some(dir), false) => artifacts::prebuilt(dir, &bins),
            (None, false) => {
                let source = artifacts::source_dir()?;
                artifacts::check_toolchain(self.opts.arch)?;
                ui.event(Event::Building { bins: &bins, arch: self.opts.arch });
                artifacts::build(&source, &bins, self.opts.arch)
            }
        }
    }

    /// The bootstrap stack; `Ok(false)` when the deploy cannot go on (failed or declined).
    async fn bootstrap(&mut self, ui: &mut dyn Ui) -> Result<bool> {
        let mut bootstrapped = true;
        for t in self.plan.templates.iter().filter(|t| t.name == "bootstrap") {
            let body = self.body(t)?;
            let outcome = stack::deploy(&self.home, t, &body, &[], &self.names.assets_bucket, self.opts, ui).await?;
            bootstrapped = outcome.result.is_deployed();
            let failed = outcome.result == StackResult::Failed;
            self.summary.stacks.push(outcome);
            if failed {
                return Ok(false);
            }
        }
        Ok(bootstrapped || self.opts.change_set_only)
    }

    /// Uploads the zips the bucket does not hold yet (not before the bucket exists).
    async fn upload(&mut self, zips: Vec<artifacts::Artifact>, bucket_exists: bool, ui: &mut dyn Ui) -> Result<()> {
        for zip in zips {
            let key = zip.key();
            let (result, version) = if bucket_exists {
                stack::upload(&self.home.s3, &self.names.assets_bucket, &key, zip.bytes.clone(), &zip.checksum())
                    .await?
            } else {
                (ArtifactResult::NotUploaded, None)
            };
            let outcome = ArtifactOutcome {
                bin: zip.bin.clone(),
                key: key.clone(),
                bytes: zip.bytes.len(),
                sha256: zip.sha256,
                result,
            };
            ui.event(Event::Artifact(&outcome));
            self.keys.insert(zip.bin, (key, version));
            self.summary.artifacts.push(outcome);
        }
        Ok(())
    }

    /// The templates after the bootstrap, in plan order; stops at the first failure.
    async fn templates(&mut self, ui: &mut dyn Ui) -> Result<()> {
        let (plan, opts) = (self.plan, self.opts);
        for t in plan.templates.iter().filter(|t| t.name != "bootstrap") {
            let params = match parameters(t, &self.names.assets_bucket, &self.keys, opts.arch, &self.outputs) {
                Ok(p) => p,
                Err(e) if opts.change_set_only => {
                    ui.event(Event::NotPlanned { template: &t.name, reason: &e.to_string() });
                    continue;
                }
                Err(e) => return Err(e),
            };
            let body = self.body(t)?;
            let ok = match &t.target {
                Target::Stack { account, region, .. } if *account != self.summary.account => {
                    match self.management.clone().filter(|(m, _)| m == account) {
                        Some((_, aws)) => {
                            let clients = Clients::new(&aws, region);
                            self.stack_with(&clients, t, &body, &params, ui).await?
                        }
                        None => {
                            ui.event(Event::OtherAccount { template: &t.name, account });
                            true
                        }
                    }
                }
                Target::Stack { .. } => {
                    let home = self.home.clone();
                    self.stack_with(&home, t, &body, &params, ui).await?
                }
                Target::StackSet { stack_set_name, regions, also_as_stacks_in, .. } => {
                    let outcome =
                        stackset::deploy(&self.home, &self.summary.account, t, &body, &params, opts, ui).await?;
                    let ok = outcome.result != StackResult::Failed;
                    self.summary.stack_sets.push(outcome);
                    let where_ = (stack_set_name.as_str(), &regions[..], &also_as_stacks_in[..]);
                    ok && self.plain_stacks(t, &body, &params, where_, ui).await?
                }
            };
            if !ok {
                break;
            }
        }
        Ok(())
    }

    /// One `Target::Stack` template with `clients` (its account's); `Ok(false)` when it failed.
    async fn stack_with(
        &mut self,
        clients: &Clients,
        t: &PlannedTemplate,
        body: &str,
        params: &[(String, String)],
        ui: &mut dyn Ui,
    ) -> Result<bool> {
        let outcome = stack::deploy(clients, t, body, params, &self.names.assets_bucket, self.opts, ui).await?;
        if outcome.result.is_deployed() {
            self.outputs.insert(t.name.clone(), stack::outputs(&clients.cfn, &outcome.stack_name).await?);
        }
        let ok = outcome.result != StackResult::Failed;
        self.summary.stacks.push(outcome);
        Ok(ok)
    }

    /// Accounts the StackSet cannot reach (the management account) get plain stacks, named as
    /// the StackSet — here when the credentials are theirs. `where_`: (the StackSet's name, its
    /// regions, those accounts).
    async fn plain_stacks(
        &mut self,
        t: &PlannedTemplate,
        body: &str,
        params: &[(String, String)],
        (stack_name, regions, accounts): (&str, &[String], &[String]),
        ui: &mut dyn Ui,
    ) -> Result<bool> {
        for account in accounts {
            let aws = if *account == self.summary.account {
                self.aws.clone()
            } else {
                match self.management.clone().filter(|(m, _)| m == account) {
                    Some((_, aws)) => aws,
                    None => {
                        ui.event(Event::OtherAccount { template: &t.name, account });
                        continue;
                    }
                }
            };
            let mine = *account == self.summary.account;
            for region in regions {
                let target = Target::Stack {
                    stack_name: stack_name.to_string(),
                    account: account.clone(),
                    region: region.clone(),
                };
                let planned = PlannedTemplate { target, ..t.clone() };
                let other = (!mine || *region != self.home.region).then(|| Clients::new(&aws, region));
                let clients = other.as_ref().unwrap_or(&self.home);
                let outcome =
                    stack::deploy(clients, &planned, body, params, &self.names.assets_bucket, self.opts, ui).await?;
                self.summary.stacks.push(outcome);
            }
        }
        Ok(true)
    }
}

/// The management account's credentials (`--management-profile`), checked to be that
/// account's; `None` without the flag, or when the home account is the management account.
async fn management(spec: &Spec, conn: &Connection, opts: &Options, region: &str) -> Result<Option<(String, Aws)>> {
    let Some(org) = spec.organization.as_ref().filter(|o| o.management(&spec.home) != spec.home.account) else {
        return Ok(None);
    };
    let Some(profile) = &opts.management_profile else { return Ok(None) };
    let wanted = org.management(&spec.home).to_string();
    let c = Connection { profile: Some(profile.clone()), region: Some(region.to_string()), ..conn.clone() };
    let aws = c.load(Some(region)).await;
    let account = caller_account(&aws).await?;
    if account != wanted {
        return Err(Error::bad_input(format!(
            "--management-profile {profile} is for account {account}, but the organization's management account is {wanted}"
        ))
        .hint("name the management account's profile"));
    }
    Ok(Some((account, aws)))
}

/// Deploys a rendered plan. Returns the summary; the exit code follows `summary.ok`.
pub async fn deploy(
    spec: &Spec,
    plan: &Plan,
    files: &[OutputFile],
    conn: &Connection,
    opts: &Options,
    ui: &mut dyn Ui,
) -> Result<Summary> {
    let region = conn.region.clone().unwrap_or_else(|| spec.home.region.clone());
    if region != spec.home.region {
        return Err(Error::bad_input(format!(
            "--region {region} is not the spec's home region {}: the central stack lives in the home region",
            spec.home.region
        )));
    }
    let aws = conn.load(Some(&region)).await;
    let account = caller_account(&aws).await?;
    if account != spec.home.account {
        return Err(Error::bad_input(format!(
            "the credentials are for account {account}, but the spec's home account is {}",
            spec.home.account
        ))
        .hint("choose the home account's credentials with --profile or AWS_PROFILE"));
    }
    let management = management(spec, conn, opts, &region).await?;
    let summary =
        Summary { account, region: region.clone(), change_set_only: opts.change_set_only, ..Summary::default() };
    let home = Clients::new(&aws, &region);
    let names = Names::of(spec);
    let mut run = Run {
        spec,
        plan,
        files,
        opts,
        aws,
        home,
        names,
        summary,
        outputs: BTreeMap::new(),
        keys: BTreeMap::new(),
        management,
    };
    let zips = run.artifacts(ui)?;
    if !run.bootstrap(ui).await? {
        run.summary.ok = !run.summary.failed();
        return Ok(run.summary);
    }
    let bucket_exists = run.summary.stacks.first().is_none_or(|s| s.result.is_deployed());
    run.upload(zips, bucket_exists, ui).await?;
    run.templates(ui).await?;
    run.summary.ok = !run.summary.failed();
    // Verify what was deployed: Glue tables vs the spec, prefixes, trail and recorders. Its
    // findings are shown, not fatal (a new lake has no logs yet).
    if run.summary.ok && !opts.change_set_only {
        let dopts = crate::doctor::Options { sample: crate::doctor::DEFAULT_SAMPLE, today: opts.today };
        let report = crate::doctor::doctor(run.spec, run.plan, &run.aws, &dopts).await;
        ui.event(Event::Doctor(&report));
        run.summary.doctor = Some(report);
    }
    Ok(run.summary)
}

/// CloudFormation takes a template body inline up to this size; larger ones go through S3.
pub const MAX_INLINE_TEMPLATE_BYTES: usize = MAX_TEMPLATE_BYTES_INLINE;

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
            ("QueryFunctionVersion", ParamSource::ArtifactVersion { bin: "query".into() }),
            ("LakeKeyArn", ParamSource::StackOutput { template: "central".into(), output: "LakeKeyArn".into() }),
        ]);
        let keys = BTreeMap::from([(
            "query".to_string(),
            ("artifacts/query/ab.zip".to_string(), Some("3HL4kqtJlcpXroDTDmJ".to_string())),
        )]);
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
                ("QueryFunctionVersion".to_string(), "3HL4kqtJlcpXroDTDmJ".to_string()),
            ]
        );
        // A stack without the output is a clear error, naming both.
        let err = parameters(&t, "assets", &keys, Arch::Arm64, &BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("LakeKeyArn of the central stack"), "{err}");
    }
}
