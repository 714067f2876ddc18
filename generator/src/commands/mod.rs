//! One file per command, each a thin shell: its arguments, then the shared context, one
//! library call, and a reporter. Commands never call each other; what two of them share lives
//! in `context`, `args`, a library module or `report`.

pub mod analyze;
pub mod ask;
pub mod deploy;
pub mod doctor;
pub mod generate;
pub mod init;
pub mod insights;
pub mod leftovers;
pub mod query;
pub mod schema;
pub mod summarize;
pub mod validate;
