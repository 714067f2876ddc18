//! The local engine: reads a mirror of the log buckets (`s3://B/K` at `ROOT/B/K`, as
//! `aws s3 sync s3://B ROOT/B` leaves it) through the same table definitions Athena uses.
//!
//! A scan projects the partitions the query's constraints allow (pruning like Athena), lists
//! the objects under each partition location, then reads them in parallel (one object per
//! worker at a time, so memory stays bounded whatever the data size). Corrupt objects are
//! reported with their key and skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use super::{Problem, ScanStats};
use crate::lake::{Constraint, TableDef, TableKind};
use crate::records::{self, alb, cloudtrail, config};

/// One record handed to a query's visitor.
pub enum Rec<'r, 'a> {
    Trail(&'r cloudtrail::Record<'a>),
    Config(&'r config::Item<'a>),
    Alb(&'r alb::Line<'a>),
}

/// Partition values of the object a record came from (`account`, `region`, …).
pub type Partition = BTreeMap<String, String>;

/// An object to read.
#[derive(Debug, Clone)]
pub struct Object {
    pub path: PathBuf,
    pub key: String,
    pub size: u64,
    pub partition: Arc<Partition>,
}

#[derive(Debug)]
pub enum EngineError {
    /// The mirror does not have the bucket at all (a wrong `--local` root, usually).
    MissingBucket { bucket: String, path: PathBuf },
    /// The table's projection cannot be interpreted or the constraints are refused.
    Projection(String),
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineError::MissingBucket { bucket, path } => write!(
                f,
                "the mirror has no folder for bucket {bucket} (looked for {}); mirror it with `aws s3 sync s3://{bucket} {}`",
                path.display(),
                path.display()
            ),
            EngineError::Projection(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for EngineError {}

/// A mirror root directory.
#[derive(Debug, Clone)]
pub struct Mirror {
    pub root: PathBuf,
}

impl Mirror {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Mirror { root: root.into() }
    }

    /// `s3://bucket/key` → `ROOT/bucket/key`.
    pub fn path_of(&self, url: &str) -> Option<PathBuf> {
        let rest = url.strip_prefix("s3://")?;
        let mut p = self.root.clone();
        for seg in rest.split('/').filter(|s| !s.is_empty()) {
            if seg == ".." || seg == "." {
                return None;
            }
            p.push(seg);
        }
        Some(p)
    }

    fn bucket_of(url: &str) -> &str {
        url.trim_start_matches("s3://").split('/').next().unwrap_or("")
    }

    /// The objects the constraints allow, in a stable order, and the scan's partition counts.
    pub fn objects(
        &self,
        table: &TableDef,
        constraints: &BTreeMap<String, Constraint>,
        today: jiff::civil::Date,
    ) -> Result<(Vec<Object>, ScanStats), EngineError> {
        let bucket = Self::bucket_of(&table.location).to_string();
        let bucket_dir = self.root.join(&bucket);
        if !bucket_dir.is_dir() {
            return Err(EngineError::MissingBucket { bucket, path: bucket_dir });
        }
        let projection =
            table.projection().map_err(|e| EngineError::Projection(format!("table {}: {e}", table.name)))?;
        let partitions = projection
            .partitions(constraints, today)
            .map_err(|e| EngineError::Projection(format!("table {}: {e}", table.name)))?;
        let mut stats = ScanStats { partitions_projected: partitions.len(), ..ScanStats::default() };
        let mut out = Vec::new();
        for p in partitions {
            let Some(dir) = self.path_of(&p.location) else {
                continue;
            };
            if !dir.is_dir() {
                continue;
            }
            stats.partitions_present += 1;
            let partition = Arc::new(p.values);
            let mut files = Vec::new();
            walk(&dir, &mut files);
            files.sort();
            for (path, size) in files {
                let key = format!(
                    "s3://{}",
                    path.strip_prefix(&self.root).unwrap_or(&path).to_string_lossy().replace('\\', "/")
                );
                out.push(Object { path, key, size, partition: Arc::clone(&partition) });
            }
        }
        if let Some(root) = self.path_of(&table.location) {
            let mut all = Vec::new();
            walk(&root, &mut all);
            stats.objects_total = all.len() as u64;
            stats.bytes_total = all.iter().map(|(_, s)| s).sum();
        }
        Ok((out, stats))
    }

    /// Scans the objects in parallel: `visit` sees every record with its partition; each
    /// worker folds into its own accumulator (`init`), and `merge` combines them.
    pub fn scan<A, I, V, M>(&self, kind: TableKind, objects: &[Object], init: I, visit: V, merge: M) -> (A, ScanStats)
    where
        A: Send,
        I: Fn() -> A + Sync + Send,
        V: Fn(&mut A, Rec<'_, '_>, &Partition) + Sync + Send,
        M: Fn(A, A) -> A + Sync + Send,
    {
        let (acc, stats) = objects
            .par_iter()
            .with_max_len(1)
            .fold(
                || (init(), ScanStats::default()),
                |(mut acc, mut stats), obj| {
                    read_object(kind, obj, &mut acc, &visit, &mut stats);
                    (acc, stats)
                },
            )
            .reduce(
                || (init(), ScanStats::default()),
                |(a, mut sa), (b, sb)| {
                    sa.merge(sb);
                    (merge(a, b), sa)
                },
            );
        let mut stats = stats;
        stats.problems.sort_by(|a, b| a.key.cmp(&b.key));
        (acc, stats)
    }
}

/// Hadoop and Athena ignore objects whose name starts with `_` or `.`.
fn hidden(name: &std::ffi::OsStr) -> bool {
    let n = name.to_string_lossy();
    n.starts_with('_') || n.starts_with('.')
}

fn walk(dir: &Path, out: &mut Vec<(PathBuf, u64)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if hidden(&e.file_name()) {
            continue;
        }
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            walk(&e.path(), out);
        } else if ft.is_file() {
            let size = e.metadata().map(|m| m.len()).unwrap_or(0);
            out.push((e.path(), size));
        }
    }
}

fn read_object<A, V>(kind: TableKind, obj: &Object, acc: &mut A, visit: &V, stats: &mut ScanStats)
where
    V: Fn(&mut A, Rec<'_, '_>, &Partition),
{
    let problem = |reason: String| Problem { key: obj.key.clone(), reason };
    let bytes = match std::fs::read(&obj.path) {
        Ok(b) => b,
        Err(e) => {
            stats.problems.push(problem(format!("cannot read: {e}")));
            return;
        }
    };
    stats.objects_scanned += 1;
    stats.bytes_scanned += bytes.len() as u64;
    let body = match records::decompress(&bytes) {
        Ok(b) => b,
        Err(e) => {
            stats.problems.push(problem(e.0));
            return;
        }
    };
    stats.bytes_decompressed += body.len() as u64;
    match kind {
        TableKind::CloudTrail => match cloudtrail::split(&body) {
            Ok(raws) => {
                for raw in raws {
                    match cloudtrail::parse(raw) {
                        Ok(r) => {
                            stats.records += 1;
                            visit(acc, Rec::Trail(&r), &obj.partition);
                        }
                        Err(_) => stats.bad_records += 1,
                    }
                }
            }
            Err(e) => stats.problems.push(problem(e.0)),
        },
        TableKind::ConfigHistory => match config::split(&body) {
            Ok(raws) => {
                for raw in raws {
                    match config::parse(raw) {
                        Ok(i) => {
                            stats.records += 1;
                            visit(acc, Rec::Config(&i), &obj.partition);
                        }
                        Err(_) => stats.bad_records += 1,
                    }
                }
            }
            Err(e) => stats.problems.push(problem(e.0)),
        },
        TableKind::AlbAccessLogs => match std::str::from_utf8(&body) {
            Ok(text) => {
                for line in text.lines().filter(|l| !l.is_empty()) {
                    match alb::parse(line) {
                        Some(l) => {
                            stats.records += 1;
                            visit(acc, Rec::Alb(&l), &obj.partition);
                        }
                        None => stats.bad_records += 1,
                    }
                }
            }
            Err(e) => stats.problems.push(problem(format!("not text: {e}"))),
        },
    }
}
