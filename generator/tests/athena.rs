//! `opslake query --athena` against `moto_server`: the workgroup, StartQueryExecution with
//! execution parameters, polling, and seeded results printed in every format.

mod support;

use serde_json::{json, Value};
use support::*;

#[test]
fn query_runs_in_athena_with_seeded_results() {
    let moto = start_moto();
    test_credentials();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&moto.url)
            .region(aws_config::Region::new("ap-northeast-1"))
            .load()
            .await;
        let admin = aws_sdk_athena::Client::new(&conf);
        // A deployed lake has this workgroup (the central template creates it).
        admin.create_work_group().name("acme-opslake").send().await.unwrap();
    });
    let column = |name: &str, ty: &str| json!({"CatalogName": "hive", "SchemaName": "acme_opslake", "TableName": "config", "Name": name, "Label": name, "Type": ty, "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": true});
    let seeded = json!({
        "account_id": "123456789012",
        "region": "ap-northeast-1",
        "results": [{
            "rows": [
                {"Data": [{"VarCharValue": "resourcetype"}, {"VarCharValue": "resourcename"}, {"VarCharValue": "awsaccountid"}, {"VarCharValue": "awsregion"}, {"VarCharValue": "year"}, {"VarCharValue": "month"}, {"VarCharValue": "recordcount"}]},
                {"Data": [{"VarCharValue": "AWS::EC2::Instance"}, {"VarCharValue": "web-1"}, {"VarCharValue": "111111111111"}, {"VarCharValue": "ap-northeast-1"}, {"VarCharValue": "2025"}, {"VarCharValue": "6"}, {"VarCharValue": "4"}]},
                {"Data": [{"VarCharValue": "AWS::S3::Bucket"}, {}, {"VarCharValue": "222222222222"}, {"VarCharValue": "us-east-1"}, {"VarCharValue": "2025"}, {"VarCharValue": "6"}, {"VarCharValue": "1"}]}
            ],
            "column_info": [
                column("resourcetype", "varchar"), column("resourcename", "varchar"), column("awsaccountid", "varchar"), column("awsregion", "varchar"),
                column("year", "integer"), column("month", "integer"), column("recordcount", "bigint")
            ]
        }]
    });
    assert_eq!(http_post(&moto.url, "/moto-api/static/athena/query-results", &seeded), 201);
    let spec = workspace().join("examples/specs/full.yaml");
    let (code, out, err) = cli(&[
        "query",
        "config-changes",
        "--spec",
        spec.to_str().unwrap(),
        "--athena",
        "--endpoint-url",
        &moto.url,
        "--param",
        "year=2025",
        "--param",
        "month=6",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<Value> = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["recordcount"], json!(4));
    assert_eq!(rows[0]["year"], json!(2025));
    assert_eq!(rows[1]["resourcename"], Value::Null);
    assert!(err.contains("Athena query") && err.contains("estimated cost"), "{err}");
}

#[test]
fn athena_errors_exit_1_with_the_reason() {
    let moto = start_moto();
    test_credentials();
    // No workgroup was created: moto answers StartQueryExecution with an error.
    let spec = workspace().join("examples/specs/full.yaml");
    let (code, _, err) = cli(&[
        "query",
        "events",
        "--spec",
        spec.to_str().unwrap(),
        "--athena",
        "--endpoint-url",
        &moto.url,
        "--param",
        "from=2025-01-01",
        "--param",
        "to=2025-01-02",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("error: Athena"), "{err}");
}

/// The scheduled `leftovers` function: Athena (seeded in moto) → pairing → the report
/// published to the SNS topic, received here through an SQS subscription.
#[test]
fn leftovers_function_publishes_the_report_to_sns() {
    let moto = start_moto();
    test_credentials();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&moto.url)
            .region(aws_config::Region::new("ap-northeast-1"))
            .load()
            .await;
        aws_sdk_athena::Client::new(&conf).create_work_group().name("acme-opslake").send().await.unwrap();
        let sns = aws_sdk_sns::Client::new(&conf);
        let topic = sns.create_topic().name("acme-opslake-leftovers").send().await.unwrap().topic_arn().unwrap().to_string();
        let sqs = aws_sdk_sqs::Client::new(&conf);
        let queue = sqs.create_queue().queue_name("inbox").send().await.unwrap().queue_url().unwrap().to_string();
        let queue_arn = "arn:aws:sqs:ap-northeast-1:123456789012:inbox";
        sns.subscribe().topic_arn(&topic).protocol("sqs").endpoint(queue_arn).send().await.unwrap();

        let cols = ["eventtime", "eventsource", "eventname", "account", "awsregion", "eventid", "arn", "invokedby", "errorcode", "requestparameters", "responseelements"];
        let column = |n: &str| json!({"CatalogName": "hive", "SchemaName": "acme_opslake", "TableName": "cloudtrail", "Name": n, "Label": n, "Type": "varchar", "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": true});
        let row = |v: [&str; 11]| json!({"Data": v.iter().map(|x| if x.is_empty() { json!({}) } else { json!({"VarCharValue": x}) }).collect::<Vec<_>>()});
        let seeded = json!({
            "account_id": "123456789012", "region": "ap-northeast-1",
            "results": [{
                "rows": [
                    row(cols),
                    row(["2025-11-01T10:00:00Z", "ec2.amazonaws.com", "RunInstances", "111111111111", "ap-northeast-1", "e1", "arn:aws:iam::111111111111:user/alice", "", "", "{}", r#"{"instancesSet":{"items":[{"instanceId":"i-abc"}]}}"#]),
                    row(["2025-11-02T10:00:00Z", "ec2.amazonaws.com", "CreateVolume", "111111111111", "ap-northeast-1", "e2", "arn:aws:iam::111111111111:user/alice", "", "", "{}", r#"{"volumeId":"vol-1"}"#]),
                    row(["2025-11-03T10:00:00Z", "ec2.amazonaws.com", "DeleteVolume", "111111111111", "ap-northeast-1", "e3", "arn:aws:iam::111111111111:user/alice", "", "", r#"{"volumeId":"vol-1"}"#, ""])
                ],
                "column_info": cols.iter().map(|c| column(c)).collect::<Vec<_>>()
            }]
        });
        assert_eq!(http_post(&moto.url, "/moto-api/static/athena/query-results", &seeded), 201);

        let spec = load_spec_text(&example("full.yaml"));
        let layout = opslake::plan::layout(&spec);
        let conn = opslake_runtime::aws::Connection { endpoint_url: Some(moto.url.clone()), region: Some("ap-northeast-1".into()), profile: None };
        let athena = opslake_runtime::engine::athena::AthenaEngine::new(&conn.load(None).await, "acme-opslake", &layout.database);
        let service = opslake_runtime::functions::leftovers::LeftoversService {
            layout,
            source: opslake_runtime::source::Source::Athena(athena),
            sns,
            topic_arn: topic,
            lookback_days: 30,
        };
        let summary = service.run(jiff::civil::date(2025, 11, 30)).await.unwrap();
        assert_eq!(summary["leftovers"], json!(1), "{summary}");
        let got = sqs.receive_message().queue_url(&queue).max_number_of_messages(10).send().await.unwrap();
        let body = got.messages().first().and_then(|m| m.body()).unwrap_or_default().to_string();
        assert!(body.contains("i-abc") && body.contains("InstanceDetails:instanceId=i-abc") && !body.contains("vol-1"), "{body}");
        assert!(body.contains("opslake: 1 leftover resource"), "the subject names the count: {body}");
    });
}
