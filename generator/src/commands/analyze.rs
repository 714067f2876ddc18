//! `opslake analyze`: an incident window → evidence from every source the lake holds
//! (CloudTrail changes, ALB, application logs, metrics) → a timeline, the onset, error
//! signatures and ranked hypotheses that cite their evidence. Deterministic: the code gathers
//! and correlates; the same lake gives the same answer.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use opslake_runtime::analysis::incident::rank::{rank, Redaction};
use opslake_runtime::analysis::incident::{analyze, gather, Scope, SourceStatus};
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
    #[arg(long, conflicts_with_all = ["from", "to"], required_unless_present_all = ["from", "to"])]
    at: Option<String>,
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
) -> Result<Scope> {
    let (start, end) = match (&a.at, &a.from, &a.to) {
        (Some(at), _, _) => Scope::around(time("at", at, tz)?),
        (None, Some(f), Some(t)) => (time("from", f, tz)?, time("to", t, tz)?),
        _ => return Err(Error::bad_input("say when: --at TIME, or --from TIME --to TIME")),
    };
    let groups = spec.features.failure_analysis.as_ref().map(|f| f.log_groups.clone()).unwrap_or_default();
    if let Some(g) = a.log_groups.iter().find(|g| !groups.contains(g)) {
        return Err(Error::bad_input(format!("--log-group {g}: not one of the spec's log groups")).hint(format!(
            "features.failure_analysis.log_groups lists: {}",
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

pub fn run(ctx: &mut Context, a: Args) -> Result {
    let loaded = ctx.load_spec(&a.lake.spec, Diagnostics::Errors)?;
    let (spec, layout) = (&loaded.spec, loaded.layout());
    let tz = zone(&a)?;
    let scope = scope(&a, &tz, spec, &layout)?;
    // The command line calls a model only when asked: offline and free by default.
    let choice: ModelChoice = a.model.parse().map_err(|e| Error::bad_input(format!("--model {e}")))?;
    let (model, source) = ctx.model_and_source(spec, &layout, &a.lake, &choice, true)?;
    if matches!(source, opslake_runtime::source::Source::EventHistory { .. }) {
        return Err(Error::bad_input("analyze reads the lake: use --local DIR or --athena"));
    }
    let gathered = ctx.rt.block_on(gather(&source, &layout, &scope));
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
