use std::collections::BTreeMap;

use jiff::civil::date;

use super::*;
use crate::lake::projection::{closest_misses, Reach};

/// Failure analysis's captures: an hour folder below the projected day is read with it; the
/// Firehose error folder is a known sibling, said, not read.
#[test]
fn locate_follows_the_firehose_layouts() {
    for prefix in ["", "lake/x"] {
        let l = layout(Some("o-a1b2c3d4e5"), prefix);
        let p = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
        for (name, folder) in [("app_logs", "CloudWatchLogs"), ("metrics", "CloudWatchMetrics")] {
            let t = table(&l, name);
            reached(
                &t,
                &format!("s3://acme-logs/{p}AWSLogs/222222222222/{folder}/us-east-1/2025/06/12/09/s-1-2025-06-12-09-05-12-u.gz"),
                &[("account", "222222222222"), ("region", "us-east-1"), ("day", "2025/06/12")],
            );
            missed(
                &t,
                &format!("s3://acme-logs/{p}firehose-errors/222222222222/us-east-1/{folder}/processing-failed/2025/06/12/x.gz"),
                &format!("s3://acme-logs/{p}firehose-errors/"),
                "Firehose could not deliver",
                true,
            );
        }
    }
}

fn layout(org: Option<&str>, prefix: &str) -> LakeLayout {
    LakeLayout {
        database: "acme_opslake".into(),
        bucket: "acme-logs".into(),
        prefix: prefix.into(),
        organization_trail: org.map(str::to_string),
        accounts: vec!["111111111111".into(), "222222222222".into()],
        regions: vec!["ap-northeast-1".into(), "us-east-1".into()],
        start: date(2024, 1, 1),
        end: None,
        cloudtrail: true,
        config: true,
        alb: vec![AlbSource { region: "ap-northeast-1".into(), bucket: "acme-alb".into(), prefix: String::new() }],
        app_logs: true,
        metrics: true,
    }
}

fn locations(t: &TableDef, c: &[(&str, Constraint)]) -> Vec<String> {
    let constraints: BTreeMap<String, Constraint> = c.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    t.projection()
        .unwrap()
        .partitions(&constraints, date(2024, 3, 1))
        .unwrap()
        .into_iter()
        .map(|p| p.location)
        .collect()
}

#[test]
fn cloudtrail_locations_follow_account_and_org_layouts() {
    let cases = [
        (None, "", "s3://acme-logs/AWSLogs/111111111111/CloudTrail/us-east-1/2024/02/09/"),
        (Some("o-a1b2c3d4e5"), "", "s3://acme-logs/AWSLogs/o-a1b2c3d4e5/111111111111/CloudTrail/us-east-1/2024/02/09/"),
        (None, "lake/x", "s3://acme-logs/lake/x/AWSLogs/111111111111/CloudTrail/us-east-1/2024/02/09/"),
    ];
    for (org, prefix, want) in cases {
        let t = &layout(org, prefix).tables()[0];
        let got = locations(
            t,
            &[
                ("account", Constraint::Values(vec!["111111111111".into()])),
                ("region", Constraint::Values(vec!["us-east-1".into()])),
                ("timestamp", Constraint::DateRange { from: date(2024, 2, 9), to: date(2024, 2, 9) }),
            ],
        );
        assert_eq!(got, vec![want.to_string()], "org={org:?} prefix={prefix:?}");
    }
}

#[test]
fn config_days_are_not_padded() {
    let t = &layout(None, "").tables()[1];
    let got = locations(
        t,
        &[
            ("account", Constraint::Values(vec!["222222222222".into()])),
            ("region", Constraint::Values(vec!["ap-northeast-1".into()])),
            ("year", Constraint::Values(vec!["2024".into()])),
            ("month", Constraint::Values(vec!["9".into()])),
            ("day", Constraint::IntRange { min: 9, max: 10 }),
        ],
    );
    assert_eq!(
        got,
        vec![
            "s3://acme-logs/AWSLogs/222222222222/Config/ap-northeast-1/2024/9/9/ConfigHistory/",
            "s3://acme-logs/AWSLogs/222222222222/Config/ap-northeast-1/2024/9/10/ConfigHistory/",
        ]
    );
}

#[test]
fn date_projection_clips_to_range_and_now() {
    let t = &layout(None, "").tables()[2];
    // NOW is 2024-03-01 in `locations`; a request past it projects nothing beyond.
    let got = locations(
        t,
        &[
            ("account", Constraint::Values(vec!["111111111111".into()])),
            ("day", Constraint::DateRange { from: date(2024, 2, 28), to: date(2024, 3, 5) }),
        ],
    );
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got[0].ends_with("/elasticloadbalancing/ap-northeast-1/2024/02/28/"), "{got:?}");
}

#[test]
fn out_of_enum_values_project_nothing() {
    let t = &layout(None, "").tables()[0];
    let got = locations(t, &[("account", Constraint::Values(vec!["999999999999".into()]))]);
    assert!(got.is_empty());
}

#[test]
fn alb_regex_has_one_group_per_column() {
    // Count unescaped '(' not followed by '?': capture groups.
    let re = columns::ALB_REGEX.as_bytes();
    let mut groups = 0;
    let mut in_class = false;
    for i in 0..re.len() {
        let escaped = i > 0 && re[i - 1] == b'\\';
        match re[i] {
            b'[' if !escaped => in_class = true,
            b']' if !escaped => in_class = false,
            b'(' if !escaped && !in_class && re.get(i + 1) != Some(&b'?') => groups += 1,
            _ => {}
        }
    }
    assert_eq!(groups, columns::ALB_FIELDS.len());
}

#[test]
fn date_format_round_trips() {
    for (pattern, d, s) in [
        ("yyyy/MM/dd", date(2024, 1, 5), "2024/01/05"),
        ("yyyy/M/d", date(2024, 1, 5), "2024/1/5"),
        ("yyyy/M/d", date(2024, 11, 25), "2024/11/25"),
        ("yyyy-MM-dd", date(2016, 9, 27), "2016-09-27"),
    ] {
        assert_eq!(projection::format_date(d, pattern), s);
        assert_eq!(projection::parse_date(s, pattern).unwrap(), d, "{pattern} {s}");
    }
    assert!(projection::parse_date("2024/1/5", "yyyy/MM/dd").is_err());
}

#[test]
fn bad_parameters_are_reported() {
    let mut t = layout(None, "").tables()[0].clone();
    t.parameters.insert("storage.location.template".into(), "s3://b/AWSLogs/${account}/CloudTrail/${timestamp}".into());
    let e = t.projection().unwrap_err();
    assert!(e.0.contains("${region}"), "{e}");
}

// --- Projection::locate: S3 prefixes and keys against the location templates ---

const TODAY: jiff::civil::Date = jiff::civil::Date::constant(2026, 11, 27);

fn table(l: &LakeLayout, name: &str) -> TableDef {
    l.tables().into_iter().find(|t| t.name == name).unwrap()
}

fn locate(t: &TableDef, url: &str) -> Reach {
    t.projection().unwrap().locate(url, TODAY)
}

#[track_caller]
fn viable(t: &TableDef, url: &str) {
    assert_eq!(locate(t, url), Reach::Viable, "{url}");
}

#[track_caller]
fn reached(t: &TableDef, url: &str, want: &[(&str, &str)]) {
    let values = want.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    assert_eq!(locate(t, url), Reach::Reached { values }, "{url}");
}

#[track_caller]
fn missed(t: &TableDef, url: &str, at: &str, reason: &str, expected: bool) {
    match locate(t, url) {
        Reach::Missed { at: a, reason: r, expected: e } => {
            assert_eq!((a.as_str(), e), (at, expected), "{url}: {r}");
            assert!(r.contains(reason), "{url}: {r:?} does not contain {reason:?}");
        }
        other => panic!("{url}: {other:?}"),
    }
}

#[test]
fn locate_follows_the_account_trail_layout() {
    let l = layout(None, "");
    let ct = table(&l, "cloudtrail");
    for url in [
        "s3://acme-logs/",
        "s3://acme-logs/AWSLogs/",
        "s3://acme-logs/AWSLogs/111111111111/",
        "s3://acme-logs/AWSLogs/111111111111/CloudTrail/",
        "s3://acme-logs/AWSLogs/111111111111/CloudTrail/us-east-1/",
        "s3://acme-logs/AWSLogs/111111111111/CloudTrail/us-east-1/2025/",
        "s3://acme-logs/AWSLogs/111111111111/CloudTrail/us-east-1/2025/04/",
    ] {
        viable(&ct, url);
    }
    let values = [("account", "111111111111"), ("region", "us-east-1"), ("timestamp", "2025/04/05")];
    reached(&ct, "s3://acme-logs/AWSLogs/111111111111/CloudTrail/us-east-1/2025/04/05/", &values);
    reached(
        &ct,
        "s3://acme-logs/AWSLogs/111111111111/CloudTrail/us-east-1/2025/04/05/111111111111_CloudTrail_us-east-1_20250405T0000Z_AbCdEfGhIjKlMnOp.json.gz",
        &values,
    );
    let acct = "s3://acme-logs/AWSLogs/111111111111/";
    missed(
        &ct,
        &format!("{acct}CloudTrail/us-east-1/2025/4/"),
        &format!("{acct}CloudTrail/us-east-1/2025/4/"),
        "`2025/4` does not match `yyyy/MM` (Athena would look for `2025/04`)",
        false,
    );
    missed(
        &ct,
        &format!("{acct}CloudTrail/us-east-1/2025/04/5/x.json.gz"),
        &format!("{acct}CloudTrail/us-east-1/2025/04/5/"),
        "`2025/04/5` does not match `yyyy/MM/dd` (Athena would look for `2025/04/05`)",
        false,
    );
    missed(
        &ct,
        &format!("{acct}CloudTrail/us-east-1/25/"),
        &format!("{acct}CloudTrail/us-east-1/25/"),
        "`25` does not match `yyyy` (Athena would look for `0025`)",
        false,
    );
    missed(
        &ct,
        &format!("{acct}CloudTrail/us-east-1/2023/"),
        &format!("{acct}CloudTrail/us-east-1/2023/"),
        "year 2023 is before the projection range start 2024/01/01",
        false,
    );
    missed(
        &ct,
        &format!("{acct}CloudTrail/us-east-1/2023/12/"),
        &format!("{acct}CloudTrail/us-east-1/2023/"),
        "year 2023",
        false,
    );
    missed(
        &ct,
        &format!("{acct}CloudTrail/us-east-1/2027/"),
        &format!("{acct}CloudTrail/us-east-1/2027/"),
        "year 2027 is after the projection range end NOW (2026/11/27)",
        false,
    );
    missed(
        &ct,
        &format!("{acct}CloudTrail/us-east-1/2026/12/"),
        &format!("{acct}CloudTrail/us-east-1/2026/12/"),
        "month 2026/12 is after",
        false,
    );
    missed(
        &ct,
        &format!("{acct}CloudTrail/us-east-1/2026/11/28/"),
        &format!("{acct}CloudTrail/us-east-1/2026/11/28/"),
        "day 2026/11/28 is after the projection range end NOW (2026/11/27)",
        false,
    );
    missed(
        &ct,
        &format!("{acct}CloudTrail/us-east-1/2025/02/30/"),
        &format!("{acct}CloudTrail/us-east-1/2025/02/30/"),
        "`2025/02/30` is not a date",
        false,
    );
    missed(
        &ct,
        &format!("{acct}CloudTrail/us-east-1/2025/13/"),
        &format!("{acct}CloudTrail/us-east-1/2025/13/"),
        "`2025/13` is not a date",
        false,
    );
    missed(
        &ct,
        &format!("{acct}CloudTrail/eu-west-3/"),
        &format!("{acct}CloudTrail/eu-west-3/"),
        "region `eu-west-3` is not in projection.region.values (ap-northeast-1, us-east-1)",
        false,
    );
    missed(
        &ct,
        "s3://acme-logs/AWSLogs/333333333333/CloudTrail/",
        "s3://acme-logs/AWSLogs/333333333333/",
        "account `333333333333` is not in projection.account.values",
        false,
    );
    missed(&ct, "s3://acme-logs/logs/AWSLogs/", "s3://acme-logs/logs/", "expected `AWSLogs`, found `logs`", false);
    missed(
        &ct,
        "s3://acme-logs//AWSLogs/",
        "s3://acme-logs//",
        "an empty segment (`//` in the key) where the projection expects `AWSLogs`",
        false,
    );
    missed(
        &ct,
        "s3://other-bucket/AWSLogs/",
        "s3://other-bucket/",
        "expected bucket `acme-logs`, found `other-bucket`",
        false,
    );
    missed(
        &ct,
        &format!("{acct}CloudTrail/us-east-1/2025/04/notes.txt"),
        &format!("{acct}CloudTrail/us-east-1/2025/04/notes.txt"),
        "an object where the projection expects a `dd/` prefix",
        false,
    );
    // Siblings of the data that are not data: skipped on purpose.
    missed(
        &ct,
        &format!("{acct}CloudTrail-Digest/us-east-1/2025/04/05/"),
        &format!("{acct}CloudTrail-Digest/"),
        "digest",
        true,
    );
    missed(&ct, &format!("{acct}CloudTrail-Insight/"), &format!("{acct}CloudTrail-Insight/"), "Insights", true);
}

#[test]
fn locate_follows_the_organization_trail_layout() {
    let l = layout(Some("o-a1b2c3d4e5"), "lake/x");
    let ct = table(&l, "cloudtrail");
    viable(&ct, "s3://acme-logs/lake/");
    viable(&ct, "s3://acme-logs/lake/x/AWSLogs/o-a1b2c3d4e5/");
    reached(
        &ct,
        "s3://acme-logs/lake/x/AWSLogs/o-a1b2c3d4e5/222222222222/CloudTrail/ap-northeast-1/2024/01/01/",
        &[("account", "222222222222"), ("region", "ap-northeast-1"), ("timestamp", "2024/01/01")],
    );
    missed(
        &ct,
        "s3://acme-logs/lake/x/AWSLogs/o-zzzzzzzzzz/",
        "s3://acme-logs/lake/x/AWSLogs/o-zzzzzzzzzz/",
        "expected `o-a1b2c3d4e5`, found `o-zzzzzzzzzz`",
        false,
    );
    // An account trail's keys (no org id) in an organization lake.
    missed(
        &ct,
        "s3://acme-logs/lake/x/AWSLogs/111111111111/CloudTrail/",
        "s3://acme-logs/lake/x/AWSLogs/111111111111/",
        "expected `o-a1b2c3d4e5`, found `111111111111`",
        false,
    );
    missed(&ct, "s3://acme-logs/lake/AWSLogs/", "s3://acme-logs/lake/AWSLogs/", "expected `x`, found `AWSLogs`", false);
    missed(&ct, "s3://acme-logs/AWSLogs/", "s3://acme-logs/AWSLogs/", "expected `lake`, found `AWSLogs`", false);
}

#[test]
fn locate_follows_config_with_unpadded_days() {
    let l = layout(None, "");
    let config = table(&l, "config");
    let day = "s3://acme-logs/AWSLogs/222222222222/Config/us-east-1/2024/9/7/";
    viable(&config, "s3://acme-logs/AWSLogs/222222222222/Config/us-east-1/2024/9/");
    viable(&config, day);
    let values = [("account", "222222222222"), ("region", "us-east-1"), ("year", "2024"), ("month", "9"), ("day", "7")];
    reached(&config, &format!("{day}ConfigHistory/"), &values);
    reached(&config, &format!("{day}ConfigHistory/222222222222_Config_us-east-1_ConfigHistory_AWS::EC2::Instance_20240907T000000Z_20240907T000000Z_1.json.gz"), &values);
    let root = "s3://acme-logs/AWSLogs/222222222222/Config/us-east-1/";
    missed(
        &config,
        &format!("{root}2024/09/07/ConfigHistory/"),
        &format!("{root}2024/09/"),
        "month `09` is zero-padded, but projection.month has no digits (Athena would look for `9`)",
        false,
    );
    missed(
        &config,
        &format!("{root}2023/"),
        &format!("{root}2023/"),
        "year 2023 is outside projection.year.range 2024,2099",
        false,
    );
    missed(
        &config,
        &format!("{root}2024/9/32/"),
        &format!("{root}2024/9/32/"),
        "day 32 is outside projection.day.range 1,31",
        false,
    );
    missed(&config, &format!("{root}2024/sep/"), &format!("{root}2024/sep/"), "month `sep` is not an integer", false);
    missed(&config, &format!("{day}ConfigSnapshot/"), &format!("{day}ConfigSnapshot/"), "snapshots", true);
    missed(
        &config,
        "s3://acme-logs/AWSLogs/222222222222/Config/ConfigWritabilityCheckFile",
        "s3://acme-logs/AWSLogs/222222222222/Config/ConfigWritabilityCheckFile",
        "check",
        true,
    );
    missed(
        &config,
        &format!("{day}OtherThing/"),
        &format!("{day}OtherThing/"),
        "expected `ConfigHistory`, found `OtherThing`",
        false,
    );
}

#[test]
fn locate_follows_the_alb_layout() {
    let l = layout(None, "");
    let alb = table(&l, "alb_logs_ap_northeast_1");
    reached(
        &alb,
        "s3://acme-alb/AWSLogs/111111111111/elasticloadbalancing/ap-northeast-1/2025/06/11/",
        &[("account", "111111111111"), ("day", "2025/06/11")],
    );
    missed(
        &alb,
        "s3://acme-alb/AWSLogs/111111111111/elasticloadbalancing/us-east-1/",
        "s3://acme-alb/AWSLogs/111111111111/elasticloadbalancing/us-east-1/",
        "expected `ap-northeast-1`, found `us-east-1`",
        false,
    );
    missed(
        &alb,
        "s3://acme-alb/AWSLogs/111111111111/ELBAccessLogTestFile",
        "s3://acme-alb/AWSLogs/111111111111/ELBAccessLogTestFile",
        "test object",
        true,
    );
}

/// Every object of the example mirror, against the tables of `examples/specs/full.yaml`: data
/// is reached by exactly one table; everything else is an expected sibling for the table that
/// got furthest.
#[test]
fn locate_classifies_every_object_of_the_example_mirror() {
    let l = example_layout();
    let tables = l.tables();
    let mirror = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/logs");
    let mut files = Vec::new();
    let mut dirs = vec![mirror.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                dirs.push(e.path());
            } else {
                files.push(e.path());
            }
        }
    }
    let (mut data, mut skipped) = (0, 0);
    for f in files {
        let key = f.strip_prefix(&mirror).unwrap().to_string_lossy().replace('\\', "/");
        if !key.starts_with("acme-") {
            continue; // the demo bucket and the licences belong to other specs
        }
        let url = format!("s3://{key}");
        let reaches: Vec<Reach> = tables.iter().map(|t| t.projection().unwrap().locate(&url, TODAY)).collect();
        let hits: Vec<&str> = tables
            .iter()
            .zip(&reaches)
            .filter(|(_, r)| matches!(r, Reach::Reached { .. }))
            .map(|(t, _)| t.name.as_str())
            .collect();
        let is_data = !NOT_DATA_NAMES.iter().any(|n| key.contains(n));
        if is_data {
            assert_eq!(hits.len(), 1, "{url}: {reaches:#?}");
            data += 1;
        } else {
            assert!(hits.is_empty(), "{url} is not data: {hits:?}");
            let closest = closest_misses(&reaches);
            assert!(!closest.is_empty(), "{url}");
            for i in closest {
                assert!(matches!(&reaches[i], Reach::Missed { expected: true, .. }), "{url}: {:?}", reaches[i]);
            }
            skipped += 1;
        }
    }
    assert!(data > 100 && skipped >= 12, "{data} data objects, {skipped} skipped");
}

const NOT_DATA_NAMES: &[&str] = &[
    "CloudTrail-Digest",
    "CloudTrail-Insight",
    "ConfigSnapshot",
    "ConfigWritabilityCheckFile",
    "ELBAccessLogTestFile",
];
