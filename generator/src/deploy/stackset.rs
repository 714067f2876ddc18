//! Member templates as a StackSet: create or update it, add the instances the spec asks for
//! (SERVICE_MANAGED: the organization's OUs; SELF_MANAGED: the account list), wait for each
//! operation, then report every instance's status and the reasons of the failed ones.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::types::{
    AutoDeployment, Capability, DeploymentTargets, Parameter, PermissionModels, RegionConcurrencyType,
    StackSetOperationPreferences,
};
use aws_sdk_cloudformation::Client;

use super::{sdk_message, Clients, DeployError, InstanceOutcome, Options, StackSetOutcome, Ui};
use crate::plan::{PlannedTemplate, Target};

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
    name: &str,
) -> Result<Vec<aws_sdk_cloudformation::types::StackInstanceSummary>, DeployError> {
    let mut all = Vec::new();
    let mut token = None;
    loop {
        let out = cfn
            .list_stack_instances()
            .stack_set_name(name)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| DeployError::failed(format!("{name}: cannot list its instances: {}", sdk_message(&e))))?;
        all.extend(out.summaries().iter().cloned());
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(all);
        }
    }
}

async fn current(cfn: &Client, name: &str) -> Result<Option<Current>, DeployError> {
    let set = match cfn.describe_stack_set().stack_set_name(name).send().await {
        Ok(out) => match out.stack_set() {
            Some(s) if s.status().map(|v| v.as_str()) != Some("DELETED") => s.clone(),
            _ => return Ok(None),
        },
        Err(e) => {
            let text = sdk_message(&e);
            if text.contains("StackSetNotFound") || text.contains("not found") {
                return Ok(None);
            }
            return Err(DeployError::failed(format!("{name}: cannot describe the StackSet: {text}")));
        }
    };
    let instances: Vec<(String, String, Option<String>)> = list_instances(cfn, name)
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

async fn wait_operation(
    cfn: &Client,
    name: &str,
    operation: &str,
    opts: &Options,
    ui: &mut Ui<'_>,
) -> Result<(String, Option<String>), DeployError> {
    let started = Instant::now();
    let mut wait = opts.poll.0;
    loop {
        let out =
            cfn.describe_stack_set_operation().stack_set_name(name).operation_id(operation).send().await.map_err(
                |e| DeployError::failed(format!("{name}: cannot follow operation {operation}: {}", sdk_message(&e))),
            )?;
        let op = out.stack_set_operation();
        let state = op.and_then(|o| o.status()).map(|s| s.as_str().to_string()).unwrap_or_default();
        let reason = op.and_then(|o| o.status_reason()).map(str::to_string);
        ui.progress(&format!("{name}: operation {operation} {state} {:>4}s", started.elapsed().as_secs()), false);
        if matches!(state.as_str(), "SUCCEEDED" | "FAILED" | "STOPPED") {
            ui.progress(&format!("{name}: operation {operation} {state}"), true);
            return Ok((state, reason));
        }
        if started.elapsed() > opts.timeout {
            return Err(DeployError::failed(format!(
                "{name}: operation {operation} still {state} after {}s",
                opts.timeout.as_secs()
            )));
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(opts.poll.1).max(Duration::from_millis(1));
    }
}

/// Creates or updates a `Target::StackSet` template and its instances.
pub(crate) async fn deploy(
    clients: &Clients,
    admin_account: &str,
    t: &PlannedTemplate,
    body: &str,
    params: &[(String, String)],
    opts: &Options,
    ui: &mut Ui<'_>,
) -> Result<StackSetOutcome, DeployError> {
    let Target::StackSet { stack_set_name: name, permission_model, organizational_units, accounts, regions, .. } =
        &t.target
    else {
        return Err(DeployError::failed(format!("{} is not a StackSet", t.name)));
    };
    let cfn = &clients.cfn;
    let service_managed = permission_model == "SERVICE_MANAGED";
    let mut outcome = StackSetOutcome {
        template: t.name.clone(),
        stack_set_name: name.clone(),
        permission_model: permission_model.clone(),
        result: String::new(),
        actions: vec![],
        operations: vec![],
        instances: vec![],
        failure: None,
    };
    if body.len() > super::MAX_INLINE_TEMPLATE_BYTES {
        return Err(DeployError::failed(format!("{}: a StackSet template over 51,200 bytes is not supported", t.name)));
    }
    let wanted: BTreeMap<String, String> = params.iter().cloned().collect();
    let now = current(cfn, name).await?;

    // What to do: the StackSet itself, then the instances it lacks (per target, the regions).
    let mut missing: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let targets: &[String] = if service_managed { organizational_units } else { accounts };
    for target in targets {
        for region in regions {
            let present = now.as_ref().is_some_and(|c| {
                if service_managed {
                    // An OU the StackSet targets: present in this region, or empty of accounts.
                    let of_ou = |i: &&(String, String, Option<String>)| i.2.as_deref() == Some(target.as_str());
                    if c.ous.is_empty() {
                        // No OU information at all (CloudFormation gives it; some emulators
                        // do not): an instance in the region is taken as the OU's.
                        c.instances.iter().any(|i| &i.1 == region)
                    } else {
                        c.ous.contains(target)
                            && (c.instances.iter().filter(of_ou).any(|i| &i.1 == region)
                                || !c.instances.iter().any(|i| of_ou(&i)))
                    }
                } else {
                    c.instances.iter().any(|i| &i.0 == target && &i.1 == region)
                }
            });
            if !present {
                missing.entry(target.clone()).or_default().insert(region.clone());
            }
        }
    }
    let (create, update) = match &now {
        None => (true, false),
        Some(c) => (false, c.template_body.as_deref() != Some(body) || c.parameters != wanted),
    };
    if create {
        outcome.actions.push(format!("create StackSet {name} ({permission_model})"));
    }
    if update {
        outcome.actions.push("update its template and parameters on every instance".into());
    }
    // Group the targets that lack the same regions into one operation each.
    let mut groups: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
    for (target, rs) in &missing {
        groups.entry(rs.iter().cloned().collect()).or_default().push(target.clone());
    }
    for (rs, ts) in &groups {
        outcome.actions.push(format!(
            "add instances: {} {} x regions {}",
            if service_managed { "OUs" } else { "accounts" },
            ts.join(", "),
            rs.join(", ")
        ));
    }

    let header = format!("StackSet {name} ({admin_account} {}, {permission_model})", clients.region);
    if outcome.actions.is_empty() {
        ui.say(&format!("{header}: up to date"));
        outcome.result = "up_to_date".into();
    } else {
        ui.say(&format!(
            "{header}:\n{}",
            outcome.actions.iter().map(|a| format!("  * {a}")).collect::<Vec<_>>().join("\n")
        ));
        if opts.change_set_only {
            outcome.result = "planned".into();
            return Ok(outcome);
        }
        if !ui.confirm(&format!("StackSet {name}"))? {
            outcome.result = "declined".into();
            return Ok(outcome);
        }
        let cfn_params: Vec<Parameter> =
            params.iter().map(|(k, v)| Parameter::builder().parameter_key(k).parameter_value(v).build()).collect();
        if create {
            let mut req = cfn
                .create_stack_set()
                .stack_set_name(name)
                .description(format!("opslake {}: {}", t.name, t.description))
                .template_body(body)
                .set_parameters(Some(cfn_params.clone()))
                .capabilities(Capability::CapabilityNamedIam);
            if service_managed {
                req = req.permission_model(PermissionModels::ServiceManaged).auto_deployment(
                    AutoDeployment::builder().enabled(true).retain_stacks_on_account_removal(false).build(),
                );
            } else {
                req = req
                    .permission_model(PermissionModels::SelfManaged)
                    .administration_role_arn(format!("arn:aws:iam::{admin_account}:role/{ADMINISTRATION_ROLE}"))
                    .execution_role_name(EXECUTION_ROLE);
            }
            if let Err(e) = req.send().await {
                return Ok(fail(outcome, format!("cannot create the StackSet: {}", sdk_message(&e)), ui));
            }
        }
        if update {
            let sent = cfn
                .update_stack_set()
                .stack_set_name(name)
                .template_body(body)
                .set_parameters(Some(cfn_params))
                .capabilities(Capability::CapabilityNamedIam)
                .operation_preferences(preferences())
                .send()
                .await;
            match sent {
                Ok(out) => {
                    let op = out.operation_id().unwrap_or_default().to_string();
                    outcome.operations.push(op.clone());
                    let (state, reason) = wait_operation(cfn, name, &op, opts, ui).await?;
                    if state != "SUCCEEDED" {
                        let why = format!("the update ended {state}: {}", reason.unwrap_or_default());
                        outcome.failure = Some(why);
                    }
                }
                Err(e) => return Ok(fail(outcome, format!("cannot update the StackSet: {}", sdk_message(&e)), ui)),
            }
        }
        for (rs, ts) in &groups {
            let mut req = cfn
                .create_stack_instances()
                .stack_set_name(name)
                .set_regions(Some(rs.clone()))
                .operation_preferences(preferences());
            req = if service_managed {
                req.deployment_targets(
                    DeploymentTargets::builder().set_organizational_unit_ids(Some(ts.clone())).build(),
                )
            } else {
                req.set_accounts(Some(ts.clone()))
            };
            match req.send().await {
                Ok(out) => {
                    let op = out.operation_id().unwrap_or_default().to_string();
                    outcome.operations.push(op.clone());
                    let (state, reason) = wait_operation(cfn, name, &op, opts, ui).await?;
                    if state != "SUCCEEDED" {
                        outcome.failure =
                            Some(format!("adding instances ended {state}: {}", reason.unwrap_or_default()));
                    }
                }
                Err(e) => return Ok(fail(outcome, format!("cannot add instances: {}", sdk_message(&e)), ui)),
            }
        }
    }

    // Every instance's status, failed ones with their reasons.
    for i in list_instances(cfn, name).await? {
        outcome.instances.push(InstanceOutcome {
            account: i.account().unwrap_or_default().to_string(),
            region: i.region().unwrap_or_default().to_string(),
            status: i.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
            detailed_status: i
                .stack_instance_status()
                .and_then(|s| s.detailed_status())
                .map(|s| s.as_str().to_string()),
            reason: i.status_reason().filter(|r| !r.is_empty()).map(str::to_string),
        });
    }
    outcome.instances.sort_by(|a, b| (&a.account, &a.region).cmp(&(&b.account, &b.region)));
    let failed: Vec<&InstanceOutcome> = outcome
        .instances
        .iter()
        .filter(|i| i.status == "INOPERABLE" || i.detailed_status.as_deref() == Some("FAILED"))
        .collect();
    let mut lines = vec![format!("StackSet {name}: {} instance(s)", outcome.instances.len())];
    for i in &outcome.instances {
        lines.push(format!(
            "  {} {:<14} {}{}{}",
            i.account,
            i.region,
            i.status,
            i.detailed_status.as_ref().map(|d| format!(" ({d})")).unwrap_or_default(),
            i.reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default()
        ));
    }
    ui.say(&lines.join("\n"));
    if !failed.is_empty() && outcome.failure.is_none() {
        outcome.failure = Some(format!("{} instance(s) failed", failed.len()));
    }
    if let Some(f) = &outcome.failure {
        ui.say(&format!("StackSet {name}: {f}"));
        outcome.result = "failed".into();
    } else if outcome.result.is_empty() {
        outcome.result = if create { "created" } else { "updated" }.into();
    }
    Ok(outcome)
}

fn fail(mut outcome: StackSetOutcome, message: String, ui: &mut Ui<'_>) -> StackSetOutcome {
    ui.say(&format!("StackSet {}: {message}", outcome.stack_set_name));
    outcome.failure = Some(message);
    outcome.result = "failed".into();
    outcome
}
