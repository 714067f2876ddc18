//! `opslake doctor` against `moto_server`: Glue tables created exactly as the rendered central
//! template defines them (moto keeps Glue parameters intact), S3 objects in the real key
//! layouts (and in wrong ones), the trail and the Config recorders.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_glue::types::{Column, DatabaseInput, SerDeInfo, StorageDescriptor, TableInput};
use serde_json::Value;
use support::*;

const HOME: &str = "123456789012"; // moto's default account
const OTHER: &str = "222222222222";
const LAKE: &str = "acme-logs-123456789012";
const ALB: &str = "acme-alb-euw1";

const SPEC: &str = r#"name: acme
home: { account: "123456789012", region: us-east-1 }
organization: { id: o-a1b2c3d4e5, member_ous: [ou-ab12-cdef3456] }
accounts: [{ id: "123456789012" }, { id: "222222222222" }]
regions: [us-east-1, eu-west-1]
lake:
  bucket: acme-logs-123456789012
  projection: { start: 2024-01-01 }
sources:
  alb: { buckets: { eu-west-1: acme-alb-euw1 } }
"#;

/// What to set up in moto besides the tables.
struct Setup {
    /// Objects per bucket.
    objects: Vec<(&'static str, String)>,
    trail_logging: bool,
    /// Regions whose recorder is started (the others are created, not started).
    recording_in: Vec<&'static str>,
    create_alb_bucket: bool,
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

async fn conf(url: &str, region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(url)
        .region(aws_config::Region::new(region.to_string()))
        .load()
        .await
}

/// The Glue database and tables as the rendered central template defines them.
fn rendered_glue() -> (String, Vec<Value>) {
    let files = generate(&load_spec_text(SPEC));
    let central = files.iter().find(|f| f.name == "central.yaml").expect("central.yaml");
    let central = opslake::render::parse_back("central.yaml", &central.bytes).unwrap();
    let resources = central["Resources"].as_object().unwrap();
    let db = resources.values().find(|r| r["Type"] == "AWS::Glue::Database").expect("a Glue database");
    let tables: Vec<Value> = resources
        .values()
        .filter(|r| r["Type"] == "AWS::Glue::Table")
        .map(|r| r["Properties"]["TableInput"].clone())
        .collect();
    assert_eq!(tables.len(), 3, "cloudtrail, config, one ALB table");
    (db["Properties"]["DatabaseInput"]["Name"].as_str().unwrap().to_string(), tables)
}

fn strings(v: &Value) -> std::collections::HashMap<String, String> {
    v.as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())).collect())
        .unwrap_or_default()
}

fn columns(v: &Value) -> Vec<Column> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            Column::builder().name(c["Name"].as_str().unwrap()).r#type(c["Type"].as_str().unwrap()).build().unwrap()
        })
        .collect()
}

/// A CloudFormation `TableInput` → the Glue API's.
fn table_input(t: &Value) -> TableInput {
    let sd = &t["StorageDescriptor"];
    TableInput::builder()
        .name(t["Name"].as_str().unwrap())
        .description(t["Description"].as_str().unwrap())
        .table_type(t["TableType"].as_str().unwrap())
        .set_parameters(Some(strings(&t["Parameters"])))
        .set_partition_keys(Some(columns(&t["PartitionKeys"])))
        .storage_descriptor(
            StorageDescriptor::builder()
                .location(sd["Location"].as_str().unwrap())
                .input_format(sd["InputFormat"].as_str().unwrap())
                .output_format(sd["OutputFormat"].as_str().unwrap())
                .set_columns(Some(columns(&sd["Columns"])))
                .serde_info(
                    SerDeInfo::builder()
                        .serialization_library(sd["SerdeInfo"]["SerializationLibrary"].as_str().unwrap())
                        .set_parameters(Some(strings(&sd["SerdeInfo"]["Parameters"])))
                        .build(),
                )
                .build(),
        )
        .build()
        .unwrap()
}

async fn deploy_lake(url: &str, setup: &Setup) {
    let home = conf(url, "us-east-1").await;
    let (database, tables) = rendered_glue();
    let glue = aws_sdk_glue::Client::new(&home);
    glue.create_database()
        .database_input(DatabaseInput::builder().name(&database).build().unwrap())
        .send()
        .await
        .unwrap();
    for t in &tables {
        glue.create_table().database_name(&database).table_input(table_input(t)).send().await.unwrap();
    }
    let s3 = |c: aws_config::SdkConfig| {
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&c).force_path_style(true).build())
    };
    let lake = s3(conf(url, "us-east-1").await);
    lake.create_bucket().bucket(LAKE).send().await.unwrap();
    let alb = s3(conf(url, "eu-west-1").await);
    if setup.create_alb_bucket {
        alb.create_bucket()
            .bucket(ALB)
            .create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    for (bucket, key) in setup.objects.iter().filter(|(b, _)| *b != ALB || setup.create_alb_bucket) {
        let client = if *bucket == ALB { &alb } else { &lake };
        client.put_object().bucket(*bucket).key(key).body(b"{}".to_vec().into()).send().await.unwrap();
    }
    // The organization trail, as the central stack creates it.
    let ct = aws_sdk_cloudtrail::Client::new(&home);
    ct.create_trail()
        .name("acme-opslake")
        .s3_bucket_name(LAKE)
        .is_multi_region_trail(true)
        .is_organization_trail(true)
        .enable_log_file_validation(true)
        .send()
        .await
        .unwrap();
    if setup.trail_logging {
        ct.start_logging().name("acme-opslake").send().await.unwrap();
    }
    // A recorder and delivery channel per region, as the member stack creates them.
    for region in ["us-east-1", "eu-west-1"] {
        let config = aws_sdk_config::Client::new(&conf(url, region).await);
        config
            .put_configuration_recorder()
            .configuration_recorder(
                aws_sdk_config::types::ConfigurationRecorder::builder()
                    .name("acme-opslake")
                    .role_arn(format!("arn:aws:iam::{HOME}:role/acme-config"))
                    .build(),
            )
            .send()
            .await
            .unwrap();
        config
            .put_delivery_channel()
            .delivery_channel(
                aws_sdk_config::types::DeliveryChannel::builder().name("acme-opslake").s3_bucket_name(LAKE).build(),
            )
            .send()
            .await
            .unwrap();
        if setup.recording_in.contains(&region) {
            config.start_configuration_recorder().configuration_recorder_name("acme-opslake").send().await.unwrap();
        }
    }
}

fn spec_file() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("opslake.yaml");
    std::fs::write(&path, SPEC).unwrap();
    let p = path.to_str().unwrap().to_string();
    (dir, p)
}

fn doctor(moto: &Moto, format: &str) -> (u8, String, String) {
    let (_dir, spec) = spec_file();
    cli(&["doctor", &spec, "--endpoint-url", &moto.url, "--format", format])
}

fn ct(acct: &str, org: &str, region: &str, day: &str) -> String {
    let compact = day.replace('/', "");
    format!("AWSLogs/{org}/{acct}/CloudTrail/{region}/{day}/{acct}_CloudTrail_{region}_{compact}T0000Z_AbCdEfGhIjKlMnOp.json.gz")
}

fn config(acct: &str, region: &str, day: &str, kind: &str) -> String {
    format!(
        "AWSLogs/{acct}/Config/{region}/{day}/{kind}/{acct}_Config_{region}_{kind}_AWS::EC2::Instance_x_y_1.json.gz"
    )
}

/// Data in the real layouts, and the non-data siblings the services write beside it.
fn good_objects() -> Vec<(&'static str, String)> {
    let org = "o-a1b2c3d4e5";
    vec![
        (LAKE, ct(HOME, org, "us-east-1", "2025/06/11")),
        (LAKE, ct(OTHER, org, "eu-west-1", "2024/03/05")),
        (LAKE, format!("AWSLogs/{org}/{HOME}/CloudTrail-Digest/us-east-1/2025/06/11/{HOME}_CloudTrail-Digest_us-east-1_acme-opslake_us-east-1_20250611T000000Z.json.gz")),
        (LAKE, config(HOME, "us-east-1", "2025/6/11", "ConfigHistory")),
        (LAKE, config(OTHER, "eu-west-1", "2024/12/1", "ConfigHistory")),
        (LAKE, config(HOME, "us-east-1", "2025/7/1", "ConfigSnapshot")),
        (LAKE, format!("AWSLogs/{HOME}/Config/ConfigWritabilityCheckFile")),
        (ALB, format!("AWSLogs/{HOME}/elasticloadbalancing/eu-west-1/2025/06/11/{HOME}_elasticloadbalancing_eu-west-1_app.web.0123456789abcdef_20250611T0000Z_10.0.0.1_a1b2c3d4.log.gz")),
        (ALB, format!("AWSLogs/{HOME}/ELBAccessLogTestFile")),
    ]
}

fn table<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("{name}: {report:#}"))
}

/// (prefix, expected) of a table's misses.
fn missed(report: &Value, name: &str) -> BTreeMap<String, (String, bool)> {
    table(report, name)["s3"]["missed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["prefix"].as_str().unwrap().to_string(),
                (m["reason"].as_str().unwrap().to_string(), m["expected"].as_bool().unwrap()),
            )
        })
        .collect()
}

#[test]
fn a_lake_that_matches_its_spec_is_healthy() {
    let moto = start_moto();
    test_credentials();
    let setup = Setup {
        objects: good_objects(),
        trail_logging: true,
        recording_in: vec!["us-east-1", "eu-west-1"],
        create_alb_bucket: true,
    };
    rt().block_on(deploy_lake(&moto.url, &setup));

    let (code, out, err) = doctor(&moto, "json");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    assert_eq!(code, 0, "{report:#}\n{err}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["database"], "acme_opslake");
    let names: Vec<&str> = report["tables"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["cloudtrail", "config", "alb_logs_eu_west_1"]);
    for t in report["tables"].as_array().unwrap() {
        assert_eq!(t["glue"]["status"], "ok", "{t:#}");
        assert_eq!(t["glue"]["drift"], serde_json::json!([]), "{t:#}");
        assert_eq!(t["s3"]["status"], "ok", "{t:#}");
        assert_eq!(t["s3"]["projection"], "deployed");
        assert_eq!(t["s3"]["unreachable_total"], 0, "{t:#}");
        assert!(t["s3"]["missed"].as_array().unwrap().iter().all(|m| m["expected"] == true), "{t:#}");
    }
    let reached = |name: &str| -> BTreeSet<String> {
        table(&report, name)["s3"]["reached"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        reached("cloudtrail"),
        BTreeSet::from([
            format!("s3://{LAKE}/AWSLogs/o-a1b2c3d4e5/{HOME}/CloudTrail/us-east-1/2025/06/11/"),
            format!("s3://{LAKE}/AWSLogs/o-a1b2c3d4e5/{OTHER}/CloudTrail/eu-west-1/2024/03/05/"),
        ])
    );
    assert_eq!(
        reached("config"),
        BTreeSet::from([
            format!("s3://{LAKE}/AWSLogs/{HOME}/Config/us-east-1/2025/6/11/ConfigHistory/"),
            format!("s3://{LAKE}/AWSLogs/{OTHER}/Config/eu-west-1/2024/12/1/ConfigHistory/"),
        ])
    );
    assert_eq!(
        reached("alb_logs_eu_west_1"),
        BTreeSet::from([format!("s3://{ALB}/AWSLogs/{HOME}/elasticloadbalancing/eu-west-1/2025/06/11/")])
    );
    // The non-data siblings are listed as skipped on purpose, each under the table it sits beside.
    let skipped = |name: &str| -> BTreeSet<String> { missed(&report, name).into_keys().collect() };
    assert_eq!(
        skipped("cloudtrail"),
        BTreeSet::from([format!("s3://{LAKE}/AWSLogs/o-a1b2c3d4e5/{HOME}/CloudTrail-Digest/")])
    );
    assert_eq!(
        skipped("config"),
        BTreeSet::from([
            format!("s3://{LAKE}/AWSLogs/{HOME}/Config/ConfigWritabilityCheckFile"),
            format!("s3://{LAKE}/AWSLogs/{HOME}/Config/us-east-1/2025/7/1/ConfigSnapshot/"),
        ])
    );
    assert_eq!(
        skipped("alb_logs_eu_west_1"),
        BTreeSet::from([format!("s3://{ALB}/AWSLogs/{HOME}/ELBAccessLogTestFile")])
    );

    assert_eq!(report["trail"]["name"], "acme-opslake");
    assert_eq!(report["trail"]["status"], "logging");
    assert_eq!(report["trail"]["is_logging"], true);
    let recorders = report["recorders"].as_array().unwrap();
    assert_eq!(recorders.len(), 2);
    for (r, region) in recorders.iter().zip(["us-east-1", "eu-west-1"]) {
        assert_eq!(
            (r["region"].as_str(), r["status"].as_str(), r["recording"].as_bool()),
            (Some(region), Some("recording"), Some(true)),
            "{r:#}"
        );
    }

    let (code, text, _) = doctor(&moto, "text");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("== table cloudtrail ==") && text.contains("ok    glue: matches the spec"), "{text}");
    assert!(text.contains(&format!("skip  s3://{LAKE}/AWSLogs/o-a1b2c3d4e5/{HOME}/CloudTrail-Digest/")), "{text}");
    assert!(text.trim_end().ends_with("result: ok"), "{text}");
    assert!(text.is_ascii(), "{text}");

    // A tiny budget samples only the top levels: nothing reached yet is not a problem.
    let (_dir, spec) = spec_file();
    let (code, out, _) = cli(&["doctor", &spec, "--endpoint-url", &moto.url, "--format", "json", "--sample", "1"]);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(code, 0, "{report:#}");
    let lake = &table(&report, "cloudtrail")["s3"];
    assert_eq!((lake["list_calls"].as_u64(), lake["truncated"].as_bool()), (Some(2), Some(true)), "{lake:#}");
    assert_eq!((lake["status"].as_str(), lake["reached_total"].as_u64()), (Some("empty"), Some(0)), "{lake:#}");
    assert_eq!(lake["error"], Value::Null, "{lake:#}");
}

#[test]
fn drift_unreachable_prefixes_and_stopped_services_are_reported() {
    let moto = start_moto();
    test_credentials();
    let mut objects = good_objects();
    // An unexpected org id, and Config days written zero-padded.
    objects.push((LAKE, ct(HOME, "o-zzzzzzzzzz", "us-east-1", "2025/06/11")));
    objects.push((LAKE, config(HOME, "eu-west-1", "2025/06/09", "ConfigHistory")));
    let setup = Setup { objects, trail_logging: false, recording_in: vec!["us-east-1"], create_alb_bucket: false };
    rt().block_on(async {
        deploy_lake(&moto.url, &setup).await;
        // Someone edited the cloudtrail table by hand: a later projection start, a dropped column.
        let glue = aws_sdk_glue::Client::new(&conf(&moto.url, "us-east-1").await);
        let (database, tables) = rendered_glue();
        let mut t = tables.into_iter().find(|t| t["Name"] == "cloudtrail").unwrap();
        t["Parameters"]["projection.timestamp.range"] = Value::from("2025/01/01,NOW");
        let cols = t["StorageDescriptor"]["Columns"].as_array_mut().unwrap();
        let dropped = cols.iter().position(|c| c["Name"] == "addendum").expect("an addendum column");
        cols.remove(dropped);
        glue.update_table().database_name(&database).table_input(table_input(&t)).send().await.unwrap();
    });

    let (code, out, err) = doctor(&moto, "json");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["ok"], false);

    // Drift names exactly the two changed fields.
    let ct_table = table(&report, "cloudtrail");
    assert_eq!(ct_table["glue"]["status"], "drift");
    let drift: Vec<(String, Value, Value)> = ct_table["glue"]["drift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["field"].as_str().unwrap().to_string(), d["deployed"].clone(), d["spec"].clone()))
        .collect();
    let rendered = rendered_glue().1.into_iter().find(|t| t["Name"] == "cloudtrail").unwrap();
    let addendum_type = rendered["StorageDescriptor"]["Columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["Name"] == "addendum")
        .map(|c| c["Type"].clone())
        .unwrap();
    assert_eq!(
        drift,
        vec![
            ("columns.addendum".to_string(), Value::Null, addendum_type),
            (
                "parameters.projection.timestamp.range".to_string(),
                Value::from("2025/01/01,NOW"),
                Value::from("2024/01/01,NOW")
            ),
        ]
    );
    assert_eq!(table(&report, "config")["glue"]["status"], "ok");

    // The deployed projection (what Athena uses) classifies the prefixes.
    let ct_missed = missed(&report, "cloudtrail");
    let root = format!("s3://{LAKE}/AWSLogs");
    assert_eq!(
        ct_missed.get(&format!("{root}/o-zzzzzzzzzz/")),
        Some(&("expected `o-a1b2c3d4e5`, found `o-zzzzzzzzzz`".to_string(), false)),
        "{ct_missed:#?}"
    );
    assert_eq!(
        ct_missed.get(&format!("{root}/o-a1b2c3d4e5/{OTHER}/CloudTrail/eu-west-1/2024/")),
        Some(&("year 2024 is before the projection range start 2025/01/01".to_string(), false)),
        "{ct_missed:#?}"
    );
    assert_eq!(ct_missed.get(&format!("{root}/o-a1b2c3d4e5/{HOME}/CloudTrail-Digest/")).map(|m| m.1), Some(true));
    assert_eq!(ct_missed.len(), 3, "{ct_missed:#?}");
    assert_eq!(table(&report, "cloudtrail")["s3"]["unreachable_total"], 2);

    let config_missed = missed(&report, "config");
    assert_eq!(
        config_missed.get(&format!("{root}/{HOME}/Config/eu-west-1/2025/06/")),
        Some(&(
            "month `06` is zero-padded, but projection.month has no digits (Athena would look for `6`)".to_string(),
            false
        )),
        "{config_missed:#?}"
    );
    // The wrong org id sits where the config table expects an account: listed there too.
    assert_eq!(
        config_missed.get(&format!("{root}/o-zzzzzzzzzz/")).map(|m| m.0.as_str()),
        Some("account `o-zzzzzzzzzz` is not in projection.account.values (123456789012, 222222222222)")
    );
    let expected: BTreeSet<&String> = config_missed.iter().filter(|(_, m)| m.1).map(|(k, _)| k).collect();
    assert_eq!(expected.len(), 2, "{config_missed:#?}");

    // A bucket that does not exist is a finding, not a crash.
    let alb = &table(&report, "alb_logs_eu_west_1")["s3"];
    assert_eq!(alb["status"], "error");
    assert!(alb["error"].as_str().unwrap().contains("NoSuchBucket"), "{alb:#}");

    assert_eq!(report["trail"]["status"], "stopped");
    assert_eq!(report["trail"]["is_logging"], false);
    let recorders: Vec<(&str, &str)> = report["recorders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["region"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(recorders, [("us-east-1", "recording"), ("eu-west-1", "stopped")]);

    let (code, text, _) = doctor(&moto, "text");
    assert_eq!(code, 1, "{text}");
    for line in [
        "cloudtrail: parameters.projection.timestamp.range: deployed 2025/01/01,NOW, spec 2024/01/01,NOW",
        "cloudtrail: columns.addendum: deployed (absent), spec ",
        &format!("MISS  {root}/o-zzzzzzzzzz/: expected `o-a1b2c3d4e5`, found `o-zzzzzzzzzz`"),
        &format!("MISS  {root}/{HOME}/Config/eu-west-1/2025/06/: month `06` is zero-padded"),
        "FAIL  acme-opslake: NOT logging",
        "FAIL  eu-west-1 acme-opslake: NOT recording",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}

#[test]
fn nothing_deployed_is_reported_without_crashing() {
    let moto = start_moto();
    test_credentials();
    let (code, out, err) = doctor(&moto, "json");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    assert_eq!(code, 1, "{report:#}");
    for t in report["tables"].as_array().unwrap() {
        assert_eq!(t["glue"]["status"], "database_missing", "{t:#}");
        assert!(t["glue"]["error"].as_str().unwrap().contains("deploy the central stack"), "{t:#}");
        assert_eq!(t["s3"]["status"], "error", "{t:#}");
        assert_eq!(t["s3"]["projection"], "spec", "{t:#}");
    }
    assert_eq!(report["trail"]["status"], "missing");
    assert!(report["trail"]["error"].as_str().unwrap().contains("TrailNotFoundException"), "{:#}", report["trail"]);
    for r in report["recorders"].as_array().unwrap() {
        assert_eq!(r["status"], "missing", "{r:#}");
    }

    // Bad input exits 2 before any call.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("opslake.yaml");
    std::fs::write(&bad, SPEC.replace("regions:", "regoins:")).unwrap();
    let (code, _, err) = cli(&["doctor", bad.to_str().unwrap(), "--endpoint-url", &moto.url]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("opslake.yaml:5:1: error: unknown key `regoins`"), "{err}");
    let (code, _, err) = cli(&["doctor", bad.to_str().unwrap(), "--sample", "0"]);
    assert_eq!(code, 2, "{err}");
}
