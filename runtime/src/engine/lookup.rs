//! CloudTrail event history (`LookupEvents`) as a source for `created-deleted` rows: the
//! last 90 days of management events, one region per call, no trail needed.
//!
//! One lookup series per catalogue event name (the API takes a single lookup attribute),
//! pages of 50, at most 2 requests a second per region (the API's limit) with the SDK's
//! backoff on `ThrottlingException`; regions are read in parallel.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_cloudtrail::config::retry::RetryConfig;
use aws_sdk_cloudtrail::error::ProvideErrorMetadata;
use aws_sdk_cloudtrail::primitives::DateTime;
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use aws_sdk_cloudtrail::Client;
use serde_json::Value;

use super::athena::Connection;
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
/// in each region. `names` are the event names to look up.
pub async fn created_deleted(
    conn: &Connection,
    regions: &[String],
    names: &BTreeSet<String>,
    from: jiff::civil::Date,
    to: jiff::civil::Date,
) -> Result<(Vec<Vec<Value>>, LookupStats), String> {
    created_deleted_paced(conn, regions, names, from, to, MIN_INTERVAL).await
}

/// [`created_deleted`] with another pace between calls in one region (tests).
pub async fn created_deleted_paced(
    conn: &Connection,
    regions: &[String],
    names: &BTreeSet<String>,
    from: jiff::civil::Date,
    to: jiff::civil::Date,
    interval: Duration,
) -> Result<(Vec<Vec<Value>>, LookupStats), String> {
    let start = day_start(from)?;
    let end = day_start(to.tomorrow().map_err(|e| e.to_string())?)?;
    let mut set = tokio::task::JoinSet::new();
    for region in regions {
        let client = client(conn, region).await;
        let (names, region) = (names.clone(), region.clone());
        set.spawn(async move { region_rows(client, region, names, start, end, interval).await });
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

async fn client(conn: &Connection, region: &str) -> Client {
    let shared = conn.sdk_config(Some(region)).await;
    let config = aws_sdk_cloudtrail::config::Builder::from(&shared)
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
    interval: Duration,
) -> Result<(Vec<Vec<Value>>, LookupStats), String> {
    let mut rows = Vec::new();
    let mut stats = LookupStats::default();
    let mut next_call = tokio::time::Instant::now();
    for name in &names {
        let attribute = LookupAttribute::builder()
            .attribute_key(LookupAttributeKey::EventName)
            .attribute_value(name)
            .build()
            .map_err(|e| e.to_string())?;
        let mut token: Option<String> = None;
        loop {
            let mut attempt = 0u32;
            let resp = loop {
                tokio::time::sleep_until(next_call).await;
                next_call = tokio::time::Instant::now() + interval;
                let sent = client
                    .lookup_events()
                    .lookup_attributes(attribute.clone())
                    .start_time(start)
                    .end_time(end)
                    .max_results(50)
                    .set_next_token(token.clone())
                    .send()
                    .await;
                match sent {
                    Ok(r) => break r,
                    Err(e) => {
                        let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
                        let code = e.code().unwrap_or("").to_string();
                        let transient = code == "ThrottlingException" || status >= 500 || e.raw_response().is_none();
                        attempt += 1;
                        if !transient || attempt >= MAX_ATTEMPTS {
                            let msg = e.message().unwrap_or("").to_string();
                            let code = if code.is_empty() { format!("HTTP {status}") } else { code };
                            return Err(format!("LookupEvents in {region} ({name}): {code}: {msg}"));
                        }
                        // back off: the next call waits interval x 2^attempt
                        next_call = tokio::time::Instant::now() + interval * 2u32.pow(attempt.min(6));
                    }
                }
            };
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
