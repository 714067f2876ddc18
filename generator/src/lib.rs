//! opslake: one YAML spec → validated model → plan → rendered CloudFormation → deploy.
//!
//! `spec` (no IO) → `plan` (names, policies, tables) → `render` (the only Tera user) →
//! `output` (files, `--check`). `cli` wires them to the command line.

pub mod cli;
pub mod deploy;
pub mod doctor;
pub mod leftovers;
pub mod output;
pub mod plan;
pub mod query;
pub mod render;
pub mod spec;
pub mod summarize;
