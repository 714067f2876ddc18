//! CloudTrail event history (`LookupEvents`) as a source for `created-deleted` rows: the
//! last 90 days of management events, one region per call, no trail needed.
//!
//! One lookup series per catalogue event name (the API takes a single lookup attribute),
//! pages of 50, at most 2 requests a second per region (the API's limit) with the SDK's
//! backoff on `ThrottlingException`; regions are read in parallel.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_cloudtrail::config::retry::RetryConfig;
use aws_sdk_cloudtrail::primitives::DateTime;
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use aws_sdk_cloudtrail::Client;
use serde_json::Value;

use crate::aws::{self, Aws};
use crate::backoff::Backoff;
use crate::records::cloudtrail::Record;

/// Event history covers this many days.
pub const MAX_DAYS: i64 = 90;
/// The API allows 2 requests per second per account and region.
pub const MIN_INTERVAL: Duration = Duration::from_millis(500);
/// Attempts per call on throttling, 5xx and network errors.
pub const MAX_ATTEMPTS: u32 = 8;

/// What was read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LookupStats {
    pub calls: u64,
    pub events: u64,
}

/// Reads `created-deleted` rows for events between `from` and `to` (UTC days, inclusive)
/// in each region, at most one call per `pace` in a region ([`MIN_INTERVAL`] is the API's
/// limit). `names` are the event names to look up.
pub async fn created_deleted(
    aws: &Aws,
    regions: &[String],
    names: &BTreeSet<String>,
    from: jiff::civil::Date,
    to: jiff::civil::Date,
    pace: Duration,
) -> Result<(Vec<Vec<Value>>, LookupStats), String> {
    let start = day_start(from)?;
    let end = day_start(to.tomorrow().map_err(|e| e.to_string())?)?;
    let mut set = tokio::task::JoinSet::new();
    for region in regions {
        let client = client(aws, region);
        let (names, region) = (names.clone(), region.clone());
        set.spawn(async move { region_rows(client, region, names, start, end, pace).await });
    }
    let mut rows = Vec::new();
    let mut stats = LookupStats::default();
    while let Some(joined) = set.join_next().await {
        let (r, s) = joined.map_err(|e| format!("lookup task failed: {e}"))??;
        rows.extend(r);
        stats.calls += s.calls;
        stats.events += s.events;
    }
    crate::query::sort_created_deleted(&mut rows);
    Ok((rows, stats))
}

fn day_start(d: jiff::civil::Date) -> Result<DateTime, String> {
    let ts = d.to_zoned(jiff::tz::TimeZone::UTC).map_err(|e| e.to_string())?.timestamp();
    Ok(DateTime::from_secs(ts.as_second()))
}

fn client(aws: &Aws, region: &str) -> Client {
    let config = aws_sdk_cloudtrail::config::Builder::from(&aws.in_region(region))
        // Retries are ours (below), so that they too keep to the per-region pace.
        .retry_config(RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

async fn region_rows(
    client: Client,
    region: String,
    names: BTreeSet<String>,
    start: DateTime,
    end: DateTime,
    pace: Duration,
) -> Result<(Vec<Vec<Value>>, LookupStats), String> {
    let mut rows = Vec::new();
    let mut stats = LookupStats::default();
    let mut next_call_at = tokio::time::Instant::now();
    for name in &names {
        let attribute = LookupAttribute::builder()
            .attribute_key(LookupAttributeKey::EventName)
            .attribute_value(name)
            .build()
            .map_err(|e| e.to_string())?;
        let mut token: Option<String> = None;
        loop {
            // Every call, retries included, waits for its turn in the region's pace; a retry
            // waits longer still (2 × pace, doubling).
            let next_call = Mutex::new(tokio::time::Instant::now().max(next_call_at));
            let call = || async {
                let at = *next_call.lock().unwrap_or_else(|p| p.into_inner());
                tokio::time::sleep_until(at).await;
                *next_call.lock().unwrap_or_else(|p| p.into_inner()) = tokio::time::Instant::now() + pace;
                client
                    .lookup_events()
                    .lookup_attributes(attribute.clone())
                    .start_time(start)
                    .end_time(end)
                    .max_results(50)
                    .set_next_token(token.clone())
                    .send()
                    .await
            };
            let sent = Backoff::retries(MAX_ATTEMPTS as usize, pace * 2).retry(call, aws::is_transient).await;
            next_call_at = next_call.into_inner().unwrap_or_else(|p| p.into_inner());
            let resp =
                sent.map_err(|e| format!("LookupEvents in {region} ({name}): {}", aws::sdk_message(&e.error)))?;
            stats.calls += 1;
            for event in resp.events() {
                let Some(text) = event.cloud_trail_event() else { continue };
                let Ok(record) = serde_json::from_str::<Record>(text) else { continue };
                stats.events += 1;
                let account = record
                    .recipient_account_id
                    .as_ref()
                    .or_else(|| record.user_identity.as_ref().and_then(|u| u.account_id.as_ref()))
                    .map_or(Value::Null, |a| Value::String(a.as_str().to_string()));
                rows.extend(crate::query::event_touch_rows(&record, account));
            }
            match resp.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
    }
    Ok((rows, stats))
}
