//! `opslake leftovers` on the example mirror, with expectations checked by hand against the
//! events (see `opslake query created-deleted` over the same range).

mod support;

use serde_json::Value;
use support::*;

fn leftovers(extra: &[&str]) -> (u8, String, String) {
    let spec = workspace().join("examples/specs/full.yaml");
    let logs = workspace().join("examples/logs");
    let mut args = vec!["leftovers", "--spec", spec.to_str().unwrap(), "--local", logs.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (code, out, err) = cli(&args);
    (code, out, err)
}

fn ids(out: &str) -> Vec<(String, String, Option<String>)> {
    let v: Vec<Value> = serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"));
    v.iter()
        .map(|l| {
            (
                l["resource_type"].as_str().unwrap().to_string(),
                l["id"].as_str().unwrap().to_string(),
                l["created_by_service"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[test]
fn leftovers_follow_the_pairing_rules_on_real_events() {
    let (code, out, err) = leftovers(&["--from", "2024-10-01", "--to", "2025-11-30", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let found = ids(&out);
    let has = |t: &str, id: &str| found.iter().any(|(a, b, _)| a == t && b == id);
    // Created by Auto Scaling after an earlier terminate of the same id: open, and attributed
    // to the service, not to a person.
    assert!(
        found.contains(&("EC2 instance".into(), "i-443dbbaa".into(), Some("autoscaling.amazonaws.com".into()))),
        "{found:?}"
    );
    assert!(found.contains(&(
        "EC2 instance".into(),
        "i-0e6ea7e03f778628d".into(),
        Some("marketplace.amazonaws.com".into())
    )));
    // Created and later deleted in the same account and region: closed.
    assert!(!has("EC2 instance", "i-0cca519b7a9cc6243"));
    assert!(!has("EBS volume", "vol-0e494a7411208f188"));
    // Failed creates (UnknownParameter, EntityAlreadyExists) count for nothing.
    assert!(!has("VPC", "vpc-1") && !has("IAM user", "user"));
    // A security group deleted by a name that no create in the window recorded closes nothing.
    assert!(has("Security group", "sg-2fc6d2b8") && has("Security group", "sg-b2c6d225"));
    // Key pairs created by name only are tracked by name; a denied delete keeps them open.
    assert!(has("Key pair", "im-18e3ee06-46a3-11e7-9c6b-f079596e599b") && has("Key pair", "mykeypair"));
    assert!(has("IAM user", "Bob"));
    assert_eq!(found.len(), 18, "{found:#?}");
}

#[test]
fn filters_formats_and_exit_codes() {
    let (code, out, _) =
        leftovers(&["--from", "2024-10-01", "--to", "2025-11-30", "--format", "json", "--user", "micafer"]);
    assert_eq!(code, 0);
    let found = ids(&out);
    assert!(!found.is_empty() && found.iter().all(|(t, _, _)| t != "IAM user"), "{found:?}");

    let (_, out, _) =
        leftovers(&["--from", "2024-10-01", "--to", "2025-11-30", "--format", "json", "--region", "us-east-1"]);
    let v: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert!(!v.is_empty() && v.iter().all(|l| l["region"] == "us-east-1"));

    let (code, out, _) = leftovers(&["--from", "2024-10-01", "--to", "2025-11-30", "--fail-if-found"]);
    assert_eq!(code, 1, "--fail-if-found exits 1 when something is left over");
    assert!(out.contains("== created by people ==") && out.contains("== created by AWS services"), "{out}");
    assert!(out.contains("#InstanceDetails:instanceId=i-443dbbaa"), "{out}");

    // Nothing happened in this window: exit 0 even with --fail-if-found.
    let (code, out, _) =
        leftovers(&["--from", "2024-01-01", "--to", "2024-01-31", "--fail-if-found", "--format", "json"]);
    assert_eq!((code, out.trim()), (0, "[]"));

    let spec = workspace().join("examples/specs/full.yaml");
    let (code, _, err) = cli(&[
        "leftovers",
        "--spec",
        spec.to_str().unwrap(),
        "--lookup-events",
        "--from",
        "2024-01-01",
        "--to",
        "2024-01-31",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("last 90 days"), "{err}");
    for (args, expect) in [
        (vec!["--since", "0d"], "expected a number of days"),
        (vec!["--from", "2025-02-01", "--to", "2025-01-01"], "after"),
        (vec!["--since", "30d", "--region", "eu-west-3"], "not in the spec's regions"),
    ] {
        let (code, _, err) = leftovers(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: {err}");
    }
}

/// Real trail files as delivered (one account, one region), with expectations checked by
/// hand: three instances launched one by one and terminated by one call that names all
/// three; security groups created and then deleted by their *name*; a delete that failed.
#[test]
fn real_sequences_close_as_they_should() {
    let shared = std::env::var_os("OPSLAKE_REAL_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace().join("testdata/real"))
        .join("grycap_cloudtrail_tracker");
    assert!(shared.is_dir(), "{} is missing (testdata/real, or OPSLAKE_REAL_DATA)", shared.display());
    let files = [
        "974349055189_CloudTrail_us-east-1_20140926T1135Z_lDgzv42MdNbD3Utg.json.gz",
        "974349055189_CloudTrail_us-east-1_20140927T1030Z_VbZmZ0Xmk84QRoV2.json.gz",
        "974349055189_CloudTrail_us-east-1_20140927T1840Z_JQiO7vyBxgOBrEQb.json.gz",
        "974349055189_CloudTrail_us-east-1_20140927T1855Z_UJxnKwd00HwwPsA4.json.gz",
        "974349055189_CloudTrail_us-east-1_20140927T1910Z_uXLV10zRWW0JxxI5.json.gz",
        "974349055189_CloudTrail_us-east-1_20170601T0825Z_DXsrYb7Uul6bgTI1.json.gz",
        "974349055189_CloudTrail_us-east-1_20170601T0825Z_okawcdsiuxgjup5h.json.gz",
        "974349055189_CloudTrail_us-east-1_20170601T0830Z_GpQwzeJMxFhSBfSc.json.gz",
        "974349055189_CloudTrail_us-east-1_20170601T0845Z_06yEBVR8MMsu50BA.json.gz",
        "974349055189_CloudTrail_us-east-1_20170601T0850Z_BXecTpoqSRbm6HnO.json.gz",
    ];
    let tmp = tempfile::tempdir().unwrap();
    let find = |name: &str| -> std::path::PathBuf {
        let mut stack = vec![shared.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                if e.path().is_dir() {
                    stack.push(e.path());
                } else if e.file_name() == name {
                    return e.path();
                }
            }
        }
        panic!("{name} is not in testdata/real");
    };
    for f in files {
        // the key's date is the delivery time in the name
        let stamp = f.split('_').nth(3).unwrap();
        let day = format!("{}/{}/{}", &stamp[0..4], &stamp[4..6], &stamp[6..8]);
        let dir = tmp.path().join(format!("grycap-trail/AWSLogs/974349055189/CloudTrail/us-east-1/{day}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(find(f), dir.join(f)).unwrap();
    }
    let spec = tmp.path().join("spec.yaml");
    std::fs::write(&spec, "name: grycap\nhome: { account: \"974349055189\", region: us-east-1 }\nregions: [us-east-1]\nlake: { bucket: grycap-trail, projection: { start: 2014-01-01 } }\n").unwrap();
    let (spec_s, local) = (spec.to_str().unwrap(), tmp.path().to_str().unwrap());

    // The events are there (the expectations below are not vacuous) ...
    let (code, out, err) = cli(&[
        "query",
        "created-deleted",
        "--spec",
        spec_s,
        "--local",
        local,
        "--param",
        "from=2014-09-26",
        "--param",
        "to=2017-06-02",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<Value> = serde_json::from_str(&out).unwrap();
    let terminate: Vec<&str> = rows
        .iter()
        .filter(|r| r["eventtime"] == "2014-09-27T19:04:05Z")
        .map(|r| r["resourceid"].as_str().unwrap())
        .collect();
    assert_eq!(
        terminate,
        vec!["i-47c644a9", "i-48c954a5", "i-d577fa3b"],
        "one TerminateInstances names three instances"
    );
    let by_name: Vec<&Value> =
        rows.iter().filter(|r| r["eventname"] == "DeleteSecurityGroup" && r["resourceid"].is_null()).collect();
    assert!(
        by_name.iter().any(|r| r["resourcename"] == "im-166ccf76-46a3-11e7-9c6b-f079596e599b-public"),
        "{by_name:#?}"
    );
    assert!(rows.iter().any(|r| r["errorcode"] == "Client.InvalidGroup.InUse"));
    for created in ["i-47c644a9", "i-48c954a5", "i-d577fa3b", "sg-2fc6d2b8", "sg-b2c6d225", "sg-90c7d307"] {
        assert!(rows.iter().any(|r| r["action"] == "create" && r["resourceid"] == created), "no create of {created}");
    }

    // ... and they close what they should.
    let (code, out, err) = cli(&[
        "leftovers",
        "--spec",
        spec_s,
        "--local",
        local,
        "--from",
        "2014-09-26",
        "--to",
        "2017-06-02",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let found = ids(&out);
    for gone in ["i-47c644a9", "i-48c954a5", "i-d577fa3b", "sg-2fc6d2b8", "sg-b2c6d225", "sg-90c7d307"] {
        assert!(!found.iter().any(|(_, id, _)| id == gone), "{gone} was deleted: {found:#?}");
    }
}
