//! CloudWatch metrics and alarms, live: an alarm's metric and its last transition to ALARM
//! (`DescribeAlarms`, `DescribeAlarmHistory`), the metrics of a namespace (`ListMetrics`) and
//! their per-minute points (`GetMetricData`, paged), each bounded.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{
    AlarmType, Dimension, DimensionFilter, HistoryItemType, Metric, MetricDataQuery, MetricStat, ScanBy, StateValue,
};
use aws_sdk_cloudwatch::Client;
use aws_smithy_types::DateTime;
use jiff::Timestamp;

use crate::aws::{sdk_message, Aws};

/// One period per minute, like a metric stream's points.
const PERIOD_SECONDS: i32 = 60;
/// The statistics a metric stream carries per point; one query each.
const STATS: [&str; 4] = ["Sum", "SampleCount", "Maximum", "Minimum"];
/// `GetMetricData` takes at most 500 queries per call.
const QUERIES_PER_CALL: usize = 500;
/// Pages of `ListMetrics` read per namespace at most (500 metrics each).
const LIST_PAGES: usize = 4;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CloudWatchError(pub String);

/// A metric: namespace, name, dimensions (sorted by name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MetricId {
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<(String, String)>,
}

impl MetricId {
    fn from_sdk(m: &Metric) -> MetricId {
        let mut dimensions: Vec<(String, String)> = m
            .dimensions()
            .iter()
            .map(|d| (d.name().unwrap_or_default().to_string(), d.value().unwrap_or_default().to_string()))
            .collect();
        dimensions.sort();
        MetricId {
            namespace: m.namespace().unwrap_or_default().to_string(),
            name: m.metric_name().unwrap_or_default().to_string(),
            dimensions,
        }
    }

    /// `Name=Value` pairs sorted by name, comma-separated (as the `metric-points` query shows them).
    pub fn dimensions_text(&self) -> String {
        self.dimensions.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
    }

    fn to_sdk(&self) -> Metric {
        Metric::builder()
            .namespace(&self.namespace)
            .metric_name(&self.name)
            .set_dimensions(Some(
                self.dimensions.iter().map(|(k, v)| Dimension::builder().name(k).value(v).build()).collect(),
            ))
            .build()
    }
}

/// An alarm, and when it last went into ALARM.
#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    pub name: String,
    /// The alarm's metric (the first one of a metric-math alarm); none for a composite alarm.
    pub metric: Option<MetricId>,
    pub state: String,
    /// The last transition to ALARM in the alarm's history (kept 30 days), else the state's
    /// time when it is in ALARM now.
    pub last_alarm: Option<Timestamp>,
}

/// One minute of one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub metric: MetricId,
    pub timestamp_ms: i64,
    pub sum: Option<f64>,
    pub count: Option<f64>,
    pub max: Option<f64>,
    pub min: Option<f64>,
}

/// Points of many metrics, and what reading them took.
#[derive(Debug, Clone, Default)]
pub struct Points {
    pub points: Vec<Point>,
    pub calls: u64,
    /// The metrics asked for were cut to the limit.
    pub metrics_cut: bool,
}

/// CloudWatch in one region.
pub struct CloudWatch {
    client: Client,
}

fn api<E>(
    what: &str,
) -> impl Fn(
    aws_sdk_cloudwatch::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> CloudWatchError
       + '_
where
    E: std::error::Error + aws_smithy_types::error::metadata::ProvideErrorMetadata + 'static,
{
    move |e| CloudWatchError(format!("{what}: {}", sdk_message(&e)))
}

fn to_time(t: Timestamp) -> DateTime {
    DateTime::from_millis(t.as_millisecond())
}

fn from_time(t: &DateTime) -> Option<Timestamp> {
    Timestamp::from_millisecond(t.to_millis().ok()?).ok()
}

impl CloudWatch {
    /// A client in `region`; throttling and 5xx are retried by the SDK's standard strategy.
    pub fn new(aws: &Aws, region: &str) -> CloudWatch {
        let config = aws_sdk_cloudwatch::config::Builder::from(&aws.in_region(region))
            .retry_config(crate::aws::retries(6))
            .build();
        CloudWatch { client: Client::from_conf(config) }
    }

    /// The alarm named `name` (metric or composite); `None` when there is no such alarm.
    pub async fn alarm(&self, name: &str) -> Result<Option<Alarm>, CloudWatchError> {
        let got = self
            .client
            .describe_alarms()
            .alarm_names(name)
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm)
            .send()
            .await
            .map_err(api("DescribeAlarms"))?;
        let (metric, state, updated) = if let Some(a) = got.metric_alarms().first() {
            let metric = match (a.namespace(), a.metric_name()) {
                (Some(ns), Some(m)) => Some(MetricId::from_sdk(
                    &Metric::builder()
                        .namespace(ns)
                        .metric_name(m)
                        .set_dimensions(Some(a.dimensions().to_vec()))
                        .build(),
                )),
                _ => a.metrics().iter().find_map(|q| q.metric_stat()?.metric().map(MetricId::from_sdk)),
            };
            (metric, a.state_value().cloned(), a.state_updated_timestamp().and_then(from_time))
        } else if let Some(c) = got.composite_alarms().first() {
            (None, c.state_value().cloned(), c.state_updated_timestamp().and_then(from_time))
        } else {
            return Ok(None);
        };
        let history = self.last_alarm(name).await?;
        let in_alarm = state == Some(StateValue::Alarm);
        Ok(Some(Alarm {
            name: name.to_string(),
            metric,
            state: state.map(|s| s.as_str().to_string()).unwrap_or_default(),
            last_alarm: history.or(updated.filter(|_| in_alarm)),
        }))
    }

    /// The newest state update to ALARM in the alarm's history.
    async fn last_alarm(&self, name: &str) -> Result<Option<Timestamp>, CloudWatchError> {
        let mut pages = self
            .client
            .describe_alarm_history()
            .alarm_name(name)
            .history_item_type(HistoryItemType::StateUpdate)
            .scan_by(ScanBy::TimestampDescending)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(api("DescribeAlarmHistory"))?;
            for item in page.alarm_history_items() {
                let data: serde_json::Value =
                    item.history_data().and_then(|d| serde_json::from_str(d).ok()).unwrap_or_default();
                if data["newState"]["stateValue"] == "ALARM" {
                    return Ok(item.timestamp().and_then(from_time));
                }
            }
        }
        Ok(None)
    }

    /// The metrics of `namespace` whose dimensions include `dimensions` (all of them when
    /// empty), at most `limit`.
    pub async fn list(
        &self,
        namespace: &str,
        dimensions: &[(String, String)],
        limit: usize,
    ) -> Result<(Vec<MetricId>, bool), CloudWatchError> {
        let filters: Vec<DimensionFilter> =
            dimensions.iter().map(|(k, v)| DimensionFilter::builder().name(k).value(v).build()).collect();
        let mut pages = self
            .client
            .list_metrics()
            .namespace(namespace)
            .set_dimensions((!filters.is_empty()).then_some(filters))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        let mut read = 0;
        while let Some(page) = pages.next().await {
            let page = page.map_err(api("ListMetrics"))?;
            out.extend(page.metrics().iter().map(MetricId::from_sdk));
            read += 1;
            if out.len() >= limit || read >= LIST_PAGES {
                break;
            }
        }
        let cut = out.len() > limit || read >= LIST_PAGES;
        out.sort();
        out.dedup();
        out.truncate(limit);
        Ok((out, cut))
    }

    /// Per-minute sum, count, maximum and minimum of each metric in `[start, end)`, oldest
    /// first; every page of every call read, at most `max_points` points kept.
    pub async fn points(
        &self,
        metrics: &[MetricId],
        start: Timestamp,
        end: Timestamp,
        max_points: usize,
    ) -> Result<Points, CloudWatchError> {
        let mut out = Points::default();
        // (metric index, minute) → point
        let mut by_minute: BTreeMap<(i64, usize), Point> = BTreeMap::new();
        let per_call = QUERIES_PER_CALL / STATS.len();
        for (chunk_no, chunk) in metrics.chunks(per_call).enumerate() {
            let queries: Vec<MetricDataQuery> = chunk
                .iter()
                .enumerate()
                .flat_map(|(i, m)| {
                    STATS.iter().enumerate().map(move |(s, stat)| {
                        MetricDataQuery::builder()
                            .id(format!("m{i}s{s}"))
                            .metric_stat(
                                MetricStat::builder().metric(m.to_sdk()).period(PERIOD_SECONDS).stat(*stat).build(),
                            )
                            .return_data(true)
                            .build()
                    })
                })
                .collect();
            let mut token: Option<String> = None;
            loop {
                let page = self
                    .client
                    .get_metric_data()
                    .set_metric_data_queries(Some(queries.clone()))
                    .start_time(to_time(start))
                    .end_time(to_time(end))
                    .scan_by(ScanBy::TimestampAscending)
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(api("GetMetricData"))?;
                out.calls += 1;
                for r in page.metric_data_results() {
                    let Some((i, s)) = r.id().and_then(parse_query_id) else { continue };
                    let Some(metric) = chunk.get(i) else { continue };
                    for (t, v) in r.timestamps().iter().zip(r.values()) {
                        let Ok(ms) = t.to_millis() else { continue };
                        let p = by_minute.entry((ms, chunk_no * per_call + i)).or_insert_with(|| Point {
                            metric: metric.clone(),
                            timestamp_ms: ms,
                            sum: None,
                            count: None,
                            max: None,
                            min: None,
                        });
                        let slot = match s {
                            0 => &mut p.sum,
                            1 => &mut p.count,
                            2 => &mut p.max,
                            _ => &mut p.min,
                        };
                        *slot = Some(*v);
                    }
                }
                token = page.next_token().map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
        }
        out.points = by_minute.into_values().take(max_points).collect();
        Ok(out)
    }
}

/// `m12s3` → (metric 12, statistic 3).
fn parse_query_id(id: &str) -> Option<(usize, usize)> {
    let (m, s) = id.strip_prefix('m')?.split_once('s')?;
    Some((m.parse().ok()?, s.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_ids_round_trip() {
        assert_eq!(parse_query_id("m12s3"), Some((12, 3)));
        assert_eq!(parse_query_id("x1"), None);
        let m = MetricId {
            namespace: "AWS/ApplicationELB".into(),
            name: "HTTPCode_ELB_5XX_Count".into(),
            dimensions: vec![("LoadBalancer".into(), "app/web/1".into()), ("Zone".into(), "a".into())],
        };
        assert_eq!(m.dimensions_text(), "LoadBalancer=app/web/1,Zone=a");
        assert_eq!(MetricId::from_sdk(&m.to_sdk()), m);
    }
}
