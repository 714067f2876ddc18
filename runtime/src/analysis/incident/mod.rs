//! Failure analysis: an incident window → evidence from every source the lake has → a merged
//! timeline, the onset, error signatures, the changes before the onset ranked, and hypotheses
//! that cite their evidence by id.
//!
//! Everything here is deterministic: the code gathers and correlates, so the same lake gives
//! the same analysis, and every claim names evidence that exists. A model (when one is asked)
//! only ranks and explains what this module found.
//!
//! Evidence is read through [`Source`] with the catalogue's incident queries (`changes`,
//! `alb-minutes`, `alb-error-urls`, `log-minutes`, `log-errors`, `metric-points`), each bounded
//! by the query's row limit; a source that fails is reported and the others still answer.

pub mod changes;
#[cfg(feature = "live")]
pub mod live;
pub mod rank;
pub mod signatures;

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde_json::Value;

use self::changes::Category;
use super::robust;
use crate::lake::{LakeLayout, TableKind};
use crate::query::{self, utc_text, Answer};
use crate::source::Source;

/// How far before the window's start changes are read (a change can precede its failure).
pub const LOOKBACK_MINUTES: i64 = 60;
/// The longest window an analysis reads.
pub const MAX_WINDOW_HOURS: i64 = 24;
/// Minutes of quiet the onset needs before it (its baseline).
pub const MIN_BASELINE_MINUTES: usize = 5;
/// Lists in the analysis are cut to this many entries (the rest is counted).
pub const TOP: usize = 10;

/// What to analyse.
#[derive(Debug, Clone)]
pub struct Scope {
    pub start: Timestamp,
    pub end: Timestamp,
    pub account: Option<String>,
    pub region: Option<String>,
    /// Only these log groups (empty: every group in the lake).
    pub log_groups: Vec<String>,
}

/// Why a scope is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScopeError(pub String);

impl Scope {
    /// Checks the window: start before end, at most [`MAX_WINDOW_HOURS`].
    pub fn new(
        start: Timestamp,
        end: Timestamp,
        account: Option<String>,
        region: Option<String>,
        log_groups: Vec<String>,
    ) -> Result<Scope, ScopeError> {
        if start >= end {
            return Err(ScopeError(format!(
                "the window's start ({}) is not before its end ({})",
                utc_text(start),
                utc_text(end)
            )));
        }
        if end.duration_since(start) > SignedDuration::from_hours(MAX_WINDOW_HOURS) {
            return Err(ScopeError(format!(
                "the window from {} to {} is longer than {MAX_WINDOW_HOURS} hours; an incident window is minutes to hours (try --at TIME)",
                utc_text(start),
                utc_text(end)
            )));
        }
        Ok(Scope { start, end, account, region, log_groups })
    }

    /// `--at T`: from 30 minutes before to 10 minutes after.
    pub fn around(at: Timestamp) -> (Timestamp, Timestamp) {
        (at - SignedDuration::from_mins(30), at + SignedDuration::from_mins(10))
    }

    /// The parameters of query `q` for this scope (those it takes), from `start`.
    fn pairs(&self, q: &str, start: Timestamp) -> Vec<(String, String)> {
        let takes = |name: &str| query::find(q).is_some_and(|d| d.params.iter().any(|p| p.name == name));
        let mut p = vec![("start".to_string(), utc_text(start)), ("end".to_string(), utc_text(self.end))];
        p.extend(self.account.iter().filter(|_| takes("account")).map(|a| ("account".to_string(), a.clone())));
        p.extend(self.region.iter().filter(|_| takes("region")).map(|r| ("region".to_string(), r.clone())));
        p
    }
}

/// Whether a source answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceStatus {
    Ok,
    /// Read, and nothing in the window.
    Empty,
    Failed,
    /// The lake does not hold it (the spec does not capture it).
    Unavailable,
}

/// One evidence source: what was read and what was kept.
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    pub name: &'static str,
    pub query: &'static str,
    /// What read it: `mirror`, `athena`, `logs insights`, `cloudwatch`, `x-ray`.
    pub engine: &'static str,
    pub status: SourceStatus,
    /// Rows kept, and how many there were in all (when the source can tell).
    pub kept: usize,
    pub total: Option<u64>,
    pub stopped_because: Option<String>,
    pub error: Option<String>,
    /// What the engine read (a mirror's bytes, or Athena's scanned bytes).
    pub bytes_scanned: u64,
    /// What Athena bills for it (0 for a mirror).
    pub cost_usd: f64,
}

/// The answers of one analysis, by query name.
#[derive(Debug, Default)]
pub struct Gathered {
    pub answers: BTreeMap<&'static str, Answer>,
    pub sources: Vec<SourceReport>,
}

/// (source name, query, the table it needs, whether it reads the look-back too).
const SOURCES: &[(&str, &str, TableKind, bool)] = &[
    ("cloudtrail", "changes", TableKind::CloudTrail, true),
    ("config", "config-items", TableKind::ConfigHistory, true),
    ("alb", "alb-minutes", TableKind::AlbAccessLogs, false),
    ("alb", "alb-error-urls", TableKind::AlbAccessLogs, false),
    ("app_logs", "log-minutes", TableKind::AppLogs, false),
    ("app_logs", "log-errors", TableKind::AppLogs, false),
    ("metrics", "metric-points", TableKind::Metrics, false),
];

fn why_unavailable(kind: TableKind) -> &'static str {
    match kind {
        TableKind::AlbAccessLogs => "the spec lists no ALB access-log buckets (sources.alb)",
        TableKind::AppLogs => "the lake does not capture application logs (features.failure_analysis.capture.logs)",
        TableKind::Metrics => "the lake does not capture metrics (features.failure_analysis.capture.metrics)",
        TableKind::ConfigHistory => "the lake holds no AWS Config history (sources.config)",
        _ => "the lake has no such table",
    }
}

/// Reads every source's evidence for the scope from the lake, in parallel where the source
/// allows. X-Ray is read in cloud mode only ([`live::gather`]).
pub async fn gather(source: &Source, layout: &LakeLayout, scope: &Scope) -> Gathered {
    let mut out = gather_lake(source, layout, scope, &[]).await;
    out.sources.push(SourceReport::not_read(
        "xray",
        TRACES,
        source.name(),
        SourceStatus::Unavailable,
        "X-Ray traces are read live, in cloud mode (--athena); the lake holds none".into(),
    ));
    out
}

/// The name traces are kept under (not a catalogue query: only X-Ray answers it).
pub const TRACES: &str = "trace-summaries";

/// Reads the lake's evidence, except the tables in `except` (a live service answers those).
pub async fn gather_lake(source: &Source, layout: &LakeLayout, scope: &Scope, except: &[TableKind]) -> Gathered {
    let tables: Vec<TableKind> = layout.tables().iter().map(|t| t.kind).collect();
    let lookback = scope.start - SignedDuration::from_mins(LOOKBACK_MINUTES);
    let asks = SOURCES.iter().filter(|(_, _, kind, _)| !except.contains(kind)).map(|&(name, q, kind, back)| {
        let pairs = scope.pairs(q, if back { lookback } else { scope.start });
        let present = tables.contains(&kind);
        async move {
            if !present {
                return (name, q, Err(SourceStatus::Unavailable), why_unavailable(kind).to_string());
            }
            match source.ask(q, &pairs, layout).await {
                Ok(a) => (name, q, Ok(a), String::new()),
                Err(e) => (name, q, Err(SourceStatus::Failed), e.to_string()),
            }
        }
    });
    let results = futures_util::future::join_all(asks).await;
    let mut out = Gathered::default();
    for (name, q, result, why) in results {
        let mut a = match result {
            Ok(a) => a,
            Err(status) => {
                out.sources.push(SourceReport::not_read(name, q, source.name(), status, why));
                continue;
            }
        };
        if !scope.log_groups.is_empty() && q.starts_with("log-") {
            let at = a.columns.iter().position(|c| c == "loggroup");
            a.rows.retain(|r| at.and_then(|i| r[i].as_str()).is_some_and(|g| scope.log_groups.iter().any(|x| x == g)));
        }
        let cost_usd = match &a.via {
            query::Via::Athena { estimated_cost_usd, .. } => *estimated_cost_usd,
            _ => 0.0,
        };
        out.add(name, q, source.name(), a, None, cost_usd);
    }
    // log-errors keeps at most its limit; log-minutes counts every error exactly.
    let total_errors: i64 = out.answers.get("log-minutes").map_or(0, |a| a.records().map(|r| r.int("errors")).sum());
    if let Some(s) = out.sources.iter_mut().find(|s| s.query == "log-errors" && s.status != SourceStatus::Failed) {
        if out.answers.contains_key("log-minutes") {
            s.total = Some(total_errors.max(0) as u64);
        }
    }
    out
}

impl SourceReport {
    /// A source that gave no answer: failed, or unavailable, and why.
    pub fn not_read(
        name: &'static str,
        query: &'static str,
        engine: &'static str,
        status: SourceStatus,
        why: String,
    ) -> Self {
        SourceReport {
            name,
            query,
            engine,
            status,
            kept: 0,
            total: None,
            stopped_because: None,
            error: Some(why),
            bytes_scanned: 0,
            cost_usd: 0.0,
        }
    }
}

impl Gathered {
    /// Keeps answer `a` to `query` and reports it: ok or empty, kept against `total` (when the
    /// source can tell), stopped at the query's row limit when it reached it.
    pub fn add(
        &mut self,
        name: &'static str,
        query: &'static str,
        engine: &'static str,
        a: Answer,
        total: Option<u64>,
        cost_usd: f64,
    ) {
        let limit = query::find(query).and_then(|d| d.limit);
        self.sources.push(SourceReport {
            name,
            query,
            engine,
            status: if a.rows.is_empty() { SourceStatus::Empty } else { SourceStatus::Ok },
            kept: a.rows.len(),
            total,
            stopped_because: limit.filter(|l| a.rows.len() >= *l).map(|l| format!("row limit ({l})")),
            error: None,
            bytes_scanned: a.stats.bytes_scanned,
            cost_usd,
        });
        self.answers.insert(query, a);
    }

    /// Adds what another reader gathered.
    pub fn merge(&mut self, other: Gathered) {
        self.answers.extend(other.answers);
        self.sources.extend(other.sources);
    }
}

/// One item of the timeline (and of the evidence hypotheses cite).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Evidence {
    /// Stable: built from the record's own id (`ct:<eventID>`, `log:<event id>`,
    /// `alb:<elb>@<minute>`, `metric:<namespace>/<name>{dims}@<minute>`, `sig:<n>`).
    pub id: String,
    /// UTC, RFC 3339.
    pub time: String,
    pub source: &'static str,
    /// What the item says, as data (the reporter puts it into words).
    pub detail: Detail,
}

/// What an evidence item records.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Detail {
    /// A load balancer's first minute of 5xx from the onset.
    Alb { requests: i64, elb_5xx: i64, target_5xx: i64, no_target: i64 },
    /// An error signature that occurs from the onset.
    Signature { signature: String, before: u64, during: u64, first_event: String },
    /// A metric that left its baseline.
    Metric { namespace: String, metric: String, dimensions: String, value: f64, baseline_median: f64 },
    /// A CloudTrail write or failed call.
    Change { category: String, event: String, actor: Option<String>, targets: String, error: Option<String> },
    /// Failed X-Ray traces that share a root cause (service and exception).
    Trace { service: String, exception: Option<String>, traces: u64, faults: u64, first_trace: String },
    /// An AWS Config configuration item, with the CloudTrail events it relates.
    Config {
        resource_type: String,
        resource_id: String,
        resource_name: Option<String>,
        status: String,
        related: Vec<String>,
    },
}

/// A change before the onset, scored.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RankedChange {
    pub evidence: String,
    pub time: String,
    pub category: Category,
    pub event: String,
    pub actor: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub targets: Vec<String>,
    /// Minutes between the change and the onset (negative: just after it).
    pub minutes_before_onset: f64,
    /// Targets the failing side names too (log messages, log groups, load balancers, URLs).
    pub shared_names: Vec<String>,
    /// AWS Config items that record what the change did (Config relates them to its event).
    pub config_items: Vec<String>,
    pub score: f64,
}

/// An error signature with its counts before and from the onset.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Signature {
    pub evidence: String,
    pub signature: String,
    pub log_groups: Vec<String>,
    pub before: u64,
    pub during: u64,
    pub first_seen: String,
    /// The first event's id (`log:<id>`).
    pub first_event: String,
    pub sample: String,
}

/// A metric that left its baseline at or after the onset.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MetricDeparture {
    pub evidence: String,
    pub namespace: String,
    pub metric: String,
    pub dimensions: String,
    pub minute: String,
    pub value: f64,
    pub baseline_median: f64,
    pub score: Option<f64>,
}

/// Failed traces grouped by the root cause X-Ray gives them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TraceCause {
    /// `trace:<first trace id>`.
    pub evidence: String,
    pub service: String,
    pub exception: Option<String>,
    pub traces: u64,
    pub faults: u64,
    /// Of them, from the onset.
    pub during: u64,
    pub first_seen: String,
    pub first_trace: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

/// A root-cause hypothesis and the evidence it rests on.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Hypothesis {
    pub rank: usize,
    pub cause: Cause,
    pub confidence: Confidence,
    pub score: f64,
    pub evidence: Vec<String>,
}

/// What a hypothesis says caused the failure, as data (the reporter puts it into words, with
/// the checks that would confirm it).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cause {
    /// A change shortly before the onset.
    Change {
        category: Category,
        event: String,
        time: String,
        actor: Option<String>,
        targets: Vec<String>,
        minutes_before_onset: f64,
        shared_names: Vec<String>,
    },
    /// The load balancer got no response from its targets.
    TargetsUnreachable { responses_missing: i64 },
    /// The targets answered 5xx themselves.
    TargetErrors { count: i64 },
    /// An error signature that appeared at the onset.
    NewError { signature: String, log_groups: Vec<String>, first_seen: String, first_event: String },
    /// X-Ray places the failed traces' root cause in one service.
    TraceRootCause { service: String, exception: Option<String>, traces: u64, first_seen: String },
    /// A model's hypothesis, in its own words.
    Model { title: String, next_checks: Vec<String> },
}

/// Errors per minute, as the onset was found from.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Minute {
    pub minute: String,
    pub alb_5xx: i64,
    pub log_errors: i64,
    pub requests: i64,
}

/// The analysis of one window.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub window: WindowOut,
    pub hypotheses: Vec<Hypothesis>,
    pub timeline: Vec<Evidence>,
    pub changes: Vec<RankedChange>,
    pub signatures: Vec<Signature>,
    pub metrics: Vec<MetricDeparture>,
    /// Failed traces by root cause (cloud mode).
    pub traces: Vec<TraceCause>,
    pub error_urls: Vec<Value>,
    pub minutes: Vec<Minute>,
    pub sources: Vec<SourceReport>,
    /// Why there is no onset, when there is none.
    pub onset_note: Option<String>,
    /// Who ranked the hypotheses (the code, or a model).
    pub ranking: rank::Ranking,
}

#[derive(Debug, Clone, Serialize)]
pub struct WindowOut {
    pub from: String,
    pub to: String,
    pub onset: Option<String>,
}

fn minute_of(t: Timestamp) -> i64 {
    t.as_second().div_euclid(60)
}

fn minute_text(m: i64) -> String {
    Timestamp::from_second(m * 60).map(utc_text).unwrap_or_default()
}

fn parse_ts(s: &str) -> Option<Timestamp> {
    s.parse::<Timestamp>().ok()
}

/// `2025-06-12T09:41` (ALB's minute text) → minute number.
fn alb_minute(s: &str) -> Option<i64> {
    parse_ts(&format!("{s}:00Z")).map(minute_of)
}

/// The first minute whose errors rise out of the robust baseline of the minutes before it (and
/// above counting noise), and stay out in one of the next two; the reason when there is none.
pub fn onset(series: &[(i64, i64)]) -> Result<i64, String> {
    for i in MIN_BASELINE_MINUTES..series.len() {
        let base: Vec<f64> = series[..i].iter().map(|(_, x)| *x as f64).collect();
        let out = |x: i64| robust::unusual_rise(x as f64, &base, 3.0);
        if out(series[i].1) && series[i + 1..].iter().take(2).any(|(_, x)| out(*x)) {
            return Ok(series[i].0);
        }
    }
    if series.iter().all(|(_, x)| *x == 0) {
        return Err("no errors in the window (ALB 5xx, application log errors)".into());
    }
    Err(format!(
        "the errors never leave their baseline: no minute after the first {MIN_BASELINE_MINUTES} rises beyond it and stays (widen the window so that it starts before the failure)"
    ))
}

fn tokens_of(target: &str) -> Vec<String> {
    let mut out = vec![target.to_string()];
    if target.starts_with("arn:") {
        out.extend(target.rsplit([':', '/']).next().map(str::to_string));
    }
    out.retain(|t| t.len() >= 4);
    out
}

/// Analyses what [`gather`] read.
pub fn analyze(scope: &Scope, g: Gathered) -> Analysis {
    let empty = Answer::default();
    let get = |q: &str| g.answers.get(q).unwrap_or(&empty);
    let per_minute = errors_per_minute(scope, get("alb-minutes"), get("log-minutes"));
    let series: Vec<(i64, i64)> = per_minute.iter().map(|(k, m)| (*k, m.alb_5xx + m.log_errors)).collect();
    let found = onset(&series);
    let onset_min = found.as_ref().ok().copied();

    let signatures = cluster(get("log-errors"), onset_min.map(|m| m * 60_000));
    let metrics = departures(get("metric-points"), onset_min);
    let traces = trace_causes(get(TRACES), onset_min);
    let mut timeline = onset_evidence(get("alb-minutes"), onset_min, &signatures, &metrics);
    timeline.extend(trace_evidence(&traces));
    let mut failing = failing_names(&g, &signatures, &metrics);
    failing.extend(traces.iter().map(|t| t.service.clone()));
    let mut changes = rank_changes(get("changes"), onset_min, &failing);
    timeline.extend(config_evidence(get("config-items"), &mut changes));
    timeline.extend(change_evidence(get("changes"), &changes));
    timeline.sort_by(|a, b| (a.time.as_str(), a.id.as_str()).cmp(&(b.time.as_str(), b.id.as_str())));

    let hypotheses = hypotheses(&changes, &signatures, &traces, get("alb-minutes"), onset_min, &timeline);
    Analysis {
        window: WindowOut { from: utc_text(scope.start), to: utc_text(scope.end), onset: onset_min.map(minute_text) },
        hypotheses,
        timeline,
        changes,
        signatures,
        metrics,
        traces,
        error_urls: get("alb-error-urls").objects(),
        minutes: per_minute.into_values().collect(),
        sources: g.sources,
        onset_note: found.err(),
        ranking: rank::Ranking::by_code("none"),
    }
}

/// Errors per minute of the window: ALB 5xx (from the load balancer) and application log errors.
fn errors_per_minute(scope: &Scope, alb: &Answer, logs: &Answer) -> BTreeMap<i64, Minute> {
    let (first, last) = (minute_of(scope.start), minute_of(scope.end - SignedDuration::from_secs(1)));
    let mut per_minute: BTreeMap<i64, Minute> = (first..=last)
        .map(|m| (m, Minute { minute: minute_text(m), alb_5xx: 0, log_errors: 0, requests: 0 }))
        .collect();
    for r in alb.records() {
        if let Some(m) = r.str("minute").and_then(alb_minute).and_then(|m| per_minute.get_mut(&m)) {
            m.alb_5xx += r.int("elb_5xx");
            m.requests += r.int("requests");
        }
    }
    for r in logs.records() {
        if let Some(m) = per_minute.get_mut(&r.int("minute").div_euclid(60_000)) {
            m.log_errors += r.int("errors");
        }
    }
    per_minute
}

/// The failure's own evidence: each load balancer's first 5xx minute from the onset, the
/// signatures that occur from it, the metrics that left their baseline.
fn onset_evidence(
    alb: &Answer,
    onset_min: Option<i64>,
    signatures: &[Signature],
    metrics: &[MetricDeparture],
) -> Vec<Evidence> {
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for r in alb.records().filter(|r| r.int("elb_5xx") > 0) {
        let Some(m) = r.str("minute").and_then(alb_minute) else { continue };
        let elb = r.str("elb").unwrap_or("-");
        if onset_min.is_some_and(|o| m >= o) && seen.insert(elb.to_string()) {
            out.push(Evidence {
                id: format!("alb:{elb}@{}", r.str("minute").unwrap_or("")),
                time: minute_text(m),
                source: "alb",
                detail: Detail::Alb {
                    requests: r.int("requests"),
                    elb_5xx: r.int("elb_5xx"),
                    target_5xx: r.int("target_5xx"),
                    no_target: r.int("no_target"),
                },
            });
        }
    }
    out.extend(signatures.iter().filter(|s| s.during > 0).take(TOP).map(|s| Evidence {
        id: s.evidence.clone(),
        time: s.first_seen.clone(),
        source: "app_logs",
        detail: Detail::Signature {
            signature: s.signature.clone(),
            before: s.before,
            during: s.during,
            first_event: s.first_event.clone(),
        },
    }));
    out.extend(metrics.iter().take(TOP).map(|m| Evidence {
        id: m.evidence.clone(),
        time: m.minute.clone(),
        source: "metrics",
        detail: Detail::Metric {
            namespace: m.namespace.clone(),
            metric: m.metric.clone(),
            dimensions: m.dimensions.clone(),
            value: m.value,
            baseline_median: m.baseline_median,
        },
    }));
    out
}

/// What the failing side names: log messages and groups, load balancers, URLs, metric dimensions.
fn failing_names(g: &Gathered, signatures: &[Signature], metrics: &[MetricDeparture]) -> Vec<String> {
    let rows = |q: &str| g.answers.get(q).into_iter().flat_map(|a| a.records());
    let mut failing: Vec<String> = rows("log-errors").filter_map(|r| r.str("message").map(str::to_string)).collect();
    failing.extend(signatures.iter().flat_map(|s| s.log_groups.clone()));
    failing
        .extend(rows("alb-minutes").filter(|r| r.int("elb_5xx") > 0).filter_map(|r| r.str("elb").map(str::to_string)));
    failing.extend(rows("alb-error-urls").filter_map(|r| r.str("url").map(str::to_string)));
    failing.extend(metrics.iter().map(|m| m.dimensions.clone()));
    failing
}

/// Failed traces grouped by root cause (service, exception), the most frequent first.
fn trace_causes(traces: &Answer, onset_min: Option<i64>) -> Vec<TraceCause> {
    let mut by: BTreeMap<(String, Option<String>), TraceCause> = BTreeMap::new();
    for r in traces.records() {
        let service = r.str("root_service").unwrap_or("(no root cause)").to_string();
        let exception = r.str("root_exception").map(str::to_string);
        let (ms, id) = (r.int("timestamp"), r.str("trace_id").unwrap_or(""));
        let t = by.entry((service.clone(), exception.clone())).or_insert_with(|| TraceCause {
            evidence: format!("trace:{id}"),
            service,
            exception,
            traces: 0,
            faults: 0,
            during: 0,
            first_seen: Timestamp::from_millisecond(ms).map(utc_text).unwrap_or_default(),
            first_trace: id.to_string(),
        });
        t.traces += 1;
        t.faults += u64::from(r.get("fault").as_bool().unwrap_or(false));
        t.during += u64::from(onset_min.is_some_and(|o| ms.div_euclid(60_000) >= o));
    }
    let mut out: Vec<TraceCause> = by.into_values().collect();
    out.sort_by(|a, b| (b.during, b.traces, &a.first_seen).cmp(&(a.during, a.traces, &b.first_seen)));
    out
}

fn trace_evidence(traces: &[TraceCause]) -> Vec<Evidence> {
    traces
        .iter()
        .take(TOP)
        .map(|t| Evidence {
            id: t.evidence.clone(),
            time: t.first_seen.clone(),
            source: "xray",
            detail: Detail::Trace {
                service: t.service.clone(),
                exception: t.exception.clone(),
                traces: t.traces,
                faults: t.faults,
                first_trace: t.first_trace.clone(),
            },
        })
        .collect()
}

/// AWS Config's record of each change: timeline items, each linked to the changes whose event
/// Config relates to it.
fn config_evidence(items: &Answer, changes: &mut [RankedChange]) -> Vec<Evidence> {
    let mut out = Vec::new();
    for r in items.records() {
        let time = r.str("capturetime").unwrap_or("");
        let id = format!("cfg:{}@{}", r.str("resourceid").unwrap_or(""), time);
        let related: Vec<String> =
            r.str("relatedevents").unwrap_or("").split(' ').filter(|e| !e.is_empty()).map(str::to_string).collect();
        for c in changes.iter_mut().filter(|c| related.iter().any(|e| c.evidence == format!("ct:{e}"))) {
            c.config_items.push(id.clone());
        }
        out.push(Evidence {
            id,
            time: time.to_string(),
            source: "config",
            detail: Detail::Config {
                resource_type: r.str("resourcetype").unwrap_or("").to_string(),
                resource_id: r.str("resourceid").unwrap_or("").to_string(),
                resource_name: r.str("resourcename").map(str::to_string),
                status: r.str("status").unwrap_or("").to_string(),
                related,
            },
        });
    }
    out
}

/// The CloudTrail writes as timeline items (failed calls only when ranked: they are many, and
/// counted elsewhere).
fn change_evidence(rows: &Answer, ranked: &[RankedChange]) -> Vec<Evidence> {
    let mut out = Vec::new();
    for r in rows.records() {
        let id = format!("ct:{}", r.str("eventid").unwrap_or(""));
        let cat = r.str("category").unwrap_or("");
        if cat == Category::FailedCall.as_str() && !ranked.iter().any(|c| c.evidence == id) {
            continue;
        }
        out.push(Evidence {
            id,
            time: r.str("eventtime").unwrap_or("").to_string(),
            source: "cloudtrail",
            detail: Detail::Change {
                category: cat.to_string(),
                event: r.str("eventname").unwrap_or("").to_string(),
                actor: r.str("arn").or(r.str("invokedby")).map(str::to_string),
                targets: r.str("targets").unwrap_or("").to_string(),
                error: r.str("errorcode").map(str::to_string),
            },
        });
    }
    out
}

/// Clusters error events by signature; counts before and from the onset.
fn cluster(errors: &Answer, onset_ms: Option<i64>) -> Vec<Signature> {
    let mut by: BTreeMap<String, Signature> = BTreeMap::new();
    for r in errors.records() {
        let (Some(message), ts) = (r.str("message"), r.int("timestamp")) else { continue };
        let sig = signatures::signature(message);
        let during = onset_ms.is_none_or(|o| ts >= o);
        let first_time = Timestamp::from_millisecond(ts).map(utc_text).unwrap_or_default();
        let s = by.entry(sig.clone()).or_insert_with(|| Signature {
            evidence: String::new(),
            signature: sig,
            log_groups: Vec::new(),
            before: 0,
            during: 0,
            first_seen: first_time.clone(),
            first_event: format!("log:{}", r.str("id").unwrap_or("")),
            sample: message.chars().take(300).collect(),
        });
        if during {
            s.during += 1;
        } else {
            s.before += 1;
        }
        if let Some(g) = r.str("loggroup") {
            if !s.log_groups.iter().any(|x| x == g) {
                s.log_groups.push(g.to_string());
            }
        }
    }
    let mut out: Vec<Signature> = by.into_values().collect();
    // New signatures first (none before the onset), then by how often they occur from it.
    out.sort_by(|a, b| {
        ((a.before > 0), std::cmp::Reverse(a.during), &a.first_seen, &a.signature).cmp(&(
            (b.before > 0),
            std::cmp::Reverse(b.during),
            &b.first_seen,
            &b.signature,
        ))
    });
    for (i, s) in out.iter_mut().enumerate() {
        s.evidence = format!("sig:{}", i + 1);
    }
    out
}

/// Each metric series (namespace, name, dimensions) whose sum at or after the onset leaves
/// the baseline of the minutes before it; the first such minute.
fn departures(points: &Answer, onset_min: Option<i64>) -> Vec<MetricDeparture> {
    let Some(o) = onset_min else { return Vec::new() };
    let mut series: BTreeMap<(String, String, String), Vec<(i64, f64)>> = BTreeMap::new();
    for r in points.records() {
        let key = (
            r.str("namespace").unwrap_or("").to_string(),
            r.str("metric_name").unwrap_or("").to_string(),
            r.str("dimensions").unwrap_or("").to_string(),
        );
        let value = r.get("sum").as_f64().unwrap_or(0.0);
        series.entry(key).or_default().push((r.int("timestamp").div_euclid(60_000), value));
    }
    let mut out = Vec::new();
    for ((ns, name, dims), pts) in series {
        let base: Vec<f64> = pts.iter().filter(|(m, _)| *m < o).map(|(_, v)| *v).collect();
        if base.len() < MIN_BASELINE_MINUTES {
            continue;
        }
        if let Some((m, v, d)) = pts
            .iter()
            .filter(|(m, _)| *m >= o)
            .map(|(m, v)| (*m, *v, robust::departure(*v, &base, 1.0)))
            .find(|(_, v, d)| d.unusual && *v != d.median)
        {
            out.push(MetricDeparture {
                evidence: format!("metric:{ns}/{name}{{{dims}}}@{}", minute_text(m)),
                namespace: ns,
                metric: name,
                dimensions: dims,
                minute: minute_text(m),
                value: v,
                baseline_median: d.median,
                score: d.score,
            });
        }
    }
    out.sort_by(|a, b| (&a.minute, &a.evidence).cmp(&(&b.minute, &b.evidence)));
    out
}

/// Scores each change in the look-back before the onset (and up to a minute after it, for
/// clock skew): category weight × proximity (halves every ~10 minutes) × 2 when the failing
/// side names one of its targets.
fn rank_changes(rows: &Answer, onset_min: Option<i64>, failing: &[String]) -> Vec<RankedChange> {
    let Some(o) = onset_min else { return Vec::new() };
    let onset = Timestamp::from_second(o * 60).unwrap_or(Timestamp::UNIX_EPOCH);
    let mut out = Vec::new();
    for r in rows.records() {
        let Some(cat) = r.str("category").and_then(Category::parse) else { continue };
        if cat == Category::FailedCall {
            continue;
        }
        let Some(t) = r.str("eventtime").and_then(parse_ts) else { continue };
        let before = onset.duration_since(t).as_secs_f64() / 60.0;
        if !(-1.0..=LOOKBACK_MINUTES as f64).contains(&before) {
            continue;
        }
        let targets: Vec<String> =
            r.str("targets").unwrap_or("").split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect();
        let shared: Vec<String> = targets
            .iter()
            .filter(|t| tokens_of(t).iter().any(|tok| failing.iter().any(|f| f.contains(tok.as_str()))))
            .cloned()
            .collect();
        let proximity = (-(before.max(0.0)) / 15.0).exp();
        let score = cat.weight() * proximity * if shared.is_empty() { 1.0 } else { 2.0 };
        out.push(RankedChange {
            evidence: format!("ct:{}", r.str("eventid").unwrap_or("")),
            time: r.str("eventtime").unwrap_or("").to_string(),
            category: cat,
            event: format!(
                "{}:{}",
                r.str("eventsource").unwrap_or("").trim_end_matches(".amazonaws.com"),
                r.str("eventname").unwrap_or("")
            ),
            actor: r.str("arn").or(r.str("invokedby")).map(str::to_string),
            account: r.str("account").map(str::to_string),
            region: r.str("awsregion").map(str::to_string),
            targets,
            minutes_before_onset: (before * 10.0).round() / 10.0,
            shared_names: shared,
            config_items: Vec::new(),
            score: (score * 1000.0).round() / 1000.0,
        });
    }
    out.sort_by(|a, b| {
        b.score.total_cmp(&a.score).then_with(|| a.time.cmp(&b.time)).then_with(|| a.evidence.cmp(&b.evidence))
    });
    out
}

fn confidence(score: f64) -> Confidence {
    if score >= 0.5 {
        Confidence::High
    } else if score >= 0.2 {
        Confidence::Medium
    } else {
        Confidence::Low
    }
}

fn hypotheses(
    changes: &[RankedChange],
    signatures: &[Signature],
    traces: &[TraceCause],
    alb: &Answer,
    onset_min: Option<i64>,
    timeline: &[Evidence],
) -> Vec<Hypothesis> {
    let Some(o) = onset_min else { return Vec::new() };
    // The symptoms every hypothesis explains: the first 5xx evidence and the top new signature.
    let mut symptoms: Vec<String> =
        timeline.iter().filter(|e| e.source == "alb").map(|e| e.id.clone()).take(2).collect();
    symptoms.extend(signatures.iter().filter(|s| s.during > 0).take(1).map(|s| s.evidence.clone()));
    symptoms.extend(traces.iter().filter(|t| t.during > 0).take(1).map(|t| t.evidence.clone()));
    let mut out = Vec::new();
    for c in changes.iter().filter(|c| c.score >= 0.02).take(5) {
        let mut evidence = vec![c.evidence.clone()];
        evidence.extend(c.config_items.iter().cloned());
        evidence.extend(symptoms.iter().cloned());
        out.push(Hypothesis {
            rank: 0,
            cause: Cause::Change {
                category: c.category,
                event: c.event.clone(),
                time: c.time.clone(),
                actor: c.actor.clone(),
                targets: c.targets.clone(),
                minutes_before_onset: c.minutes_before_onset,
                shared_names: c.shared_names.clone(),
            },
            confidence: confidence(c.score),
            score: c.score,
            evidence,
        });
    }
    // Without a change to blame: what the symptoms say.
    let (mut no_target, mut target_5xx) = (0, 0);
    for r in alb.records() {
        if r.str("minute").and_then(alb_minute).is_some_and(|m| m >= o) {
            no_target += r.int("no_target");
            target_5xx += r.int("target_5xx");
        }
    }
    if no_target > 0 || target_5xx > 0 {
        let cause = if no_target >= target_5xx {
            Cause::TargetsUnreachable { responses_missing: no_target }
        } else {
            Cause::TargetErrors { count: target_5xx }
        };
        out.push(Hypothesis { rank: 0, cause, confidence: Confidence::Low, score: 0.015, evidence: symptoms.clone() });
    }
    if let Some(s) = signatures.iter().find(|s| s.during > 0 && s.before == 0) {
        out.push(Hypothesis {
            rank: 0,
            cause: Cause::NewError {
                signature: s.signature.clone(),
                log_groups: s.log_groups.clone(),
                first_seen: s.first_seen.clone(),
                first_event: s.first_event.clone(),
            },
            confidence: Confidence::Low,
            score: 0.01,
            evidence: vec![s.evidence.clone()],
        });
    }
    if let Some(t) = traces.iter().find(|t| t.during > 0) {
        out.push(Hypothesis {
            rank: 0,
            cause: Cause::TraceRootCause {
                service: t.service.clone(),
                exception: t.exception.clone(),
                traces: t.during,
                first_seen: t.first_seen.clone(),
            },
            confidence: Confidence::Low,
            score: 0.012,
            evidence: vec![t.evidence.clone()],
        });
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    for (i, h) in out.iter_mut().enumerate() {
        h.rank = i + 1;
    }
    out
}
