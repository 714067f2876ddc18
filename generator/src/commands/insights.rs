//! `opslake insights`: API activity in event-time windows — calls per service, API, user,
//! source IP, region and error code, sign-ins, root, access denied — with anomaly scores and
//! first uses, from the lake's CloudTrail (a mirror, or Athena), through the `activity` query
//! streamed row by row, so memory stays flat however long the range. The aggregation and the
//! scoring are the runtime's, the same the live function runs.

use jiff::Timestamp;
use opslake_runtime::analysis::insights::anomaly::{self, Anomaly, Scorer};
use opslake_runtime::analysis::insights::{first_key, Activities, Activity, Aggregator, Counts, First, Window};
use opslake_runtime::query::{self, Row};
use opslake_runtime::report::insights::{anomaly_row, first_row, html, Page};
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

/// The most windows one run scores (each is an update of every series' forest).
const MAX_WINDOWS: i64 = 100_000;

impl Width {
    fn name(self) -> &'static str {
        match self {
            Width::TenSeconds => "10s",
            Width::Minute => "1m",
            Width::FiveMinutes => "5m",
            Width::Hour => "1h",
        }
    }

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
    /// Range end (excluded), the same forms; at most 100,000 windows after --from (10s: 11 days,
    /// 1m: 69 days, 5m: 347 days, 1h: 11 years)
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
    /// Also write the dashboard as one self-contained HTML page (no script, no network), in
    /// the spec's model.language
    #[arg(long, value_name = "FILE")]
    html: Option<std::path::PathBuf>,
}

/// Regions and services seen in the first quarter of the range (at most a week) are learnt;
/// a first use after it is reported.
fn learn_until(from: Timestamp, to: Timestamp) -> Timestamp {
    let quarter = jiff::SignedDuration::from_secs(to.duration_since(from).as_secs() / 4);
    from.checked_add(quarter.min(jiff::SignedDuration::from_hours(7 * 24))).unwrap_or(from)
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

fn text(a: &Activities, anomalies: &[Anomaly]) -> String {
    let head = ["window (UTC)", "calls", "errors", "denied", "root", "top service", "top API", "top user", "top IP"];
    let first = |m: &Counts| first_key(m).map(|(k, n)| format!("{k} ({n})")).unwrap_or_default();
    let rows: Vec<Vec<String>> = a
        .windows
        .iter()
        .map(|w| {
            vec![
                w.start.clone(),
                w.total.to_string(),
                w.error_count().to_string(),
                w.denied_count().to_string(),
                w.root.to_string(),
                first(&w.by_service),
                first(&w.by_api),
                first(&w.by_user),
                first(&w.by_ip),
            ]
        })
        .collect();
    let mut out = table::render(&head.map(String::from), &rows);
    out.push_str("\nanomalies (random cut forest, one per episode):\n");
    let rows: Vec<Vec<String>> = anomalies.iter().map(anomaly_row).collect();
    out.push_str(&table::render(&["window (UTC)", "series", "key", "value", "score"].map(String::from), &rows));
    out.push_str("\nfirst use of a region or service by an account:\n");
    let rows: Vec<Vec<String>> = a.firsts.iter().map(first_row).collect();
    out.push_str(&table::render(&["time (UTC)", "account", "kind", "key", "by"].map(String::from), &rows));
    out
}

/// `--format json`: the range, how it was scored, every window, the anomalies and first uses.
#[derive(serde::Serialize)]
struct Report<'a> {
    from: String,
    to: String,
    window_seconds: i64,
    calls: u64,
    repeated: u64,
    out_of_order: u64,
    scoring: serde_json::Value,
    learnt_until: String,
    windows: &'a [Window],
    anomalies: &'a [Anomaly],
    firsts: &'a [First],
}

pub fn run(ctx: &mut Context, a: Args) -> Result {
    let (from, to) = (time("from", &a.from)?, time("to", &a.to)?);
    if from >= to {
        return Err(Error::bad_input("--from must be before --to"));
    }
    let windows = to.duration_since(from).as_secs() / a.window.seconds();
    if windows > MAX_WINDOWS {
        return Err(Error::bad_input(format!(
            "--from {} --to {} is {windows} windows of {}; at most {MAX_WINDOWS} are scored",
            a.from,
            a.to,
            a.window.name()
        ))
        .hint("choose a wider --window, or a shorter range"));
    }
    let loaded = ctx.load_spec(&a.lake.spec, Diagnostics::Errors)?;
    let (spec, layout) = (&loaded.spec, loaded.layout());
    let q = query::find_or_explain("activity")?;
    let day = |t: Timestamp| t.to_zoned(jiff::tz::TimeZone::UTC).date().to_string();
    // The last day the range touches (its end is excluded).
    let last = to.checked_sub(jiff::SignedDuration::from_secs(1)).unwrap_or(to);
    let mut pairs = vec![("from".to_string(), day(from)), ("to".to_string(), day(last))];
    pairs.extend(a.account.iter().map(|x| ("account".to_string(), x.clone())));
    pairs.extend(a.region.iter().map(|x| ("region".to_string(), x.clone())));
    let params = query::validate(q, &pairs, &layout)?;
    let source = ctx.source(spec, &layout, &a.lake.from, || ctx.aws(&a.lake.aws.connection(), spec), None)?;
    let columns: Vec<String> = q.columns.iter().map(|c| c.to_string()).collect();
    let width = a.window.seconds();
    let mut agg = Aggregator::new(from, to, width, learn_until(from, to));
    let mut buf = Vec::new();
    let answer = ctx
        .rt
        .block_on(source.stream(q, &params, &layout, |row| {
            if let Some(activity) = Activity::from_row(Row::new(&columns, row.values(&mut buf)?)) {
                agg.add(&activity);
            }
            Ok::<(), String>(())
        }))
        .map_err(|e| match e {
            StreamFailure::Source(e) => Error::from(e),
            StreamFailure::Sink(e) => Error::failed(format!("cannot read a sorted row back: {e}")),
        })?;
    let (counted, repeated, out_of_order) = (agg.counted, agg.repeated, agg.out_of_order);
    let activities = agg.finish();
    let anomalies = Scorer::new(anomaly::SEED).range(&activities.windows, from, to, width);
    if let Some(path) = &a.html {
        let page = Page {
            title: &spec.name,
            from,
            to,
            width,
            activities: &activities,
            anomalies: &anomalies,
            calls: counted,
            repeated,
        };
        std::fs::write(path, html(&page, spec.model.language))
            .map_err(|e| Error::bad_input(format!("--html {}: {e}", path.display())))?;
    }
    match a.format {
        Format::Json => {
            // Written as it is serialized: the windows are not copied into a JSON tree first.
            let report = Report {
                from: query::utc_text(from),
                to: query::utc_text(to),
                window_seconds: width,
                calls: counted,
                repeated,
                out_of_order,
                scoring: serde_json::json!({
                    "trees": anomaly::TREES, "sample_size": anomaly::SAMPLE, "shingle": anomaly::SHINGLE,
                    "threshold": anomaly::THRESHOLD, "seed": anomaly::SEED, "warmup_windows": anomaly::WARMUP,
                }),
                learnt_until: query::utc_text(learn_until(from, to)),
                windows: &activities.windows,
                anomalies: &anomalies,
                firsts: &activities.firsts,
            };
            let mut out = std::io::BufWriter::new(&mut *ctx.out);
            serde_json::to_writer_pretty(&mut out, &report).map_err(std::io::Error::from)?;
            std::io::Write::write_all(&mut out, b"\n")?;
            std::io::Write::flush(&mut out)?;
        }
        Format::Text => {
            write!(ctx.out, "{}", text(&activities, &anomalies))?;
            writeln!(
                ctx.out,
                "{counted} calls in {} windows ({repeated} repeated events counted once)",
                activities.windows.len()
            )?;
        }
    }
    write!(ctx.err, "{}", crate::report::answer::read(&answer))?;
    Ok(Exit::Ok)
}
