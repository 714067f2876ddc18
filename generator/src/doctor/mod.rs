//! The deployed lake against the spec, as seen from the home account: the library behind
//! `opslake doctor`, and what `deploy` runs after a deploy.
//!
//! - Glue ([`glue`]): each table read back and compared field by field with the definition the
//!   spec renders.
//! - S3 ([`s3`]): a bounded breadth-first sample of the prefixes that exist in each table's
//!   bucket, classified against the projection Athena will use (the deployed one when it can
//!   be read): reached, missed and why, or a known non-data sibling skipped on purpose.
//! - The trail and the Config recorders in every spec region ([`status`]).
//!
//! Every AWS failure (a missing table, a bucket that denies access, an API a policy does not
//! allow) is a finding in the [`Report`], never a panic. Its text is `report::doctor`'s.

mod glue;
mod s3;
mod status;

use std::collections::BTreeMap;

use jiff::civil::Date;
use opslake_runtime::aws::Aws;
use opslake_runtime::lake::{Projection, TableDef, TableKind};
use serde::Serialize;

use crate::clients;
use crate::plan::{Names, Plan};
use crate::spec::model::Spec;

/// Default budget of S3 list calls per table.
pub const DEFAULT_SAMPLE: usize = 200;
/// Missed prefixes listed per table (all are counted).
const MISSED_LISTED: usize = 100;

pub struct Options {
    /// S3 list calls per table for the prefix sample.
    pub sample: usize,
    /// Resolves `NOW` in projection ranges.
    pub today: Date,
}

/// What `doctor` found. Serialises to the `--format json` object.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub name: String,
    pub account: String,
    pub region: String,
    pub database: String,
    pub tables: Vec<TableReport>,
    pub trail: TrailReport,
    pub recorders: Vec<RecorderReport>,
    /// No drift, no missing table, no unreachable data prefix, no S3 error, the trail logging
    /// and every recorder recording.
    pub ok: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableReport {
    pub name: String,
    pub glue: GlueReport,
    pub s3: S3Report,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GlueStatus {
    Ok,
    Drift,
    /// The table does not exist in the database.
    Missing,
    /// The database does not exist.
    DatabaseMissing,
    /// Glue could not be asked (credentials, permissions, endpoint).
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct GlueReport {
    pub status: GlueStatus,
    pub error: Option<String>,
    pub drift: Vec<Drift>,
}

/// One field that differs between the deployed table and the spec's (`None`: absent there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub field: String,
    pub deployed: Option<String>,
    pub spec: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum S3Status {
    /// Data was reached.
    Ok,
    /// Nothing the projection reaches exists yet (a new lake, or everything was missed).
    Empty,
    /// The bucket could not be listed.
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct S3Report {
    pub status: S3Status,
    pub error: Option<String>,
    pub bucket: String,
    /// Whose projection classified the prefixes: `deployed` (what Athena uses) or `spec`
    /// (the table could not be read back).
    pub projection: &'static str,
    pub note: Option<String>,
    pub list_calls: usize,
    /// The list-call budget ran out before the sample was complete.
    pub truncated: bool,
    pub reached_total: usize,
    /// Partition prefixes reached (the first few).
    pub reached: Vec<String>,
    /// Every miss found (listed or not), and those that are not known non-data siblings.
    pub missed_total: usize,
    pub unreachable_total: usize,
    /// Unreachable prefixes first, then the expected siblings (the first few).
    pub missed: Vec<Missed>,
}

/// A prefix (or object) the projection does not reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missed {
    pub prefix: String,
    pub reason: String,
    /// A known non-data sibling (digests, snapshots, check files): skipped on purpose.
    pub expected: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrailStatus {
    Logging,
    /// Logging, but the last delivery to S3 failed.
    DeliveryError,
    Stopped,
    Missing,
    Error,
    /// `sources.cloudtrail.trail: existing`: the spec manages no trail.
    NotManaged,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrailReport {
    pub name: String,
    pub region: String,
    pub status: TrailStatus,
    pub is_logging: Option<bool>,
    pub latest_delivery_error: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecorderStatus {
    Recording,
    /// Recording, but the last delivery failed.
    Failing,
    Stopped,
    Missing,
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecorderReport {
    pub region: String,
    pub name: String,
    pub status: RecorderStatus,
    pub recording: Option<bool>,
    pub last_status: Option<String>,
    pub last_error: Option<String>,
    pub error: Option<String>,
}

impl Report {
    fn compute_ok(&self) -> bool {
        let tables = self
            .tables
            .iter()
            .all(|t| t.glue.status == GlueStatus::Ok && t.s3.status != S3Status::Error && t.s3.unreachable_total == 0);
        let trail = matches!(self.trail.status, TrailStatus::Logging | TrailStatus::NotManaged);
        let recorders = self.recorders.iter().all(|r| r.status == RecorderStatus::Recording);
        tables && trail && recorders
    }
}

/// The projection each table's prefixes are classified with: (projection, whose, note).
type Chosen = (Option<Projection>, &'static str, Option<String>);

/// The projection Athena will use: the deployed one when it can be read, else the spec's.
fn choose(tables: &[TableDef], deployed: &[(GlueReport, Option<glue::Deployed>)]) -> Vec<Chosen> {
    tables
        .iter()
        .zip(deployed)
        .map(|(t, (_, deployed))| match deployed.as_ref().map(glue::Deployed::projection) {
            Some(Ok(p)) => (Some(p), "deployed", None),
            Some(Err(e)) => (
                t.projection().ok(),
                "spec",
                Some(format!("the deployed projection cannot be read ({e}); classified with the spec's")),
            ),
            None => (t.projection().ok(), "spec", None),
        })
        .collect()
}

/// The tables on each (bucket, region): one walk per bucket classifies against all of them.
fn by_bucket(tables: &[TableDef], chosen: &[Chosen], home_region: &str) -> BTreeMap<(String, String), Vec<usize>> {
    let mut out: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, t) in tables.iter().enumerate() {
        let template_bucket = chosen[i].0.as_ref().and_then(|p| s3::bucket_of(&p.template).map(str::to_string));
        let Some(bucket) = template_bucket.or_else(|| s3::bucket_of(&t.location).map(str::to_string)) else {
            continue;
        };
        let region = match (t.kind, &t.region) {
            (TableKind::AlbAccessLogs, Some(r)) => r.clone(),
            _ => home_region.to_string(),
        };
        out.entry((bucket, region)).or_default().push(i);
    }
    out
}

fn s3_report(bucket: &str, whose: &'static str, note: Option<String>) -> S3Report {
    S3Report {
        status: S3Status::Empty,
        error: None,
        bucket: bucket.to_string(),
        projection: whose,
        note,
        list_calls: 0,
        truncated: false,
        reached_total: 0,
        reached: Vec::new(),
        missed_total: 0,
        unreachable_total: 0,
        missed: Vec::new(),
    }
}

/// What one table's part of a walk found.
fn found(mut r: S3Report, w: &s3::Walk, f: &s3::Found) -> S3Report {
    r.list_calls = w.calls;
    r.truncated = w.truncated;
    r.reached_total = f.reached_total;
    r.reached = f.reached.clone();
    r.missed_total = f.missed.len();
    r.unreachable_total = f.missed.iter().filter(|m| !m.expected).count();
    // Unreachable data first, then the expected siblings.
    let mut missed = f.missed.clone();
    missed.sort_by_key(|m| m.expected);
    missed.truncate(MISSED_LISTED);
    r.missed = missed;
    r.status = if f.reached_total > 0 { S3Status::Ok } else { S3Status::Empty };
    r
}

/// Walks each bucket once and reports for every table on it.
async fn s3_reports(aws: &Aws, tables: &[TableDef], chosen: &[Chosen], region: &str, opts: &Options) -> Vec<S3Report> {
    let mut reports: Vec<Option<S3Report>> = vec![None; tables.len()];
    for ((bucket, s3_region), idx) in &by_bucket(tables, chosen, region) {
        let projections: Vec<&Projection> = idx.iter().filter_map(|&i| chosen[i].0.as_ref()).collect();
        let with_projection: Vec<usize> = idx.iter().copied().filter(|&i| chosen[i].0.is_some()).collect();
        let budget = opts.sample.max(1).saturating_mul(projections.len().max(1));
        let result = s3::walk(&clients::s3(aws, s3_region), bucket, &projections, budget, opts.today).await;
        for &i in idx {
            let (_, whose, note) = &chosen[i];
            let mut r = s3_report(bucket, whose, note.clone());
            match (&result, with_projection.iter().position(|&j| j == i)) {
                (Err(e), _) => {
                    r.status = S3Status::Error;
                    r.error = Some(e.clone());
                }
                (Ok(_), None) => {
                    r.status = S3Status::Error;
                    r.error = Some("neither the deployed nor the spec's projection can be read".into());
                }
                (Ok(w), Some(k)) => r = found(r, w, &w.per_table[k]),
            }
            reports[i] = Some(r);
        }
    }
    let no_bucket = |t: &TableDef| S3Report {
        status: S3Status::Error,
        error: Some(format!("no bucket in the location {}", t.location)),
        ..s3_report("", "spec", None)
    };
    reports.into_iter().zip(tables).map(|(r, t)| r.unwrap_or_else(|| no_bucket(t))).collect()
}

/// Checks the deployed lake against `plan` (built from `spec`). `aws` is the home account's
/// connection in the central stack's region (Glue, the trail); S3 and Config clients derive from
/// it per region, keeping its credentials and endpoint URL.
pub async fn doctor(spec: &Spec, plan: &Plan, aws: &Aws, opts: &Options) -> Report {
    let names = Names::of(spec);
    let region = aws.region().map(str::to_string).unwrap_or_else(|| spec.home.region.clone());
    let database = plan.layout.database.clone();
    let glue_reports = glue::tables(&clients::glue(aws), &database, &plan.tables).await;
    let chosen = choose(&plan.tables, &glue_reports);
    let s3 = s3_reports(aws, &plan.tables, &chosen, &region, opts).await;
    let tables = plan
        .tables
        .iter()
        .zip(glue_reports)
        .zip(s3)
        .map(|((t, (glue, _)), s3)| TableReport { name: t.name.clone(), glue, s3 })
        .collect();
    let trail = status::trail(spec, &names, aws, &region).await;
    let recorders = status::recorders(spec, &names, aws).await;
    let mut report = Report {
        name: spec.name.clone(),
        account: spec.home.account.clone(),
        region,
        database,
        tables,
        trail,
        recorders,
        ok: false,
    };
    report.ok = report.compute_ok();
    report
}
