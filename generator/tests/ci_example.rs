//! Keeps `examples/ci/github-actions.yml` honest without a network: the pipeline has the
//! triggers, permissions and concurrency the README promises, every `opslake …` command in it
//! parses with the current CLI, the pull-request commands succeed on a real spec (and the
//! `--check` gate fails on drift), and actionlint (with shellcheck) finds nothing.

mod support;

use std::process::Command;

use clap::Parser;
use serde_json::Value;
use support::*;

const WORKFLOW: &str = "examples/ci/github-actions.yml";

fn workflow() -> Value {
    let path = workspace().join(WORKFLOW);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    opslake::render::parse_back(WORKFLOW, &bytes).unwrap_or_else(|e| panic!("{e}"))
}

fn job<'a>(wf: &'a Value, name: &str) -> &'a Value {
    wf["jobs"].get(name).unwrap_or_else(|| panic!("{WORKFLOW} has no job `{name}`"))
}

fn steps(job: &Value) -> &[Value] {
    job["steps"].as_array().map(Vec::as_slice).unwrap_or_else(|| panic!("a job without steps: {job}"))
}

/// The shell commands of a job's `run` steps, one per line (`\` continuations joined).
fn run_lines(job: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    for step in steps(job) {
        let Some(script) = step["run"].as_str() else { continue };
        let mut pending = String::new();
        for line in script.lines() {
            let line = line.trim();
            if let Some(part) = line.strip_suffix('\\') {
                pending.push_str(part);
                pending.push(' ');
                continue;
            }
            pending.push_str(line);
            for command in pending.split("&&") {
                let command = command.trim();
                if !command.is_empty() && !command.starts_with('#') {
                    lines.push(command.to_string());
                }
            }
            pending.clear();
        }
    }
    lines
}

/// The `opslake` command lines of a job, as argument vectors.
fn opslake_commands(job: &Value) -> Vec<Vec<String>> {
    run_lines(job)
        .into_iter()
        .filter(|l| l.split_whitespace().next() == Some("opslake"))
        .map(|l| {
            // Plain words only, so that this test reads them as the shell would.
            assert!(
                !l.contains(['$', '`', '"', '\'', '|', '>', '<', ';', '*']),
                "keep opslake command lines to plain words (or teach this test the shell): {l}"
            );
            l.split_whitespace().map(str::to_string).collect()
        })
        .collect()
}

fn uses<'a>(job: &'a Value, action: &str) -> &'a Value {
    steps(job)
        .iter()
        .find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(&format!("{action}@"))))
        .unwrap_or_else(|| panic!("no step uses {action}: {job}"))
}

fn runs(job: &Value, command: &str) -> bool {
    run_lines(job).iter().any(|l| l == command)
}

#[test]
fn the_pipeline_checks_pull_requests_and_deploys_main_with_oidc() {
    let wf = workflow();
    // `on` stays a string key under YAML 1.2 (what GitHub reads it as).
    assert!(wf["on"].get("pull_request").is_some(), "runs on pull requests: {}", wf["on"]);
    assert_eq!(wf["on"]["push"]["branches"], serde_json::json!(["main"]), "runs on pushes to main");
    assert_eq!(wf["permissions"], serde_json::json!({"contents": "read"}), "least privilege by default");

    let check = job(&wf, "check");
    assert!(check.get("if").is_none(), "the checks run on every event");
    let check_commands = opslake_commands(check);
    let expected = ["opslake validate opslake.yaml", "opslake generate opslake.yaml --out generated --check"];
    assert_eq!(check_commands.iter().map(|c| c.join(" ")).collect::<Vec<_>>(), expected);
    assert!(runs(check, "cargo install --path generator --locked"), "{:?}", run_lines(check));

    let deploy = job(&wf, "deploy");
    let condition = deploy["if"].as_str().unwrap_or_default();
    assert!(
        condition.contains("github.event_name == 'push'") && condition.contains("github.ref == 'refs/heads/main'"),
        "deploy only from pushes to main: {condition}"
    );
    assert_eq!(deploy["needs"], "check", "deploy after the checks pass");
    assert_eq!(deploy["permissions"]["id-token"], "write", "OIDC needs an ID token");
    assert_eq!(deploy["permissions"]["contents"], "read");
    assert!(deploy["concurrency"]["group"].as_str().is_some_and(|g| !g.contains("${{")), "one fixed deploy group");
    assert_eq!(deploy["concurrency"]["cancel-in-progress"], false, "a deploy is never cancelled halfway");
    let creds = uses(deploy, "aws-actions/configure-aws-credentials");
    assert!(creds["with"]["role-to-assume"].as_str().is_some_and(|r| r.contains("vars.")), "{creds}");
    assert!(creds["with"].get("aws-access-key-id").is_none(), "no stored keys: {creds}");
    assert!(runs(deploy, "rustup target add aarch64-unknown-linux-gnu"), "{:?}", run_lines(deploy));
    // The deploy builds with the cargo-lambda version the tests use.
    let requirements = std::fs::read_to_string(workspace().join("scripts/requirements-tools.txt")).unwrap();
    let pin = requirements.lines().find(|l| l.starts_with("cargo-lambda==")).expect("cargo-lambda pinned");
    assert!(runs(deploy, &format!("pip install {pin}")), "{pin} in {:?}", run_lines(deploy));
    let deploy_commands: Vec<String> = opslake_commands(deploy).iter().map(|c| c.join(" ")).collect();
    assert_eq!(deploy_commands, ["opslake deploy opslake.yaml --yes --format json"]);

    // The optional review job creates change sets only, on pull requests.
    let review = job(&wf, "change-sets");
    assert!(review["if"].as_str().unwrap_or_default().contains("github.event_name == 'pull_request'"));
    assert_eq!(review["permissions"]["id-token"], "write");
    let review_commands: Vec<String> = opslake_commands(review).iter().map(|c| c.join(" ")).collect();
    assert_eq!(review_commands, ["opslake deploy opslake.yaml --change-set-only --format json"]);
}

#[test]
fn every_opslake_command_in_the_pipeline_parses() {
    let wf = workflow();
    let jobs = wf["jobs"].as_object().expect("jobs");
    let mut seen = 0;
    for (name, job) in jobs {
        for args in opslake_commands(job) {
            if let Err(e) = opslake::cli::Cli::try_parse_from(&args) {
                panic!("job `{name}`: `{}` does not parse:\n{}", args.join(" "), e.render());
            }
            seen += 1;
        }
    }
    assert_eq!(seen, 4, "validate, generate --check, deploy --change-set-only, deploy --yes");
}

/// The pull-request commands, run for real in a repository laid out as the workflow expects:
/// `opslake.yaml` at the root and the committed `generated/`.
#[test]
fn the_pull_request_commands_pass_on_a_current_repository_and_fail_on_drift() {
    let wf = workflow();
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(repo.path().join("opslake.yaml"), example("full.yaml")).unwrap();
    let in_repo = |args: &[String]| -> Vec<String> {
        args.iter()
            .skip(1)
            .map(|a| match a.as_str() {
                "opslake.yaml" | "generated" => repo.path().join(a).to_string_lossy().into_owned(),
                _ => a.clone(),
            })
            .collect()
    };
    let run_in_repo = |args: &[String]| {
        let args = in_repo(args);
        cli(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    // What a developer runs before committing.
    let spec = repo.path().join("opslake.yaml");
    let out = repo.path().join("generated");
    let (code, _, err) = cli(&["generate", spec.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");

    let commands = opslake_commands(job(&wf, "check"));
    for args in &commands {
        let (code, _, err) = run_in_repo(args);
        assert_eq!(code, 0, "`{}` failed on a current repository:\n{err}", args.join(" "));
    }

    // A spec edited without regenerating: the check fails and names the stale file.
    let edited = example("full.yaml").replace("retention_days: 400", "retention_days: 500");
    assert_ne!(edited, example("full.yaml"), "the edit must change the spec");
    std::fs::write(&spec, edited).unwrap();
    let check = commands.iter().find(|a| a.iter().any(|w| w == "--check")).expect("a --check command");
    let (code, _, err) = run_in_repo(check);
    assert_eq!(code, 1, "drift must fail the pull request: {err}");
    assert!(err.contains("central.yaml"), "{err}");
}

#[test]
fn actionlint_finds_nothing() {
    let actionlint = tool("tools", "actionlint");
    // actionlint runs shellcheck on every `run:` script when it is on PATH.
    let bin = actionlint.parent().unwrap();
    assert!(bin.join("shellcheck").exists(), "shellcheck is missing from {}", bin.display());
    let path = std::env::join_paths(
        std::iter::once(bin.to_path_buf()).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let (code, out, err) = run(Command::new(&actionlint).current_dir(workspace()).env("PATH", path).args([
        "-no-color",
        "-shellcheck",
        &bin.join("shellcheck").to_string_lossy(),
        WORKFLOW,
    ]));
    assert_eq!(code, 0, "actionlint:\n{out}{err}");
}

/// The trust policy examples/ci/README.md documents is valid JSON and pins the main branch.
#[test]
fn the_documented_trust_policy_pins_the_main_branch() {
    let readme = std::fs::read_to_string(workspace().join("examples/ci/README.md")).unwrap();
    let block = readme.split("```json").nth(1).and_then(|b| b.split("```").next()).expect("a ```json block");
    let policy: Value = serde_json::from_str(block).unwrap_or_else(|e| panic!("not JSON ({e}):\n{block}"));
    let statement = &policy["Statement"][0];
    assert_eq!(statement["Action"], "sts:AssumeRoleWithWebIdentity");
    assert!(statement["Principal"]["Federated"]
        .as_str()
        .unwrap_or_default()
        .ends_with(":oidc-provider/token.actions.githubusercontent.com"));
    let equals = &statement["Condition"]["StringEquals"];
    assert_eq!(equals["token.actions.githubusercontent.com:aud"], "sts.amazonaws.com");
    assert_eq!(equals["token.actions.githubusercontent.com:sub"], "repo:OWNER/REPO:ref:refs/heads/main");
}
