//! The command line: argument parsing and the subcommands, each testable in-process through
//! [`run`] (arguments, stdout and stderr in; exit code out).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::spec::{self, Diagnostic, Loaded};
use crate::{output, plan, render};

/// Exit codes (the CLI contract).
pub const OK: u8 = 0;
pub const FAILURE: u8 = 1;
pub const BAD_INPUT: u8 = 2;

/// The commented starter spec `opslake init` writes.
pub const STARTER: &str = include_str!("../../templates/init/opslake.yaml");

#[derive(Parser, Debug)]
#[command(
    name = "opslake",
    version,
    about = "One YAML spec → an AWS account-activity log lake and the AIOps functions that read it"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable (`table` is accepted too)
    #[value(alias = "table")]
    Text,
    Json,
}

/// How the commands that reach AWS do so: the standard credential chain, refined here.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct AwsArgs {
    /// AWS profile
    #[arg(long)]
    pub profile: Option<String>,
    /// AWS region of the Athena workgroup and the model (default: the spec's home region)
    #[arg(long = "aws-region")]
    pub aws_region: Option<String>,
    /// Endpoint URL for every AWS client (tests, private endpoints)
    #[arg(long)]
    pub endpoint_url: Option<String>,
}

impl AwsArgs {
    pub fn connection(self) -> opslake_runtime::engine::athena::Connection {
        opslake_runtime::engine::athena::Connection {
            profile: self.profile,
            region: self.aws_region,
            endpoint_url: self.endpoint_url,
        }
    }
}

/// How `deploy` and `doctor` reach the lake's home account: the standard credential chain,
/// refined here. `--region` defaults to the spec's home region.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct HomeArgs {
    /// AWS profile
    #[arg(long)]
    pub profile: Option<String>,
    /// AWS region of the central stack (default: the spec's home region)
    #[arg(long, alias = "aws-region")]
    pub region: Option<String>,
    /// Endpoint URL for every AWS client (tests, private endpoints)
    #[arg(long)]
    pub endpoint_url: Option<String>,
}

impl HomeArgs {
    pub fn connection(self) -> opslake_runtime::engine::athena::Connection {
        opslake_runtime::engine::athena::Connection {
            profile: self.profile,
            region: self.region,
            endpoint_url: self.endpoint_url,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    Table,
    Json,
    Csv,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a commented starter opslake.yaml into DIR (default: the current directory)
    Init {
        dir: Option<PathBuf>,
        /// Overwrite an existing opslake.yaml
        #[arg(long)]
        force: bool,
    },
    /// Check a spec: exit 0 when valid, 2 when not (diagnostics on stderr as FILE:LINE:COL)
    Validate {
        spec: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Print the JSON Schema of the spec (for editor completion)
    Schema,
    /// Deploy the spec: bootstrap stack, the functions' zips, a change set per stack (diff, then
    /// execute on confirmation), the member StackSet and its instances
    Deploy {
        spec: PathBuf,
        #[command(flatten)]
        aws: HomeArgs,
        /// Execute without asking (required when stdin is not a terminal)
        #[arg(long)]
        yes: bool,
        /// Create the change sets and print them, change nothing (for review in CI)
        #[arg(long, conflicts_with = "yes")]
        change_set_only: bool,
        /// Use prebuilt zips from DIR (DIR/BIN/bootstrap.zip as cargo-lambda writes them, or DIR/BIN.zip)
        #[arg(long, value_name = "DIR")]
        artifacts: Option<PathBuf>,
        /// Build and run the functions on x86_64 instead of arm64
        #[arg(long = "x86-64")]
        x86_64: bool,
        /// Read templates from DIR first (same layout as templates/)
        #[arg(long, value_name = "DIR")]
        templates: Option<PathBuf>,
        /// Minutes one stack or StackSet operation may take
        #[arg(long, default_value_t = 60, value_name = "MINUTES")]
        timeout: u64,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Generate CloudFormation templates and manifest.json into DIR
    Generate {
        spec: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Write nothing; exit 1 when DIR differs from what would be generated (for CI)
        #[arg(long)]
        check: bool,
        /// Directory whose files override the embedded templates (same relative names,
        /// e.g. cloudformation/central.yaml.tera)
        #[arg(long)]
        templates: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// What changed in a month of AWS Config history, and what is unusual (exact facts, then a report)
    Summarize {
        /// The month, YYYY-MM
        #[arg(long)]
        month: String,
        #[arg(long, default_value = "opslake.yaml")]
        spec: PathBuf,
        #[arg(long, conflicts_with = "athena")]
        local: Option<PathBuf>,
        #[arg(long)]
        athena: bool,
        #[command(flatten)]
        aws: AwsArgs,
        /// Only this account
        #[arg(long)]
        account: Option<String>,
        /// Only this region
        #[arg(long)]
        region: Option<String>,
        /// none (the deterministic report, the default), bedrock:MODEL_ID or anthropic:MODEL (key from ANTHROPIC_API_KEY)
        #[arg(long)]
        model: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Print the prompt the model would get, and exit
        #[arg(long)]
        print_prompt: bool,
    },
    /// Resources created but never deleted (from CloudTrail), grouped by type, with console links
    Leftovers {
        #[arg(long, default_value = "opslake.yaml")]
        spec: PathBuf,
        /// Mirror root of the log buckets
        #[arg(long, conflicts_with = "athena")]
        local: Option<PathBuf>,
        /// Read through Athena (organisation-wide, beyond 90 days)
        #[arg(long, conflicts_with = "lookup_events")]
        athena: bool,
        /// Read CloudTrail event history (LookupEvents; this account, the last 90 days, no trail needed)
        #[arg(long, conflicts_with = "local")]
        lookup_events: bool,
        #[command(flatten)]
        aws: AwsArgs,
        /// How far back to look, e.g. 30d (default: features.leftovers.lookback_days, else 30)
        #[arg(long, conflicts_with_all = ["from", "to"])]
        since: Option<String>,
        /// First day (YYYY-MM-DD), with --to
        #[arg(long, requires = "to")]
        from: Option<String>,
        /// Last day (YYYY-MM-DD), with --from
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// Only resources this IAM user or role session created
        #[arg(long)]
        user: Option<String>,
        /// Only these regions (repeatable)
        #[arg(long = "region")]
        regions: Vec<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Exit 1 when anything is found (for CI)
        #[arg(long)]
        fail_if_found: bool,
        /// Check with the Cloud Control API that each one still exists (drops those gone)
        #[arg(long)]
        confirm: bool,
    },
    /// Run a named query over a local mirror of the log buckets (no NAME: list the queries)
    Query {
        name: Option<String>,
        /// The spec that describes the lake
        #[arg(long, default_value = "opslake.yaml")]
        spec: PathBuf,
        /// Mirror root: one folder per bucket, as `aws s3 sync s3://B DIR/B` leaves it
        #[arg(long, conflicts_with = "athena")]
        local: Option<PathBuf>,
        /// Run in Athena (the spec's workgroup and database), with the standard AWS credentials
        #[arg(long)]
        athena: bool,
        #[command(flatten)]
        aws: AwsArgs,
        /// A parameter, KEY=VALUE (repeatable)
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: TableFormat,
        /// Print the Athena SQL with the parameters inlined as literals, and exit
        #[arg(long)]
        print_sql: bool,
    },
    /// Check the deployed lake against the spec: Glue tables (drift field by field), the S3
    /// prefixes the projection misses, the trail and the Config recorders
    Doctor {
        spec: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// S3 list calls per table for the prefix sample (breadth-first)
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        sample: u32,
        #[command(flatten)]
        aws: HomeArgs,
    },
}

/// Runs the CLI with `args` (including the program name); returns the exit code.
pub fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { BAD_INPUT } else { OK };
            let text = e.render().to_string();
            let _ = if e.use_stderr() { err.write_all(text.as_bytes()) } else { out.write_all(text.as_bytes()) };
            return code;
        }
    };
    let result = match cli.command {
        Command::Init { dir, force } => init(dir.as_deref(), force, out, err),
        Command::Validate { spec, format } => validate(&spec, format, out, err),
        Command::Schema => {
            let text = serde_json::to_string_pretty(&spec::shape::json_schema()).unwrap_or_default();
            writeln!(out, "{text}").map(|_| OK)
        }
        Command::Generate { spec, out: dir, check, templates, format } => {
            generate(&spec, &dir, check, templates.as_deref(), format, out, err)
        }
        Command::Deploy { spec, aws, yes, change_set_only, artifacts, x86_64, templates, timeout, format } => deploy(
            &spec,
            aws,
            crate::deploy::Options {
                yes,
                change_set_only,
                artifacts,
                arch: if x86_64 { crate::deploy::Arch::X86_64 } else { crate::deploy::Arch::Arm64 },
                json: format == Format::Json,
                timeout: std::time::Duration::from_secs(timeout.saturating_mul(60)),
                poll: (std::time::Duration::from_millis(500), std::time::Duration::from_secs(5)),
            },
            templates.as_deref(),
            out,
            err,
        ),
        Command::Summarize { month, spec, local, athena, aws, account, region, model, format, print_prompt } => {
            crate::summarize::run(
                crate::summarize::Args {
                    spec: &spec,
                    month: &month,
                    local: local.as_deref(),
                    athena,
                    conn: aws.connection(),
                    account: account.as_deref(),
                    region: region.as_deref(),
                    model: model.as_deref(),
                    format,
                    print_prompt,
                },
                out,
                err,
            )
        }
        Command::Leftovers {
            spec,
            local,
            athena,
            lookup_events,
            aws,
            since,
            from,
            to,
            user,
            regions,
            format,
            fail_if_found,
            confirm,
        } => crate::leftovers::run(
            crate::leftovers::Args {
                spec: &spec,
                local: local.as_deref(),
                source: if athena {
                    crate::leftovers::Source::Athena
                } else if lookup_events {
                    crate::leftovers::Source::LookupEvents
                } else {
                    crate::leftovers::Source::Local
                },
                conn: aws.connection(),
                since: since.as_deref(),
                from: from.as_deref(),
                to: to.as_deref(),
                user: user.as_deref(),
                regions: &regions,
                format,
                fail_if_found,
                confirm,
            },
            out,
            err,
        ),
        Command::Query { name, spec, local, athena, aws, params, format, print_sql } => crate::query::run(
            crate::query::Args {
                name: name.as_deref(),
                spec: &spec,
                local: local.as_deref(),
                athena: athena.then(|| aws.connection()),
                params: &params,
                format,
                print_sql,
            },
            out,
            err,
        ),
        Command::Doctor { spec, format, sample, aws } => crate::doctor::run(
            crate::doctor::Args { spec: &spec, conn: aws.connection(), format, sample: sample as usize },
            out,
            err,
        ),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            FAILURE
        }
    }
}

fn init(dir: Option<&Path>, force: bool, out: &mut dyn Write, err: &mut dyn Write) -> std::io::Result<u8> {
    let dir = dir.unwrap_or(Path::new("."));
    let path = dir.join("opslake.yaml");
    if path.exists() && !force {
        writeln!(err, "error: {} already exists\n  = help: pass --force to overwrite it", path.display())?;
        return Ok(BAD_INPUT);
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(&path, STARTER)?;
    writeln!(out, "wrote {}\nnext: edit it, then `opslake validate {}`", path.display(), path.display())?;
    Ok(OK)
}

/// Reads and loads a spec, printing its diagnostics. `None` (with the exit code) when it
/// cannot be used.
pub(crate) fn load_spec(
    path: &Path,
    format: Format,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<Result<(Loaded, String), u8>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            writeln!(err, "error: cannot read {}: {e}", path.display())?;
            return Ok(Err(BAD_INPUT));
        }
    };
    let loaded = spec::load(&bytes, spec::today_utc());
    let source = String::from_utf8_lossy(&bytes).into_owned();
    let file = path.display().to_string();
    if format == Format::Json {
        let diags: Vec<_> = loaded.diagnostics.iter().map(|d| diag_json(&file, d)).collect();
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&json!({"file": file, "valid": !loaded.has_errors(), "diagnostics": diags}))
                .unwrap_or_default()
        )?;
    } else {
        for d in &loaded.diagnostics {
            write!(err, "{}", d.render(&file, &source))?;
        }
        let errors = loaded.diagnostics.iter().filter(|d| d.is_error()).count();
        if errors > 0 {
            writeln!(err, "{file}: {errors} error{} found", if errors == 1 { "" } else { "s" })?;
        }
    }
    if loaded.has_errors() {
        return Ok(Err(BAD_INPUT));
    }
    Ok(Ok((loaded, source)))
}

fn diag_json(file: &str, d: &Diagnostic) -> serde_json::Value {
    json!({
        "file": file,
        "line": d.pos.line,
        "column": d.pos.col,
        "severity": if d.is_error() { "error" } else { "warning" },
        "message": d.message,
        "hint": d.hint,
    })
}

fn validate(path: &Path, format: Format, out: &mut dyn Write, err: &mut dyn Write) -> std::io::Result<u8> {
    match load_spec(path, format, out, err)? {
        Err(code) => Ok(code),
        Ok(_) => {
            if format == Format::Text {
                writeln!(out, "{}: valid", path.display())?;
            }
            Ok(OK)
        }
    }
}

/// A loaded spec, its plan and the rendered files.
pub(crate) type Prepared = (spec::model::Spec, plan::Plan, Vec<render::OutputFile>);

/// Loads a spec, plans and renders it (what `generate` writes and `deploy` deploys).
/// Diagnostics go to stderr even with --format json: stdout carries the command's summary.
pub(crate) fn prepare(
    path: &Path,
    templates: Option<&Path>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<Result<Prepared, u8>> {
    let (loaded, source) = match load_spec(path, Format::Text, out, err)? {
        Err(code) => return Ok(Err(code)),
        Ok(x) => x,
    };
    let Some(spec) = loaded.spec else {
        return Ok(Err(BAD_INPUT));
    };
    let plan = match plan::plan(&spec) {
        Ok(p) => p,
        Err(e) => {
            let d = Diagnostic::error(loaded.locations.key(&e.pointer), e.message).hint(e.hint);
            write!(err, "{}", d.render(&path.display().to_string(), &source))?;
            return Ok(Err(BAD_INPUT));
        }
    };
    let files = match render::engine(templates).and_then(|tera| render::render(&plan, &tera)) {
        Ok(f) => f,
        Err(e) => {
            writeln!(err, "error: {e}")?;
            return Ok(Err(if matches!(e, render::RenderError::Limit { .. }) { BAD_INPUT } else { FAILURE }));
        }
    };
    Ok(Ok((spec, plan, files)))
}

fn deploy(
    path: &Path,
    aws: HomeArgs,
    opts: crate::deploy::Options,
    templates: Option<&Path>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<u8> {
    use std::io::IsTerminal;
    let (spec, plan, files) = match prepare(path, templates, out, err)? {
        Err(code) => return Ok(code),
        Ok(x) => x,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let conn = aws.connection();
    let json = opts.json;
    let mut ui = crate::deploy::Ui {
        out: &mut *out,
        err: &mut *err,
        json,
        tty: std::io::stderr().is_terminal(),
        consent: crate::deploy::Consent::from_flags(opts.yes),
    };
    let result = runtime.block_on(crate::deploy::deploy(&spec, &plan, &files, &conn, &opts, &mut ui));
    match result {
        Ok(summary) => {
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&summary).unwrap_or_default())?;
            } else {
                writeln!(out, "{}", summary.headline())?;
            }
            Ok(if summary.ok { OK } else { FAILURE })
        }
        Err(e) => {
            writeln!(err, "error: {}", e.message)?;
            Ok(e.code)
        }
    }
}

fn generate(
    path: &Path,
    dir: &Path,
    check: bool,
    templates: Option<&Path>,
    format: Format,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<u8> {
    let (_, _, files) = match prepare(path, templates, out, err)? {
        Err(code) => return Ok(code),
        Ok(x) => x,
    };
    if check {
        let drift = output::check(dir, &files)?;
        if format == Format::Json {
            writeln!(out, "{}", serde_json::to_string_pretty(&json!({"up_to_date": drift.is_clean(), "stale": drift.stale, "missing": drift.missing, "extra": drift.extra})).unwrap_or_default())?;
        } else if drift.is_clean() {
            writeln!(out, "{}: up to date ({} files)", dir.display(), files.len())?;
        } else {
            for (what, list) in [("stale", &drift.stale), ("missing", &drift.missing), ("extra", &drift.extra)] {
                for f in list {
                    writeln!(err, "{what}: {}", dir.join(f).display())?;
                }
            }
            writeln!(
                err,
                "{} is out of date: run `opslake generate {} --out {}`",
                dir.display(),
                path.display(),
                dir.display()
            )?;
        }
        return Ok(if drift.is_clean() { OK } else { FAILURE });
    }
    let removed = output::write(dir, &files)?;
    if format == Format::Json {
        let list: Vec<_> = files.iter().map(|f| json!({"file": dir.join(&f.name), "bytes": f.bytes.len()})).collect();
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&json!({"written": list, "removed": removed})).unwrap_or_default()
        )?;
    } else {
        for f in &files {
            writeln!(out, "wrote {} ({} bytes)", dir.join(&f.name).display(), f.bytes.len())?;
        }
        for r in removed {
            writeln!(out, "removed {} (no longer generated)", dir.join(r).display())?;
        }
    }
    Ok(OK)
}
