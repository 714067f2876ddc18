//! `opslake query`: the named-query catalogue on the command line, over a local mirror.

use std::io::Write;
use std::path::Path;

use opslake_runtime::engine::athena::{AthenaEngine, Connection};
use opslake_runtime::engine::local::Mirror;
use opslake_runtime::lake::LakeLayout;
use opslake_runtime::query::{self, Answer, Params, QueryDef, QueryError, QUERIES};
use serde_json::Value;

use crate::cli::{load_spec, Format, TableFormat, BAD_INPUT, FAILURE, OK};
use crate::spec::Spec;
use crate::{plan, spec};

pub struct Args<'a> {
    pub name: Option<&'a str>,
    pub spec: &'a Path,
    pub local: Option<&'a Path>,
    /// `Some` with --athena.
    pub athena: Option<Connection>,
    pub params: &'a [String],
    pub format: TableFormat,
    pub print_sql: bool,
}

fn list(out: &mut dyn Write) -> std::io::Result<u8> {
    for q in QUERIES {
        writeln!(out, "{:<16} {}", q.name, q.description)?;
        for p in q.params {
            writeln!(out, "    {:<14} {}{}", p.name, if p.required { "" } else { "(optional) " }, p.help)?;
        }
    }
    Ok(OK)
}

pub fn run(a: Args, out: &mut dyn Write, err: &mut dyn Write) -> std::io::Result<u8> {
    let Some(name) = a.name else { return list(out) };
    let Some(q) = query::find(name) else {
        let names: Vec<&str> = QUERIES.iter().map(|q| q.name).collect();
        let hint = spec::diag::did_you_mean(name, names.iter().copied())
            .map(|m| format!(" (did you mean `{m}`?)"))
            .unwrap_or_default();
        writeln!(err, "error: no query named `{name}`{hint}; the queries are: {}", names.join(", "))?;
        return Ok(BAD_INPUT);
    };
    let mut pairs = Vec::new();
    for p in a.params {
        match p.split_once('=') {
            Some((k, v)) => pairs.push((k.trim().to_string(), v.to_string())),
            None => {
                writeln!(err, "error: --param {p}: expected KEY=VALUE")?;
                return Ok(BAD_INPUT);
            }
        }
    }
    let (loaded, _) = match load_spec(a.spec, Format::Text, out, err)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let Some(spec) = loaded.spec.as_ref() else {
        return Ok(BAD_INPUT);
    };
    let layout = plan::layout(spec);
    let params = match query::validate(q, &pairs, &layout) {
        Ok(p) => p,
        Err(e) => {
            writeln!(err, "error: {e}")?;
            return Ok(BAD_INPUT);
        }
    };
    if a.print_sql {
        match query::render_sql(q, &params, &layout) {
            Ok(sql) => {
                writeln!(out, "{}", sql.inlined())?;
                return Ok(OK);
            }
            Err(e) => {
                writeln!(err, "error: {e}")?;
                return Ok(BAD_INPUT);
            }
        }
    }
    if let Some(conn) = a.athena {
        return Ok(match in_athena(q, &params, &layout, spec, conn, err)? {
            Ok(answer) => {
                print_answer(&answer, a.format, out)?;
                OK
            }
            Err(code) => code,
        });
    }
    let Some(dir) = a.local else {
        writeln!(err, "error: say where to read: --local DIR (a mirror of the log buckets) or --athena, or --print-sql for the Athena SQL")?;
        return Ok(BAD_INPUT);
    };
    if !dir.is_dir() {
        writeln!(err, "error: --local {}: not a directory", dir.display())?;
        return Ok(BAD_INPUT);
    }
    let answer = match query::run_local(q, &params, &layout, &Mirror::new(dir), spec::today_utc()) {
        Ok(a) => a,
        Err(QueryError::Param(e)) => {
            writeln!(err, "error: {e}")?;
            return Ok(BAD_INPUT);
        }
        Err(QueryError::Engine(e)) => {
            writeln!(err, "error: {e}")?;
            return Ok(FAILURE);
        }
    };
    print_answer(&answer, a.format, out)?;
    report_scan(&answer, err)?;
    Ok(OK)
}

/// Runs a named query in Athena (the spec's workgroup and database, the home region unless
/// the connection names another) and finishes its rows. On failure the reason is written to
/// `err` and the exit code returned.
pub(crate) fn in_athena(
    q: &QueryDef,
    params: &Params,
    layout: &LakeLayout,
    spec: &Spec,
    mut conn: Connection,
    err: &mut dyn Write,
) -> std::io::Result<Result<Answer, u8>> {
    let sql = match query::render_sql(q, params, layout) {
        Ok(sql) => sql,
        Err(e) => {
            writeln!(err, "error: {e}")?;
            return Ok(Err(BAD_INPUT));
        }
    };
    conn.region = conn.region.or_else(|| Some(spec.home.region.clone()));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let result =
        rt.block_on(async { AthenaEngine::connect(&conn, &spec.workgroup(), &layout.database).await.run(&sql).await });
    match result {
        Ok(athena) => {
            writeln!(
                err,
                "Athena query {}: scanned {} (estimated cost ${:.4})",
                athena.query_id,
                mb(athena.bytes_scanned),
                athena.estimated_cost_usd
            )?;
            // A post-processed query (created-deleted) answers with its own columns.
            let columns = match q.post {
                Some(_) => q.columns.iter().map(|c| c.to_string()).collect(),
                None => athena.columns,
            };
            Ok(Ok(Answer { columns, rows: query::finish(q, athena.rows), stats: Default::default() }))
        }
        Err(e) => {
            writeln!(err, "error: {e}")?;
            Ok(Err(FAILURE))
        }
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn print_answer(a: &Answer, format: TableFormat, out: &mut dyn Write) -> std::io::Result<()> {
    match format {
        TableFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&a.objects()).unwrap_or_default()),
        TableFormat::Csv => {
            writeln!(out, "{}", a.columns.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(","))?;
            for r in &a.rows {
                writeln!(out, "{}", r.iter().map(|v| csv_field(&cell(v))).collect::<Vec<_>>().join(","))?;
            }
            Ok(())
        }
        TableFormat::Table => {
            const MAX: usize = 60;
            let shown: Vec<Vec<String>> = a
                .rows
                .iter()
                .map(|r| {
                    r.iter()
                        .map(|v| {
                            let s = cell(v).replace(['\n', '\t'], " ");
                            if s.chars().count() > MAX {
                                format!("{}…", s.chars().take(MAX - 1).collect::<String>())
                            } else {
                                s
                            }
                        })
                        .collect()
                })
                .collect();
            let mut widths: Vec<usize> = a.columns.iter().map(|c| c.chars().count()).collect();
            for r in &shown {
                for (i, c) in r.iter().enumerate() {
                    widths[i] = widths[i].max(c.chars().count());
                }
            }
            let line = |cells: &[String]| -> String {
                cells
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_string()
            };
            writeln!(out, "{}", line(&a.columns))?;
            writeln!(out, "{}", widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "))?;
            for r in &shown {
                writeln!(out, "{}", line(r))?;
            }
            writeln!(out, "({} row{})", a.rows.len(), if a.rows.len() == 1 { "" } else { "s" })
        }
    }
}

fn mb(b: u64) -> String {
    format!("{:.1} MB", b as f64 / 1e6)
}

/// What was scanned, on stderr (stdout stays clean for scripts).
fn report_scan(a: &Answer, err: &mut dyn Write) -> std::io::Result<()> {
    let s = &a.stats;
    writeln!(
        err,
        "scanned {} of {} objects ({} of {}) in {} of {} projected partitions; {} records",
        s.objects_scanned,
        s.objects_total,
        mb(s.bytes_scanned),
        mb(s.bytes_total),
        s.partitions_present,
        s.partitions_projected,
        s.records
    )?;
    if s.bad_records > 0 {
        writeln!(err, "warning: {} records or lines could not be parsed and were skipped", s.bad_records)?;
    }
    for p in &s.problems {
        writeln!(err, "warning: skipped {}: {}", p.key, p.reason)?;
    }
    Ok(())
}
