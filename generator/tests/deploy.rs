//! `opslake deploy` end to end against `moto_server`: bootstrap, artifact upload (and no
//! re-upload), create through change sets, "up to date", a spec edit shown as a Modify and
//! applied, a StackSet with its instances, templates passed by URL, review-only change sets,
//! and the failure paths (a rejected template, no consent, wrong account, no cargo-lambda);
//! organizations whose management account is not home, the organization example as written.
//! moto records no per-resource events and skips resource types it does not emulate (Glue,
//! Athena, Config); the templates themselves are covered by cfn-lint, checkov and cfn-guard
//! in generate.rs.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use support::*;

const SPEC: &str = r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
  kms: false
features:
  query: { enabled: true }
  leftovers: { enabled: true, notify: [ops@example.com] }
athena: { bytes_scanned_cutoff_mb: 1024 }
"#;

struct Setup {
    moto: Moto,
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        Setup::with(SPEC, &["query", "leftovers"])
    }

    /// `spec` with a zip for each of `bins`.
    fn with(spec: &str, bins: &[&str]) -> Setup {
        test_credentials();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("opslake.yaml"), spec).unwrap();
        for bin in bins {
            write_zip(&dir.path().join("zips"), bin, b"v1");
        }
        Setup { moto: start_moto(), dir }
    }

    fn spec(&self) -> String {
        self.dir.path().join("opslake.yaml").display().to_string()
    }

    fn zips(&self) -> String {
        self.dir.path().join("zips").display().to_string()
    }

    /// `opslake deploy SPEC --endpoint-url MOTO --artifacts ZIPS EXTRA...`, in process.
    fn deploy(&self, extra: &[&str]) -> (u8, String, String) {
        let spec = self.spec();
        let zips = self.zips();
        let mut args = vec![
            "deploy",
            spec.as_str(),
            "--endpoint-url",
            &self.moto.url,
            "--artifacts",
            zips.as_str(),
            "--timeout",
            "1",
        ];
        args.extend_from_slice(extra);
        cli(&args)
    }

    fn deploy_json(&self, extra: &[&str]) -> (u8, Value, String) {
        let mut args = vec!["--format", "json"];
        args.extend_from_slice(extra);
        let (code, out, err) = self.deploy(&args);
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}\n{err}"));
        (code, v, err)
    }

    fn sdk(&self) -> aws_config::SdkConfig {
        let conn = opslake_runtime::aws::Connection {
            profile: None,
            region: Some("us-east-1".into()),
            endpoint_url: Some(self.moto.url.clone()),
        };
        block_on(conn.load(None)).config().clone()
    }

    fn cfn(&self) -> aws_sdk_cloudformation::Client {
        aws_sdk_cloudformation::Client::new(&self.sdk())
    }

    fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&self.sdk()).force_path_style(true).build())
    }

    fn stack_status(&self, name: &str) -> Option<String> {
        let out = block_on(self.cfn().describe_stacks().stack_name(name).send()).ok()?;
        out.stacks().first().and_then(|s| s.stack_status()).map(|s| s.as_str().to_string())
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

/// A small valid zip (one stored file), so each content gets its own hash.
fn write_zip(dir: &Path, bin: &str, content: &[u8]) {
    std::fs::create_dir_all(dir.join(bin)).unwrap();
    let name = b"bootstrap";
    let crc = crc32(content);
    let mut z = Vec::new();
    let local = |z: &mut Vec<u8>| {
        z.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        z.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]);
        z.extend_from_slice(&crc.to_le_bytes());
        z.extend_from_slice(&(content.len() as u32).to_le_bytes());
        z.extend_from_slice(&(content.len() as u32).to_le_bytes());
        z.extend_from_slice(&(name.len() as u16).to_le_bytes());
        z.extend_from_slice(&0u16.to_le_bytes());
        z.extend_from_slice(name);
    };
    local(&mut z);
    z.extend_from_slice(content);
    let central_at = z.len() as u32;
    z.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    z.extend_from_slice(&[20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]);
    z.extend_from_slice(&crc.to_le_bytes());
    z.extend_from_slice(&(content.len() as u32).to_le_bytes());
    z.extend_from_slice(&(content.len() as u32).to_le_bytes());
    z.extend_from_slice(&(name.len() as u16).to_le_bytes());
    z.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
    z.extend_from_slice(&(0o100755u32 << 16).to_le_bytes());
    z.extend_from_slice(&0u32.to_le_bytes());
    z.extend_from_slice(name);
    let central_len = z.len() as u32 - central_at;
    z.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    z.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
    z.extend_from_slice(&central_len.to_le_bytes());
    z.extend_from_slice(&central_at.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    std::fs::write(dir.join(bin).join("bootstrap.zip"), z).unwrap();
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn results(summary: &Value, section: &str) -> Vec<(String, String)> {
    summary[section]
        .as_array()
        .unwrap_or_else(|| panic!("no {section} in {summary}"))
        .iter()
        .map(|s| {
            let name = s["stack_name"].as_str().or(s["stack_set_name"].as_str()).or(s["bin"].as_str()).unwrap_or("");
            (name.to_string(), s["result"].as_str().unwrap_or("").to_string())
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[test]
fn deploy_creates_then_is_up_to_date_then_applies_a_spec_edit() {
    let s = Setup::new();

    // First deploy: bootstrap, uploads, the central stack and the member StackSet are created.
    let (code, first, err) = s.deploy_json(&["--yes"]);
    assert_eq!(code, 0, "{first:#}\n{err}");
    assert_eq!(
        results(&first, "stacks"),
        pairs(&[("opslake-bootstrap", "created"), ("demo-opslake-central", "created")])
    );
    assert_eq!(results(&first, "artifacts"), pairs(&[("leftovers", "uploaded"), ("query", "uploaded")]));
    assert_eq!(results(&first, "stack_sets"), pairs(&[("demo-opslake-member", "created")]));
    let central = &first["stacks"][1];
    let added: Vec<&str> = central["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "Add")
        .map(|c| c["logical_id"].as_str().unwrap())
        .collect();
    for id in ["LakeBucket", "QueryFunction", "LeftoversFunction", "AthenaWorkGroup", "TableCloudtrail"] {
        assert!(added.contains(&id), "{id} not added: {added:?}");
    }
    assert_eq!(s.stack_status("opslake-bootstrap").as_deref(), Some("CREATE_COMPLETE"));
    assert_eq!(s.stack_status("demo-opslake-central").as_deref(), Some("CREATE_COMPLETE"));
    // The diff and the progress were shown (on stderr under --format json).
    assert!(err.contains("+ Add    QueryFunction"), "{err}");
    assert!(err.contains("demo-opslake-central CREATE_COMPLETE"), "{err}");

    // Doctor ran on the deployed lake. moto's CloudFormation skips Glue tables, so it reports
    // them missing — shown, not fatal.
    let tables: Vec<&str> =
        first["doctor"]["tables"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(tables, ["cloudtrail", "config"]);
    assert_eq!(first["doctor"]["ok"], false);
    assert!(err.contains("\ndoctor:\n"), "{err}");

    // The assets bucket: private, encrypted, holding each zip under its content hash.
    let s3 = s.s3();
    let key = first["artifacts"][1]["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("artifacts/query/") && key.ends_with(".zip"), "{key}");
    block_on(s3.head_object().bucket("opslake-assets-123456789012-us-east-1").key(&key).send())
        .expect("the query zip is in the assets bucket");
    let enc = block_on(s3.get_bucket_encryption().bucket("opslake-assets-123456789012-us-east-1").send()).unwrap();
    let rule = &enc.server_side_encryption_configuration().unwrap().rules()[0];
    assert_eq!(rule.apply_server_side_encryption_by_default().unwrap().sse_algorithm().as_str(), "AES256");
    // (moto does not apply PublicAccessBlockConfiguration from templates; checkov covers it.)

    // StackSet instances: SELF_MANAGED to the account list, one per region.
    let instances: Vec<(String, String)> = first["stack_sets"][0]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["region"].as_str().unwrap().to_string(), i["status"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(instances, pairs(&[("eu-west-1", "CURRENT"), ("us-east-1", "CURRENT")]));

    // Second deploy, nothing changed: everything up to date, nothing uploaded.
    let (code, out, err) = s.deploy(&["--yes"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("opslake-bootstrap (123456789012 us-east-1): up to date"), "{out}");
    assert!(out.contains("demo-opslake-central (123456789012 us-east-1): up to date"), "{out}");
    assert!(out.contains("StackSet demo-opslake-member (123456789012 us-east-1, SELF_MANAGED): up to date"), "{out}");
    assert!(out.contains("): unchanged") && !out.contains("): uploaded"), "{out}");
    assert!(out.trim_end().ends_with("everything up to date: 3 up to date"), "{out}");

    // A zip whose copy in the bucket was altered (same key, other bytes) is found by its
    // SHA-256 checksum and replaced by the build.
    let query_key = first["artifacts"][1]["key"].as_str().unwrap().to_string();
    block_on(
        s3.put_object()
            .bucket("opslake-assets-123456789012-us-east-1")
            .key(&query_key)
            .body(b"not the build".to_vec().into())
            .send(),
    )
    .unwrap();
    let (code, again, err) = s.deploy_json(&["--yes"]);
    assert_eq!(code, 0, "{again:#}\n{err}");
    assert_eq!(again["artifacts"][1]["result"]["replaced"]["found"], "none", "{again:#}");
    assert!(err.contains("replaced: the bucket's copy had another SHA-256"), "{err}");
    let (_, again, _) = s.deploy_json(&["--yes"]);
    assert_eq!(again["artifacts"][1]["result"], "unchanged", "{again:#}");

    // A spec edit: the workgroup's scan limit. The diff shows the Modify and the property.
    let edited = SPEC.replace("bytes_scanned_cutoff_mb: 1024", "bytes_scanned_cutoff_mb: 2048");
    std::fs::write(s.spec(), edited).unwrap();
    // And a rebuilt query function: a new key, uploaded, and the function's Code changes.
    write_zip(&s.dir.path().join("zips"), "query", b"v2");
    // (The bootstrap template versions the assets bucket; moto's CloudFormation does not apply
    // it, so the test does, and the function's Code is then pinned to the checked version.)
    block_on(
        s3.put_bucket_versioning()
            .bucket("opslake-assets-123456789012-us-east-1")
            .versioning_configuration(
                aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send(),
    )
    .unwrap();
    let (code, out, err) = s.deploy(&["--yes"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("~ Modify AthenaWorkGroup"), "{out}");
    assert!(out.contains("changes: WorkGroupConfiguration"), "{out}");
    assert!(out.contains("artifact query") && out.contains("): uploaded"), "{out}");
    assert!(out.contains("artifact leftovers") && out.contains("): unchanged"), "{out}");
    assert!(out.contains("demo-opslake-central: updated ("), "{out}");
    // The new zip's key is the stack's parameter now (moto's change sets compare templates
    // only, so they do not list the function's Code change that CloudFormation would).
    let stacks = block_on(s.cfn().describe_stacks().stack_name("demo-opslake-central").send()).unwrap();
    let key = stacks.stacks()[0]
        .parameters()
        .iter()
        .find(|p| p.parameter_key() == Some("QueryFunctionKey"))
        .and_then(|p| p.parameter_value())
        .unwrap()
        .to_string();
    assert!(out.contains(&key), "{key} not in\n{out}");
    let version = stacks.stacks()[0]
        .parameters()
        .iter()
        .find(|p| p.parameter_key() == Some("QueryFunctionVersion"))
        .and_then(|p| p.parameter_value())
        .unwrap()
        .to_string();
    let head = block_on(s3.head_object().bucket("opslake-assets-123456789012-us-east-1").key(&key).send()).unwrap();
    assert!(!version.is_empty() && Some(version.as_str()) == head.version_id(), "{version} vs {:?}", head.version_id());
    assert_ne!(key, first["artifacts"][1]["key"].as_str().unwrap());
    assert_eq!(s.stack_status("demo-opslake-central").as_deref(), Some("UPDATE_COMPLETE"));
    let deployed = block_on(
        s.cfn()
            .get_template()
            .stack_name("demo-opslake-central")
            .template_stage(aws_sdk_cloudformation::types::TemplateStage::Original)
            .send(),
    )
    .unwrap();
    assert!(deployed.template_body().unwrap().contains("2147483648"), "the new cutoff (2048 MB) is deployed");
}

/// Activity insights in a lake whose regions leave out us-east-1: a StackSet of its own puts
/// the forwarding rule there (global services' calls reach EventBridge in us-east-1 only), and
/// moto's EventBridge in us-east-1 then has the rule, aimed at the home region's bus.
#[test]
fn activity_insights_outside_us_east_1_forwards_from_there() {
    let spec = SPEC
        .replace("region: us-east-1 }\nregions: [us-east-1, eu-west-1]", "region: eu-west-1 }\nregions: [eu-west-1]")
        .replace("features:\n", "features:\n  activity_insights: {}\n");
    assert!(spec.contains("regions: [eu-west-1]") && spec.contains("activity_insights"));
    let s = Setup::with(&spec, &["query", "leftovers", "insights"]);
    let (code, first, err) = s.deploy_json(&["--yes"]);
    assert_eq!(code, 0, "{first:#}\n{err}");
    assert_eq!(
        results(&first, "stack_sets"),
        pairs(&[("demo-opslake-member", "created"), ("demo-opslake-activity-global", "created")])
    );
    let instances: Vec<(&str, &str)> = first["stack_sets"][1]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["region"].as_str().unwrap(), i["status"].as_str().unwrap()))
        .collect();
    assert_eq!(instances, [("us-east-1", "CURRENT")]);
    let script = r#"
import boto3, json, sys
ev = boto3.client("events", endpoint_url=sys.argv[1], region_name=sys.argv[2], aws_access_key_id="testing", aws_secret_access_key="testing")
out = []
for r in ev.list_rules()["Rules"]:
    targets = ev.list_targets_by_rule(Rule=r["Name"])["Targets"]
    out.append({"pattern": json.loads(r.get("EventPattern") or "{}"), "targets": [t["Arn"] for t in targets]})
print(json.dumps(out))
"#;
    let rules = |region: &str| -> Vec<Value> {
        let (code, out, err) = run(Command::new(tool("tools", "python")).args(["-c", script, &s.moto.url, region]));
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    };
    let bus = "arn:aws:events:eu-west-1:123456789012:event-bus/demo-opslake-activity";
    let global = rules("us-east-1");
    let forwarding: Vec<&Value> = global.iter().filter(|r| r["targets"] == serde_json::json!([bus])).collect();
    assert_eq!(forwarding.len(), 1, "{global:#?}");
    assert_eq!(
        forwarding[0]["pattern"]["detail-type"],
        serde_json::json!(["AWS API Call via CloudTrail", "AWS Console Signin via CloudTrail"])
    );
    // Nothing else of the member template is in us-east-1: no other stack there.
    let cfn = aws_sdk_cloudformation::Client::from_conf(
        aws_sdk_cloudformation::config::Builder::from(&s.sdk())
            .region(aws_sdk_cloudformation::config::Region::new("us-east-1"))
            .build(),
    );
    let names: Vec<String> = block_on(cfn.describe_stacks().send())
        .unwrap()
        .stacks()
        .iter()
        .filter_map(|x| x.stack_name().map(str::to_string))
        .collect();
    assert!(names.iter().all(|n| !n.contains("member")), "{names:?}");
}

#[test]
fn change_set_only_creates_change_sets_and_changes_nothing() {
    let s = Setup::new();
    let (code, summary, err) = s.deploy_json(&["--change-set-only"]);
    assert_eq!(code, 0, "{summary:#}\n{err}");
    assert_eq!(summary["change_set_only"], true);
    // The bootstrap stack's change set is there for review; nothing was executed.
    assert_eq!(results(&summary, "stacks")[0], ("opslake-bootstrap".to_string(), "change_set_created".to_string()));
    let change_set = summary["stacks"][0]["change_set"].as_str().unwrap();
    let cs = block_on(s.cfn().describe_change_set().change_set_name(change_set).send()).unwrap();
    assert_eq!(cs.status().map(|s| s.as_str()), Some("CREATE_COMPLETE"));
    assert_eq!(s.stack_status("opslake-bootstrap").as_deref(), Some("REVIEW_IN_PROGRESS"));
    assert!(results(&summary, "artifacts").iter().all(|(_, r)| r == "not_uploaded"), "{summary:#}");
    assert!(block_on(s.s3().head_bucket().bucket("opslake-assets-123456789012-us-east-1").send()).is_err());
    assert!(err.contains("change set kept for review"), "{err}");

    // After a real deploy (on a fresh server: moto forks a stack re-created from a review
    // change set), --change-set-only on an edit shows the Modify and leaves the stack as it is.
    let s = Setup::new();
    assert_eq!(s.deploy(&["--yes"]).0, 0);
    std::fs::write(s.spec(), SPEC.replace("bytes_scanned_cutoff_mb: 1024", "bytes_scanned_cutoff_mb: 4096")).unwrap();
    let (code, out, err) = s.deploy(&["--change-set-only"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("~ Modify AthenaWorkGroup"), "{out}");
    assert!(out.contains("change sets ready for review"), "{out}");
    assert_eq!(s.stack_status("demo-opslake-central").as_deref(), Some("CREATE_COMPLETE"));
}

#[test]
fn a_rejected_template_fails_with_the_reason() {
    let s = Setup::new();
    // A template override with a parameter nobody supplies: CloudFormation refuses it.
    let over = s.dir.path().join("over/cloudformation");
    std::fs::create_dir_all(&over).unwrap();
    let original = opslake::render::EMBEDDED.iter().find(|(n, _)| n.ends_with("central.yaml.tera")).unwrap().1;
    let broken = original.replacen(
        "Parameters:\n",
        "Parameters:\n  Unsupplied:\n    Type: String\n    Description: nobody passes this\n",
        1,
    );
    assert_ne!(broken, original);
    std::fs::write(over.join("central.yaml.tera"), broken).unwrap();
    let templates = s.dir.path().join("over").display().to_string();
    let (code, summary, err) = s.deploy_json(&["--yes", "--templates", &templates]);
    assert_eq!(code, 1, "{summary:#}\n{err}");
    assert_eq!(summary["ok"], false);
    let central = &summary["stacks"][1];
    assert_eq!(central["stack_name"], "demo-opslake-central");
    assert_eq!(central["result"], "failed");
    assert!(central["failure"]["reason"].as_str().unwrap().contains("Unsupplied"), "{summary:#}");
    assert!(
        err.contains("demo-opslake-central: CloudFormation rejected the change set") && err.contains("Unsupplied"),
        "{err}"
    );
    // Nothing after the failed stack was attempted.
    assert!(summary["stack_sets"].as_array().unwrap().is_empty(), "{summary:#}");
}

#[test]
fn a_template_over_51200_bytes_is_passed_by_url() {
    let s = Setup::new();
    let over = s.dir.path().join("over/cloudformation");
    std::fs::create_dir_all(&over).unwrap();
    let original = opslake::render::EMBEDDED.iter().find(|(n, _)| n.ends_with("central.yaml.tera")).unwrap().1;
    let padding = "x".repeat(60_000);
    let big = original.replacen("Resources:\n", &format!("Metadata:\n  Padding: \"{padding}\"\nResources:\n"), 1);
    std::fs::write(over.join("central.yaml.tera"), big).unwrap();
    let templates = s.dir.path().join("over").display().to_string();
    let (code, summary, err) = s.deploy_json(&["--yes", "--templates", &templates]);
    assert_eq!(code, 0, "{summary:#}\n{err}");
    assert_eq!(s.stack_status("demo-opslake-central").as_deref(), Some("CREATE_COMPLETE"));
    let listed = block_on(
        s.s3().list_objects_v2().bucket("opslake-assets-123456789012-us-east-1").prefix("templates/central/").send(),
    )
    .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let size = listed.contents()[0].size().unwrap_or(0);
    assert!(size > 51_200, "the uploaded template has {size} bytes");
}

fn opslake_bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_opslake"));
    cmd.stdin(Stdio::null())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_CONFIG_FILE", "/nonexistent/opslake-test")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/opslake-test")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

#[test]
fn without_yes_and_without_a_terminal_nothing_is_deployed() {
    let s = Setup::new();
    let (code, out, err) =
        run(opslake_bin().args(["deploy", &s.spec(), "--endpoint-url", &s.moto.url, "--artifacts", &s.zips()]));
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("stdin is not a terminal") && err.contains("--yes"), "{err}");
    // The diff was shown, then the change set removed; the stack waits for a review or a deploy.
    assert!(out.contains("+ Add    AssetsBucket"), "{out}");
    let listed = block_on(s.cfn().list_change_sets().stack_name("opslake-bootstrap").send()).unwrap();
    assert!(listed.summaries().is_empty(), "{:?}", listed.summaries());
    assert!(block_on(s.s3().head_bucket().bucket("opslake-assets-123456789012-us-east-1").send()).is_err());
}

#[test]
fn credentials_of_another_account_are_refused() {
    let s = Setup::new();
    std::fs::write(s.spec(), SPEC.replace("123456789012", "111111111111")).unwrap();
    let (code, out, err) = s.deploy(&["--yes"]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("the credentials are for account 123456789012, but the spec's home account is 111111111111"),
        "{err}"
    );
    assert!(s.stack_status("opslake-bootstrap").is_none(), "nothing was created");
}

#[test]
fn building_without_cargo_lambda_says_how_to_install_it() {
    let s = Setup::new();
    let empty = tempfile::tempdir().unwrap();
    // No --artifacts: deploy would build, but PATH has no cargo (so no cargo-lambda either).
    let (code, out, err) = run(opslake_bin().env("PATH", empty.path()).args([
        "deploy",
        &s.spec(),
        "--endpoint-url",
        &s.moto.url,
        "--yes",
    ]));
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("cargo-lambda is not installed") && err.contains("pip install cargo-lambda"), "{err}");
    assert!(s.stack_status("opslake-bootstrap").is_none(), "nothing was deployed before the check");
}

#[test]
fn missing_prebuilt_zips_are_named() {
    let s = Setup::new();
    let empty: PathBuf = s.dir.path().join("nothing");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, _, err) = cli(&[
        "deploy",
        &s.spec(),
        "--endpoint-url",
        &s.moto.url,
        "--artifacts",
        &empty.display().to_string(),
        "--yes",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no zip for") && err.contains("query/bootstrap.zip") && err.contains("leftovers"), "{err}");
}

/// Sets up an organization in moto with one OU holding one member account; returns
/// (organization id, OU id, member account id).
fn moto_organization(url: &str) -> (String, String, String) {
    let script = r#"
import boto3, sys
org = boto3.client("organizations", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
o = org.create_organization(FeatureSet="ALL")["Organization"]
root = org.list_roots()["Roots"][0]["Id"]
ou = org.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
acct = org.create_account(Email="prod@example.com", AccountName="prod")["CreateAccountStatus"]["AccountId"]
org.move_account(AccountId=acct, SourceParentId=root, DestinationParentId=ou)
print(o["Id"], ou, acct)
"#;
    let (code, out, err) = run(Command::new(tool("tools", "python")).args(["-c", script, url]));
    assert_eq!(code, 0, "{err}");
    let parts: Vec<String> = out.split_whitespace().map(str::to_string).collect();
    assert_eq!(parts.len(), 3, "{out}");
    (parts[0].clone(), parts[1].clone(), parts[2].clone())
}

#[test]
fn an_organization_gets_a_service_managed_stack_set_to_its_ous() {
    let s = Setup::new();
    let (org_id, ou, member) = moto_organization(&s.moto.url);
    let spec = format!(
        r#"name: org
home: {{ account: "123456789012", region: us-east-1 }}
organization: {{ id: {org_id}, member_ous: [{ou}] }}
accounts:
  - {{ id: "123456789012", name: management }}
  - {{ id: "{member}", name: prod }}
regions: [us-east-1, eu-west-1]
lake: {{ bucket: org-log-archive-123456789012, kms: false }}
sources:
  cloudtrail: {{ trail: organization }}
"#
    );
    std::fs::write(s.spec(), spec).unwrap();
    let (code, summary, err) = s.deploy_json(&["--yes"]);
    assert_eq!(code, 0, "{summary:#}\n{err}");
    let set = &summary["stack_sets"][0];
    assert_eq!(set["permission_model"], "SERVICE_MANAGED");
    assert_eq!(set["result"], "created");
    let actions: Vec<&str> = set["actions"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(actions[1], format!("add instances: OUs {ou} x regions eu-west-1, us-east-1"));
    // The StackSet reached the OU's account in both regions.
    let instances: Vec<(String, String)> = set["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["account"].as_str().unwrap().to_string(), i["region"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(instances, pairs(&[(member.as_str(), "eu-west-1"), (member.as_str(), "us-east-1")]));
    // The management account, which a StackSet never reaches, got plain member stacks.
    let plain: Vec<(String, String)> = summary["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|st| st["template"] == "member")
        .map(|st| (st["region"].as_str().unwrap().to_string(), st["result"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(plain, pairs(&[("us-east-1", "created"), ("eu-west-1", "created")]));
    // Again: nothing to do.
    let (code, again, err) = s.deploy_json(&["--yes"]);
    assert_eq!(code, 0, "{again:#}\n{err}");
    assert_eq!(again["stack_sets"][0]["result"], "up_to_date", "{again:#}");
}

/// An organization in moto as AWS's multi-account guidance lays it out: the management account
/// (moto's default account, credentials `testing`) and, in the first of `ous` new OUs, one new
/// account per name; the first is the log-archive account, reached by assuming
/// `OrganizationAccountAccessRole` as the organization's tooling does.
struct MotoOrganization {
    id: String,
    ous: Vec<String>,
    accounts: Vec<String>,
    /// `AWS_CONFIG_FILE` and `AWS_SHARED_CREDENTIALS_FILE` with profiles `archive` (the first
    /// account, by the assumed role) and `management`.
    aws_dir: PathBuf,
}

const MANAGEMENT: &str = "123456789012";

impl MotoOrganization {
    fn new(s: &Setup, names: &[&str], ous: usize, region: &str) -> MotoOrganization {
        let script = r#"
import boto3, sys
kw = dict(endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
org = boto3.client("organizations", **kw)
o = org.create_organization(FeatureSet="ALL")["Organization"]
root = org.list_roots()["Roots"][0]["Id"]
ous = [org.create_organizational_unit(ParentId=root, Name="ou%d" % i)["OrganizationalUnit"]["Id"] for i in range(int(sys.argv[2]))]
accounts = []
for name in sys.argv[3:]:
    a = org.create_account(Email=name + "@example.com", AccountName=name)["CreateAccountStatus"]["AccountId"]
    org.move_account(AccountId=a, SourceParentId=root, DestinationParentId=ous[0])
    accounts.append(a)
creds = boto3.client("sts", **kw).assume_role(
    RoleArn="arn:aws:iam::%s:role/OrganizationAccountAccessRole" % accounts[0], RoleSessionName="opslake-test")["Credentials"]
print(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
print(o["Id"])
print(*ous)
print(*accounts)
"#;
        let mut cmd = Command::new(tool("tools", "python"));
        cmd.args(["-c", script, &s.moto.url, &ous.to_string()]).args(names);
        let (code, out, err) = run(&mut cmd);
        assert_eq!(code, 0, "{err}");
        let lines: Vec<Vec<String>> = out.lines().map(|l| l.split_whitespace().map(str::to_string).collect()).collect();
        assert_eq!(lines.len(), 4, "{out}");
        let creds = &lines[0];
        let aws_dir = s.dir.path().join("aws");
        std::fs::create_dir_all(&aws_dir).unwrap();
        std::fs::write(
            aws_dir.join("credentials"),
            format!(
                "[archive]\naws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = {}\n\n[management]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
                creds[0], creds[1], creds[2]
            ),
        )
        .unwrap();
        std::fs::write(
            aws_dir.join("config"),
            format!("[profile archive]\nregion = {region}\n\n[profile management]\nregion = {region}\n"),
        )
        .unwrap();
        MotoOrganization { id: lines[1][0].clone(), ous: lines[2].clone(), accounts: lines[3].clone(), aws_dir }
    }

    /// `opslake deploy SPEC --profile archive --yes --format json EXTRA...` as a user runs it,
    /// with the profiles above and nothing from the environment.
    fn deploy(&self, s: &Setup, extra: &[&str]) -> (i32, String, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_opslake"));
        cmd.stdin(Stdio::null())
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env("AWS_CONFIG_FILE", self.aws_dir.join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.aws_dir.join("credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(["deploy", &s.spec(), "--format", "json", "--endpoint-url", &s.moto.url, "--timeout", "1"])
            .args(["--profile", "archive", "--yes"])
            .args(extra);
        run(&mut cmd)
    }
}

fn stacks(summary: &Value) -> Vec<(String, String, String)> {
    summary["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|st| {
            let text = |k: &str| st[k].as_str().unwrap_or_default().to_string();
            (text("template"), text("account"), text("result"))
        })
        .collect()
}

fn summary_of(code: i32, out: &str, err: &str) -> Value {
    let summary: Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}\n{err}"));
    assert_eq!(code, 0, "{summary:#}\n{err}");
    summary
}

/// AWS's multi-account layout on moto: the organization's management account owns only the
/// organization trail; the lake, Athena and the member StackSet are the log-archive account's.
/// `deploy --profile HOME --management-profile MGMT` puts the central stack in the log-archive
/// account and the trail's stack in the management account, where the trail then exists and
/// writes into the lake bucket.
#[test]
fn an_organization_trail_is_deployed_in_the_management_account_and_the_lake_in_the_log_archive() {
    let s = Setup::new();
    let org = MotoOrganization::new(&s, &["log-archive", "prod"], 1, "us-east-1");
    let (org_id, ou, archive, prod) = (&org.id, &org.ous[0], &org.accounts[0], &org.accounts[1]);
    let spec = format!(
        r#"name: org
home: {{ account: "{archive}", region: us-east-1 }}
organization: {{ id: {org_id}, member_ous: [{ou}], management_account: "{MANAGEMENT}" }}
accounts:
  - {{ id: "{archive}", name: log-archive }}
  - {{ id: "{prod}", name: prod }}
regions: [us-east-1]
lake: {{ bucket: org-log-archive-{archive}, kms: false }}
sources:
  cloudtrail: {{ trail: organization }}
  config: {{ recorder: true, aggregator: false }}
"#
    );
    std::fs::write(s.spec(), spec).unwrap();

    // Without the management account's credentials, its trail is reported, not deployed.
    let (code, out, err) = org.deploy(&s, &[]);
    let summary = summary_of(code, &out, &err);
    assert!(err.contains(&format!("trail: account {MANAGEMENT} needs")), "{err}");
    assert!(!stacks(&summary).iter().any(|(t, _, _)| t == "trail"), "{summary:#}");

    // With them, the trail's stack is created in the management account.
    let (code, out, err) = org.deploy(&s, &["--management-profile", "management"]);
    let summary = summary_of(code, &out, &err);
    assert!(stacks(&summary).contains(&("trail".into(), MANAGEMENT.into(), "created".into())), "{summary:#}");
    assert_eq!(&summary["account"], archive.as_str(), "the lake is the log-archive account's");
    let set = &summary["stack_sets"][0];
    assert_eq!(set["permission_model"], "SERVICE_MANAGED", "{set:#}");
    // Seen from the management account (the default credentials): its stack and its trail,
    // delivering into the log-archive account's bucket.
    assert_eq!(s.stack_status("org-opslake-trail").as_deref(), Some("CREATE_COMPLETE"));
    let trail = management_trail(&s, "us-east-1", "org-opslake");
    assert_eq!(trail.s3_bucket_name(), Some(format!("org-log-archive-{archive}").as_str()));
    assert_eq!(trail.is_organization_trail(), Some(true));
    assert!(s.stack_status("org-opslake-central").is_none(), "the central stack is not the management account's");
    // A management profile of another account is refused.
    let (code, _, err) = org.deploy(&s, &["--management-profile", "archive"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--management-profile archive is for account"), "{err}");
}

/// An SDK configuration for moto in `region` with these credentials.
fn moto_sdk(
    s: &Setup,
    region: &str,
    credentials: aws_sdk_cloudformation::config::Credentials,
) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(&s.moto.url)
        .credentials_provider(aws_sdk_cloudformation::config::SharedCredentialsProvider::new(credentials))
        .build()
}

/// The trail `name` in `region` as the management account's CloudTrail API shows it.
fn management_trail(s: &Setup, region: &str, name: &str) -> aws_sdk_cloudtrail::types::Trail {
    let management = aws_sdk_cloudformation::config::Credentials::new("testing", "testing", None, None, "test");
    let ct = aws_sdk_cloudtrail::Client::new(&moto_sdk(s, region, management));
    let got = block_on(ct.get_trail().name(name).send()).unwrap_or_else(|e| panic!("GetTrail {name}: {e:?}"));
    got.trail.unwrap_or_else(|| panic!("no trail {name}"))
}

/// `examples/specs/organization.yaml` as written (every feature on, a KMS-encrypted lake,
/// three regions, two OUs, the home account a delegated administrator), with moto's
/// organization, OU and account ids in place of the example's: the central stack in the
/// log-archive account, whose outputs (the lake key, the Function URLs) the trail's stack
/// and the summary use; the organization trail in the management account, logging with the
/// lake's key; the member StackSet to both OUs in the three regions, as delegated admin.
#[test]
fn the_organization_example_deploys_with_home_apart_from_the_management_account() {
    let s = Setup::new();
    let org = MotoOrganization::new(&s, &["log-archive", "prod", "staging"], 2, "eu-west-1");
    let example = std::fs::read_to_string(workspace().join("examples/specs/organization.yaml")).unwrap();
    let mut spec = example.clone();
    for (from, to) in [
        ("210987654321", org.accounts[0].as_str()),
        ("333333333333", org.accounts[1].as_str()),
        ("444444444444", org.accounts[2].as_str()),
        ("123412341234", MANAGEMENT),
        ("o-exampleorg1", org.id.as_str()),
        ("ou-root-workloads1", org.ous[0].as_str()),
        ("ou-root-sandboxes", org.ous[1].as_str()),
    ] {
        assert!(spec.contains(from), "the example no longer has {from}");
        spec = spec.replace(from, to);
    }
    std::fs::write(s.spec(), &spec).unwrap();
    for bin in ["query", "leftovers", "change-summary", "ask", "slack", "analyze", "insights"] {
        write_zip(&s.dir.path().join("zips"), bin, format!("#!/bin/sh\n# {bin}\n").as_bytes());
    }
    let (code, out, err) = org.deploy(&s, &["--management-profile", "management", "--artifacts", &s.zips()]);
    let summary = summary_of(code, &out, &err);
    let archive = org.accounts[0].as_str();
    assert_eq!(
        stacks(&summary),
        [("bootstrap", archive, "created"), ("central", archive, "created"), ("trail", MANAGEMENT, "created")]
            .map(|(t, a, r)| (t.to_string(), a.to_string(), r.to_string())),
        "{summary:#}"
    );
    let set = &summary["stack_sets"][0];
    assert_eq!((&set["permission_model"], &set["result"]), (&Value::from("SERVICE_MANAGED"), &Value::from("created")));
    let mut ous = org.ous.clone();
    ous.sort();
    assert_eq!(
        set["actions"][1],
        format!("add instances: OUs {} x regions eu-central-1, eu-west-1, us-east-1", ous.join(", "))
    );
    // The trail logs into the log-archive bucket with the key the central stack created there.
    let trail = management_trail(&s, "eu-west-1", "example-org-opslake");
    assert_eq!(trail.s3_bucket_name(), Some("example-org-log-archive"));
    assert_eq!(trail.is_organization_trail(), Some(true));
    assert_eq!(trail.log_file_validation_enabled(), Some(true));
    let key = trail.kms_key_id().unwrap_or_default();
    assert!(key.starts_with(&format!("arn:aws:kms:eu-west-1:{archive}:key/")), "{key}");
    // The central stack's outputs, as the log-archive account sees them: the key, and the
    // Slack request URL the README tells the user to paste into the app.
    let sdk = moto_sdk(&s, "eu-west-1", archive_credentials(&org));
    let central = block_on(
        aws_sdk_cloudformation::Client::new(&sdk).describe_stacks().stack_name("example-org-opslake-central").send(),
    )
    .unwrap();
    let outputs: std::collections::BTreeMap<String, String> = central.stacks()[0]
        .outputs()
        .iter()
        .map(|o| (o.output_key().unwrap_or_default().to_string(), o.output_value().unwrap_or_default().to_string()))
        .collect();
    assert_eq!(outputs.get("LakeKeyArn").map(String::as_str), Some(key));
    assert!(outputs.get("SlackRequestUrl").is_some_and(|u| u.starts_with("https://")), "{outputs:?}");
}

/// The log-archive account's credentials, as the `archive` profile holds them.
fn archive_credentials(org: &MotoOrganization) -> aws_sdk_cloudformation::config::Credentials {
    let text = std::fs::read_to_string(org.aws_dir.join("credentials")).unwrap();
    let value = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k).and_then(|v| v.trim_start().strip_prefix('=')))
            .unwrap()
            .trim()
            .to_string()
    };
    aws_sdk_cloudformation::config::Credentials::new(
        value("aws_access_key_id"),
        value("aws_secret_access_key"),
        Some(value("aws_session_token")),
        None,
        "test",
    )
}
