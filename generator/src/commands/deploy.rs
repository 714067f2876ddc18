//! `opslake deploy SPEC`: bootstrap, the functions' zips, a change set per stack (diff, then
//! execute on consent), the member StackSet, then doctor. The story goes to stdout (stderr with
//! `--format json`, whose stdout is the summary); progress to stderr, as a bar at a terminal.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use opslake_runtime::backoff::Backoff;

use crate::args::{Format, HomeArgs};
use crate::context::Context;
use crate::deploy::{self, Arch, Event, Ui};
use crate::error::{Error, Exit, Result};
use crate::report::deploy::{event, headline, Shown};

#[derive(clap::Args, Debug)]
pub struct Args {
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
    /// A named profile of the organization's management account (when it is not the home
    /// account): the organization trail and its member stacks are deployed with it
    #[arg(long, value_name = "PROFILE")]
    management_profile: Option<String>,
    /// Minutes one stack or StackSet operation may take
    #[arg(long, default_value_t = 60, value_name = "MINUTES")]
    timeout: u64,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// Whether to go ahead with a change: `--yes`, an answer at the terminal, or a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Consent {
    Yes,
    Ask,
    Refuse,
}

/// The deploy's words on the command line's streams.
struct Terminal<'a, 'c> {
    ctx: &'a mut Context<'c>,
    json: bool,
    consent: Consent,
    bar: Option<ProgressBar>,
}

impl Terminal<'_, '_> {
    fn say(&mut self, text: &str) {
        let w: &mut dyn Write = if self.json { &mut *self.ctx.err } else { &mut *self.ctx.out };
        let _ = writeln!(w, "{text}");
        let _ = w.flush();
    }

    /// A progress line: redrawn by a bar at a terminal, one line each otherwise.
    fn progress(&mut self, line: String, done: Option<(usize, usize)>, last: bool) {
        if !self.ctx.stderr_is_terminal {
            let _ = writeln!(self.ctx.err, "{line}");
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let style = ProgressStyle::with_template("{bar:20} {msg}").unwrap_or_else(|_| ProgressStyle::default_bar());
            ProgressBar::new(0).with_style(style)
        });
        if let Some((done, total)) = done {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
        bar.set_message(line);
        if last {
            if let Some(bar) = self.bar.take() {
                bar.finish();
            }
        }
    }
}

impl Ui for Terminal<'_, '_> {
    fn event(&mut self, e: Event<'_>) {
        for shown in event(&e) {
            match shown {
                Shown::Say(text) => self.say(&text),
                Shown::Progress { line, done, last } => self.progress(line, done, last),
            }
        }
    }

    fn confirm(&mut self, what: &str) -> Result<bool> {
        match self.consent {
            Consent::Yes => Ok(true),
            Consent::Refuse => Err(Error::bad_input(format!(
                "not deploying {what}: stdin is not a terminal, so there is nobody to confirm"
            ))
            .hint("pass --yes to deploy, or --change-set-only to create the change sets for review")),
            Consent::Ask => {
                let _ = write!(self.ctx.err, "Deploy these changes to {what}? [y/N] ");
                let _ = self.ctx.err.flush();
                let mut answer = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut answer)
                    .map_err(|e| Error::bad_input(format!("cannot read the answer: {e}")))?;
                Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES"))
            }
        }
    }
}

pub fn run(ctx: &mut Context, a: Args) -> Result {
    let prepared = ctx.prepare(&a.spec, a.templates.as_deref())?;
    let opts = deploy::Options {
        change_set_only: a.change_set_only,
        artifacts: a.artifacts.clone(),
        arch: if a.x86_64 { Arch::X86_64 } else { Arch::Arm64 },
        timeout: Duration::from_secs(a.timeout.saturating_mul(60)),
        poll: Backoff::polls(Duration::from_millis(500), Duration::from_secs(5)),
        today: ctx.today,
        management_profile: a.management_profile.clone(),
    };
    let consent = match (a.yes, ctx.stdin_is_terminal) {
        (true, _) => Consent::Yes,
        (false, true) => Consent::Ask,
        (false, false) => Consent::Refuse,
    };
    let json = a.format == Format::Json;
    let conn = a.aws.connection();
    let rt = ctx.rt;
    let mut ui = Terminal { ctx: &mut *ctx, json, consent, bar: None };
    let p = &prepared;
    let summary = rt.block_on(deploy::deploy(&p.loaded.spec, &p.plan, &p.files, &conn, &opts, &mut ui))?;
    if json {
        writeln!(ctx.out, "{}", serde_json::to_string_pretty(&summary).unwrap_or_default())?;
    } else {
        writeln!(ctx.out, "{}", headline(&summary))?;
    }
    Ok(Exit::ok_if(summary.ok))
}
