use std::path::{Path, PathBuf};

use super::*;
use crate::lake::ALB_REGEX;
use crate::records::cloudtrail::{Field, Fields};

/// The real third-party log files in the repository (`testdata/real`), or `OPSLAKE_REAL_DATA`.
fn shared() -> PathBuf {
    let dir = std::env::var_os("OPSLAKE_REAL_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/real"));
    assert!(
        dir.is_dir(),
        "{} is missing: these tests read the real log files in testdata/real (or OPSLAKE_REAL_DATA)",
        dir.display()
    );
    dir
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())).flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Every real CloudTrail file delivered to S3 (`.json.gz` under `grycap_cloudtrail_tracker`):
/// its path and its decompressed text.
pub(crate) fn real_cloudtrail_files() -> Vec<(PathBuf, Vec<u8>)> {
    let dir = shared().join("grycap_cloudtrail_tracker");
    files_under(&dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".json.gz"))
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            let body = decompress(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display())).into_owned();
            (path, body)
        })
        .collect()
}

/// Every real CloudTrail file delivered to S3 reads completely, and the totals match what
/// the data's SOURCES.md states (1,067 files, 17,598 events). Each record the scanner gives is
/// the record serde reads from that record's own text; with a few fields wanted, those fields
/// are the same and the rest are left out; with only the identity's ARN, it is the same ARN.
#[test]
fn real_cloudtrail_files_read_completely_and_as_serde_reads_them() {
    #[derive(serde::Deserialize)]
    struct Raw<'a> {
        #[serde(borrow, rename = "Records")]
        records: Vec<&'a serde_json::value::RawValue>,
    }
    let few = Fields::of(&[Field::EventTime, Field::EventName, Field::UserIdentity, Field::RequestParameters]);
    let (mut files, mut records) = (0, 0);
    for (path, body) in real_cloudtrail_files() {
        let all = cloudtrail::read(&body, Fields::ALL, &|_| true).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let some = cloudtrail::read(&body, few, &|_| true).unwrap();
        let arns = cloudtrail::read(&body, Fields::of(&[Field::EventName]).with(Fields::USER_ARN), &|_| true).unwrap();
        // Handed over one at a time, each record is as collected (none keeps a value of the
        // one before).
        for fields in [Fields::ALL, few] {
            let mut handed = Vec::new();
            let tally =
                cloudtrail::read_each(&body, fields, &|_| true, &mut |r| handed.push(format!("{r:?}"))).unwrap();
            let collected = if fields == few { &some.records } else { &all.records };
            assert_eq!(tally.records as usize, collected.len());
            assert!(handed.iter().zip(collected).all(|(h, c)| *h == format!("{c:?}")), "{}", path.display());
        }
        let raw: Raw = serde_json::from_slice(&body).unwrap();
        assert_eq!((all.bad, some.bad), (0, 0), "{}", path.display());
        assert_eq!(all.records.len(), raw.records.len(), "{}", path.display());
        assert_eq!(some.records.len(), raw.records.len(), "{}", path.display());
        assert_eq!(arns.records.len(), raw.records.len(), "{}", path.display());
        for (rec, arn) in all.records.iter().zip(&arns.records) {
            // Only the ARN of the identity: the same ARN, nothing else of it.
            assert_eq!(arn.arn(), rec.arn(), "{}", path.display());
            assert_eq!(arn.user_identity.is_some(), rec.user_identity.is_some());
            assert!(arn.user_identity.as_ref().is_none_or(|u| u.kind.is_none() && u.session_context.is_none()));
        }
        for ((rec, part), raw) in all.records.iter().zip(&some.records).zip(&raw.records) {
            let serde: cloudtrail::Record = serde_json::from_str(raw.get()).unwrap();
            assert_eq!(format!("{rec:?}"), format!("{serde:?}"), "{}", path.display());
            assert!(rec.event_name.is_some() && rec.event_time.is_some(), "{}", path.display());
            assert_eq!(part.event_time, rec.event_time);
            assert_eq!(part.event_name, rec.event_name);
            assert_eq!(format!("{:?}", part.user_identity), format!("{:?}", rec.user_identity));
            assert_eq!(part.request_parameters.map(|r| r.get()), rec.request_parameters.map(|r| r.get()));
            assert!(part.event_source.is_none() && part.response_elements.is_none() && part.event_id.is_none());
            records += 1;
        }
        files += 1;
    }
    assert_eq!((files, records), (1067, 17598));
}

/// Every JSON document under the shared data is read as CloudTrail, Config or neither —
/// with a reason — and nothing panics.
#[test]
fn every_shared_json_file_is_read_or_reported() {
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    for path in files_under(&shared()) {
        let name = path.to_string_lossy().to_string();
        if !(name.ends_with(".json") || name.ends_with(".json.gz")) {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let Ok(body) = decompress(&bytes) else {
            *kinds.entry("corrupt gzip").or_default() += 1;
            continue;
        };
        let kind = match (cloudtrail::read(&body, Fields::ALL, &|_| true), config::split(&body)) {
            (Ok(read), _) => {
                assert_eq!(read.bad, 0, "{name}: {} records failed to parse", read.bad);
                "cloudtrail"
            }
            (_, Ok(items)) => {
                for i in items {
                    config::parse(i).unwrap_or_else(|e| panic!("{name}: {e}"));
                }
                "config"
            }
            (Err(a), Err(b)) => {
                assert!(!a.0.is_empty() && !b.0.is_empty());
                "other (reported)"
            }
        };
        *kinds.entry(kind).or_default() += 1;
    }
    assert!(kinds.get("cloudtrail").copied().unwrap_or(0) > 1000, "{kinds:?}");
    assert!(kinds.get("config").copied().unwrap_or(0) >= 3, "{kinds:?}");
}

#[test]
fn config_items_tolerate_real_key_variants() {
    let body = br#"{"fileVersion":"1.0","configurationItems":[
        {"configurationStateID": 7, "availibilityZone": "us-east-1a", "resourceType": "AWS::EC2::Instance", "configuration": "{\"a\":1}"},
        {"configurationStateId": "8", "availabilityZone": "Not Applicable", "resourceType": "AWS::S3::Bucket", "configuration": {"a": 2}, "ARN": "arn:aws:s3:::b"}
    ]}"#;
    let items: Vec<config::Item> =
        config::split(body).unwrap().into_iter().map(|r| config::parse(r).unwrap()).collect();
    assert_eq!(items[0].configuration_state_id.as_ref().unwrap().as_str(), "7");
    assert_eq!(items[0].availability_zone.as_ref().unwrap().as_str(), "us-east-1a");
    assert_eq!(items[1].configuration_state_id.as_ref().unwrap().as_str(), "8");
    assert_eq!(items[1].arn.as_ref().unwrap().as_str(), "arn:aws:s3:::b");
}

#[test]
fn corrupt_input_is_reported_with_a_reason() {
    let good = br#"{"Records":[{"eventName":"X","eventTime":"2024-01-01T00:00:00Z"}]}"#;
    let mut gz = Vec::new();
    {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::default());
        e.write_all(good).unwrap();
        e.finish().unwrap();
    }
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated gzip", gz[..gz.len() / 2].to_vec(), "gzip"),
        ("tiny gzip", vec![0x1f, 0x8b, 8], "truncated gzip"),
        ("invalid JSON", b"{\"Records\":[{".to_vec(), "invalid JSON"),
        ("wrong top-level shape", b"[1,2,3]".to_vec(), "not a CloudTrail log file"),
        ("empty object", b"{}".to_vec(), "no \"Records\""),
        ("digest file", br#"{"awsAccountId":"1","digestStartTime":"x","logFiles":[]}"#.to_vec(), "digest"),
        ("Records not a list", br#"{"Records":{"a":1}}"#.to_vec(), "not a CloudTrail log file"),
    ];
    for (what, bytes, expect) in cases {
        let problem = match decompress(&bytes) {
            Err(p) => p,
            Ok(body) => cloudtrail::read(&body, Fields::ALL, &|_| true).expect_err(what),
        };
        assert!(problem.0.contains(expect), "{what}: {problem}");
    }
    assert_eq!(cloudtrail::read(&decompress(&gz).unwrap(), Fields::ALL, &|_| true).unwrap().records.len(), 1);
}

fn example_alb_lines() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/logs/acme-alb-logs-apne1");
    let mut lines = Vec::new();
    for p in files_under(&root).into_iter().filter(|p| p.to_string_lossy().ends_with(".log.gz")) {
        let body = decompress(&std::fs::read(&p).unwrap()).unwrap().into_owned();
        lines.extend(String::from_utf8(body).unwrap().lines().map(str::to_string));
    }
    lines
}

/// The tokenizer captures exactly what the table's RegexSerDe pattern captures.
#[test]
fn alb_tokenizer_agrees_with_the_table_regex() {
    let re = regex::Regex::new(&format!("^(?:{ALB_REGEX})$")).unwrap();
    let mut lines = example_alb_lines();
    assert!(lines.len() >= 10, "example ALB lines missing");
    let base = lines[0].clone();
    lines.push(format!("{base} TID_0123456789abcdef"));
    lines.push(format!("{base} TID_0123456789abcdef new-field \"another\""));
    lines.push(base.split(" \"waf").next().unwrap().to_string()); // 2016-era line: 18 fields
    lines.push("not an alb line".into());
    lines.push("https 2024-01-01T00:00:00Z app/x/1 1.2.3.4:5 - -1 -1 -1 460 - 100 0 \"GET https://x:443/ HTTP/1.1\" \"curl/8\" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 - \"Root=1-x\" \"x\" \"-\" 0 2024-01-01T00:00:00Z \"forward\" \"-\" \"-\" \"-\" \"-\" \"-\" \"-\" TID_1".into());
    for line in &lines {
        let want: Option<Vec<Option<&str>>> =
            re.captures(line).map(|c| (1..=alb::FIELDS).map(|i| c.get(i).map(|m| m.as_str())).collect());
        let got: Option<Vec<Option<&str>>> = alb::parse(line).map(|l| l.fields.to_vec());
        assert_eq!(got, want, "line: {line}");
    }
}
