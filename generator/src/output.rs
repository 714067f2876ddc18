//! Output directory: write rendered files (all or nothing), or compare them (`--check`).

use std::collections::BTreeSet;
use std::path::Path;

use crate::render::OutputFile;

/// What `--check` found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Drift {
    pub stale: Vec<String>,
    pub missing: Vec<String>,
    pub extra: Vec<String>,
}

impl Drift {
    pub fn is_clean(&self) -> bool {
        self.stale.is_empty() && self.missing.is_empty() && self.extra.is_empty()
    }
}

/// Compares `dir` with the files that would be written.
pub fn check(dir: &Path, files: &[OutputFile]) -> std::io::Result<Drift> {
    let mut drift = Drift::default();
    for f in files {
        match std::fs::read(dir.join(&f.name)) {
            Ok(existing) if existing == f.bytes => {}
            Ok(_) => drift.stale.push(f.name.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => drift.missing.push(f.name.clone()),
            Err(e) => return Err(e),
        }
    }
    let ours: BTreeSet<&str> = files.iter().map(|f| f.name.as_str()).collect();
    if dir.is_dir() {
        let mut extra: Vec<String> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !ours.contains(n.as_str()))
            .collect();
        extra.sort();
        drift.extra = extra;
    }
    Ok(drift)
}

/// Files listed by the manifest already in `dir` (from an earlier run).
fn previous_files(dir: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(dir.join("manifest.json")) else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    v["templates"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| t["file"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// Writes every file into `dir` (created if needed). Each file is written to a temporary
/// name and renamed into place, so a failure never leaves a half-written template.
/// Templates that the previous manifest listed but this run no longer generates are removed;
/// nothing else in `dir` is touched. Returns the removed names.
pub fn write(dir: &Path, files: &[OutputFile]) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let previous = previous_files(dir);
    let mut staged = Vec::new();
    for f in files {
        let tmp = dir.join(format!(".{}.tmp", f.name));
        std::fs::write(&tmp, &f.bytes)?;
        staged.push((tmp, dir.join(&f.name)));
    }
    for (tmp, dest) in staged {
        std::fs::rename(tmp, dest)?;
    }
    let mut removed = Vec::new();
    for name in previous {
        let ours = files.iter().any(|f| f.name == name);
        let safe = !name.contains('/') && !name.contains('\\') && !name.starts_with('.');
        if !ours && safe && dir.join(&name).is_file() {
            std::fs::remove_file(dir.join(&name))?;
            removed.push(name);
        }
    }
    Ok(removed)
}
