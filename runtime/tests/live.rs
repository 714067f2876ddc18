//! Cloud mode's live services (Logs Insights, CloudWatch metrics and alarms, X-Ray) against
//! local servers that speak their documented APIs over the example mirror's own captured logs
//! and metrics (`common::cloud`): the analysis they give equals the mirror's, the alarm gives
//! the window, and a query past its deadline is stopped while the other sources still answer.

mod common;

use std::time::Duration;

use common::cloud::{self, serve_cloud, Insights};
use common::{example_layout, example_mirror};
use opslake_runtime::analysis::incident::live::{self, Live};
use opslake_runtime::analysis::incident::{analyze, gather, Analysis, Cause, Scope, SourceStatus};
use opslake_runtime::backoff::Backoff;

const GROUPS: [&str; 2] = ["/aws/lambda/orders-api", "/apigateway/orders"];
const NAMESPACES: [&str; 3] = ["AWS/ApplicationELB", "AWS/Lambda", "AWS/RDS"];

fn scope() -> Scope {
    let at: jiff::Timestamp = "2025-06-12T09:45:00Z".parse().unwrap();
    let (from, to) = Scope::around(at);
    Scope::new(from, to, None, None, Vec::new()).unwrap()
}

async fn live(url: &str) -> Live {
    let aws = common::aws(url).await;
    Live::new(&aws, "ap-northeast-1", GROUPS.map(String::from).to_vec(), NAMESPACES.map(String::from).to_vec(), true)
}

fn source<'a>(a: &'a Analysis, query: &str) -> &'a opslake_runtime::analysis::incident::SourceReport {
    a.sources.iter().find(|s| s.query == query).unwrap_or_else(|| panic!("no source {query}: {:?}", a.sources))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_mode_gives_the_mirrors_analysis_and_adds_the_traces() {
    let cloud = serve_cloud(Insights::Completes);
    let (layout, mirror) = (example_layout(), example_mirror());
    let local = analyze(&scope(), gather(&mirror, &layout, &scope()).await);
    let l = live(&cloud.fake.url).await;
    let remote = analyze(&scope(), live::gather(&mirror, &layout, &scope(), &l).await);

    // The same failure, seen through Logs Insights and GetMetricData.
    assert_eq!(local.window.onset.as_deref(), Some("2025-06-12T09:40:00Z"));
    assert_eq!(remote.window.onset, local.window.onset);
    let sigs = |a: &Analysis| {
        a.signatures.iter().map(|s| (s.signature.clone(), s.log_groups.clone(), s.before, s.during)).collect::<Vec<_>>()
    };
    assert!(!sigs(&local).is_empty());
    assert_eq!(sigs(&remote), sigs(&local));
    let departures =
        |a: &Analysis| a.metrics.iter().map(|m| (m.evidence.clone(), m.value, m.baseline_median)).collect::<Vec<_>>();
    assert!(!departures(&local).is_empty());
    assert_eq!(departures(&remote), departures(&local));
    assert_eq!(
        remote.minutes.iter().map(|m| (m.minute.clone(), m.log_errors)).collect::<Vec<_>>(),
        local.minutes.iter().map(|m| (m.minute.clone(), m.log_errors)).collect::<Vec<_>>()
    );
    // The planted change still ranks first, from the lake.
    let Cause::Change { event, .. } = &remote.hypotheses[0].cause else { panic!("{:?}", remote.hypotheses[0]) };
    assert_eq!(event, "ec2:RevokeSecurityGroupIngress");
    assert_eq!(remote.hypotheses[0].cause, local.hypotheses[0].cause);

    // Every error event in the window counted, independently of the analysis.
    let (from, to) = (scope().start.as_millisecond(), scope().end.as_millisecond());
    let re = regex::Regex::new(&live::error_regex()).unwrap();
    let errors = cloud::log_events().iter().filter(|e| e.ts >= from && e.ts < to && re.is_match(&e.message)).count();
    let logs = source(&remote, "log-errors");
    assert_eq!(
        (logs.engine, logs.status, logs.kept, logs.total),
        ("logs insights", SourceStatus::Ok, errors, Some(errors as u64))
    );
    assert_eq!(source(&local, "log-errors").total, Some(errors as u64));
    assert_eq!(source(&remote, "metric-points").engine, "cloudwatch");
    assert_eq!(source(&remote, "changes").engine, "mirror");

    // X-Ray: the faults from the onset, their root cause cited by a hypothesis.
    let xray = source(&remote, "trace-summaries");
    assert_eq!((xray.status, xray.kept), (SourceStatus::Ok, cloud::traces().len()));
    let t = &remote.traces[0];
    assert_eq!(
        (t.service.as_str(), t.exception.as_deref(), t.during),
        (cloud::TRACE_SERVICE, Some(cloud::TRACE_EXCEPTION), 45)
    );
    let h =
        remote.hypotheses.iter().find(|h| matches!(h.cause, Cause::TraceRootCause { .. })).expect("a trace hypothesis");
    for id in &h.evidence {
        assert!(remote.timeline.iter().any(|e| &e.id == id), "{id} is on the timeline");
    }
    assert_eq!(source(&local, "trace-summaries").status, SourceStatus::Unavailable);

    // What the services saw: throttling retried, queries polled to completion, pages read.
    let seen = cloud.seen.lock().unwrap();
    assert!(seen.throttled >= 3, "StartQuery, GetMetricData and GetTraceSummaries were throttled once at least");
    assert_eq!(seen.queries.len(), 2);
    for (id, _, groups, start, end) in &seen.queries {
        assert!(seen.polls[id] >= 3, "{id} was polled through Scheduled and Running");
        assert_eq!(groups, &GROUPS.map(String::from).to_vec());
        assert_eq!((*start, *end), (from / 1000, to / 1000 - 1), "whole seconds, the end second included");
    }
    assert!(seen.metric_calls > 2, "GetMetricData was paged: {}", seen.metric_calls);
    assert!(seen.trace_calls.len() >= 10, "X-Ray was paged: {}", seen.trace_calls.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_past_its_deadline_is_stopped_and_the_other_sources_still_answer() {
    let cloud = serve_cloud(Insights::Stalls);
    let l = live(&cloud.fake.url).await.with_insights_deadline(
        Duration::from_millis(400),
        Backoff::polls(Duration::from_millis(20), Duration::from_millis(50)),
    );
    let a = analyze(&scope(), live::gather(&example_mirror(), &example_layout(), &scope(), &l).await);
    let minutes = source(&a, "log-minutes");
    assert_eq!(minutes.status, SourceStatus::Failed);
    assert!(minutes.error.as_deref().unwrap().contains("stopped it"), "{minutes:?}");
    let errors = source(&a, "log-errors");
    assert_eq!(errors.status, SourceStatus::Failed);
    assert!(errors.error.as_deref().unwrap().contains("ended Timeout"), "{errors:?}");
    let seen = cloud.seen.lock().unwrap();
    let stats_query = seen.queries.iter().find(|q| q.1.contains("stats ")).unwrap();
    assert_eq!(seen.stopped, vec![stats_query.0.clone()], "only the running query is stopped");
    drop(seen);
    // The lake and the other live services still answer, and the ALB still gives the onset.
    assert_eq!(source(&a, "metric-points").status, SourceStatus::Ok);
    assert_eq!(source(&a, "trace-summaries").status, SourceStatus::Ok);
    assert_eq!(source(&a, "alb-minutes").status, SourceStatus::Ok);
    assert_eq!(a.window.onset.as_deref(), Some("2025-06-12T09:40:00Z"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_gives_the_window_and_its_metric_is_read_first() {
    let cloud = serve_cloud(Insights::Completes);
    let mut l = live(&cloud.fake.url).await;
    assert_eq!(l.alarm("no-such-alarm").await, Ok(None));
    let alarm = l.alarm(cloud::ALARM).await.unwrap().expect("the alarm");
    let metric = alarm.metric.clone().unwrap();
    assert_eq!(
        (metric.namespace.as_str(), metric.name.as_str(), metric.dimensions_text()),
        ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", format!("LoadBalancer={}", cloud::LOAD_BALANCER))
    );
    assert_eq!(alarm.state, "OK");
    // The newest transition to ALARM, from the history's second page (newest first).
    assert_eq!(alarm.last_alarm.map(|t| t.as_second()), Some(cloud::ALARM_AT));
    let (from, to) = live::alarm_window(&alarm).unwrap();
    assert_eq!((from.as_second(), to.as_second()), (cloud::ALARM_AT - 1800, cloud::ALARM_AT + 600));

    l.alarm = Some(alarm);
    let scope = Scope::new(from, to, None, None, Vec::new()).unwrap();
    let a = analyze(&scope, live::gather(&example_mirror(), &example_layout(), &scope, &l).await);
    assert_eq!(a.window.onset.as_deref(), Some("2025-06-12T09:40:00Z"));
    let filters = cloud.seen.lock().unwrap().list_filters.clone();
    assert_eq!(
        filters[0],
        serde_json::json!([{"Name": "LoadBalancer", "Value": cloud::LOAD_BALANCER}]),
        "the alarm's neighbours (same namespace and dimensions) are listed first"
    );
    assert!(a.metrics.iter().any(|m| m.metric == "HTTPCode_Target_5XX_Count"), "{:?}", a.metrics);
}
