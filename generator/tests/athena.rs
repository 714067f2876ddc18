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
