//! One stack through a change set: create it, wait, print the diff, execute on consent,
//! stream the stack's events with a progress line, and report where it ended.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::types::{Capability, ChangeSetType, Parameter, Tag, TemplateStage};
use aws_sdk_cloudformation::Client;
use sha2::{Digest, Sha256};

use super::{diff, sdk_message, Clients, DeployError, Failure, Options, StackOutcome, Ui};
use crate::plan::{PlannedTemplate, Target};

/// What CloudFormation says when a change set would change nothing.
fn is_no_change(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

/// Uploads `bytes` to `s3://bucket/key` unless the bucket already holds the key (keys are
/// content hashes). Returns `uploaded` or `unchanged`.
pub(crate) async fn upload(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    bytes: Vec<u8>,
) -> Result<String, DeployError> {
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => return Ok("unchanged".into()),
        Err(e) => {
            let missing = e.as_service_error().map(|se| se.is_not_found()).unwrap_or(false)
                || e.raw_response().map(|r| r.status().as_u16() == 404).unwrap_or(false);
            if !missing {
                return Err(DeployError::failed(format!(
                    "s3://{bucket}/{key}: cannot check for it: {}",
                    sdk_message(&e)
                )));
            }
        }
    }
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(bytes.into())
        .send()
        .await
        .map_err(|e| DeployError::failed(format!("s3://{bucket}/{key}: upload failed: {}", sdk_message(&e))))?;
    Ok("uploaded".into())
}

/// The stack's status, `None` when it does not exist.
async fn status(cfn: &Client, name: &str) -> Result<Option<(String, Option<String>)>, DeployError> {
    match cfn.describe_stacks().stack_name(name).send().await {
        Ok(out) => Ok(out.stacks().first().map(|s| {
            (
                s.stack_status().map(|v| v.as_str().to_string()).unwrap_or_default(),
                s.stack_status_reason().map(str::to_string),
            )
        })),
        Err(e) => {
            let text = sdk_message(&e);
            if text.contains("does not exist") {
                Ok(None)
            } else {
                Err(DeployError::failed(format!("{name}: cannot describe the stack: {text}")))
            }
        }
    }
}

/// The stack's outputs.
pub(crate) async fn outputs(cfn: &Client, name: &str) -> Result<BTreeMap<String, String>, DeployError> {
    let out = cfn
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
        .map_err(|e| DeployError::failed(format!("{name}: cannot read its outputs: {}", sdk_message(&e))))?;
    Ok(out
        .stacks()
        .first()
        .map(|s| {
            s.outputs()
                .iter()
                .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
                .collect()
        })
        .unwrap_or_default())
}

/// Waits with a growing pause, up to the options' largest.
async fn pause(wait: &mut Duration, opts: &Options) {
    tokio::time::sleep(*wait).await;
    *wait = (*wait * 2).min(opts.poll.1);
}

/// Where the template goes: inline, or uploaded to the assets bucket and passed by URL.
async fn template_source(
    clients: &Clients,
    t: &PlannedTemplate,
    body: &str,
    bucket: &str,
) -> Result<(Option<String>, Option<String>), DeployError> {
    if body.len() <= super::MAX_INLINE_TEMPLATE_BYTES {
        return Ok((Some(body.to_string()), None));
    }
    let sha: String = Sha256::digest(body.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    let key = format!("templates/{}/{sha}.yaml", t.name);
    upload(&clients.s3, bucket, &key, body.as_bytes().to_vec()).await?;
    Ok((None, Some(format!("https://{bucket}.s3.{}.amazonaws.com/{key}", clients.region))))
}

/// Deploys one `Target::Stack` template through a change set.
pub(crate) async fn deploy(
    clients: &Clients,
    t: &PlannedTemplate,
    body: &str,
    params: &[(String, String)],
    assets_bucket: &str,
    opts: &Options,
    ui: &mut Ui<'_>,
) -> Result<StackOutcome, DeployError> {
    let Target::Stack { stack_name, account, region } = &t.target else {
        return Err(DeployError::failed(format!("{} is not a stack", t.name)));
    };
    let cfn = &clients.cfn;
    let mut outcome = StackOutcome {
        template: t.name.clone(),
        stack_name: stack_name.clone(),
        account: account.clone(),
        region: region.clone(),
        result: String::new(),
        change_set: None,
        changes: vec![],
        status: None,
        failure: None,
    };
    let current = status(cfn, stack_name).await?;
    let change_type = match current.as_ref().map(|(s, _)| s.as_str()) {
        None | Some("REVIEW_IN_PROGRESS") => ChangeSetType::Create,
        Some("ROLLBACK_COMPLETE") => {
            // A stack whose creation failed holds nothing and cannot be updated: start over.
            ui.say(&format!(
                "{stack_name}: its creation failed earlier (ROLLBACK_COMPLETE); deleting it to start over"
            ));
            cfn.delete_stack()
                .stack_name(stack_name)
                .send()
                .await
                .map_err(|e| DeployError::failed(format!("{stack_name}: cannot delete it: {}", sdk_message(&e))))?;
            let started = Instant::now();
            let mut wait = opts.poll.0;
            while let Some((s, _)) = status(cfn, stack_name).await? {
                if s == "DELETE_COMPLETE" {
                    break;
                }
                if s == "DELETE_FAILED" || started.elapsed() > opts.timeout {
                    return Err(DeployError::failed(format!("{stack_name}: could not delete it ({s})")));
                }
                pause(&mut wait, opts).await;
            }
            ChangeSetType::Create
        }
        Some(s) if s.ends_with("_IN_PROGRESS") => {
            return Err(DeployError::failed(format!(
                "{stack_name} is busy ({s}); wait for the running operation to end and deploy again"
            )))
        }
        Some(_) => ChangeSetType::Update,
    };
    let previous = if change_type == ChangeSetType::Update {
        cfn.get_template()
            .stack_name(stack_name)
            .template_stage(TemplateStage::Original)
            .send()
            .await
            .ok()
            .and_then(|o| o.template_body().map(str::to_string))
    } else {
        None
    };

    let (inline, url) = template_source(clients, t, body, assets_bucket).await?;
    let name = format!("opslake-{}", jiff::Timestamp::now().as_millisecond());
    let created = cfn
        .create_change_set()
        .stack_name(stack_name)
        .change_set_name(&name)
        .change_set_type(change_type.clone())
        .set_template_body(inline)
        .set_template_url(url)
        .set_parameters(Some(
            params.iter().map(|(k, v)| Parameter::builder().parameter_key(k).parameter_value(v).build()).collect(),
        ))
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam)
        .description(concat!("opslake ", env!("CARGO_PKG_VERSION")))
        .tags(Tag::builder().key("opslake:template").value(&t.name).build())
        .send()
        .await;
    let (id, stack_id) = match created {
        Ok(out) => (out.id().unwrap_or(&name).to_string(), out.stack_id().unwrap_or(stack_name).to_string()),
        Err(e) => {
            let reason = sdk_message(&e);
            if is_no_change(&reason) {
                ui.say(&format!("{stack_name} ({account} {region}): up to date"));
                outcome.result = "up_to_date".into();
                outcome.status = current.map(|c| c.0);
                return Ok(outcome);
            }
            ui.say(&format!("{stack_name}: CloudFormation rejected the change set: {reason}"));
            outcome.result = "failed".into();
            outcome.failure =
                Some(Failure { logical_id: None, resource_type: None, reason, stack_status: current.map(|c| c.0) });
            return Ok(outcome);
        }
    };
    outcome.change_set = Some(id.clone());

    // Wait for the change set, then read all of its changes.
    let started = Instant::now();
    let mut wait = opts.poll.0;
    let changes = loop {
        let mut token = None;
        let mut page_changes = Vec::new();
        let (state, reason) = loop {
            let out = cfn
                .describe_change_set()
                .change_set_name(&id)
                .stack_name(stack_name)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| {
                    DeployError::failed(format!("{stack_name}: cannot describe the change set: {}", sdk_message(&e)))
                })?;
            page_changes.extend(out.changes().iter().filter_map(|c| c.resource_change().cloned()));
            let state = out.status().map(|s| s.as_str().to_string()).unwrap_or_default();
            let reason = out.status_reason().unwrap_or_default().to_string();
            token = out.next_token().map(str::to_string);
            if token.is_none() || state != "CREATE_COMPLETE" {
                break (state, reason);
            }
        };
        match state.as_str() {
            "CREATE_COMPLETE" => break page_changes,
            "FAILED" if is_no_change(&reason) => {
                let _ = cfn.delete_change_set().change_set_name(&id).stack_name(stack_name).send().await;
                ui.say(&format!("{stack_name} ({account} {region}): up to date"));
                outcome.result = "up_to_date".into();
                outcome.change_set = None;
                outcome.status = current.map(|c| c.0);
                return Ok(outcome);
            }
            "FAILED" => {
                ui.say(&format!("{stack_name}: CloudFormation rejected the change set: {reason}"));
                outcome.result = "failed".into();
                outcome.failure =
                    Some(Failure { logical_id: None, resource_type: None, reason, stack_status: current.map(|c| c.0) });
                return Ok(outcome);
            }
            _ if started.elapsed() > opts.timeout => {
                return Err(DeployError::failed(format!(
                    "{stack_name}: the change set is still {state} after {}s",
                    opts.timeout.as_secs()
                )))
            }
            _ => pause(&mut wait, opts).await,
        }
    };
    outcome.changes = diff::resource_changes(&changes, previous.as_deref(), body);
    ui.say(&diff::render(stack_name, account, region, change_type == ChangeSetType::Create, &outcome.changes));

    if opts.change_set_only {
        ui.say(&format!(
            "change set kept for review: {id}\n  execute it with `opslake deploy --yes`, or `aws cloudformation execute-change-set --change-set-name {id}`"
        ));
        outcome.result = "change_set_created".into();
        return Ok(outcome);
    }
    let consent = ui.confirm(stack_name);
    if consent.is_err() {
        let _ = cfn.delete_change_set().change_set_name(&id).stack_name(stack_name).send().await;
    }
    if !consent? {
        let _ = cfn.delete_change_set().change_set_name(&id).stack_name(stack_name).send().await;
        ui.say(&format!("{stack_name}: not deployed (the change set was deleted)"));
        outcome.result = "declined".into();
        return Ok(outcome);
    }
    execute(cfn, &id, &stack_id, change_type == ChangeSetType::Create, &mut outcome, opts, ui).await?;
    Ok(outcome)
}

/// Executes the change set and follows the stack to a final state.
async fn execute(
    cfn: &Client,
    id: &str,
    stack_id: &str,
    create: bool,
    outcome: &mut StackOutcome,
    opts: &Options,
    ui: &mut Ui<'_>,
) -> Result<(), DeployError> {
    // Followed by id: the stack this change set belongs to, whatever else carries its name.
    let stack_name = outcome.stack_name.clone();
    let stack_ref = stack_id.to_string();
    // Events up to the newest one now belong to earlier operations.
    let marker = cfn
        .describe_stack_events()
        .stack_name(&stack_ref)
        .send()
        .await
        .ok()
        .and_then(|o| o.stack_events().first().and_then(|e| e.event_id().map(str::to_string)));
    if let Err(e) = cfn.execute_change_set().change_set_name(id).stack_name(&stack_ref).send().await {
        let reason = sdk_message(&e);
        ui.say(&format!("{stack_name}: CloudFormation rejected the change set: {reason}"));
        outcome.result = "failed".into();
        outcome.status = status(cfn, &stack_ref).await.ok().flatten().map(|s| s.0);
        outcome.failure =
            Some(Failure { logical_id: None, resource_type: None, reason, stack_status: outcome.status.clone() });
        return Ok(());
    }
    let total = outcome.changes.len();
    let started = Instant::now();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut first_failure: Option<Failure> = None;
    let mut wait = opts.poll.0;
    loop {
        // New events, oldest first.
        let mut fresh = Vec::new();
        let mut token = None;
        'pages: loop {
            let out =
                cfn.describe_stack_events().stack_name(&stack_ref).set_next_token(token.clone()).send().await.map_err(
                    |e| DeployError::failed(format!("{stack_name}: cannot read its events: {}", sdk_message(&e))),
                )?;
            for ev in out.stack_events() {
                let id = ev.event_id().unwrap_or_default().to_string();
                if marker.as_deref() == Some(id.as_str()) || seen.contains(&id) {
                    break 'pages;
                }
                fresh.push(ev.clone());
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        fresh.reverse();
        for ev in &fresh {
            seen.insert(ev.event_id().unwrap_or_default().to_string());
            let logical = ev.logical_resource_id().unwrap_or_default().to_string();
            let state = ev.resource_status().map(|s| s.as_str().to_string()).unwrap_or_default();
            let reason = ev.resource_status_reason().unwrap_or_default().to_string();
            let is_stack = logical == stack_name || ev.resource_type() == Some("AWS::CloudFormation::Stack");
            if !is_stack && (state.ends_with("_COMPLETE") || state.ends_with("_FAILED") || state.ends_with("_SKIPPED"))
            {
                done.insert(logical.clone());
            }
            if state.ends_with("_FAILED") && first_failure.is_none() && !reason.contains("cancelled") {
                first_failure = Some(Failure {
                    logical_id: Some(logical.clone()),
                    resource_type: ev.resource_type().map(str::to_string),
                    reason: reason.clone(),
                    stack_status: None,
                });
            }
            let bar = diff::bar(done.len().min(total), total);
            let line = format!(
                "{bar} {}/{} {:>4}s  {logical} {state}{}",
                done.len().min(total),
                total,
                started.elapsed().as_secs(),
                if reason.is_empty() { String::new() } else { format!(" ({reason})") }
            );
            ui.progress(&line, false);
        }
        let (state, reason) = status(cfn, &stack_ref).await?.unwrap_or_else(|| ("DELETE_COMPLETE".into(), None));
        let finished = !state.ends_with("_IN_PROGRESS");
        if finished {
            let ok = matches!(state.as_str(), "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "IMPORT_COMPLETE");
            outcome.status = Some(state.clone());
            let elapsed = started.elapsed().as_secs();
            if ok {
                ui.progress(
                    &format!("{} {total}/{total} {elapsed:>4}s  {stack_name} {state}", diff::bar(total, total)),
                    true,
                );
                ui.say(&format!(
                    "{stack_name}: {} ({total} change{} in {elapsed}s)",
                    if create { "created" } else { "updated" },
                    if total == 1 { "" } else { "s" }
                ));
                outcome.result = if create { "created" } else { "updated" }.into();
            } else {
                ui.progress(&format!("{stack_name} {state}"), true);
                let mut failure = first_failure.take().unwrap_or(Failure {
                    logical_id: None,
                    resource_type: None,
                    reason: reason.unwrap_or_else(|| "no reason given".into()),
                    stack_status: None,
                });
                failure.stack_status = Some(state.clone());
                ui.say(&format!(
                    "{stack_name}: deploy failed{}: {}\n  the stack is now {state}{}",
                    failure
                        .logical_id
                        .as_ref()
                        .map(|l| format!(" at {l} ({})", failure.resource_type.clone().unwrap_or_default()))
                        .unwrap_or_default(),
                    failure.reason,
                    if state.contains("ROLLBACK") { " (rolled back)" } else { "" }
                ));
                outcome.result = "failed".into();
                outcome.failure = Some(failure);
            }
            return Ok(());
        }
        if started.elapsed() > opts.timeout {
            return Err(DeployError::failed(format!(
                "{stack_name}: still {state} after {}s; follow it in the CloudFormation console",
                opts.timeout.as_secs()
            )));
        }
        pause(&mut wait, opts).await;
    }
}
