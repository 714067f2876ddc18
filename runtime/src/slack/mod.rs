//! Slack, as the failure-analysis app meets it: request signatures ([`verify`]), what Slack
//! sends ([`payload`]), what the app shows ([`blocks`]) and the Web API methods it calls
//! ([`api`]). The `slack` and `analyze` functions are built on these; `insights` posts its
//! alerts through [`api`] alone.

pub mod api;
#[cfg(feature = "slack")]
pub mod blocks;
#[cfg(feature = "slack")]
pub mod payload;
#[cfg(feature = "slack")]
pub mod verify;
