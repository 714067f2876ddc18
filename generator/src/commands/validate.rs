//! `opslake validate SPEC`: exit 0 when the spec is valid, 2 when not; diagnostics on stderr
//! as `FILE:LINE:COL`, or as one JSON object on stdout.

use std::path::PathBuf;

use crate::args::Format;
use crate::context::{Context, Diagnostics};
use crate::error::{Exit, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    spec: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub fn run(ctx: &mut Context, a: Args) -> Result {
    let show = if a.format == Format::Json { Diagnostics::Json } else { Diagnostics::All };
    ctx.load_spec(&a.spec, show)?;
    if a.format == Format::Text {
        writeln!(ctx.out, "{}: valid", a.spec.display())?;
    }
    Ok(Exit::Ok)
}
