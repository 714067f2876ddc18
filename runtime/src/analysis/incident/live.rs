//! Cloud mode: the evidence the lake holds late or not at all, read from the live services —
//! application logs through Logs Insights (the filter before any limit, per-minute counts by
//! `stats … by bin(1m)`), metrics through `GetMetricData` (the alarm's metric and its neighbours
//! first, then the spec's namespaces), failed traces through X-Ray — beside the lake's CloudTrail,
//! Config and ALB evidence through Athena. Each answer has the columns of the query the lake
//! would answer (`log-minutes`, `log-errors`, `metric-points`), so the analysis is the same
//! code whichever reader it came from.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::{json, Value};

use super::{gather_lake, Gathered, Scope, SourceReport, SourceStatus, TRACES};
use crate::aws::Aws;
use crate::backoff::Backoff;
use crate::engine::cloudwatch::{Alarm, CloudWatch, MetricId};
use crate::engine::insights::{self, Insights, InsightsAnswer};
use crate::engine::xray::XRay;
use crate::engine::ScanStats;
use crate::lake::{LakeLayout, TableKind};
use crate::query::{self, Answer, Via};
use crate::records::logs::ERROR_WORDS;
use crate::source::Source;

/// The most metrics read (four statistics each: two `GetMetricData` calls).
pub const METRIC_LIMIT: usize = 250;
/// The most failed traces kept.
pub const TRACE_LIMIT: usize = 1000;

/// The live services of one account (the credentials') and region.
pub struct Live {
    pub region: String,
    /// The log groups Logs Insights reads (the spec's, or those the scope names).
    pub log_groups: Vec<String>,
    /// The metric namespaces read besides the alarm's.
    pub namespaces: Vec<String>,
    /// Read X-Ray (the spec's `features.failure_analysis.xray`).
    pub xray: bool,
    /// The alarm the analysis started from: its metric's neighbours are read first.
    pub alarm: Option<Alarm>,
    insights: Insights,
    cloudwatch: CloudWatch,
    traces: XRay,
}

/// Logs Insights' regular-expression form of [`ERROR_WORDS`], case-insensitive.
pub fn error_regex() -> String {
    let escaped: Vec<String> = ERROR_WORDS.iter().map(|w| regex_escape(w)).collect();
    format!("(?i)({})", escaped.join("|"))
}

fn regex_escape(w: &str) -> String {
    w.chars().fold(String::new(), |mut s, c| {
        if !(c.is_ascii_alphanumeric() || c == ' ') {
            s.push('\\');
        }
        s.push(c);
        s
    })
}

/// Events and error events per minute and log group: an error is a message holding one of the
/// error words, in any case — the `log-minutes` query's rule.
pub fn minutes_query() -> String {
    let flags: Vec<String> = ERROR_WORDS.iter().map(|w| format!("strcontains(tolower(@message), \"{w}\")")).collect();
    format!(
        "fields greatest({}) as is_error | stats count(*) as events, sum(is_error) as errors by bin(1m), @log",
        flags.join(", ")
    )
}

/// The error events themselves, oldest first: the filter runs before the limit.
pub fn errors_query(limit: usize) -> String {
    format!(
        "filter @message like /{}/ | fields @timestamp, @log, @logStream, @message, @ptr | sort @timestamp asc | limit {limit}",
        error_regex()
    )
}

impl Live {
    pub fn new(aws: &Aws, region: &str, log_groups: Vec<String>, namespaces: Vec<String>, xray: bool) -> Live {
        Live {
            region: region.to_string(),
            log_groups,
            namespaces,
            xray,
            alarm: None,
            insights: Insights::new(aws, region),
            cloudwatch: CloudWatch::new(aws, region),
            traces: XRay::new(aws, region),
        }
    }

    /// How long a Logs Insights query may run, and how often it is polled.
    pub fn with_insights_deadline(mut self, deadline: Duration, poll: Backoff) -> Live {
        self.insights = self.insights.with_deadline(deadline, poll);
        self
    }

    /// Reads alarm `name`; `Ok(None)` when the region has no such alarm.
    pub async fn alarm(&self, name: &str) -> Result<Option<Alarm>, String> {
        self.cloudwatch.alarm(name).await.map_err(|e| e.to_string())
    }

    /// Logs, metrics and traces of the scope, in parallel.
    pub async fn gather(&self, scope: &Scope) -> Gathered {
        let (logs, metrics, traces) = futures_util::join!(self.logs(scope), self.metrics(scope), self.traces(scope));
        let mut out = logs;
        out.merge(metrics);
        out.merge(traces);
        out
    }

    async fn logs(&self, scope: &Scope) -> Gathered {
        const ENGINE: &str = "logs insights";
        let mut out = Gathered::default();
        let groups = if scope.log_groups.is_empty() { self.log_groups.clone() } else { scope.log_groups.clone() };
        if groups.is_empty() {
            for q in ["log-minutes", "log-errors"] {
                let why =
                    "the spec names no log groups in this account and region (features.failure_analysis.log_groups)"
                        .to_string();
                out.sources.push(SourceReport::not_read("app_logs", q, ENGINE, SourceStatus::Unavailable, why));
            }
            return out;
        }
        let limit = query::find("log-errors").and_then(|d| d.limit).unwrap_or(query::INCIDENT_ROW_LIMIT);
        let (per_minute, events) = (minutes_query(), errors_query(limit));
        let (minutes, errors) = futures_util::join!(
            self.insights.run(&groups, scope.start, scope.end, &per_minute),
            self.insights.run(&groups, scope.start, scope.end, &events),
        );
        for (q, got) in [("log-minutes", minutes), ("log-errors", errors)] {
            match got {
                Ok(found) => {
                    let total = (q == "log-errors").then_some(found.records_matched);
                    let cost = found.cost_usd();
                    let answer = if q == "log-minutes" {
                        self.minutes_answer(&found, scope)
                    } else {
                        self.errors_answer(&found, scope)
                    };
                    out.add("app_logs", q, ENGINE, answer, total, cost);
                }
                Err(e) => {
                    out.sources.push(SourceReport::not_read("app_logs", q, ENGINE, SourceStatus::Failed, e.to_string()))
                }
            }
        }
        out
    }

    fn answer(&self, q: &str, rows: Vec<Vec<Value>>, found: &InsightsAnswer) -> Answer {
        let def = query::find(q).expect("a catalogue query");
        Answer {
            rows,
            stats: ScanStats {
                records: found.records_scanned,
                bytes_scanned: found.bytes_scanned,
                ..ScanStats::default()
            },
            via: Via::Live { service: "logs insights", calls: 1 },
            ..Answer::of(def, Vec::new())
        }
    }

    /// `log-minutes`' rows from `stats … by bin(1m), @log`.
    fn minutes_answer(&self, found: &InsightsAnswer, scope: &Scope) -> Answer {
        let mut rows: Vec<Vec<Value>> = found
            .rows
            .iter()
            .filter_map(|r| {
                let minute = insights::parse_time(r.get("bin(1m)")?)?;
                let (account, group) = insights::split_log(r.get("@log")?);
                if scope.account.as_deref().is_some_and(|a| Some(a) != account) {
                    return None;
                }
                let n = |k: &str| r.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) as i64;
                Some(vec![
                    json!(minute),
                    json!(group),
                    json!(n("events")),
                    json!(n("errors")),
                    json!(account),
                    json!(self.region),
                ])
            })
            .collect();
        rows.sort_by(|a, b| (a[0].as_i64(), a[1].as_str()).cmp(&(b[0].as_i64(), b[1].as_str())));
        self.answer("log-minutes", rows, found)
    }

    /// `log-errors`' rows from the error events (their id is the event's `@ptr`).
    fn errors_answer(&self, found: &InsightsAnswer, scope: &Scope) -> Answer {
        let rows = found
            .rows
            .iter()
            .filter_map(|r| {
                let ts = insights::parse_time(r.get("@timestamp")?)?;
                let (account, group) = insights::split_log(r.get("@log")?);
                if scope.account.as_deref().is_some_and(|a| Some(a) != account) {
                    return None;
                }
                Some(vec![
                    json!(ts),
                    json!(group),
                    json!(r.get("@logStream")),
                    json!(r.get("@ptr")),
                    json!(r.get("@message")),
                    json!(account),
                    json!(self.region),
                ])
            })
            .collect();
        self.answer("log-errors", rows, found)
    }

    /// The metrics to read: the alarm's neighbours (its namespace and dimensions) first, then
    /// the spec's namespaces, at most [`METRIC_LIMIT`].
    async fn metric_list(&self) -> Result<(Vec<MetricId>, bool), String> {
        let mut asks: Vec<(String, Vec<(String, String)>)> = Vec::new();
        if let Some(m) = self.alarm.as_ref().and_then(|a| a.metric.as_ref()) {
            asks.push((m.namespace.clone(), m.dimensions.clone()));
        }
        asks.extend(self.namespaces.iter().map(|ns| (ns.clone(), Vec::new())));
        let mut out: Vec<MetricId> = self.alarm.iter().filter_map(|a| a.metric.clone()).collect();
        let mut cut = false;
        for (ns, dims) in asks {
            let room = METRIC_LIMIT.saturating_sub(out.len());
            if room == 0 {
                cut = true;
                break;
            }
            let (found, more) = self.cloudwatch.list(&ns, &dims, room).await.map_err(|e| e.to_string())?;
            cut |= more;
            for m in found {
                if !out.contains(&m) {
                    out.push(m);
                }
            }
        }
        out.truncate(METRIC_LIMIT);
        Ok((out, cut))
    }

    async fn metrics(&self, scope: &Scope) -> Gathered {
        const ENGINE: &str = "cloudwatch";
        let mut out = Gathered::default();
        let report = |status, why: String| SourceReport::not_read("metrics", "metric-points", ENGINE, status, why);
        if self.namespaces.is_empty() && self.alarm.as_ref().and_then(|a| a.metric.as_ref()).is_none() {
            let why = "no alarm metric and no namespaces (features.failure_analysis.capture.namespaces)".to_string();
            out.sources.push(report(SourceStatus::Unavailable, why));
            return out;
        }
        let limit = query::find("metric-points").and_then(|d| d.limit).unwrap_or(query::METRIC_ROW_LIMIT);
        let read = async {
            let (metrics, cut) = self.metric_list().await?;
            let points =
                self.cloudwatch.points(&metrics, scope.start, scope.end, limit).await.map_err(|e| e.to_string())?;
            Ok::<_, String>((points, cut, metrics.len()))
        };
        match read.await {
            Ok((points, cut, n)) => {
                let rows = points
                    .points
                    .iter()
                    .map(|p| {
                        vec![
                            json!(p.timestamp_ms),
                            json!(p.metric.namespace),
                            json!(p.metric.name),
                            json!(p.metric.dimensions_text()),
                            json!(p.sum),
                            json!(p.count),
                            json!(p.max),
                            json!(p.min),
                            Value::Null,
                            Value::Null,
                            json!(self.region),
                        ]
                    })
                    .collect();
                let def = query::find("metric-points").expect("a catalogue query");
                let answer =
                    Answer { via: Via::Live { service: ENGINE, calls: points.calls }, ..Answer::of(def, rows) };
                out.add("metrics", "metric-points", ENGINE, answer, None, 0.0);
                if let Some(s) = out.sources.last_mut().filter(|_| cut) {
                    s.stopped_because = Some(format!("metric limit ({METRIC_LIMIT} of more; read {n})"));
                }
            }
            Err(e) => out.sources.push(report(SourceStatus::Failed, e)),
        }
        out
    }

    async fn traces(&self, scope: &Scope) -> Gathered {
        const ENGINE: &str = "x-ray";
        let mut out = Gathered::default();
        if !self.xray {
            let why = "features.failure_analysis.xray is off".to_string();
            out.sources.push(SourceReport::not_read("xray", TRACES, ENGINE, SourceStatus::Unavailable, why));
            return out;
        }
        match self.traces.failed(scope.start, scope.end, TRACE_LIMIT).await {
            Ok(read) => {
                let rows = read
                    .traces
                    .iter()
                    .map(|t| {
                        vec![
                            json!(t.start_ms),
                            json!(t.id),
                            json!(t.fault),
                            json!(t.error),
                            json!(t.throttle),
                            json!(t.response_time),
                            json!(t.http_status),
                            json!(t.url),
                            json!(t.root_service),
                            json!(t.root_exception),
                        ]
                    })
                    .collect();
                let answer = Answer {
                    columns: TRACE_COLUMNS.iter().map(|c| c.to_string()).collect(),
                    rows,
                    stats: ScanStats::default(),
                    via: Via::Live { service: ENGINE, calls: read.calls },
                };
                out.add("xray", TRACES, ENGINE, answer, None, 0.0);
                if let Some(s) = out.sources.last_mut() {
                    s.stopped_because = read.stopped_because;
                }
            }
            Err(e) => {
                out.sources.push(SourceReport::not_read("xray", TRACES, ENGINE, SourceStatus::Failed, e.to_string()))
            }
        }
        out
    }
}

/// The columns of the traces answer.
pub const TRACE_COLUMNS: &[&str] = &[
    "timestamp",
    "trace_id",
    "fault",
    "error",
    "throttle",
    "response_time",
    "http_status",
    "url",
    "root_service",
    "root_exception",
];

/// Cloud mode's evidence: the lake's CloudTrail, Config and ALB through `source`, and the live
/// services' logs, metrics and traces, read at the same time.
pub async fn gather(source: &Source, layout: &LakeLayout, scope: &Scope, live: &Live) -> Gathered {
    let except = [TableKind::AppLogs, TableKind::Metrics];
    let (mut lake, now) = futures_util::join!(gather_lake(source, layout, scope, &except), live.gather(scope));
    lake.merge(now);
    lake
}

/// The window an alarm gives: [`Scope::around`] its last transition to ALARM.
pub fn alarm_window(alarm: &Alarm) -> Option<(Timestamp, Timestamp)> {
    alarm.last_alarm.map(Scope::around)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_insights_queries_use_the_one_list_of_error_words() {
        assert_eq!(error_regex(), "(?i)(error|exception|timeout|timed out|fatal|panic)");
        let re = regex_escape("a.b(c)");
        assert_eq!(re, "a\\.b\\(c\\)");
        let m = minutes_query();
        for w in ERROR_WORDS {
            assert!(m.contains(&format!("strcontains(tolower(@message), \"{w}\")")), "{m}");
        }
        let e = errors_query(2000);
        let filter = e.find("filter").unwrap();
        let limit = e.find("limit").unwrap();
        assert!(filter < limit, "the filter runs before the limit: {e}");
        assert!(e.ends_with("limit 2000"));
    }
}
