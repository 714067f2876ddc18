//! Handler smoke test: `cargo lambda watch` runs the real `query` binary of the runtime crate
//! (the Lambda runtime client, the Function URL adapter, the configuration read from the
//! environment) and the test invokes it through the Lambda Invoke API on loopback, with the
//! environment the generated template gives the function and Athena answered by `moto_server`.
//!
//! cargo-lambda comes from the tools virtualenv (`scripts/requirements-tools.txt`); a missing
//! one fails the test with the command that installs it.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

/// The binary `cargo lambda watch` serves; the Invoke API names functions by binary.
const FUNCTION: &str = "query";
/// `cargo lambda watch` binds its port within a second or two.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(60);
/// The first invocation starts the function with `cargo run`: in the dev profile, with the
/// runtime crate's own features, which `cargo test` does not build, so a cold target
/// directory compiles the binary and its AWS SDK crates here (a few minutes on 2 cores), maybe
/// after waiting for another build's lock on the target directory.
const FIRST_INVOKE_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// Later invocations reach the running function.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);

/// What `cargo test` sets for a test binary (besides `CARGO_PKG_*` and `CARGO_BIN_EXE_*`).
const CARGO_TEST_VARS: &[&str] = &[
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_MANIFEST_LINKS",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "OUT_DIR",
];

/// `cargo lambda watch`, running in its own process group; the whole group (watch, `cargo
/// run`, the function) is killed when this is dropped, on every path including a panic.
struct Watch {
    child: Child,
    log: PathBuf,
    port: u16,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.child.id())]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Watch {
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(6000);
        let start = (start..text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
        format!("--- cargo lambda watch log ({}) ---\n{}", self.log.display(), &text[start..])
    }

    /// Fails the test when watch, or the function it started, has exited.
    fn check_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("cargo lambda watch exited ({status})\n{}", self.log_tail());
        }
        // watch keeps running when the function dies at start-up, and the invocation then waits
        // forever: fail at once instead.
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        if text.contains("command exited") {
            panic!("the function exited\n{}", self.log_tail());
        }
    }

    /// POSTs `event` to the Lambda Invoke API; returns the HTTP status and the payload.
    fn invoke(&mut self, event: &Value, timeout: Duration) -> (u16, Value) {
        let started = Instant::now();
        let body = event.to_string();
        let mut s = TcpStream::connect(("127.0.0.1", self.port))
            .unwrap_or_else(|e| panic!("connect: {e}\n{}", self.log_tail()));
        s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        // HTTP/1.0: the server closes the connection after the answer, which is not chunked.
        write!(
            s,
            "POST /2015-03-31/functions/{FUNCTION}/invocations HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.port,
            body.len()
        )
        .unwrap();
        let mut raw = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    self.check_alive();
                    assert!(
                        started.elapsed() < timeout,
                        "no answer from the Invoke API within {timeout:?}\n{}",
                        self.log_tail()
                    );
                }
                Err(e) => panic!("reading the answer: {e}\n{}", self.log_tail()),
            }
        }
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, payload) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("not HTTP: {text}"));
        let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let payload = serde_json::from_str(payload).unwrap_or_else(|e| panic!("payload is not JSON ({e}): {text}"));
        (status, payload)
    }
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// PATH with the tools virtualenv first, so that `cargo lambda` finds `cargo-lambda`.
fn tools_path(cargo_lambda: &Path) -> std::ffi::OsString {
    let bin = cargo_lambda.parent().unwrap().to_path_buf();
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&rest))).unwrap()
}

/// The `query` function's environment as the generated central template sets it.
fn template_environment(spec: &str) -> (String, serde_json::Map<String, Value>) {
    let spec = load_spec_text(&example(spec));
    let files = generate(&spec);
    let central = files.iter().find(|f| f.name == "central.yaml").expect("central.yaml");
    let central = opslake::render::parse_back("central.yaml", &central.bytes).unwrap();
    let props = &central["Resources"]["QueryFunction"]["Properties"];
    let vars = props["Environment"]["Variables"].as_object().expect("QueryFunction environment").clone();
    assert!(vars.contains_key("OPSLAKE_LAYOUT") && vars.contains_key("OPSLAKE_WORKGROUP"), "{vars:?}");
    (spec.home.region.clone(), vars)
}

fn start_watch(cargo_lambda: &Path, env: &[(String, String)], dir: &Path) -> Watch {
    use std::os::unix::process::CommandExt;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log = dir.join("watch.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut cmd = Command::new(cargo());
    // Without the variables `cargo test` sets for this test binary: build scripts track some of
    // them (ring's tracks CARGO_MANIFEST_DIR), and a difference rebuilds half the dependencies.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if CARGO_TEST_VARS.contains(&&*key) || key.starts_with("CARGO_PKG_") || key.starts_with("CARGO_BIN_EXE_") {
            cmd.env_remove(&*key);
        }
    }
    cmd.current_dir(workspace())
        .args(["lambda", "watch", "--package", "opslake-runtime", "--ignore-changes"])
        .args(["--invoke-address", "127.0.0.1", "--invoke-port", &port.to_string()])
        .env("PATH", tools_path(cargo_lambda))
        .env("NO_COLOR", "1")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .process_group(0);
    let child = cmd.spawn().expect("start cargo lambda watch");
    // Owned by the guard from here on.
    let mut watch = Watch { child, log, port };
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        watch.check_alive();
        assert!(
            started.elapsed() < LISTEN_TIMEOUT,
            "cargo lambda watch did not listen on {port}\n{}",
            watch.log_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    watch
}

/// A Function URL event (the shape Lambda sends for a Function URL request) with `body`.
fn url_event(body: &str) -> Value {
    let path = workspace().join("runtime/tests/fixtures/function-url-post.json");
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    event["body"] = json!(body);
    event["isBase64Encoded"] = json!(false);
    event
}

/// The function's Function URL answer inside an Invoke API payload: (status, JSON body).
fn url_answer(status: u16, payload: &Value) -> (i64, Value) {
    assert_eq!(status, 200, "the Invoke API answered {status}: {payload}");
    assert_eq!(payload["headers"]["content-type"], "application/json", "{payload}");
    let body = payload["body"].as_str().unwrap_or_else(|| panic!("no body: {payload}"));
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {payload}"));
    (payload["statusCode"].as_i64().unwrap_or(0), body)
}

#[test]
fn cargo_lambda_watch_serves_the_query_function() {
    let started = Instant::now();
    let cargo_lambda = tool("tools", "cargo-lambda");
    let (region, vars) = template_environment("full.yaml");
    let workgroup = vars["OPSLAKE_WORKGROUP"].as_str().unwrap().to_string();

    // Athena: the workgroup the central template creates, and one seeded result set.
    let moto = start_moto();
    test_credentials();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let athena = rt.block_on(async {
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&moto.url)
            .region(aws_config::Region::new(region.clone()))
            .load()
            .await;
        let athena = aws_sdk_athena::Client::new(&conf);
        athena.create_work_group().name(&workgroup).send().await.unwrap();
        athena
    });
    let column = |name: &str, ty: &str| json!({"CatalogName": "hive", "SchemaName": "acme_opslake", "TableName": "cloudtrail", "Name": name, "Label": name, "Type": ty, "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": true});
    let cell = |v: &str| json!({"VarCharValue": v});
    let seeded = json!({
        "account_id": "123456789012",
        "region": region,
        "results": [{
            "rows": [
                {"Data": [cell("eventsource"), cell("eventname"), cell("calls"), cell("errors")]},
                {"Data": [cell("ec2.amazonaws.com"), cell("RunInstances"), cell("42"), cell("3")]},
                {"Data": [cell("s3.amazonaws.com"), cell("CreateBucket"), cell("7"), cell("0")]}
            ],
            "column_info": [column("eventsource", "varchar"), column("eventname", "varchar"), column("calls", "bigint"), column("errors", "bigint")]
        }]
    });
    assert_eq!(http_post(&moto.url, "/moto-api/static/athena/query-results", &seeded), 201);

    // The template's variables, plus what Lambda itself provides (region, credentials) and the
    // endpoint of the local Athena.
    let mut env: Vec<(String, String)> =
        vars.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string))).collect();
    for (k, v) in [
        ("AWS_REGION", region.as_str()),
        ("AWS_DEFAULT_REGION", region.as_str()),
        ("AWS_ENDPOINT_URL", moto.url.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_CONFIG_FILE", "/nonexistent/opslake-test"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/opslake-test"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ] {
        env.push((k.into(), v.into()));
    }
    let dir = tempfile::tempdir().unwrap();
    let mut watch = start_watch(&cargo_lambda, &env, dir.path());

    // Bad requests: the handler's documented 400 bodies. The first one waits for `cargo run`.
    let first = Instant::now();
    let (status, payload) = watch.invoke(&url_event(r#"{"name": "nope", "params": {}}"#), FIRST_INVOKE_TIMEOUT);
    eprintln!("first answer (cargo run, function start): {:.1} s", first.elapsed().as_secs_f64());
    let (code, body) = url_answer(status, &payload);
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["status"], "BAD_REQUEST", "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.contains("no query named `nope`") && error.contains("event-counts"), "{body}");

    let (code, body) = url_answer_of(&mut watch, "not json");
    assert_eq!(code, 400, "{body}");
    assert!(body["error"].as_str().unwrap_or_default().starts_with("expected {\"name\": QUERY"), "{body}");

    let (code, body) =
        url_answer_of(&mut watch, r#"{"name": "config-changes", "params": {"year": "2025", "month": "13"}}"#);
    assert_eq!(code, 400, "{body}");
    assert!(body["error"].as_str().unwrap_or_default().contains("not a month"), "{body}");

    // A good request: Athena (moto) runs it in the template's workgroup with execution parameters.
    let (code, body) = url_answer_of(
        &mut watch,
        r#"{"name": "event-counts", "params": {"from": "2025-03-01", "to": "2025-03-31", "account": "111111111111"}}"#,
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "SUCCEEDED", "{body}");
    assert_eq!(body["columns"], json!(["eventsource", "eventname", "calls", "errors"]), "{body}");
    assert_eq!(
        body["rows"],
        json!([
            {"eventsource": "ec2.amazonaws.com", "eventname": "RunInstances", "calls": 42, "errors": 3},
            {"eventsource": "s3.amazonaws.com", "eventname": "CreateBucket", "calls": 7, "errors": 0}
        ]),
        "{body}"
    );
    let id = body["query"]["id"].as_str().unwrap_or_else(|| panic!("no query id: {body}")).to_string();
    let execution = rt.block_on(async { athena.get_query_execution().query_execution_id(&id).send().await.unwrap() });
    let execution = execution.query_execution().unwrap();
    assert_eq!(execution.work_group(), Some(workgroup.as_str()));
    let params = execution.execution_parameters();
    assert!(params.contains(&"'111111111111'".to_string()), "{params:?}");
    let sql = execution.query().unwrap_or_default();
    assert!(sql.contains('?') && !sql.contains("111111111111"), "values travel as parameters: {sql}");

    drop(watch);
    eprintln!("handler smoke test: {:.1} s", started.elapsed().as_secs_f64());
}

fn url_answer_of(watch: &mut Watch, body: &str) -> (i64, Value) {
    let (status, payload) = watch.invoke(&url_event(body), INVOKE_TIMEOUT);
    url_answer(status, &payload)
}
