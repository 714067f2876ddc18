//! Member templates as a StackSet: create or update it, add the instances the spec asks for
//! (SERVICE_MANAGED: the organization's OUs; SELF_MANAGED: the account list), wait for each
//! operation, then report every instance's status and the reasons of the failed ones.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_cloudformation::types::{
    AutoDeployment, Capability, DeploymentTargets, Parameter, PermissionModels, RegionConcurrencyType,
    StackSetOperationPreferences,
};
use aws_sdk_cloudformation::Client;
use opslake_runtime::aws::sdk_message;

use super::{Clients, Event, InstanceOutcome, Options, StackResult, StackSetOutcome, Ui};
use crate::error::{Error, Result};
use crate::plan::{PlannedTemplate, Target};

/// A step whose failure is told in the StackSet's outcome (not an error of the deploy).
type Step<T> = std::result::Result<T, String>;

/// The role StackSets assume in the administrator account (SELF_MANAGED).
pub const ADMINISTRATION_ROLE: &str = "AWSCloudFormationStackSetAdministrationRole";
/// The role StackSets assume in each target account (SELF_MANAGED).
pub const EXECUTION_ROLE: &str = "AWSCloudFormationStackSetExecutionRole";

fn preferences() -> StackSetOperationPreferences {
    StackSetOperationPreferences::builder()
        .region_concurrency_type(RegionConcurrencyType::Parallel)
        .max_concurrent_percentage(100)
        .failure_tolerance_percentage(0)
        .build()
}

/// What exists now.
struct Current {
    template_body: Option<String>,
    parameters: BTreeMap<String, String>,
    /// (account, region, organizational unit)
    instances: Vec<(String, String, Option<String>)>,
    ous: BTreeSet<String>,
}

/// Every instance of the StackSet, all pages.
async fn list_instances(
    cfn: &Client,
    set: &Set<'_>,
) -> Result<Vec<aws_sdk_cloudformation::types::StackInstanceSummary>> {
    let name = set.name;
    let mut all = Vec::new();
    let mut token = None;
    loop {
        let out = cfn
            .list_stack_instances()
            .stack_set_name(name)
            .set_call_as(set.call_as.clone())
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| Error::failed(format!("{name}: cannot list its instances: {}", sdk_message(&e))))?;
        all.extend(out.summaries().iter().cloned());
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(all);
        }
    }
}

async fn current(cfn: &Client, of: &Set<'_>) -> Result<Option<Current>> {
    let name = of.name;
    let set = match cfn.describe_stack_set().stack_set_name(name).set_call_as(of.call_as.clone()).send().await {
        Ok(out) => match out.stack_set() {
            Some(s) if s.status().map(|v| v.as_str()) != Some("DELETED") => s.clone(),
            _ => return Ok(None),
        },
        Err(e) => {
            let text = sdk_message(&e);
            if text.contains("StackSetNotFound") || text.contains("not found") {
                return Ok(None);
            }
            return Err(Error::failed(format!("{name}: cannot describe the StackSet: {text}")));
        }
    };
    let instances: Vec<(String, String, Option<String>)> = list_instances(cfn, of)
        .await?
        .iter()
        .map(|i| {
            (
                i.account().unwrap_or_default().to_string(),
                i.region().unwrap_or_default().to_string(),
                i.organizational_unit_id().map(str::to_string),
            )
        })
        .collect();
    let mut ous: BTreeSet<String> = set.organizational_unit_ids().iter().cloned().collect();
    ous.extend(instances.iter().filter_map(|i| i.2.clone()));
    Ok(Some(Current {
        template_body: set.template_body().map(str::to_string),
        parameters: set
            .parameters()
            .iter()
            .filter_map(|p| Some((p.parameter_key()?.to_string(), p.parameter_value()?.to_string())))
            .collect(),
        instances,
        ous,
    }))
}

/// Waits for a StackSet operation; its final state and reason.
async fn wait_operation(
    cfn: &Client,
    set: &Set<'_>,
    operation: &str,
    opts: &Options,
    ui: &mut dyn Ui,
) -> Result<(String, Option<String>)> {
    let name = set.name;
    let mut pauses = opts.poll.pauses(opts.timeout);
    loop {
        let out = cfn
            .describe_stack_set_operation()
            .stack_set_name(name)
            .operation_id(operation)
            .set_call_as(set.call_as.clone())
            .send()
            .await
            .map_err(|e| Error::failed(format!("{name}: cannot follow operation {operation}: {}", sdk_message(&e))))?;
        let op = out.stack_set_operation();
        let state = op.and_then(|o| o.status()).map(|s| s.as_str().to_string()).unwrap_or_default();
        let reason = op.and_then(|o| o.status_reason()).map(str::to_string);
        let done = matches!(state.as_str(), "SUCCEEDED" | "FAILED" | "STOPPED");
        ui.event(Event::Operation { name, operation, state: &state, elapsed: pauses.elapsed(), done });
        if done {
            return Ok((state, reason));
        }
        pauses.wait().await.map_err(|waited| {
            Error::failed(format!("{name}: operation {operation} still {state} after {}s", waited.as_secs()))
        })?;
    }
}

/// The StackSet a member template becomes.
struct Set<'a> {
    name: &'a str,
    service_managed: bool,
    /// `DELEGATED_ADMIN` when the home account administers the organization's StackSets as its
    /// delegated administrator (the management account is another).
    call_as: Option<aws_sdk_cloudformation::types::CallAs>,
    /// OUs (SERVICE_MANAGED) or accounts (SELF_MANAGED).
    targets: &'a [String],
    regions: &'a [String],
}

impl Set<'_> {
    /// Whether `target` has its instance in `region` now.
    fn present(&self, c: &Current, target: &str, region: &str) -> bool {
        if !self.service_managed {
            return c.instances.iter().any(|i| i.0 == target && i.1 == region);
        }
        // An OU the StackSet targets: present in this region, or empty of accounts.
        let of_ou = |i: &&(String, String, Option<String>)| i.2.as_deref() == Some(target);
        if c.ous.is_empty() {
            // No OU information at all (CloudFormation gives it; some emulators do not): an
            // instance in the region is taken as the OU's.
            c.instances.iter().any(|i| i.1 == region)
        } else {
            c.ous.contains(target)
                && (c.instances.iter().filter(of_ou).any(|i| i.1 == region) || !c.instances.iter().any(|i| of_ou(&i)))
        }
    }

    /// The instances to add: targets grouped by the regions they lack (one operation each).
    fn missing(&self, now: Option<&Current>) -> BTreeMap<Vec<String>, Vec<String>> {
        let mut missing: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for target in self.targets {
            for region in self.regions {
                if !now.is_some_and(|c| self.present(c, target, region)) {
                    missing.entry(target.clone()).or_default().insert(region.clone());
                }
            }
        }
        let mut groups: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
        for (target, rs) in missing {
            groups.entry(rs.into_iter().collect()).or_default().push(target);
        }
        groups
    }
}

/// Creates the StackSet.
async fn create(
    cfn: &Client,
    set: &Set<'_>,
    t: &PlannedTemplate,
    body: &str,
    params: &[Parameter],
    admin: &str,
) -> Step<()> {
    let mut req = cfn
        .create_stack_set()
        .stack_set_name(set.name)
        .set_call_as(set.call_as.clone())
        .description(format!("opslake {}: {}", t.name, t.description))
        .template_body(body)
        .set_parameters(Some(params.to_vec()))
        .capabilities(Capability::CapabilityNamedIam);
    if set.service_managed {
        req = req
            .permission_model(PermissionModels::ServiceManaged)
            .auto_deployment(AutoDeployment::builder().enabled(true).retain_stacks_on_account_removal(false).build());
    } else {
        req = req
            .permission_model(PermissionModels::SelfManaged)
            .administration_role_arn(format!("arn:aws:iam::{admin}:role/{ADMINISTRATION_ROLE}"))
            .execution_role_name(EXECUTION_ROLE);
    }
    req.send().await.map(|_| ()).map_err(|e| format!("cannot create the StackSet: {}", sdk_message(&e)))
}

/// Updates the template and parameters on every instance; the operation's id, and its
/// failure if it ended otherwise than SUCCEEDED.
async fn update(
    cfn: &Client,
    set: &Set<'_>,
    body: &str,
    params: &[Parameter],
    opts: &Options,
    ui: &mut dyn Ui,
) -> Result<Step<(String, Option<String>)>> {
    let sent = cfn
        .update_stack_set()
        .stack_set_name(set.name)
        .set_call_as(set.call_as.clone())
        .template_body(body)
        .set_parameters(Some(params.to_vec()))
        .capabilities(Capability::CapabilityNamedIam)
        .operation_preferences(preferences())
        .send()
        .await;
    let op = match sent {
        Ok(out) => out.operation_id().unwrap_or_default().to_string(),
        Err(e) => return Ok(Err(format!("cannot update the StackSet: {}", sdk_message(&e)))),
    };
    follow(cfn, set, op, "the update", opts, ui).await
}

/// Adds the instances of `targets` in `regions`; like [`update`].
async fn add_instances(
    cfn: &Client,
    set: &Set<'_>,
    regions: &[String],
    targets: &[String],
    opts: &Options,
    ui: &mut dyn Ui,
) -> Result<Step<(String, Option<String>)>> {
    let req = cfn
        .create_stack_instances()
        .stack_set_name(set.name)
        .set_call_as(set.call_as.clone())
        .set_regions(Some(regions.to_vec()))
        .operation_preferences(preferences());
    let req = if set.service_managed {
        req.deployment_targets(DeploymentTargets::builder().set_organizational_unit_ids(Some(targets.to_vec())).build())
    } else {
        req.set_accounts(Some(targets.to_vec()))
    };
    let op = match req.send().await {
        Ok(out) => out.operation_id().unwrap_or_default().to_string(),
        Err(e) => return Ok(Err(format!("cannot add instances: {}", sdk_message(&e)))),
    };
    follow(cfn, set, op, "adding instances", opts, ui).await
}

/// Waits for operation `op` (`what` it does); its id, and its failure if it ended otherwise
/// than SUCCEEDED.
async fn follow(
    cfn: &Client,
    set: &Set<'_>,
    op: String,
    what: &str,
    opts: &Options,
    ui: &mut dyn Ui,
) -> Result<Step<(String, Option<String>)>> {
    let (state, reason) = wait_operation(cfn, set, &op, opts, ui).await?;
    let failure = (state != "SUCCEEDED").then(|| format!("{what} ended {state}: {}", reason.unwrap_or_default()));
    Ok(Ok((op, failure)))
}

/// Every instance's status, failed ones with their reasons.
async fn instances(cfn: &Client, set: &Set<'_>) -> Result<Vec<InstanceOutcome>> {
    let mut out: Vec<InstanceOutcome> = list_instances(cfn, set)
        .await?
        .iter()
        .map(|i| InstanceOutcome {
            account: i.account().unwrap_or_default().to_string(),
            region: i.region().unwrap_or_default().to_string(),
            status: i.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
            detailed_status: i
                .stack_instance_status()
                .and_then(|s| s.detailed_status())
                .map(|s| s.as_str().to_string()),
            reason: i.status_reason().filter(|r| !r.is_empty()).map(str::to_string),
        })
        .collect();
    out.sort_by(|a, b| (&a.account, &a.region).cmp(&(&b.account, &b.region)));
    Ok(out)
}

/// What a StackSet needs: to be created, its template updated, instances added.
struct Plan {
    create: bool,
    update: bool,
    /// regions → the targets that lack them.
    groups: BTreeMap<Vec<String>, Vec<String>>,
}

impl Plan {
    fn of(set: &Set<'_>, now: Option<&Current>, body: &str, params: &[(String, String)]) -> Plan {
        let wanted: BTreeMap<String, String> = params.iter().cloned().collect();
        let (create, update) = match now {
            None => (true, false),
            Some(c) => (false, c.template_body.as_deref() != Some(body) || c.parameters != wanted),
        };
        Plan { create, update, groups: set.missing(now) }
    }

    fn actions(&self, set: &Set<'_>, permission_model: &str) -> Vec<String> {
        let mut actions = Vec::new();
        if self.create {
            actions.push(format!("create StackSet {} ({permission_model})", set.name));
        }
        if self.update {
            actions.push("update its template and parameters on every instance".into());
        }
        let what = if set.service_managed { "OUs" } else { "accounts" };
        for (rs, ts) in &self.groups {
            actions.push(format!("add instances: {what} {} x regions {}", ts.join(", "), rs.join(", ")));
        }
        actions
    }
}

/// Carries out the plan; `Err` with the message of the step that could not be started.
#[allow(clippy::too_many_arguments)]
async fn apply(
    cfn: &Client,
    set: &Set<'_>,
    plan: &Plan,
    (t, body, params): (&PlannedTemplate, &str, &[(String, String)]),
    admin: &str,
    outcome: &mut StackSetOutcome,
    opts: &Options,
    ui: &mut dyn Ui,
) -> Result<Step<()>> {
    let cfn_params: Vec<Parameter> =
        params.iter().map(|(k, v)| Parameter::builder().parameter_key(k).parameter_value(v).build()).collect();
    if plan.create {
        if let Err(m) = create(cfn, set, t, body, &cfn_params, admin).await {
            return Ok(Err(m));
        }
    }
    let mut record = |step: Step<(String, Option<String>)>| -> Step<()> {
        let (op, failure) = step?;
        outcome.operations.push(op);
        if failure.is_some() {
            outcome.failure = failure;
        }
        Ok(())
    };
    if plan.update {
        if let Err(m) = record(update(cfn, set, body, &cfn_params, opts, ui).await?) {
            return Ok(Err(m));
        }
    }
    for (rs, ts) in &plan.groups {
        if let Err(m) = record(add_instances(cfn, set, rs, ts, opts, ui).await?) {
            return Ok(Err(m));
        }
    }
    Ok(Ok(()))
}

/// Creates or updates a `Target::StackSet` template and its instances.
pub(crate) async fn deploy(
    clients: &Clients,
    admin_account: &str,
    t: &PlannedTemplate,
    body: &str,
    params: &[(String, String)],
    opts: &Options,
    ui: &mut dyn Ui,
) -> Result<StackSetOutcome> {
    let Target::StackSet {
        stack_set_name: name,
        permission_model,
        organizational_units,
        accounts,
        regions,
        delegated_admin,
        ..
    } = &t.target
    else {
        return Err(Error::failed(format!("{} is not a StackSet", t.name)));
    };
    if body.len() > super::MAX_INLINE_TEMPLATE_BYTES {
        return Err(Error::failed(format!("{}: a StackSet template over 51,200 bytes is not supported", t.name)));
    }
    let service_managed = permission_model == "SERVICE_MANAGED";
    let set = Set {
        name,
        service_managed,
        call_as: delegated_admin.then_some(aws_sdk_cloudformation::types::CallAs::DelegatedAdmin),
        targets: if service_managed { organizational_units } else { accounts },
        regions,
    };
    let cfn = &clients.cfn;
    let plan = Plan::of(&set, current(cfn, &set).await?.as_ref(), body, params);
    let mut outcome = StackSetOutcome {
        template: t.name.clone(),
        stack_set_name: name.clone(),
        permission_model: permission_model.clone(),
        result: StackResult::UpToDate,
        actions: plan.actions(&set, permission_model),
        operations: vec![],
        instances: vec![],
        failure: None,
    };
    let (account, region) = (admin_account, clients.region.as_str());
    ui.event(Event::StackSetPlan { name, account, region, permission_model, actions: &outcome.actions });
    if !outcome.actions.is_empty() {
        if opts.change_set_only {
            outcome.result = StackResult::Planned;
            return Ok(outcome);
        }
        if !ui.confirm(&format!("StackSet {name}"))? {
            outcome.result = StackResult::Declined;
            return Ok(outcome);
        }
        if let Err(m) = apply(cfn, &set, &plan, (t, body, params), admin_account, &mut outcome, opts, ui).await? {
            return Ok(fail(outcome, m, ui));
        }
        outcome.result = if plan.create { StackResult::Created } else { StackResult::Updated };
    }
    outcome.instances = instances(cfn, &set).await?;
    ui.event(Event::Instances { name, instances: &outcome.instances });
    let failed = outcome.instances.iter().filter(|i| i.failed()).count();
    if failed > 0 && outcome.failure.is_none() {
        outcome.failure = Some(format!("{failed} instance(s) failed"));
    }
    match outcome.failure.clone() {
        Some(f) => Ok(fail(outcome, f, ui)),
        None => Ok(outcome),
    }
}

fn fail(mut outcome: StackSetOutcome, message: String, ui: &mut dyn Ui) -> StackSetOutcome {
    ui.event(Event::StackSetFailed { name: &outcome.stack_set_name, message: &message });
    outcome.failure = Some(message);
    outcome.result = StackResult::Failed;
    outcome
}
