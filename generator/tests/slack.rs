//! Failure analysis where the team is: the `slack` function and the `analyze` worker, end to
//! end on loopback.
//!
//! - Slack's requests (fixtures in Slack's documented shapes, signed as Slack signs them) go
//!   to the `slack` handler; a local server speaks the Slack Web API methods the app calls
//!   (bearer token checked, `ok: false` errors, 429 with `Retry-After`) and the Lambda Invoke
//!   API the handler starts the worker with.
//! - The worker runs the analysis over the example mirror, with the live services answered by
//!   the cloud fakes of `common::cloud`, claims its runs in a DynamoDB table on `moto_server`,
//!   and answers in the thread: a message and the report as a file.
//! - Alarms: a `CloudWatch Alarm State Change` event and the same alarm through SNS start one
//!   run; the same event delivered twice at once still starts one, and so does a flapping alarm.

#[path = "../../runtime/tests/common/mod.rs"]
mod common;
mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::http::{HeaderMap, HeaderValue};
use jiff::Timestamp;
use opslake_runtime::analysis::incident::rank::Redaction;
use opslake_runtime::functions::analyze::{AnalyzeService, Settings};
use opslake_runtime::functions::env::PlacedGroup;
use opslake_runtime::functions::job::{Job, When};
use opslake_runtime::functions::slack::{LambdaWorker, SlackService};
use opslake_runtime::ledger::Ledger;
use opslake_runtime::llm::NoModel;
use opslake_runtime::report::Language;
use opslake_runtime::slack::api::SlackApi;
use opslake_runtime::slack::verify::SigningSecret;
use serde_json::{json, Value};

const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const BOT_TOKEN: &str = "xoxb-0000-test-token";
const WORKER: &str = "acme-opslake-analyze";
const TABLE: &str = "acme-opslake-runs";
const GROUPS: [&str; 2] = ["/aws/lambda/orders-api", "/apigateway/orders"];

fn fixture(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "../runtime/tests/fixtures", name].iter().collect();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An interaction as Slack posts it: the JSON in a form's `payload` field.
fn interaction(name: &str) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new()).append_pair("payload", &fixture(name)).finish().into_bytes()
}

/// One recorded request to the fake: (path, headers, body).
#[derive(Debug, Clone)]
struct Call {
    path: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Call {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn form(&self) -> BTreeMap<String, String> {
        form_urlencoded::parse(&self.body).into_owned().collect()
    }
    fn method(&self) -> &str {
        self.path.trim_start_matches("/api/")
    }
}

/// A local server speaking Slack's Web API and Lambda's Invoke, one thread per connection.
struct FakeSlack {
    url: String,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl FakeSlack {
    fn calls(&self, method: &str) -> Vec<Call> {
        self.calls.lock().unwrap().iter().filter(|c| c.method() == method || c.path == method).cloned().collect()
    }
    fn invocations(&self) -> Vec<Value> {
        let path = format!("/2015-03-31/functions/{WORKER}/invocations");
        self.calls(&path).iter().map(Call::json).collect()
    }
}

/// Answers one request: (status, extra headers, body).
fn answer(call: &Call, base: &str, seen: &[Call]) -> (u16, Vec<(String, String)>, String) {
    if call.path.starts_with("/2015-03-31/functions/") {
        assert_eq!(call.headers.get("x-amz-invocation-type").map(String::as_str), Some("Event"));
        return (202, vec![], String::new());
    }
    if call.path.starts_with("/upload/") {
        return (200, vec![], format!("OK - {}", call.body.len()));
    }
    if call.headers.get("authorization").map(String::as_str) != Some(&format!("Bearer {BOT_TOKEN}")) {
        return (200, vec![], json!({"ok": false, "error": "invalid_auth"}).to_string());
    }
    let earlier = seen.iter().filter(|c| c.path == call.path).count();
    let ok = |v: Value| {
        let mut v = v;
        v["ok"] = json!(true);
        (200, vec![], v.to_string())
    };
    match call.method() {
        // The first message is rate-limited: the client waits and sends it again.
        "chat.postMessage" if earlier == 0 => (429, vec![("Retry-After".into(), "1".into())], String::new()),
        "chat.postMessage" => {
            let body = call.json();
            if body["channel"].as_str().is_none_or(|c| !c.starts_with('C')) {
                return (200, vec![], json!({"ok": false, "error": "channel_not_found"}).to_string());
            }
            ok(json!({"channel": body["channel"], "ts": format!("1749722000.{:06}", earlier)}))
        }
        "views.open" => ok(json!({"view": {"id": "V0ANALYZE1"}})),
        "users.info" => ok(json!({"user": {"id": call.form()["user"], "tz": "Asia/Tokyo", "tz_offset": 32400}})),
        "files.getUploadURLExternal" => {
            let n = seen.iter().filter(|c| c.method() == "files.getUploadURLExternal").count();
            ok(json!({"upload_url": format!("{base}/upload/F{n}"), "file_id": format!("F{n}")}))
        }
        "files.completeUploadExternal" => ok(json!({"files": call.json()["files"]})),
        _ => (200, vec![], json!({"ok": false, "error": "unknown_method"}).to_string()),
    }
}

fn serve_slack() -> FakeSlack {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let calls = Arc::new(Mutex::new(Vec::new()));
    let (rec, base) = (Arc::clone(&calls), url.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (rec, base) = (Arc::clone(&rec), base.clone());
            std::thread::spawn(move || {
                let _ = exchange(stream, &rec, &base);
            });
        }
    });
    FakeSlack { url, calls }
}

fn exchange(stream: TcpStream, calls: &Mutex<Vec<Call>>, base: &str) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let mut headers = BTreeMap::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let len = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        let call = Call { path, headers, body };
        let (status, extra, text) = {
            let mut seen = calls.lock().unwrap();
            let a = answer(&call, base, &seen);
            seen.push(call);
            a
        };
        let mut out = stream.try_clone()?;
        write!(out, "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n", text.len())?;
        for (k, v) in extra {
            write!(out, "{k}: {v}\r\n")?;
        }
        write!(out, "\r\n{text}")?;
        out.flush()?;
    }
}

/// Slack's headers for `body` sent at `ts`.
fn signed(body: &[u8], ts: i64, content_type: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    let sig = SigningSecret::new(SIGNING_SECRET).sign(&ts.to_string(), body);
    h.insert("x-slack-request-timestamp", HeaderValue::from_str(&ts.to_string()).unwrap());
    h.insert("x-slack-signature", HeaderValue::from_str(&sig).unwrap());
    h.insert("content-type", HeaderValue::from_str(content_type).unwrap());
    h
}

const FORM: &str = "application/x-www-form-urlencoded";

async fn slack_service(fake: &FakeSlack) -> SlackService {
    let aws = common::aws(&fake.url).await;
    SlackService {
        secret: SigningSecret::new(SIGNING_SECRET),
        api: SlackApi::new(&format!("{}/api", fake.url), BOT_TOKEN.into()).unwrap(),
        worker: Box::new(LambdaWorker::new(&aws, WORKER)),
        log_groups: GROUPS.map(String::from).to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_not_signed_by_slack_are_refused_and_start_nothing() {
    let fake = serve_slack();
    let service = slack_service(&fake).await;
    let body = fixture("slack/slash-command.form").into_bytes();
    let now = Timestamp::now();
    let t = now.as_second();

    let mut forged = signed(&body, t, FORM);
    forged.insert(
        "x-slack-signature",
        HeaderValue::from_str(&SigningSecret::new("not-the-secret").sign(&t.to_string(), &body)).unwrap(),
    );
    let replayed = signed(&body, t - 301, FORM);
    let mut unsigned = signed(&body, t, FORM);
    unsigned.remove("x-slack-signature");
    let mut no_time = signed(&body, t, FORM);
    no_time.remove("x-slack-request-timestamp");
    let mut tampered = body.clone();
    tampered.extend_from_slice(b"&text=analyze+alarm+x");
    for (what, headers, body) in [
        ("forged", &forged, &body),
        ("replayed", &replayed, &body),
        ("unsigned", &unsigned, &body),
        ("no timestamp", &no_time, &body),
        ("tampered body", &signed(&body, t, FORM), &tampered),
    ] {
        let a = service.handle(headers, body, now).await;
        assert_eq!(a.status, 401, "{what}: {a:?}");
        assert_eq!(a.body, Some(json!({"error": "the request is not signed by Slack"})), "{what}");
    }
    assert!(fake.calls.lock().unwrap().is_empty(), "nothing ran: {:?}", fake.calls.lock().unwrap());

    // The Events API's URL check is answered once signed.
    let check = fixture("slack/url-verification.json").into_bytes();
    let a = service.handle(&signed(&check, t, "application/json"), &check, now).await;
    assert_eq!(a.body.unwrap()["challenge"], "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_form_opens_and_its_submission_starts_one_run() {
    let fake = serve_slack();
    let service = slack_service(&fake).await;
    let now = Timestamp::now();
    let t = now.as_second();

    // `/opslake analyze` opens the modal with the command's trigger_id.
    let body = fixture("slack/slash-command.form").into_bytes();
    let a = service.handle(&signed(&body, t, FORM), &body, now).await;
    assert_eq!((a.status, &a.body), (200, &None), "{a:?}");
    let opened = fake.calls("views.open");
    assert_eq!(opened.len(), 1);
    let view = &opened[0].json();
    assert_eq!(view["trigger_id"], "13345224609.738474920.8088930838d88f008e0");
    assert_eq!(view["view"]["callback_id"], "opslake-analyze");
    assert_eq!(view["view"]["private_metadata"], "{\"channel\":\"C0123456789\"}");

    // The message shortcut on an alarm notification: the modal at the message's time, with
    // the alarm's name, answering in the message's thread.
    let body = interaction("slack/message-shortcut.json");
    let a = service.handle(&signed(&body, t, FORM), &body, now).await;
    assert_eq!(a.status, 200);
    let v = fake.calls("views.open")[1].json();
    assert_eq!(v["view"]["blocks"][0]["element"]["initial_date_time"], 1749721292);
    assert_eq!(v["view"]["blocks"][1]["element"]["initial_value"], "orders-target-5xx");
    assert_eq!(v["view"]["private_metadata"], "{\"channel\":\"C0ALARMS01\",\"thread_ts\":\"1749721292.000200\"}");

    // The submission starts the worker once, asynchronously, under the view's id.
    let body = interaction("slack/view-submission.json");
    let a = service.handle(&signed(&body, t, FORM), &body, now).await;
    assert_eq!((a.status, &a.body), (200, &None), "the modal closes: {a:?}");
    let jobs = fake.invocations();
    assert_eq!(jobs.len(), 1);
    let job: Job = serde_json::from_value(jobs[0].clone()).unwrap();
    assert_eq!(job.key, "slack:V0ANALYZE1");
    assert_eq!(job.when, When::At { at: Timestamp::from_second(1749721500).unwrap() });
    assert_eq!(job.note.as_deref(), Some("checkout returns 502 since ~18:40 JST"));
    assert_eq!(job.reply.channel, "C0123456789");
    assert_eq!(job.reply.user.as_deref(), Some("U0AB12CDE"));

    // Slack's retry of the same delivery is acknowledged and dropped.
    let mut retry = signed(&body, t, FORM);
    retry.insert("x-slack-retry-num", HeaderValue::from_static("1"));
    retry.insert("x-slack-retry-reason", HeaderValue::from_static("http_timeout"));
    let a = service.handle(&retry, &body, now).await;
    assert_eq!((a.status, a.no_retry), (200, true));
    assert_eq!(fake.invocations().len(), 1, "a retry starts nothing");

    // A submission without a time or an alarm is answered on the form.
    let mut empty: Value = serde_json::from_str(&fixture("slack/view-submission.json")).unwrap();
    empty["view"]["state"]["values"]["when"]["at"]["selected_date_time"] = Value::Null;
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &empty.to_string())
        .finish()
        .into_bytes();
    let a = service.handle(&signed(&body, t, FORM), &body, now).await;
    assert_eq!(a.body.unwrap()["errors"]["when"], "choose a time, or name an alarm");
    assert_eq!(fake.invocations().len(), 1);
}

/// A table like the template's on `moto_server`: key `pk`, TTL on `expires_at`.
fn create_table(moto: &support::Moto) {
    for (target, body) in [
        (
            "CreateTable",
            json!({"TableName": TABLE, "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}),
        ),
        (
            "UpdateTimeToLive",
            json!({"TableName": TABLE, "TimeToLiveSpecification": {"Enabled": true, "AttributeName": "expires_at"}}),
        ),
    ] {
        let addr = moto.url.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).unwrap();
        let text = body.to_string();
        write!(s, "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: DynamoDB_20120810.{target}\r\nContent-Type: application/x-amz-json-1.0\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20250612/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}", text.len()).unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        assert!(resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200"), "{target}: {resp}");
    }
}

async fn worker(fake: &FakeSlack, cloud: &common::cloud::Cloud, moto: &support::Moto) -> AnalyzeService {
    let live_aws = common::aws(&cloud.fake.url).await;
    let ledger_aws = common::aws(&moto.url).await;
    AnalyzeService {
        aws: live_aws,
        source: common::example_mirror(),
        layout: common::example_layout(),
        model: Box::new(NoModel),
        ledger: Ledger::new(&ledger_aws, TABLE),
        slack: Some(SlackApi::new(&format!("{}/api", fake.url), BOT_TOKEN.into()).unwrap()),
        settings: Settings {
            home_account: "111111111111".into(),
            home_region: "ap-northeast-1".into(),
            // The same groups in the home account (a person's request reads there) and in the
            // alarm's account.
            log_groups: ["111111111111", "222222222222"]
                .iter()
                .flat_map(|a| {
                    GROUPS.map(|g| PlacedGroup {
                        account: a.to_string(),
                        region: "ap-northeast-1".into(),
                        name: g.into(),
                    })
                })
                .collect(),
            namespaces: vec!["AWS/ApplicationELB".into(), "AWS/Lambda".into(), "AWS/RDS".into()],
            xray: true,
            zone: jiff::tz::TimeZone::UTC,
            language: Language::En,
            max_tokens: 1000,
            redaction: Redaction::default(),
            quiet: Duration::from_secs(30 * 60),
            // The fakes answer in one account: no role to assume.
            reader_role: None,
            channel: Some("C0ALARMS01".into()),
        },
    }
}

/// A Function URL event as Lambda hands it to the `slack` function: Slack's headers, the body
/// base64-encoded (as Function URLs pass form bodies).
fn url_event(body: &[u8], ts: i64) -> aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest {
    use base64::Engine as _;
    let path: PathBuf =
        [env!("CARGO_MANIFEST_DIR"), "../runtime/tests/fixtures/function-url-post.json"].iter().collect();
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let sig = SigningSecret::new(SIGNING_SECRET).sign(&ts.to_string(), body);
    v["headers"] = json!({"content-type": FORM, "x-slack-request-timestamp": ts.to_string(),
        "x-slack-signature": sig, "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)"});
    v["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
    v["isBase64Encoded"] = json!(true);
    serde_json::from_value(v).unwrap()
}

/// Signed request → acknowledgement → the worker, invoked with what the handler sent → the
/// message and the report in the thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_answered_in_the_thread_with_the_report_as_a_file() {
    let moto = support::start_moto();
    create_table(&moto);
    let (fake, cloud) = (serve_slack(), common::cloud::serve_cloud(common::cloud::Insights::Completes));
    let (service, w) = (slack_service(&fake).await, worker(&fake, &cloud, &moto).await);

    // The message shortcut on the alarm notification, then the form's submission, through the
    // Function URL adapter (base64 body, headers from the event).
    let t = Timestamp::now().as_second();
    let shortcut = interaction("slack/message-shortcut.json");
    let resp = service.handle_url(url_event(&shortcut, t)).await;
    assert_eq!((resp.status_code, &resp.body), (200, &None), "{resp:?}");
    let view = &fake.calls("views.open")[0].json()["view"];
    let mut submission: Value = serde_json::from_str(&fixture("slack/view-submission.json")).unwrap();
    submission["view"]["private_metadata"] = view["private_metadata"].clone();
    submission["view"]["state"]["values"]["when"]["at"]["selected_date_time"] = json!(1749721500);
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &submission.to_string())
        .finish()
        .into_bytes();
    let resp = service.handle_url(url_event(&body, t)).await;
    assert_eq!((resp.status_code, &resp.body), (200, &None), "{resp:?}");
    let jobs = fake.invocations();
    assert_eq!(jobs.len(), 1);

    // The worker gets what the handler sent.
    let out = w.handle(&jobs[0], Timestamp::now()).await.unwrap();
    assert_eq!(out["runs"][0]["status"], "done", "{out}");
    let live: Vec<String> = cloud.fake.calls.lock().unwrap().iter().map(|(op, _)| op.clone()).collect();
    for op in ["StartQuery", "GetMetricData", "/TraceSummaries"] {
        assert!(live.iter().any(|o| o == op), "cloud mode read {op}: {live:?}");
    }
    assert_eq!(fake.calls("users.info")[0].form()["user"], "U0AB12CDE");
    let posts = fake.calls("chat.postMessage");
    assert_eq!(posts.len(), 2, "one 429, then the message");
    let msg = posts[1].json();
    assert_eq!((msg["channel"].as_str(), msg["thread_ts"].as_str()), (Some("C0ALARMS01"), Some("1749721292.000200")));
    let shown = msg["blocks"].to_string();
    assert!(shown.contains("RevokeSecurityGroupIngress"), "the top hypothesis: {shown}");
    assert!(shown.contains("+09:00") && shown.contains("Asia/Tokyo"), "times in the asker's zone: {shown}");
    assert!(shown.contains("checkout returns 502"), "the asker's words: {shown}");
    assert!(shown.contains("<@U0AB12CDE>"));
    let got = fake.calls("files.getUploadURLExternal");
    assert_eq!(got.len(), 1);
    let uploaded = fake.calls("/upload/F0");
    assert_eq!(got[0].form()["length"], uploaded[0].body.len().to_string());
    let report = String::from_utf8(uploaded[0].body.clone()).unwrap();
    assert!(report.starts_with("# ") && report.contains("RevokeSecurityGroupIngress"), "{report}");
    let done = fake.calls("files.completeUploadExternal")[0].json();
    assert_eq!(done["files"][0]["id"], "F0");
    assert_eq!(
        (done["channel_id"].as_str(), done["thread_ts"].as_str()),
        (Some("C0ALARMS01"), Some("1749721292.000200"))
    );
    assert!(fake.calls("files.upload").is_empty(), "the retired upload method is never called");

    // The same job again (Lambda's retry of an asynchronous invocation): not run twice.
    let again = w.handle(&jobs[0], Timestamp::now()).await.unwrap();
    assert_eq!(again["runs"][0]["status"], "duplicate");
    assert_eq!(fake.calls("chat.postMessage").len(), 2);

    // A forged request through the adapter is refused as well.
    let mut forged = url_event(&body, t);
    forged.headers.insert("x-slack-signature", HeaderValue::from_static("v0=00"));
    assert_eq!(service.handle_url(forged).await.status_code, 401);
    assert_eq!(fake.invocations().len(), 1);
}

/// Slack's errors reach the caller by name; a rate limit longer than the client waits for is
/// one too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_errors_are_named() {
    use opslake_runtime::slack::api::SlackError;
    let fake = serve_slack();
    let wrong = SlackApi::new(&format!("{}/api", fake.url), "xoxb-revoked".into()).unwrap();
    let e = wrong.views_open("1.2.3", &json!({})).await.unwrap_err();
    assert_eq!(e, SlackError::Api { method: "views.open".into(), error: "invalid_auth".into() });
    let api = SlackApi::new(&format!("{}/api", fake.url), BOT_TOKEN.into()).unwrap();
    let e = api.post_message("#general", None, "x", &json!([])).await.unwrap_err();
    assert_eq!(e, SlackError::Api { method: "chat.postMessage".into(), error: "channel_not_found".into() });
    assert_eq!(fake.calls("chat.postMessage").len(), 2, "the 429 was waited out once, then Slack's error stood");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_starts_one_run_however_often_it_is_delivered() {
    let moto = support::start_moto();
    create_table(&moto);
    let (fake, cloud) = (serve_slack(), common::cloud::serve_cloud(common::cloud::Insights::Completes));
    let w = worker(&fake, &cloud, &moto).await;
    let event: Value = serde_json::from_str(&fixture("alarms/state-change-alarm.json")).unwrap();
    let sns: Value = serde_json::from_str(&fixture("alarms/sns-alarm.json")).unwrap();
    let now: Timestamp = "2025-06-12T09:41:40Z".parse().unwrap();

    // EventBridge and SNS deliver the same alarm at once: one run.
    let (a, b) = tokio::join!(w.handle(&event, now), w.handle(&sns, now));
    let statuses = [a.unwrap()["runs"][0]["status"].clone(), b.unwrap()["runs"][0]["status"].clone()];
    let mut sorted = statuses.iter().map(|s| s.as_str().unwrap_or("")).collect::<Vec<_>>();
    sorted.sort();
    assert_eq!(sorted, ["done", "duplicate"], "{statuses:?}");
    let posts = fake.calls("chat.postMessage");
    assert_eq!(posts.len(), 2, "one 429, then the one message");
    let msg = posts[1].json();
    assert_eq!(msg["channel"], "C0ALARMS01", "alarms answer in the spec's channel");
    assert!(msg["blocks"].to_string().contains("orders-target-5xx"));
    assert!(fake.calls("users.info").is_empty(), "nobody asked: the spec's zone");

    // The alarm flaps: back to ALARM ten minutes later, inside the quiet period: no run.
    let flap = w.handle(&event, "2025-06-12T09:51:40Z".parse().unwrap()).await.unwrap();
    assert_eq!(flap["runs"][0]["status"], "duplicate");
    // Leaving ALARM starts nothing.
    let ok: Value = serde_json::from_str(&fixture("alarms/state-change-ok.json")).unwrap();
    assert_eq!(w.handle(&ok, now).await.unwrap()["status"], "ignored");
    // After the quiet period the alarm starts a run again.
    let later = w.handle(&event, "2025-06-12T10:20:00Z".parse().unwrap()).await.unwrap();
    assert_eq!(later["runs"][0]["status"], "done");
    assert_eq!(fake.calls("chat.postMessage").len(), 3);
}

/// The Slack app's manifest in `examples/slack/` asks for what the app calls and names what
/// the handler answers to.
#[test]
fn the_slack_manifest_matches_the_app() {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "../examples/slack/manifest.yaml"].iter().collect();
    let (node, diags) = opslake::spec::yaml::parse(&std::fs::read(&path).unwrap());
    assert!(diags.is_empty(), "{diags:?}");
    let m = opslake::spec::yaml::to_json(&node.unwrap());
    assert_eq!(m["oauth_config"]["scopes"]["bot"], json!(["commands", "chat:write", "files:write", "users:read"]));
    assert_eq!(m["features"]["slash_commands"][0]["command"], "/opslake");
    let shortcut = &m["features"]["shortcuts"][0];
    assert_eq!(
        (&shortcut["type"], &shortcut["callback_id"]),
        (&json!("message"), &json!(opslake_runtime::slack::blocks::SHORTCUT))
    );
    assert_eq!(m["settings"]["interactivity"]["is_enabled"], true);
    assert_eq!(m["features"]["slash_commands"][0]["url"], m["settings"]["interactivity"]["request_url"]);
}
