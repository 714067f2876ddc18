//! opslake runtime: the lake model, log record models, the engines and named queries that
//! read the lake (locally over a bucket mirror, or in AWS through Athena), the analyses, and
//! the Lambda functions built on them.
//!
//! `lake` (tables, projection) → `records` (log formats) → `engine` (mirror, Athena, event
//! history) → `query` (the catalogue) → `source` (one way to ask it) → `analysis` (facts) →
//! `report` (text for people) and `llm` (narration) → `functions` (the Lambda handlers); `slack` speaks to Slack (signatures, payloads, Web API).
//! `aws` is the only module that loads SDK configuration; `backoff` the only retry policy.

pub mod analysis;
pub mod aws;
pub mod backoff;
pub mod catalogue;
pub mod engine;
pub mod functions;
#[cfg(feature = "https")]
pub mod http;
pub mod lake;
#[cfg(any(feature = "slack", feature = "insights"))]
pub mod ledger;
pub mod llm;
pub mod query;
pub mod records;
pub mod report;
#[cfg(feature = "slack-api")]
pub mod slack;
pub mod source;
pub mod suggest;
