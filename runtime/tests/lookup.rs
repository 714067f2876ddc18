//! LookupEvents as a leftovers source, against a local server that speaks the documented
//! API (one lookup attribute per call, pages of 50 with NextToken, ThrottlingException and
//! 500s), fed with the example mirror's events: its rows must equal the local engine's.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{credentials, serve};
use opslake_runtime::engine::local::Mirror;
use opslake_runtime::engine::lookup;
use opslake_runtime::lake::LakeLayout;
use opslake_runtime::query;
use serde_json::{json, Value};

const ACCOUNT: &str = "222222222222";

/// Every record of the account's trail files in the mirror, by region folder.
fn history() -> BTreeMap<String, Vec<Value>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../examples/logs/acme-log-archive-111111111111/AWSLogs/o-a1b2c3d4e5/{ACCOUNT}/CloudTrail"));
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for p in common::files_under(&root) {
        let region =
            p.strip_prefix(&root).unwrap().components().next().unwrap().as_os_str().to_string_lossy().to_string();
        let body = opslake_runtime::records::decompress(&std::fs::read(&p).unwrap()).unwrap().into_owned();
        let doc: Value = serde_json::from_slice(&body).unwrap();
        for mut r in doc["Records"].as_array().cloned().unwrap_or_default() {
            // Event history always carries the account.
            r["recipientAccountId"] = json!(ACCOUNT);
            out.entry(region.clone()).or_default().push(r);
        }
    }
    out
}

fn epoch(t: &str) -> f64 {
    t.parse::<jiff::Timestamp>().map(|t| t.as_second() as f64).unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_events_agrees_with_the_trail_files() {
    credentials();
    let history = Arc::new(history());
    let calls = Arc::new(Mutex::new(0u64));
    let stamps: Arc<Mutex<BTreeMap<String, Vec<Instant>>>> = Arc::new(Mutex::new(BTreeMap::new()));
    let (h, c, st) = (Arc::clone(&history), Arc::clone(&calls), Arc::clone(&stamps));
    let fake = serve(Box::new(move |op, body| {
        if op != "LookupEvents" {
            return (400, json!({"__type": "UnsupportedOperationException", "Message": op}));
        }
        let region = body["__region"].as_str().unwrap_or("").to_string();
        st.lock().unwrap().entry(region.clone()).or_default().push(Instant::now());
        let n = {
            let mut n = c.lock().unwrap();
            *n += 1;
            *n
        };
        if n % 7 == 0 {
            return (400, json!({"__type": "ThrottlingException", "Message": "Rate exceeded"}));
        }
        if n % 11 == 0 {
            return (500, json!({"__type": "InternalServerError", "Message": "try again"}));
        }
        let attrs = body["LookupAttributes"].as_array().cloned().unwrap_or_default();
        if attrs.len() != 1 {
            return (
                400,
                json!({"__type": "InvalidLookupAttributesException", "Message": "You can only specify one lookup attribute"}),
            );
        }
        if body["MaxResults"].as_i64().unwrap_or(50) > 50 {
            return (400, json!({"__type": "InvalidMaxResultsException", "Message": "MaxResults must be 1-50"}));
        }
        let name = attrs[0]["AttributeValue"].as_str().unwrap_or("");
        let (start, end) = (body["StartTime"].as_f64().unwrap_or(0.0), body["EndTime"].as_f64().unwrap_or(f64::MAX));
        let matching: Vec<&Value> = h
            .get(&region)
            .map(|v| {
                v.iter()
                    .filter(|r| r["eventName"] == name)
                    .filter(|r| {
                        let t = epoch(r["eventTime"].as_str().unwrap_or(""));
                        t >= start && t < end
                    })
                    .collect()
            })
            .unwrap_or_default();
        let offset: usize = body["NextToken"].as_str().and_then(|t| t.parse().ok()).unwrap_or(0);
        let page: Vec<Value> = matching
            .iter()
            .skip(offset)
            .take(50)
            .map(|r| {
                json!({
                    "EventId": r["eventID"], "EventName": r["eventName"], "EventSource": r["eventSource"],
                    "EventTime": epoch(r["eventTime"].as_str().unwrap_or("")), "ReadOnly": "false",
                    "Resources": [{"ResourceType": null, "ResourceName": "x"}],
                    "CloudTrailEvent": r.to_string()
                })
            })
            .collect();
        let mut reply = json!({"Events": page});
        if offset + 50 < matching.len() {
            reply["NextToken"] = json!((offset + 50).to_string());
        }
        (200, reply)
    }));

    let regions = vec!["ap-northeast-1".to_string(), "us-east-1".to_string()];
    let names: BTreeSet<String> = opslake_runtime::catalogue::event_names();
    let (from, to) = (jiff::civil::date(2024, 10, 1), jiff::civil::date(2025, 11, 30));
    let aws = common::aws(&fake.url).await;
    let interval = Duration::from_millis(40);
    let (rows, stats) = lookup::created_deleted(&aws, &regions, &names, from, to, interval).await.unwrap();

    // the same events through the local engine, this account only
    let layout: LakeLayout = serde_json::from_value(json!({
        "database": "acme_opslake", "bucket": "acme-log-archive-111111111111", "prefix": "",
        "organization_trail": "o-a1b2c3d4e5", "accounts": ["111111111111", ACCOUNT],
        "regions": regions, "start": "2024-01-01", "end": null, "cloudtrail": true, "config": true, "alb": []
    }))
    .unwrap();
    let q = query::find("created-deleted").unwrap();
    let params = query::validate(
        q,
        &[("from".into(), from.to_string()), ("to".into(), to.to_string()), ("account".into(), ACCOUNT.into())],
        &layout,
    )
    .unwrap();
    let mirror = Mirror::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/logs"));
    let local = query::run_local(q, &params, &layout, &mirror, jiff::civil::date(2026, 11, 27)).unwrap();
    assert!(!local.rows.is_empty());
    assert_eq!(rows, local.rows, "LookupEvents and the trail files disagree");

    // one series per event name and region, at least; retries on throttling and 500s
    assert!(stats.calls >= (names.len() * regions.len()) as u64, "{stats:?}");
    let total = *calls.lock().unwrap();
    assert!(total > stats.calls, "throttled and failed calls were retried ({total} sent, {} answered)", stats.calls);
    // Arrival times at this one-thread server jitter (by more than 10 ms on a loaded 2-core
    // machine), and one late arrival shortens the gap after it. So the pace is checked on
    // average, and over every run of five calls: their span may fall short of four intervals
    // by less than one (a retry sent without waiting its turn would cut a whole interval).
    for (region, times) in stamps.lock().unwrap().iter() {
        let span = *times.last().unwrap() - times[0];
        assert!(span * 10 >= interval * 9 * (times.len() as u32 - 1), "{region}: {} calls in {span:?}", times.len());
        for w in times.windows(5) {
            let span = w[4] - w[0];
            assert!(span * 4 >= interval * 13, "{region}: five calls within {span:?} (pace {interval:?})");
        }
    }
}

#[tokio::test]
async fn lookup_errors_name_the_region_and_event() {
    credentials();
    let fake = serve(Box::new(|_, _| {
        (
            400,
            json!({"__type": "AccessDeniedException", "Message": "not authorized to perform cloudtrail:LookupEvents"}),
        )
    }));
    let aws = common::aws(&fake.url).await;
    let names: BTreeSet<String> = ["RunInstances".to_string()].into();
    let err = lookup::created_deleted(
        &aws,
        &["eu-west-1".into()],
        &names,
        jiff::civil::date(2025, 1, 1),
        jiff::civil::date(2025, 1, 2),
        Duration::from_millis(1),
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("eu-west-1") && err.contains("RunInstances") && err.contains("AccessDeniedException"),
        "{err}"
    );
}

fn leftover(rtype: &str, id: &str) -> opslake_runtime::analysis::leftovers::Leftover {
    opslake_runtime::analysis::leftovers::Leftover {
        resource_type: rtype.into(),
        id: id.into(),
        name: None,
        account: ACCOUNT.into(),
        region: "eu-west-1".into(),
        created_at: "2025-01-01T00:00:00Z".into(),
        created_by: None,
        created_by_user: None,
        created_by_service: None,
        create_event_id: None,
        age_days: 1,
        cost_hint: String::new(),
        console_url: String::new(),
        still_exists: None,
        note: None,
    }
}

#[tokio::test]
async fn confirm_drops_what_cloud_control_no_longer_finds() {
    credentials();
    let fake = serve(Box::new(|op, body| {
        if op != "GetResource" {
            return (400, json!({"__type": "UnsupportedActionException", "Message": op}));
        }
        match (body["TypeName"].as_str().unwrap_or(""), body["Identifier"].as_str().unwrap_or("")) {
            ("AWS::EC2::Instance", "i-here") => (
                200,
                json!({"TypeName": "AWS::EC2::Instance", "ResourceDescription": {"Identifier": "i-here", "Properties": "{}"}}),
            ),
            ("AWS::EC2::Instance", _) => (400, json!({"__type": "ResourceNotFoundException", "Message": "not found"})),
            _ => (
                400,
                json!({"__type": "AccessDeniedException", "Message": "not authorized to perform ec2:DescribeSecurityGroups"}),
            ),
        }
    }));
    let aws = common::aws(&fake.url).await;
    let found = vec![
        leftover("EC2 instance", "i-here"),
        leftover("EC2 instance", "i-gone"),
        leftover("Security group", "sg-1"),
        leftover("EBS snapshot", "snap-1"),
    ];
    let (kept, stats) = opslake_runtime::engine::confirm::confirm(&aws, found).await;
    let ids: Vec<(&str, Option<bool>)> = kept.iter().map(|l| (l.id.as_str(), l.still_exists)).collect();
    assert_eq!(ids, vec![("i-here", Some(true)), ("sg-1", None), ("snap-1", None)]);
    assert_eq!((stats.still_there, stats.gone, stats.unconfirmed), (1, 1, 2));
    assert!(kept[1].note.as_deref().unwrap().contains("AccessDeniedException"));
    assert!(kept[2].note.as_deref().unwrap().contains("not checked"));
    let types: Vec<String> =
        fake.calls.lock().unwrap().iter().map(|(_, b)| b["TypeName"].as_str().unwrap_or("").to_string()).collect();
    assert!(!types.iter().any(|t| t.contains("Snapshot")), "no call for a type Cloud Control cannot identify");
}
