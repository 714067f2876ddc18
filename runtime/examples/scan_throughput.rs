//! The CloudTrail scanner's throughput on one core, without the disk and the decoder: the
//! objects under a directory are decompressed into memory first, then read with the field sets
//! of `event-counts` and `events`, best of five.
//!
//! cargo run --release -p opslake-runtime --example scan_throughput -- /tmp/opslake-bench-1.0g-1f 20000
//!
//! For a profiler (`valgrind --tool=callgrind`, `perf record`), `SET=counts RUNS=1` reads with
//! one field set (the first whose name contains `SET`), once.

use std::path::{Path, PathBuf};
use std::time::Instant;

use opslake_runtime::records::cloudtrail::{read_each, Field, Fields};
use opslake_runtime::records::decompress;

fn objects(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            objects(&p, out);
        } else if p.to_string_lossy().ends_with(".json.gz") {
            out.push(p);
        }
    }
}

fn main() -> Result<(), String> {
    // The program's name, then DIR and OBJECTS.
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(args.get(1).ok_or("usage: scan_throughput DIR [OBJECTS]")?);
    let limit: usize = args.get(2).map_or(Ok(20_000), |n| n.parse().map_err(|e| format!("OBJECTS: {e}")))?;
    let mut paths = Vec::new();
    objects(&dir, &mut paths);
    paths.truncate(limit);
    let mut texts = Vec::with_capacity(paths.len());
    for p in &paths {
        let bytes = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
        texts.push(decompress(&bytes).map_err(|e| format!("{}: {}", p.display(), e.0))?.into_owned());
    }
    let total: usize = texts.iter().map(Vec::len).sum();
    println!("{} objects, {:.1} MB decompressed", texts.len(), total as f64 / 1e6);
    let shared = [Field::EventTime, Field::EventSource, Field::EventName, Field::ErrorCode];
    let events = [Field::EventId, Field::AwsRegion, Field::SourceIpAddress];
    let sets = [
        ("no field", Fields::of(&[])),
        ("event-counts' fields", Fields::of(&shared)),
        ("events' fields", Fields::of(&shared).with(Fields::of(&events)).with(Fields::USER_ARN)),
        (
            "events' fields, whole identity",
            Fields::of(&shared).with(Fields::of(&events)).with(Fields::of(&[Field::UserIdentity])),
        ),
    ];
    let only = std::env::var("SET").unwrap_or_default();
    let runs: usize = std::env::var("RUNS").map_or(Ok(5), |n| n.parse().map_err(|e| format!("RUNS: {e}")))?;
    for (name, fields) in
        sets.into_iter().filter(|(name, _)| name.contains(only.as_str())).take(if only.is_empty() { 4 } else { 1 })
    {
        let (mut best, mut records) = (f64::MAX, 0);
        for _ in 0..runs {
            let t = Instant::now();
            records = 0;
            for text in &texts {
                records += read_each(text, fields, &|_| true, &mut |_| ()).map_or(0, |t| t.records);
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!("{name:32} {records} records in {best:.3} s: {:.2} GB/s", total as f64 / best / 1e9);
    }
    Ok(())
}
