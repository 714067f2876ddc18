//! `opslake init [DIR]`: a commented starter `opslake.yaml`.

use std::path::PathBuf;

use crate::context::Context;
use crate::error::{Error, Exit, Result};

/// The commented starter spec.
pub const STARTER: &str = include_str!("../../../templates/init/opslake.yaml");

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The directory (default: the current one)
    dir: Option<PathBuf>,
    /// Overwrite an existing opslake.yaml
    #[arg(long)]
    force: bool,
}

pub fn run(ctx: &mut Context, a: Args) -> Result {
    let dir = a.dir.unwrap_or_else(|| PathBuf::from("."));
    let path = dir.join("opslake.yaml");
    if path.exists() && !a.force {
        return Err(Error::bad_input(format!("{} already exists", path.display())).hint("pass --force to overwrite it"));
    }
    std::fs::create_dir_all(&dir)?;
    std::fs::write(&path, STARTER)?;
    writeln!(ctx.out, "wrote {}\nnext: edit it, then `opslake validate {}`", path.display(), path.display())?;
    Ok(Exit::Ok)
}
