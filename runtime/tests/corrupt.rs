//! Robustness: deliberately corrupted copies of real objects are reported with their key
//! and reason, and everything else in the mirror is still read.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use opslake_runtime::engine::local::Mirror;
use opslake_runtime::lake::{AlbSource, LakeLayout};
use opslake_runtime::query;

fn copy_tree(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            files(&e.path(), out);
        } else {
            out.push(e.path());
        }
    }
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn layout() -> LakeLayout {
    LakeLayout {
        database: "acme_opslake".into(),
        bucket: "acme-log-archive-111111111111".into(),
        prefix: String::new(),
        organization_trail: Some("o-a1b2c3d4e5".into()),
        accounts: vec!["111111111111".into(), "222222222222".into()],
        regions: vec!["ap-northeast-1".into(), "us-east-1".into()],
        start: jiff::civil::date(2024, 1, 1),
        end: None,
        cloudtrail: true,
        config: true,
        alb: vec![AlbSource {
            region: "ap-northeast-1".into(),
            bucket: "acme-alb-logs-apne1".into(),
            prefix: String::new(),
        }],
        app_logs: true,
        metrics: true,
    }
}

fn run(root: &Path, name: &str, params: &[(&str, &str)]) -> query::Answer {
    let q = query::find(name).unwrap();
    let pairs: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let p = query::validate(q, &pairs, &layout()).unwrap();
    query::run_local(q, &p, &layout(), &Mirror::new(root), jiff::civil::date(2026, 11, 27)).unwrap()
}

#[test]
fn corrupted_objects_are_reported_and_the_rest_is_read() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/logs");
    let tmp = tempfile::tempdir().unwrap();
    for b in ["acme-log-archive-111111111111", "acme-alb-logs-apne1"] {
        std::fs::create_dir_all(tmp.path().join(b)).unwrap();
        copy_tree(&examples.join(b), &tmp.path().join(b));
    }
    let range = [("from", "2024-10-01"), ("to", "2025-11-30")];
    let clean = run(tmp.path(), "event-counts", &range);
    assert!(clean.stats.problems.is_empty());

    let mut trail = Vec::new();
    files(&tmp.path().join("acme-log-archive-111111111111/AWSLogs/o-a1b2c3d4e5"), &mut trail);
    trail.retain(|p| p.to_string_lossy().contains("/CloudTrail/"));
    trail.sort();
    let damage: Vec<(&PathBuf, Vec<u8>, &str)> = vec![
        (
            &trail[0],
            {
                let b = std::fs::read(&trail[0]).unwrap();
                b[..b.len() / 2].to_vec()
            },
            "gzip",
        ),
        (&trail[1], b"this is not json".to_vec(), "invalid JSON"),
        (&trail[2], gz(b"{}"), "no \"Records\""),
        (&trail[3], gz(b"[{\"eventName\": \"X\"}]"), "not a CloudTrail log file"),
        (&trail[4], Vec::new(), "invalid JSON"),
    ];
    let mut lost = 0u64;
    for (path, bytes, _) in &damage {
        let key = format!("s3://{}", path.strip_prefix(tmp.path()).unwrap().display());
        let before = run(tmp.path(), "event-counts", &range).stats.records;
        std::fs::write(path, bytes).unwrap();
        let after = run(tmp.path(), "event-counts", &range).stats.records;
        lost += before - after;
        assert!(before > after, "{key}: records should drop");
    }
    let broken = run(tmp.path(), "event-counts", &range);
    assert_eq!(broken.stats.records, clean.stats.records - lost);
    let reported: BTreeMap<String, String> =
        broken.stats.problems.iter().map(|p| (p.key.clone(), p.reason.clone())).collect();
    assert_eq!(reported.len(), damage.len(), "{reported:#?}");
    for (path, _, reason) in &damage {
        let key = format!("s3://{}", path.strip_prefix(tmp.path()).unwrap().display());
        let got = reported.get(&key).unwrap_or_else(|| panic!("{key} not reported: {reported:#?}"));
        assert!(got.contains(reason), "{key}: {got}");
    }

    // A corrupt ALB object and a bad line among good ones.
    let mut alb = Vec::new();
    files(&tmp.path().join("acme-alb-logs-apne1"), &mut alb);
    alb.retain(|p| p.to_string_lossy().ends_with(".log.gz"));
    alb.sort();
    let mut good = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&std::fs::read(&alb[0]).unwrap()[..]), &mut good)
        .unwrap();
    std::fs::write(&alb[0], gz(format!("garbage line\n{good}").as_bytes())).unwrap();
    std::fs::write(&alb[1], &std::fs::read(&alb[1]).unwrap()[..10]).unwrap();
    let a = run(tmp.path(), "alb-errors", &range);
    assert_eq!(a.stats.bad_records, 1);
    assert_eq!(a.stats.problems.len(), 1, "{:?}", a.stats.problems);
}

/// Firehose objects of application logs and metrics: a truncated object, a foreign one and a
/// bad line among good ones are reported or counted, and every other event is still read.
#[test]
fn corrupted_log_and_metric_objects_are_reported_and_the_rest_is_read() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/logs");
    let tmp = tempfile::tempdir().unwrap();
    let bucket = "acme-log-archive-111111111111";
    std::fs::create_dir_all(tmp.path().join(bucket)).unwrap();
    copy_tree(&examples.join(bucket), &tmp.path().join(bucket));
    let window = [("start", "2025-06-12T09:00:00Z"), ("end", "2025-06-12T10:30:00Z")];
    let count = |a: &query::Answer| a.records().map(|r| r.int("events")).sum::<i64>();
    let clean = run(tmp.path(), "log-minutes", &window);
    assert!(clean.stats.problems.is_empty() && clean.stats.bad_records == 0, "{:?}", clean.stats);
    let (clean_events, clean_points) = (count(&clean), run(tmp.path(), "metric-points", &window).rows.len());
    assert!(clean_events > 0 && clean_points > 0);

    let folder = |kind: &str| {
        let mut v = Vec::new();
        files(&tmp.path().join(bucket).join("AWSLogs/222222222222").join(kind), &mut v);
        v.sort();
        v
    };
    let (logs, metrics) = (folder("CloudWatchLogs"), folder("CloudWatchMetrics"));
    let unzip = |p: &PathBuf| {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(&std::fs::read(p).unwrap()[..]), &mut s)
            .unwrap();
        s
    };
    let events_in = |text: &str| -> i64 {
        text.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|r| r["messageType"] == "DATA_MESSAGE")
            .map(|r| r["logEvents"].as_array().unwrap().len() as i64)
            .sum()
    };
    // logs[0] truncated, logs[1] a CloudTrail file, a bad line at the top of logs[2].
    let (lost0, lost1) = (events_in(&unzip(&logs[0])), events_in(&unzip(&logs[1])));
    let good = unzip(&logs[2]);
    let b = std::fs::read(&logs[0]).unwrap();
    std::fs::write(&logs[0], &b[..b.len() / 2]).unwrap();
    std::fs::write(&logs[1], gz(b"{\"Records\": []}\n")).unwrap();
    std::fs::write(&logs[2], gz(format!("{{not json\n{good}").as_bytes())).unwrap();
    // metrics[0]: not gzip, not text.
    std::fs::write(&metrics[0], [0xff, 0xfe, 0x00, 0x01]).unwrap();
    let points_lost = unzip_len(&examples, &metrics[0], tmp.path());

    let broken = run(tmp.path(), "log-minutes", &window);
    assert_eq!(count(&broken), clean_events - lost0 - lost1);
    assert_eq!(broken.stats.bad_records, 1);
    let reasons: Vec<&str> = broken.stats.problems.iter().map(|p| p.reason.as_str()).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("gzip")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("not CloudWatch Logs subscription records")), "{reasons:?}");
    let m = run(tmp.path(), "metric-points", &window);
    assert_eq!(m.rows.len(), clean_points - points_lost);
    assert_eq!(m.stats.problems.len(), 1, "{:?}", m.stats.problems);
}

/// Lines in the example object that `damaged` (under `tmp`) was a copy of.
fn unzip_len(examples: &Path, damaged: &Path, tmp: &Path) -> usize {
    let original = examples.join(damaged.strip_prefix(tmp).unwrap());
    let mut s = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::MultiGzDecoder::new(&std::fs::read(original).unwrap()[..]),
        &mut s,
    )
    .unwrap();
    s.lines().filter(|l| !l.is_empty()).count()
}

/// The scan's progress hook is told the totals before the scan and each object as it is read:
/// what it is told adds up to what the answer says was read.
#[test]
fn the_progress_hook_adds_up_to_what_the_scan_read() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    #[derive(Default)]
    struct Counts {
        begun: AtomicU64,
        objects: AtomicU64,
        bytes: AtomicU64,
        advanced: AtomicU64,
        read_bytes: AtomicU64,
        records: AtomicU64,
        finished: AtomicU64,
    }
    impl opslake_runtime::engine::local::ScanProgress for Counts {
        fn begin(&self, objects: u64, bytes: u64) {
            self.begun.fetch_add(1, Ordering::Relaxed);
            self.objects.fetch_add(objects, Ordering::Relaxed);
            self.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
        fn advance(&self, bytes: u64, records: u64) {
            self.advanced.fetch_add(1, Ordering::Relaxed);
            self.read_bytes.fetch_add(bytes, Ordering::Relaxed);
            self.records.fetch_add(records, Ordering::Relaxed);
        }
        fn finish(&self) {
            self.finished.fetch_add(1, Ordering::Relaxed);
        }
    }
    let counts = Arc::new(Counts::default());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/logs");
    let mirror = Mirror::new(root).with_progress(counts.clone());
    let q = query::find("event-counts").unwrap();
    let layout = common::example_layout();
    let raw = [("from".to_string(), "2025-03-01".to_string()), ("to".to_string(), "2025-03-31".to_string())];
    let params = query::validate(q, &raw, &layout).unwrap();
    let answer = query::run_local(q, &params, &layout, &mirror, jiff::civil::date(2026, 11, 27)).unwrap();
    let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
    assert_eq!((n(&counts.begun), n(&counts.finished)), (1, 1));
    assert!(answer.stats.objects_scanned > 0);
    assert_eq!(n(&counts.objects), answer.stats.objects_scanned);
    assert_eq!(n(&counts.advanced), answer.stats.objects_scanned);
    assert_eq!((n(&counts.bytes), n(&counts.read_bytes)), (answer.stats.bytes_scanned, answer.stats.bytes_scanned));
    assert_eq!(n(&counts.records), answer.stats.records);
}
