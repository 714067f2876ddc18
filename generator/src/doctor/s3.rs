//! S3: a bounded breadth-first sample of the prefixes that exist in a bucket, each classified
//! with [`Projection::locate`] against every table on that bucket: reached, missed (and why),
//! or a known non-data sibling skipped on purpose.

use std::collections::{BTreeSet, VecDeque};

use aws_sdk_s3::error::ProvideErrorMetadata;
use jiff::civil::Date;
use opslake_runtime::aws::sdk_message;
use opslake_runtime::lake::{closest_misses, Projection, Reach};

use super::Missed;

/// At a level with more viable children than this, descend only into the first two and the
/// last two (every child is still classified from the listing).
const DESCEND_ALL_UP_TO: usize = 8;
/// Reached prefixes listed per table (all are counted).
const REACHED_LISTED: usize = 20;

/// What the walk of one bucket found for each of its tables.
#[derive(Debug, Default, Clone)]
pub(super) struct Found {
    pub(super) reached: Vec<String>,
    pub(super) reached_total: usize,
    pub(super) missed: Vec<Missed>,
    seen_missed: BTreeSet<String>,
}

#[derive(Debug, Default)]
pub(super) struct Walk {
    pub(super) calls: usize,
    pub(super) truncated: bool,
    pub(super) per_table: Vec<Found>,
}

/// Lists `bucket` breadth-first from its root with `/` as delimiter, classifying every child
/// against each table's projection; descends into prefixes some table may still reach (all of
/// them at narrow levels, the first and last two at wide ones) until `budget` list calls.
pub(super) async fn walk(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    projections: &[&Projection],
    budget: usize,
    today: Date,
) -> Result<Walk, String> {
    let mut w = Walk { per_table: vec![Found::default(); projections.len()], ..Walk::default() };
    let mut queue: VecDeque<String> = VecDeque::from([String::new()]);
    while let Some(prefix) = queue.pop_front() {
        if w.calls >= budget {
            w.truncated = true;
            break;
        }
        let children = list(s3, bucket, &prefix, budget, &mut w).await?;
        let viable = classify(bucket, children, projections, today, &mut w);
        if viable.len() <= DESCEND_ALL_UP_TO {
            queue.extend(viable);
        } else {
            let n = viable.len();
            queue.extend(viable.into_iter().enumerate().filter(|(i, _)| *i < 2 || *i >= n - 2).map(|(_, p)| p));
        }
    }
    Ok(w)
}

/// The children of `prefix`: (key or prefix, is a prefix), every page within the budget.
async fn list(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    budget: usize,
    w: &mut Walk,
) -> Result<Vec<(String, bool)>, String> {
    let mut children = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let resp = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .delimiter("/")
            .set_continuation_token(token.take())
            .send()
            .await;
        w.calls += 1;
        let resp = resp.map_err(|e| {
            let hint = match e.code() {
                Some("NoSuchBucket") => {
                    " (the bucket does not exist: check lake.bucket / sources.alb.buckets, or deploy)"
                }
                Some("AccessDenied") | Some("AllAccessDisabled") => " (the home account's credentials may not list it)",
                Some("PermanentRedirect") | Some("AuthorizationHeaderMalformed") => {
                    " (the bucket is in another region than the one asked)"
                }
                _ => "",
            };
            format!("ListObjectsV2 s3://{bucket}/{prefix}: {}{hint}", sdk_message(&e))
        })?;
        children.extend(resp.common_prefixes().iter().filter_map(|p| p.prefix()).map(|p| (p.to_string(), true)));
        children.extend(
            resp.contents().iter().filter_map(|o| o.key()).filter(|k| *k != prefix).map(|k| (k.to_string(), false)),
        );
        match resp.next_continuation_token() {
            Some(t) if resp.is_truncated() == Some(true) => {
                if w.calls >= budget {
                    w.truncated = true;
                    return Ok(children);
                }
                token = Some(t.to_string());
            }
            _ => return Ok(children),
        }
    }
}

/// Records what each table reaches or misses among `children`; returns the prefixes worth
/// descending into.
fn classify(
    bucket: &str,
    children: Vec<(String, bool)>,
    projections: &[&Projection],
    today: Date,
    w: &mut Walk,
) -> Vec<String> {
    let mut viable = Vec::new();
    for (child, is_prefix) in children {
        let url = format!("s3://{bucket}/{child}");
        let reaches: Vec<Reach> = projections.iter().map(|p| p.locate(&url, today)).collect();
        for (i, r) in reaches.iter().enumerate() {
            if let Reach::Reached { .. } = r {
                let f = &mut w.per_table[i];
                f.reached_total += 1;
                if f.reached.len() < REACHED_LISTED {
                    f.reached.push(url.clone());
                }
            }
        }
        if is_prefix && reaches.iter().any(|r| matches!(r, Reach::Viable)) {
            viable.push(child);
            continue;
        }
        for i in closest_misses(&reaches) {
            if let Reach::Missed { at, reason, expected } = &reaches[i] {
                let f = &mut w.per_table[i];
                if f.seen_missed.insert(at.clone()) {
                    f.missed.push(Missed { prefix: at.clone(), reason: reason.clone(), expected: *expected });
                }
            }
        }
    }
    viable
}

/// `s3://bucket/...` → `bucket`.
pub(super) fn bucket_of(url: &str) -> Option<&str> {
    url.strip_prefix("s3://").map(|r| r.split('/').next().unwrap_or(r)).filter(|b| !b.is_empty())
}
