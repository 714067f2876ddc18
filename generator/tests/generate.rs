//! `opslake generate`: golden outputs, determinism, escaping, `--check`, limits, and the
//! real linters (cfn-lint, checkov) on every generated template.

mod support;

use std::collections::BTreeMap;

use serde_json::Value;
use support::*;

const EXAMPLES: &[&str] = &["minimal.yaml", "organization.yaml", "full.yaml"];

/// full.yaml with log groups in the home account and region, in a member account's two
/// regions and in the home account's other region.
fn member_logs_spec() -> String {
    let full = example("full.yaml");
    let groups = "log_groups: [/aws/lambda/orders-api, /apigateway/orders]";
    assert!(full.contains(groups));
    full.replace(
        groups,
        "log_groups: [/aws/lambda/orders-api, \"arn:aws:logs:ap-northeast-1:222222222222:log-group:/aws/lambda/orders-api\", \"arn:aws:logs:us-east-1:222222222222:log-group:/ecs/web:*\", \"arn:aws:logs:us-east-1:111111111111:log-group:/ecs/web\"]",
    )
}

/// Spec variants beyond the examples, so every branch of the templates is linted.
fn variants() -> Vec<(&'static str, String)> {
    let minimal = example("minimal.yaml");
    let mut v: Vec<(&str, String)> = EXAMPLES.iter().map(|e| (*e, example(e))).collect();
    v.push(("existing-bucket", format!("{minimal}  existing: true\n")));
    v.push(("no-kms-prefix", format!("{minimal}  kms: false\n  prefix: logs/central\n")));
    let fa = "features:\n  failure_analysis:\n    log_groups: [/aws/lambda/api, /ecs/web]\n    alarm_topics: [arn:aws:sns:us-east-1:123456789012:alarms]\n";
    v.push((
        "no-kms-capture-logs",
        format!("{minimal}  kms: false\n  prefix: logs/central\n{fa}    capture: {{ metrics: false }}\n"),
    ));
    v.push((
        "capture-metrics",
        format!("{minimal}{fa}    capture: {{ logs: false, namespaces: [AWS/ECS, Orders] }}\n"),
    ));
    // Log groups named by ARN: captured by the member stacks where they live.
    v.push((
        "member-logs-one-place",
        format!(
            "{minimal}  kms: false\nfeatures:\n  failure_analysis:\n    log_groups: [\"arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/web:*\"]\n    alarm_topics: [arn:aws:sns:us-east-1:123456789012:alarms]\n    capture: {{ metrics: false }}\n"
        ),
    ));
    v.push(("member-logs-places", member_logs_spec()));
    v.push(("activity-global", activity_outside_us_east_1()));
    v.push(("existing-trail", format!("{minimal}sources:\n  cloudtrail: {{ trail: existing }}\n  config: {{ recorder: false, aggregator: false }}\n")));
    v.push((
        "account-trails-data-events",
        format!(
            "{}accounts:\n  - {{ id: \"123456789012\" }}\n  - {{ id: \"210987654321\" }}\nsources:\n  cloudtrail: {{ trail: account, data_events: [AWS::S3::Object] }}\n  alb: {{ buckets: {{ eu-west-1: demo-alb-euw1 }}, prefix: alb }}\n",
            minimal
        ),
    ));
    v
}

fn golden_dir(example: &str) -> std::path::PathBuf {
    workspace().join("generator/tests/golden").join(example.trim_end_matches(".yaml"))
}

/// Golden files: refresh with `OPSLAKE_BLESS=1 cargo test -p opslake --test generate`.
#[test]
fn examples_match_golden_outputs() {
    let bless = std::env::var_os("OPSLAKE_BLESS").is_some();
    let mut failures = Vec::new();
    for ex in EXAMPLES {
        let files = generate(&load_spec_text(&example(ex)));
        let dir = golden_dir(ex);
        if bless {
            let _ = std::fs::remove_dir_all(&dir);
            write_files(&dir, &files);
            continue;
        }
        let drift = opslake::output::check(&dir, &files).unwrap();
        if !drift.is_clean() {
            failures.push(format!("{ex}: {drift:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "generated output differs from generator/tests/golden (review the change, then refresh with OPSLAKE_BLESS=1):\n{}",
        failures.join("\n")
    );
}

#[test]
fn generation_is_deterministic() {
    for (name, text) in variants() {
        let a = generate(&load_spec_text(&text));
        let b = generate(&load_spec_text(&text));
        assert_eq!(a, b, "{name}: two runs differ");
    }
}

/// The cfn-lint and checkov runs share one directory of every variant's templates.
fn render_all_variants(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut paths = Vec::new();
    for (name, text) in variants() {
        let sub = dir.join(name.trim_end_matches(".yaml"));
        let files = generate(&load_spec_text(&text));
        write_files(&sub, &files);
        for f in files.iter().filter(|f| f.name.ends_with(".yaml")) {
            paths.push(sub.join(&f.name));
        }
    }
    paths
}

/// A generated template, parsed back as the renderer checks it.
fn rendered(files: &[opslake::render::OutputFile], name: &str) -> Value {
    let file = files.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("no {name} generated"));
    opslake::render::parse_back(name, &file.bytes).unwrap()
}

#[test]
fn every_template_passes_cfn_lint_with_no_errors_or_warnings() {
    let cfn_lint = tool("tools", "cfn-lint");
    let tmp = tempfile::tempdir().unwrap();
    let paths = render_all_variants(tmp.path());
    assert!(paths.len() >= 10, "expected central and member templates for every variant, got {paths:?}");
    let (code, out, err) = run(std::process::Command::new(cfn_lint).arg("--format").arg("parseable").args(&paths));
    assert!(code == 0 && out.trim().is_empty(), "cfn-lint reported (exit {code}):\n{out}\n{err}");
}

#[test]
fn every_template_passes_checkov_and_every_skip_has_a_reason() {
    let checkov = tool("checkov", "checkov");
    let tmp = tempfile::tempdir().unwrap();
    let paths = render_all_variants(tmp.path());
    let (code, out, err) = run(std::process::Command::new(checkov)
        .env("BC_SKIP_MAPPING", "TRUE")
        .env("BC_SKIP_DOWNLOAD", "TRUE")
        .args(["--framework", "cloudformation", "-o", "json", "--quiet", "-d"])
        .arg(tmp.path()));
    let report: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("checkov output is not JSON ({e}), exit {code}:\n{out}\n{err}"));
    let reports: Vec<Value> = match report {
        Value::Array(a) => a,
        other => vec![other],
    };
    let mut passed = 0;
    for r in &reports {
        let failed = r["results"]["failed_checks"].as_array().cloned().unwrap_or_default();
        let names: Vec<String> =
            failed.iter().map(|c| format!("{} {} {}", c["check_id"], c["resource"], c["file_path"])).collect();
        assert!(failed.is_empty(), "checkov failed checks:\n{}", names.join("\n"));
        for s in r["results"]["skipped_checks"].as_array().cloned().unwrap_or_default() {
            let comment = s["check_result"]["suppress_comment"].as_str().unwrap_or("");
            assert!(comment.len() > 20, "skip of {} on {} has no written reason", s["check_id"], s["resource"]);
        }
        passed += r["summary"]["passed"].as_u64().unwrap_or(0);
    }
    assert!(
        passed > 100,
        "checkov ran too few checks ({passed}) over {} templates: is it scanning the directory?",
        paths.len()
    );
}

/// The resources a cfn-guard finding names (its paths under `/Resources/`), found anywhere in
/// the finding's JSON.
fn guard_resources(v: &Value, out: &mut std::collections::BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if let (true, Some(path)) = (k == "path", x.as_str()) {
                    if let Some(rest) = path.strip_prefix("/Resources/") {
                        out.insert(rest.split('/').next().unwrap_or("").to_string());
                    }
                }
                guard_resources(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| guard_resources(x, out)),
        _ => {}
    }
}

/// The AWS Guard Rules Registry (`rules/aws`, vendored) and the Control Tower proactive
/// controls (from the npm package), run with cfn-guard over every template of every variant.
/// A finding fails the test unless `tests/guard-allowed.yaml` keeps it, with its reason; an
/// entry there that no template triggers any more fails it too.
#[test]
fn every_template_passes_cfn_guard_or_its_finding_has_a_reason() {
    let (guard, control_tower) = guard();
    let registry = workspace().join("third_party/aws-guard-rules-registry/rules/aws");
    let tmp = tempfile::tempdir().unwrap();
    let paths = render_all_variants(tmp.path());
    let allowed_text = std::fs::read(workspace().join("generator/tests/guard-allowed.yaml")).unwrap();
    let (node, diags) = opslake::spec::yaml::parse(&allowed_text);
    assert!(diags.is_empty(), "guard-allowed.yaml: {diags:?}");
    let allowed = opslake::spec::yaml::to_json(&node.unwrap());
    let allowed = allowed.as_array().expect("a list of {rule, resources, reason}").clone();
    for a in &allowed {
        assert!(a["reason"].as_str().is_some_and(|r| r.len() > 30), "{a}: no written reason");
    }
    let allows = |rule: &str, resource: &str| {
        allowed.iter().position(|a| {
            a["rule"] == rule
                && a["resources"].as_array().is_some_and(|rs| rs.iter().any(|r| r == "*" || r == resource))
        })
    };
    let mut used = vec![false; allowed.len()];
    let mut refused = Vec::new();
    let mut compliant = 0usize;
    // One run over every template (the rules are parsed once).
    let mut cmd = std::process::Command::new(&guard);
    cmd.args(["validate", "-z", "-o", "json", "--show-summary", "none", "-r"])
        .arg(&registry)
        .arg("-r")
        .arg(&control_tower);
    for p in &paths {
        cmd.arg("-d").arg(p);
    }
    let (code, out, err) = run(&mut cmd);
    let report: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("cfn-guard output is not JSON ({e}), exit {code}:\n{out}\n{err}"));
    let files = report.as_array().unwrap();
    assert_eq!(files.len(), paths.len(), "cfn-guard reported on every template");
    for file in files {
        let path = file["name"].as_str().unwrap_or("?");
        compliant += file["compliant"].as_array().map_or(0, Vec::len);
        for finding in file["not_compliant"].as_array().cloned().unwrap_or_default() {
            let rule = finding["Rule"]["name"].as_str().unwrap_or("?").to_string();
            let mut resources = std::collections::BTreeSet::new();
            guard_resources(&finding, &mut resources);
            if resources.is_empty() {
                resources.insert(String::new());
            }
            for res in resources {
                match allows(&rule, &res) {
                    Some(i) => used[i] = true,
                    None => refused.push(format!("{rule} {res} ({path})")),
                }
            }
        }
    }
    refused.sort();
    refused.dedup();
    assert!(refused.is_empty(), "cfn-guard findings without a reason in guard-allowed.yaml:\n{}", refused.join("\n"));
    let stale: Vec<&Value> = allowed.iter().zip(&used).filter(|(_, u)| !**u).map(|(a, _)| a).collect();
    assert!(stale.is_empty(), "guard-allowed.yaml keeps findings no template has any more: {stale:?}");
    assert!(compliant > 100, "cfn-guard evaluated too few rules ({compliant}): are the rules found?");
}

/// Builds a spec directly (bypassing validation, which would refuse these values) to prove
/// that the renderer, on its own, cannot be made to emit structure from a value.
#[test]
fn hostile_values_cannot_change_template_structure() {
    let benign = load_spec_text(&example("full.yaml"));
    let hostile_values = [
        "x\"\n  Evil: {Ref: AWS::NoValue}",
        "a: {b: c}",
        "# comment",
        "${AWS::AccountId}",
        "'single' \"double\" \\ back",
        "line1\nline2: value\n- item",
        "{{ raw }} {% if %}",
    ];
    let structure = |files: &[opslake::render::OutputFile]| -> Vec<(String, Vec<String>)> {
        files
            .iter()
            .filter(|f| f.name.ends_with(".yaml"))
            .map(|f| {
                let v = opslake::render::parse_back(&f.name, &f.bytes).unwrap();
                let mut keys: Vec<String> = v["Resources"].as_object().unwrap().keys().cloned().collect();
                keys.extend(v.as_object().unwrap().keys().cloned());
                (f.name.clone(), keys)
            })
            .collect()
    };
    let want = structure(&generate(&benign));
    for hostile in hostile_values {
        let mut spec = benign.clone();
        spec.name = hostile.to_string();
        spec.lake.bucket = hostile.to_string();
        spec.lake.prefix = hostile.to_string();
        spec.athena.workgroup = Some(hostile.to_string());
        spec.organization.as_mut().unwrap().member_ous = vec![hostile.to_string()];
        let files = generate(&spec);
        assert_eq!(structure(&files), want, "value {hostile:?} changed the template structure");
        // The value survives intact as data.
        let central = opslake::render::parse_back(
            "central",
            &files.iter().find(|f| f.name == "central.yaml").expect("central.yaml").bytes,
        )
        .unwrap();
        assert_eq!(central["Resources"]["AthenaWorkGroup"]["Properties"]["Name"], Value::String(hostile.to_string()));
        assert_eq!(central["Outputs"]["LakeBucketName"]["Value"], Value::String(hostile.to_string()));
    }
}

#[test]
fn templates_never_concatenate_values() {
    // Tera does not escape `~` concatenations: the plan computes every string instead.
    for (name, text) in opslake::render::EMBEDDED {
        for (i, line) in text.lines().enumerate() {
            if let Some(start) = line.find("{{") {
                assert!(!line[start..].contains('~'), "{name}:{}: concatenation inside {{{{ }}}}: {line}", i + 1);
            }
        }
    }
}

#[test]
fn check_detects_changed_missing_and_extra_files() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let spec = workspace().join("examples/specs/minimal.yaml");
    let (spec, out_s) = (spec.to_str().unwrap(), out.to_str().unwrap());
    let (code, _, err) = cli(&["generate", spec, "--out", out_s]);
    assert_eq!(code, 0, "{err}");
    let (code, stdout, _) = cli(&["generate", spec, "--out", out_s, "--check"]);
    assert_eq!(code, 0, "fresh output must be up to date: {stdout}");

    type Mutation = fn(&std::path::Path);
    let cases: [(&str, Mutation, &str); 3] = [
        ("changed", |d| std::fs::write(d.join("central.yaml"), "changed\n").unwrap(), "stale: "),
        ("missing", |d| std::fs::remove_file(d.join("member.yaml")).unwrap(), "missing: "),
        ("extra", |d| std::fs::write(d.join("old.yaml"), "x\n").unwrap(), "extra: "),
    ];
    for (what, mutate, expect) in cases {
        let (code, _, _) = cli(&["generate", spec, "--out", out_s]);
        assert_eq!(code, 0);
        mutate(&out);
        let (code, _, err) = cli(&["generate", spec, "--out", out_s, "--check"]);
        assert_eq!(code, 1, "{what}: --check must exit 1");
        assert!(err.contains(expect), "{what}: stderr lacks {expect:?}:\n{err}");
        let _ = std::fs::remove_file(out.join("old.yaml"));
    }
}

#[test]
fn generate_writes_nothing_for_an_invalid_spec() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("bad.yaml");
    std::fs::write(&spec, "name: demo\nhome: { account: \"123\", region: us-east-1 }\nregions: [us-east-1]\nlake: { bucket: ok-bucket }\n").unwrap();
    let out = tmp.path().join("out");
    let (code, _, err) = cli(&["generate", spec.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bad.yaml:2:"), "{err}");
    assert!(!out.exists(), "an invalid spec must not create the output directory");
}

#[test]
fn too_many_account_trails_are_refused_with_a_message() {
    let mut text = example("minimal.yaml");
    text.push_str("accounts:\n");
    for i in 0..1500u64 {
        text.push_str(&format!("  - {{ id: \"{:012}\" }}\n", 100_000_000_000 + i));
    }
    let spec = load_spec_text(&text);
    let err = opslake::plan::plan(&spec).unwrap_err();
    assert!(err.message.contains("bucket policy") && err.hint.contains("organization trail"), "{err:?}");
}

#[test]
fn manifest_describes_every_template() {
    let files = generate(&load_spec_text(&example("organization.yaml")));
    let manifest: Value =
        serde_json::from_slice(&files.iter().find(|f| f.name == "manifest.json").unwrap().bytes).unwrap();
    let templates = manifest["templates"].as_array().unwrap();
    let by_name: BTreeMap<&str, &Value> = templates.iter().map(|t| (t["name"].as_str().unwrap(), t)).collect();
    let central = by_name["central"];
    assert_eq!(central["target"]["kind"], "stack");
    assert_eq!(central["target"]["region"], "eu-west-1");
    let member = by_name["member"];
    assert_eq!(member["target"]["kind"], "stack_set");
    assert_eq!(member["target"]["permission_model"], "SERVICE_MANAGED");
    assert_eq!(
        member["target"]["organizational_units"],
        serde_json::json!(["ou-root-workloads1", "ou-root-sandboxes"])
    );
    // The home account (the log archive) administers the StackSet as the organization's
    // delegated administrator; the management account, which StackSets never reach, is not a
    // lake account here, so it needs no plain stacks.
    assert_eq!(member["target"]["delegated_admin"], true);
    assert!(member["target"].get("also_as_stacks_in").is_none(), "{}", member["target"]);
    // The organization trail is the management account's own stack, fed the lake key's ARN.
    let trail = by_name["trail"];
    assert_eq!(
        (&trail["target"]["kind"], &trail["target"]["account"]),
        (&Value::from("stack"), &Value::from("123412341234"))
    );
    assert_eq!(trail["parameters"]["LakeKeyArn"]["stack_output"]["template"], "central");
    let order: Vec<&str> = templates.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(order.iter().position(|n| *n == "central") < order.iter().position(|n| *n == "trail"), "{order:?}");
    // With the management account in the lake, it gets plain member stacks.
    let text = example("organization.yaml").replace(
        "  - { id: \"444444444444\", name: staging }\n",
        "  - { id: \"444444444444\", name: staging }\n  - { id: \"123412341234\", name: management }\n",
    );
    let with_management = generate(&load_spec_text(&text));
    let manifest: Value =
        serde_json::from_slice(&with_management.iter().find(|f| f.name == "manifest.json").unwrap().bytes).unwrap();
    let member = manifest["templates"].as_array().unwrap().iter().find(|t| t["name"] == "member").unwrap().clone();
    assert_eq!(member["target"]["also_as_stacks_in"], serde_json::json!(["123412341234"]));
    assert_eq!(member["parameters"]["LakeKeyArn"]["stack_output"]["output"], "LakeKeyArn");
    for t in templates {
        let file = files.iter().find(|f| f.name == t["file"].as_str().unwrap()).unwrap();
        use sha2::Digest;
        let hex: String = sha2::Sha256::digest(&file.bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(t["sha256"], hex);
        assert_eq!(t["bytes"], file.bytes.len());
    }
}

/// With `features.query`, the function, its URL (IAM auth) and a least-privilege role are
/// generated, and the layout in its environment is the one the tables come from.
#[test]
fn query_function_is_least_privilege_and_carries_the_layout() {
    let spec = load_spec_text(&example("full.yaml"));
    let files = generate(&spec);
    let central = rendered(&files, "central.yaml");
    let r = &central["Resources"];
    assert_eq!(r["QueryFunctionUrl"]["Properties"]["AuthType"], "AWS_IAM");
    let f = &r["QueryFunction"]["Properties"];
    // arm64 unless `deploy --x86-64` passes x86_64.
    assert_eq!(f["Architectures"], serde_json::json!([{"Ref": "FunctionArchitecture"}]));
    let arch = &central["Parameters"]["FunctionArchitecture"];
    assert_eq!(
        (&arch["Default"], &arch["AllowedValues"]),
        (&serde_json::json!("arm64"), &serde_json::json!(["arm64", "x86_64"]))
    );
    assert_eq!(f["Runtime"], "provided.al2023");
    let env = f["Environment"]["Variables"]["OPSLAKE_LAYOUT"].as_str().unwrap();
    let layout: opslake_runtime::lake::LakeLayout = serde_json::from_str(env).unwrap();
    assert_eq!(layout, opslake::plan::layout(&spec));
    let policy = |res: &str, path: &[&str]| -> Vec<Value> {
        let mut v = &r[res]["Properties"];
        for p in path {
            v = if let Ok(i) = p.parse::<usize>() { &v[i] } else { &v[*p] };
        }
        v["Statement"].as_array().cloned().unwrap_or_default()
    };
    let mut statements = policy("QueryFunctionRole", &["Policies", "0", "PolicyDocument"]);
    statements.extend(policy("LakeReaderPolicy", &["PolicyDocument"]));
    statements.extend(policy("LeftoversFunctionRole", &["Policies", "0", "PolicyDocument"]));
    statements.extend(policy("ChangeSummaryFunctionRole", &["Policies", "0", "PolicyDocument"]));
    let bedrock =
        statements.iter().find(|s| s["Sid"] == "InvokeTheModel").expect("bedrock:InvokeModel on the spec's model");
    assert!(
        bedrock["Resource"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r.as_str().unwrap().contains("claude-sonnet-4-5-20250929-v1:0")),
        "{bedrock}"
    );
    assert_eq!(r["ChangeSummaryFunctionUrl"]["Properties"]["AuthType"], "AWS_IAM");
    assert_eq!(
        r["ChangeSummaryFunction"]["Properties"]["Environment"]["Variables"]["OPSLAKE_MODEL"],
        "bedrock:global.anthropic.claude-sonnet-4-5-20250929-v1:0"
    );
    assert!(statements.len() >= 11, "{statements:#?}");
    for s in &statements {
        assert_ne!(s["Resource"], "*", "statement {} grants on every resource", s["Sid"]);
        let actions = s["Action"].as_array().cloned().unwrap_or_else(|| vec![s["Action"].clone()]);
        assert!(actions.iter().all(|a| !a.as_str().unwrap().ends_with('*')), "wildcard action in {}", s["Sid"]);
    }
    // Without the feature, none of it.
    let minimal = generate(&load_spec_text(&example("minimal.yaml")));
    let central = opslake::render::parse_back("central.yaml", &minimal[0].bytes).unwrap();
    assert!(central["Resources"].get("QueryFunction").is_none() && central.get("Parameters").is_none());
    assert!(
        central["Resources"].get("LeftoversFunction").is_none()
            && central["Resources"].get("LakeReaderPolicy").is_none()
    );
}

/// Failure analysis in Slack: one public URL (Slack's, auth NONE), every other URL IAM-auth;
/// each role grants only what its function calls, on the spec's resources, and `*` only for
/// the actions that take no resource; each service that may invoke the worker is bound to its
/// source; the alarm bus admits only the organization.
#[test]
fn the_slack_app_and_the_alarm_trigger_are_least_privilege() {
    let spec = load_spec_text(&example("organization.yaml"));
    let files = generate(&spec);
    let central = rendered(&files, "central.yaml");
    let r = central["Resources"].as_object().unwrap();
    let urls: Vec<(&String, &Value)> = r
        .iter()
        .filter(|(_, v)| v["Type"] == "AWS::Lambda::Url")
        .map(|(k, v)| (k, &v["Properties"]["AuthType"]))
        .collect();
    assert!(urls.len() >= 2, "{urls:?}");
    for (id, auth) in &urls {
        assert_eq!(*auth, if *id == "SlackFunctionUrl" { "NONE" } else { "AWS_IAM" }, "{id}");
    }
    let statements = |role: &str| -> Vec<Value> {
        r[role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].as_array().unwrap().clone()
    };
    let fa = spec.features.failure_analysis.as_ref().unwrap();
    let slack = fa.slack.as_ref().unwrap();
    let by_sid = |role: &str, sid: &str| {
        statements(role).into_iter().find(|s| s["Sid"] == sid).unwrap_or_else(|| panic!("{role} has no {sid}"))
    };
    assert_eq!(
        by_sid("SlackFunctionRole", "ReadItsSecrets")["Resource"],
        serde_json::json!([slack.signing_secret, slack.bot_token])
    );
    assert_eq!(
        by_sid("SlackFunctionRole", "StartTheWorker")["Resource"],
        serde_json::json!({"Fn::GetAtt": ["AnalyzeFunction", "Arn"]})
    );
    let secrets = by_sid("AnalyzeFunctionRole", "ReadItsSecrets")["Resource"].clone();
    assert!(secrets.as_array().unwrap().contains(&serde_json::json!(slack.bot_token)));
    assert!(!secrets.as_array().unwrap().contains(&serde_json::json!(slack.signing_secret)));
    let insights = by_sid("AnalyzeFunctionRole", "LogsInsightsOnTheSpecsGroups")["Resource"].clone();
    for g in fa.placed_log_groups(&spec.home) {
        assert!(insights.to_string().contains(&format!("log-group:{}", g.name)), "{insights}");
    }
    // `*` only for actions without resource-level permissions.
    let open: Vec<String> = ["SlackFunctionRole", "AnalyzeFunctionRole"]
        .iter()
        .flat_map(|role| statements(role))
        .filter(|s| s["Resource"] == "*")
        .flat_map(|s| {
            let a = s["Action"].clone();
            a.as_array().cloned().unwrap_or_else(|| vec![a])
        })
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    for a in &open {
        let allowed = [
            "logs:StopQuery",
            "cloudwatch:GetMetricData",
            "cloudwatch:ListMetrics",
            "xray:GetTraceSummaries",
            "xray:BatchGetTraces",
        ];
        assert!(allowed.contains(&a.as_str()), "{a} is granted on every resource");
    }
    let assume = by_sid("AnalyzeFunctionRole", "ReadOtherAccounts");
    assert_eq!(assume["Condition"]["StringEquals"]["aws:ResourceOrgID"], spec.organization.as_ref().unwrap().id);
    // Every service principal that may invoke the worker is bound to its rule or topic.
    for (id, p) in r.iter().filter(|(_, v)| v["Type"] == "AWS::Lambda::Permission") {
        let p = &p["Properties"];
        if p["Principal"] == "*" {
            assert!(id.starts_with("SlackFunctionUrl"), "{id} is public");
            continue;
        }
        assert!(p["SourceArn"].is_string() || p["SourceArn"].is_object(), "{id} has no SourceArn: {p}");
    }
    let bus = &r["AlarmEventBusPolicy"]["Properties"]["Statement"];
    assert_eq!(bus["Condition"]["StringEquals"]["aws:PrincipalOrgID"], spec.organization.as_ref().unwrap().id);
    // The ledger's TTL attribute is the one the worker writes.
    assert_eq!(
        r["AnalysisRunsTable"]["Properties"]["TimeToLiveSpecification"]["AttributeName"],
        opslake_runtime::ledger::EXPIRES_AT
    );
    // The member stack: the reader role trusts the worker's role only.
    let member = rendered(&files, "member.yaml");
    let trust = &member["Resources"]["AnalysisReaderRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(
        trust["Condition"]["ArnEquals"]["aws:PrincipalArn"],
        format!("arn:aws:iam::{}:role/{}-opslake-analyze", spec.home.account, spec.name)
    );
}

/// With `features.leftovers`: the function on the spec's schedule, its report topic
/// (encrypted) and one e-mail subscription per address.
#[test]
fn leftovers_function_runs_on_the_schedule_and_reports_to_a_topic() {
    let spec = load_spec_text(&example("organization.yaml"));
    let files = generate(&spec);
    let central = rendered(&files, "central.yaml");
    let r = &central["Resources"];
    assert_eq!(r["LeftoversSchedule"]["Properties"]["ScheduleExpression"], "rate(1 day)");
    assert_eq!(r["LeftoversSubscription1"]["Properties"]["Endpoint"], "platform-team@example.com");
    assert!(r["LeftoversTopic"]["Properties"].get("KmsMasterKeyId").is_some());
    let env = &r["LeftoversFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(env["OPSLAKE_LOOKBACK_DAYS"], "45");
    assert_eq!(env["OPSLAKE_TOPIC_ARN"], serde_json::json!({"Ref": "LeftoversTopic"}));
    let manifest: Value =
        serde_json::from_slice(&files.iter().find(|f| f.name == "manifest.json").unwrap().bytes).unwrap();
    assert_eq!(
        manifest["templates"][1]["parameters"]["LeftoversFunctionKey"],
        serde_json::json!({"artifact": {"bin": "leftovers"}})
    );
}

#[test]
fn a_large_lake_keeps_the_function_environment_within_lambda_limits() {
    let mut text = example("organization.yaml");
    text = text.replace("accounts:\n", "accounts:\n  - { id: \"500000000000\" }\n");
    let extra: String = (0..400).map(|i| format!("  - {{ id: \"{:012}\" }}\n", 600_000_000_000u64 + i)).collect();
    text = text.replace("  - { id: \"500000000000\" }\n", &format!("  - {{ id: \"500000000000\" }}\n{extra}"));
    let spec = load_spec_text(&text);
    let layout = opslake::plan::layout(&spec);
    let env = opslake_runtime::functions::env::LakeEnv::layout_json(&layout);
    assert!(env.len() <= opslake_runtime::functions::env::MAX_LAYOUT_BYTES, "{} bytes", env.len());
    let back: opslake_runtime::lake::LakeLayout = serde_json::from_str(&env).unwrap();
    assert!(back.accounts.is_empty() && back.database == layout.database);
}

/// The environment the template gives each function is what that function reads at start:
/// rendered, parsed back, and handed to the function's own parser (a `Ref` resolved as
/// CloudFormation would).
#[test]
fn every_function_reads_the_environment_its_template_sets() {
    use opslake_runtime::functions::env::{
        AnalyzeEnv, AskEnv, ChangeSummaryEnv, EnvValue, LeftoversEnv, LeftoversSource, QueryEnv, SlackEnv,
        LEDGER_TABLE, TOPIC_ARN, WORKER,
    };
    use opslake_runtime::llm::ModelChoice;
    use opslake_runtime::report::Language;
    for (name, model, language, secret) in [
        (
            "full.yaml",
            ModelChoice::Bedrock("global.anthropic.claude-sonnet-4-5-20250929-v1:0".into()),
            Language::Ja,
            None,
        ),
        (
            "organization.yaml",
            ModelChoice::Anthropic("claude-sonnet-4-5".into()),
            Language::En,
            Some("arn:aws:secretsmanager:eu-west-1:210987654321:secret:opslake-anthropic-Q1w2E3".to_string()),
        ),
    ] {
        let spec = load_spec_text(&example(name));
        let example = name;
        let files = generate(&spec);
        let central = rendered(&files, "central.yaml");
        let vars = |function: &str| -> BTreeMap<String, String> {
            let v = &central["Resources"][function]["Properties"]["Environment"]["Variables"];
            let m = v.as_object().unwrap_or_else(|| panic!("{example}: {function} has no environment"));
            m.iter()
                .map(|(k, v)| match (v.as_str(), v["Ref"].as_str()) {
                    (Some(text), _) => (k.clone(), text.to_string()),
                    (None, Some(id)) => (k.clone(), format!("arn:aws:sns:us-east-1:111111111111:{id}")),
                    _ => panic!("{example}: {function} {k} is neither text nor a Ref: {v}"),
                })
                .collect()
        };
        let lookup = |m: &BTreeMap<String, String>| {
            let m = m.clone();
            move |k: &str| m.get(k).cloned()
        };
        let layout = opslake::plan::layout(&spec);
        let workgroup = spec.workgroup();

        let q = QueryEnv::from_vars(&lookup(&vars("QueryFunction"))).unwrap_or_else(|e| panic!("{example}: {e}"));
        assert_eq!((&q.lake.layout, &q.lake.workgroup), (&layout, &workgroup), "{example}");

        let c = ChangeSummaryEnv::from_vars(&lookup(&vars("ChangeSummaryFunction")))
            .unwrap_or_else(|e| panic!("{example}: {e}"));
        assert_eq!(c.lake.layout, layout, "{example}");
        let m = &c.model;
        assert_eq!((&m.model, m.language, m.max_tokens), (&model, language, spec.model.max_tokens), "{example}");
        assert_eq!(m.anthropic_secret_arn, secret, "{example}");

        let a = AskEnv::from_vars(&lookup(&vars("AskFunction"))).unwrap_or_else(|e| panic!("{example}: {e}"));
        assert_eq!((&a.lake, &a.model), (&c.lake, &c.model), "{example}");
        assert_eq!(a.max_scan_mb, spec.features.ask.as_ref().unwrap().max_scan_mb, "{example}");

        let l =
            LeftoversEnv::from_vars(&lookup(&vars("LeftoversFunction"))).unwrap_or_else(|e| panic!("{example}: {e}"));
        let lookback = spec.features.leftovers.as_ref().unwrap().lookback_days;
        assert_eq!((l.lookback_days, l.source, &l.lake.workgroup), (lookback, LeftoversSource::Athena, &workgroup));
        assert_eq!(l.topic_arn, EnvValue::Text("arn:aws:sns:us-east-1:111111111111:LeftoversTopic".into()));
        // The template refers to the topic it creates.
        let raw = &central["Resources"]["LeftoversFunction"]["Properties"]["Environment"]["Variables"][TOPIC_ARN];
        assert_eq!(raw, &serde_json::json!({"Ref": "LeftoversTopic"}), "{example}");
        assert!(central["Resources"]["LeftoversTopic"].is_object(), "{example}");

        // Failure analysis: the worker reads what the spec says, the Slack endpoint starts it.
        let fa = spec.features.failure_analysis.as_ref().unwrap();
        let w = AnalyzeEnv::from_vars(&lookup(&vars("AnalyzeFunction"))).unwrap_or_else(|e| panic!("{example}: {e}"));
        assert_eq!((&w.lake, &w.model), (&c.lake, &c.model), "{example}");
        let placed: Vec<(String, String, String)> =
            fa.placed_log_groups(&spec.home).into_iter().map(|g| (g.account, g.region, g.name)).collect();
        let read: Vec<(String, String, String)> =
            w.log_groups.iter().map(|g| (g.account.clone(), g.region.clone(), g.name.clone())).collect();
        assert_eq!(read, placed, "{example}");
        assert_eq!((&w.namespaces, w.xray, &w.time_zone), (&fa.capture.namespaces, fa.xray, &fa.time_zone));
        assert_eq!((w.quiet_minutes, &w.home_account), (fa.quiet_minutes, &spec.home.account));
        assert_eq!(w.channel.as_deref(), fa.slack.as_ref().map(|s| s.channel.as_str()), "{example}");
        let raw = &central["Resources"]["AnalyzeFunction"]["Properties"]["Environment"]["Variables"][LEDGER_TABLE];
        assert_eq!(raw, &serde_json::json!({"Ref": "AnalysisRunsTable"}), "{example}");
        let s = SlackEnv::from_vars(&lookup(&vars("SlackFunction"))).unwrap_or_else(|e| panic!("{example}: {e}"));
        let slack = fa.slack.as_ref().unwrap();
        assert_eq!((&s.signing_secret_arn, &s.bot_token_arn), (&slack.signing_secret, &slack.bot_token));
        let raw = &central["Resources"]["SlackFunction"]["Properties"]["Environment"]["Variables"][WORKER];
        assert_eq!(raw, &serde_json::json!({"Ref": "AnalyzeFunction"}), "{example}");

        // Activity insights: the table and topic it creates, the state object its role may write.
        let i = opslake_runtime::functions::env::InsightsEnv::from_vars(&lookup(&vars("InsightsFunction")))
            .unwrap_or_else(|e| panic!("{example}: {e}"));
        assert_eq!(i.bucket.text(), spec.lake.bucket, "{example}");
        let object = format!("arn:aws:s3:::{}/{}", spec.lake.bucket, i.state_key.text());
        let role = &central["Resources"]["InsightsFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"];
        let forests = role["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == "TheForests").unwrap();
        assert_eq!(forests["Resource"], object, "{example}");
        let env = &central["Resources"]["InsightsFunction"]["Properties"]["Environment"]["Variables"];
        assert_eq!(env["OPSLAKE_INSIGHTS_TABLE"], serde_json::json!({"Ref": "InsightsTable"}), "{example}");
        assert_eq!(env[TOPIC_ARN], serde_json::json!({"Ref": "InsightsTopic"}), "{example}");
    }
}

/// Activity insights, read from the rendered templates: every member account and region but
/// the home one forwards `AWS API Call via CloudTrail` to the central bus, which only the
/// organization may put on; both rules deliver to the one queue, which accepts only them; the
/// read-only switch is the rules' state; the rankings read the function's own log group and
/// the dashboard shows them; the function's role names every resource it touches.
#[test]
fn activity_insights_forwards_every_account_and_region_to_one_queue() {
    for read_only in [false, true] {
        // The second variant sends the alerts to a channel of their own.
        let channel = if read_only { "C0SECURITY1" } else { "C0EXAMPLE01" };
        let extra = if read_only { format!(", slack_channel: {channel}") } else { String::new() };
        let text = example("organization.yaml").replace(
            "activity_insights: {}",
            &format!("activity_insights: {{ read_only: {read_only}, notify: [sec@example.com]{extra} }}"),
        );
        let files = generate(&load_spec_text(&text));
        let (central, member) = (rendered(&files, "central.yaml"), rendered(&files, "member.yaml"));
        let res = |t: &Value, id: &str| t["Resources"][id].clone();
        let state = if read_only { "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS" } else { "ENABLED" };
        let pattern =
            serde_json::json!({"detail-type": ["AWS API Call via CloudTrail", "AWS Console Signin via CloudTrail"]});
        let forward = res(&member, "ActivityForwardRule");
        assert_eq!(forward["Condition"], "ForwardActivity");
        assert_eq!(
            (&forward["Properties"]["State"], &forward["Properties"]["EventPattern"]),
            (&Value::from(state), &pattern)
        );
        let bus_arn = "arn:aws:events:eu-west-1:210987654321:event-bus/example-org-opslake-activity";
        assert_eq!(forward["Properties"]["Targets"][0]["Arn"], bus_arn);
        // Everywhere but the home account's home region, which has its own rule.
        let cond = &member["Conditions"]["ForwardActivity"]["Fn::Not"][0]["Fn::And"];
        assert_eq!(cond, &serde_json::json!([{"Condition": "IsHomeAccount"}, {"Condition": "IsHomeRegion"}]));
        let bus = res(&central, "ActivityEventBus");
        assert_eq!(bus["Properties"]["Name"], "example-org-opslake-activity");
        let policy = &res(&central, "ActivityEventBusPolicy")["Properties"]["Statement"];
        assert_eq!(policy["Condition"]["StringEquals"]["aws:PrincipalOrgID"], "o-exampleorg1");
        for rule in ["ActivityRuleHere", "ActivityRuleForwarded"] {
            let r = res(&central, rule);
            assert_eq!(r["Properties"]["State"], state, "{rule}");
            assert_eq!(
                r["Properties"]["Targets"][0]["Arn"],
                serde_json::json!({"Fn::GetAtt": ["InsightsQueue", "Arn"]})
            );
        }
        let queue = &res(&central, "InsightsQueuePolicy")["Properties"]["PolicyDocument"]["Statement"][1];
        assert_eq!(
            queue["Condition"]["ArnEquals"]["aws:SourceArn"],
            serde_json::json!([{"Fn::GetAtt": ["ActivityRuleHere", "Arn"]}, {"Fn::GetAtt": ["ActivityRuleForwarded", "Arn"]}])
        );
        for id in
            ["InsightsRankingPrincipals", "InsightsRankingSourceIps", "InsightsRankingApis", "InsightsRankingDenied"]
        {
            let body: Value =
                serde_json::from_str(res(&central, id)["Properties"]["RuleBody"].as_str().unwrap()).unwrap();
            assert_eq!(body["LogGroupNames"], serde_json::json!(["/aws/lambda/example-org-opslake-insights"]), "{id}");
            let name = res(&central, id)["Properties"]["RuleName"].as_str().unwrap().to_string();
            let dashboard =
                res(&central, "InsightsDashboard")["Properties"]["DashboardBody"].as_str().unwrap().to_string();
            assert!(dashboard.contains(&format!("\"ruleName\":\"{name}\"")), "{id} is not on the dashboard");
        }
        let role = &res(&central, "InsightsFunctionRole")["Properties"]["Policies"][0]["PolicyDocument"]["Statement"];
        assert!(role.as_array().unwrap().iter().all(|s| s["Resource"] != "*"), "{role:#}");
        // The Slack app exists: the function reads its bot token, and nothing else of it.
        let bot = "arn:aws:secretsmanager:eu-west-1:210987654321:secret:slack-bot-d4E5f6";
        let secrets: Vec<&Value> =
            role.as_array().unwrap().iter().filter(|s| s["Action"] == "secretsmanager:GetSecretValue").collect();
        assert_eq!(secrets.len(), 1, "{role:#}");
        assert_eq!(secrets[0]["Resource"], serde_json::json!([bot]));
        let env = &res(&central, "InsightsFunction")["Properties"]["Environment"]["Variables"];
        assert_eq!(
            (&env["OPSLAKE_SLACK_BOT_TOKEN_ARN"], &env["OPSLAKE_SLACK_CHANNEL"]),
            (&Value::from(bot), &Value::from(channel))
        );
        assert_eq!(res(&central, "InsightsSubscription1")["Properties"]["Endpoint"], "sec@example.com");
        assert_eq!(
            res(&central, "InsightsCallsAnomalyAlarm")["Properties"]["AlarmActions"],
            serde_json::json!([{"Ref": "InsightsTopic"}])
        );
    }
}

/// The organization example without us-east-1 in its regions.
fn activity_outside_us_east_1() -> String {
    let text = example("organization.yaml");
    let out = text.replace("regions: [eu-west-1, eu-central-1, us-east-1]", "regions: [eu-west-1, eu-central-1]");
    assert_ne!(out, text, "organization.yaml's regions changed");
    out
}

/// Global services' calls reach EventBridge in us-east-1 only: without it in the spec's
/// regions, a StackSet of its own forwards from there (the member StackSet's targets, that
/// region alone, the same rule and role and nothing else); with it, there is none.
#[test]
fn activity_insights_forwards_global_services_from_us_east_1() {
    let files = generate(&load_spec_text(&activity_outside_us_east_1()));
    let global = rendered(&files, "activity-global.yaml");
    let resources: Vec<&String> = global["Resources"].as_object().unwrap().keys().collect();
    assert_eq!(resources, ["ActivityForwardRole", "ActivityForwardRule"]);
    let rule = &global["Resources"]["ActivityForwardRule"];
    assert!(rule.get("Condition").is_none(), "forwards in every account, the home one too");
    let member = rendered(&files, "member.yaml");
    let same =
        |p: &str| (rule["Properties"][p].clone(), member["Resources"]["ActivityForwardRule"]["Properties"][p].clone());
    for p in ["EventPattern", "State", "Targets"] {
        let (a, b) = same(p);
        assert_eq!(a, b, "{p}");
    }
    let manifest: Value =
        serde_json::from_slice(&files.iter().find(|f| f.name == "manifest.json").unwrap().bytes).unwrap();
    let target = |name: &str| {
        manifest["templates"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap()["target"].clone()
    };
    let (g, m) = (target("activity-global"), target("member"));
    assert_eq!(g["regions"], serde_json::json!(["us-east-1"]));
    assert_eq!(g["stack_set_name"], "example-org-opslake-activity-global");
    assert_eq!(
        (&g["organizational_units"], &g["permission_model"]),
        (&m["organizational_units"], &m["permission_model"])
    );
    // The central stack takes forwarded calls even from the home account (it is in us-east-1 too).
    let central = rendered(&files, "central.yaml");
    assert!(central["Resources"].get("ActivityRuleForwarded").is_some());
    // With us-east-1 among the regions, the member StackSet already forwards from there.
    let files = generate(&load_spec_text(&example("organization.yaml")));
    assert!(files.iter().all(|f| f.name != "activity-global.yaml"));
}

/// A log group named by ARN is captured by the member stack of its account and region only:
/// a condition per place, the subscription filter under it, the stream and roles under any of
/// them; the bucket policy lets member capture roles write their own CloudWatchLogs folder.
#[test]
fn log_groups_named_by_arn_are_captured_where_they_live() {
    let files = generate(&load_spec_text(&member_logs_spec()));
    let yaml = |name: &str| -> serde_json::Value {
        let f = files.iter().find(|f| f.name == name).unwrap();
        opslake::render::parse_back(name, &f.bytes).unwrap()
    };
    let (central, member) = (yaml("central.yaml"), yaml("member.yaml"));
    let filters = |t: &serde_json::Value| -> Vec<(String, String, Option<String>)> {
        t["Resources"]
            .as_object()
            .unwrap()
            .values()
            .filter(|r| r["Type"] == "AWS::Logs::SubscriptionFilter")
            .map(|r| {
                (
                    r["Properties"]["LogGroupName"].as_str().unwrap().to_string(),
                    r["Properties"]["FilterName"].as_str().unwrap().to_string(),
                    r["Condition"].as_str().map(str::to_string),
                )
            })
            .collect()
    };
    // The home account's home region: the central stack, no condition.
    assert_eq!(filters(&central), [("/aws/lambda/orders-api".into(), "opslake-failure-analysis".into(), None)]);
    let mut away = filters(&member);
    away.sort();
    assert_eq!(
        away,
        [
            ("/aws/lambda/orders-api".into(), "opslake-failure-analysis".into(), Some("AppLogsIn2".into())),
            ("/ecs/web".into(), "opslake-failure-analysis".into(), Some("AppLogsIn1".into())),
            ("/ecs/web".into(), "opslake-failure-analysis".into(), Some("AppLogsIn3".into())),
        ]
    );
    let c = &member["Conditions"];
    let place = |id: &str| {
        let and = c[id]["Fn::And"].as_array().unwrap();
        (and[0]["Fn::Equals"][1].as_str().unwrap().to_string(), and[1]["Fn::Equals"][1].as_str().unwrap().to_string())
    };
    assert_eq!(place("AppLogsIn1"), ("111111111111".into(), "us-east-1".into()));
    assert_eq!(place("AppLogsIn2"), ("222222222222".into(), "ap-northeast-1".into()));
    assert_eq!(place("AppLogsIn3"), ("222222222222".into(), "us-east-1".into()));
    assert_eq!(
        c["AppLogsHere"],
        serde_json::json!({"Fn::Or": [{"Condition": "AppLogsIn1"}, {"Condition": "AppLogsIn2"}, {"Condition": "AppLogsIn3"}]})
    );
    let r = &member["Resources"];
    for id in ["AppLogsDeliveryStream", "AppLogsSubscriptionRole", "AppLogsDeliveryLogGroup"] {
        assert_eq!(r[id]["Condition"], "AppLogsHere", "{id}");
    }
    let processors = &r["AppLogsDeliveryStream"]["Properties"]["ExtendedS3DestinationConfiguration"]
        ["ProcessingConfiguration"]["Processors"];
    assert_eq!(processors[0]["Type"], "Decompression");
    assert_eq!(processors[1]["Type"], "AppendDelimiterToRecord");
    // The bucket policy: member capture roles write their own account's log folder.
    let policy = &central["Resources"]["LakeBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"];
    let write = policy.as_array().unwrap().iter().find(|s| s["Sid"] == "CaptureWriteOwnFolders").unwrap();
    let resources = serde_json::to_string(&write["Resource"]).unwrap();
    assert!(resources.contains("AWSLogs/${aws:PrincipalAccount}/CloudWatchLogs/*"), "{resources}");
}

/// The rendered bucket policy binds every delivery to its path: each account trail writes only
/// its own account's folder, named with that account's trail as the source, and (without an
/// organization) each account's Config only its own `Config/` folder. With an organization,
/// Config's deliveries (and the key's) are admitted by `aws:SourceOrgID`, so accounts that join
/// its OUs later can deliver.
#[test]
fn every_delivery_is_bound_to_its_own_path() {
    let central_of = |text: &str| {
        let files = generate(&load_spec_text(text));
        rendered(&files, "central.yaml")
    };
    let statements = |central: &Value, resource: &str| -> Vec<Value> {
        central["Resources"][resource]["Properties"]["PolicyDocument"]["Statement"]
            .as_array()
            .or_else(|| central["Resources"][resource]["Properties"]["KeyPolicy"]["Statement"].as_array())
            .unwrap_or_else(|| panic!("{resource} has no statements"))
            .clone()
    };
    let service_writes = |policy: &[Value], service: &str| -> Vec<Value> {
        policy
            .iter()
            .filter(|s| s["Principal"]["Service"] == service && s["Action"] == "s3:PutObject")
            .cloned()
            .collect()
    };
    let account_in = |path: &str| path.split("/AWSLogs/").nth(1).unwrap().split('/').next().unwrap().to_string();

    let (_, text) = variants().into_iter().find(|(n, _)| *n == "account-trails-data-events").unwrap();
    let spec = load_spec_text(&text);
    let central = central_of(&text);
    let policy = statements(&central, "LakeBucketPolicy");
    let mut seen = (Vec::new(), Vec::new());
    for s in service_writes(&policy, "cloudtrail.amazonaws.com") {
        let resources = s["Resource"].as_array().unwrap();
        assert_eq!(resources.len(), 1, "{s}");
        let account = account_in(resources[0].as_str().unwrap());
        let source = s["Condition"]["StringEquals"]["aws:SourceArn"].as_str().unwrap();
        assert!(source.starts_with(&format!("arn:aws:cloudtrail:{}:{account}:trail/", spec.home.region)), "{s}");
        seen.0.push(account);
    }
    for s in service_writes(&policy, "config.amazonaws.com") {
        let account = account_in(s["Resource"].as_str().unwrap());
        assert!(s["Resource"].as_str().unwrap().ends_with(&format!("/AWSLogs/{account}/Config/*")), "{s}");
        assert_eq!(s["Condition"]["StringEquals"]["aws:SourceAccount"], account.as_str(), "{s}");
        seen.1.push(account);
    }
    let mut accounts = spec.account_ids();
    accounts.sort();
    seen.0.sort();
    seen.1.sort();
    assert_eq!((&seen.0, &seen.1), (&accounts, &accounts), "one trail and one Config statement per account");
    // In the home account Config delivers with the recorder's role: it may write its own
    // account's Config folder (and use the lake key through S3).
    let files = generate(&spec);
    let member = rendered(&files, "member.yaml");
    let role = &member["Resources"]["ConfigRecorderRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"];
    let write = role.as_array().unwrap().iter().find(|s| s["Sid"] == "WriteOwnConfigFolder").unwrap();
    assert_eq!(
        write["Resource"]["Fn::Sub"],
        format!("arn:aws:s3:::{}/AWSLogs/${{AWS::AccountId}}/Config/*", spec.lake.bucket)
    );
    assert_eq!(write["Condition"]["StringEquals"]["s3:x-amz-acl"], "bucket-owner-full-control");
    let kms = role.as_array().unwrap().iter().find(|s| s["Sid"] == "EncryptWithTheLakeKey").unwrap();
    assert_eq!(kms["Condition"]["StringEquals"]["kms:ViaService"], format!("s3.{}.amazonaws.com", spec.home.region));

    // An organization: Config and its key by the organization, the trail by its one source.
    let spec = load_spec_text(&example("full.yaml"));
    let org = spec.organization.as_ref().unwrap().id.clone();
    let central = central_of(&example("full.yaml"));
    let policy = statements(&central, "LakeBucketPolicy");
    let config = service_writes(&policy, "config.amazonaws.com");
    assert_eq!(config.len(), 1);
    assert_eq!(config[0]["Condition"]["StringEquals"]["aws:SourceOrgID"], org.as_str());
    let acl = policy.iter().find(|s| s["Sid"] == "ConfigAclCheck").unwrap();
    assert_eq!(acl["Condition"]["StringEquals"]["aws:SourceOrgID"], org.as_str());
    let key = statements(&central, "LakeKey");
    let config_key = key.iter().find(|s| s["Sid"] == "ConfigEncryptDeliveries").unwrap();
    assert_eq!(config_key["Condition"]["StringEquals"]["aws:SourceOrgID"], org.as_str());
    let trail = service_writes(&policy, "cloudtrail.amazonaws.com");
    assert_eq!(trail.len(), 1);
    assert_eq!(
        trail[0]["Condition"]["StringEquals"]["aws:SourceArn"].as_str().map(|a| a.contains(":trail/")),
        Some(true)
    );
}

/// Account trails without an organization: a statement per account (beside the tamper denials)
/// fits S3's 20 KB policy for 24 accounts; the 25th is refused with the way out.
#[test]
fn the_largest_account_list_a_bucket_policy_can_bind() {
    let spec_with = |n: u64| {
        let mut text = example("minimal.yaml");
        text.push_str("accounts:\n");
        for i in 0..n {
            text.push_str(&format!("  - {{ id: \"{:012}\" }}\n", 100_000_000_000 + i));
        }
        load_spec_text(&text)
    };
    assert!(opslake::plan::plan(&spec_with(24)).is_ok());
    let err = opslake::plan::plan(&spec_with(25)).unwrap_err();
    assert!(err.message.contains("25 accounts") && err.hint.contains("organization"), "{err:?}");
}

/// The archive is tamper-evident in the rendered templates: nobody but the break-glass role
/// deletes a log object or changes the bucket's rules (those only through a stack deployment
/// too), and every generated trail records who read or deleted the lake's objects.
#[test]
fn the_archive_is_tamper_evident() {
    let rendered = |text: &str, file: &str| {
        let files = generate(&load_spec_text(text));
        rendered(&files, file)
    };
    let lake_selector = |trail: &Value| -> Value {
        trail["Properties"]["AdvancedEventSelectors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["FieldSelectors"].to_string().contains("resources.ARN"))
            .cloned()
            .unwrap_or_else(|| panic!("no selector on the lake: {trail}"))
    };
    let event_names = |selector: &Value| -> Vec<String> {
        let f = selector["FieldSelectors"].as_array().unwrap().iter().find(|f| f["Field"] == "eventName").unwrap();
        f["Equals"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
    };
    let spec = load_spec_text(&example("full.yaml"));
    let central = rendered(&example("full.yaml"), "central.yaml");
    let policy = central["Resources"]["LakeBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"].clone();
    let by_sid = |sid: &str| policy.as_array().unwrap().iter().find(|s| s["Sid"] == sid).cloned().unwrap();
    let break_glass = format!("arn:aws:iam::{}:role/{}-opslake-break-glass", spec.home.account, spec.name);
    let deletes = by_sid("DenyDeletingLogs");
    assert_eq!((&deletes["Effect"], &deletes["Principal"]), (&Value::from("Deny"), &Value::from("*")));
    assert_eq!(deletes["Resource"], format!("arn:aws:s3:::{}/*", spec.lake.bucket));
    for a in ["s3:DeleteObject", "s3:DeleteObjectVersion"] {
        assert!(deletes["Action"].as_array().unwrap().contains(&Value::from(a)), "{a}");
    }
    assert_eq!(deletes["Condition"]["ArnNotEquals"]["aws:PrincipalArn"], break_glass.as_str());
    let rules = by_sid("DenyChangingTheArchiveRules");
    assert_eq!(rules["Effect"], "Deny");
    for a in ["s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:PutLifecycleConfiguration", "s3:PutBucketVersioning"] {
        assert!(rules["Action"].as_array().unwrap().contains(&Value::from(a)), "{a}");
    }
    assert_eq!(rules["Condition"]["ArnNotEquals"]["aws:PrincipalArn"], break_glass.as_str());
    assert_eq!(rules["Condition"]["ForAllValues:StringNotEquals"]["aws:CalledVia"], "cloudformation.amazonaws.com");
    // (full.yaml's organization trail is the management account's own stack.)
    let selector = lake_selector(&rendered(&example("full.yaml"), "trail.yaml")["Resources"]["Trail"]);
    assert!(selector.to_string().contains(&format!("arn:aws:s3:::{}/", spec.lake.bucket)), "{selector}");
    let names = event_names(&selector);
    assert!(["GetObject", "DeleteObject", "DeleteObjects"].iter().all(|n| names.contains(&n.to_string())), "{names:?}");

    // A named break-glass role, reads not recorded; an account trail records the same.
    let text = example("minimal.yaml").replace(
        "  bucket: demo-log-archive-123456789012\n",
        "  bucket: demo-log-archive-123456789012\n  break_glass_role: ops-recovery\n  audit_reads: false\n",
    );
    let central = rendered(&text, "central.yaml");
    let statements = central["Resources"]["LakeBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"].clone();
    let deletes = statements.as_array().unwrap().iter().find(|s| s["Sid"] == "DenyDeletingLogs").unwrap().clone();
    assert_eq!(deletes["Condition"]["ArnNotEquals"]["aws:PrincipalArn"], "arn:aws:iam::123456789012:role/ops-recovery");
    let member = rendered(&text, "member.yaml");
    let names = event_names(&lake_selector(&member["Resources"]["AccountTrail"]));
    assert!(names.contains(&"DeleteObject".to_string()) && !names.contains(&"GetObject".to_string()), "{names:?}");
}

/// No silent failures: the leftovers schedule and function hand what fails to a queue and an
/// `Errors` alarm that reaches the report topic; every function that queries Athena stops a
/// query before its own timeout.
#[test]
fn failures_are_kept_and_said_and_queries_end_before_their_function() {
    let files = generate(&load_spec_text(&example("full.yaml")));
    let central = rendered(&files, "central.yaml");
    let r = &central["Resources"];
    let queue = serde_json::json!({"Fn::GetAtt": ["LeftoversFailedQueue", "Arn"]});
    assert_eq!(r["LeftoversSchedule"]["Properties"]["Target"]["DeadLetterConfig"]["Arn"], queue);
    assert_eq!(
        r["LeftoversFunctionInvokeConfig"]["Properties"]["DestinationConfig"]["OnFailure"]["Destination"],
        queue
    );
    let alarm = &r["LeftoversErrorsAlarm"]["Properties"];
    assert_eq!((&alarm["Namespace"], &alarm["MetricName"]), (&Value::from("AWS/Lambda"), &Value::from("Errors")));
    assert_eq!(alarm["Dimensions"][0]["Value"], serde_json::json!({"Ref": "LeftoversFunction"}));
    assert_eq!(alarm["AlarmActions"], serde_json::json!([{"Ref": "LeftoversTopic"}]));
    let key = r["LakeKey"]["Properties"]["KeyPolicy"]["Statement"].as_array().unwrap();
    assert!(
        key.iter().any(|s| s["Principal"]["Service"] == "cloudwatch.amazonaws.com"),
        "the alarm can use the topic's key"
    );
    let deadline = opslake_runtime::functions::ATHENA_DEADLINE.as_secs();
    for (id, res) in r.as_object().unwrap() {
        let env = &res["Properties"]["Environment"]["Variables"];
        if res["Type"] == "AWS::Lambda::Function" && env.get("OPSLAKE_WORKGROUP").is_some() {
            let timeout = res["Properties"]["Timeout"].as_u64().unwrap();
            assert!(timeout >= deadline + 60, "{id}: a {timeout} s timeout leaves no time after a {deadline} s query");
        }
    }
}

/// The key and the service roles name who may use them: CloudTrail's statements the spec's
/// trail (`aws:SourceArn`), CloudWatch Logs' the lake's own log groups, the readers' the services
/// that hold data under the key (`kms:ViaService`), Config's organization role its account.
#[test]
fn key_and_trust_statements_name_their_sources() {
    let spec = load_spec_text(&example("full.yaml"));
    let files = generate(&spec);
    let central = rendered(&files, "central.yaml");
    let r = &central["Resources"];
    let key = r["LakeKey"]["Properties"]["KeyPolicy"]["Statement"].as_array().unwrap().clone();
    let sid = |id: &str| key.iter().find(|s| s["Sid"] == id).cloned().unwrap();
    // The organization trail is the management account's.
    let management = spec.organization.as_ref().unwrap().management(&spec.home).to_string();
    assert_ne!(management, spec.home.account);
    let trail = format!("arn:aws:cloudtrail:{}:{management}:trail/{}-opslake", spec.home.region, spec.name);
    for id in ["CloudTrailEncryptLogs", "CloudTrailDescribeKey"] {
        assert_eq!(sid(id)["Condition"]["StringEquals"]["aws:SourceArn"], serde_json::json!([trail]), "{id}");
    }
    let groups =
        sid("CloudWatchLogsEncryptFunctionLogs")["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"].clone();
    for g in groups.as_array().unwrap() {
        assert!(g.as_str().unwrap().contains(&format!("/{}-opslake-", spec.name)), "{g}");
    }
    let reader = r["LakeReaderPolicy"]["Properties"]["PolicyDocument"]["Statement"].as_array().unwrap().clone();
    let lake_key = reader.iter().find(|s| s["Sid"] == "LakeKey").unwrap();
    let via = lake_key["Condition"]["StringEquals"]["kms:ViaService"].to_string();
    assert!(via.contains("s3.${AWS::Region}") && via.contains("lambda.${AWS::Region}"), "{via}");
    let trust = &r["ConfigOrganizationRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(trust["Condition"]["StringEquals"]["aws:SourceAccount"], serde_json::json!({"Ref": "AWS::AccountId"}));
}
