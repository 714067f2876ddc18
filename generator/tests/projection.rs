//! The rendered Glue tables reach exactly the data objects of the real S3 key layouts
//! (FACTS §1): a mirror directory holds keys as the services write them, plus objects that
//! must never match (digests, Insights, snapshots, writability checks, ELB test files).
//! The projection is read back from the *rendered template*, as Athena would read it.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

use opslake_runtime::lake::Projection;
use support::*;

const A: &str = "111111111111";
const B: &str = "222222222222";
const OTHER: &str = "999999999999";
const ORG: &str = "o-a1b2c3d4e5";

fn spec_text(org: bool, prefix: &str) -> String {
    let mut s = format!(
        "name: acme\nhome: {{ account: \"{A}\", region: us-east-1 }}\naccounts: [{{ id: \"{A}\" }}, {{ id: \"{B}\" }}]\nregions: [us-east-1, ap-northeast-1]\nlake:\n  bucket: acme-logs\n  prefix: \"{prefix}\"\n  projection: {{ start: 2024-01-01 }}\nsources:\n  alb: {{ buckets: {{ us-east-1: acme-alb }} }}\n"
    );
    if org {
        s.push_str(&format!("organization: {{ id: {ORG}, member_ous: [ou-ab12-cdef3456] }}\n"));
    }
    // Failure analysis captures application logs and metrics into the lake.
    s.push_str("features:\n  failure_analysis:\n    log_groups: [/aws/lambda/api]\n    alarm_topics: [arn:aws:sns:us-east-1:111111111111:alarms]\n");
    s
}

/// (key, should the tables reach it?)
fn objects(org: bool, prefix: &str) -> Vec<(String, bool)> {
    let p = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
    let ct_root = if org { format!("acme-logs/{p}AWSLogs/{ORG}") } else { format!("acme-logs/{p}AWSLogs") };
    let mut v = Vec::new();
    for (acct, region, y, m, d) in
        [(A, "us-east-1", 2024, 2, 9), (B, "ap-northeast-1", 2025, 11, 30), (A, "ap-northeast-1", 2024, 1, 1)]
    {
        let ts = format!("{y}{m:02}{d:02}T0000Z");
        v.push((format!("{ct_root}/{acct}/CloudTrail/{region}/{y}/{m:02}/{d:02}/{acct}_CloudTrail_{region}_{ts}_AbCdEfGhIjKlMnOp.json.gz"), true));
        v.push((format!("{ct_root}/{acct}/CloudTrail-Digest/{region}/{y}/{m:02}/{d:02}/{acct}_CloudTrail-Digest_{region}_acme_{region}_{ts}.json.gz"), false));
        v.push((format!("{ct_root}/{acct}/CloudTrail-Insight/{region}/{y}/{m:02}/{d:02}/{acct}_CloudTrail-Insight_{region}_{ts}_AbCdEfGhIjKlMnOp.json.gz"), false));
    }
    // a trail outside the spec's accounts, and a day before the projection starts
    v.push((format!("{ct_root}/{OTHER}/CloudTrail/us-east-1/2024/02/09/{OTHER}_CloudTrail_us-east-1_20240209T0000Z_AbCdEfGhIjKlMnOp.json.gz"), false));
    v.push((format!("{ct_root}/{A}/CloudTrail/us-east-1/2023/12/31/{A}_CloudTrail_us-east-1_20231231T0000Z_AbCdEfGhIjKlMnOp.json.gz"), false));
    // Config writes unpadded month/day, and never under the org id
    for (acct, region, y, m, d) in [
        (A, "us-east-1", 2024, 9, 7),
        (A, "us-east-1", 2024, 10, 5),
        (B, "ap-northeast-1", 2024, 1, 1),
        (B, "us-east-1", 2024, 12, 31),
        (A, "ap-northeast-1", 2025, 2, 28),
        (B, "us-east-1", 2025, 11, 19),
    ] {
        let day = format!("acme-logs/{p}AWSLogs/{acct}/Config/{region}/{y}/{m}/{d}");
        let t = format!("{y}{m:02}{d:02}T000000Z");
        v.push((
            format!("{day}/ConfigHistory/{acct}_Config_{region}_ConfigHistory_AWS::EC2::Instance_{t}_{t}_1.json.gz"),
            true,
        ));
        v.push((format!("{day}/ConfigSnapshot/{acct}_Config_{region}_ConfigSnapshot_{t}_0e1f2a3b-4c5d-6e7f-8a9b-0c1d2e3f4a5b.json.gz"), false));
    }
    v.push((format!("acme-logs/{p}AWSLogs/{A}/Config/ConfigWritabilityCheckFile"), false));
    // a padded Config day is not a layout Config writes: the projection must not invent it
    v.push((format!("acme-logs/{p}AWSLogs/{A}/Config/us-east-1/2024/09/07/ConfigHistory/{A}_Config_us-east-1_ConfigHistory_AWS::S3::Bucket_x_y_1.json.gz"), false));
    // ALB: zero-padded days, in the region's own bucket
    v.push((format!("acme-alb/AWSLogs/{A}/elasticloadbalancing/us-east-1/2024/03/05/{A}_elasticloadbalancing_us-east-1_app.web.0123456789abcdef_20240305T0000Z_10.0.0.1_a1b2c3d4.log.gz"), true));
    v.push((format!("acme-alb/AWSLogs/{B}/elasticloadbalancing/us-east-1/2025/10/15/{B}_elasticloadbalancing_us-east-1_app.api.0123456789abcdef_20251015T0000Z_10.0.0.2_a1b2c3d4.log.gz"), true));
    v.push((format!("acme-alb/AWSLogs/{A}/ELBAccessLogTestFile"), false));
    // Firehose captures: never under the org id, an hour folder below the projected day.
    for kind in ["CloudWatchLogs", "CloudWatchMetrics"] {
        let stream = if kind == "CloudWatchLogs" { "opslake-app-logs" } else { "opslake-metrics" };
        for (acct, region, hour) in [(A, "us-east-1", "2024/02/09/00"), (B, "ap-northeast-1", "2025/11/30/23")] {
            let name =
                format!("{stream}-1-{}-00-05-12-0e1f2a3b-4c5d-6e7f-8a9b-0c1d2e3f4a5b.gz", hour.replace('/', "-"));
            v.push((format!("acme-logs/{p}AWSLogs/{acct}/{kind}/{region}/{hour}/{name}"), true));
        }
        v.push((format!("acme-logs/{p}AWSLogs/{OTHER}/{kind}/us-east-1/2024/02/09/00/x.gz"), false));
        v.push((format!("acme-logs/{p}AWSLogs/{A}/{kind}/us-east-1/2023/12/31/23/x.gz"), false));
    }
    v
}

fn reached(mirror: &Path, central: &serde_json::Value) -> BTreeSet<String> {
    let mut locations: HashSet<String> = HashSet::new();
    let resources = central["Resources"].as_object().unwrap();
    let mut tables = 0;
    for r in resources.values().filter(|r| r["Type"] == "AWS::Glue::Table") {
        tables += 1;
        let input = &r["Properties"]["TableInput"];
        let params: BTreeMap<String, String> =
            serde_json::from_value(input["Parameters"].clone()).expect("string parameters");
        let keys: Vec<String> = input["PartitionKeys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["Name"].as_str().unwrap().to_string())
            .collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let projection =
            Projection::from_parameters(&keys, &params).unwrap_or_else(|e| panic!("{}: {e}", input["Name"]));
        for p in projection.partitions(&BTreeMap::new(), today()).unwrap() {
            locations.insert(p.location.strip_prefix("s3://").unwrap().to_string());
        }
    }
    assert_eq!(tables, 5, "cloudtrail, config, one ALB table, app_logs and metrics");
    let mut out = BTreeSet::new();
    for entry in walk(mirror) {
        let key = entry.strip_prefix(mirror).unwrap().to_string_lossy().replace('\\', "/");
        // Athena reads every object under a partition's location.
        let mut dir = key.as_str();
        while let Some(i) = dir.rfind('/') {
            dir = &dir[..i];
            if locations.contains(&format!("{dir}/")) {
                out.insert(key.clone());
                break;
            }
        }
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn rendered_tables_reach_exactly_the_data_objects() {
    for (org, prefix) in [(false, ""), (true, ""), (false, "lake/x"), (true, "org-lake")] {
        let tmp = tempfile::tempdir().unwrap();
        let objs = objects(org, prefix);
        for (key, _) in &objs {
            let path = tmp.path().join(key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, b"{}").unwrap();
        }
        let files = generate(&load_spec_text(&spec_text(org, prefix)));
        let central = opslake::render::parse_back(
            "central.yaml",
            &files.iter().find(|f| f.name == "central.yaml").expect("central.yaml").bytes,
        )
        .unwrap();
        let got = reached(tmp.path(), &central);
        let want: BTreeSet<String> = objs.iter().filter(|(_, r)| *r).map(|(k, _)| k.clone()).collect();
        let missed: Vec<_> = want.difference(&got).collect();
        let wrongly: Vec<_> = got.difference(&want).collect();
        assert!(
            missed.is_empty() && wrongly.is_empty(),
            "org={org} prefix={prefix:?}\nnot reached: {missed:#?}\nwrongly reached: {wrongly:#?}"
        );
    }
}

/// The Firehose streams write where the `app_logs` and `metrics` tables read: each stream's
/// prefix, filled in as Firehose fills it (the stack's account and region, the arrival hour),
/// is reached by its table's projection; its error prefix by no table.
#[test]
fn firehose_prefixes_are_where_the_tables_read() {
    use opslake_runtime::lake::Reach;
    for (org, prefix) in [(false, ""), (true, "org-lake")] {
        let files = generate(&load_spec_text(&spec_text(org, prefix)));
        let central = opslake::render::parse_back(
            "central.yaml",
            &files.iter().find(|f| f.name == "central.yaml").expect("central.yaml").bytes,
        )
        .unwrap();
        let resources = central["Resources"].as_object().unwrap();
        let table = |name: &str| {
            let r = resources.values().find(|r| r["Properties"]["TableInput"]["Name"] == name).unwrap();
            let input = &r["Properties"]["TableInput"];
            let params: BTreeMap<String, String> = serde_json::from_value(input["Parameters"].clone()).unwrap();
            Projection::from_parameters(&["account", "region", "day"], &params).unwrap()
        };
        let fill = |sub: &serde_json::Value| {
            sub["Fn::Sub"]
                .as_str()
                .unwrap()
                .replace("${AWS::AccountId}", B)
                .replace("${AWS::Region}", "ap-northeast-1")
                .replace("!{timestamp:yyyy/MM/dd/HH}", "2025/06/12/09")
                .replace("!{timestamp:yyyy/MM/dd}", "2025/06/12")
                .replace("!{firehose:error-output-type}", "processing-failed")
        };
        for (stream, table_name) in [("AppLogsDeliveryStream", "app_logs"), ("MetricsDeliveryStream", "metrics")] {
            let dest = &resources[stream]["Properties"]["ExtendedS3DestinationConfiguration"];
            let bucket = dest["BucketARN"].as_str().unwrap().trim_start_matches("arn:aws:s3:::");
            let key = format!("s3://{bucket}/{}{stream}-1-2025-06-12-09-05-12-uuid.gz", fill(&dest["Prefix"]));
            let t = table(table_name);
            match t.locate(&key, today()) {
                Reach::Reached { values } => {
                    assert_eq!(values.get("day").map(String::as_str), Some("2025/06/12"), "{key}");
                    assert_eq!(values.get("account").map(String::as_str), Some(B), "{key}");
                }
                other => panic!("org={org} {stream}: {key} is not read by {table_name}: {other:?}"),
            }
            let error = format!("s3://{bucket}/{}x.gz", fill(&dest["ErrorOutputPrefix"]));
            for name in ["app_logs", "metrics"] {
                assert!(
                    !matches!(table(name).locate(&error, today()), Reach::Reached { .. }),
                    "{error} read by {name}"
                );
            }
        }
    }
}
