//! What every command runs in: the output streams, today's date, the one async runtime, and
//! the steps they share — load the spec (printing its diagnostics), plan and render it, connect
//! to AWS, choose where to read the lake.

use std::io::Write;
use std::path::{Path, PathBuf};

use jiff::civil::Date;
use opslake_runtime::aws::{Aws, Connection};
use opslake_runtime::engine::athena::AthenaEngine;
use opslake_runtime::engine::local::Mirror;
use opslake_runtime::engine::lookup;
use opslake_runtime::lake::LakeLayout;
use opslake_runtime::llm::{self, AnthropicKey, Model, ModelChoice};
use opslake_runtime::source::Source;
use serde_json::json;

use crate::args::{LakeArgs, SourceArgs};
use crate::error::{Error, Result};
use crate::plan::{self, Plan};
use crate::render::{self, OutputFile};
use crate::spec::{self, Diagnostic, Locations, Spec};

pub struct Context<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    /// Resolves `NOW` in projections and the default windows (UTC).
    pub today: Date,
    /// The one async runtime: `ctx.rt.block_on(…)` (copy the reference first when the future
    /// borrows the streams).
    pub rt: &'a tokio::runtime::Runtime,
    pub stdin_is_terminal: bool,
    pub stderr_is_terminal: bool,
    /// The SDK configuration [`Context::aws`] loaded last, and for which connection and
    /// default region: a command that asks twice (a model and cloud mode) loads it once.
    pub aws_loaded: std::cell::RefCell<Option<(Connection, String, Aws)>>,
}

/// Which of a spec's diagnostics a command shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Diagnostics {
    /// Errors and warnings on stderr (the commands that turn the spec into templates).
    All,
    /// Errors and warnings as one JSON object on stdout (`validate --format json`).
    Json,
    /// Errors only (the commands that read the lake: the warnings are about templates).
    Errors,
}

/// A spec without errors, with what reporting a later problem needs (its text and locations).
pub struct LoadedSpec {
    pub spec: Spec,
    pub path: PathBuf,
    pub source: String,
    pub locations: Locations,
}

impl LoadedSpec {
    /// The lake layout the tables are computed from.
    pub fn layout(&self) -> LakeLayout {
        plan::layout(&self.spec)
    }
}

/// A spec, its plan and the rendered files (what `generate` writes and `deploy` deploys).
pub struct Prepared {
    pub loaded: LoadedSpec,
    pub plan: Plan,
    pub files: Vec<OutputFile>,
}

impl Context<'_> {
    /// Reads and loads a spec. Diagnostics go to stderr as `FILE:LINE:COL` with a caret, or to
    /// stdout as one JSON object; errors end the command with exit 2.
    pub fn load_spec(&mut self, path: &Path, show: Diagnostics) -> Result<LoadedSpec> {
        let bytes =
            std::fs::read(path).map_err(|e| Error::bad_input(format!("cannot read {}: {e}", path.display())))?;
        let loaded = spec::load(&bytes, self.today);
        let source = String::from_utf8_lossy(&bytes).into_owned();
        let file = path.display().to_string();
        if show == Diagnostics::Json {
            let diags: Vec<_> = loaded.diagnostics.iter().map(|d| diag_json(&file, d)).collect();
            let v = json!({"file": file, "valid": !loaded.has_errors(), "diagnostics": diags});
            writeln!(self.out, "{}", serde_json::to_string_pretty(&v).unwrap_or_default())?;
        } else {
            for d in loaded.diagnostics.iter().filter(|d| show == Diagnostics::All || d.is_error()) {
                write!(self.err, "{}", d.render(&file, &source))?;
            }
            let errors = loaded.diagnostics.iter().filter(|d| d.is_error()).count();
            if errors > 0 {
                writeln!(self.err, "{file}: {errors} error{} found", if errors == 1 { "" } else { "s" })?;
            }
        }
        match loaded.spec {
            Some(spec) if !loaded.diagnostics.iter().any(Diagnostic::is_error) => {
                Ok(LoadedSpec { spec, path: path.to_path_buf(), source, locations: loaded.locations })
            }
            _ => Err(Error::Reported),
        }
    }

    /// The plan of a loaded spec; a spec the plan cannot take (a limit) is reported at its key.
    pub fn plan(&mut self, loaded: &LoadedSpec) -> Result<Plan> {
        plan::plan(&loaded.spec).map_err(|e| {
            let d = Diagnostic::error(loaded.locations.key(&e.pointer), e.message).hint(e.hint);
            match write!(self.err, "{}", d.render(&loaded.path.display().to_string(), &loaded.source)) {
                Ok(()) => Error::Reported,
                Err(io) => Error::Io(io),
            }
        })
    }

    /// Loads, plans and renders a spec. Diagnostics go to stderr even with `--format json`:
    /// stdout carries the command's summary.
    pub fn prepare(&mut self, path: &Path, templates: Option<&Path>) -> Result<Prepared> {
        let loaded = self.load_spec(path, Diagnostics::All)?;
        let plan = self.plan(&loaded)?;
        let files = render::engine(templates).and_then(|tera| render::render(&plan, &tera)).map_err(|e| match e {
            render::RenderError::Limit { .. } => Error::bad_input(e.to_string()),
            _ => Error::failed(e.to_string()),
        })?;
        Ok(Prepared { loaded, plan, files })
    }

    /// The AWS connection, in the spec's home region unless it names another.
    pub fn aws(&self, conn: &Connection, spec: &Spec) -> Aws {
        let region = &spec.home.region;
        if let Some((c, r, aws)) = self.aws_loaded.borrow().as_ref() {
            if c == conn && r == region {
                return aws.clone();
            }
        }
        let aws = self.rt.block_on(conn.load(Some(region)));
        *self.aws_loaded.borrow_mut() = Some((conn.clone(), region.clone(), aws.clone()));
        aws
    }

    /// The model `--model` names (`none`: no model, no AWS), on `aws`'s credentials, so that
    /// `--profile` reaches Bedrock like every other client. A model that cannot be set up is
    /// bad input (exit 2); a key that cannot be read, a failure (exit 1).
    pub fn model(&self, choice: &ModelChoice, aws: Option<&Aws>) -> Result<Box<dyn Model>> {
        let Some(aws) = aws.filter(|_| *choice != ModelChoice::None) else { return Ok(Box::new(llm::NoModel)) };
        self.rt.block_on(llm::connect(choice, aws, &AnthropicKey::Environment)).map_err(|e| match e {
            llm::ConnectError::Config(m) => Error::bad_input(m),
            llm::ConnectError::Secret(m) => Error::failed(m),
        })
    }

    /// The model `choice` (when `with_model`) and where to read the lake, on one AWS connection
    /// made only when Athena or a model needs it: `--profile` reaches both.
    pub fn model_and_source(
        &self,
        spec: &Spec,
        layout: &LakeLayout,
        lake: &LakeArgs,
        choice: &ModelChoice,
        with_model: bool,
    ) -> Result<(Box<dyn Model>, Source)> {
        let aws = (lake.from.athena || *choice != ModelChoice::None).then(|| self.aws(&lake.aws.connection(), spec));
        let model = self.model(choice, aws.as_ref().filter(|_| with_model))?;
        let connect = || aws.clone().unwrap_or_else(|| self.aws(&lake.aws.connection(), spec));
        let source = self.source(spec, layout, &lake.from, connect, None)?;
        Ok((model, source))
    }

    /// Where to read the lake: the mirror, Athena (the spec's workgroup) or event history.
    /// `regions` narrows event history (else the spec's regions).
    pub fn source(
        &self,
        spec: &Spec,
        layout: &LakeLayout,
        from: &SourceArgs,
        aws: impl FnOnce() -> Aws,
        regions: Option<Vec<String>>,
    ) -> Result<Source> {
        if let Some(dir) = &from.local {
            if !dir.is_dir() {
                return Err(Error::bad_input(format!("--local {}: not a directory", dir.display())));
            }
            let mut mirror = Mirror::new(dir);
            if self.stderr_is_terminal {
                mirror = mirror.with_progress(std::sync::Arc::new(crate::report::progress::ScanBar::new()));
            }
            return Ok(Source::Mirror { mirror, today: self.today });
        }
        if from.athena {
            return Ok(Source::Athena(AthenaEngine::new(&aws(), &spec.workgroup(), &layout.database)));
        }
        if from.lookup_events {
            let (aws, today) = (aws(), self.today);
            return Ok(Source::EventHistory { aws, regions, today, pace: lookup::MIN_INTERVAL });
        }
        Err(Error::bad_input(
            "say where to read: --local DIR (a mirror of the log buckets), --athena or --lookup-events",
        ))
    }
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
