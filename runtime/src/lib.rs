//! opslake runtime: the lake model, log record models, and the engines and analyses that
//! read the lake (locally over a bucket mirror, or in AWS through Athena).

pub mod lake;
pub mod records;
