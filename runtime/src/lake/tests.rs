use std::collections::BTreeMap;

use jiff::civil::date;

use super::*;

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
