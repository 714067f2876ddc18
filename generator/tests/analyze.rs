//! `opslake analyze` over the example lake's incident (2025-06-12, account 222222222222): the
//! planted change ranks first, the onset is the planted minute, and every count the analysis
//! reports equals a count made here, independently, from the files themselves.

mod support;

#[path = "../../runtime/tests/common/mod.rs"]
mod fake_aws;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde_json::Value;
use support::*;

const AT: &str = "2025-06-12T09:45:00Z";
/// `--at` gives 30 minutes before to 10 after.
const FROM: &str = "2025-06-12T09:15";
const TO: &str = "2025-06-12T09:55";

fn spec() -> String {
    workspace().join("examples/specs/full.yaml").display().to_string()
}

fn logs() -> String {
    workspace().join("examples/logs").display().to_string()
}

fn analyze(extra: &[&str]) -> (u8, String, String) {
    let (spec, logs) = (spec(), logs());
    let mut args = vec!["analyze", "--spec", &spec, "--local", &logs];
    args.extend_from_slice(extra);
    cli(&args)
}

fn gunzip(path: &Path) -> String {
    let mut s = String::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap()).read_to_string(&mut s).unwrap();
    s
}

/// ALB 5xx per minute in the window, from the raw lines (time is the 2nd field, the ELB status
/// the 9th).
fn alb_5xx_per_minute() -> BTreeMap<String, i64> {
    let dir = workspace().join("examples/logs/acme-alb-logs-apne1/AWSLogs");
    let mut out = BTreeMap::new();
    for f in fake_aws::files_under(&dir).into_iter().filter(|p| p.extension().is_some_and(|e| e == "gz")) {
        for line in gunzip(&f).lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let minute = &fields[1][..16];
            if (FROM..TO).contains(&minute) && fields[8].parse::<i64>().is_ok_and(|s| s >= 500) {
                *out.entry(format!("{minute}:00Z")).or_insert(0) += 1;
            }
        }
    }
    out
}

/// Application log events in the window whose message holds an error word, by minute.
fn log_errors_per_minute() -> BTreeMap<String, i64> {
    let dir = workspace().join("examples/logs/acme-log-archive-111111111111/AWSLogs/222222222222/CloudWatchLogs");
    let (from, to) = (ms(&format!("{FROM}:00Z")), ms(&format!("{TO}:00Z")));
    let mut out = BTreeMap::new();
    for f in fake_aws::files_under(&dir) {
        for line in gunzip(&f).lines() {
            let r: Value = serde_json::from_str(line).unwrap();
            if r["messageType"] == "CONTROL_MESSAGE" {
                continue;
            }
            for e in r["logEvents"].as_array().unwrap() {
                let ts = e["timestamp"].as_i64().unwrap();
                let m = e["message"].as_str().unwrap().to_lowercase();
                let error =
                    ["error", "exception", "timeout", "timed out", "fatal", "panic"].iter().any(|w| m.contains(w));
                if (from..to).contains(&ts) && error {
                    let minute = jiff::Timestamp::from_millisecond(ts - ts % 60_000).unwrap();
                    *out.entry(minute.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()).or_insert(0) += 1;
                }
            }
        }
    }
    out
}

fn ms(t: &str) -> i64 {
    t.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

/// The eventID of the one RevokeSecurityGroupIngress in the trail files of the day.
fn revoke_event_id() -> String {
    let dir = workspace()
        .join("examples/logs/acme-log-archive-111111111111/AWSLogs/o-a1b2c3d4e5/222222222222/CloudTrail/ap-northeast-1/2025/06/12");
    let ids: Vec<String> = fake_aws::files_under(&dir)
        .iter()
        .flat_map(|f| {
            let doc: Value = serde_json::from_str(&gunzip(f)).unwrap();
            doc["Records"].as_array().unwrap().clone()
        })
        .filter(|r| r["eventName"] == "RevokeSecurityGroupIngress")
        .map(|r| r["eventID"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    ids[0].clone()
}

#[test]
fn the_incident_ranks_the_planted_change_first_and_every_count_checks_out() {
    let (code, out, err) = analyze(&["--at", AT, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let a: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(a["window"]["from"], "2025-06-12T09:15:00Z");
    assert_eq!(a["window"]["to"], "2025-06-12T09:55:00Z");
    assert_eq!(a["window"]["onset"], "2025-06-12T09:40:00Z", "{}", a["onset_note"]);

    let top = &a["hypotheses"][0];
    assert_eq!(top["rank"], 1);
    assert_eq!(top["evidence"][0], format!("ct:{}", revoke_event_id()), "{top}");
    assert!(top["title"].as_str().unwrap().contains("sg-0d1e2f3a4b5c6d7e8"), "{top}");
    assert_eq!(top["confidence"], "high");
    // AWS Config's record of what the revoke did is cited with it (Config relates it to the event).
    assert_eq!(top["evidence"][1], "cfg:sg-0d1e2f3a4b5c6d7e8@2025-06-12T09:36:52.000Z", "{top}");

    // Every evidence id a hypothesis cites is in the analysis.
    let mut known: Vec<&str> = a["timeline"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    known.extend(a["signatures"].as_array().unwrap().iter().map(|s| s["evidence"].as_str().unwrap()));
    for h in a["hypotheses"].as_array().unwrap() {
        for e in h["evidence"].as_array().unwrap() {
            assert!(known.contains(&e.as_str().unwrap()), "{e} is cited but not in the analysis");
        }
    }

    // Counts, against the files.
    let alb = alb_5xx_per_minute();
    let logs = log_errors_per_minute();
    assert!(alb.values().sum::<i64>() > 50 && logs.values().sum::<i64>() > 40, "the fixture lost its incident");
    let minutes = a["minutes"].as_array().unwrap();
    assert_eq!(minutes.len(), 40);
    for m in minutes {
        let key = m["minute"].as_str().unwrap();
        assert_eq!(m["alb_5xx"].as_i64().unwrap(), alb.get(key).copied().unwrap_or(0), "ALB 5xx at {key}");
        assert_eq!(m["log_errors"].as_i64().unwrap(), logs.get(key).copied().unwrap_or(0), "log errors at {key}");
    }
    let clustered: u64 = a["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["before"].as_u64().unwrap() + s["during"].as_u64().unwrap())
        .sum();
    assert_eq!(clustered as i64, logs.values().sum::<i64>());
    let sources: Vec<(&str, &str, &str)> = a["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["query"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        sources,
        [
            ("cloudtrail", "changes", "ok"),
            ("config", "config-items", "ok"),
            ("alb", "alb-minutes", "ok"),
            ("alb", "alb-error-urls", "ok"),
            ("app_logs", "log-minutes", "ok"),
            ("app_logs", "log-errors", "ok"),
            ("metrics", "metric-points", "ok"),
            ("xray", "trace-summaries", "unavailable"),
        ]
    );
    let log_errors = a["sources"].as_array().unwrap().iter().find(|s| s["query"] == "log-errors").unwrap();
    assert_eq!(log_errors["total"].as_i64().unwrap(), logs.values().sum::<i64>());
    // The database's connections dropped and the target 5xx rose, at the onset.
    let metrics: Vec<&str> = a["metrics"].as_array().unwrap().iter().map(|m| m["metric"].as_str().unwrap()).collect();
    for want in ["DatabaseConnections", "HTTPCode_Target_5XX_Count", "Errors"] {
        assert!(metrics.contains(&want), "{want} not among the departed metrics {metrics:?}");
    }
    assert!(!metrics.contains(&"Invocations"), "the steady decoy metric departed: {metrics:?}");
    // The fix after the onset is in the timeline but never blamed.
    let fix = a["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["summary"].as_str().unwrap().contains("AuthorizeSecurityGroupIngress"));
    assert!(fix.is_none(), "the window ends at 09:55; the fix (09:57:30) is outside it");
}

/// `examples/specs/full.yaml` with `from` replaced by `to`, in a temporary directory.
fn spec_with(from: &str, to: &str) -> (tempfile::TempDir, String) {
    let text = std::fs::read_to_string(spec()).unwrap();
    assert!(text.contains(from), "{from} is not in full.yaml");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("opslake.yaml");
    std::fs::write(&path, text.replace(from, to)).unwrap();
    let path = path.display().to_string();
    (dir, path)
}

#[test]
fn text_and_markdown_reports_say_the_same_in_the_specs_language() {
    // full.yaml's model.language is ja: the report is in Japanese.
    let (code, ja, err) = analyze(&["--at", AT]);
    assert_eq!(code, 0, "{err}");
    for want in [
        "エラーの開始: 2025-06-12T09:40:00Z",
        "最も可能性が高い原因: エラー開始の 3.8 分前の network 変更 ec2:RevokeSecurityGroupIngress",
        "タイムライン",
        "データソース",
    ] {
        assert!(ja.contains(want), "{want} missing from:\n{ja}");
    }
    let (_dir, en_spec) = spec_with("language: ja", "language: en");
    let logs = logs();
    let en = |extra: &[&str]| {
        let mut args = vec!["analyze", "--spec", &en_spec, "--local", &logs];
        args.extend_from_slice(extra);
        cli(&args)
    };
    let (code, text, err) = en(&["--at", AT]);
    assert_eq!(code, 0, "{err}");
    for want in [
        "Errors began at 2025-06-12T09:40:00Z.",
        "Most likely: network change ec2:RevokeSecurityGroupIngress",
        "Timeline",
        "Sources",
    ] {
        assert!(text.contains(want), "{want} missing from:\n{text}");
    }
    let (code, md, err) = en(&["--at", AT, "--format", "markdown"]);
    assert_eq!(code, 0, "{err}");
    assert!(md.starts_with("# Failure analysis\n") && md.contains("\n## Hypotheses\n"), "{md}");
    // The same hypotheses, data for data, whatever the language.
    let (_, en_json, _) = en(&["--at", AT, "--format", "json"]);
    let (_, ja_json, _) = analyze(&["--at", AT, "--format", "json"]);
    let causes = |t: &str| {
        serde_json::from_str::<Value>(t).unwrap()["hypotheses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h["cause"].clone(), h["evidence"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(causes(&en_json), causes(&ja_json));
    // A civil time in a zone is the same instant, and the report speaks that zone.
    let (code, tokyo, err) = analyze(&["--at", "2025-06-12 18:45", "--tz", "Asia/Tokyo", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let (_, utc, _) = analyze(&["--at", AT, "--format", "json"]);
    assert_eq!(tokyo, utc, "JSON stays in UTC");
    let (_, tokyo, _) = en(&["--at", "2025-06-12 18:45", "--tz", "Asia/Tokyo"]);
    for want in [
        "Window: 2025-06-12 18:15:00 +09:00 to 2025-06-12 18:55:00 +09:00 (Asia/Tokyo).",
        "Errors began at 2025-06-12 18:40:00 +09:00.",
    ] {
        assert!(tokyo.contains(want), "{want} missing from:\n{tokyo}");
    }
}

#[test]
fn bad_input_exits_2_and_says_what_to_do() {
    let cases: &[(&[&str], &str)] = &[
        (&["--from", "2025-06-10T00:00:00Z", "--to", "2025-06-12T00:00:00Z"], "longer than 24 hours"),
        (&["--from", "2025-06-12T10:00:00Z", "--to", "2025-06-12T09:00:00Z"], "is not before its end"),
        (&["--at", AT, "--log-group", "/aws/lambda/nope"], "not one of the spec's log groups"),
        (&["--at", "yesterday"], "not a time"),
        (&["--at", "2025-06-12 18:45", "--tz", "Mars/Olympus"], "--tz Mars/Olympus"),
        (&["--at", AT, "--account", "999999999999"], "not one of the spec's accounts"),
        (&["--at", AT, "--region", "eu-west-3"], "not one of the spec's regions"),
        (&[], "--at"),
    ];
    for (args, want) in cases {
        let (code, _, err) = analyze(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

#[test]
fn what_the_lake_does_not_hold_is_said_and_a_failing_source_does_not_stop_the_others() {
    // minimal.yaml: no ALB, no captures.
    let spec = workspace().join("examples/specs/minimal.yaml").display().to_string();
    let logs = logs();
    let (code, out, err) =
        cli(&["analyze", "--spec", &spec, "--local", &logs, "--at", "2025-03-14T12:00:00Z", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let a: Value = serde_json::from_str(&out).unwrap();
    let status: BTreeMap<&str, &str> = a["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["query"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(status["alb-minutes"], "unavailable");
    assert_eq!(status["log-errors"], "unavailable");
    assert_eq!(status["metric-points"], "unavailable");
    let alb = a["sources"].as_array().unwrap().iter().find(|s| s["query"] == "alb-minutes").unwrap();
    assert!(alb["error"].as_str().unwrap().contains("sources.alb"), "{alb}");
    assert!(a["window"]["onset"].is_null() && a["onset_note"].as_str().unwrap().contains("no errors"));

    // A mirror without the ALB bucket: ALB fails, the rest still answers.
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        workspace().join("examples/logs/acme-log-archive-111111111111"),
        dir.path().join("acme-log-archive-111111111111"),
    )
    .unwrap();
    let (spec, local) = (self::spec(), dir.path().display().to_string());
    let (code, out, err) = cli(&["analyze", "--spec", &spec, "--local", &local, "--at", AT, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning: alb (alb-minutes) failed: the mirror has no folder for bucket acme-alb-logs-apne1"),
        "{err}"
    );
    let a: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(a["window"]["onset"], "2025-06-12T09:40:00Z", "the logs alone find the onset");
    assert_eq!(a["hypotheses"][0]["evidence"][0], format!("ct:{}", revoke_event_id()));
}

/// A model ranks the evidence through its tool: its hypotheses replace the code's, one citing
/// evidence that does not exist is dropped and reported, and what it saw was redacted and
/// bounded. A failing model leaves the code's ranking.
#[test]
fn a_model_ranks_the_evidence_and_cannot_cite_what_does_not_exist() {
    test_credentials();
    let revoke = format!("ct:{}", revoke_event_id());
    let r2 = revoke.clone();
    let fake = fake_aws::serve(Box::new(move |op, _| {
        if !op.ends_with("/converse") {
            return (400, serde_json::json!({"__type": "UnknownOperationException", "message": op}));
        }
        let input = serde_json::json!({"hypotheses": [
            {"title": "The database's security group lost the rule that admitted the service", "confidence": "high",
             "evidence": [r2, "sig:1"], "next_checks": ["restore the rule"]},
            {"title": "A made-up deploy", "confidence": "medium", "evidence": ["ct:00000000-0000-0000-0000-000000000000"]},
            {"title": "The code's first hypothesis, as it stands", "confidence": "low", "evidence": ["hyp:1"]}
        ]});
        let content =
            serde_json::json!([{"toolUse": {"toolUseId": "t1", "name": "submit_hypotheses", "input": input}}]);
        (
            200,
            serde_json::json!({"output": {"message": {"role": "assistant", "content": content}}, "stopReason": "tool_use",
                                 "usage": {"inputTokens": 2000, "outputTokens": 80, "totalTokens": 2080}, "metrics": {"latencyMs": 1}}),
        )
    }));
    // The spec asks for IP addresses to be redacted too.
    let (_dir, spec_file) = spec_with("    xray: true\n", "    xray: true\n    redact_ips: true\n");
    let logs = logs();
    let model = ["--model", "bedrock:anthropic.claude-test-v1:0", "--endpoint-url", &fake.url];
    let mut args = vec!["analyze", "--spec", &spec_file, "--local", &logs, "--at", AT, "--format", "json"];
    args.extend_from_slice(&model);
    let (code, out, err) = cli(&args);
    assert_eq!(code, 0, "{err}");
    let a: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(a["ranking"]["by"], "model", "{}", a["ranking"]);
    let titles: Vec<&str> = a["hypotheses"].as_array().unwrap().iter().map(|h| h["title"].as_str().unwrap()).collect();
    assert_eq!(
        titles,
        [
            "The database's security group lost the rule that admitted the service",
            "The code's first hypothesis, as it stands"
        ]
    );
    assert_eq!(a["hypotheses"][0]["evidence"], serde_json::json!([revoke, "sig:1"]));
    // `hyp:1` is expanded to what the code's first hypothesis cited.
    assert_eq!(a["hypotheses"][1]["evidence"][0], revoke);
    assert_eq!(a["ranking"]["dropped"].as_array().unwrap().len(), 1);
    assert!(err.contains("dropped a hypothesis of the model") && err.contains("ct:00000000"), "{err}");

    let calls = fake.calls.lock().unwrap();
    let prompt = calls.iter().find(|(op, _)| op.ends_with("/converse")).map(|(_, b)| b.to_string()).unwrap();
    assert!(!prompt.contains("10.0.12.7") && prompt.contains("<ip>"), "IP addresses reached the model");
    assert!(prompt.contains("submit_hypotheses") && prompt.contains(&revoke));
    assert!(
        prompt.len() / 3 < opslake_runtime::analysis::incident::rank::PROMPT_TOKEN_BUDGET,
        "{} bytes",
        prompt.len()
    );
    drop(calls);

    // A model that refuses: the code's ranking stands, and says why.
    let failing = fake_aws::serve(Box::new(|_, _| {
        (400, serde_json::json!({"__type": "ValidationException", "message": "bad model"}))
    }));
    let model = ["--model", "bedrock:anthropic.claude-test-v1:0", "--endpoint-url", &failing.url];
    let mut args = vec!["analyze", "--spec", &spec_file, "--local", &logs, "--at", AT, "--format", "json"];
    args.extend_from_slice(&model);
    let (code, out, err) = cli(&args);
    assert_eq!(code, 0, "{err}");
    let a: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(a["ranking"]["by"], "code");
    assert!(a["ranking"]["error"].as_str().unwrap().contains("bad model"), "{}", a["ranking"]);
    assert_eq!(a["hypotheses"][0]["evidence"][0], revoke);
    assert!(err.contains("the code's ranking stands"), "{err}");
}

#[test]
fn an_alarm_gives_the_window_and_cloud_mode_reads_the_live_services() {
    fake_aws::credentials();
    let cloud = fake_aws::cloud::serve_cloud(fake_aws::cloud::Insights::Completes);
    let url = cloud.fake.url.clone();
    let spec = spec();
    let alarm = fake_aws::cloud::ALARM;
    let base = ["analyze", "--spec", &spec, "--endpoint-url", &url, "--format", "json"];
    let run = |extra: &[&str]| cli(&[&base[..], extra].concat());

    // An unknown alarm is the caller's mistake.
    let (code, _, err) = run(&["--athena", "--alarm", "no-such-alarm"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no such alarm in ap-northeast-1") && err.contains("describe-alarms"), "{err}");

    // Cloud mode: Athena (an empty lake here) and the live services; the alarm gives the window.
    let (code, out, err) = run(&["--athena", "--alarm", alarm]);
    assert_eq!(code, 0, "{err}");
    let a: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(a["window"]["from"], "2025-06-12T09:11:30Z");
    assert_eq!(a["window"]["to"], "2025-06-12T09:51:30Z");
    assert_eq!(a["window"]["onset"], "2025-06-12T09:40:00Z", "the live logs find the onset");
    let sources: BTreeMap<&str, (&str, &str)> = a["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["query"].as_str().unwrap(), (s["engine"].as_str().unwrap(), s["status"].as_str().unwrap())))
        .collect();
    assert_eq!(sources["changes"], ("athena", "empty"));
    assert_eq!(sources["log-errors"], ("logs insights", "ok"));
    assert_eq!(sources["metric-points"], ("cloudwatch", "ok"));
    assert_eq!(sources["trace-summaries"], ("x-ray", "ok"));
    let causes: Vec<&str> =
        a["hypotheses"].as_array().unwrap().iter().map(|h| h["cause"]["kind"].as_str().unwrap()).collect();
    assert!(causes.contains(&"trace_root_cause"), "{causes:?}");

    // The alarm's window over the mirror: the lake's planted change ranks first.
    let logs = logs();
    let (code, out, err) = run(&["--local", &logs, "--alarm", alarm]);
    assert_eq!(code, 0, "{err}");
    let a: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(a["window"]["from"], "2025-06-12T09:11:30Z");
    assert_eq!(a["hypotheses"][0]["evidence"][0], format!("ct:{}", revoke_event_id()));
}
