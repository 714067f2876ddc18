//! `opslake leftovers`: resources created but never deleted, from the `created-deleted`
//! query over the local mirror or Athena, paired by `opslake_runtime::analysis::leftovers`.

use std::io::Write;
use std::path::Path;

use jiff::civil::Date;
use jiff::ToSpan;
use opslake_runtime::analysis::leftovers::{pair, report};
use opslake_runtime::engine::athena::Connection;
use opslake_runtime::engine::local::Mirror;
use opslake_runtime::query::{self, QueryError};

use crate::cli::{load_spec, Format, BAD_INPUT, FAILURE, OK};
use crate::{plan, spec};

/// Where the create and delete events come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Local,
    Athena,
    LookupEvents,
}

pub struct Args<'a> {
    pub spec: &'a Path,
    pub local: Option<&'a Path>,
    pub source: Source,
    pub conn: Connection,
    pub since: Option<&'a str>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub user: Option<&'a str>,
    pub regions: &'a [String],
    pub format: Format,
    pub fail_if_found: bool,
    pub confirm: bool,
}

/// `30d` → 30.
fn days(s: &str) -> Option<i64> {
    s.strip_suffix('d').unwrap_or(s).parse::<i64>().ok().filter(|d| (1..=3650).contains(d))
}

pub fn run(a: Args, out: &mut dyn Write, err: &mut dyn Write) -> std::io::Result<u8> {
    let (loaded, _) = match load_spec(a.spec, Format::Text, out, err)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let Some(spec) = loaded.spec.as_ref() else { return Ok(BAD_INPUT) };
    let layout = plan::layout(spec);
    let today = spec::today_utc();
    let default_days = spec.features.leftovers.as_ref().map_or(30, |l| i64::from(l.lookback_days));
    let (from, to) = match (a.from, a.to, a.since) {
        (Some(f), Some(t), None) => (f.to_string(), t.to_string()),
        (None, None, since) => {
            let Some(n) = days(since.unwrap_or(&format!("{default_days}d"))) else {
                writeln!(err, "error: --since {}: expected a number of days, e.g. 30d (1-3650)", since.unwrap_or(""))?;
                return Ok(BAD_INPUT);
            };
            let from: Date = today.checked_sub(n.days()).unwrap_or(today);
            (from.to_string(), today.to_string())
        }
        _ => {
            writeln!(err, "error: give either --since N[d], or both --from and --to")?;
            return Ok(BAD_INPUT);
        }
    };
    let q = query::find("created-deleted").expect("catalogued query");
    let pairs = vec![("from".to_string(), from.clone()), ("to".to_string(), to.clone())];
    let params = match query::validate(q, &pairs, &layout) {
        Ok(p) => p,
        Err(e) => {
            writeln!(err, "error: {e}")?;
            return Ok(BAD_INPUT);
        }
    };
    for r in a.regions {
        if !layout.regions.contains(r) {
            writeln!(err, "error: --region {r} is not in the spec's regions ({})", layout.regions.join(", "))?;
            return Ok(BAD_INPUT);
        }
    }
    let (columns, rows) = if a.source == Source::LookupEvents {
        let (f, t) = (params.date("from").unwrap_or(today), params.date("to").unwrap_or(today));
        let oldest = today.checked_sub(opslake_runtime::engine::lookup::MAX_DAYS.days()).unwrap_or(today);
        if f < oldest {
            writeln!(err, "error: event history (LookupEvents) covers the last {} days (from {oldest}); use --local or --athena for older events", opslake_runtime::engine::lookup::MAX_DAYS)?;
            return Ok(BAD_INPUT);
        }
        let regions: Vec<String> = if a.regions.is_empty() { layout.regions.clone() } else { a.regions.to_vec() };
        let names: std::collections::BTreeSet<String> = opslake_runtime::catalogue::event_keys()
            .iter()
            .filter_map(|k| k.split_once(':'))
            .map(|(_, e)| e.to_string())
            .collect();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        match rt.block_on(opslake_runtime::engine::lookup::created_deleted(&a.conn, &regions, &names, f, t)) {
            Ok((rows, stats)) => {
                writeln!(
                    err,
                    "LookupEvents: {} calls, {} events in {} regions",
                    stats.calls,
                    stats.events,
                    regions.len()
                )?;
                (q.columns.iter().map(|c| c.to_string()).collect::<Vec<_>>(), rows)
            }
            Err(e) => {
                writeln!(err, "error: {e}")?;
                return Ok(FAILURE);
            }
        }
    } else if a.source == Source::Athena {
        match crate::query::in_athena(q, &params, &layout, spec, a.conn.clone(), err)? {
            Ok(answer) => (answer.columns, answer.rows),
            Err(code) => return Ok(code),
        }
    } else if let Some(dir) = a.local {
        if !dir.is_dir() {
            writeln!(err, "error: --local {}: not a directory", dir.display())?;
            return Ok(BAD_INPUT);
        }
        match query::run_local(q, &params, &layout, &Mirror::new(dir), today) {
            Ok(ans) => {
                for p in &ans.stats.problems {
                    writeln!(err, "warning: skipped {}: {}", p.key, p.reason)?;
                }
                (ans.columns, ans.rows)
            }
            Err(QueryError::Param(e)) => {
                writeln!(err, "error: {e}")?;
                return Ok(BAD_INPUT);
            }
            Err(QueryError::Engine(e)) => {
                writeln!(err, "error: {e}")?;
                return Ok(FAILURE);
            }
        }
    } else {
        writeln!(
            err,
            "error: say where to read: --local DIR (a mirror of the log buckets), --athena or --lookup-events"
        )?;
        return Ok(BAD_INPUT);
    };
    let mut found = pair(&columns, &rows, jiff::Timestamp::now());
    if let Some(u) = a.user {
        found.retain(|l| l.created_by_user.as_deref() == Some(u));
    }
    if !a.regions.is_empty() {
        found.retain(|l| a.regions.contains(&l.region));
    }
    if a.confirm && !found.is_empty() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (kept, stats) = rt.block_on(opslake_runtime::engine::confirm::confirm(&a.conn, found));
        writeln!(
            err,
            "confirmed with Cloud Control: {} still exist, {} gone, {} unconfirmed",
            stats.still_there, stats.gone, stats.unconfirmed
        )?;
        found = kept;
    }
    match a.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&found).unwrap_or_default())?,
        Format::Text => write!(out, "{}", report(&found, &from, &to))?,
    }
    Ok(if a.fail_if_found && !found.is_empty() { FAILURE } else { OK })
}
