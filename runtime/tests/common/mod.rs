//! A small HTTP server on loopback that speaks the AWS JSON-1.1, REST-JSON and RPC v2 CBOR
//! protocols with a scripted handler, recording every call: the stand-in for APIs moto lacks
//! or for failure paths. Handlers see and answer JSON whatever the wire format: a CBOR body is
//! decoded to JSON (timestamps to epoch seconds) and a reply encoded back, where
//! `{"$time": SECONDS}` becomes a CBOR timestamp.
#![allow(dead_code)]

pub mod cloud;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// The handler gets (operation — the X-Amz-Target operation, else the request path — and the
/// JSON body with `__region` and `__access_key` from the SigV4 credential scope, `__api_key`
/// and `__version` added) and answers (status, body).
pub type Handler = dyn Fn(&str, &Value) -> (u16, Value) + Send + Sync;

pub struct FakeAws {
    pub url: String,
    /// (operation, body, region)
    pub calls: Arc<Mutex<Vec<(String, Value)>>>,
    pub regions: Arc<Mutex<Vec<String>>>,
}

pub fn serve(handler: Box<Handler>) -> FakeAws {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let calls = Arc::new(Mutex::new(Vec::new()));
    let regions = Arc::new(Mutex::new(Vec::new()));
    let (rec, reg) = (Arc::clone(&calls), Arc::clone(&regions));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = handle(stream, &*handler, &rec, &reg);
        }
    });
    FakeAws { url, calls, regions }
}

fn handle(
    stream: TcpStream,
    handler: &Handler,
    calls: &Mutex<Vec<(String, Value)>>,
    regions: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let (mut target, mut len, mut region) = (String::new(), 0usize, String::new());
    let (mut api_key, mut version, mut access_key) = (String::new(), String::new(), String::new());
    let mut cbor = false;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap_or((h, ""));
        match k.to_ascii_lowercase().as_str() {
            "x-amz-target" => target = v.trim().to_string(),
            "content-length" => len = v.trim().parse().unwrap_or(0),
            "x-api-key" => api_key = v.trim().to_string(),
            "anthropic-version" => version = v.trim().to_string(),
            "smithy-protocol" => cbor = v.trim() == "rpc-v2-cbor",
            // SigV4: Credential=KEY/DATE/REGION/SERVICE/aws4_request
            "authorization" => {
                if let Some(scope) = v.split("Credential=").nth(1) {
                    region = scope.split('/').nth(2).unwrap_or("").to_string();
                    access_key = scope.split('/').next().unwrap_or("").to_string();
                }
            }
            _ => {}
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    let mut body: Value = if cbor {
        ciborium::from_reader::<ciborium::Value, _>(&body[..]).map(cbor_to_json).unwrap_or(Value::Null)
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    // JSON-1.1 APIs name the operation in X-Amz-Target, RPC v2 in the path's last segment
    // (`/service/S/operation/OP`); REST APIs by the path.
    let op = if !target.is_empty() {
        target.rsplit('.').next().unwrap_or("").to_string()
    } else if cbor {
        path.rsplit('/').next().unwrap_or("").to_string()
    } else {
        path.clone()
    };
    if let Value::Object(m) = &mut body {
        m.insert("__region".into(), Value::String(region.clone()));
        m.insert("__api_key".into(), Value::String(api_key));
        m.insert("__version".into(), Value::String(version));
        m.insert("__access_key".into(), Value::String(access_key));
    }
    calls.lock().unwrap().push((op.clone(), body.clone()));
    regions.lock().unwrap().push(region);
    let (status, reply) = handler(&op, &body);
    let mut out = stream;
    if cbor {
        let mut bytes = Vec::new();
        ciborium::into_writer(&json_to_cbor(&reply), &mut bytes).expect("a CBOR reply");
        write!(out, "HTTP/1.1 {status} X\r\nContent-Type: application/cbor\r\nsmithy-protocol: rpc-v2-cbor\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", bytes.len())?;
        out.write_all(&bytes)?;
        return out.flush();
    }
    let text = reply.to_string();
    write!(out, "HTTP/1.1 {status} X\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}", text.len())?;
    out.flush()
}

/// A CBOR value as JSON: tags (timestamps) dropped to their content, bytes as an array.
fn cbor_to_json(v: ciborium::Value) -> Value {
    use ciborium::Value as C;
    match v {
        C::Integer(i) => Value::from(i128::from(i) as i64),
        C::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        C::Text(s) => Value::String(s),
        C::Bool(b) => Value::Bool(b),
        C::Null => Value::Null,
        C::Tag(_, inner) => cbor_to_json(*inner),
        C::Array(a) => Value::Array(a.into_iter().map(cbor_to_json).collect()),
        C::Map(m) => {
            Value::Object(m.into_iter().filter_map(|(k, v)| Some((k.into_text().ok()?, cbor_to_json(v)))).collect())
        }
        C::Bytes(b) => Value::Array(b.into_iter().map(Value::from).collect()),
        _ => Value::Null,
    }
}

/// JSON as CBOR; `{"$time": SECONDS}` is a timestamp (tag 1).
fn json_to_cbor(v: &Value) -> ciborium::Value {
    use ciborium::Value as C;
    match v {
        Value::Null => C::Null,
        Value::Bool(b) => C::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => C::Integer(i.into()),
            None => C::Float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => C::Text(s.clone()),
        Value::Array(a) => C::Array(a.iter().map(json_to_cbor).collect()),
        Value::Object(m) => match m.get("$time") {
            Some(t) if m.len() == 1 => C::Tag(1, Box::new(C::Float(t.as_f64().unwrap_or(0.0)))),
            _ => C::Map(m.iter().map(|(k, v)| (C::Text(k.clone()), json_to_cbor(v))).collect()),
        },
    }
}

/// A connection to the test server `url` in us-east-1, with the static test credentials.
pub async fn aws(url: &str) -> opslake_runtime::aws::Aws {
    credentials();
    let conn = opslake_runtime::aws::Connection {
        endpoint_url: Some(url.to_string()),
        region: Some("us-east-1".into()),
        profile: None,
    };
    conn.load(None).await
}

/// Static test credentials for the standard AWS credential chain; no shared config files.
pub fn credentials() {
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/opslake-test");
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/opslake-test");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
}

/// The layout of the example mirror's `acme` lake (`examples/logs/`, examples/specs/full.yaml).
pub fn example_layout() -> opslake_runtime::lake::LakeLayout {
    serde_json::from_value(serde_json::json!({
        "database": "acme_opslake", "bucket": "acme-log-archive-111111111111", "prefix": "",
        "organization_trail": "o-a1b2c3d4e5", "accounts": ["111111111111", "222222222222"],
        "regions": ["ap-northeast-1", "us-east-1"], "start": "2024-01-01", "end": null,
        "cloudtrail": true, "config": true,
        "alb": [{"region": "ap-northeast-1", "bucket": "acme-alb-logs-apne1", "prefix": ""}],
        "app_logs": true, "metrics": true
    }))
    .unwrap()
}

/// The example mirror, read as of a fixed day.
pub fn example_mirror() -> opslake_runtime::source::Source {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/logs");
    opslake_runtime::source::Source::Mirror {
        mirror: opslake_runtime::engine::local::Mirror::new(root),
        today: jiff::civil::date(2026, 11, 27),
    }
}

/// Every file under `dir`, sorted (tests read the example mirror's files directly with it).
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())).flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}
