//! CloudWatch Logs Insights: one query over named log groups and a time range, polled under a
//! deadline, and stopped (`StopQuery`) when the deadline passes — a query left running keeps
//! scanning, and costing, on the service's side for up to an hour.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_cloudwatchlogs::types::QueryStatus;
use aws_sdk_cloudwatchlogs::Client;
use jiff::Timestamp;

use crate::aws::{sdk_message, Aws};
use crate::backoff::{Backoff, Polled};

/// What Logs Insights charges per GB scanned (us-east-1; other regions differ a little).
pub const USD_PER_GB: f64 = 0.005;

/// Why a query has no result.
#[derive(Debug, thiserror::Error)]
pub enum InsightsError {
    #[error("{0}")]
    Api(String),
    #[error("Logs Insights query {id} ended {status}")]
    Query { id: String, status: String },
    #[error("Logs Insights query {id} was still running after {waited:?}; stopped it")]
    Deadline { id: String, waited: Duration },
}

/// A finished query: its rows (field → value, as Logs Insights returns them) and statistics.
#[derive(Debug, Clone, Default)]
pub struct InsightsAnswer {
    pub query_id: String,
    pub rows: Vec<BTreeMap<String, String>>,
    /// Log events the query's filters matched (before any `limit`).
    pub records_matched: u64,
    pub records_scanned: u64,
    pub bytes_scanned: u64,
}

impl InsightsAnswer {
    pub fn cost_usd(&self) -> f64 {
        self.bytes_scanned as f64 / 1e9 * USD_PER_GB
    }
}

/// Logs Insights in one region.
pub struct Insights {
    client: Client,
    deadline: Duration,
    poll: Backoff,
}

impl Insights {
    /// A client in `region`; throttling and 5xx are retried by the SDK's standard strategy.
    pub fn new(aws: &Aws, region: &str) -> Insights {
        let config = aws_sdk_cloudwatchlogs::config::Builder::from(&aws.in_region(region))
            .retry_config(crate::aws::retries(6))
            .build();
        Insights {
            client: Client::from_conf(config),
            deadline: Duration::from_secs(120),
            poll: Backoff::polls(Duration::from_millis(250), Duration::from_secs(2)),
        }
    }

    /// The longest a query may run before it is stopped.
    pub fn with_deadline(mut self, deadline: Duration, poll: Backoff) -> Insights {
        self.deadline = deadline;
        self.poll = poll;
        self
    }

    /// Runs `query` over `groups` for events in `[start, end)`. Logs Insights takes whole
    /// seconds and includes its end second, so the range sent ends a second before `end`.
    pub async fn run(
        &self,
        groups: &[String],
        start: Timestamp,
        end: Timestamp,
        query: &str,
    ) -> Result<InsightsAnswer, InsightsError> {
        let started = Instant::now();
        let last_second = (end.as_millisecond() - 1).div_euclid(1000);
        let begun = self
            .client
            .start_query()
            .set_log_group_names(Some(groups.to_vec()))
            .start_time(start.as_second())
            .end_time(last_second.max(start.as_second()))
            .query_string(query)
            .send()
            .await
            .map_err(|e| InsightsError::Api(format!("StartQuery: {}", sdk_message(&e))))?;
        let id = begun.query_id().unwrap_or_default().to_string();
        if id.is_empty() {
            return Err(InsightsError::Api("StartQuery returned no query id".into()));
        }
        let left = self.deadline.saturating_sub(started.elapsed());
        match self.poll.poll(left, || self.results(&id)).await? {
            Polled::Ready(answer) => Ok(answer),
            Polled::TimedOut { .. } => {
                // Best effort: the query is abandoned either way.
                let _ = self.client.stop_query().query_id(&id).send().await;
                Err(InsightsError::Deadline { id, waited: started.elapsed() })
            }
        }
    }

    /// The answer once the query completed; `None` while it is scheduled or running.
    async fn results(&self, id: &str) -> Result<Option<InsightsAnswer>, InsightsError> {
        let got = self
            .client
            .get_query_results()
            .query_id(id)
            .send()
            .await
            .map_err(|e| InsightsError::Api(format!("GetQueryResults: {}", sdk_message(&e))))?;
        match got.status() {
            Some(QueryStatus::Complete) => {}
            Some(QueryStatus::Scheduled | QueryStatus::Running) | None => return Ok(None),
            Some(other) => return Err(InsightsError::Query { id: id.to_string(), status: other.as_str().to_string() }),
        }
        let rows = got
            .results()
            .iter()
            .map(|fields| {
                fields
                    .iter()
                    .filter_map(|f| Some((f.field()?.to_string(), f.value().unwrap_or_default().to_string())))
                    .collect()
            })
            .collect();
        let stats = got.statistics();
        let whole = |x: f64| x.max(0.0) as u64;
        Ok(Some(InsightsAnswer {
            query_id: id.to_string(),
            rows,
            records_matched: stats.map_or(0, |s| whole(s.records_matched())),
            records_scanned: stats.map_or(0, |s| whole(s.records_scanned())),
            bytes_scanned: stats.map_or(0, |s| whole(s.bytes_scanned())),
        }))
    }
}

/// A Logs Insights time (`2025-06-12 09:40:00.000`, UTC) → epoch milliseconds.
pub fn parse_time(s: &str) -> Option<i64> {
    let t = s.trim().replacen(' ', "T", 1);
    let t = if t.ends_with('Z') { t } else { format!("{t}Z") };
    t.parse::<Timestamp>().ok().map(|t| t.as_millisecond())
}

/// `@log` (`123456789012:/aws/lambda/x`) → (account, log group).
pub fn split_log(s: &str) -> (Option<&str>, &str) {
    match s.split_once(':') {
        Some((acct, group)) if acct.len() == 12 && acct.bytes().all(|b| b.is_ascii_digit()) => (Some(acct), group),
        _ => (None, s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insights_times_and_log_names_are_read() {
        assert_eq!(parse_time("2025-06-12 09:40:00.000"), Some(1_749_721_200_000));
        assert_eq!(parse_time("2025-06-12 09:40:00.250"), Some(1_749_721_200_250));
        assert_eq!(parse_time("not a time"), None);
        assert_eq!(split_log("222222222222:/aws/lambda/orders-api"), (Some("222222222222"), "/aws/lambda/orders-api"));
        assert_eq!(split_log("/aws/lambda/orders-api"), (None, "/aws/lambda/orders-api"));
    }
}
