//! `opslake schema`: the spec's JSON Schema on stdout (for editor completion).

use crate::context::Context;
use crate::error::{Exit, Result};
use crate::spec;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(ctx: &mut Context, _: Args) -> Result {
    let text = serde_json::to_string_pretty(&spec::shape::json_schema()).unwrap_or_default();
    writeln!(ctx.out, "{text}")?;
    Ok(Exit::Ok)
}
