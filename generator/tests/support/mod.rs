//! Shared helpers for the generator's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use opslake::render::OutputFile;
use opslake::spec::{self, Spec};

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// The fixed "today" of the tests, so validation never depends on the clock.
pub fn today() -> jiff::civil::Date {
    jiff::civil::date(2026, 11, 27)
}

pub fn load_spec_text(text: &str) -> Spec {
    let loaded = spec::load(text.as_bytes(), today());
    let errors: Vec<_> = loaded.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.render("spec", text)).collect();
    assert!(errors.is_empty(), "spec has errors:\n{}", errors.join(""));
    loaded.spec.expect("spec")
}

pub fn example(name: &str) -> String {
    let path = workspace().join("examples/specs").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Renders a spec in memory (what `opslake generate` would write).
pub fn generate(spec: &Spec) -> Vec<OutputFile> {
    let plan = opslake::plan::plan(spec).unwrap_or_else(|e| panic!("plan: {e:?}"));
    let tera = opslake::render::engine(None).expect("templates");
    opslake::render::render(&plan, &tera).unwrap_or_else(|e| panic!("render: {e}"))
}

pub fn write_files(dir: &Path, files: &[OutputFile]) {
    std::fs::create_dir_all(dir).unwrap();
    for f in files {
        std::fs::write(dir.join(&f.name), &f.bytes).unwrap();
    }
}

/// Debian's `chromium`, for the tests that open a page in a real browser. Missing, the test
/// fails with the command that installs it (`./scripts/test` does).
pub fn chromium() -> PathBuf {
    let found = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("chromium")).find(|c| c.exists()));
    found.unwrap_or_else(|| {
        panic!(
            "chromium is missing. Run ./scripts/test (it installs the Debian packages the tests need), \
             or: sudo apt-get install --no-install-recommends chromium fonts-ipafont-gothic"
        )
    })
}

/// A Python tool installed by `./scripts/test` into the project's virtualenvs. A missing
/// tool fails the test with the command that installs it (never a silent skip).
pub fn tool(venv: &str, name: &str) -> PathBuf {
    let dir = std::env::var_os("OPSLAKE_VENV_DIR").map(PathBuf::from).unwrap_or_else(|| workspace().join(".venv"));
    let path = dir.join(venv).join("bin").join(name);
    assert!(
        path.exists(),
        "{} is missing. Run ./scripts/test (it creates the project virtualenvs under .venv/), \
         or install it by hand: python3 -m venv .venv/{venv} && .venv/{venv}/bin/pip install -r scripts/requirements-{venv}.txt",
        path.display()
    );
    path
}

pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the CLI in-process.
pub fn cli(args: &[&str]) -> (u8, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = opslake::cli::run(std::iter::once("opslake").chain(args.iter().copied()), &mut out, &mut err);
    (code, String::from_utf8_lossy(&out).into_owned(), String::from_utf8_lossy(&err).into_owned())
}

/// A `moto_server` on a free loopback port, stopped when dropped. It is started through
/// `support/moto_server.py`, which gives moto's CloudFormation the outputs of change-set stacks
/// and the trail, delivery stream and Function URL resources it otherwise skips.
pub struct Moto {
    child: std::process::Child,
    pub url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_moto() -> Moto {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let launcher = workspace().join("generator/tests/support/moto_server.py");
    let child = Command::new(tool("tools", "python"))
        .arg(launcher)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start moto_server");
    // Owned by the guard from here on: dropped (killed and waited for) on every path.
    let moto = Moto { child, url: format!("http://127.0.0.1:{port}") };
    for _ in 0..600 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return moto;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("moto_server did not start on port {port}");
}

/// Static test credentials for the standard AWS credential chain; no shared config files.
pub fn test_credentials() {
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/opslake-test");
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/opslake-test");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
}

/// POSTs JSON to a local HTTP server; returns the status code.
pub fn http_post(url: &str, path: &str, body: &serde_json::Value) -> u16 {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let text = body.to_string();
    write!(s, "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}", text.len()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// cfn-guard and the Control Tower rules, installed by `./scripts/test` from npm into the
/// project's tool directory (`scripts/npm-guard.txt`): (binary, Control Tower rules dir). A
/// missing install fails the test with the command that installs it.
pub fn guard() -> (PathBuf, PathBuf) {
    let dir = std::env::var_os("OPSLAKE_VENV_DIR").map(PathBuf::from).unwrap_or_else(|| workspace().join(".venv"));
    let package = dir.join("guard/node_modules/@cdklabs/cdk-validator-cfnguard");
    let arch = if std::env::consts::ARCH == "aarch64" { "aarch64" } else { "x86_64" };
    let bin = package.join("bin/ubuntu").join(arch).join("cfn-guard");
    assert!(
        bin.exists(),
        "{} is missing. Run ./scripts/test (it installs it with npm into .venv/guard), or by hand: \
         npm install --prefix .venv/guard --no-save --legacy-peer-deps $(grep -v '^#' scripts/npm-guard.txt)",
        bin.display()
    );
    (bin, package.join("rules/control-tower/cfn-guard"))
}
