//! `opslake query [NAME]`: the named-query catalogue, or one query's answer from the mirror,
//! Athena or event history (table, JSON or CSV), or its Athena SQL.

use opslake_runtime::query::{self, QUERIES};
use opslake_runtime::source::StreamFailure;

use crate::args::{LakeArgs, TableFormat};
use crate::context::{Context, Diagnostics};
use crate::error::{Error, Exit, Result};
use crate::report;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The query (none: list the catalogue)
    name: Option<String>,
    #[command(flatten)]
    lake: LakeArgs,
    /// A parameter, KEY=VALUE (repeatable)
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,
    #[arg(long, value_enum, default_value = "table")]
    format: TableFormat,
    /// Print the Athena SQL with the parameters inlined as literals, and exit
    #[arg(long)]
    print_sql: bool,
}

fn list(ctx: &mut Context) -> Result {
    for q in QUERIES {
        writeln!(ctx.out, "{:<16} {}", q.name, q.description)?;
        for p in q.params {
            writeln!(ctx.out, "    {:<14} {}{}", p.name, if p.required { "" } else { "(optional) " }, p.help)?;
        }
    }
    Ok(Exit::Ok)
}

/// `KEY=VALUE` → (key, value).
fn pairs(params: &[String]) -> Result<Vec<(String, String)>> {
    params
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) => Ok((k.trim().to_string(), v.to_string())),
            None => Err(Error::bad_input(format!("--param {p}: expected KEY=VALUE"))),
        })
        .collect()
}

pub fn run(ctx: &mut Context, a: Args) -> Result {
    let Some(name) = a.name.as_deref() else { return list(ctx) };
    let q = query::find_or_explain(name)?;
    let pairs = pairs(&a.params)?;
    let loaded = ctx.load_spec(&a.lake.spec, Diagnostics::Errors)?;
    let layout = loaded.layout();
    let params = query::validate(q, &pairs, &layout)?;
    if a.print_sql {
        writeln!(ctx.out, "{}", query::render_sql(q, &params, &layout)?.inlined())?;
        return Ok(Exit::Ok);
    }
    let spec = &loaded.spec;
    let nowhere = a.lake.from.local.is_none() && !a.lake.from.athena && !a.lake.from.lookup_events;
    let source =
        ctx.source(spec, &layout, &a.lake.from, || ctx.aws(&a.lake.aws.connection(), spec), None).map_err(|e| {
            if nowhere {
                e.hint("--print-sql shows the Athena SQL without running it")
            } else {
                e
            }
        })?;
    let rt = ctx.rt;
    let answer = if a.format == TableFormat::Table {
        let answer = rt.block_on(source.answer(q, &params, &layout))?;
        write!(ctx.out, "{}", report::answer::render(&answer, a.format))?;
        answer
    } else {
        // Row by row: memory stays flat however many rows the query returns.
        let columns: Vec<String> = q.columns.iter().map(|c| c.to_string()).collect();
        // Buffered: the terminal's stdout flushes at every line, a write per row.
        let out = std::io::BufWriter::with_capacity(1 << 16, &mut *ctx.out);
        let mut w = report::answer::RowWriter::begin(out, &columns, a.format == TableFormat::Csv)?;
        let answer = rt.block_on(source.stream(q, &params, &layout, |r| w.row(r))).map_err(|e| match e {
            StreamFailure::Source(e) => Error::from(e),
            StreamFailure::Sink(e) => Error::from(e),
        })?;
        w.end()?;
        answer
    };
    write!(ctx.err, "{}", report::answer::read(&answer))?;
    Ok(Exit::Ok)
}
