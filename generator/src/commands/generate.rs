//! `opslake generate SPEC --out DIR [--check]`: the templates and `manifest.json`, written all
//! or nothing; `--check` writes nothing and exits 1 when DIR differs.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::args::Format;
use crate::context::Context;
use crate::error::{Exit, Result};
use crate::output;
use crate::render::OutputFile;

#[derive(clap::Args, Debug)]
pub struct Args {
    spec: PathBuf,
    #[arg(long)]
    out: PathBuf,
    /// Write nothing; exit 1 when DIR differs from what would be generated (for CI)
    #[arg(long)]
    check: bool,
    /// Directory whose files override the embedded templates (same relative names,
    /// e.g. cloudformation/central.yaml.tera)
    #[arg(long)]
    templates: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub fn run(ctx: &mut Context, a: Args) -> Result {
    let prepared = ctx.prepare(&a.spec, a.templates.as_deref())?;
    if a.check {
        return check(ctx, &a, &prepared.files);
    }
    let dir = &a.out;
    let removed = output::write(dir, &prepared.files)?;
    if a.format == Format::Json {
        let list: Vec<_> =
            prepared.files.iter().map(|f| json!({"file": dir.join(&f.name), "bytes": f.bytes.len()})).collect();
        let v = json!({"written": list, "removed": removed});
        writeln!(ctx.out, "{}", serde_json::to_string_pretty(&v).unwrap_or_default())?;
    } else {
        for f in &prepared.files {
            writeln!(ctx.out, "wrote {} ({} bytes)", dir.join(&f.name).display(), f.bytes.len())?;
        }
        for r in removed {
            writeln!(ctx.out, "removed {} (no longer generated)", dir.join(r).display())?;
        }
    }
    Ok(Exit::Ok)
}

fn check(ctx: &mut Context, a: &Args, files: &[OutputFile]) -> Result {
    let dir: &Path = &a.out;
    let drift = output::check(dir, files)?;
    if a.format == Format::Json {
        let v = json!({"up_to_date": drift.is_clean(), "stale": drift.stale, "missing": drift.missing, "extra": drift.extra});
        writeln!(ctx.out, "{}", serde_json::to_string_pretty(&v).unwrap_or_default())?;
    } else if drift.is_clean() {
        writeln!(ctx.out, "{}: up to date ({} files)", dir.display(), files.len())?;
    } else {
        for (what, list) in [("stale", &drift.stale), ("missing", &drift.missing), ("extra", &drift.extra)] {
            for f in list {
                writeln!(ctx.err, "{what}: {}", dir.join(f).display())?;
            }
        }
        let (spec, out) = (a.spec.display(), dir.display());
        writeln!(ctx.err, "{out} is out of date: run `opslake generate {spec} --out {out}`")?;
    }
    Ok(Exit::ok_if(drift.is_clean()))
}
