//! `opslake analyze`: an incident window → evidence from every source the lake holds
//! (CloudTrail changes, ALB, application logs, metrics) → a timeline, the onset, error
//! signatures and ranked hypotheses that cite their evidence. Deterministic: the code gathers
//! and correlates; the same lake gives the same answer.
//!
//! With `--athena` it runs in cloud mode: the lake's CloudTrail, Config and ALB evidence through
//! Athena, and the live services of the credentials' account for what the lake holds late or
//! not at all (Logs Insights, CloudWatch metrics, X-Ray). `--alarm` takes the window from an
//! alarm's last transition to ALARM.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use opslake_runtime::analysis::incident::live::{self, Live};
use opslake_runtime::analysis::incident::rank::{rank, Redaction};
use opslake_runtime::analysis::incident::{analyze, gather, Gathered, Scope, SourceStatus};
use opslake_runtime::llm::ModelChoice;
use opslake_runtime::query;
use opslake_runtime::report::incident::{json, render, Style};

use crate::args::LakeArgs;
use crate::context::{Context, Diagnostics};
use crate::error::{Error, Exit, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Markdown,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    lake: LakeArgs,
    /// When it happened (an alarm's time, a user's report): the window is 30 minutes before
    /// to 10 minutes after. RFC 3339 (2025-06-12T09:40:00Z), or a local time with --tz
    #[arg(long, conflicts_with_all = ["from", "to", "alarm"], required_unless_present_any = ["from", "alarm"])]
    at: Option<String>,
    /// A CloudWatch alarm (in --region, else the home region, of the credentials' account):
    /// the window is around its last transition to ALARM, and its metric and the metrics that
    /// share its dimensions are read first
    #[arg(long, conflicts_with_all = ["from", "to"])]
    alarm: Option<String>,
    /// Window start (with --to), at most 24 hours before it
    #[arg(long, requires = "to")]
    from: Option<String>,
    /// Window end (with --from)
    #[arg(long, requires = "from")]
    to: Option<String>,
    /// The zone of times written without an offset, and of the report's times (default UTC),
    /// e.g. Asia/Tokyo (JSON stays in UTC)
    #[arg(long)]
    tz: Option<String>,
    /// Only this account
    #[arg(long)]
    account: Option<String>,
    /// Only this region
    #[arg(long)]
    region: Option<String>,
    /// Only these application log groups (repeatable; each must be one of the spec's)
    #[arg(long = "log-group", value_name = "GROUP")]
    log_groups: Vec<String>,
    /// none (the code's ranking, the default), bedrock:MODEL_ID or anthropic:MODEL (key from
    /// ANTHROPIC_API_KEY): the model ranks and explains the evidence the code found
    #[arg(long, default_value = "none")]
    model: String,
    #[arg(long, value_enum, default_value = "text")]
    format: ReportFormat,
}

/// A time as given: RFC 3339 with an offset, or a civil time (`2025-06-12T18:40`,
/// `2025-06-12 18:40:00`) in `tz`.
fn time(flag: &str, s: &str, tz: &TimeZone) -> Result<Timestamp> {
    if let Some(t) = query::parse_time(s) {
        return Ok(t);
    }
    let civil = s.replacen(' ', "T", 1).parse::<DateTime>();
    match civil {
        Ok(dt) => tz.to_timestamp(dt).map_err(|e| Error::bad_input(format!("--{flag} {s}: {e}"))),
        Err(_) => Err(Error::bad_input(format!(
            "--{flag} {s}: not a time; write 2025-06-12T09:40:00Z, or 2025-06-12T18:40 with --tz Asia/Tokyo"
        ))),
    }
}

/// The window and filters, checked against the spec.
/// The zone of `--tz` (UTC without it): how times without an offset are read, and how the
/// report writes times.
fn zone(a: &Args) -> Result<TimeZone> {
    match &a.tz {
        Some(name) => TimeZone::get(name).map_err(|e| {
            Error::bad_input(format!("--tz {name}: {e}")).hint("use an IANA zone name, e.g. Asia/Tokyo or UTC")
        }),
        None => Ok(TimeZone::UTC),
    }
}

fn scope(
    a: &Args,
    tz: &TimeZone,
    spec: &crate::spec::Spec,
    layout: &opslake_runtime::lake::LakeLayout,
    alarm: Option<&opslake_runtime::engine::cloudwatch::Alarm>,
) -> Result<Scope> {
    let (start, end) = match (&a.at, &a.from, &a.to, alarm) {
        (Some(at), _, _, _) => Scope::around(time("at", at, tz)?),
        (None, Some(f), Some(t), _) => (time("from", f, tz)?, time("to", t, tz)?),
        (None, _, _, Some(alarm)) => live::alarm_window(alarm).ok_or_else(|| {
            Error::bad_input(format!(
                "--alarm {}: it has not been in ALARM within its history (30 days; state now: {})",
                alarm.name, alarm.state
            ))
            .hint("give the time instead: --at TIME")
        })?,
        _ => return Err(Error::bad_input("say when: --alarm NAME, --at TIME, or --from TIME --to TIME")),
    };
    let mut groups: Vec<String> =
        spec.features.failure_analysis.iter().flat_map(|f| f.placed_log_groups(&spec.home)).map(|g| g.name).collect();
    groups.sort();
    groups.dedup();
    if let Some(g) = a.log_groups.iter().find(|g| !groups.contains(g)) {
        return Err(Error::bad_input(format!("--log-group {g}: not one of the spec's log groups")).hint(format!(
            "features.failure_analysis.log_groups names: {}",
            if groups.is_empty() { "none".into() } else { groups.join(", ") }
        )));
    }
    if let Some(acct) = a.account.as_ref().filter(|x| !layout.accounts.contains(x)) {
        return Err(Error::bad_input(format!(
            "--account {acct}: not one of the spec's accounts ({})",
            layout.accounts.join(", ")
        )));
    }
    if let Some(r) = a.region.as_ref().filter(|x| !layout.regions.contains(x)) {
        return Err(Error::bad_input(format!(
            "--region {r}: not one of the spec's regions ({})",
            layout.regions.join(", ")
        )));
    }
    Scope::new(start, end, a.account.clone(), a.region.clone(), a.log_groups.clone()).map_err(|e| Error::bad_input(e.0))
}

/// The live services of cloud mode (`--athena`), or only what `--alarm` needs to read the
/// alarm; `None` when neither is asked.
fn live_services(ctx: &Context, a: &Args, spec: &crate::spec::Spec) -> Option<Live> {
    if !a.lake.from.athena && a.alarm.is_none() {
        return None;
    }
    let fa = spec.features.failure_analysis.as_ref();
    let region = a.region.clone().unwrap_or_else(|| spec.home.region.clone());
    // Logs Insights reads one account's groups (the credentials'): those the spec places in
    // --account (else the home account) and the region read.
    let account = a.account.as_deref().unwrap_or(&spec.home.account);
    let groups = fa
        .iter()
        .flat_map(|f| f.placed_log_groups(&spec.home))
        .filter(|g| g.account == account && g.region == region)
        .map(|g| g.name)
        .collect();
    let aws = ctx.aws(&a.lake.aws.connection(), spec);
    Some(Live::new(
        &aws,
        &region,
        groups,
        fa.map(|f| f.capture.namespaces.clone()).unwrap_or_default(),
        fa.is_some_and(|f| f.xray),
    ))
}

/// The alarm `--alarm` names, read in the live services' region.
fn read_alarm(ctx: &Context, name: &str, live: &Live) -> Result<opslake_runtime::engine::cloudwatch::Alarm> {
    match ctx.rt.block_on(live.alarm(name)) {
        Ok(Some(alarm)) => Ok(alarm),
        Ok(None) => Err(Error::bad_input(format!("--alarm {name}: no such alarm in {}", live.region)).hint(
            "list the region's alarms with `aws cloudwatch describe-alarms --query 'MetricAlarms[].AlarmName'`; another region: --region",
        )),
        Err(e) => Err(Error::failed(format!("--alarm {name}: {e}"))),
    }
}

pub fn run(ctx: &mut Context, a: Args) -> Result {
    let loaded = ctx.load_spec(&a.lake.spec, Diagnostics::Errors)?;
    let (spec, layout) = (&loaded.spec, loaded.layout());
    let tz = zone(&a)?;
    let mut live = live_services(ctx, &a, spec);
    if let (Some(name), Some(l)) = (&a.alarm, live.as_mut()) {
        l.alarm = Some(read_alarm(ctx, name, l)?);
    }
    let scope = scope(&a, &tz, spec, &layout, live.as_ref().and_then(|l| l.alarm.as_ref()))?;
    // The command line calls a model only when asked: offline and free by default.
    let choice: ModelChoice = a.model.parse().map_err(|e| Error::bad_input(format!("--model {e}")))?;
    let (model, source) = ctx.model_and_source(spec, &layout, &a.lake, &choice, true)?;
    if matches!(source, opslake_runtime::source::Source::EventHistory { .. }) {
        return Err(Error::bad_input("analyze reads the lake: use --local DIR or --athena"));
    }
    let gathered: Gathered = match live.as_ref().filter(|_| a.lake.from.athena) {
        Some(l) => ctx.rt.block_on(live::gather(&source, &layout, &scope, l)),
        None => ctx.rt.block_on(gather(&source, &layout, &scope)),
    };
    let mut analysis = analyze(&scope, gathered);
    let redaction = Redaction { ips: spec.features.failure_analysis.as_ref().is_some_and(|f| f.redact_ips) };
    let language = spec.model.language;
    ctx.rt
        .block_on(rank(&mut analysis, model.as_ref(), language, spec.model.max_tokens, redaction))
        .map_err(Error::failed)?;
    if let Some(e) = &analysis.ranking.error {
        writeln!(ctx.err, "warning: the model's ranking is not used ({e}); the code's ranking stands")?;
    }
    for d in &analysis.ranking.dropped {
        writeln!(ctx.err, "warning: dropped a hypothesis of the model: {d}")?;
    }
    for s in analysis.sources.iter().filter(|s| s.status == SourceStatus::Failed) {
        writeln!(ctx.err, "warning: {} ({}) failed: {}", s.name, s.query, s.error.as_deref().unwrap_or(""))?;
    }
    match a.format {
        ReportFormat::Json => {
            writeln!(ctx.out, "{}", serde_json::to_string_pretty(&json(&analysis, language)).unwrap_or_default())?
        }
        ReportFormat::Text => write!(ctx.out, "{}", render(&analysis, Style::Text, &tz, language))?,
        ReportFormat::Markdown => write!(ctx.out, "{}", render(&analysis, Style::Markdown, &tz, language))?,
    }
    let answered = analysis.sources.iter().any(|s| matches!(s.status, SourceStatus::Ok | SourceStatus::Empty));
    Ok(Exit::ok_if(answered))
}
