//! `opslake doctor SPEC`: the deployed lake against the spec. Exit 0 when it matches, 1 when
//! something is wrong, 2 for a bad spec.

use std::path::PathBuf;

use crate::args::{Format, HomeArgs};
use crate::context::{Context, Diagnostics};
use crate::doctor::{self, DEFAULT_SAMPLE};
use crate::error::{Exit, Result};
use crate::report;

#[derive(clap::Args, Debug)]
pub struct Args {
    spec: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// S3 list calls per table for the prefix sample (breadth-first)
    #[arg(long, default_value_t = DEFAULT_SAMPLE as u32, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    sample: u32,
    #[command(flatten)]
    aws: HomeArgs,
}

pub fn run(ctx: &mut Context, a: Args) -> Result {
    // Diagnostics go to stderr even with --format json: stdout carries the report.
    let loaded = ctx.load_spec(&a.spec, Diagnostics::Errors)?;
    let plan = ctx.plan(&loaded)?;
    let aws = ctx.aws(&a.aws.connection(), &loaded.spec);
    let opts = doctor::Options { sample: a.sample as usize, today: ctx.today };
    let report = ctx.rt.block_on(doctor::doctor(&loaded.spec, &plan, &aws, &opts));
    match a.format {
        Format::Json => writeln!(ctx.out, "{}", serde_json::to_string_pretty(&report).unwrap_or_default())?,
        Format::Text => write!(ctx.out, "{}", report::doctor::text(&report))?,
    }
    Ok(Exit::ok_if(report.ok))
}
