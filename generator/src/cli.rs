//! The command line: the subcommands and [`run`], which parses the arguments, builds the
//! context every command shares, runs the command and turns its outcome into an exit code.
//! Testable in-process: arguments, stdout and stderr in; the exit code out.

use std::io::{IsTerminal, Write};

use clap::{Parser, Subcommand};

use crate::commands;
use crate::context::Context;
use crate::error::Exit;

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

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a commented starter opslake.yaml into DIR (default: the current directory)
    Init(commands::init::Args),
    /// Check a spec: exit 0 when valid, 2 when not (diagnostics on stderr as FILE:LINE:COL)
    Validate(commands::validate::Args),
    /// Print the JSON Schema of the spec (for editor completion)
    Schema(commands::schema::Args),
    /// Deploy the spec: bootstrap stack, the functions' zips, a change set per stack (diff, then
    /// execute on confirmation), the member StackSet and its instances
    Deploy(commands::deploy::Args),
    /// Generate CloudFormation templates and manifest.json into DIR
    Generate(commands::generate::Args),
    /// What changed in a month of AWS Config history, and what is unusual (exact facts, then a report)
    Summarize(commands::summarize::Args),
    /// Resources created but never deleted (from CloudTrail), grouped by type, with console links
    Leftovers(commands::leftovers::Args),
    /// Run a named query over the lake (no NAME: list the queries)
    Query(commands::query::Args),
    /// Check the deployed lake against the spec: Glue tables (drift field by field), the S3
    /// prefixes the projection misses, the trail and the Config recorders
    Doctor(commands::doctor::Args),
    /// Ask the lake a question in plain language: a model picks the named queries (it never
    /// writes SQL) and cites each call its answer rests on
    Ask(commands::ask::Args),
    /// Analyse a failure: an incident window → evidence from CloudTrail, ALB, application logs
    /// and metrics → a timeline, the onset and ranked hypotheses citing their evidence
    Analyze(commands::analyze::Args),
    /// API activity in event-time windows: calls per service, API, user, source IP and error
    /// code, from the lake's CloudTrail (the anomaly scores, alarms and dashboard come later)
    Insights(commands::insights::Args),
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
            let text = e.render().to_string();
            if e.use_stderr() {
                let _ = err.write_all(text.as_bytes());
                return Exit::BadInput.code();
            }
            let _ = out.write_all(text.as_bytes());
            return Exit::Ok.code();
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(err, "error: cannot start the async runtime: {e}");
            return Exit::Failure.code();
        }
    };
    let mut ctx = Context {
        out,
        err,
        today: jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date(),
        rt: &rt,
        stdin_is_terminal: std::io::stdin().is_terminal(),
        stderr_is_terminal: std::io::stderr().is_terminal(),
        aws_loaded: Default::default(),
    };
    let result = match cli.command {
        Command::Init(a) => commands::init::run(&mut ctx, a),
        Command::Validate(a) => commands::validate::run(&mut ctx, a),
        Command::Schema(a) => commands::schema::run(&mut ctx, a),
        Command::Deploy(a) => commands::deploy::run(&mut ctx, a),
        Command::Generate(a) => commands::generate::run(&mut ctx, a),
        Command::Summarize(a) => commands::summarize::run(&mut ctx, a),
        Command::Leftovers(a) => commands::leftovers::run(&mut ctx, a),
        Command::Query(a) => commands::query::run(&mut ctx, a),
        Command::Doctor(a) => commands::doctor::run(&mut ctx, a),
        Command::Ask(a) => commands::ask::run(&mut ctx, a),
        Command::Analyze(a) => commands::analyze::run(&mut ctx, a),
        Command::Insights(a) => commands::insights::run(&mut ctx, a),
    };
    match result {
        Ok(exit) => exit.code(),
        Err(e) => {
            if let Some(text) = e.render() {
                let _ = writeln!(ctx.err, "{text}");
            }
            e.exit().code()
        }
    }
}
