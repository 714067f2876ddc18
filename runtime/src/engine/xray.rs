//! X-Ray trace summaries, live: the traces of a window that faulted, erred or were throttled
//! (a filter expression, so the service does the filtering), paged and bounded — the summaries
//! are kept as they come, never all pages first.

use aws_sdk_xray::types::{TimeRangeType, TraceSummary};
use aws_sdk_xray::Client;
use aws_smithy_types::DateTime;
use jiff::{SignedDuration, Timestamp};

use crate::aws::{sdk_message, Aws};

/// `GetTraceSummaries` takes at most 6 hours per call.
pub const MAX_RANGE_HOURS: i64 = 6;
/// Only traces that went wrong: 5xx (fault), 4xx (error), 429 (throttle).
pub const FILTER: &str = "fault = true OR error = true OR throttle = true";

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct XRayError(pub String);

/// One trace that went wrong, and where X-Ray places its root cause.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub id: String,
    /// Epoch milliseconds of the trace's start (else the window's start of the call).
    pub start_ms: i64,
    pub fault: bool,
    pub error: bool,
    pub throttle: bool,
    pub response_time: Option<f64>,
    pub http_status: Option<i32>,
    pub url: Option<String>,
    /// The root-cause service (fault first, else error) and its deepest exception.
    pub root_service: Option<String>,
    pub root_exception: Option<String>,
}

/// What a read kept, and why it stopped early.
#[derive(Debug, Clone, Default)]
pub struct Traces {
    pub traces: Vec<Trace>,
    pub calls: u64,
    /// `Some` when the limit cut the read (more traces matched).
    pub stopped_because: Option<String>,
}

pub struct XRay {
    client: Client,
}

fn root_cause(t: &TraceSummary) -> (Option<String>, Option<String>) {
    let exception = |names: Vec<(Option<&str>, Vec<&str>)>| {
        names.into_iter().find_map(|(service, exceptions)| {
            service.map(|s| (Some(s.to_string()), exceptions.last().map(|e| e.to_string())))
        })
    };
    let faults =
        t.fault_root_causes().iter().flat_map(|c| c.services()).map(|s| {
            (s.name(), s.entity_path().iter().flat_map(|e| e.exceptions()).filter_map(|x| x.name()).collect())
        });
    let errors =
        t.error_root_causes().iter().flat_map(|c| c.services()).map(|s| {
            (s.name(), s.entity_path().iter().flat_map(|e| e.exceptions()).filter_map(|x| x.name()).collect())
        });
    exception(faults.collect()).or_else(|| exception(errors.collect())).unwrap_or((None, None))
}

impl XRay {
    pub fn new(aws: &Aws, region: &str) -> XRay {
        let config =
            aws_sdk_xray::config::Builder::from(&aws.in_region(region)).retry_config(crate::aws::retries(6)).build();
        XRay { client: Client::from_conf(config) }
    }

    /// The failed traces of `[start, end)`, in ranges of at most six hours, at most `limit`.
    pub async fn failed(&self, start: Timestamp, end: Timestamp, limit: usize) -> Result<Traces, XRayError> {
        let mut out = Traces::default();
        let mut from = start;
        while from < end {
            let to = (from + SignedDuration::from_hours(MAX_RANGE_HOURS)).min(end);
            let mut token: Option<String> = None;
            loop {
                let page = self
                    .client
                    .get_trace_summaries()
                    .start_time(DateTime::from_millis(from.as_millisecond()))
                    .end_time(DateTime::from_millis(to.as_millisecond()))
                    .time_range_type(TimeRangeType::Event)
                    .sampling(false)
                    .filter_expression(FILTER)
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| XRayError(format!("GetTraceSummaries: {}", sdk_message(&e))))?;
                out.calls += 1;
                for t in page.trace_summaries() {
                    if out.traces.len() >= limit {
                        out.stopped_because = Some(format!("trace limit ({limit})"));
                        return Ok(out);
                    }
                    let (root_service, root_exception) = root_cause(t);
                    out.traces.push(Trace {
                        id: t.id().unwrap_or_default().to_string(),
                        start_ms: t
                            .start_time()
                            .and_then(|d| d.to_millis().ok())
                            .unwrap_or_else(|| from.as_millisecond()),
                        fault: t.has_fault().unwrap_or(false),
                        error: t.has_error().unwrap_or(false),
                        throttle: t.has_throttle().unwrap_or(false),
                        response_time: t.response_time(),
                        http_status: t.http().and_then(|h| h.http_status()),
                        url: t.http().and_then(|h| h.http_url()).map(str::to_string),
                        root_service,
                        root_exception,
                    });
                }
                token = page.next_token().map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
            from = to;
        }
        Ok(out)
    }
}
