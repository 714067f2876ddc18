//! The Lambda functions' logic, as libraries: each `src/bin/*.rs` is only an adapter that
//! reads its configuration and hands events to these.

pub mod leftovers;
pub mod query;
