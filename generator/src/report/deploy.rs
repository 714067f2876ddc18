//! What `opslake deploy` says while it runs, and its closing line: each [`Event`] of the deploy
//! in words. `Say` lines are the story (stdout, or stderr under `--format json`); `Progress`
//! lines follow an operation (stderr, redrawn by a progress bar at a terminal).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::deploy::{ArtifactResult, Event, InstanceOutcome, ResourceChange, StackResult, Summary};

/// One thing to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    Say(String),
    /// `done` of `total` (`None` when an operation has no count); `last` ends it.
    Progress {
        line: String,
        done: Option<(usize, usize)>,
        last: bool,
    },
}

fn say(s: impl Into<String>) -> Vec<Shown> {
    vec![Shown::Say(s.into())]
}

fn secs(d: Duration) -> u64 {
    d.as_secs()
}

fn artifact_word(r: &ArtifactResult) -> &'static str {
    match r {
        ArtifactResult::Uploaded => "uploaded",
        ArtifactResult::Unchanged => "unchanged",
        ArtifactResult::NotUploaded => "not uploaded",
        ArtifactResult::Replaced { .. } => "replaced: the bucket's copy had another SHA-256",
    }
}

/// `event` in words.
pub fn event(event: &Event<'_>) -> Vec<Shown> {
    match event {
        Event::Building { bins, arch } => say(format!(
            "building {} for {} with cargo-lambda (release; the first build takes several minutes)",
            bins.join(", "),
            arch.lambda_name()
        )),
        Event::Artifact(a) => {
            say(format!("artifact {:<15} {} ({} bytes): {}", a.bin, a.key, a.bytes, artifact_word(&a.result)))
        }
        Event::Restarting { stack } => {
            say(format!("{stack}: its creation failed earlier (ROLLBACK_COMPLETE); deleting it to start over"))
        }
        Event::UpToDate { stack, account, region } => say(format!("{stack} ({account} {region}): up to date")),
        Event::Rejected { stack, reason } => say(format!("{stack}: CloudFormation rejected the change set: {reason}")),
        Event::Diff { stack, account, region, create, changes } => say(diff(stack, account, region, *create, changes)),
        Event::Kept { change_set } => say(format!(
            "change set kept for review: {change_set}\n  execute it with `opslake deploy --yes`, or `aws cloudformation execute-change-set --change-set-name {change_set}`"
        )),
        Event::Declined { stack } => say(format!("{stack}: not deployed (the change set was deleted)")),
        Event::Progress { done, total, elapsed, resource, state, reason, .. } => {
            let why = if reason.is_empty() { String::new() } else { format!(" ({reason})") };
            let line = format!("{done}/{total} {:>4}s  {resource} {state}{why}", secs(*elapsed));
            vec![Shown::Progress { line, done: Some((*done, *total)), last: false }]
        }
        Event::Deployed { stack, state, create, total, elapsed } => {
            let line = format!("{total}/{total} {:>4}s  {stack} {state}", secs(*elapsed));
            let verb = if *create { "created" } else { "updated" };
            let plural = if *total == 1 { "" } else { "s" };
            vec![
                Shown::Progress { line, done: Some((*total, *total)), last: true },
                Shown::Say(format!("{stack}: {verb} ({total} change{plural} in {}s)", secs(*elapsed))),
            ]
        }
        Event::StackFailed { stack, state, failure } => {
            let at = failure
                .logical_id
                .as_ref()
                .map(|l| format!(" at {l} ({})", failure.resource_type.clone().unwrap_or_default()))
                .unwrap_or_default();
            let rolled = if state.contains("ROLLBACK") { " (rolled back)" } else { "" };
            vec![
                Shown::Progress { line: format!("{stack} {state}"), done: None, last: true },
                Shown::Say(format!(
                    "{stack}: deploy failed{at}: {}\n  the stack is now {state}{rolled}",
                    failure.reason
                )),
            ]
        }
        Event::StackSetPlan { name, account, region, permission_model, actions } => {
            let header = format!("StackSet {name} ({account} {region}, {permission_model})");
            if actions.is_empty() {
                say(format!("{header}: up to date"))
            } else {
                let list: Vec<String> = actions.iter().map(|a| format!("  * {a}")).collect();
                say(format!("{header}:\n{}", list.join("\n")))
            }
        }
        Event::Operation { name, operation, state, elapsed, done } => {
            let mut out = vec![Shown::Progress {
                line: format!("{name}: operation {operation} {state} {:>4}s", secs(*elapsed)),
                done: None,
                last: false,
            }];
            if *done {
                out.push(Shown::Progress { line: format!("{name}: operation {operation} {state}"), done: None, last: true });
            }
            out
        }
        Event::Instances { name, instances } => say(instances_text(name, instances)),
        Event::StackSetFailed { name, message } => say(format!("StackSet {name}: {message}")),
        Event::NotPlanned { template, reason } => say(format!("{template}: not planned: {reason}")),
        Event::OtherAccount { template, account } => {
            say(format!("{template}: account {account} needs plain stacks; run deploy again with its credentials"))
        }
        Event::Doctor(report) => say(format!("\ndoctor:\n{}", super::doctor::text(report).trim_end())),
    }
}

fn instances_text(name: &str, instances: &[InstanceOutcome]) -> String {
    let mut lines = vec![format!("StackSet {name}: {} instance(s)", instances.len())];
    for i in instances {
        lines.push(format!(
            "  {} {:<14} {}{}{}",
            i.account,
            i.region,
            i.status,
            i.detailed_status.as_ref().map(|d| format!(" ({d})")).unwrap_or_default(),
            i.reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default()
        ));
    }
    lines.join("\n")
}

fn result_words(r: StackResult) -> &'static str {
    match r {
        StackResult::Created => "created",
        StackResult::Updated => "updated",
        StackResult::UpToDate => "up to date",
        StackResult::ChangeSetCreated => "change set created",
        StackResult::Planned => "planned",
        StackResult::Declined => "declined",
        StackResult::Failed => "failed",
    }
}

/// The closing line: what changed, or that nothing had to.
pub fn headline(s: &Summary) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in s.results() {
        *counts.entry(result_words(r)).or_default() += 1;
    }
    let parts: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
    let verdict = if !s.ok {
        "deploy failed"
    } else if s.change_set_only {
        "change sets ready for review"
    } else if s.results().all(|r| r == StackResult::UpToDate) {
        "everything up to date"
    } else {
        "deploy done"
    };
    format!("{verdict}: {}", parts.join(", "))
}

/// A change set as a diff: one line per resource, `+`/`~`/`-`, replacement, what changes.
pub fn diff(stack: &str, account: &str, region: &str, create: bool, changes: &[ResourceChange]) -> String {
    let mut out = format!(
        "{stack} ({account} {region}): {} change{}{}\n",
        changes.len(),
        if changes.len() == 1 { "" } else { "s" },
        if create { " (new stack)" } else { "" }
    );
    let id_width = changes.iter().map(|c| c.logical_id.len()).max().unwrap_or(0);
    let type_width = changes.iter().map(|c| c.resource_type.len()).max().unwrap_or(0);
    for c in changes {
        let sign = match c.action.as_str() {
            "Add" => '+',
            "Remove" => '-',
            "Modify" => '~',
            _ => '*',
        };
        let replacement = match c.replacement.as_deref() {
            Some("True") => "  replacement: yes",
            Some("False") => "  replacement: no",
            Some("Conditional") => "  replacement: conditional",
            _ => "",
        };
        let line = format!(
            "  {sign} {:<6} {:<id_width$}  {:<type_width$}{replacement}",
            c.action, c.logical_id, c.resource_type
        );
        out.push_str(line.trim_end());
        out.push('\n');
        if !c.properties.is_empty() {
            out.push_str(&format!("      changes: {}\n", c.properties.join(", ")));
        }
    }
    out.truncate(out.trim_end().len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_aligns_and_says_replacement() {
        let changes = vec![
            ResourceChange {
                action: "Add".into(),
                logical_id: "Topic".into(),
                resource_type: "AWS::SNS::Topic".into(),
                replacement: None,
                properties: vec![],
            },
            ResourceChange {
                action: "Modify".into(),
                logical_id: "QueryFunction".into(),
                resource_type: "AWS::Lambda::Function".into(),
                replacement: Some("False".into()),
                properties: vec!["Code".into(), "Environment".into()],
            },
        ];
        let text = diff("s", "1", "r", false, &changes);
        assert_eq!(
            text,
            "s (1 r): 2 changes\n  + Add    Topic          AWS::SNS::Topic\n  ~ Modify QueryFunction  AWS::Lambda::Function  replacement: no\n      changes: Code, Environment"
        );
    }
}
