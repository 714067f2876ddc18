//! `opslake insights` over the example mirror: every window's counts equal an independent
//! count of the same trail files in the test (parsed here with serde_json, bucketed by hand),
//! and an object delivered twice is counted once.

#[path = "../../runtime/tests/common/mod.rs"]
mod common;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use serde_json::Value;
use support::*;

/// (window start, total, calls per service, errors) counted straight from the files.
fn by_hand(root: &std::path::Path, from: &str, to: &str) -> BTreeMap<String, (u64, BTreeMap<String, u64>, u64)> {
    let (from, to): (jiff::Timestamp, jiff::Timestamp) = (from.parse().unwrap(), to.parse().unwrap());
    let mut seen = BTreeSet::new();
    let mut out: BTreeMap<String, (u64, BTreeMap<String, u64>, u64)> = BTreeMap::new();
    for p in common::files_under(root) {
        let name = p.to_string_lossy().to_string();
        if !name.contains("/CloudTrail/") || !name.ends_with(".json.gz") {
            continue;
        }
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&p).unwrap()).read_to_string(&mut text).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        for r in doc["Records"].as_array().unwrap() {
            let t: jiff::Timestamp = r["eventTime"].as_str().unwrap().parse().unwrap();
            if t < from || t >= to || !seen.insert(r["eventID"].as_str().unwrap().to_string()) {
                continue;
            }
            let hour = jiff::Timestamp::from_second(t.as_second() / 3600 * 3600).unwrap();
            let w = out.entry(hour.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()).or_default();
            w.0 += 1;
            *w.1.entry(r["eventSource"].as_str().unwrap().to_string()).or_default() += 1;
            w.2 += u64::from(r.get("errorCode").is_some_and(|c| c.is_string()));
        }
    }
    out
}

fn windows(mirror: &str, from: &str, to: &str) -> Value {
    let spec = workspace().join("examples/specs/full.yaml").display().to_string();
    let (code, out, err) = cli(&[
        "insights", "--spec", &spec, "--local", mirror, "--from", from, "--to", to, "--window", "1h", "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn every_window_equals_an_independent_count() {
    let root = workspace().join("examples/logs");
    let (from, to) = ("2025-04-01T00:00:00Z", "2025-05-01T00:00:00Z");
    let got = windows(root.to_str().unwrap(), from, to);
    let want = by_hand(&root.join("acme-log-archive-111111111111"), from, to);
    assert!(want.len() >= 5, "the example month has activity: {want:?}");
    let seen: BTreeMap<String, (u64, BTreeMap<String, u64>, u64)> = got["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            let services =
                w["by_service"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect();
            let errors = w["errors"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
            (w["start"].as_str().unwrap().to_string(), (w["total"].as_u64().unwrap(), services, errors))
        })
        .collect();
    assert_eq!(seen, want);
    assert_eq!(got["calls"].as_u64().unwrap(), want.values().map(|w| w.0).sum::<u64>());
    assert_eq!(got["window_seconds"], 3600);
}

#[test]
fn an_object_delivered_twice_is_counted_once() {
    let tmp = tempfile::tempdir().unwrap();
    let src = workspace().join("examples/logs/acme-log-archive-111111111111");
    let dst = tmp.path().join("acme-log-archive-111111111111");
    let mut copied = 0;
    for p in common::files_under(&src).into_iter().filter(|p| p.to_string_lossy().contains("/CloudTrail/")) {
        let to = dst.join(p.strip_prefix(&src).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&p, &to).unwrap();
        // The same object again under another name: a redelivery.
        if p.to_string_lossy().contains("/2025/06/12/") {
            std::fs::copy(&p, to.with_file_name(format!("again_{}", p.file_name().unwrap().to_string_lossy())))
                .unwrap();
            copied += 1;
        }
    }
    assert!(copied > 0);
    let (from, to) = ("2025-06-12T00:00:00Z", "2025-06-13T00:00:00Z");
    let once = windows(workspace().join("examples/logs").to_str().unwrap(), from, to);
    let twice = windows(tmp.path().to_str().unwrap(), from, to);
    assert_eq!(twice["windows"], once["windows"]);
    assert_eq!(twice["repeated"].as_u64().unwrap(), once["calls"].as_u64().unwrap());
}
