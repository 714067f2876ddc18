//! opslake: one YAML spec → validated model → plan → rendered CloudFormation → deploy, and the
//! commands that read the lake it describes.
//!
//! `spec` (no IO) → `plan` (names, policies, tables) → `render` (the only Tera user) →
//! `output` (files, `--check`); `deploy` (the only CloudFormation user) and `doctor` are
//! libraries with typed outcomes. The command layer: `cli` (arguments, exit codes) →
//! `commands` (one thin file each) over `context` (streams, today, the async runtime, the
//! shared steps), `args`, `error` and `report` (the words).

pub mod args;
pub mod cli;
pub mod clients;
pub mod commands;
pub mod context;
pub mod deploy;
pub mod doctor;
pub mod error;
pub mod output;
pub mod plan;
pub mod render;
pub mod report;
pub mod spec;
