//! The `analyze` worker: a failure analysis in cloud mode (the lake through Athena, the live
//! services of the account the failure is in) for a job from the `slack` function or an
//! alarm, answered in Slack — a short message with the top hypotheses, and the full report as
//! a file in its thread. Nobody waits on it: the `slack` function and EventBridge invoke it
//! asynchronously, and SNS delivers to it.
//!
//! Every run is claimed in the ledger first, so a request delivered twice, an event delivered
//! twice or at once, and an alarm that flaps each start one run. Its log says what ran, never
//! the evidence or the model's prompt.

use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::{json, Value};

use super::env::PlacedGroup;
use super::job::{trigger, Origin, Reply, Run, Trigger, When};
use super::log;
use crate::analysis::incident::live::{self, Live};
use crate::analysis::incident::rank::{rank, Redaction};
use crate::analysis::incident::{analyze, Analysis, Scope};
use crate::aws::Aws;
use crate::lake::LakeLayout;
use crate::ledger::{Claim, Ledger};
use crate::llm::Model;
use crate::report::incident::{brief, render, Style};
use crate::report::Language;
use crate::slack::api::SlackApi;
use crate::slack::blocks;
use crate::source::Source;

/// How long a Slack request's key is kept: a retry a day later is still the same request.
const REQUEST_QUIET: Duration = Duration::from_secs(24 * 3600);
/// Hypotheses in the channel message (all of them are in the file).
const TOP: usize = 3;

/// What the worker knows from the spec.
#[derive(Debug, Clone)]
pub struct Settings {
    pub home_account: String,
    pub home_region: String,
    pub log_groups: Vec<PlacedGroup>,
    pub namespaces: Vec<String>,
    pub xray: bool,
    pub zone: TimeZone,
    pub language: Language,
    pub max_tokens: u32,
    pub redaction: Redaction,
    /// An alarm starts at most one run per quiet period.
    pub quiet: Duration,
    /// The read-only role's name in other accounts.
    pub reader_role: Option<String>,
    /// Where alarms are answered.
    pub channel: Option<String>,
}

pub struct AnalyzeService {
    /// The worker's own credentials (the home account).
    pub aws: Aws,
    pub source: Source,
    pub layout: LakeLayout,
    pub model: Box<dyn Model>,
    pub ledger: Ledger,
    pub slack: Option<SlackApi>,
    pub settings: Settings,
}

impl AnalyzeService {
    /// Handles one event; the outcome of each run it asked for. An event that is not the
    /// worker's is an error (the invocation fails, and the event is kept by Lambda's
    /// failure destination); a ledger that cannot be reached is one too, since without it a
    /// run cannot be claimed.
    pub async fn handle(&self, event: &Value, now: Timestamp) -> Result<Value, String> {
        let runs = match trigger(event)? {
            Trigger::Ignored(why) => {
                log("INFO", "ignored an event", json!({"why": why}));
                return Ok(json!({"status": "ignored", "why": why}));
            }
            Trigger::Runs(runs) => runs,
        };
        let mut out = Vec::new();
        for r in runs {
            out.push(self.run(r, now).await?);
        }
        Ok(json!({"runs": out}))
    }

    async fn run(&self, r: Run, now: Timestamp) -> Result<Value, String> {
        let quiet = match r.origin {
            Origin::Slack => REQUEST_QUIET,
            Origin::Alarm => self.settings.quiet,
        };
        if self.ledger.claim(&r.key, now, quiet).await? == Claim::Taken {
            log("INFO", "already claimed: not run again", json!({"key": r.key}));
            return Ok(json!({"key": r.key, "status": "duplicate"}));
        }
        // Claimed: from here a failure is said where the answer would have gone (a retry would
        // find the claim and stop), and the invocation still succeeds.
        match self.analyse(&r).await {
            Ok(v) => Ok(v),
            Err(e) => {
                log("ERROR", "the analysis failed", json!({"key": r.key, "error": e}));
                self.tell(&r, &format!(":warning: The analysis failed: {e}")).await;
                Ok(json!({"key": r.key, "status": "failed", "error": e}))
            }
        }
    }

    async fn analyse(&self, r: &Run) -> Result<Value, String> {
        let s = &self.settings;
        let account = r.account.clone().unwrap_or_else(|| s.home_account.clone());
        let region = r.region.clone().unwrap_or_else(|| s.home_region.clone());
        let aws = match (&s.reader_role, account == s.home_account) {
            (Some(role), false) => {
                self.aws.assume(&format!("arn:aws:iam::{account}:role/{role}"), "opslake-analyze").await
            }
            _ => self.aws.clone(),
        };
        let groups = s
            .log_groups
            .iter()
            .filter(|g| g.account == account && g.region == region)
            .filter(|g| r.log_groups.is_empty() || r.log_groups.contains(&g.name))
            .map(|g| g.name.clone())
            .collect();
        let mut live = Live::new(&aws, &region, groups, s.namespaces.clone(), s.xray);
        if let Some(name) = &r.alarm {
            match live.alarm(name).await {
                Ok(a) => live.alarm = a,
                Err(e) => log("WARN", "the alarm could not be read", json!({"alarm": name, "error": e})),
            }
        }
        let window = match &r.when {
            When::At { at } => Ok(Scope::around(*at)),
            When::Alarm { name } => live.alarm.as_ref().and_then(live::alarm_window).ok_or_else(|| {
                format!("alarm {name} in {account} {region}: not found, or not in ALARM within its 30 days of history")
            }),
        };
        let in_lake = |a: &str| self.layout.accounts.is_empty() || self.layout.accounts.iter().any(|x| x == a);
        let scope = window.and_then(|(start, end)| {
            let (acct, reg) = match r.origin {
                // An alarm's evidence is where it fired; a person's question spans the lake.
                Origin::Alarm => (Some(account.clone()).filter(|a| in_lake(a)), Some(region.clone())),
                Origin::Slack => (r.account.clone(), r.region.clone()),
            };
            Scope::new(start, end, acct, reg, r.log_groups.clone()).map_err(|e| e.0)
        });
        let scope = match scope {
            Ok(sc) => sc,
            Err(e) => {
                log("WARN", "no window to analyse", json!({"key": r.key, "error": e}));
                self.tell(r, &format!(":warning: {e}")).await;
                return Ok(json!({"key": r.key, "status": "no_window", "error": e}));
            }
        };
        let mut analysis = analyze(&scope, live::gather(&self.source, &self.layout, &scope, &live).await);
        rank(&mut analysis, self.model.as_ref(), s.language, s.max_tokens, s.redaction).await?;
        let posted = self.post(r, &analysis).await;
        log(
            "INFO",
            "analysed",
            json!({"key": r.key, "hypotheses": analysis.hypotheses.len(), "ranked_by": analysis.ranking.by,
                "posted": posted.is_ok(), "error": posted.as_ref().err()}),
        );
        Ok(json!({"key": r.key, "status": "done", "hypotheses": analysis.hypotheses.len(), "posted": posted.ok()}))
    }

    /// Where a run answers: the asker's channel and thread, else the configured channel.
    fn reply(&self, r: &Run) -> Option<Reply> {
        r.reply
            .clone()
            .or_else(|| self.settings.channel.clone().map(|channel| Reply { channel, thread_ts: None, user: None }))
    }

    /// A short note in the run's channel (best effort: a failure is logged).
    async fn tell(&self, r: &Run, text: &str) {
        if let (Some(slack), Some(reply)) = (&self.slack, self.reply(r)) {
            let blocks = json!([{"type": "section", "text": {"type": "mrkdwn", "text": text}}]);
            if let Err(e) = slack.post_message(&reply.channel, reply.thread_ts.as_deref(), text, &blocks).await {
                log("WARN", "could not post to Slack", json!({"error": e.to_string()}));
            }
        }
    }

    /// The message and the report file; the message's `ts`.
    async fn post(&self, r: &Run, a: &Analysis) -> Result<String, String> {
        let (Some(slack), Some(reply)) = (&self.slack, self.reply(r)) else {
            return Err("no Slack channel to answer in".into());
        };
        let zone = match &reply.user {
            Some(u) => match slack.user_zone(u).await {
                Ok(Some(tz)) => TimeZone::get(&tz).unwrap_or_else(|_| self.settings.zone.clone()),
                Ok(None) => self.settings.zone.clone(),
                Err(e) => {
                    log("WARN", "users.info failed; the spec's zone is used", json!({"error": e.to_string()}));
                    self.settings.zone.clone()
                }
            },
            None => self.settings.zone.clone(),
        };
        let language = self.settings.language;
        let note = match (&r.note, &r.alarm) {
            (Some(n), _) => Some(n.clone()),
            (None, Some(alarm)) => Some(
                format!(
                    "ALARM: {alarm} ({} {})",
                    r.account.as_deref().unwrap_or(""),
                    r.region.as_deref().unwrap_or("")
                )
                .trim()
                .to_string(),
            ),
            (None, None) => None,
        };
        let (text, msg_blocks) =
            blocks::answer(&brief(a, &zone, language, TOP), note.as_deref(), reply.user.as_deref());
        let ts = slack
            .post_message(&reply.channel, reply.thread_ts.as_deref(), &text, &msg_blocks)
            .await
            .map_err(|e| e.to_string())?;
        let thread = reply.thread_ts.clone().unwrap_or_else(|| ts.clone());
        let report = render(a, Style::Markdown, &zone, language);
        let stamp = a.window.from.replace([':', '-'], "");
        slack
            .upload(&reply.channel, Some(&thread), &format!("opslake-analysis-{stamp}.md"), &text, report.into_bytes())
            .await
            .map_err(|e| e.to_string())?;
        Ok(ts)
    }
}
