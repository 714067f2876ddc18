//! Diagnostics: a problem in the spec, where it is (file, line, column) and what to do.

use std::fmt::Write as _;

/// A position in the spec file: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    pub const START: Pos = Pos { line: 1, col: 1 };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found while loading a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub pos: Pos,
    /// Width of the highlighted text in characters (at least 1).
    pub width: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(pos: Pos, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Error, pos, width: 1, message: message.into(), hint: None }
    }

    pub fn warning(pos: Pos, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, pos, width: 1, message: message.into(), hint: None }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn width(mut self, width: usize) -> Self {
        self.width = width.max(1);
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `FILE:LINE:COL: error: MESSAGE`, then the source line, a caret and the hint.
    pub fn render(&self, file: &str, source: &str) -> String {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut out = format!("{file}:{}:{}: {level}: {}\n", self.pos.line, self.pos.col, self.message);
        if let Some(line) = source.lines().nth(self.pos.line.saturating_sub(1)) {
            let line: String = line.chars().map(|c| if c == '\t' { ' ' } else { c }).collect();
            let number = self.pos.line.to_string();
            let pad = " ".repeat(number.len());
            let visible = line.chars().count();
            let start = self.pos.col.saturating_sub(1).min(visible);
            let width = self.width.min(visible.saturating_sub(start)).max(1);
            let _ = writeln!(out, " {number} | {line}");
            let _ = writeln!(out, " {pad} | {}{}", " ".repeat(start), "^".repeat(width));
        }
        if let Some(hint) = &self.hint {
            let _ = writeln!(out, "  = help: {hint}");
        }
        out
    }
}

pub use opslake_runtime::suggest::did_you_mean;
