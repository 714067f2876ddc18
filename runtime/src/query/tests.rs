use jiff::civil::date;

use super::*;

fn layout() -> LakeLayout {
    crate::lake::example_layout()
}

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn bad_parameters_are_refused_with_a_reason() {
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        ("config-changes", &[("year", "2025"), ("month", "13")], "not a month"),
        ("config-changes", &[("year", "1999"), ("month", "1")], "not a year"),
        ("config-changes", &[("year", "2025")], "missing parameter month"),
        ("config-changes", &[("year", "2025"), ("month", "1"), ("colour", "red")], "unknown parameter `colour`"),
        ("events", &[("from", "2025-02-01"), ("to", "2025-01-01")], "is after to"),
        ("events", &[("from", "2025-01-01"), ("to", "2025-01-02"), ("user", "bob'; DROP TABLE x; --")], "contains `'`"),
        ("events", &[("from", "2025-01-01"), ("to", "2025-01-02"), ("event_name", "Run;Instances")], "contains `;`"),
        (
            "events",
            &[("from", "2025-01-01"), ("to", "2025-01-02"), ("account", "333333333333")],
            "not in the spec's accounts",
        ),
        (
            "events",
            &[("from", "2025-01-01"), ("to", "2025-01-02"), ("region", "eu-west-1")],
            "not in the spec's regions",
        ),
        ("events", &[("from", "2025-1-1"), ("to", "2025-01-02")], "not a date"),
        ("events", &[("from", "2025-01-01"), ("to", "2025-01-02"), ("errors_only", "yes")], "not true or false"),
        ("switch-roles", &[("from", "2025-01-01"), ("to", "2025-01-02"), ("from", "2025-01-01")], "given twice"),
    ];
    for (q, params, expect) in cases {
        let err = validate(find(q).unwrap(), &kv(params), &layout()).expect_err(&format!("{q} {params:?}"));
        assert!(err.0.contains(expect), "{q} {params:?}: {err}");
    }
}

#[test]
fn values_reach_sql_only_as_parameters() {
    let q = find("events").unwrap();
    let params = validate(
        q,
        &kv(&[
            ("from", "2025-03-04"),
            ("to", "2025-03-17"),
            ("user", "alice"),
            ("account", "111111111111"),
            ("errors_only", "true"),
        ]),
        &layout(),
    )
    .unwrap();
    let sql = render_sql(q, &params, &layout()).unwrap();
    assert!(!sql.text.contains("alice") && !sql.text.contains("111111111111"), "{}", sql.text);
    assert_eq!(sql.text.matches('?').count(), sql.parameters.len());
    assert_eq!(
        sql.parameters,
        vec![
            "'2025/03/04'",
            "'2025/03/18'",
            "'2025-03-04T00:00:00Z'",
            "'2025-03-18T00:00:00Z'",
            "'alice'",
            "'alice'",
            "'111111111111'"
        ]
    );
    assert!(sql.text.contains("FROM \"acme_opslake\".\"cloudtrail\""), "{}", sql.text);
    assert!(sql.text.contains("errorcode IS NOT NULL"));
    let inlined = sql.inlined();
    assert!(!inlined.contains('?') && inlined.contains("useridentity.username = 'alice'"), "{inlined}");
}

#[test]
fn alb_errors_read_one_table_per_region() {
    let q = find("alb-errors").unwrap();
    let params = validate(q, &kv(&[("from", "2025-01-01"), ("to", "2025-12-31")]), &layout()).unwrap();
    let sql = render_sql(q, &params, &layout()).unwrap();
    assert!(
        sql.text.contains("\"alb_logs_ap_northeast_1\"") && sql.text.contains("'ap-northeast-1' AS region"),
        "{}",
        sql.text
    );
    let params =
        validate(q, &kv(&[("from", "2025-01-01"), ("to", "2025-12-31"), ("region", "us-east-1")]), &layout()).unwrap();
    assert!(render_sql(q, &params, &layout()).unwrap_err().0.contains("no table"));
}

fn examples() -> Mirror {
    Mirror::new(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/logs"))
}

#[test]
fn pruning_reads_only_the_partitions_a_query_needs() {
    let q = find("events").unwrap();
    let l = layout();
    let one_day = validate(
        q,
        &kv(&[("from", "2025-03-04"), ("to", "2025-03-04"), ("account", "111111111111"), ("region", "us-east-1")]),
        &l,
    )
    .unwrap();
    let a = run_local(q, &one_day, &l, &examples(), date(2026, 11, 27)).unwrap();
    let year = validate(q, &kv(&[("from", "2024-10-01"), ("to", "2025-11-30")]), &l).unwrap();
    let b = run_local(q, &year, &l, &examples(), date(2026, 11, 27)).unwrap();
    // one account x one region x two days (the day after `to` holds late deliveries)
    assert_eq!(a.stats.partitions_projected, 2);
    assert!(a.stats.objects_scanned < b.stats.objects_scanned, "{:?} vs {:?}", a.stats, b.stats);
    assert_eq!(b.stats.objects_total, a.stats.objects_total);
    // The totals are every object under the table's location, counted here on their own: the
    // scanned folders' from the scan, the rest from a walk that skips those folders.
    fn files(dir: &std::path::Path, out: &mut (u64, u64)) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let hidden = e.file_name().to_string_lossy().starts_with(['.', '_']);
            match e.file_type().unwrap() {
                t if t.is_dir() && !hidden => files(&e.path(), out),
                t if t.is_file() && !hidden => *out = (out.0 + 1, out.1 + e.metadata().unwrap().len()),
                _ => {}
            }
        }
    }
    let trail = l.tables().into_iter().find(|t| t.kind == crate::lake::TableKind::CloudTrail).unwrap();
    let mut every = (0, 0);
    files(&examples().path_of(&trail.location).unwrap(), &mut every);
    assert!(every.0 > b.stats.objects_scanned, "{every:?}");
    assert_eq!((a.stats.objects_total, a.stats.bytes_total), every);
    assert_eq!((b.stats.objects_total, b.stats.bytes_total), every);
    assert!(b.rows.len() > 1000, "{}", b.rows.len());
    assert!(b.stats.problems.is_empty(), "{:?}", b.stats.problems);
    // Present: the projected day folders that are there (found by listing them), counted here
    // from the tree: every `…/CloudTrail/<region>/yyyy/MM/dd` from `from` to the day after `to`.
    fn days(dir: &std::path::Path, depth: usize, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten().filter(|e| e.path().is_dir()) {
            match depth {
                0 => out.push(e.path()),
                _ => days(&e.path(), depth - 1, out),
            }
        }
    }
    let mut there = Vec::new();
    for account in std::fs::read_dir(examples().path_of(&trail.location).unwrap()).unwrap().flatten() {
        let trails = account.path().join("CloudTrail");
        if trails.is_dir() {
            days(&trails, 3, &mut there);
        }
    }
    let in_range = there
        .iter()
        .filter(|p| {
            let day: Vec<String> = p.iter().rev().take(3).map(|c| c.to_string_lossy().into_owned()).collect();
            let day = format!("{}-{}-{}", day[2], day[1], day[0]);
            ("2024-10-01".to_string()..="2025-12-01".to_string()).contains(&day)
        })
        .count();
    assert!(in_range > 10 && in_range < b.stats.partitions_projected, "{in_range} of {}", b.stats.partitions_projected);
    assert_eq!(b.stats.partitions_present, in_range);
}

/// A visitor may wait on parallel work (a sort that spills does): rayon then runs other
/// objects' reads on the waiting thread, inside this one's. Here each record's visit runs a
/// whole scan of its own; every nested scan reads every object, and nothing is lost.
#[test]
fn a_scan_inside_a_visit_reads_every_object() {
    use crate::lake::TableKind;
    let mirror = examples();
    let l = layout();
    let trail = l.tables().into_iter().find(|t| t.kind == TableKind::CloudTrail).unwrap();
    let constraints = Default::default();
    let (folders, _) = mirror.folders(&trail, &constraints, date(2026, 11, 27)).unwrap();
    // Forty of the projected folders that are there (the scan finds the others empty).
    let folders: Vec<_> = folders.into_iter().filter(|f| f.path.is_dir()).take(40).collect();
    let folders = &folders[..];
    let count = || mirror.scan(TableKind::CloudTrail, folders, || 0u64, |n, _, _| *n += 1, |a, b| a + b);
    let (records, stats) = count();
    assert!(records > 100 && stats.problems.is_empty(), "{records} {:?}", stats.problems);
    let nested = mirror.scan(
        TableKind::CloudTrail,
        folders,
        Vec::new,
        |seen: &mut Vec<u64>, _, _| {
            if seen.len() < 8 {
                seen.push(count().0);
            }
        },
        |mut a, b| {
            a.extend(b);
            a
        },
    );
    assert!(!nested.0.is_empty() && nested.0.iter().all(|&n| n == records), "{:?} vs {records}", nested.0);
}

#[test]
fn config_changes_counts_items_per_resource() {
    let q = find("config-changes").unwrap();
    let l = layout();
    let params = validate(q, &kv(&[("year", "2025"), ("month", "6")]), &l).unwrap();
    let a = run_local(q, &params, &l, &examples(), date(2026, 11, 27)).unwrap();
    assert!(!a.rows.is_empty());
    let total: i64 = a.rows.iter().map(|r| r[6].as_i64().unwrap()).sum();
    assert_eq!(total as u64, a.stats.records, "every item of the month is counted once");
    let counts: Vec<i64> = a.rows.iter().map(|r| r[6].as_i64().unwrap()).collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "sorted by count: {counts:?}");
}
