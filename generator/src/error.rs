//! The command layer's one error type. Each variant carries its exit code (the CLI contract:
//! 0 ok, 1 a failure while running, 2 bad input) and may carry a hint that says what to do.

use opslake_runtime::query::ParamError;
use opslake_runtime::source::SourceError;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok,
    /// A failure, or a finding the command exists to report (`--check` found drift, `doctor`
    /// found a problem, `--fail-if-found` found something).
    Failure,
    BadInput,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failure => 1,
            Exit::BadInput => 2,
        }
    }

    /// `Ok` when `ok`, else `Failure`.
    pub fn ok_if(ok: bool) -> Exit {
        if ok {
            Exit::Ok
        } else {
            Exit::Failure
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line, the spec or a parameter is wrong: fix it and run again (exit 2).
    #[error("{message}")]
    BadInput { message: String, hint: Option<String> },
    /// Something failed while running (exit 1).
    #[error("{message}")]
    Failed { message: String, hint: Option<String> },
    /// The spec's diagnostics were printed with their locations; nothing more to say (exit 2).
    #[error("the spec has errors")]
    Reported,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    pub fn bad_input(message: impl Into<String>) -> Error {
        Error::BadInput { message: message.into(), hint: None }
    }

    pub fn failed(message: impl Into<String>) -> Error {
        Error::Failed { message: message.into(), hint: None }
    }

    /// The same error with a hint (what to do next).
    pub fn hint(self, hint: impl Into<String>) -> Error {
        match self {
            Error::BadInput { message, .. } => Error::BadInput { message, hint: Some(hint.into()) },
            Error::Failed { message, .. } => Error::Failed { message, hint: Some(hint.into()) },
            other => other,
        }
    }

    pub fn exit(&self) -> Exit {
        match self {
            Error::BadInput { .. } | Error::Reported => Exit::BadInput,
            Error::Failed { .. } | Error::Io(_) => Exit::Failure,
        }
    }

    /// What to print on stderr: `error: …` and the hint, or nothing when already reported.
    pub fn render(&self) -> Option<String> {
        let hint = match self {
            Error::Reported => return None,
            Error::BadInput { hint, .. } | Error::Failed { hint, .. } => hint.as_deref(),
            Error::Io(_) => None,
        };
        Some(match hint {
            Some(h) => format!("error: {self}\n  hint: {h}"),
            None => format!("error: {self}"),
        })
    }
}

impl From<ParamError> for Error {
    fn from(e: ParamError) -> Self {
        Error::bad_input(e.0)
    }
}

impl From<SourceError> for Error {
    fn from(e: SourceError) -> Self {
        if e.is_bad_input() {
            Error::bad_input(e.to_string())
        } else {
            Error::failed(e.to_string())
        }
    }
}

/// What a command returns.
pub type Result<T = Exit> = std::result::Result<T, Error>;
