//! `opslake summarize` on the example mirror: the facts equal an independent count made
//! straight from the Config history files.

mod support;

#[path = "../../runtime/tests/common/mod.rs"]
mod fake_aws;

use std::collections::BTreeMap;

use serde_json::Value;
use support::*;

fn summarize(args: &[&str]) -> (u8, String, String) {
    let spec = workspace().join("examples/specs/full.yaml");
    let logs = workspace().join("examples/logs");
    let mut all = vec!["summarize", "--spec", spec.to_str().unwrap(), "--local", logs.to_str().unwrap()];
    all.extend_from_slice(args);
    cli(&all)
}

/// Items per resource type in one month, read directly from the files (no engine, no SQL).
fn independent_counts(year: i32, month: i32) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    let root = workspace().join("examples/logs/acme-log-archive-111111111111/AWSLogs");
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let s = p.to_string_lossy();
            if !s.contains("/Config/") || !s.contains(&format!("/{year}/{month}/")) || !s.contains("/ConfigHistory/") {
                continue;
            }
            let mut text = String::new();
            std::io::Read::read_to_string(&mut flate2_reader(&p), &mut text).unwrap();
            let doc: Value = serde_json::from_str(&text).unwrap();
            for item in doc["configurationItems"].as_array().unwrap() {
                *counts.entry(item["resourceType"].as_str().unwrap().to_string()).or_default() += 1;
            }
        }
    }
    counts
}

fn flate2_reader(p: &std::path::Path) -> impl std::io::Read {
    let bytes = std::fs::read(p).unwrap();
    let body = opslake_runtime::records::decompress(&bytes).unwrap().into_owned();
    std::io::Cursor::new(body)
}

#[test]
fn facts_equal_an_independent_count() {
    for (month, y, m) in [("2025-06", 2025, 6), ("2024-10", 2024, 10), ("2025-08", 2025, 8)] {
        let (code, out, err) = summarize(&["--month", month, "--format", "json"]);
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        let facts = &v["facts"];
        let want = independent_counts(y, m);
        let total: i64 = want.values().sum();
        assert_eq!(facts["total_changes"], total, "{month}");
        let mut got: BTreeMap<String, i64> = BTreeMap::new();
        for c in facts["by_type"]["items"].as_array().unwrap() {
            got.insert(c["key"].as_str().unwrap().to_string(), c["count"].as_i64().unwrap());
        }
        let shown: i64 = got.values().sum();
        assert_eq!(shown + facts["by_type"]["others_count"].as_i64().unwrap(), total);
        for (k, n) in &got {
            assert_eq!(want.get(k), Some(n), "{month} {k}");
        }
        assert_eq!(v["status"], "SUCCEEDED");
        assert!(v["summary"].as_str().unwrap().contains(&total.to_string()));
    }
}

#[test]
fn the_busy_month_is_flagged_and_new_types_are_named() {
    let (_, out, _) = summarize(&["--month", "2025-06", "--format", "json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let anomalies = v["facts"]["anomalies"].as_array().unwrap();
    assert!(anomalies.iter().any(|a| a["dimension"] == "account"), "{anomalies:#?}");
    assert!(v["facts"]["new_types"].as_array().unwrap().iter().any(|t| t == "AWS::SNS::Topic"));
}

#[test]
fn bad_input_and_empty_months() {
    for (args, expect) in [
        (vec!["--month", "2025-13"], "expected YYYY-MM"),
        (vec!["--month", "2025-06", "--model", "gpt:4"], "expected none, bedrock:MODEL_ID or anthropic:MODEL"),
        (vec!["--month", "2025-06", "--account", "333333333333"], "not in the spec's accounts"),
    ] {
        let (code, _, err) = summarize(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: {err}");
    }
    let (code, out, _) = summarize(&["--month", "2024-01"]);
    assert_eq!(code, 0);
    assert!(out.contains("変更記録はありません"), "{out}");
    let (code, out, err) = summarize(&["--month", "2025-06", "--print-prompt"]);
    assert_eq!(code, 0);
    assert!(out.contains("--- system ---") && out.contains("FACTS") && err.contains("tokens"), "{out}");
}

/// A model that cannot be reached: the answer is the deterministic report plus the error.
#[test]
fn an_unreachable_model_falls_back_to_the_deterministic_report() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port(); // closed again
    std::env::set_var("ANTHROPIC_API_KEY", "sk-test");
    std::env::set_var("ANTHROPIC_BASE_URL", format!("http://127.0.0.1:{port}"));
    let (code, out, err) =
        summarize(&["--month", "2025-06", "--model", "anthropic:claude-sonnet-4-5", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], "FALLBACK");
    assert!(v["model_error"].as_str().unwrap().contains("Anthropic"), "{v}");
    let total: i64 = independent_counts(2025, 6).values().sum();
    assert!(
        v["summary"].as_str().unwrap().contains(&format!(": {total} ")),
        "the deterministic report, with the month's {total} records: {}",
        v["summary"]
    );
    // an empty month makes no model call at all
    let (_, out, _) = summarize(&["--month", "2024-01", "--model", "anthropic:claude-sonnet-4-5", "--format", "json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((v["status"].as_str(), v["model_error"].is_null()), (Some("SUCCEEDED"), true));
}

/// The model is reached with the credentials `--profile` names (not the default chain's): one
/// AWS connection serves Athena and Bedrock alike.
#[test]
fn bedrock_is_called_with_the_profiles_credentials() {
    let fake = fake_aws::serve(Box::new(|op, _| {
        if op.ends_with("/converse") {
            let reply = serde_json::json!({"output": {"message": {"role": "assistant", "content": [{"text": "Narrative."}]}}, "stopReason": "end_turn", "usage": {"inputTokens": 9, "outputTokens": 1, "totalTokens": 10}, "metrics": {"latencyMs": 1}});
            (200, reply)
        } else {
            (400, serde_json::json!({"__type": "UnknownOperationException", "message": op}))
        }
    }));
    let dir = tempfile::tempdir().unwrap();
    let (config, credentials) = (dir.path().join("config"), dir.path().join("credentials"));
    std::fs::write(&config, "[default]\nregion = eu-west-1\n\n[profile opslake-test]\nregion = us-east-1\n").unwrap();
    std::fs::write(
        &credentials,
        "[default]\naws_access_key_id = AKIADEFAULT000000000\naws_secret_access_key = d\n\n[opslake-test]\naws_access_key_id = AKIAPROFILE000000000\naws_secret_access_key = p\n",
    )
    .unwrap();
    let (spec, logs) = (workspace().join("examples/specs/full.yaml"), workspace().join("examples/logs"));
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_opslake"));
    cmd.args(["summarize", "--month", "2025-06", "--format", "json", "--model", "bedrock:anthropic.claude-test-v1:0"])
        .args(["--spec", spec.to_str().unwrap(), "--local", logs.to_str().unwrap()])
        .args(["--profile", "opslake-test", "--endpoint-url", &fake.url])
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    ] {
        cmd.env_remove(var);
    }
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    assert_eq!((v["status"].as_str(), v["summary"].as_str()), (Some("SUCCEEDED"), Some("Narrative.")), "{v}");
    let calls = fake.calls.lock().unwrap();
    let converse: Vec<&serde_json::Value> =
        calls.iter().filter(|(op, _)| op.ends_with("/converse")).map(|(_, b)| b).collect();
    assert_eq!(converse.len(), 1, "one model call: {calls:?}");
    assert_eq!(converse[0]["__access_key"], "AKIAPROFILE000000000", "signed with the profile's key, not the default's");
    assert_eq!(converse[0]["__region"], "ap-northeast-1", "in the spec's home region");
}
