//! `opslake doctor`: the deployed lake against the spec, as seen from the home account.
//!
//! - Glue: each table read back with `GetTable` and compared field by field with the table
//!   definition the spec renders (columns, partition keys, location, formats, SerDe, table
//!   parameters: projection, `storage.location.template`, classification).
//! - S3: a bounded breadth-first sample of the prefixes that exist in each table's bucket,
//!   classified with [`Projection::locate`] against the projection Athena will use (the
//!   deployed one when it can be read): which prefixes are reached, which are missed and why
//!   (a wrong prefix, an unexpected org id, padding, a day out of range), and which are known
//!   non-data siblings skipped on purpose (digests, snapshots, check files).
//! - The trail (`GetTrailStatus`) and the Config recorders in every spec region
//!   (`DescribeConfigurationRecorderStatus`).
//!
//! Every AWS failure (a missing table, a bucket that denies access, an API moto or a policy
//! does not allow) is a finding in the report, never a panic. [`doctor`] is what `deploy`
//! calls after a deploy; [`run`] is the command.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Write;
use std::path::Path;

use aws_config::SdkConfig;
use aws_sdk_glue::error::{ProvideErrorMetadata, SdkError};
use jiff::civil::Date;
use opslake_runtime::engine::athena::Connection;
use opslake_runtime::lake::{closest_misses, Column, Projection, Reach, TableDef, TableKind};
use serde::Serialize;

use crate::cli::{load_spec, Format, BAD_INPUT, FAILURE, OK};
use crate::plan::{self, Names, Plan};
use crate::spec::model::{Spec, TrailMode};
use crate::spec::{self, Diagnostic};

/// Default budget of S3 list calls per table.
pub const DEFAULT_SAMPLE: usize = 200;
/// At a level with more viable children than this, descend only into the first two and the
/// last two (every child is still classified from the listing).
const DESCEND_ALL_UP_TO: usize = 8;
/// Reached prefixes listed per table (all are counted).
const REACHED_LISTED: usize = 20;
/// Missed prefixes listed per table (all are counted).
const MISSED_LISTED: usize = 100;
/// Table parameters Glue, Athena or crawlers add on their own: not drift.
const HOUSEKEEPING_PARAMETERS: &[&str] = &["transient_lastDdlTime", "last_modified_by", "last_modified_time"];

#[derive(Debug, Clone)]
pub struct Options {
    /// S3 list calls per table for the prefix sample.
    pub sample: usize,
    /// Resolves `NOW` in projection ranges.
    pub today: Date,
}

impl Default for Options {
    fn default() -> Self {
        Options { sample: DEFAULT_SAMPLE, today: spec::today_utc() }
    }
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

    /// The problems, one line each (empty when `ok`).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for t in &self.tables {
            match t.glue.status {
                GlueStatus::Ok => {}
                GlueStatus::Drift => out.push(format!("table {}: {} drifted field(s)", t.name, t.glue.drift.len())),
                GlueStatus::Missing => out.push(format!("table {}: not in the Glue database", t.name)),
                GlueStatus::DatabaseMissing => out.push(format!("table {}: the Glue database does not exist", t.name)),
                GlueStatus::Error => out.push(format!("table {}: Glue could not be read", t.name)),
            }
            if t.s3.status == S3Status::Error {
                out.push(format!("table {}: s3://{}/ could not be listed", t.name, t.s3.bucket));
            }
            if t.s3.unreachable_total > 0 {
                out.push(format!(
                    "table {}: {} prefix(es) the projection does not reach",
                    t.name, t.s3.unreachable_total
                ));
            }
        }
        if !matches!(self.trail.status, TrailStatus::Logging | TrailStatus::NotManaged) {
            out.push(format!("trail {}: {}", self.trail.name, trail_word(self.trail.status)));
        }
        for r in &self.recorders {
            if r.status != RecorderStatus::Recording {
                out.push(format!("Config recorder in {}: {}", r.region, recorder_word(r.status)));
            }
        }
        out
    }

    /// The human-readable report (plain ASCII markers: `ok`, `DRIFT`, `MISS`, `skip`, `FAIL`).
    pub fn text(&self) -> String {
        let mut s = String::new();
        let mut line = |l: String| {
            s.push_str(&l);
            s.push('\n');
        };
        line(format!(
            "opslake doctor: {} (database {} in {}, as seen from account {})",
            self.name, self.database, self.region, self.account
        ));
        for t in &self.tables {
            line(String::new());
            line(format!("== table {} ==", t.name));
            match t.glue.status {
                GlueStatus::Ok => line("  ok    glue: matches the spec".into()),
                GlueStatus::Drift => {
                    line(format!("  DRIFT glue: {} field(s) differ from the spec", t.glue.drift.len()));
                    for d in &t.glue.drift {
                        line(format!(
                            "        {}: {}: deployed {}, spec {}",
                            t.name,
                            d.field,
                            shown(d.deployed.as_deref()),
                            shown(d.spec.as_deref())
                        ));
                    }
                }
                GlueStatus::Missing | GlueStatus::DatabaseMissing | GlueStatus::Error => {
                    line(format!("  FAIL  glue: {}", t.glue.error.as_deref().unwrap_or("the table could not be read")))
                }
            }
            let s3 = &t.s3;
            let walked = format!(
                "{} list call{}{}",
                s3.list_calls,
                if s3.list_calls == 1 { "" } else { "s" },
                if s3.truncated { ", budget used up: a sample" } else { "" }
            );
            if s3.status != S3Status::Error {
                line(format!("  s3://{}/ (projection: {}; {walked})", s3.bucket, s3.projection));
            }
            if let Some(note) = &s3.note {
                line(format!("        note: {note}"));
            }
            match s3.status {
                S3Status::Error => line(format!("  FAIL  s3: {}", s3.error.as_deref().unwrap_or("cannot list"))),
                S3Status::Empty => line("  info  s3: no partition the projection reaches has data yet".into()),
                S3Status::Ok => line(format!(
                    "  ok    s3: {} partition prefix(es) reached, e.g. {}",
                    s3.reached_total,
                    s3.reached.first().map(String::as_str).unwrap_or("")
                )),
            }
            for m in s3.missed.iter().filter(|m| !m.expected) {
                line(format!("  MISS  {}: {}", m.prefix, m.reason));
            }
            for m in s3.missed.iter().filter(|m| m.expected) {
                line(format!("  skip  {}: {} (not data; skipped on purpose)", m.prefix, m.reason));
            }
            if s3.missed_total > s3.missed.len() {
                line(format!("        ... and {} more", s3.missed_total - s3.missed.len()));
            }
        }
        line(String::new());
        line(format!("== trail {} ({}) ==", self.trail.name, self.trail.region));
        let mark = |good: bool| if good { "ok  " } else { "FAIL" };
        let t = &self.trail;
        let mut detail = format!("{}: {}", t.name, trail_word(t.status));
        if let Some(e) = t.latest_delivery_error.as_deref().filter(|e| !e.is_empty()) {
            detail.push_str(&format!(" (latest delivery error: {e})"));
        }
        if let Some(e) = &t.error {
            detail.push_str(&format!(": {e}"));
        }
        line(format!("  {}  {detail}", mark(matches!(t.status, TrailStatus::Logging | TrailStatus::NotManaged))));
        line(String::new());
        line(format!("== Config recorders (account {}) ==", self.account));
        if self.recorders.is_empty() {
            line("  info  none: sources.config.recorder is false".into());
        }
        for r in &self.recorders {
            let mut detail = format!("{} {}: {}", r.region, r.name, recorder_word(r.status));
            if let Some(st) = &r.last_status {
                detail.push_str(&format!(" (last status {st})"));
            }
            if let Some(e) = r.last_error.as_deref().filter(|e| !e.is_empty()) {
                detail.push_str(&format!(", last error: {e}"));
            }
            if let Some(e) = &r.error {
                detail.push_str(&format!(": {e}"));
            }
            line(format!("  {}  {detail}", mark(r.status == RecorderStatus::Recording)));
        }
        line(String::new());
        let problems = self.problems();
        if problems.is_empty() {
            line("result: ok".into());
        } else {
            line(format!("result: {} problem(s)", problems.len()));
            for p in problems {
                line(format!("  - {p}"));
            }
        }
        s
    }
}

fn trail_word(s: TrailStatus) -> &'static str {
    match s {
        TrailStatus::Logging => "logging",
        TrailStatus::DeliveryError => "logging, but the last delivery to S3 failed",
        TrailStatus::Stopped => "NOT logging (StartLogging, or deploy the stack again)",
        TrailStatus::Missing => "not found (deploy the stack that creates it)",
        TrailStatus::Error => "status unknown",
        TrailStatus::NotManaged => "not managed by the spec (sources.cloudtrail.trail: existing)",
    }
}

fn recorder_word(s: RecorderStatus) -> &'static str {
    match s {
        RecorderStatus::Recording => "recording",
        RecorderStatus::Failing => "recording, but the last delivery failed",
        RecorderStatus::Stopped => "NOT recording (StartConfigurationRecorder)",
        RecorderStatus::Missing => "not found (deploy the member stack to this region)",
        RecorderStatus::Error => "status unknown",
    }
}

/// A value for a text line: absent, or cut to a readable length.
fn shown(v: Option<&str>) -> String {
    match v {
        None => "(absent)".into(),
        Some(v) if v.chars().count() > 120 => format!("{}...", v.chars().take(117).collect::<String>()),
        Some(v) => v.to_string(),
    }
}

/// An SDK error of any AWS client as `Code: message` (not just "service error"): every SDK
/// crate shares `SdkError` and `ProvideErrorMetadata` from the smithy runtime.
pub(crate) fn sdk_message<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match (e.code(), e.message()) {
        (Some(code), Some(msg)) => format!("{code}: {msg}"),
        (Some(code), None) => code.to_string(),
        _ => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            text
        }
    }
}

// --- Glue -------------------------------------------------------------------------------

/// A Glue table as read back, in the terms of a [`TableDef`].
#[derive(Debug, Clone)]
struct Deployed {
    table_type: Option<String>,
    columns: Vec<Column>,
    partition_keys: Vec<Column>,
    location: Option<String>,
    input_format: Option<String>,
    output_format: Option<String>,
    serde_library: Option<String>,
    serde_parameters: BTreeMap<String, String>,
    parameters: BTreeMap<String, String>,
}

impl Deployed {
    fn from_glue(t: &aws_sdk_glue::types::Table) -> Deployed {
        let cols = |cs: &[aws_sdk_glue::types::Column]| -> Vec<Column> {
            cs.iter()
                .map(|c| Column { name: c.name().to_string(), ty: c.r#type().unwrap_or_default().to_string() })
                .collect()
        };
        let map = |m: Option<&std::collections::HashMap<String, String>>| -> BTreeMap<String, String> {
            m.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
        };
        let sd = t.storage_descriptor();
        let serde = sd.and_then(|s| s.serde_info());
        Deployed {
            table_type: t.table_type().map(str::to_string),
            columns: sd.map(|s| cols(s.columns())).unwrap_or_default(),
            partition_keys: cols(t.partition_keys()),
            location: sd.and_then(|s| s.location()).map(str::to_string),
            input_format: sd.and_then(|s| s.input_format()).map(str::to_string),
            output_format: sd.and_then(|s| s.output_format()).map(str::to_string),
            serde_library: serde.and_then(|s| s.serialization_library()).map(str::to_string),
            serde_parameters: map(serde.and_then(|s| s.parameters())),
            parameters: map(t.parameters()),
        }
    }

    fn projection(&self) -> Result<Projection, String> {
        let keys: Vec<&str> = self.partition_keys.iter().map(|c| c.name.as_str()).collect();
        Projection::from_parameters(&keys, &self.parameters).map_err(|e| e.0)
    }
}

/// Hive types compare without case or whitespace (Athena DDL normalises both).
fn same_type(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    norm(a) == norm(b)
}

fn compare_columns(kind: &str, deployed: &[Column], spec: &[Column], out: &mut Vec<Drift>) {
    let find = |cs: &[Column], name: &str| cs.iter().find(|c| c.name.eq_ignore_ascii_case(name)).cloned();
    for c in spec {
        match find(deployed, &c.name) {
            None => out.push(Drift { field: format!("{kind}.{}", c.name), deployed: None, spec: Some(c.ty.clone()) }),
            Some(d) if !same_type(&d.ty, &c.ty) => {
                out.push(Drift { field: format!("{kind}.{}", c.name), deployed: Some(d.ty), spec: Some(c.ty.clone()) })
            }
            Some(_) => {}
        }
    }
    for d in deployed {
        if find(spec, &d.name).is_none() {
            out.push(Drift { field: format!("{kind}.{}", d.name), deployed: Some(d.ty.clone()), spec: None });
        }
    }
    let common = |a: &[Column], b: &[Column]| -> Vec<String> {
        a.iter().filter(|c| find(b, &c.name).is_some()).map(|c| c.name.to_ascii_lowercase()).collect()
    };
    let (d_order, s_order) = (common(deployed, spec), common(spec, deployed));
    if d_order != s_order {
        out.push(Drift {
            field: format!("{kind} (order)"),
            deployed: Some(d_order.join(", ")),
            spec: Some(s_order.join(", ")),
        });
    }
}

fn compare_maps(
    kind: &str,
    deployed: &BTreeMap<String, String>,
    spec: &BTreeMap<String, String>,
    ignore: &[&str],
    out: &mut Vec<Drift>,
) {
    let keys: BTreeSet<&String> = deployed.keys().chain(spec.keys()).collect();
    for k in keys {
        let (d, s) = (deployed.get(k), spec.get(k));
        if s.is_none() && ignore.contains(&k.as_str()) {
            continue;
        }
        if d != s {
            out.push(Drift { field: format!("{kind}.{k}"), deployed: d.cloned(), spec: s.cloned() });
        }
    }
}

/// Every field of the deployed table that differs from the spec's definition, in a fixed order.
fn drift(deployed: &Deployed, spec: &TableDef) -> Vec<Drift> {
    let mut out = Vec::new();
    let mut scalar = |field: &str, d: &Option<String>, s: &str| {
        if d.as_deref() != Some(s) {
            out.push(Drift { field: field.into(), deployed: d.clone(), spec: Some(s.to_string()) });
        }
    };
    scalar("table_type", &deployed.table_type, "EXTERNAL_TABLE");
    scalar("location", &deployed.location, &spec.location);
    scalar("input_format", &deployed.input_format, &spec.input_format);
    scalar("output_format", &deployed.output_format, &spec.output_format);
    scalar("serde_library", &deployed.serde_library, &spec.serde_library);
    compare_columns("columns", &deployed.columns, &spec.columns, &mut out);
    compare_columns("partition_keys", &deployed.partition_keys, &spec.partition_keys, &mut out);
    compare_maps("serde_parameters", &deployed.serde_parameters, &spec.serde_parameters, &[], &mut out);
    compare_maps("parameters", &deployed.parameters, &spec.parameters, HOUSEKEEPING_PARAMETERS, &mut out);
    out
}

/// Reads every table back, with its drift; a missing or unreadable database marks every table.
async fn glue_tables(
    glue: &aws_sdk_glue::Client,
    database: &str,
    tables: &[TableDef],
) -> Vec<(GlueReport, Option<Deployed>)> {
    let all = |status: GlueStatus, error: String| {
        tables.iter().map(|_| (GlueReport { status, error: Some(error.clone()), drift: Vec::new() }, None)).collect()
    };
    match glue.get_database().name(database).send().await {
        Ok(_) => {}
        Err(e) if e.code() == Some("EntityNotFoundException") => {
            return all(
                GlueStatus::DatabaseMissing,
                format!("database {database} does not exist: deploy the central stack (`opslake deploy`)"),
            )
        }
        Err(e) => return all(GlueStatus::Error, format!("GetDatabase {database}: {}", sdk_message(&e))),
    }
    let mut out = Vec::new();
    for t in tables {
        let r = match glue.get_table().database_name(database).name(&t.name).send().await {
            Ok(o) => match o.table() {
                Some(table) => {
                    let deployed = Deployed::from_glue(table);
                    let drift = drift(&deployed, t);
                    let status = if drift.is_empty() { GlueStatus::Ok } else { GlueStatus::Drift };
                    (GlueReport { status, error: None, drift }, Some(deployed))
                }
                None => (
                    GlueReport {
                        status: GlueStatus::Error,
                        error: Some(format!("GetTable {database}.{}: empty answer", t.name)),
                        drift: Vec::new(),
                    },
                    None,
                ),
            },
            Err(e) if e.code() == Some("EntityNotFoundException") => (
                GlueReport {
                    status: GlueStatus::Missing,
                    error: Some(format!(
                        "table {database}.{} does not exist: deploy the central stack (`opslake deploy`)",
                        t.name
                    )),
                    drift: Vec::new(),
                },
                None,
            ),
            Err(e) => (
                GlueReport {
                    status: GlueStatus::Error,
                    error: Some(format!("GetTable {database}.{}: {}", t.name, sdk_message(&e))),
                    drift: Vec::new(),
                },
                None,
            ),
        };
        out.push(r);
    }
    out
}

// --- S3 ---------------------------------------------------------------------------------

/// What the walk of one bucket found for each of its tables.
#[derive(Debug, Default, Clone)]
struct Found {
    reached: Vec<String>,
    reached_total: usize,
    missed: Vec<Missed>,
    seen_missed: BTreeSet<String>,
}

#[derive(Debug, Default)]
struct Walk {
    calls: usize,
    truncated: bool,
    per_table: Vec<Found>,
}

/// Lists `bucket` breadth-first from its root with `/` as delimiter, classifying every child
/// against each table's projection; descends into prefixes some table may still reach (all of
/// them at narrow levels, the first and last two at wide ones) until `budget` list calls.
async fn walk(
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
        let mut children: Vec<(String, bool)> = Vec::new(); // (key or prefix, is a prefix)
        let mut token: Option<String> = None;
        loop {
            let resp = s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(&prefix)
                .delimiter("/")
                .set_continuation_token(token.take())
                .send()
                .await;
            w.calls += 1;
            let resp = match resp {
                Ok(r) => r,
                Err(e) => {
                    let msg = sdk_message(&e);
                    let hint = match e.code() {
                        Some("NoSuchBucket") => {
                            " (the bucket does not exist: check lake.bucket / sources.alb.buckets, or deploy)"
                        }
                        Some("AccessDenied") | Some("AllAccessDisabled") => {
                            " (the home account's credentials may not list it)"
                        }
                        Some("PermanentRedirect") | Some("AuthorizationHeaderMalformed") => {
                            " (the bucket is in another region than the one asked)"
                        }
                        _ => "",
                    };
                    return Err(format!("ListObjectsV2 s3://{bucket}/{prefix}: {msg}{hint}"));
                }
            };
            children.extend(resp.common_prefixes().iter().filter_map(|p| p.prefix()).map(|p| (p.to_string(), true)));
            children.extend(
                resp.contents().iter().filter_map(|o| o.key()).filter(|k| *k != prefix).map(|k| (k.to_string(), false)),
            );
            match resp.next_continuation_token() {
                Some(t) if resp.is_truncated() == Some(true) => {
                    if w.calls >= budget {
                        w.truncated = true;
                        break;
                    }
                    token = Some(t.to_string());
                }
                _ => break,
            }
        }
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
        if viable.len() <= DESCEND_ALL_UP_TO {
            queue.extend(viable);
        } else {
            let n = viable.len();
            queue.extend(viable.into_iter().enumerate().filter(|(i, _)| *i < 2 || *i >= n - 2).map(|(_, p)| p));
        }
    }
    Ok(w)
}

/// `s3://bucket/...` → `bucket`.
fn bucket_of(url: &str) -> Option<&str> {
    url.strip_prefix("s3://").map(|r| r.split('/').next().unwrap_or(r)).filter(|b| !b.is_empty())
}

/// An S3 client in `region`; path-style addressing when an endpoint URL is set (emulators).
pub(crate) fn s3_client(conf: &SdkConfig, region: &str) -> aws_sdk_s3::Client {
    let c = aws_sdk_s3::config::Builder::from(conf)
        .region(aws_config::Region::new(region.to_string()))
        .force_path_style(conf.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(c)
}

// --- the trail and the recorders ----------------------------------------------------------

async fn trail(spec: &Spec, names: &Names, conf: &SdkConfig, region: &str) -> TrailReport {
    let mut r = TrailReport {
        name: names.trail.clone(),
        region: region.to_string(),
        status: TrailStatus::NotManaged,
        is_logging: None,
        latest_delivery_error: None,
        error: None,
    };
    if spec.trail_mode() == TrailMode::Existing {
        return r;
    }
    let ct = aws_sdk_cloudtrail::Client::new(conf);
    match ct.get_trail_status().name(&names.trail).send().await {
        Ok(o) => {
            r.is_logging = o.is_logging();
            r.latest_delivery_error = o.latest_delivery_error().filter(|e| !e.is_empty()).map(str::to_string);
            r.status = match (o.is_logging(), &r.latest_delivery_error) {
                (Some(true), None) => TrailStatus::Logging,
                (Some(true), Some(_)) => TrailStatus::DeliveryError,
                _ => TrailStatus::Stopped,
            };
        }
        Err(e) if e.code() == Some("TrailNotFoundException") => {
            r.status = TrailStatus::Missing;
            r.error = Some(sdk_message(&e));
        }
        Err(e) => {
            r.status = TrailStatus::Error;
            r.error = Some(format!("GetTrailStatus: {}", sdk_message(&e)));
        }
    }
    r
}

async fn recorders(spec: &Spec, names: &Names, conf: &SdkConfig) -> Vec<RecorderReport> {
    if !spec.sources.config.recorder {
        return Vec::new();
    }
    let mut out = Vec::new();
    for region in &spec.regions {
        let c = aws_sdk_config::config::Builder::from(conf).region(aws_config::Region::new(region.clone())).build();
        let client = aws_sdk_config::Client::from_conf(c);
        let mut r = RecorderReport {
            region: region.clone(),
            name: names.config.clone(),
            status: RecorderStatus::Error,
            recording: None,
            last_status: None,
            last_error: None,
            error: None,
        };
        match client.describe_configuration_recorder_status().send().await {
            Ok(o) => {
                let all = o.configuration_recorders_status();
                match all.iter().find(|s| s.name() == Some(names.config.as_str())) {
                    Some(s) => {
                        r.recording = Some(s.recording());
                        r.last_status = s.last_status().map(|st| st.as_str().to_string());
                        r.last_error = match (s.last_error_code(), s.last_error_message()) {
                            (Some(c), Some(m)) if !m.is_empty() => Some(format!("{c}: {m}")),
                            (_, Some(m)) if !m.is_empty() => Some(m.to_string()),
                            (Some(c), _) if !c.is_empty() => Some(c.to_string()),
                            _ => None,
                        };
                        let failed = r.last_status.as_deref().is_some_and(|st| st.eq_ignore_ascii_case("failure"));
                        r.status = match (s.recording(), failed) {
                            (true, false) => RecorderStatus::Recording,
                            (true, true) => RecorderStatus::Failing,
                            (false, _) => RecorderStatus::Stopped,
                        };
                    }
                    None => {
                        r.status = RecorderStatus::Missing;
                        let others: Vec<&str> = all.iter().filter_map(|s| s.name()).collect();
                        r.error = Some(if others.is_empty() {
                            "no configuration recorder in this region".to_string()
                        } else {
                            format!(
                                "no recorder named {}; found {} (Config allows one customer-managed recorder per region)",
                                names.config,
                                others.join(", ")
                            )
                        });
                    }
                }
            }
            Err(e) => r.error = Some(format!("DescribeConfigurationRecorderStatus: {}", sdk_message(&e))),
        }
        out.push(r);
    }
    out
}

// --- the whole check ------------------------------------------------------------------------

/// Checks the deployed lake against `plan` (built from `spec`). `conf` is the home account's
/// SDK configuration, its region the one of the central stack (Glue, the trail); S3 and Config
/// clients derive from it per region, keeping its credentials and endpoint URL.
pub async fn doctor(spec: &Spec, plan: &Plan, conf: &SdkConfig, opts: &Options) -> Report {
    let names = Names::of(spec);
    let region = conf.region().map(|r| r.to_string()).unwrap_or_else(|| spec.home.region.clone());
    let glue = aws_sdk_glue::Client::new(conf);
    let database = plan.layout.database.clone();
    let glue_reports = glue_tables(&glue, &database, &plan.tables).await;

    // The projection Athena will use: the deployed one when it can be read, else the spec's.
    let mut chosen: Vec<(Option<Projection>, &'static str, Option<String>)> = Vec::new();
    for (t, (_, deployed)) in plan.tables.iter().zip(&glue_reports) {
        let spec_projection = t.projection();
        let entry = match deployed.as_ref().map(Deployed::projection) {
            Some(Ok(p)) => (Some(p), "deployed", None),
            Some(Err(e)) => (
                spec_projection.ok(),
                "spec",
                Some(format!("the deployed projection cannot be read ({e}); classified with the spec's")),
            ),
            None => (spec_projection.ok(), "spec", None),
        };
        chosen.push(entry);
    }
    // One walk per bucket, classifying against every table on it.
    let mut by_bucket: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, t) in plan.tables.iter().enumerate() {
        let template_bucket = chosen[i].0.as_ref().and_then(|p| bucket_of(&p.template).map(str::to_string));
        let Some(bucket) = template_bucket.or_else(|| bucket_of(&t.location).map(str::to_string)) else {
            continue;
        };
        let s3_region = match (t.kind, &t.region) {
            (TableKind::AlbAccessLogs, Some(r)) => r.clone(),
            _ => region.clone(),
        };
        by_bucket.entry((bucket, s3_region)).or_default().push(i);
    }
    let mut s3_reports: Vec<Option<S3Report>> = vec![None; plan.tables.len()];
    for ((bucket, s3_region), idx) in &by_bucket {
        let projections: Vec<&Projection> = idx.iter().filter_map(|&i| chosen[i].0.as_ref()).collect();
        let with_projection: Vec<usize> = idx.iter().copied().filter(|&i| chosen[i].0.is_some()).collect();
        let client = s3_client(conf, s3_region);
        let budget = opts.sample.max(1).saturating_mul(projections.len().max(1));
        let result = walk(&client, bucket, &projections, budget, opts.today).await;
        for &i in idx {
            let (_, whose, note) = &chosen[i];
            let mut r = S3Report {
                status: S3Status::Empty,
                error: None,
                bucket: bucket.clone(),
                projection: whose,
                note: note.clone(),
                list_calls: 0,
                truncated: false,
                reached_total: 0,
                reached: Vec::new(),
                missed_total: 0,
                unreachable_total: 0,
                missed: Vec::new(),
            };
            match (&result, with_projection.iter().position(|&j| j == i)) {
                (Err(e), _) => {
                    r.status = S3Status::Error;
                    r.error = Some(e.clone());
                }
                (Ok(_), None) => {
                    r.status = S3Status::Error;
                    r.error = Some("neither the deployed nor the spec's projection can be read".into());
                }
                (Ok(w), Some(k)) => {
                    let f = &w.per_table[k];
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
                }
            }
            s3_reports[i] = Some(r);
        }
    }
    let tables = plan
        .tables
        .iter()
        .zip(glue_reports)
        .zip(s3_reports)
        .map(|((t, (glue, _)), s3)| TableReport {
            name: t.name.clone(),
            glue,
            s3: s3.unwrap_or_else(|| S3Report {
                status: S3Status::Error,
                error: Some(format!("no bucket in the location {}", t.location)),
                bucket: String::new(),
                projection: "spec",
                note: None,
                list_calls: 0,
                truncated: false,
                reached_total: 0,
                reached: Vec::new(),
                missed_total: 0,
                unreachable_total: 0,
                missed: Vec::new(),
            }),
        })
        .collect();
    let trail = trail(spec, &names, conf, &region).await;
    let recorders = recorders(spec, &names, conf).await;
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

pub struct Args<'a> {
    pub spec: &'a Path,
    pub conn: Connection,
    pub format: Format,
    pub sample: usize,
}

/// `opslake doctor SPEC`: exit 0 when the lake matches the spec, 1 when something is wrong,
/// 2 for a bad spec.
pub fn run(a: Args, out: &mut dyn Write, err: &mut dyn Write) -> std::io::Result<u8> {
    // Diagnostics go to stderr even with --format json: stdout carries the report.
    let (loaded, source) = match load_spec(a.spec, Format::Text, out, err)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let Some(spec) = loaded.spec.as_ref() else { return Ok(BAD_INPUT) };
    let plan = match plan::plan(spec) {
        Ok(p) => p,
        Err(e) => {
            let d = Diagnostic::error(loaded.locations.key(&e.pointer), e.message).hint(e.hint);
            write!(err, "{}", d.render(&a.spec.display().to_string(), &source))?;
            return Ok(BAD_INPUT);
        }
    };
    let region = a.conn.region.clone().unwrap_or_else(|| spec.home.region.clone());
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            writeln!(err, "error: cannot start the async runtime: {e}")?;
            return Ok(FAILURE);
        }
    };
    let opts = Options { sample: a.sample, today: spec::today_utc() };
    let report = rt.block_on(async {
        let conf = a.conn.sdk_config(Some(&region)).await;
        doctor(spec, &plan, &conf, &opts).await
    });
    match a.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report).unwrap_or_default())?,
        Format::Text => write!(out, "{}", report.text())?,
    }
    Ok(if report.ok { OK } else { FAILURE })
}
