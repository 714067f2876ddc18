//! Named queries: a fixed catalogue of parameterised questions over the lake. Each one has
//! Athena SQL (a Tera template in `templates/sql/`) and a local evaluation over the mirror;
//! tests hold the two to the same answer.
//!
//! Parameters are validated here (types, ranges, character sets) and reach SQL only as
//! execution parameters (`?`): a `:name` in a template marks where. `{{ }}` in a SQL template
//! carries spec identifiers and constants, escaped as SQL literals (or identifiers with the
//! `ident` filter).

mod local;
pub mod ordered;

pub use local::event_touch_rows;

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::Serialize;
use serde_json::{json, Value};

use crate::engine::local::{EngineError, Mirror};
use crate::engine::ScanStats;
use crate::lake::{LakeLayout, TableDef, TableKind};

/// Rows as the SQL returns them → rows of the answer.
pub type PostProcess = fn(Vec<Vec<Value>>) -> Vec<Vec<Value>>;

/// The kind of a parameter: how it is validated and typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamKind {
    Year,
    Month,
    Date,
    Account,
    Region,
    EventName,
    EventSource,
    User,
    Bool,
    /// An instant, RFC 3339 (`2025-06-12T09:40:00Z`, any offset); kept in UTC.
    Time,
    /// A CloudWatch namespace (`AWS/ApplicationELB`, `Orders`).
    Namespace,
    /// A number of rows, 1 to [`MAX_LIMIT`].
    Limit,
}

/// The largest `limit` a query takes.
pub const MAX_LIMIT: i64 = 10_000_000;

impl ParamKind {
    /// The JSON Schema of a value of this kind (what [`validate`] accepts, for a model's tool
    /// input): regions and, when the layout knows them, accounts as enums.
    pub fn schema(self, layout: &LakeLayout) -> Value {
        match self {
            ParamKind::Year => json!({"type": "integer", "minimum": 2000, "maximum": 2100}),
            ParamKind::Month => json!({"type": "integer", "minimum": 1, "maximum": 12}),
            ParamKind::Date => json!({"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}),
            ParamKind::Account if layout.accounts.is_empty() => json!({"type": "string", "pattern": "^[0-9]{12}$"}),
            ParamKind::Account => json!({"type": "string", "enum": layout.accounts}),
            ParamKind::Region => json!({"type": "string", "enum": layout.regions}),
            ParamKind::EventName => json!({"type": "string", "pattern": "^[A-Za-z0-9]{1,128}$"}),
            ParamKind::EventSource => json!({"type": "string", "pattern": "^[a-z0-9.-]{1,128}$"}),
            ParamKind::User => json!({"type": "string", "pattern": "^[A-Za-z0-9+=,.@_-]{1,128}$"}),
            ParamKind::Bool => json!({"type": "boolean"}),
            ParamKind::Time => json!({"type": "string", "format": "date-time", "pattern": TIME_PATTERN}),
            ParamKind::Namespace => json!({"type": "string", "pattern": "^[A-Za-z0-9/_.#:-]{1,255}$"}),
            ParamKind::Limit => json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
        }
    }
}

/// What a [`ParamKind::Time`] looks like (the schema's pattern; parsing is stricter).
const TIME_PATTERN: &str =
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?(Z|[+-][0-9]{2}:[0-9]{2})$";

/// The longest window a query with `start` and `end` reads: an incident's and the changes
/// before it, not a month's.
pub const MAX_WINDOW_HOURS: i64 = 48;

/// The most rows a row-returning incident query answers; the analysis reports when a source
/// stopped there.
pub const INCIDENT_ROW_LIMIT: usize = 2000;

/// The most points `metric-points` answers (a minute per metric: 40 minutes of 250 metrics).
pub const METRIC_ROW_LIMIT: usize = 10_000;

/// The JSON Schema of a set of parameters: an object with one property each, `required` as
/// the definitions say, nothing else allowed.
pub fn params_schema(params: &[ParamDef], layout: &LakeLayout) -> Value {
    let mut properties = serde_json::Map::new();
    for p in params {
        let mut s = p.kind.schema(layout);
        s["description"] = json!(p.help);
        properties.insert(p.name.to_string(), s);
    }
    let required: Vec<&str> = params.iter().filter(|p| p.required).map(|p| p.name).collect();
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

#[derive(Debug, Clone, Serialize)]
pub struct ParamDef {
    pub name: &'static str,
    pub kind: ParamKind,
    pub required: bool,
    pub help: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueryDef {
    pub name: &'static str,
    pub description: &'static str,
    pub table: TableKind,
    pub params: &'static [ParamDef],
    pub columns: &'static [&'static str],
    #[serde(skip)]
    sql: &'static str,
    /// Turns the SQL's rows into the answer's (same code for every engine); `None`: as is.
    #[serde(skip)]
    pub post: Option<PostProcess>,
    /// The most rows the query answers (its SQL's `LIMIT {{ limit }}`; the local evaluation
    /// keeps as many); `None`: all.
    pub limit: Option<usize>,
}

const fn p(name: &'static str, kind: ParamKind, required: bool, help: &'static str) -> ParamDef {
    ParamDef { name, kind, required, help }
}

const FROM: ParamDef = p("from", ParamKind::Date, true, "first day, YYYY-MM-DD (UTC)");
const TO: ParamDef = p("to", ParamKind::Date, true, "last day, YYYY-MM-DD (UTC), inclusive");
const ACCOUNT: ParamDef = p("account", ParamKind::Account, false, "only this account (12 digits)");
const LIMIT: ParamDef = p("limit", ParamKind::Limit, false, "at most this many rows, the first in the query's order");
const REGION: ParamDef = p("region", ParamKind::Region, false, "only this region (one of the spec's)");
const START: ParamDef = p("start", ParamKind::Time, true, "window start, RFC 3339 (e.g. 2025-06-12T09:30:00Z)");
const END: ParamDef = p("end", ParamKind::Time, true, "window end (exclusive), RFC 3339, at most 48 h after start");

/// The catalogue.
pub const QUERIES: &[QueryDef] = &[
    QueryDef {
        name: "config-changes",
        description: "AWS Config change records per resource in one month",
        table: TableKind::ConfigHistory,
        params: &[
            p("year", ParamKind::Year, true, "year, e.g. 2025"),
            p("month", ParamKind::Month, true, "month, 1-12"),
            ACCOUNT,
            REGION,
        ],
        columns: &["resourcetype", "resourcename", "awsaccountid", "awsregion", "year", "month", "recordcount"],
        sql: include_str!("../../../templates/sql/config-changes.sql.tera"),
        post: None,
        limit: None,
    },
    QueryDef {
        name: "config-lifecycle",
        description: "Resources AWS Config saw created (ResourceDiscovered) or deleted in one month",
        table: TableKind::ConfigHistory,
        params: &[
            p("year", ParamKind::Year, true, "year, e.g. 2025"),
            p("month", ParamKind::Month, true, "month, 1-12"),
            ACCOUNT,
            REGION,
        ],
        columns: &["resourcetype", "resourceid", "resourcename", "awsaccountid", "awsregion", "status", "capturetime"],
        sql: include_str!("../../../templates/sql/config-lifecycle.sql.tera"),
        post: None,
        limit: None,
    },
    QueryDef {
        name: "switch-roles",
        description: "Console SwitchRole sign-ins: who switched from where into which role",
        table: TableKind::CloudTrail,
        params: &[FROM, TO, ACCOUNT, LIMIT],
        columns: &["eventtime", "arn", "switchfrom", "result", "account"],
        sql: include_str!("../../../templates/sql/switch-roles.sql.tera"),
        post: None,
        limit: None,
    },
    QueryDef {
        name: "events",
        description: "CloudTrail events in a date range, optionally by name, source, user, account, region, errors",
        table: TableKind::CloudTrail,
        params: &[
            FROM,
            TO,
            p("event_name", ParamKind::EventName, false, "API name, e.g. RunInstances"),
            p("event_source", ParamKind::EventSource, false, "service, e.g. ec2.amazonaws.com"),
            p("user", ParamKind::User, false, "IAM user name, or the role name of an assumed-role session"),
            ACCOUNT,
            REGION,
            p("errors_only", ParamKind::Bool, false, "true: only calls that returned an error"),
            LIMIT,
        ],
        columns: &[
            "eventtime",
            "eventsource",
            "eventname",
            "arn",
            "sourceipaddress",
            "errorcode",
            "awsregion",
            "account",
            "eventid",
        ],
        sql: include_str!("../../../templates/sql/events.sql.tera"),
        post: None,
        limit: None,
    },
    QueryDef {
        name: "activity",
        description: "API activity for insights: each call's service, API, region, principal (a session's role), identity type, source IP, error and console sign-in result",
        table: TableKind::CloudTrail,
        params: &[FROM, TO, ACCOUNT, REGION, LIMIT],
        columns: &[
            "eventtime",
            "eventid",
            "eventsource",
            "eventname",
            "awsregion",
            "account",
            "principal",
            "identitytype",
            "sourceipaddress",
            "errorcode",
            "signin",
        ],
        sql: include_str!("../../../templates/sql/activity.sql.tera"),
        post: None,
        limit: None,
    },
    QueryDef {
        name: "event-counts",
        description: "Calls and errors per API (event source and name) in a date range",
        table: TableKind::CloudTrail,
        params: &[FROM, TO, ACCOUNT, REGION],
        columns: &["eventsource", "eventname", "calls", "errors"],
        sql: include_str!("../../../templates/sql/event-counts.sql.tera"),
        post: None,
        limit: None,
    },
    QueryDef {
        name: "created-deleted",
        description: "Events that create or delete a catalogued resource, one row per resource id",
        table: TableKind::CloudTrail,
        params: &[FROM, TO, ACCOUNT, REGION],
        columns: &[
            "eventtime",
            "action",
            "resourcetype",
            "resourceid",
            "resourcename",
            "eventsource",
            "eventname",
            "account",
            "awsregion",
            "eventid",
            "arn",
            "invokedby",
            "errorcode",
        ],
        sql: include_str!("../../../templates/sql/created-deleted.sql.tera"),
        post: Some(created_deleted_rows),
        limit: None,
    },
    QueryDef {
        name: "alb-errors",
        description: "ALB requests answered with status 400 or above",
        table: TableKind::AlbAccessLogs,
        params: &[FROM, TO, REGION],
        columns: &[
            "time",
            "elb",
            "client_ip",
            "request_verb",
            "request_url",
            "elb_status_code",
            "target_status_code",
            "region",
            "account",
        ],
        sql: include_str!("../../../templates/sql/alb-errors.sql.tera"),
        post: None,
        limit: None,
    },
    QueryDef {
        name: "changes",
        description: "CloudTrail writes and failed calls in a time window, each with its change category and the \
                      resources its request names (for failure analysis)",
        table: TableKind::CloudTrail,
        params: &[START, END, ACCOUNT, REGION],
        columns: &[
            "eventtime",
            "category",
            "eventsource",
            "eventname",
            "arn",
            "account",
            "awsregion",
            "eventid",
            "errorcode",
            "invokedby",
            "targets",
        ],
        sql: include_str!("../../../templates/sql/changes.sql.tera"),
        post: Some(crate::analysis::incident::changes::rows),
        limit: Some(INCIDENT_ROW_LIMIT),
    },
    QueryDef {
        name: "config-items",
        description: "AWS Config configuration items captured in a time window (what changed, with the CloudTrail \
                      events Config relates to each change)",
        table: TableKind::ConfigHistory,
        params: &[START, END, ACCOUNT, REGION],
        columns: &[
            "capturetime",
            "resourcetype",
            "resourceid",
            "resourcename",
            "status",
            "awsaccountid",
            "awsregion",
            "relatedevents",
        ],
        sql: include_str!("../../../templates/sql/config-items.sql.tera"),
        post: None,
        limit: Some(INCIDENT_ROW_LIMIT),
    },
    QueryDef {
        name: "alb-minutes",
        description: "ALB traffic per minute and load balancer in a time window: requests, 5xx from the load \
                      balancer and from targets, target latency",
        table: TableKind::AlbAccessLogs,
        params: &[START, END, REGION],
        columns: &[
            "minute",
            "elb",
            "requests",
            "elb_5xx",
            "target_5xx",
            "no_target",
            "avg_target_seconds",
            "max_target_seconds",
            "region",
        ],
        sql: include_str!("../../../templates/sql/alb-minutes.sql.tera"),
        post: None,
        limit: None,
    },
    QueryDef {
        name: "alb-error-urls",
        description: "The URLs (without query strings) most often answered with 5xx in a time window",
        table: TableKind::AlbAccessLogs,
        params: &[START, END, REGION],
        columns: &["elb", "request_verb", "url", "errors", "first_time", "last_time", "trace_id", "region"],
        sql: include_str!("../../../templates/sql/alb-error-urls.sql.tera"),
        post: None,
        limit: Some(20),
    },
    QueryDef {
        name: "log-minutes",
        description: "Application log events and error events per minute and log group in a time window",
        table: TableKind::AppLogs,
        params: &[START, END, ACCOUNT, REGION],
        columns: &["minute", "loggroup", "events", "errors", "account", "region"],
        sql: include_str!("../../../templates/sql/log-minutes.sql.tera"),
        post: None,
        limit: None,
    },
    QueryDef {
        name: "log-errors",
        description: "Application log events whose message reads as an error, in a time window (first 2,000)",
        table: TableKind::AppLogs,
        params: &[START, END, ACCOUNT, REGION],
        columns: &["timestamp", "loggroup", "logstream", "id", "message", "account", "region"],
        sql: include_str!("../../../templates/sql/log-errors.sql.tera"),
        post: None,
        limit: Some(INCIDENT_ROW_LIMIT),
    },
    QueryDef {
        name: "metric-points",
        description: "CloudWatch metric stream points in a time window, optionally of one namespace",
        table: TableKind::Metrics,
        params: &[START, END, p("namespace", ParamKind::Namespace, false, "e.g. AWS/ApplicationELB"), ACCOUNT, REGION],
        columns: &[
            "timestamp",
            "namespace",
            "metric_name",
            "dimensions",
            "sum",
            "count",
            "max",
            "min",
            "unit",
            "account",
            "region",
        ],
        sql: include_str!("../../../templates/sql/metric-points.sql.tera"),
        post: None,
        limit: Some(METRIC_ROW_LIMIT),
    },
];

/// Applies a query's post-processing to the rows its SQL returned.
pub fn finish(q: &QueryDef, rows: Vec<Vec<Value>>) -> Vec<Vec<Value>> {
    match q.post {
        Some(f) => f(rows),
        None => rows,
    }
}

/// `created-deleted`: SQL rows (eventtime, eventsource, eventname, account, awsregion,
/// eventid, arn, invokedby, errorcode, requestparameters, responseelements) → one row per
/// resource the event creates or deletes, ids extracted by the catalogue.
fn created_deleted_rows(rows: Vec<Vec<Value>>) -> Vec<Vec<Value>> {
    let parse = |v: &Value| v.as_str().and_then(|s| serde_json::from_str::<Value>(s).ok());
    let mut out = Vec::new();
    for r in rows {
        if r.len() < 11 {
            continue;
        }
        let (req, resp) = (parse(&r[9]), parse(&r[10]));
        out.extend(touch_rows(&r[..9], req.as_ref(), resp.as_ref()));
    }
    sort_created_deleted(&mut out);
    out
}

/// The `created-deleted` rows of one event: `base` is (eventtime, eventsource, eventname,
/// account, awsregion, eventid, arn, invokedby, errorcode); one row per resource touched.
pub(crate) fn touch_rows(base: &[Value], request: Option<&Value>, response: Option<&Value>) -> Vec<Vec<Value>> {
    let (source, event) = (base[1].as_str().unwrap_or(""), base[2].as_str().unwrap_or(""));
    let opt = |s: Option<String>| s.map_or(Value::Null, Value::String);
    crate::catalogue::touches(source, event, request, response)
        .into_iter()
        .map(|t| {
            let mut row = vec![
                base[0].clone(),
                Value::String(t.action.as_str().into()),
                Value::String(t.resource_type.into()),
                opt(t.id),
                opt(t.name),
            ];
            row.extend_from_slice(&base[1..9]);
            row
        })
        .collect()
}

/// The order of `created-deleted` rows: by time and event, then every column.
pub fn sort_created_deleted(rows: &mut [Vec<Value>]) {
    let keys: Vec<(usize, bool)> = [0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12].iter().map(|&i| (i, false)).collect();
    local::sort_rows(rows, &keys);
}

pub fn find(name: &str) -> Option<&'static QueryDef> {
    QUERIES.iter().find(|q| q.name == name)
}

/// The query `name`, or an error that names the closest one and lists them all.
pub fn find_or_explain(name: &str) -> Result<&'static QueryDef, ParamError> {
    find(name).ok_or_else(|| {
        let names: Vec<&str> = QUERIES.iter().map(|q| q.name).collect();
        let hint = crate::suggest::did_you_mean(name, names.iter().copied())
            .map(|m| format!(" (did you mean `{m}`?)"))
            .unwrap_or_default();
        ParamError(format!("no query named `{name}`{hint}; the queries are: {}", names.join(", ")))
    })
}

/// Bad input: an unknown query or parameter, a missing or malformed value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParamError(pub String);

/// A validated parameter value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    Int(i64),
    Str(String),
    Date(Date),
    Bool(bool),
    Time(jiff::Timestamp),
}

/// Validated parameters of one query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub BTreeMap<String, ParamValue>);

impl Params {
    pub fn str(&self, k: &str) -> Option<&str> {
        match self.0.get(k) {
            Some(ParamValue::Str(s)) => Some(s),
            _ => None,
        }
    }
    pub fn int(&self, k: &str) -> Option<i64> {
        match self.0.get(k) {
            Some(ParamValue::Int(n)) => Some(*n),
            _ => None,
        }
    }
    pub fn date(&self, k: &str) -> Option<Date> {
        match self.0.get(k) {
            Some(ParamValue::Date(d)) => Some(*d),
            _ => None,
        }
    }
    pub fn time(&self, k: &str) -> Option<jiff::Timestamp> {
        match self.0.get(k) {
            Some(ParamValue::Time(t)) => Some(*t),
            _ => None,
        }
    }
    pub fn flag(&self, k: &str) -> bool {
        matches!(self.0.get(k), Some(ParamValue::Bool(true)))
    }
}

fn charset(name: &str, v: &str, what: &str, max: usize, ok: impl Fn(char) -> bool) -> Result<String, ParamError> {
    if let Some(c) = v.chars().find(|c| matches!(c, '\'' | '"' | ';' | '\\')) {
        return Err(ParamError(format!("{name}: `{v}` contains `{c}`, which is never part of {what}")));
    }
    if v.is_empty() || v.len() > max || !v.chars().all(ok) {
        return Err(ParamError(format!("{name}: `{v}` is not {what}")));
    }
    Ok(v.to_string())
}

fn parse_value(def: &ParamDef, raw: &str, layout: &LakeLayout) -> Result<ParamValue, ParamError> {
    let n = def.name;
    let v = raw.trim();
    match def.kind {
        ParamKind::Limit => match v.parse::<i64>() {
            Ok(l) if (1..=MAX_LIMIT).contains(&l) => Ok(ParamValue::Int(l)),
            _ => Err(ParamError(format!("{n}: `{v}` is not a number of rows (1-{MAX_LIMIT})"))),
        },
        ParamKind::Year => match v.parse::<i64>() {
            Ok(y) if (2000..=2100).contains(&y) && v.len() == 4 => Ok(ParamValue::Int(y)),
            _ => Err(ParamError(format!("{n}: `{v}` is not a year (2000-2100)"))),
        },
        ParamKind::Month => match v.parse::<i64>() {
            Ok(m) if (1..=12).contains(&m) && v.len() <= 2 => Ok(ParamValue::Int(m)),
            _ => Err(ParamError(format!("{n}: `{v}` is not a month (1-12)"))),
        },
        ParamKind::Date => match v.parse::<Date>() {
            Ok(d) if v.len() == 10 => Ok(ParamValue::Date(d)),
            _ => Err(ParamError(format!("{n}: `{v}` is not a date (YYYY-MM-DD)"))),
        },
        ParamKind::Account => {
            let a = charset(n, v, "an account id", 12, |c| c.is_ascii_digit())?;
            if a.len() != 12 {
                return Err(ParamError(format!("{n}: `{v}` is not an account id (12 digits)")));
            }
            // An empty list means "not known here" (a function too small to carry it).
            if !layout.accounts.is_empty() && !layout.accounts.contains(&a) {
                return Err(ParamError(format!(
                    "{n}: account {a} is not in the spec's accounts ({})",
                    layout.accounts.join(", ")
                )));
            }
            Ok(ParamValue::Str(a))
        }
        ParamKind::Region => {
            let r = charset(n, v, "a region", 32, |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')?;
            if !layout.regions.contains(&r) {
                return Err(ParamError(format!(
                    "{n}: region {r} is not in the spec's regions ({})",
                    layout.regions.join(", ")
                )));
            }
            Ok(ParamValue::Str(r))
        }
        ParamKind::EventName => Ok(ParamValue::Str(charset(n, v, "an API name", 128, |c| c.is_ascii_alphanumeric())?)),
        ParamKind::EventSource => {
            Ok(ParamValue::Str(charset(n, v, "an event source (e.g. ec2.amazonaws.com)", 128, |c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-'
            })?))
        }
        ParamKind::User => Ok(ParamValue::Str(charset(n, v, "an IAM user or role name", 128, |c| {
            c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
        })?)),
        ParamKind::Bool => match v {
            "true" => Ok(ParamValue::Bool(true)),
            "false" => Ok(ParamValue::Bool(false)),
            _ => Err(ParamError(format!("{n}: `{v}` is not true or false"))),
        },
        ParamKind::Time => parse_time(v)
            .map(ParamValue::Time)
            .ok_or_else(|| ParamError(format!("{n}: `{v}` is not a time (RFC 3339, e.g. 2025-06-12T09:30:00Z)"))),
        ParamKind::Namespace => Ok(ParamValue::Str(charset(n, v, "a CloudWatch namespace", 255, |c| {
            c.is_ascii_alphanumeric() || "/_.#:-".contains(c)
        })?)),
    }
}

/// An RFC 3339 instant with a zone offset (`Z` or `+09:00`), to whole seconds or finer.
pub fn parse_time(v: &str) -> Option<jiff::Timestamp> {
    let has_offset = v.ends_with('Z')
        || v.ends_with('z')
        || v.get(v.len().saturating_sub(6)..)
            .is_some_and(|t| t.starts_with(['+', '-']) && t.as_bytes().get(3) == Some(&b':'));
    if !has_offset || !v.contains('T') || v.len() > 40 {
        return None;
    }
    v.parse::<jiff::Timestamp>().ok()
}

/// `2025-06-12T09:30:00Z`: how times are written in SQL and compared with CloudTrail's and
/// ALB's (both UTC, `Z`).
pub fn utc_text(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A window bound as compared with CloudTrail's `eventtime` and ALB's `time` text: UTC to the
/// second, without the `Z`, so that `…T09:30:00.25Z` (ALB's fractions) sorts after
/// `…T09:30:00` and `…T10:00:00Z` not before the end `…T10:00:00`.
pub fn window_text(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S").to_string()
}

/// Validates `k=v` pairs against a query's parameters.
pub fn validate(q: &QueryDef, raw: &[(String, String)], layout: &LakeLayout) -> Result<Params, ParamError> {
    let mut out = Params::default();
    for (k, v) in raw {
        let Some(def) = q.params.iter().find(|p| p.name == k) else {
            let known: Vec<&str> = q.params.iter().map(|p| p.name).collect();
            return Err(ParamError(format!("{}: unknown parameter `{k}`; it takes {}", q.name, known.join(", "))));
        };
        if out.0.contains_key(k) {
            return Err(ParamError(format!("{k} is given twice")));
        }
        out.0.insert(k.clone(), parse_value(def, v, layout)?);
    }
    for def in q.params.iter().filter(|p| p.required) {
        if !out.0.contains_key(def.name) {
            return Err(ParamError(format!(
                "{}: missing parameter {} ({}); pass --param {}=…",
                q.name, def.name, def.help, def.name
            )));
        }
    }
    if let (Some(from), Some(to)) = (out.date("from"), out.date("to")) {
        if from > to {
            return Err(ParamError(format!("from ({from}) is after to ({to})")));
        }
    }
    if let (Some(start), Some(end)) = (out.time("start"), out.time("end")) {
        if start >= end {
            return Err(ParamError(format!("start ({}) is not before end ({})", utc_text(start), utc_text(end))));
        }
        if end.duration_since(start).as_secs() > MAX_WINDOW_HOURS * 3600 {
            return Err(ParamError(format!(
                "the window from {} to {} is longer than {MAX_WINDOW_HOURS} hours; narrow it (an incident's window, not a month's)",
                utc_text(start),
                utc_text(end)
            )));
        }
    }
    Ok(out)
}

/// SQL with `?` placeholders and the execution parameters, in order (each a SQL literal, as
/// Athena's `ExecutionParameters` takes them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sql {
    pub text: String,
    pub parameters: Vec<String>,
}

impl Sql {
    /// The SQL with each `?` replaced by its literal: for review, and for running elsewhere.
    pub fn inlined(&self) -> String {
        let mut out = String::with_capacity(self.text.len());
        let mut params = self.parameters.iter();
        let mut in_string = false;
        for c in self.text.chars() {
            match c {
                '\'' => {
                    in_string = !in_string;
                    out.push(c);
                }
                '?' if !in_string => out.push_str(params.next().map(String::as_str).unwrap_or("NULL")),
                _ => out.push(c),
            }
        }
        out
    }
}

/// A SQL string literal: `'…'` with quotes doubled.
pub fn sql_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn literal(v: &ParamValue) -> String {
    match v {
        ParamValue::Int(n) => n.to_string(),
        ParamValue::Str(s) => sql_literal(s),
        ParamValue::Date(d) => sql_literal(&d.to_string()),
        ParamValue::Bool(b) => b.to_string(),
        ParamValue::Time(t) => sql_literal(&utc_text(*t)),
    }
}

fn day_str(d: Date) -> String {
    d.strftime("%Y/%m/%d").to_string()
}

/// Values derived from the user's (partition days, timestamps), available to templates as
/// `:from_day`, `:to_day`, `:from_ts`, `:to_ts`. The partition range runs one day past `to`
/// because an event can be delivered the day after it happened.
fn derived(params: &Params) -> BTreeMap<String, ParamValue> {
    let mut d = BTreeMap::new();
    if let (Some(from), Some(to)) = (params.date("from"), params.date("to")) {
        let after = to.tomorrow().unwrap_or(to);
        d.insert("from_day".into(), ParamValue::Str(day_str(from)));
        d.insert("to_day".into(), ParamValue::Str(day_str(after)));
        d.insert("from_ts".into(), ParamValue::Str(format!("{from}T00:00:00Z")));
        d.insert("to_ts".into(), ParamValue::Str(format!("{after}T00:00:00Z")));
    }
    if let (Some(start), Some(end)) = (params.time("start"), params.time("end")) {
        let (first, last) = incident_days(start, end);
        d.insert("from_day".into(), ParamValue::Str(day_str(first)));
        d.insert("to_day".into(), ParamValue::Str(day_str(last)));
        d.insert("from_ts".into(), ParamValue::Str(window_text(start)));
        d.insert("to_ts".into(), ParamValue::Str(window_text(end)));
        d.insert("from_ms".into(), ParamValue::Int(start.as_millisecond()));
        d.insert("to_ms".into(), ParamValue::Int(end.as_millisecond()));
        // Config's unpadded year/month/day partitions as one number, yyyymmdd.
        let ymd = |d: Date| i64::from(d.year()) * 10_000 + i64::from(d.month()) * 100 + i64::from(d.day());
        d.insert("from_ymd".into(), ParamValue::Int(ymd(first)));
        d.insert("to_ymd".into(), ParamValue::Int(ymd(last)));
    }
    d
}

/// The partition days a time window reads: its first day to the day after its end (logs
/// are delivered after they are written, and an object's folder is its delivery time's).
pub fn incident_days(start: jiff::Timestamp, end: jiff::Timestamp) -> (Date, Date) {
    let day = |t: jiff::Timestamp| t.to_zoned(jiff::tz::TimeZone::UTC).date();
    let last = day(end);
    (day(start), last.tomorrow().unwrap_or(last))
}

fn sql_escape(s: &str) -> String {
    sql_literal(s)
}

fn ident_filter(v: &tera::Value, _: &std::collections::HashMap<String, tera::Value>) -> tera::Result<tera::Value> {
    let s = v.as_str().ok_or_else(|| tera::Error::msg("ident: not a string"))?;
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(tera::Error::msg(format!("ident: `{s}` is not a valid Glue identifier")));
    }
    Ok(tera::Value::String(format!("\"{s}\"")))
}

/// The tables a query reads, after its parameters (alb-errors: one table per region).
pub fn tables_for(q: &QueryDef, params: &Params, layout: &LakeLayout) -> Vec<TableDef> {
    layout
        .tables()
        .into_iter()
        .filter(|t| t.kind == q.table)
        .filter(|t| match (q.table, params.str("region")) {
            (TableKind::AlbAccessLogs, Some(r)) => t.name == LakeLayout::alb_table_name(r),
            _ => true,
        })
        .collect()
}

/// Renders a query's Athena SQL with its execution parameters.
pub fn render_sql(q: &QueryDef, params: &Params, layout: &LakeLayout) -> Result<Sql, ParamError> {
    let tables = tables_for(q, params, layout);
    if tables.is_empty() {
        return Err(ParamError(format!("{}: the spec has no table of this kind (for ALB, add sources.alb)", q.name)));
    }
    let mut tera = tera::Tera::default();
    tera.register_filter("ident", ident_filter);
    tera.autoescape_on(vec![".sql.tera"]);
    tera.set_escape_fn(sql_escape);
    let name = format!("{}.sql.tera", q.name);
    tera.add_raw_template(&name, q.sql).map_err(|e| ParamError(format!("template {name}: {e}")))?;
    let mut ctx = tera::Context::new();
    ctx.insert("db", &layout.database);
    ctx.insert("table", &tables[0].name);
    let alb: Vec<Value> = tables.iter().map(|t| json!({"name": t.name, "region": t.region})).collect();
    ctx.insert("tables", &alb);
    ctx.insert("event_keys", &crate::catalogue::event_keys());
    ctx.insert("error_words", &crate::records::logs::ERROR_WORDS);
    for def in q.params {
        // Presence flags only: values never enter the template…
        let present =
            params.0.contains_key(def.name) && !matches!(params.0.get(def.name), Some(ParamValue::Bool(false)));
        ctx.insert(def.name, &present);
    }
    // …but the row limit, a number the validation bounded, is the LIMIT clause's literal.
    ctx.insert("limit", &row_limit(q, params));
    let text = tera.render(&name, &ctx).map_err(|e| ParamError(format!("template {name}: {e:?}")))?;
    let mut values: BTreeMap<String, ParamValue> = params.0.clone();
    values.extend(derived(params));
    placeholders(&text, &values)
}

/// Replaces each `:name` outside string literals with `?`, collecting the values in order.
fn placeholders(text: &str, values: &BTreeMap<String, ParamValue>) -> Result<Sql, ParamError> {
    let mut out = String::with_capacity(text.len());
    let mut parameters = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut in_string = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            in_string = !in_string;
        }
        if c == ':' && !in_string && chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase()) {
            let mut j = i + 1;
            while j < chars.len() && (chars[j].is_ascii_lowercase() || chars[j] == '_') {
                j += 1;
            }
            let name: String = chars[i + 1..j].iter().collect();
            let v = values
                .get(&name)
                .ok_or_else(|| ParamError(format!("internal: the SQL uses :{name}, which has no value")))?;
            parameters.push(literal(v));
            out.push('?');
            i = j;
            continue;
        }
        out.push(c);
        i += 1;
    }
    Ok(Sql { text: out.trim().to_string(), parameters })
}

/// How an answer was read: what only that engine can tell.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(tag = "engine", rename_all = "snake_case")]
pub enum Via {
    /// The local engine over a mirror ([`Answer::stats`] says what it read).
    #[default]
    Mirror,
    /// Athena: the query execution, what scanning `stats.bytes_scanned` costs, where Athena
    /// wrote the whole result, and whether every row of it was read.
    Athena { query_id: String, estimated_cost_usd: f64, output_location: Option<String>, complete: bool },
    /// CloudTrail event history: `LookupEvents` calls across `regions`.
    EventHistory { calls: u64, regions: usize },
    /// A live service of cloud mode (Logs Insights, CloudWatch, X-Ray) and its calls.
    Live { service: &'static str, calls: u64 },
}

/// A query's answer: column names, rows, and what was read to get them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Answer {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    pub stats: ScanStats,
    pub via: Via,
}

/// One row of an answer, read by column name.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    columns: &'a [String],
    values: &'a [Value],
}

impl<'a> Row<'a> {
    /// A row of `values` under `columns` (a streamed row, read by name).
    pub fn new(columns: &'a [String], values: &'a [Value]) -> Row<'a> {
        Row { columns, values }
    }

    /// The value in column `name` (`null` when the answer has no such column).
    pub fn get(&self, name: &str) -> &'a Value {
        const NULL: &Value = &Value::Null;
        self.columns.iter().position(|c| c == name).and_then(|i| self.values.get(i)).unwrap_or(NULL)
    }

    /// A text column; `None` for null or another type.
    pub fn str(&self, name: &str) -> Option<&'a str> {
        self.get(name).as_str()
    }

    /// An integer column (0 when null or not a number).
    pub fn int(&self, name: &str) -> i64 {
        self.get(name).as_i64().unwrap_or(0)
    }

    pub fn values(&self) -> &'a [Value] {
        self.values
    }
}

impl Answer {
    /// An answer with the query's columns and `rows` (as a mirror would give them).
    pub fn of(q: &QueryDef, rows: Vec<Vec<Value>>) -> Answer {
        Answer {
            columns: q.columns.iter().map(|c| c.to_string()).collect(),
            rows,
            stats: ScanStats::default(),
            via: Via::Mirror,
        }
    }

    /// The answer of a finished Athena query: rows finished like every engine's, columns
    /// named as the catalogue says when a post-processing step made them.
    #[cfg(feature = "athena")]
    pub fn from_athena(q: &QueryDef, a: crate::engine::athena::AthenaAnswer) -> Answer {
        let columns = match q.post {
            Some(_) => q.columns.iter().map(|c| c.to_string()).collect(),
            None => a.columns,
        };
        Answer {
            columns,
            rows: finish(q, a.rows),
            stats: ScanStats { bytes_scanned: a.bytes_scanned, ..ScanStats::default() },
            via: Via::Athena {
                query_id: a.query_id,
                estimated_cost_usd: a.estimated_cost_usd,
                output_location: a.output_location,
                complete: a.complete,
            },
        }
    }

    /// The rows, each read by column name.
    pub fn records(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|r| Row { columns: &self.columns, values: r })
    }

    /// Rows as objects keyed by column name (the `--format json` shape).
    pub fn objects(&self) -> Vec<Value> {
        self.rows.iter().map(|r| Value::Object(self.columns.iter().cloned().zip(r.iter().cloned()).collect())).collect()
    }
}

/// The most rows a query answers: its catalogue limit, or the `limit` asked, the smaller.
pub fn row_limit(q: &QueryDef, params: &Params) -> Option<usize> {
    let asked = params.int("limit").and_then(|n| usize::try_from(n).ok());
    match (q.limit, asked) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Runs a query over a local mirror.
pub fn run_local(
    q: &QueryDef,
    params: &Params,
    layout: &LakeLayout,
    mirror: &Mirror,
    today: Date,
) -> Result<Answer, QueryError> {
    local::run(q, params, layout, mirror, today)
}

pub use local::{stream as stream_local, StreamError};
pub use ordered::{CellRef, RowRef};

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{0}")]
    Param(ParamError),
    #[error("{0}")]
    Engine(EngineError),
}

#[cfg(test)]
mod tests;
