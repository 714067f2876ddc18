//! One stack through a change set: create it, wait, show the diff, execute on consent, follow
//! the stack's events, and report where it ended.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use aws_sdk_cloudformation::types::{Capability, ChangeSetType, Parameter, StackEvent, Tag, TemplateStage};
use aws_sdk_cloudformation::Client;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
use opslake_runtime::aws::sdk_message;
use sha2::{Digest, Sha256};

use super::{diff, ArtifactResult, Clients, Event, Failure, Options, StackOutcome, StackResult, Ui};
use crate::error::{Error, Result};
use crate::plan::{PlannedTemplate, Target};

/// What CloudFormation says when a change set would change nothing.
fn is_no_change(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

/// Uploads `bytes` to `s3://bucket/key` unless the bucket already holds the key with the same
/// SHA-256 (`checksum`, base64: keys are content hashes, and S3 keeps and verifies the checksum
/// it was sent with). A copy whose checksum differs, or that has none, is replaced. Also the
/// object version checked or written (`None` when the bucket keeps no versions).
pub(crate) async fn upload(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    bytes: Vec<u8>,
    checksum: &str,
) -> Result<(ArtifactResult, Option<String>)> {
    let found = s3.head_object().bucket(bucket).key(key).checksum_mode(ChecksumMode::Enabled).send().await;
    let replaced = match found {
        Ok(head) if head.checksum_sha256() == Some(checksum) => {
            return Ok((ArtifactResult::Unchanged, version(head.version_id())))
        }
        Ok(head) => Some(head.checksum_sha256().unwrap_or("none").to_string()),
        Err(e) => {
            let missing = e.as_service_error().map(|se| se.is_not_found()).unwrap_or(false)
                || e.raw_response().map(|r| r.status().as_u16() == 404).unwrap_or(false);
            if !missing {
                return Err(Error::failed(format!("s3://{bucket}/{key}: cannot check for it: {}", sdk_message(&e))));
            }
            None
        }
    };
    let put = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .checksum_sha256(checksum)
        .body(bytes.into())
        .send()
        .await
        .map_err(|e| Error::failed(format!("s3://{bucket}/{key}: upload failed: {}", sdk_message(&e))))?;
    let result = match replaced {
        Some(found) => ArtifactResult::Replaced { found },
        None => ArtifactResult::Uploaded,
    };
    Ok((result, version(put.version_id())))
}

/// An object's version id; `None` for an unversioned bucket's ("null").
fn version(id: Option<&str>) -> Option<String> {
    id.filter(|v| !v.is_empty() && *v != "null").map(str::to_string)
}

/// The stack's status and its reason, `None` when it does not exist.
async fn status(cfn: &Client, name: &str) -> Result<Option<(String, Option<String>)>> {
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
                Err(Error::failed(format!("{name}: cannot describe the stack: {text}")))
            }
        }
    }
}

/// The stack's outputs.
pub(crate) async fn outputs(cfn: &Client, name: &str) -> Result<BTreeMap<String, String>> {
    let out = cfn
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
        .map_err(|e| Error::failed(format!("{name}: cannot read its outputs: {}", sdk_message(&e))))?;
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

/// Where the template goes: inline, or uploaded to the assets bucket and passed by URL.
async fn template_source(
    clients: &Clients,
    t: &PlannedTemplate,
    body: &str,
    bucket: &str,
) -> Result<(Option<String>, Option<String>)> {
    if body.len() <= super::MAX_INLINE_TEMPLATE_BYTES {
        return Ok((Some(body.to_string()), None));
    }
    let digest = Sha256::digest(body.as_bytes());
    let sha: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let key = format!("templates/{}/{sha}.yaml", t.name);
    let checksum = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(digest)
    };
    upload(&clients.s3, bucket, &key, body.as_bytes().to_vec(), &checksum).await?;
    Ok((None, Some(format!("https://{bucket}.s3.{}.amazonaws.com/{key}", clients.region))))
}

/// Create or update: a stack that does not exist (or whose first creation failed and is
/// deleted now) is created; a busy one is refused.
async fn change_type(
    cfn: &Client,
    stack: &str,
    current: Option<&str>,
    opts: &Options,
    ui: &mut dyn Ui,
) -> Result<ChangeSetType> {
    match current {
        None | Some("REVIEW_IN_PROGRESS") => Ok(ChangeSetType::Create),
        Some("ROLLBACK_COMPLETE") => {
            // A stack whose creation failed holds nothing and cannot be updated: start over.
            ui.event(Event::Restarting { stack });
            cfn.delete_stack()
                .stack_name(stack)
                .send()
                .await
                .map_err(|e| Error::failed(format!("{stack}: cannot delete it: {}", sdk_message(&e))))?;
            let mut pauses = opts.poll.pauses(opts.timeout);
            while let Some((s, _)) = status(cfn, stack).await? {
                if s == "DELETE_COMPLETE" {
                    break;
                }
                if s == "DELETE_FAILED" || pauses.wait().await.is_err() {
                    return Err(Error::failed(format!("{stack}: could not delete it ({s})")));
                }
            }
            Ok(ChangeSetType::Create)
        }
        Some(s) if s.ends_with("_IN_PROGRESS") => {
            Err(Error::failed(format!("{stack} is busy ({s}); wait for the running operation to end and deploy again")))
        }
        Some(_) => Ok(ChangeSetType::Update),
    }
}

/// A change set that was created, or why there is none.
enum Created {
    ChangeSet {
        id: String,
        stack_id: String,
    },
    /// Nothing to change, or CloudFormation refused it: the outcome is final.
    Final(StackResult, Option<Failure>),
}

/// Creates the change set and waits until CloudFormation has computed it.
async fn create_change_set(
    clients: &Clients,
    t: &PlannedTemplate,
    stack: &str,
    kind: ChangeSetType,
    (body, params): (&str, &[(String, String)]),
    assets_bucket: &str,
    opts: &Options,
) -> Result<(Created, Vec<aws_sdk_cloudformation::types::ResourceChange>)> {
    let (inline, url) = template_source(clients, t, body, assets_bucket).await?;
    let name = format!("opslake-{}", jiff::Timestamp::now().as_millisecond());
    let created = clients
        .cfn
        .create_change_set()
        .stack_name(stack)
        .change_set_name(&name)
        .change_set_type(kind)
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
        Ok(out) => (out.id().unwrap_or(&name).to_string(), out.stack_id().unwrap_or(stack).to_string()),
        Err(e) => {
            let reason = sdk_message(&e);
            return Ok(if is_no_change(&reason) {
                (Created::Final(StackResult::UpToDate, None), vec![])
            } else {
                (Created::Final(StackResult::Failed, Some(Failure::because(reason, None))), vec![])
            });
        }
    };
    wait_change_set(&clients.cfn, stack, id, stack_id, opts).await
}

/// Waits for the change set, then reads all of its changes.
async fn wait_change_set(
    cfn: &Client,
    stack: &str,
    id: String,
    stack_id: String,
    opts: &Options,
) -> Result<(Created, Vec<aws_sdk_cloudformation::types::ResourceChange>)> {
    let mut pauses = opts.poll.pauses(opts.timeout);
    loop {
        let (mut token, mut changes) = (None, Vec::new());
        let (state, reason) = loop {
            let out = cfn
                .describe_change_set()
                .change_set_name(&id)
                .stack_name(stack)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| Error::failed(format!("{stack}: cannot describe the change set: {}", sdk_message(&e))))?;
            changes.extend(out.changes().iter().filter_map(|c| c.resource_change().cloned()));
            let state = out.status().map(|s| s.as_str().to_string()).unwrap_or_default();
            token = out.next_token().map(str::to_string);
            if token.is_none() || state != "CREATE_COMPLETE" {
                break (state, out.status_reason().unwrap_or_default().to_string());
            }
        };
        match state.as_str() {
            "CREATE_COMPLETE" => return Ok((Created::ChangeSet { id, stack_id }, changes)),
            "FAILED" if is_no_change(&reason) => {
                let _ = cfn.delete_change_set().change_set_name(&id).stack_name(stack).send().await;
                return Ok((Created::Final(StackResult::UpToDate, None), vec![]));
            }
            "FAILED" => return Ok((Created::Final(StackResult::Failed, Some(Failure::because(reason, None))), vec![])),
            _ => pauses.wait().await.map_err(|waited| {
                Error::failed(format!("{stack}: the change set is still {state} after {}s", waited.as_secs()))
            })?,
        }
    }
}

/// Deploys one `Target::Stack` template through a change set.
pub(crate) async fn deploy(
    clients: &Clients,
    t: &PlannedTemplate,
    body: &str,
    params: &[(String, String)],
    assets_bucket: &str,
    opts: &Options,
    ui: &mut dyn Ui,
) -> Result<StackOutcome> {
    let Target::Stack { stack_name, account, region } = &t.target else {
        return Err(Error::failed(format!("{} is not a stack", t.name)));
    };
    let cfn = &clients.cfn;
    let mut outcome = StackOutcome {
        template: t.name.clone(),
        stack_name: stack_name.clone(),
        account: account.clone(),
        region: region.clone(),
        result: StackResult::Failed,
        change_set: None,
        changes: vec![],
        status: None,
        failure: None,
    };
    let current = status(cfn, stack_name).await?.map(|c| c.0);
    let kind = change_type(cfn, stack_name, current.as_deref(), opts, ui).await?;
    let create = kind == ChangeSetType::Create;
    let previous = if create {
        None
    } else {
        let got = cfn.get_template().stack_name(stack_name).template_stage(TemplateStage::Original).send().await;
        got.ok().and_then(|o| o.template_body().map(str::to_string))
    };
    let (created, changes) =
        create_change_set(clients, t, stack_name, kind, (body, params), assets_bucket, opts).await?;
    let (id, stack_id) = match created {
        Created::ChangeSet { id, stack_id } => (id, stack_id),
        Created::Final(result, failure) => {
            match &failure {
                None => ui.event(Event::UpToDate { stack: stack_name, account, region }),
                Some(f) => ui.event(Event::Rejected { stack: stack_name, reason: &f.reason }),
            }
            outcome.result = result;
            match failure {
                Some(f) => outcome.failure = Some(Failure { stack_status: current, ..f }),
                None => outcome.status = current,
            }
            return Ok(outcome);
        }
    };
    outcome.change_set = Some(id.clone());
    outcome.changes = diff::resource_changes(&changes, previous.as_deref(), body);
    ui.event(Event::Diff { stack: stack_name, account, region, create, changes: &outcome.changes });
    if opts.change_set_only {
        ui.event(Event::Kept { change_set: &id });
        outcome.result = StackResult::ChangeSetCreated;
        return Ok(outcome);
    }
    let consent = ui.confirm(stack_name);
    if !matches!(consent, Ok(true)) {
        let _ = cfn.delete_change_set().change_set_name(&id).stack_name(stack_name).send().await;
    }
    if !consent? {
        ui.event(Event::Declined { stack: stack_name });
        outcome.result = StackResult::Declined;
        return Ok(outcome);
    }
    execute(cfn, &id, &stack_id, create, &mut outcome, opts, ui).await?;
    Ok(outcome)
}

/// Events of the stack newer than those `seen` (and than `marker`, the newest before the
/// change set ran), oldest first.
async fn new_events(
    cfn: &Client,
    stack: &str,
    stack_ref: &str,
    marker: Option<&str>,
    seen: &BTreeSet<String>,
) -> Result<Vec<StackEvent>> {
    let mut fresh = Vec::new();
    let mut token = None;
    'pages: loop {
        let out = cfn
            .describe_stack_events()
            .stack_name(stack_ref)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| Error::failed(format!("{stack}: cannot read its events: {}", sdk_message(&e))))?;
        for ev in out.stack_events() {
            let id = ev.event_id().unwrap_or_default();
            if marker == Some(id) || seen.contains(id) {
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
    Ok(fresh)
}

/// Follows a stack's events: which resources are done, and the first failure.
struct Follow<'a> {
    stack: &'a str,
    total: usize,
    started: Instant,
    seen: BTreeSet<String>,
    done: BTreeSet<String>,
    first_failure: Option<Failure>,
}

impl Follow<'_> {
    fn record(&mut self, ev: &StackEvent, ui: &mut dyn Ui) {
        self.seen.insert(ev.event_id().unwrap_or_default().to_string());
        let logical = ev.logical_resource_id().unwrap_or_default();
        let state = ev.resource_status().map(|s| s.as_str()).unwrap_or_default();
        let reason = ev.resource_status_reason().unwrap_or_default();
        let is_stack = logical == self.stack || ev.resource_type() == Some("AWS::CloudFormation::Stack");
        if !is_stack && (state.ends_with("_COMPLETE") || state.ends_with("_FAILED") || state.ends_with("_SKIPPED")) {
            self.done.insert(logical.to_string());
        }
        if state.ends_with("_FAILED") && self.first_failure.is_none() && !reason.contains("cancelled") {
            self.first_failure = Some(Failure {
                logical_id: Some(logical.to_string()),
                resource_type: ev.resource_type().map(str::to_string),
                reason: reason.to_string(),
                stack_status: None,
            });
        }
        ui.event(Event::Progress {
            stack: self.stack,
            done: self.done.len().min(self.total),
            total: self.total,
            elapsed: self.started.elapsed(),
            resource: logical,
            state,
            reason,
        });
    }
}

/// Executes the change set and follows the stack to a final state.
async fn execute(
    cfn: &Client,
    id: &str,
    stack_id: &str,
    create: bool,
    outcome: &mut StackOutcome,
    opts: &Options,
    ui: &mut dyn Ui,
) -> Result<()> {
    // Followed by id: the stack this change set belongs to, whatever else carries its name.
    let stack = outcome.stack_name.clone();
    // Events up to the newest one now belong to earlier operations.
    let marker = cfn
        .describe_stack_events()
        .stack_name(stack_id)
        .send()
        .await
        .ok()
        .and_then(|o| o.stack_events().first().and_then(|e| e.event_id().map(str::to_string)));
    if let Err(e) = cfn.execute_change_set().change_set_name(id).stack_name(stack_id).send().await {
        let reason = sdk_message(&e);
        ui.event(Event::Rejected { stack: &stack, reason: &reason });
        outcome.result = StackResult::Failed;
        outcome.status = status(cfn, stack_id).await.ok().flatten().map(|s| s.0);
        outcome.failure = Some(Failure::because(reason, outcome.status.clone()));
        return Ok(());
    }
    let mut follow = Follow {
        stack: &stack,
        total: outcome.changes.len(),
        started: Instant::now(),
        seen: BTreeSet::new(),
        done: BTreeSet::new(),
        first_failure: None,
    };
    let mut pauses = opts.poll.pauses(opts.timeout);
    loop {
        for ev in new_events(cfn, &stack, stack_id, marker.as_deref(), &follow.seen).await? {
            follow.record(&ev, ui);
        }
        let (state, reason) = status(cfn, stack_id).await?.unwrap_or_else(|| ("DELETE_COMPLETE".into(), None));
        if !state.ends_with("_IN_PROGRESS") {
            finish(outcome, &state, reason, create, follow, ui);
            return Ok(());
        }
        pauses.wait().await.map_err(|waited| {
            Error::failed(format!(
                "{stack}: still {state} after {}s; follow it in the CloudFormation console",
                waited.as_secs()
            ))
        })?;
    }
}

/// Where the stack ended: deployed, or failed at its first failing resource.
fn finish(
    outcome: &mut StackOutcome,
    state: &str,
    reason: Option<String>,
    create: bool,
    mut follow: Follow,
    ui: &mut dyn Ui,
) {
    outcome.status = Some(state.to_string());
    let (stack, total, elapsed) = (follow.stack, follow.total, follow.started.elapsed());
    if matches!(state, "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "IMPORT_COMPLETE") {
        ui.event(Event::Deployed { stack, state, create, total, elapsed });
        outcome.result = if create { StackResult::Created } else { StackResult::Updated };
        return;
    }
    let mut failure = follow
        .first_failure
        .take()
        .unwrap_or_else(|| Failure::because(reason.unwrap_or_else(|| "no reason given".into()), None));
    failure.stack_status = Some(state.to_string());
    ui.event(Event::StackFailed { stack, state, failure: &failure });
    outcome.result = StackResult::Failed;
    outcome.failure = Some(failure);
}
