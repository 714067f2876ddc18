//! `opslake leftovers`: resources created but never deleted — the `created-deleted` answer of
//! the mirror, Athena or event history, paired; optionally confirmed with Cloud Control.

use jiff::civil::Date;
use jiff::ToSpan;
use opslake_runtime::analysis::leftovers::pair;
use opslake_runtime::engine::confirm::confirm;

use crate::args::{Format, LakeArgs};
use crate::context::{Context, Diagnostics};
use crate::error::{Error, Exit, Result};
use crate::report;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    lake: LakeArgs,
    /// How far back to look, e.g. 30d (default: features.leftovers.lookback_days, else 30)
    #[arg(long, conflicts_with_all = ["from_day", "to_day"])]
    since: Option<String>,
    /// First day (YYYY-MM-DD), with --to
    #[arg(long = "from", id = "from_day", requires = "to_day", value_name = "DATE")]
    from_day: Option<Date>,
    /// Last day (YYYY-MM-DD), with --from
    #[arg(long = "to", id = "to_day", requires = "from_day", value_name = "DATE")]
    to_day: Option<Date>,
    /// Only resources this IAM user or role session created
    #[arg(long)]
    user: Option<String>,
    /// Only these regions (repeatable)
    #[arg(long = "region")]
    regions: Vec<String>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Exit 1 when anything is found (for CI)
    #[arg(long)]
    fail_if_found: bool,
    /// Check with the Cloud Control API that each one still exists (drops those gone)
    #[arg(long)]
    confirm: bool,
}

/// The window: `--from`/`--to`, or `--since N[d]` (default: the spec's lookback) up to today.
fn window(a: &Args, default_days: i64, today: Date) -> Result<(Date, Date)> {
    if let (Some(f), Some(t)) = (a.from_day, a.to_day) {
        return Ok((f, t));
    }
    let since = a.since.clone().unwrap_or_else(|| format!("{default_days}d"));
    let days = since.strip_suffix('d').unwrap_or(&since).parse::<i64>().ok().filter(|d| (1..=3650).contains(d));
    let Some(n) = days else {
        return Err(Error::bad_input(format!("--since {since}: expected a number of days, e.g. 30d (1-3650)")));
    };
    Ok((today.checked_sub(n.days()).unwrap_or(today), today))
}

pub fn run(ctx: &mut Context, a: Args) -> Result {
    let loaded = ctx.load_spec(&a.lake.spec, Diagnostics::Errors)?;
    let (spec, layout) = (&loaded.spec, loaded.layout());
    let default_days = spec.features.leftovers.as_ref().map_or(30, |l| i64::from(l.lookback_days));
    let (from, to) = window(&a, default_days, ctx.today)?;
    let pairs = [("from".to_string(), from.to_string()), ("to".to_string(), to.to_string())];
    for r in &a.regions {
        if !layout.regions.contains(r) {
            let all = layout.regions.join(", ");
            return Err(Error::bad_input(format!("--region {r} is not in the spec's regions ({all})")));
        }
    }
    let regions = (!a.regions.is_empty()).then(|| a.regions.clone());
    let aws = || ctx.aws(&a.lake.aws.connection(), spec);
    let source = ctx.source(spec, &layout, &a.lake.from, aws, regions)?;
    let rt = ctx.rt;
    let answer = rt.block_on(source.ask("created-deleted", &pairs, &layout))?;
    write!(ctx.err, "{}", report::answer::read(&answer))?;
    let mut found = pair(&answer, jiff::Timestamp::now());
    if let Some(u) = &a.user {
        found.retain(|l| l.created_by_user.as_ref() == Some(u));
    }
    if !a.regions.is_empty() {
        found.retain(|l| a.regions.contains(&l.region));
    }
    if a.confirm && !found.is_empty() {
        let (kept, stats) = rt.block_on(confirm(&ctx.aws(&a.lake.aws.connection(), spec), found));
        let (here, gone, unsure) = (stats.still_there, stats.gone, stats.unconfirmed);
        writeln!(ctx.err, "confirmed with Cloud Control: {here} still exist, {gone} gone, {unsure} unconfirmed")?;
        found = kept;
    }
    match a.format {
        Format::Json => writeln!(ctx.out, "{}", serde_json::to_string_pretty(&found).unwrap_or_default())?,
        Format::Text => write!(ctx.out, "{}", opslake_runtime::report::leftovers::text(&found, from, to))?,
    }
    Ok(Exit::ok_if(!a.fail_if_found || found.is_empty()))
}
