//! Named queries: the local engine and the Athena SQL give the same rows.
//!
//! For every query and several parameter sets, the SQL (`--print-sql`, parameters inlined)
//! is transpiled with sqlglot (athena → duckdb) and run in DuckDB by
//! `scripts/athena_duckdb.py`, which finds and loads the objects on its own from the rendered
//! table definitions. Its rows must equal the local engine's, in order.

mod support;

use opslake_runtime::engine::local::Mirror;
use opslake_runtime::query;
use serde_json::{json, Value};
use support::*;

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Normalises numbers so that 3 and 3.0 compare equal, and to nine significant digits: an
/// average's last bits depend on the order its engine summed in.
fn norm(v: &Value) -> Value {
    match v {
        Value::Number(n) => n.as_f64().map_or(v.clone(), |f| json!(format!("{f:.8e}").parse::<f64>().unwrap_or(f))),
        Value::Array(a) => Value::Array(a.iter().map(norm).collect()),
        other => other.clone(),
    }
}

fn duckdb_rows(
    spec_file: &str,
    sql: &str,
    layout: &opslake_runtime::lake::LakeLayout,
    tables: &[opslake_runtime::lake::TableDef],
) -> (Vec<String>, Vec<Value>) {
    let python = tool("tools", "python");
    let tmp = tempfile::tempdir().unwrap();
    let tables_json = tmp.path().join("tables.json");
    std::fs::write(&tables_json, serde_json::to_vec(&json!({"database": layout.database, "tables": tables})).unwrap())
        .unwrap();
    let sql_file = tmp.path().join("q.sql");
    std::fs::write(&sql_file, sql).unwrap();
    let (code, out, err) = run(std::process::Command::new(python)
        .arg(workspace().join("scripts/athena_duckdb.py"))
        .arg("--mirror")
        .arg(workspace().join("examples/logs"))
        .arg("--tables")
        .arg(&tables_json)
        .arg("--sql")
        .arg(&sql_file)
        .arg("--today")
        .arg(today().to_string()));
    assert_eq!(code, 0, "{spec_file}: the DuckDB run failed:\n{err}\nSQL:\n{sql}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let columns = v["columns"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
    (columns, v["rows"].as_array().unwrap().clone())
}

#[test]
fn local_engine_and_athena_sql_agree() {
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
    let cases: &[Case] = &[
        ("full.yaml", "events", &[("from", "2024-10-01"), ("to", "2025-11-30")]),
        ("full.yaml", "events", &[("from", "2025-03-01"), ("to", "2025-03-31")]),
        ("full.yaml", "events", &[("from", "2025-03-04"), ("to", "2025-03-04")]),
        ("full.yaml", "events", &[("from", "2025-03-17"), ("to", "2025-03-17"), ("region", "us-east-1")]),
        (
            "full.yaml",
            "events",
            &[("from", "2024-10-01"), ("to", "2025-11-30"), ("account", "222222222222"), ("errors_only", "true")],
        ),
        (
            "full.yaml",
            "events",
            &[
                ("from", "2024-10-01"),
                ("to", "2025-11-30"),
                ("event_name", "RunInstances"),
                ("event_source", "ec2.amazonaws.com"),
            ],
        ),
        ("full.yaml", "events", &[("from", "2024-10-01"), ("to", "2025-11-30"), ("user", "alucloud31")]),
        // The first rows in the query's order: the top-n path and the SQL's LIMIT.
        ("full.yaml", "events", &[("from", "2024-10-01"), ("to", "2025-11-30"), ("limit", "7")]),
        ("full.yaml", "switch-roles", &[("from", "2024-10-01"), ("to", "2025-11-30"), ("limit", "2")]),
        // activity: principals of sessions, root, the services that call, console sign-ins.
        ("full.yaml", "activity", &[("from", "2024-10-01"), ("to", "2025-11-30")]),
        ("full.yaml", "activity", &[("from", "2025-03-16"), ("to", "2025-03-17"), ("region", "us-east-1")]),
        ("full.yaml", "activity", &[("from", "2024-10-01"), ("to", "2025-11-30"), ("account", "222222222222")]),
        ("full.yaml", "activity", &[("from", "2024-10-01"), ("to", "2025-11-30"), ("limit", "9")]),
        ("full.yaml", "created-deleted", &[("from", "2024-10-01"), ("to", "2025-11-30")]),
        (
            "full.yaml",
            "created-deleted",
            &[("from", "2024-10-01"), ("to", "2025-11-30"), ("account", "111111111111"), ("region", "ap-northeast-1")],
        ),
        ("minimal.yaml", "created-deleted", &[("from", "2024-01-01"), ("to", "2026-11-27")]),
        ("full.yaml", "event-counts", &[("from", "2024-10-01"), ("to", "2025-11-30")]),
        ("full.yaml", "event-counts", &[("from", "2025-03-01"), ("to", "2025-03-31"), ("account", "222222222222")]),
        ("full.yaml", "config-lifecycle", &[("year", "2024"), ("month", "10")]),
        ("full.yaml", "config-lifecycle", &[("year", "2025"), ("month", "6"), ("region", "us-east-1")]),
        ("full.yaml", "switch-roles", &[("from", "2024-10-01"), ("to", "2025-11-30")]),
        ("full.yaml", "switch-roles", &[("from", "2025-04-17"), ("to", "2025-04-17"), ("account", "222222222222")]),
        ("full.yaml", "config-changes", &[("year", "2025"), ("month", "6")]),
        ("full.yaml", "config-changes", &[("year", "2024"), ("month", "10"), ("account", "111111111111")]),
        ("full.yaml", "config-changes", &[("year", "2025"), ("month", "8"), ("region", "us-east-1")]),
        ("full.yaml", "config-changes", &[("year", "2025"), ("month", "11")]),
        ("full.yaml", "config-changes", &[("year", "2023"), ("month", "1")]),
        ("full.yaml", "alb-errors", &[("from", "2024-10-01"), ("to", "2025-11-30")]),
        ("full.yaml", "alb-errors", &[("from", "2025-06-01"), ("to", "2025-06-30"), ("region", "ap-northeast-1")]),
        ("minimal.yaml", "events", &[("from", "2024-01-01"), ("to", "2026-11-27")]),
        ("minimal.yaml", "events", &[("from", "2024-01-01"), ("to", "2026-11-27"), ("region", "eu-west-1")]),
        ("minimal.yaml", "config-changes", &[("year", "2025"), ("month", "3")]),
        // The incident's window (failure analysis), and windows across day boundaries.
        ("full.yaml", "changes", &[("start", "2025-06-12T08:15:00Z"), ("end", "2025-06-12T09:55:00Z")]),
        (
            "full.yaml",
            "changes",
            &[("start", "2025-06-11T20:00:00Z"), ("end", "2025-06-12T20:00:00Z"), ("account", "222222222222")],
        ),
        ("full.yaml", "changes", &[("start", "2025-03-13T23:00:00+09:00"), ("end", "2025-03-15T00:00:00Z")]),
        ("full.yaml", "config-items", &[("start", "2025-06-12T08:15:00Z"), ("end", "2025-06-12T10:15:00Z")]),
        ("full.yaml", "config-items", &[("start", "2025-06-10T00:00:00Z"), ("end", "2025-06-12T00:00:00Z")]),
        (
            "full.yaml",
            "config-items",
            &[("start", "2025-05-31T12:00:00Z"), ("end", "2025-06-01T12:00:00Z"), ("region", "us-east-1")],
        ),
        ("full.yaml", "alb-minutes", &[("start", "2025-06-12T09:15:00Z"), ("end", "2025-06-12T09:55:00Z")]),
        ("full.yaml", "alb-minutes", &[("start", "2025-06-11T21:00:00Z"), ("end", "2025-06-11T22:00:00Z")]),
        ("full.yaml", "alb-error-urls", &[("start", "2025-06-12T09:15:00Z"), ("end", "2025-06-12T09:55:00Z")]),
        ("full.yaml", "log-minutes", &[("start", "2025-06-12T09:15:00Z"), ("end", "2025-06-12T09:55:00Z")]),
        (
            "full.yaml",
            "log-minutes",
            &[("start", "2025-06-12T09:58:30Z"), ("end", "2025-06-12T10:20:00Z"), ("region", "ap-northeast-1")],
        ),
        ("full.yaml", "log-errors", &[("start", "2025-06-12T09:15:00Z"), ("end", "2025-06-12T09:55:00Z")]),
        ("full.yaml", "metric-points", &[("start", "2025-06-12T09:15:00Z"), ("end", "2025-06-12T09:55:00Z")]),
        (
            "full.yaml",
            "metric-points",
            &[
                ("start", "2025-06-12T09:30:00Z"),
                ("end", "2025-06-12T09:45:00Z"),
                ("namespace", "AWS/RDS"),
                ("account", "222222222222"),
            ],
        ),
    ];
    let mut failures = Vec::new();
    let mut nonempty = 0;
    for (spec_file, name, params) in cases {
        let spec = load_spec_text(&example(spec_file));
        let layout = opslake::plan::layout(&spec);
        let q = query::find(name).unwrap();
        let params = query::validate(q, &kv(params), &layout).unwrap();
        let local =
            query::run_local(q, &params, &layout, &Mirror::new(workspace().join("examples/logs")), today()).unwrap();
        assert!(
            local.stats.problems.iter().all(|p| p.reason.contains("digest") || p.key.contains("Insight")),
            "{:?}",
            local.stats.problems
        );
        let sql = query::render_sql(q, &params, &layout).unwrap().inlined();
        let tables = query::tables_for(q, &params, &layout);
        let (columns, rows) = duckdb_rows(spec_file, &sql, &layout, &tables);
        let rows: Vec<Vec<Value>> = rows.into_iter().map(|r| r.as_array().cloned().unwrap_or_default()).collect();
        if q.post.is_none() {
            assert_eq!(columns, local.columns, "{name}: columns differ");
        }
        let want: Vec<Value> = query::finish(q, rows).into_iter().map(|r| norm(&Value::Array(r))).collect();
        let got: Vec<Value> = local.rows.iter().map(|r| norm(&Value::Array(r.clone()))).collect();
        if got != want {
            let first = got.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
            failures.push(format!(
                "{spec_file} {name} {params:?}: local {} rows, DuckDB {} rows; first difference at row {first}:\n  local:  {}\n  duckdb: {}\nSQL:\n{sql}",
                got.len(),
                want.len(),
                got.get(first).map_or("-".into(), |v| v.to_string()),
                want.get(first).map_or("-".into(), |v| v.to_string()),
            ));
        }
        if !got.is_empty() {
            nonempty += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(nonempty >= 32, "only {nonempty} cases returned rows: the fixtures no longer exercise the queries");
}

#[test]
fn print_sql_is_what_the_tests_run() {
    let spec = workspace().join("examples/specs/full.yaml");
    let (code, out, err) = cli(&[
        "query",
        "config-changes",
        "--spec",
        spec.to_str().unwrap(),
        "--param",
        "year=2025",
        "--param",
        "month=6",
        "--print-sql",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("WHERE year = 2025 AND month = 6"), "{out}");
    assert!(!out.contains('?'));
}

#[test]
fn query_cli_reports_bad_input_with_exit_2() {
    let spec = workspace().join("examples/specs/full.yaml");
    let spec = spec.to_str().unwrap();
    let logs = workspace().join("examples/logs");
    let logs = logs.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["query", "evnets", "--spec", spec, "--local", logs], "did you mean `events`"),
        (
            &[
                "query",
                "config-changes",
                "--spec",
                spec,
                "--local",
                logs,
                "--param",
                "year=2025",
                "--param",
                "month=13",
            ],
            "not a month",
        ),
        (
            &[
                "query",
                "events",
                "--spec",
                spec,
                "--local",
                logs,
                "--param",
                "from=2025-01-02",
                "--param",
                "to=2025-01-01",
            ],
            "after",
        ),
        (
            &[
                "query",
                "events",
                "--spec",
                spec,
                "--local",
                logs,
                "--param",
                "from=2025-01-01",
                "--param",
                "to=2025-01-02",
                "--param",
                "user=x';--",
            ],
            "contains `'`",
        ),
        (&["query", "events", "--spec", spec, "--local", logs, "--param", "when=now"], "unknown parameter"),
        (&["query", "events", "--spec", spec, "--param", "from=2025-01-01", "--param", "to=2025-01-02"], "--local"),
        (
            &[
                "query",
                "events",
                "--spec",
                spec,
                "--local",
                "/nonexistent",
                "--param",
                "from=2025-01-01",
                "--param",
                "to=2025-01-02",
            ],
            "not a directory",
        ),
    ];
    for (args, expect) in cases {
        let (code, _, err) = cli(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: {err}");
    }
}

#[test]
fn query_formats() {
    let spec = workspace().join("examples/specs/full.yaml");
    let logs = workspace().join("examples/logs");
    let base = [
        "query",
        "config-changes",
        "--spec",
        spec.to_str().unwrap(),
        "--local",
        logs.to_str().unwrap(),
        "--param",
        "year=2025",
        "--param",
        "month=6",
    ];
    let (code, out, err) = cli(&[&base[..], &["--format", "json"]].concat());
    assert_eq!(code, 0, "{err}");
    let rows: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert!(!rows.is_empty());
    for key in ["resourcetype", "resourcename", "awsaccountid", "awsregion", "year", "month", "recordcount"] {
        assert!(rows[0].get(key).is_some(), "missing {key}: {}", rows[0]);
    }
    assert!(err.contains("scanned") && err.contains("objects"), "{err}");
    let (code, csv, _) = cli(&[&base[..], &["--format", "csv"]].concat());
    assert_eq!(code, 0);
    assert_eq!(csv.lines().next().unwrap(), "resourcetype,resourcename,awsaccountid,awsregion,year,month,recordcount");
    assert_eq!(csv.lines().count(), rows.len() + 1);
    let (code, table, _) = cli(&base);
    assert_eq!(code, 0);
    assert!(table.contains(&format!("({} rows)", rows.len())), "{table}");
}

/// `--format csv` and `json` stream the rows: the same bytes an answer in memory renders to,
/// in the query's order; `limit` keeps the first rows of that order.
#[test]
fn streamed_csv_and_json_equal_the_answer_in_memory() {
    let spec = workspace().join("examples/specs/full.yaml");
    let logs = workspace().join("examples/logs");
    let (spec, logs) = (spec.to_str().unwrap(), logs.to_str().unwrap());
    let loaded = load_spec_text(&std::fs::read_to_string(spec).unwrap());
    let layout = opslake::plan::layout(&loaded);
    let q = opslake_runtime::query::find("events").unwrap();
    let pairs = [("from".to_string(), "2024-10-01".to_string()), ("to".to_string(), "2025-11-30".to_string())];
    let params = opslake_runtime::query::validate(q, &pairs, &layout).unwrap();
    let mirror = opslake_runtime::engine::local::Mirror::new(logs);
    let answer = opslake_runtime::query::run_local(q, &params, &layout, &mirror, today()).unwrap();
    assert!(answer.rows.len() > 100, "the example has events to stream");
    for (format, want) in [("csv", opslake::args::TableFormat::Csv), ("json", opslake::args::TableFormat::Json)] {
        let args = ["query", "events", "--spec", spec, "--local", logs, "--param", "from=2024-10-01"];
        let (code, out, err) = cli(&[&args[..], &["--param", "to=2025-11-30", "--format", format]].concat());
        assert_eq!(code, 0, "{err}");
        assert_eq!(out, opslake::report::answer::render(&answer, want), "{format}");
    }
    let (code, out, err) = cli(&[
        "query",
        "events",
        "--spec",
        spec,
        "--local",
        logs,
        "--param",
        "from=2024-10-01",
        "--param",
        "to=2025-11-30",
        "--param",
        "limit=5",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let first: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(first, answer.objects()[..5].to_vec());
}
