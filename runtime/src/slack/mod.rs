//! Slack, as the failure-analysis app meets it: request signatures ([`verify`]), what Slack
//! sends ([`payload`]), what the app shows ([`blocks`]) and the Web API methods it calls
//! ([`api`]). The `slack` and `analyze` functions are built on these.

pub mod api;
pub mod blocks;
pub mod payload;
pub mod verify;
