//! A small HTTP server on loopback that speaks the AWS JSON-1.1 protocol with a scripted
//! handler, recording every call: the stand-in for APIs moto lacks or for failure paths.
#![allow(dead_code)]

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
    let mut body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    // JSON-1.1 APIs name the operation in X-Amz-Target; REST APIs by the path.
    let op = if target.is_empty() { path.clone() } else { target.rsplit('.').next().unwrap_or("").to_string() };
    if let Value::Object(m) = &mut body {
        m.insert("__region".into(), Value::String(region.clone()));
        m.insert("__api_key".into(), Value::String(api_key));
        m.insert("__version".into(), Value::String(version));
        m.insert("__access_key".into(), Value::String(access_key));
    }
    calls.lock().unwrap().push((op.clone(), body.clone()));
    regions.lock().unwrap().push(region);
    let (status, reply) = handler(&op, &body);
    let text = reply.to_string();
    let mut out = stream;
    write!(out, "HTTP/1.1 {status} X\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}", text.len())?;
    out.flush()
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
