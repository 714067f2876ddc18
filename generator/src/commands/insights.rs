//! `opslake insights`: API activity in event-time windows — calls per service, API, user,
//! source IP and error code — from the lake's CloudTrail (a mirror, or Athena), through the
//! `events` query streamed row by row, so memory stays flat however long the range.

use jiff::Timestamp;
use opslake_runtime::analysis::insights::{Activity, Aggregator, Window};
use opslake_runtime::query::{self, Row};
use opslake_runtime::source::StreamFailure;

use crate::args::LakeArgs;
use crate::context::{Context, Diagnostics};
use crate::error::{Error, Exit, Result};
use crate::report::table;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Width {
    #[value(name = "10s")]
    TenSeconds,
    #[value(name = "1m")]
    Minute,
    #[value(name = "5m")]
    FiveMinutes,
    #[value(name = "1h")]
    Hour,
}

impl Width {
    fn seconds(self) -> i64 {
        match self {
            Width::TenSeconds => 10,
            Width::Minute => 60,
            Width::FiveMinutes => 300,
            Width::Hour => 3600,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    lake: LakeArgs,
    /// Range start: RFC 3339 (2025-06-12T09:00:00Z) or a day (2025-06-12, its midnight UTC)
    #[arg(long)]
    from: String,
    /// Range end (excluded), the same forms; at most 31 days after --from
    #[arg(long)]
    to: String,
    /// Window width
    #[arg(long, value_enum, default_value = "1m")]
    window: Width,
    /// Only this account
    #[arg(long)]
    account: Option<String>,
    /// Only this region
    #[arg(long)]
    region: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// A time: RFC 3339, or a day at midnight UTC.
fn time(flag: &str, s: &str) -> Result<Timestamp> {
    query::parse_time(s)
        .or_else(|| {
            s.parse::<jiff::civil::Date>()
                .ok()
                .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
                .map(|z| z.timestamp())
        })
        .ok_or_else(|| Error::bad_input(format!("--{flag} {s}: not a time; write 2025-06-12T09:00:00Z or 2025-06-12")))
}

fn text(windows: &[Window]) -> String {
    let head = ["window (UTC)", "calls", "errors", "top service", "top API", "top user", "top IP"];
    let first = |m: &std::collections::BTreeMap<String, u64>| {
        m.iter()
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map(|(k, n)| format!("{k} ({n})"))
            .unwrap_or_default()
    };
    let rows: Vec<Vec<String>> = windows
        .iter()
        .map(|w| {
            vec![
                w.start.clone(),
                w.total.to_string(),
                w.errors.values().sum::<u64>().to_string(),
                first(&w.by_service),
                first(&w.by_api),
                first(&w.by_user),
                first(&w.by_ip),
            ]
        })
        .collect();
    table::render(&head.map(String::from), &rows)
}

pub fn run(ctx: &mut Context, a: Args) -> Result {
    let (from, to) = (time("from", &a.from)?, time("to", &a.to)?);
    if from >= to || to.duration_since(from) > jiff::SignedDuration::from_hours(31 * 24) {
        return Err(Error::bad_input("--from must be before --to, and the range at most 31 days"));
    }
    let loaded = ctx.load_spec(&a.lake.spec, Diagnostics::Errors)?;
    let (spec, layout) = (&loaded.spec, loaded.layout());
    let q = query::find_or_explain("events")?;
    let day = |t: Timestamp| t.to_zoned(jiff::tz::TimeZone::UTC).date().to_string();
    // The last day the range touches (its end is excluded).
    let last = to.checked_sub(jiff::SignedDuration::from_secs(1)).unwrap_or(to);
    let mut pairs = vec![("from".to_string(), day(from)), ("to".to_string(), day(last))];
    pairs.extend(a.account.iter().map(|x| ("account".to_string(), x.clone())));
    pairs.extend(a.region.iter().map(|x| ("region".to_string(), x.clone())));
    let params = query::validate(q, &pairs, &layout)?;
    let source = ctx.source(spec, &layout, &a.lake.from, || ctx.aws(&a.lake.aws.connection(), spec), None)?;
    let columns: Vec<String> = q.columns.iter().map(|c| c.to_string()).collect();
    let mut agg = Aggregator::new(from, to, a.window.seconds());
    let answer = ctx
        .rt
        .block_on(source.stream(q, &params, &layout, |values| {
            if let Some(activity) = Activity::from_row(Row::new(&columns, &values)) {
                agg.add(&activity);
            }
            Ok::<(), std::convert::Infallible>(())
        }))
        .map_err(|e| match e {
            StreamFailure::Source(e) => Error::from(e),
            StreamFailure::Sink(e) => match e {},
        })?;
    let (counted, repeated) = (agg.counted, agg.repeated);
    let windows = agg.windows();
    match a.format {
        Format::Json => {
            let v = serde_json::json!({
                "from": query::utc_text(from), "to": query::utc_text(to), "window_seconds": a.window.seconds(),
                "calls": counted, "repeated": repeated, "windows": windows,
            });
            writeln!(ctx.out, "{}", serde_json::to_string_pretty(&v).unwrap_or_default())?;
        }
        Format::Text => {
            write!(ctx.out, "{}", text(&windows))?;
            writeln!(
                ctx.out,
                "{counted} calls in {} windows ({repeated} repeated events counted once)",
                windows.len()
            )?;
        }
    }
    write!(ctx.err, "{}", crate::report::answer::read(&answer))?;
    Ok(Exit::Ok)
}
