//! `opslake insights` over the example mirror: every window's counts equal an independent
//! count of the same trail files in the test (parsed here with serde_json, bucketed by hand),
//! and an object delivered twice is counted once.

#[path = "../../runtime/tests/common/mod.rs"]
mod common;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use serde_json::Value;
use support::*;

/// (window start, total, calls per service, errors) counted straight from the files.
fn by_hand(root: &std::path::Path, from: &str, to: &str) -> BTreeMap<String, (u64, BTreeMap<String, u64>, u64)> {
    let (from, to): (jiff::Timestamp, jiff::Timestamp) = (from.parse().unwrap(), to.parse().unwrap());
    let mut seen = BTreeSet::new();
    let mut out: BTreeMap<String, (u64, BTreeMap<String, u64>, u64)> = BTreeMap::new();
    for p in common::files_under(root) {
        let name = p.to_string_lossy().to_string();
        if !name.contains("/CloudTrail/") || !name.ends_with(".json.gz") {
            continue;
        }
        let mut text = String::new();
        // An object that is not gzip or not JSON is skipped (the engine reports and skips it).
        if flate2::read::GzDecoder::new(std::fs::File::open(&p).unwrap()).read_to_string(&mut text).is_err() {
            continue;
        }
        let Ok(doc) = serde_json::from_str::<Value>(&text) else { continue };
        for r in doc["Records"].as_array().into_iter().flatten() {
            let t: jiff::Timestamp = r["eventTime"].as_str().unwrap().parse().unwrap();
            if t < from || t >= to || !seen.insert(r["eventID"].as_str().unwrap().to_string()) {
                continue;
            }
            let hour = jiff::Timestamp::from_second(t.as_second() / 3600 * 3600).unwrap();
            let w = out.entry(hour.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()).or_default();
            w.0 += 1;
            *w.1.entry(r["eventSource"].as_str().unwrap().to_string()).or_default() += 1;
            w.2 += u64::from(r.get("errorCode").is_some_and(|c| c.is_string()));
        }
    }
    out
}

/// (window start, total, calls per service, errors) as `insights --format json` gives them.
fn counted(got: &Value) -> BTreeMap<String, (u64, BTreeMap<String, u64>, u64)> {
    got["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            let services =
                w["by_service"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect();
            let errors = w["errors"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
            (w["start"].as_str().unwrap().to_string(), (w["total"].as_u64().unwrap(), services, errors))
        })
        .collect()
}

fn windows(mirror: &str, from: &str, to: &str) -> Value {
    let spec = workspace().join("examples/specs/full.yaml").display().to_string();
    let (code, out, err) = cli(&[
        "insights", "--spec", &spec, "--local", mirror, "--from", from, "--to", to, "--window", "1h", "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn every_window_equals_an_independent_count() {
    let root = workspace().join("examples/logs");
    let (from, to) = ("2025-04-01T00:00:00Z", "2025-05-01T00:00:00Z");
    let got = windows(root.to_str().unwrap(), from, to);
    let want = by_hand(&root.join("acme-log-archive-111111111111"), from, to);
    assert!(want.len() >= 5, "the example month has activity: {want:?}");
    let seen = counted(&got);
    assert_eq!(seen, want);
    assert_eq!(got["calls"].as_u64().unwrap(), want.values().map(|w| w.0).sum::<u64>());
    assert_eq!(got["window_seconds"], 3600);
}

#[test]
fn an_object_delivered_twice_is_counted_once() {
    let tmp = tempfile::tempdir().unwrap();
    let src = workspace().join("examples/logs/acme-log-archive-111111111111");
    let dst = tmp.path().join("acme-log-archive-111111111111");
    let mut copied = 0;
    for p in common::files_under(&src).into_iter().filter(|p| p.to_string_lossy().contains("/CloudTrail/")) {
        let to = dst.join(p.strip_prefix(&src).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&p, &to).unwrap();
        // The same object again under another name: a redelivery.
        if p.to_string_lossy().contains("/2025/06/12/") {
            std::fs::copy(&p, to.with_file_name(format!("again_{}", p.file_name().unwrap().to_string_lossy())))
                .unwrap();
            copied += 1;
        }
    }
    assert!(copied > 0);
    let (from, to) = ("2025-06-12T00:00:00Z", "2025-06-13T00:00:00Z");
    let once = windows(workspace().join("examples/logs").to_str().unwrap(), from, to);
    let twice = windows(tmp.path().to_str().unwrap(), from, to);
    assert_eq!(twice["windows"], once["windows"]);
    assert_eq!(twice["repeated"].as_u64().unwrap(), once["calls"].as_u64().unwrap());
}

/// A day of a synthetic trail in the example spec's layout (account 222222222222 of the
/// organization's trail): 20–40 calls a minute from three users in us-east-1, and planted in
/// it AccessDenied from one principal and IP for three minutes from 14:00, a root console
/// sign-in at 15:00 and a first call in ap-northeast-1 (the spec's other region) at 16:00. Returns the calls per minute.
fn planted_mirror(root: &std::path::Path) -> BTreeMap<String, u64> {
    use std::io::Write;
    let day: jiff::Timestamp = "2025-06-20T00:00:00Z".parse().unwrap();
    let mut per_minute: BTreeMap<String, u64> = BTreeMap::new();
    let mut files: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
    let mut n = 0u64;
    let mut call = |t: jiff::Timestamp, region: &str, user: &str, ip: &str, source: &str, name: &str, extra: Value| {
        n += 1;
        let arn = if user == "root" {
            "arn:aws:iam::222222222222:root".to_string()
        } else {
            format!("arn:aws:iam::222222222222:user/{user}")
        };
        let mut r = serde_json::json!({
            "eventVersion": "1.08", "eventTime": t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "eventSource": source, "eventName": name, "awsRegion": region, "sourceIPAddress": ip,
            "userIdentity": {"type": if user == "root" { "Root" } else { "IAMUser" }, "arn": arn, "accountId": "222222222222"},
            "eventID": format!("00000000-0000-4000-8000-{n:012}"), "eventType": "AwsApiCall",
            "recipientAccountId": "222222222222",
        });
        r.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let minute = jiff::Timestamp::from_second(t.as_second() / 60 * 60).unwrap();
        *per_minute.entry(minute.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()).or_default() += 1;
        // One object per region and 5 minutes, as CloudTrail delivers.
        let slot = jiff::Timestamp::from_second(t.as_second() / 300 * 300).unwrap();
        files.entry((region.to_string(), slot.strftime("%Y%m%dT%H%MZ").to_string())).or_default().push(r);
    };
    let users = ["alice", "bob", "carol"];
    let apis = [
        ("ec2.amazonaws.com", "DescribeInstances"),
        ("s3.amazonaws.com", "ListBuckets"),
        ("iam.amazonaws.com", "GetUser"),
    ];
    for m in 0..1440u64 {
        let x = m.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) >> 33;
        for k in 0..(20 + x % 21) {
            let t = day + jiff::SignedDuration::from_secs((m * 60 + k % 60) as i64);
            let i = ((m + k) % 3) as usize;
            call(
                t,
                "us-east-1",
                users[i],
                &format!("198.51.100.{}", 10 + i),
                apis[i].0,
                apis[i].1,
                serde_json::json!({}),
            );
        }
    }
    for m in 840..843u64 {
        for k in 0..40u64 {
            let t = day + jiff::SignedDuration::from_secs((m * 60 + k) as i64);
            let denied = serde_json::json!({"errorCode": "AccessDenied", "errorMessage": "Access Denied"});
            call(t, "us-east-1", "mallory", "203.0.113.9", "s3.amazonaws.com", "GetObject", denied);
        }
    }
    let login = serde_json::json!({"responseElements": {"ConsoleLogin": "Success"}});
    call(
        day + jiff::SignedDuration::from_secs(15 * 3600 + 5),
        "us-east-1",
        "root",
        "203.0.113.50",
        "signin.amazonaws.com",
        "ConsoleLogin",
        login,
    );
    call(
        day + jiff::SignedDuration::from_secs(16 * 3600 + 10),
        "ap-northeast-1",
        "alice",
        "198.51.100.10",
        "ec2.amazonaws.com",
        "RunInstances",
        serde_json::json!({}),
    );
    let base = root.join("acme-log-archive-111111111111/AWSLogs/o-a1b2c3d4e5/222222222222/CloudTrail");
    for ((region, slot), records) in files {
        let dir = base.join(&region).join("2025/06/20");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("222222222222_CloudTrail_{region}_{slot}_planted.json.gz"));
        let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::fast());
        gz.write_all(serde_json::json!({ "Records": records }).to_string().as_bytes()).unwrap();
        gz.finish().unwrap();
    }
    per_minute
}

fn insights(args: &[&str]) -> Value {
    let spec = workspace().join("examples/specs/full.yaml").display().to_string();
    let mut all = vec!["insights", "--spec", &spec, "--format", "json"];
    all.extend_from_slice(args);
    let (code, out, err) = cli(&all);
    assert_eq!(code, 0, "{out}\n{err}");
    serde_json::from_str(&out).unwrap()
}

/// The planted events are found, and nothing else: the counts are the ones written, the
/// AccessDenied burst is an anomaly of its principal (in errors too), root's sign-in is one of
/// root's calls, ap-northeast-1 and the sign-in service are first uses, and the rest of the day,
/// steady activity with noise, has no anomaly at all.
#[test]
fn a_planted_burst_root_sign_in_and_new_region_are_flagged_and_a_quiet_stretch_is_not() {
    let tmp = tempfile::tempdir().unwrap();
    let written = planted_mirror(tmp.path());
    let got = insights(&[
        "--local",
        tmp.path().to_str().unwrap(),
        "--from",
        "2025-06-20T00:00:00Z",
        "--to",
        "2025-06-21T00:00:00Z",
        "--window",
        "1m",
    ]);
    let counted: BTreeMap<String, u64> = got["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["start"].as_str().unwrap().to_string(), w["total"].as_u64().unwrap()))
        .collect();
    let differ: Vec<_> =
        written.iter().filter(|(k, v)| counted.get(*k) != Some(v)).map(|(k, v)| (k, v, counted.get(k))).collect();
    assert!(differ.is_empty() && counted.len() == written.len(), "(window, written, counted): {differ:?}");
    let anomalies: Vec<(String, String, String)> = got["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let text = |k: &str| a[k].as_str().unwrap_or_default().to_string();
            (text("start"), text("series"), text("key"))
        })
        .collect();
    let expect = |start: &str, series: &str, key: &str| {
        assert!(
            anomalies.contains(&(start.to_string(), series.to_string(), key.to_string())),
            "no {series} anomaly at {start} ({key}): {anomalies:#?}"
        );
    };
    expect("2025-06-20T14:00:00Z", "access_denied", "arn:aws:iam::222222222222:user/mallory");
    expect("2025-06-20T14:00:00Z", "errors", "AccessDenied");
    expect("2025-06-20T15:00:00Z", "root", "203.0.113.50");
    // Only the planted minutes: no anomaly in the quiet stretches between them.
    let planted = ["2025-06-20T14:00:00Z", "2025-06-20T14:01:00Z", "2025-06-20T14:02:00Z", "2025-06-20T15:00:00Z"];
    for (start, series, key) in &anomalies {
        assert!(planted.contains(&start.as_str()), "an anomaly in a quiet stretch: {start} {series} {key}");
    }
    let firsts: Vec<(String, String)> = got["firsts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["kind"].as_str().unwrap().to_string(), f["key"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        firsts,
        [
            ("service".to_string(), "signin.amazonaws.com".to_string()),
            ("region".to_string(), "ap-northeast-1".to_string())
        ]
    );
    let w15 = got["windows"].as_array().unwrap().iter().find(|w| w["start"] == "2025-06-20T15:00:00Z").unwrap();
    assert_eq!((w15["root"].as_u64(), w15["signins"]["success"].as_u64()), (Some(1), Some(1)));
}

/// The PNG's pixels of one colour.
fn pixels_of(png_path: &std::path::Path, rgb: [u8; 3]) -> usize {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png_path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = info.color_type.samples();
    buf[..info.buffer_size()].chunks(step).filter(|p| p[..3] == rgb).count()
}

/// Opens `page` in headless Chromium and screenshots it; the console lines it logged.
fn screenshot(page: &std::path::Path, png: &std::path::Path) -> Vec<String> {
    let (code, out, err) = run(std::process::Command::new(chromium())
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"])
        .arg("--window-size=1200,2600")
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display())));
    assert_eq!(code, 0, "chromium failed:\n{out}\n{err}");
    err.lines().filter(|l| l.contains(":CONSOLE")).map(str::to_string).collect()
}

/// The page of the planted day, in English and Japanese, opened in a real browser: the charts
/// are drawn (the series' blue and the anomalies' red are on the screenshot), the console is
/// silent, and nothing leaves the page (its policy forbids every load, and a page that tries
/// one is caught: the check can fail).
#[test]
fn the_page_is_drawn_in_chromium_with_no_console_errors_and_no_requests() {
    let tmp = tempfile::tempdir().unwrap();
    planted_mirror(tmp.path());
    let mirror = tmp.path().to_str().unwrap();
    for (lang, label) in [("en", "Calls per window"), ("ja", "ウィンドウごとの呼び出し数")] {
        let spec = tmp.path().join(format!("{lang}.yaml"));
        let text = std::fs::read_to_string(workspace().join("examples/specs/full.yaml")).unwrap();
        std::fs::write(&spec, text.replace("language: ja", &format!("language: {lang}"))).unwrap();
        let page = tmp.path().join(format!("insights-{lang}.html"));
        let (code, out, err) = cli(&[
            "insights",
            "--spec",
            spec.to_str().unwrap(),
            "--local",
            mirror,
            "--from",
            "2025-06-20",
            "--to",
            "2025-06-21",
            "--window",
            "5m",
            "--html",
            page.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{out}\n{err}");
        let html = std::fs::read_to_string(&page).unwrap();
        assert!(html.contains(label) && html.contains(&format!("<html lang=\"{lang}\">")), "{lang}");
        assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"), "{html}");
        let png = tmp.path().join(format!("insights-{lang}.png"));
        let console = screenshot(&page, &png);
        assert!(console.is_empty(), "{lang}: the console logged:\n{}", console.join("\n"));
        let blue = pixels_of(&png, [0x1f, 0x77, 0xb4]);
        let red = pixels_of(&png, [0xe0, 0x00, 0x00]);
        assert!(blue > 2000, "{lang}: the series are not drawn ({blue} blue pixels)");
        assert!(red > 50, "{lang}: no anomaly is marked ({red} red pixels)");
    }
    // The same check catches a page that loads something or logs an error.
    let bad = tmp.path().join("bad.html");
    let html = std::fs::read_to_string(tmp.path().join("insights-en.html")).unwrap();
    std::fs::write(&bad, html.replacen("<body>", r#"<body><img src="http://127.0.0.1:9/x.png">"#, 1)).unwrap();
    let console = screenshot(&bad, &tmp.path().join("bad.png"));
    assert!(console.iter().any(|l| l.contains("Content Security Policy")), "{console:?}");
}

/// A range of more windows than one run scores is refused, with the way out.
#[test]
fn a_range_of_too_many_windows_is_refused_with_the_way_out() {
    let spec = workspace().join("examples/specs/full.yaml").display().to_string();
    let mirror = workspace().join("examples/logs").display().to_string();
    let run = |window: &str| {
        cli(&[
            "insights",
            "--spec",
            &spec,
            "--local",
            &mirror,
            "--from",
            "2025-01-01",
            "--to",
            "2025-03-01",
            "--window",
            window,
        ])
    };
    let (code, _, err) = run("10s");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("is 509760 windows of 10s; at most 100000 are scored") && err.contains("a wider --window"),
        "{err}"
    );
    let (code, _, err) = run("1m");
    assert_eq!(code, 0, "{err}");
}

/// The real third-party trail objects of `testdata/real/grycap_cloudtrail_tracker` (1,067
/// objects, 2014–2018, as CloudTrail delivered them), laid out as a lake under the day their
/// name gives: every hourly window equals an independent count of the same files.
#[test]
fn every_window_of_real_trail_objects_equals_an_independent_count() {
    let src = workspace().join("testdata/real/grycap_cloudtrail_tracker/s3_delivered_json_gz");
    let tmp = tempfile::tempdir().unwrap();
    let name =
        regex::Regex::new(r"^(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{4})(\d{2})(\d{2})T\d{4}Z_\w+\.json\.gz$").unwrap();
    let (mut accounts, mut regions) = (BTreeSet::new(), BTreeSet::new());
    let mut placed = 0;
    for p in common::files_under(&src) {
        let file = p.file_name().unwrap().to_string_lossy().to_string();
        let Some(c) = name.captures(&file) else { continue };
        let (account, region) = (c[1].to_string(), c[2].to_string());
        let dir =
            tmp.path().join(format!("real-lake/AWSLogs/{account}/CloudTrail/{region}/{}/{}/{}", &c[3], &c[4], &c[5]));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(&p, dir.join(&file)).unwrap();
        accounts.insert(account);
        regions.insert(region);
        placed += 1;
    }
    assert!(placed > 1000, "{placed} objects");
    let spec = tmp.path().join("real.yaml");
    std::fs::write(
        &spec,
        format!(
            "name: real\nhome: {{ account: \"{}\", region: us-east-1 }}\nregions: [{}]\nlake: {{ bucket: real-lake, projection: {{ start: 2014-01-01 }} }}\n",
            accounts.iter().next().unwrap(),
            regions.iter().cloned().collect::<Vec<_>>().join(", ")
        ),
    )
    .unwrap();
    let (from, to) = ("2014-01-01T00:00:00Z", "2019-01-01T00:00:00Z");
    let (code, out, err) = cli(&[
        "insights",
        "--spec",
        spec.to_str().unwrap(),
        "--local",
        tmp.path().to_str().unwrap(),
        "--from",
        from,
        "--to",
        to,
        "--window",
        "1h",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let got: Value = serde_json::from_str(&out).unwrap();
    let want = by_hand(&tmp.path().join("real-lake"), from, to);
    let seen = counted(&got);
    let calls: u64 = want.values().map(|w| w.0).sum();
    assert!(calls > 15_000, "{calls} calls");
    let differ: Vec<_> = want.iter().filter(|(k, v)| seen.get(*k) != Some(v)).map(|(k, _)| k).take(5).collect();
    assert!(
        differ.is_empty() && seen.len() == want.len(),
        "windows that differ: {differ:?} ({} vs {})",
        seen.len(),
        want.len()
    );
    assert_eq!(got["calls"].as_u64().unwrap(), calls);
}
