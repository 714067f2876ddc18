//! opslake runtime: the lake model, log record models, and the engines and named queries
//! that read the lake (locally over a bucket mirror, or in AWS through Athena).

pub mod analysis;
pub mod catalogue;
pub mod engine;
pub mod functions;
pub mod lake;
pub mod llm;
pub mod query;
pub mod records;
