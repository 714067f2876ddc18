//! The Athena engine: the only module that talks to Athena.
//!
//! Runs a named query's SQL in the spec's workgroup with `ExecutionParameters` (values never
//! enter the SQL text), polls with backoff under an overall deadline (cancelling the query
//! when it passes), surfaces FAILED/CANCELLED with Athena's reason, pages through the
//! results into typed rows, and reports bytes scanned with an estimated cost. Throttling is
//! retried by the SDK's standard retry strategy. Every client takes an optional endpoint URL
//! so tests can point it at a local server.

use std::time::{Duration, Instant};

use aws_sdk_athena::error::ProvideErrorMetadata;
use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState};
use aws_sdk_athena::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use serde::Serialize;
use serde_json::Value;

use crate::aws::{sdk_message, Aws};
use crate::backoff::{Backoff, Polled};
use crate::query::Sql;

/// Athena bills $5 per TB scanned, with a 10 MB minimum per query.
pub const USD_PER_TB: f64 = 5.0;
pub const MIN_BILLED_BYTES: u64 = 10 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct AthenaEngine {
    client: Client,
    pub workgroup: String,
    pub database: String,
    /// The whole query (start, wait, results) must finish within this.
    pub deadline: Duration,
    /// The pauses between status polls.
    pub poll: Backoff,
    /// Result rows read at most (`None`: all).
    pub max_rows: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AthenaError {
    /// The API call failed (after retries): credentials, permissions, throttling, network.
    #[error("Athena: {0}")]
    Api(String),
    /// Athena ran the query and it failed or was cancelled.
    #[error("Athena query {id} {state}: {reason}")]
    Query { id: String, state: String, reason: String },
    /// The query did not finish within the deadline; it was cancelled.
    #[error("Athena query {id} did not finish within {}s; it was cancelled", waited.as_secs())]
    Deadline { id: String, waited: Duration },
}

/// Rows of a finished query, typed by Athena's column types.
#[derive(Debug, Clone, Serialize)]
pub struct AthenaAnswer {
    pub query_id: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    pub bytes_scanned: u64,
    pub estimated_cost_usd: f64,
    /// Where Athena wrote the whole result (`s3://…/QUERY_ID.csv`).
    pub output_location: Option<String>,
    /// Every row was read (false: the engine's row cap stopped the reading).
    pub complete: bool,
}

fn api_error<E: std::error::Error + ProvideErrorMetadata + 'static>(
    what: &str,
    e: &aws_sdk_athena::error::SdkError<E, HttpResponse>,
) -> AthenaError {
    AthenaError::Api(format!("{what}: {}", sdk_message(e)))
}

/// Estimated cost of scanning `bytes`.
pub fn estimated_cost(bytes: u64) -> f64 {
    bytes.max(MIN_BILLED_BYTES) as f64 / 1e12 * USD_PER_TB
}

impl AthenaEngine {
    /// An engine for the workgroup and database, with a client in the connection's region.
    /// Throttling is retried by the SDK's standard strategy.
    pub fn new(aws: &Aws, workgroup: &str, database: &str) -> AthenaEngine {
        let config = aws_sdk_athena::config::Builder::from(aws.config()).retry_config(crate::aws::retries(6)).build();
        AthenaEngine {
            client: Client::from_conf(config),
            workgroup: workgroup.to_string(),
            database: database.to_string(),
            deadline: Duration::from_secs(300),
            poll: Backoff::polls(Duration::from_millis(200), Duration::from_secs(2)),
            max_rows: None,
        }
    }

    /// The same engine, which stops paging through a query's result once it has read `rows`
    /// rows (whole pages: the rest stays in the result file Athena wrote, named in the answer).
    pub fn with_row_cap(mut self, rows: usize) -> AthenaEngine {
        self.max_rows = Some(rows);
        self
    }

    /// The same engine, giving each query at most `deadline` (a function's must end before
    /// the function's own timeout, so that it can still answer).
    pub fn with_deadline(mut self, deadline: Duration) -> AthenaEngine {
        self.deadline = deadline;
        self
    }

    /// Runs `sql` with its execution parameters and returns the typed rows.
    pub async fn run(&self, sql: &Sql) -> Result<AthenaAnswer, AthenaError> {
        let started = Instant::now();
        let mut req = self
            .client
            .start_query_execution()
            .query_string(&sql.text)
            .work_group(&self.workgroup)
            .query_execution_context(QueryExecutionContext::builder().database(&self.database).build());
        if !sql.parameters.is_empty() {
            req = req.set_execution_parameters(Some(sql.parameters.clone()));
        }
        let start = req.send().await.map_err(|e| api_error("StartQueryExecution", &e))?;
        let id = start.query_execution_id().unwrap_or_default().to_string();
        if id.is_empty() {
            return Err(AthenaError::Api("StartQueryExecution returned no query execution id".into()));
        }

        let left = self.deadline.saturating_sub(started.elapsed());
        let (bytes_scanned, output_location) = match self.poll.poll(left, || self.finished(&id)).await? {
            Polled::Ready(done) => done,
            Polled::TimedOut { .. } => {
                // Best effort: the query is abandoned either way.
                let _ = self.client.stop_query_execution().query_execution_id(&id).send().await;
                return Err(AthenaError::Deadline { id, waited: started.elapsed() });
            }
        };

        let mut columns: Vec<String> = Vec::new();
        let mut types: Vec<String> = Vec::new();
        let mut rows = Vec::new();
        let mut pages = self.client.get_query_results().query_execution_id(&id).into_paginator().send();
        let mut first = true;
        let mut complete = true;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| api_error("GetQueryResults", &e))?;
            let more = page.next_token().is_some();
            let Some(rs) = page.result_set() else {
                continue;
            };
            if columns.is_empty() {
                if let Some(meta) = rs.result_set_metadata() {
                    for c in meta.column_info() {
                        columns.push(c.name().to_string());
                        types.push(c.r#type().to_ascii_lowercase());
                    }
                }
            }
            for (i, row) in rs.rows().iter().enumerate() {
                // A SELECT's first result row repeats the column names.
                if first && i == 0 {
                    continue;
                }
                rows.push(
                    row.data()
                        .iter()
                        .enumerate()
                        .map(|(j, d)| typed(d.var_char_value(), types.get(j).map(String::as_str)))
                        .collect(),
                );
            }
            first = false;
            if more && self.max_rows.is_some_and(|cap| rows.len() >= cap) {
                complete = false;
                break;
            }
        }
        Ok(AthenaAnswer {
            query_id: id,
            columns,
            rows,
            bytes_scanned,
            estimated_cost_usd: estimated_cost(bytes_scanned),
            output_location,
            complete,
        })
    }

    /// The bytes the query scanned once it succeeded; `None` while it runs; its reason when
    /// it failed or was cancelled.
    async fn finished(&self, id: &str) -> Result<Option<(u64, Option<String>)>, AthenaError> {
        let got = self
            .client
            .get_query_execution()
            .query_execution_id(id)
            .send()
            .await
            .map_err(|e| api_error("GetQueryExecution", &e))?;
        let exec = got.query_execution();
        let status = exec.and_then(|q| q.status());
        match status.and_then(|s| s.state()) {
            Some(QueryExecutionState::Succeeded) => {
                let bytes = exec.and_then(|q| q.statistics()).and_then(|s| s.data_scanned_in_bytes()).unwrap_or(0);
                let location =
                    exec.and_then(|q| q.result_configuration()).and_then(|r| r.output_location()).map(str::to_string);
                Ok(Some((bytes.max(0) as u64, location)))
            }
            Some(state @ (QueryExecutionState::Failed | QueryExecutionState::Cancelled)) => {
                let reason = status
                    .and_then(|s| s.athena_error().and_then(|a| a.error_message()).or(s.state_change_reason()))
                    .unwrap_or("no reason given")
                    .to_string();
                Err(AthenaError::Query { id: id.to_string(), state: state.as_str().to_string(), reason })
            }
            _ => Ok(None),
        }
    }
}

/// A result cell as JSON, by Athena's column type.
fn typed(v: Option<&str>, ty: Option<&str>) -> Value {
    let Some(v) = v else { return Value::Null };
    match ty.unwrap_or("varchar") {
        "tinyint" | "smallint" | "integer" | "int" | "bigint" => {
            v.parse::<i64>().map_or_else(|_| Value::String(v.into()), Value::from)
        }
        "double" | "float" | "real" | "decimal" => v
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| Value::String(v.into()), Value::Number),
        "boolean" => match v {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(v.into()),
        },
        _ => Value::String(v.into()),
    }
}
