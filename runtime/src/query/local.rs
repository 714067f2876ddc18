//! Local evaluation of the named queries: the same predicates, projections and order as
//! their SQL, over the mirror. Partition predicates become projection constraints, so only
//! the partitions the SQL would read are opened.

use std::collections::{BTreeMap, HashMap};

use jiff::civil::Date;
use serde_json::Value;

use super::ordered::{Cell, DrainError, Ordered, Plan, RowRef, MEMORY_BUDGET};
use super::{Answer, Params, QueryDef, QueryError};
use crate::engine::local::{EngineError, EventNames, How, Mirror, Rec};
use crate::engine::ScanStats;
use crate::lake::{Constraint, LakeLayout, TableDef};
use crate::records::cloudtrail::{extract_scalar, Field, Fields, Record};
use crate::records::Text;

fn s(v: Option<&Text>) -> Value {
    v.map_or(Value::Null, |t| Value::String(t.as_str().to_string()))
}

/// A record's text as a row's value, borrowed.
fn cell<'a>(v: Option<&'a Text<'_>>) -> Cell<'a> {
    Cell::from(v.map(Text::as_str))
}

fn opt(v: Option<&str>) -> Value {
    v.map_or(Value::Null, |t| Value::String(t.to_string()))
}

/// Sorts rows by columns `keys`: (index, descending).
pub(super) fn sort_rows(rows: &mut [Vec<Value>], keys: &[(usize, bool)]) {
    rows.sort_by(|a, b| super::ordered::cmp_rows(a, b, keys));
}

struct Window {
    from_ts: String,
    to_ts: String,
    /// The same window in epoch milliseconds (log events and metric points).
    from_ms: i64,
    to_ms: i64,
    days: Constraint,
}

fn window(params: &Params) -> Window {
    if let (Some(start), Some(end)) = (params.time("start"), params.time("end")) {
        let (from, to) = super::incident_days(start, end);
        return Window {
            from_ts: super::window_text(start),
            to_ts: super::window_text(end),
            from_ms: start.as_millisecond(),
            to_ms: end.as_millisecond(),
            days: Constraint::DateRange { from, to },
        };
    }
    let from = params.date("from").unwrap_or(Date::constant(2000, 1, 1));
    let to = params.date("to").unwrap_or(from);
    let after = to.tomorrow().unwrap_or(to);
    Window {
        from_ts: format!("{from}T00:00:00Z"),
        to_ts: format!("{after}T00:00:00Z"),
        from_ms: 0,
        to_ms: 0,
        days: Constraint::DateRange { from, to: after },
    }
}

fn in_window(t: Option<&str>, w: &Window) -> bool {
    t.is_some_and(|t| t >= w.from_ts.as_str() && t < w.to_ts.as_str())
}

/// A visitor collecting output rows from records and their partition values.
type Visit<'v> = &'v (dyn Fn(&mut Vec<Vec<Value>>, Rec<'_, '_>, &BTreeMap<String, String>) + Sync);

fn values(v: Option<&str>) -> Option<Constraint> {
    v.map(|x| Constraint::Values(vec![x.to_string()]))
}

/// A local evaluation's rows: all in memory (an aggregate, a bounded list), or in order still
/// to be drained (a query that returns a row per record).
pub enum Rows {
    Done(Vec<Vec<Value>>),
    Ordered(Ordered),
}

/// Runs a query over the mirror into an [`Answer`] (every row in memory).
pub fn run(
    q: &QueryDef,
    params: &Params,
    layout: &LakeLayout,
    mirror: &Mirror,
    today: Date,
) -> Result<Answer, QueryError> {
    let (rows, mut stats) = evaluate(q, params, layout, mirror, today)?;
    let rows = match rows {
        Rows::Done(rows) => rows,
        Rows::Ordered(o) => {
            let (mut rows, warning) = o.into_rows();
            stats.problems.extend(warning.map(|reason| crate::engine::Problem { key: "(sort)".into(), reason }));
            for r in &mut rows {
                r.truncate(q.columns.len());
            }
            rows
        }
    };
    Ok(Answer { stats, ..Answer::of(q, rows) })
}

/// Runs a query over the mirror, handing `sink` its rows in order, one at a time (memory stays
/// flat however many rows there are); what was scanned.
pub fn stream<E>(
    q: &QueryDef,
    params: &Params,
    layout: &LakeLayout,
    mirror: &Mirror,
    today: Date,
    mut sink: impl FnMut(RowRef<'_>) -> Result<(), E>,
) -> Result<ScanStats, StreamError<E>> {
    let (rows, mut stats) = evaluate(q, params, layout, mirror, today).map_err(StreamError::Query)?;
    let width = q.columns.len();
    match rows {
        Rows::Done(rows) => {
            for r in &rows {
                sink(RowRef::Values(r)).map_err(StreamError::Sink)?;
            }
        }
        Rows::Ordered(o) => {
            let drained = o.drain(|r| sink(r.narrow(width)));
            match drained {
                Ok((_, warning)) => {
                    stats.problems.extend(warning.map(|reason| crate::engine::Problem { key: "(sort)".into(), reason }))
                }
                Err(DrainError::Sink(e)) => return Err(StreamError::Sink(e)),
                Err(DrainError::Run(e)) => return Err(StreamError::Query(QueryError::Engine(EngineError::Sort(e)))),
            }
        }
    }
    Ok(stats)
}

/// Why streaming stopped: the query failed, or the sink refused a row.
#[derive(Debug)]
pub enum StreamError<E> {
    Query(QueryError),
    Sink(E),
}

fn evaluate(
    q: &QueryDef,
    params: &Params,
    layout: &LakeLayout,
    mirror: &Mirror,
    today: Date,
) -> Result<(Rows, ScanStats), QueryError> {
    let tables = super::tables_for(q, params, layout);
    if tables.is_empty() {
        return Err(QueryError::Param(super::ParamError(format!(
            "{}: the spec has no table of this kind (for ALB, add sources.alb)",
            q.name
        ))));
    }
    let w = window(params);
    let mut constraints: BTreeMap<String, Constraint> = BTreeMap::new();
    if let Some(c) = values(params.str("account")) {
        constraints.insert("account".into(), c);
    }
    if let Some(c) = values(params.str("region")) {
        constraints.insert("region".into(), c);
    }
    let needles: Vec<String> = match q.name {
        "created-deleted" => crate::catalogue::event_names().into_iter().collect(),
        "switch-roles" => vec!["SwitchRole".to_string()],
        "events" => params.str("event_name").map(|n| vec![n.to_string()]).unwrap_or_default(),
        _ => Vec::new(),
    };
    let needles = (!needles.is_empty()).then(|| EventNames::new(&needles));
    let mut scanner = Scanner { mirror, today, stats: ScanStats::default(), needles, fields: Fields::ALL };
    let limit = super::row_limit(q, params);
    let rows = match q.name {
        "events" | "switch-roles" | "activity" => {
            constraints.insert("timestamp".into(), w.days.clone());
            let kind = match q.name {
                "switch-roles" => Calls::SwitchRoles,
                "activity" => Calls::Activity,
                _ => Calls::Events,
            };
            let ordered = events(kind, params, &w, &mut scanner, &tables[0], &constraints, limit)?;
            return Ok((Rows::Ordered(ordered), scanner.stats));
        }
        "event-counts" => {
            constraints.insert("timestamp".into(), w.days.clone());
            event_counts(&w, &mut scanner, &tables[0], &constraints)?
        }
        "created-deleted" => {
            constraints.insert("timestamp".into(), w.days.clone());
            created_deleted(&w, &mut scanner, &tables[0], &constraints)?
        }
        "config-lifecycle" | "config-changes" => {
            let (year, month) = (params.int("year").unwrap_or(0), params.int("month").unwrap_or(0));
            constraints.insert("year".into(), Constraint::Values(vec![year.to_string()]));
            constraints.insert("month".into(), Constraint::Values(vec![month.to_string()]));
            if q.name == "config-lifecycle" {
                config_lifecycle(&mut scanner, &tables[0], &constraints)?
            } else {
                config_changes(year, month, &mut scanner, &tables[0], &constraints)?
            }
        }
        "alb-errors" => alb_errors(&w, &mut scanner, &tables)?,
        "changes" => {
            constraints.insert("timestamp".into(), w.days.clone());
            let rows = changes(&w, &mut scanner, &tables[0], &constraints)?;
            super::finish(q, rows)
        }
        "config-items" => config_items(&w, &mut scanner, &tables[0], constraints)?,
        "alb-minutes" | "alb-error-urls" => alb_window(q.name, &w, &mut scanner, &tables)?,
        "log-minutes" | "log-errors" => {
            constraints.insert("day".into(), w.days.clone());
            app_logs(q.name == "log-errors", &w, &mut scanner, &tables[0], &constraints)?
        }
        "metric-points" => {
            constraints.insert("day".into(), w.days.clone());
            metric_points(params.str("namespace"), &w, &mut scanner, &tables[0], &constraints)?
        }
        other => return Err(QueryError::Param(super::ParamError(format!("{other}: no local evaluation")))),
    };
    let mut rows = rows;
    if let Some(n) = limit {
        rows.truncate(n); // the SQL's LIMIT, after its ORDER BY
    }
    Ok((Rows::Done(rows), scanner.stats))
}

/// `event-counts`: calls and errors per API. Each worker counts into its own map (one entry
/// per API): memory does not grow with the number of events.
fn event_counts(
    w: &Window,
    scanner: &mut Scanner,
    table: &TableDef,
    constraints: &BTreeMap<String, Constraint>,
) -> Result<Vec<Vec<Value>>, QueryError> {
    thread_local! {
        static KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    // Keyed by the pair written into one reused string: no allocation per record, one per API.
    scanner.fields = Fields::of(&[Field::EventTime, Field::EventSource, Field::EventName, Field::ErrorCode]);
    let counts: Counts<String> = scanner.run(
        table,
        constraints,
        Counts::default,
        |acc: &mut Counts<String>, rec, _| {
            let Rec::Trail(r) = rec else { return };
            if !in_window(r.event_time.as_ref().map(Text::as_str), w) {
                return;
            }
            KEY.with_borrow_mut(|key| {
                pair_key(key, r.event_source.as_ref().map(Text::as_str), r.event_name.as_ref().map(Text::as_str));
                let e = match acc.get_mut(key.as_str()) {
                    Some(e) => e,
                    None => acc.entry(key.clone()).or_default(),
                };
                e.0 += 1;
                e.1 += i64::from(r.error_code.is_some());
            });
        },
        merge_tallies,
    )?;
    let mut rows: Vec<Vec<Value>> = counts
        .into_iter()
        .map(|(key, (n, e))| {
            let (src, name) = unpair_key(&key);
            vec![opt(src), opt(name), Value::from(n), Value::from(e)]
        })
        .collect();
    sort_rows(&mut rows, &[(2, true), (0, false), (1, false)]);
    Ok(rows)
}

/// `created-deleted`: ids are extracted in the workers, by the same function the SQL path uses.
fn created_deleted(
    w: &Window,
    scanner: &mut Scanner,
    table: &TableDef,
    constraints: &BTreeMap<String, Constraint>,
) -> Result<Vec<Vec<Value>>, QueryError> {
    let keys: std::collections::HashSet<String> = crate::catalogue::event_keys().into_iter().collect();
    let visit = |acc: &mut Vec<Vec<Value>>, rec: Rec<'_, '_>, part: &BTreeMap<String, String>| {
        let Rec::Trail(r) = rec else { return };
        if !in_window(r.event_time.as_ref().map(Text::as_str), w) {
            return;
        }
        let (Some(src), Some(name)) = (r.event_source.as_ref(), r.event_name.as_ref()) else { return };
        if !keys.contains(&format!("{}:{}", src.as_str(), name.as_str())) {
            return;
        }
        acc.extend(event_touch_rows(r, opt(part.get("account").map(String::as_str))));
    };
    scanner.fields = Fields::of(&[
        Field::EventTime,
        Field::EventSource,
        Field::EventName,
        Field::AwsRegion,
        Field::EventId,
        Field::UserIdentity,
        Field::ErrorCode,
        Field::RequestParameters,
        Field::ResponseElements,
    ]);
    let mut rows = scanner.rows(table, constraints, &visit)?;
    super::sort_created_deleted(&mut rows);
    Ok(rows)
}

/// `config-lifecycle`: items Config saw appear or disappear.
fn config_lifecycle(
    scanner: &mut Scanner,
    table: &TableDef,
    constraints: &BTreeMap<String, Constraint>,
) -> Result<Vec<Vec<Value>>, QueryError> {
    let visit = |acc: &mut Vec<Vec<Value>>, rec: Rec<'_, '_>, _: &BTreeMap<String, String>| {
        let Rec::Config(i) = rec else { return };
        let status = i.configuration_item_status.as_ref().map(Text::as_str);
        if !matches!(status, Some("ResourceDiscovered" | "ResourceDeleted" | "ResourceDeletedNotRecorded")) {
            return;
        }
        acc.push(vec![
            s(i.resource_type.as_ref()),
            s(i.resource_id.as_ref()),
            s(i.resource_name.as_ref()),
            s(i.aws_account_id.as_ref()),
            s(i.aws_region.as_ref()),
            s(i.configuration_item_status.as_ref()),
            s(i.configuration_item_capture_time.as_ref()),
        ]);
    };
    let mut rows = scanner.rows(table, constraints, &visit)?;
    sort_rows(&mut rows, &[(6, false), (0, false), (1, false), (2, false), (3, false), (4, false), (5, false)]);
    Ok(rows)
}

/// `config-changes`: change records per resource in the month.
fn config_changes(
    year: i64,
    month: i64,
    scanner: &mut Scanner,
    table: &TableDef,
    constraints: &BTreeMap<String, Constraint>,
) -> Result<Vec<Vec<Value>>, QueryError> {
    type Key = (Option<String>, Option<String>, Option<String>, Option<String>);
    let counts: Counts<Key> = scanner.run(
        table,
        constraints,
        Counts::default,
        |acc: &mut Counts<Key>, rec, _| {
            let Rec::Config(i) = rec else { return };
            let key = (
                owned(i.resource_type.as_ref()),
                owned(i.resource_name.as_ref()),
                owned(i.aws_account_id.as_ref()),
                owned(i.aws_region.as_ref()),
            );
            acc.entry(key).or_default().0 += 1;
        },
        merge_tallies,
    )?;
    let mut rows: Vec<Vec<Value>> = counts
        .into_iter()
        .map(|((t, n, a, r), (c, _))| {
            vec![
                opt(t.as_deref()),
                opt(n.as_deref()),
                opt(a.as_deref()),
                opt(r.as_deref()),
                Value::from(year),
                Value::from(month),
                Value::from(c),
            ]
        })
        .collect();
    sort_rows(&mut rows, &[(6, true), (0, false), (1, false), (2, false), (3, false)]);
    Ok(rows)
}

/// `alb-errors`: requests answered with 400 or above, across the regions' ALB tables.
fn alb_errors(w: &Window, scanner: &mut Scanner, tables: &[TableDef]) -> Result<Vec<Vec<Value>>, QueryError> {
    let mut c = BTreeMap::new();
    c.insert("day".to_string(), w.days.clone());
    let mut rows = Vec::new();
    for t in tables {
        let region = t.region.clone();
        let visit = |acc: &mut Vec<Vec<Value>>, rec: Rec<'_, '_>, part: &BTreeMap<String, String>| {
            let Rec::Alb(l) = rec else { return };
            let status = l.int("elb_status_code");
            if status.is_none_or(|s| s < 400) || !in_window(l.get("time"), w) {
                return;
            }
            acc.push(vec![
                opt(l.get("time")),
                opt(l.get("elb")),
                opt(l.get("client_ip")),
                opt(l.get("request_verb")),
                opt(l.get("request_url")),
                status.map_or(Value::Null, Value::from),
                opt(l.get("target_status_code")),
                opt(region.as_deref()),
                opt(part.get("account").map(String::as_str)),
            ]);
        };
        rows.extend(scanner.rows(t, &c, &visit)?);
    }
    sort_rows(&mut rows, &(0..9).map(|i| (i, false)).collect::<Vec<_>>());
    Ok(rows)
}

/// Which of the call-listing queries [`events`] answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Calls {
    Events,
    SwitchRoles,
    Activity,
}

impl Calls {
    /// eventtime, eventid, then every output column: a total order, as in the SQL (the event
    /// id only orders switch-roles' rows, and is cut from them on output).
    fn order(self) -> Vec<(usize, bool)> {
        let columns: &[usize] = match self {
            Calls::SwitchRoles => &[0, 5, 1, 2, 3, 4],
            Calls::Events => &[0, 8, 1, 2, 3, 4, 5, 6, 7],
            // Already eventtime, eventid, then the rest.
            Calls::Activity => &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        };
        columns.iter().map(|&i| (i, false)).collect()
    }

    /// The record fields the rows are made of (the equivalence tests against the SQL catch
    /// one left out: it would read as NULL). Of the caller's identity, the rows of `events`
    /// and `switch-roles` hold only its ARN; a `user` filter reads its user names too.
    fn fields(self, user_filter: bool) -> Fields {
        let identity = match self {
            Calls::Events | Calls::SwitchRoles if !user_filter => Fields::USER_ARN,
            _ => Fields::of(&[Field::UserIdentity]),
        };
        Fields::of(&[
            Field::EventTime,
            Field::EventId,
            Field::EventSource,
            Field::EventName,
            Field::AwsRegion,
            Field::SourceIpAddress,
            Field::ErrorCode,
        ])
        .with(identity)
        .with(match self {
            Calls::Events => Fields::of(&[]),
            Calls::SwitchRoles => Fields::of(&[Field::AdditionalEventData, Field::ResponseElements]),
            Calls::Activity => Fields::of(&[Field::ResponseElements]),
        })
    }
}

/// `events`, `switch-roles` and `activity`: matching records as rows, in the SQL's order.
fn events(
    kind: Calls,
    params: &Params,
    w: &Window,
    scanner: &mut Scanner,
    table: &TableDef,
    constraints: &BTreeMap<String, Constraint>,
    limit: Option<usize>,
) -> Result<Ordered, QueryError> {
    let name = params.str("event_name");
    let source = params.str("event_source");
    let user = params.str("user");
    let errors_only = params.flag("errors_only");
    let visit = |acc: &mut Ordered, rec: Rec<'_, '_>, part: &BTreeMap<String, String>| {
        let Rec::Trail(r) = rec else { return };
        if !in_window(r.event_time.as_ref().map(Text::as_str), w) {
            return;
        }
        let account = Cell::from(part.get("account").map(String::as_str));
        if kind == Calls::Activity {
            let sign_in = r.sign_in();
            acc.push(&[
                cell(r.event_time.as_ref()),
                cell(r.event_id.as_ref()),
                cell(r.event_source.as_ref()),
                cell(r.event_name.as_ref()),
                cell(r.aws_region.as_ref()),
                account,
                Cell::from(r.principal()),
                Cell::from(r.identity_type()),
                cell(r.source_ip_address.as_ref()),
                cell(r.error_code.as_ref()),
                Cell::from(sign_in.as_deref()),
            ]);
            return;
        }
        if kind == Calls::SwitchRoles {
            if eq(r.event_source.as_ref(), "signin.amazonaws.com") && eq(r.event_name.as_ref(), "SwitchRole") {
                let from = extract_scalar(r.additional_event_data, &["SwitchFrom"]);
                let to = extract_scalar(r.response_elements, &["SwitchRole"]);
                acc.push(&[
                    cell(r.event_time.as_ref()),
                    Cell::from(r.arn()),
                    Cell::from(from.as_deref()),
                    Cell::from(to.as_deref()),
                    account,
                    cell(r.event_id.as_ref()),
                ]);
            }
            return;
        }
        if name.is_some_and(|n| !eq(r.event_name.as_ref(), n))
            || source.is_some_and(|n| !eq(r.event_source.as_ref(), n))
        {
            return;
        }
        if user.is_some_and(|u| !user_matches(r, u)) || (errors_only && r.error_code.is_none()) {
            return;
        }
        acc.push(&[
            cell(r.event_time.as_ref()),
            cell(r.event_source.as_ref()),
            cell(r.event_name.as_ref()),
            Cell::from(r.arn()),
            cell(r.source_ip_address.as_ref()),
            cell(r.error_code.as_ref()),
            cell(r.aws_region.as_ref()),
            account,
            cell(r.event_id.as_ref()),
        ]);
    };
    let plan = Plan::new(&kind.order(), limit, MEMORY_BUDGET);
    scanner.fields = kind.fields(user.is_some());
    scanner.run(table, constraints, || plan.collector(), visit, Ordered::merge)
}

/// `changes`: writes and failed calls in the window, as the SQL selects them (request
/// parameters included), in its order and within its limit.
fn changes(
    w: &Window,
    scanner: &mut Scanner,
    table: &TableDef,
    constraints: &BTreeMap<String, Constraint>,
) -> Result<Vec<Vec<Value>>, QueryError> {
    let visit = |acc: &mut Vec<Vec<Value>>, rec: Rec<'_, '_>, part: &BTreeMap<String, String>| {
        let Rec::Trail(r) = rec else { return };
        if !in_window(r.event_time.as_ref().map(Text::as_str), w) {
            return;
        }
        if !eq(r.read_only.as_ref(), "false") && r.error_code.is_none() {
            return;
        }
        acc.push(vec![
            s(r.event_time.as_ref()),
            s(r.event_source.as_ref()),
            s(r.event_name.as_ref()),
            opt(r.arn()),
            opt(part.get("account").map(String::as_str)),
            s(r.aws_region.as_ref()),
            s(r.event_id.as_ref()),
            s(r.error_code.as_ref()),
            opt(r.invoked_by()),
            r.request_parameters.map_or(Value::Null, |v| Value::String(v.get().to_string())),
        ]);
    };
    scanner.fields = Fields::of(&[
        Field::EventTime,
        Field::ReadOnly,
        Field::ErrorCode,
        Field::EventSource,
        Field::EventName,
        Field::UserIdentity,
        Field::AwsRegion,
        Field::EventId,
        Field::RequestParameters,
    ]);
    let mut rows = scanner.rows(table, constraints, &visit)?;
    sort_rows(&mut rows, &[0, 6, 1, 2, 3, 4, 5, 7, 8, 9].map(|i| (i, false)));
    Ok(rows)
}

/// `config-items`: items captured in the window, from the partitions of its days. Config's
/// partitions are integer year, month and day: each column is constrained to the values the
/// days take, and partitions of other days that this lets through are skipped by their values.
fn config_items(
    w: &Window,
    scanner: &mut Scanner,
    table: &TableDef,
    mut constraints: BTreeMap<String, Constraint>,
) -> Result<Vec<Vec<Value>>, QueryError> {
    let Constraint::DateRange { from, to } = w.days else { return Ok(Vec::new()) };
    let mut days = Vec::new();
    let mut d = from;
    while d <= to && days.len() < 64 {
        days.push(d);
        d = d.tomorrow().unwrap_or(to.tomorrow().unwrap_or(to));
    }
    let set = |f: fn(&Date) -> i64| {
        let mut v: Vec<String> = days.iter().map(|d| f(d).to_string()).collect();
        v.sort();
        v.dedup();
        Constraint::Values(v)
    };
    constraints.insert("year".into(), set(|d| i64::from(d.year())));
    constraints.insert("month".into(), set(|d| i64::from(d.month())));
    constraints.insert("day".into(), set(|d| i64::from(d.day())));
    let wanted: Vec<(String, String, String)> =
        days.iter().map(|d| (d.year().to_string(), d.month().to_string(), d.day().to_string())).collect();
    let visit = |acc: &mut Vec<Vec<Value>>, rec: Rec<'_, '_>, part: &BTreeMap<String, String>| {
        let Rec::Config(i) = rec else { return };
        let day = |k: &str| part.get(k).cloned().unwrap_or_default();
        if !wanted.contains(&(day("year"), day("month"), day("day"))) {
            return;
        }
        if !in_window(i.configuration_item_capture_time.as_ref().map(Text::as_str), w) {
            return;
        }
        // `array_join(relatedevents, ' ')`: NULL for no array, the ids joined otherwise.
        let related = i
            .related_events
            .and_then(|raw| serde_json::from_str::<Vec<Value>>(raw.get()).ok())
            .map(|ids| Value::String(ids.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" ")));
        acc.push(vec![
            s(i.configuration_item_capture_time.as_ref()),
            s(i.resource_type.as_ref()),
            s(i.resource_id.as_ref()),
            s(i.resource_name.as_ref()),
            s(i.configuration_item_status.as_ref()),
            s(i.aws_account_id.as_ref()),
            s(i.aws_region.as_ref()),
            related.unwrap_or(Value::Null),
        ]);
    };
    let mut rows = scanner.rows(table, &constraints, &visit)?;
    sort_rows(&mut rows, &(0..8).map(|i| (i, false)).collect::<Vec<_>>());
    Ok(rows)
}

/// What a per-worker map entry adds up, and how two workers' entries combine.
trait Tally: Default {
    fn merge(&mut self, other: Self);
}

fn merge_tallies<K: std::hash::Hash + Eq, T: Tally, S: std::hash::BuildHasher>(
    mut a: HashMap<K, T, S>,
    b: HashMap<K, T, S>,
) -> HashMap<K, T, S> {
    for (k, v) in b {
        a.entry(k).or_default().merge(v);
    }
    a
}

fn max_f(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

fn min_opt(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

fn max_opt(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

/// One minute of one load balancer (`alb-minutes`).
#[derive(Default)]
struct AlbMinute {
    requests: i64,
    elb_5xx: i64,
    target_5xx: i64,
    no_target: i64,
    target_sum: f64,
    target_n: i64,
    target_max: Option<f64>,
}

impl AlbMinute {
    fn add(&mut self, l: &crate::records::alb::Line<'_>) {
        let status = l.int("elb_status_code");
        let target = l.get("target_status_code");
        self.requests += 1;
        self.elb_5xx += i64::from(status.is_some_and(|s| s >= 500));
        self.target_5xx += i64::from(target.is_some_and(|t| t.starts_with('5')));
        self.no_target += i64::from(status.is_some_and(|s| s >= 500) && target == Some("-"));
        // -1: no target answered; such lines have no target time (the SQL's CASE).
        if let Some(secs) = l.get("target_processing_time").and_then(|v| v.parse::<f64>().ok()).filter(|s| *s >= 0.0) {
            self.target_sum += secs;
            self.target_n += 1;
            self.target_max = max_f(self.target_max, Some(secs));
        }
    }

    fn row(&self, minute: String, elb: Option<String>, region: Value) -> Vec<Value> {
        let avg = (self.target_n > 0).then(|| self.target_sum / self.target_n as f64);
        vec![
            Value::String(minute),
            opt(elb.as_deref()),
            Value::from(self.requests),
            Value::from(self.elb_5xx),
            Value::from(self.target_5xx),
            Value::from(self.no_target),
            avg.map_or(Value::Null, Value::from),
            self.target_max.map_or(Value::Null, Value::from),
            region,
        ]
    }
}

impl Tally for AlbMinute {
    fn merge(&mut self, o: Self) {
        self.requests += o.requests;
        self.elb_5xx += o.elb_5xx;
        self.target_5xx += o.target_5xx;
        self.no_target += o.no_target;
        self.target_sum += o.target_sum;
        self.target_n += o.target_n;
        self.target_max = max_f(self.target_max, o.target_max);
    }
}

/// One URL's 5xx (`alb-error-urls`).
#[derive(Default)]
struct AlbUrl {
    errors: i64,
    first: Option<String>,
    last: Option<String>,
    trace: Option<String>,
}

impl Tally for AlbUrl {
    fn merge(&mut self, o: Self) {
        self.errors += o.errors;
        self.first = min_opt(self.first.take(), o.first);
        self.last = max_opt(self.last.take(), o.last);
        self.trace = min_opt(self.trace.take(), o.trace);
    }
}

/// `alb-minutes` and `alb-error-urls` over every ALB table the query reads, in the SQL's order.
fn alb_window(
    name: &str,
    w: &Window,
    scanner: &mut Scanner,
    tables: &[TableDef],
) -> Result<Vec<Vec<Value>>, QueryError> {
    let mut c = BTreeMap::new();
    c.insert("day".to_string(), w.days.clone());
    let mut rows = Vec::new();
    for t in tables {
        let region = opt(t.region.as_deref());
        if name == "alb-minutes" {
            rows.extend(alb_minutes(w, scanner, t, &c)?.into_iter().map(|((m, elb), a)| a.row(m, elb, region.clone())));
        } else {
            rows.extend(alb_error_urls(w, scanner, t, &c)?.into_iter().map(|((elb, verb, url), u)| {
                vec![
                    opt(elb.as_deref()),
                    opt(verb.as_deref()),
                    opt(url.as_deref()),
                    Value::from(u.errors),
                    opt(u.first.as_deref()),
                    opt(u.last.as_deref()),
                    opt(u.trace.as_deref()),
                    region.clone(),
                ]
            }));
        }
    }
    if name == "alb-minutes" {
        sort_rows(&mut rows, &[(0, false), (1, false), (8, false)]);
    } else {
        sort_rows(&mut rows, &[(3, true), (0, false), (1, false), (2, false), (7, false)]);
    }
    Ok(rows)
}

type MinuteKey = (String, Option<String>);

/// One ALB table's lines in the window, tallied per minute (`substr(time, 1, 16)`) and load balancer.
fn alb_minutes(
    w: &Window,
    scanner: &mut Scanner,
    t: &TableDef,
    c: &BTreeMap<String, Constraint>,
) -> Result<HashMap<MinuteKey, AlbMinute>, QueryError> {
    scanner.run(
        t,
        c,
        HashMap::new,
        |acc: &mut HashMap<MinuteKey, AlbMinute>, rec, _| {
            let Rec::Alb(l) = rec else { return };
            let Some(time) = l.get("time").filter(|t| in_window(Some(t), w)) else { return };
            let minute = time.get(..16).unwrap_or(time).to_string();
            acc.entry((minute, l.get("elb").map(str::to_string))).or_default().add(l);
        },
        merge_tallies,
    )
}

type UrlKey = (Option<String>, Option<String>, Option<String>);

/// One ALB table's 5xx in the window, tallied per load balancer, verb and URL path.
fn alb_error_urls(
    w: &Window,
    scanner: &mut Scanner,
    t: &TableDef,
    c: &BTreeMap<String, Constraint>,
) -> Result<HashMap<UrlKey, AlbUrl>, QueryError> {
    scanner.run(
        t,
        c,
        HashMap::new,
        |acc: &mut HashMap<UrlKey, AlbUrl>, rec, _| {
            let Rec::Alb(l) = rec else { return };
            let Some(time) = l.get("time").filter(|t| in_window(Some(t), w)) else { return };
            if l.int("elb_status_code").is_none_or(|s| s < 500) {
                return;
            }
            let url = l.get("request_url").map(|u| u.split('?').next().unwrap_or(u).to_string());
            let key = (l.get("elb").map(str::to_string), l.get("request_verb").map(str::to_string), url);
            acc.entry(key).or_default().merge(AlbUrl {
                errors: 1,
                first: Some(time.to_string()),
                last: Some(time.to_string()),
                trace: l.get("trace_id").map(str::to_string),
            });
        },
        merge_tallies,
    )
}

/// `log-minutes` (counts per minute and log group) or `log-errors` (the error events).
fn app_logs(
    errors: bool,
    w: &Window,
    scanner: &mut Scanner,
    table: &TableDef,
    constraints: &BTreeMap<String, Constraint>,
) -> Result<Vec<Vec<Value>>, QueryError> {
    use crate::records::logs::is_error;
    let part = |p: &BTreeMap<String, String>, k: &str| opt(p.get(k).map(String::as_str));
    if errors {
        let visit = |acc: &mut Vec<Vec<Value>>, rec: Rec<'_, '_>, p: &BTreeMap<String, String>| {
            let Rec::Log(r, e) = rec else { return };
            let Some(ts) = e.timestamp.filter(|t| *t >= w.from_ms && *t < w.to_ms) else { return };
            if !e.message.as_ref().is_some_and(|m| is_error(m.as_str())) {
                return;
            }
            acc.push(vec![
                Value::from(ts),
                s(r.log_group.as_ref()),
                s(r.log_stream.as_ref()),
                s(e.id.as_ref()),
                s(e.message.as_ref()),
                part(p, "account"),
                part(p, "region"),
            ]);
        };
        let mut rows = scanner.rows(table, constraints, &visit)?;
        sort_rows(&mut rows, &[0, 3, 1, 2, 4, 5, 6].map(|i| (i, false)));
        return Ok(rows);
    }
    type Key = (i64, Option<String>, Option<String>, Option<String>);
    let counts: Counts<Key> = scanner.run(
        table,
        constraints,
        Counts::default,
        |acc: &mut Counts<Key>, rec, p| {
            let Rec::Log(r, e) = rec else { return };
            let Some(ts) = e.timestamp.filter(|t| *t >= w.from_ms && *t < w.to_ms) else { return };
            let key = (
                ts - ts.rem_euclid(60_000),
                owned(r.log_group.as_ref()),
                p.get("account").cloned(),
                p.get("region").cloned(),
            );
            let c = acc.entry(key).or_default();
            c.0 += 1;
            c.1 += i64::from(e.message.as_ref().is_some_and(|m| is_error(m.as_str())));
        },
        merge_tallies,
    )?;
    let mut rows: Vec<Vec<Value>> = counts
        .into_iter()
        .map(|((minute, group, account, region), (n, e))| {
            vec![
                Value::from(minute),
                opt(group.as_deref()),
                Value::from(n),
                Value::from(e),
                opt(account.as_deref()),
                opt(region.as_deref()),
            ]
        })
        .collect();
    sort_rows(&mut rows, &[(0, false), (1, false), (4, false), (5, false)]);
    Ok(rows)
}

/// `metric-points`: the window's points, oldest first, within the SQL's limit.
fn metric_points(
    namespace: Option<&str>,
    w: &Window,
    scanner: &mut Scanner,
    table: &TableDef,
    constraints: &BTreeMap<String, Constraint>,
) -> Result<Vec<Vec<Value>>, QueryError> {
    let num = |v: Option<f64>| v.map_or(Value::Null, Value::from);
    let visit = |acc: &mut Vec<Vec<Value>>, rec: Rec<'_, '_>, p: &BTreeMap<String, String>| {
        let Rec::Metric(m) = rec else { return };
        let Some(ts) = m.timestamp.filter(|t| *t >= w.from_ms && *t < w.to_ms) else { return };
        if namespace.is_some_and(|n| !eq(m.namespace.as_ref(), n)) {
            return;
        }
        acc.push(vec![
            Value::from(ts),
            s(m.namespace.as_ref()),
            s(m.metric_name.as_ref()),
            Value::String(m.dimensions_text()),
            num(m.value.sum),
            num(m.value.count),
            num(m.value.max),
            num(m.value.min),
            s(m.unit.as_ref()),
            opt(p.get("account").map(String::as_str)),
            opt(p.get("region").map(String::as_str)),
        ]);
    };
    let mut rows = scanner.rows(table, constraints, &visit)?;
    sort_rows(&mut rows, &[0, 1, 2, 3, 9, 10].map(|i| (i, false)));
    Ok(rows)
}

type Counts<K> = HashMap<K, (i64, i64), foldhash::fast::RandomState>;

/// Two optional strings as one key: each a presence mark, its length and its text.
fn pair_key(out: &mut String, a: Option<&str>, b: Option<&str>) {
    out.clear();
    for v in [a, b] {
        match v {
            Some(v) => {
                // Per record: the length written without the formatting machinery.
                out.push('+');
                out.push_str(itoa::Buffer::new().format(v.len()));
                out.push(':');
                out.push_str(v);
            }
            None => out.push('-'),
        }
    }
}

/// The two optional strings of a [`pair_key`].
fn unpair_key(key: &str) -> (Option<&str>, Option<&str>) {
    fn one(s: &str) -> (Option<&str>, &str) {
        match s.strip_prefix('+').and_then(|r| r.split_once(':')) {
            Some((len, rest)) => {
                let n: usize = len.parse().unwrap_or(rest.len()).min(rest.len());
                (Some(&rest[..n]), &rest[n..])
            }
            None => (None, s.strip_prefix('-').unwrap_or(s)),
        }
    }
    let (a, rest) = one(key);
    let (b, _) = one(rest);
    (a, b)
}

fn owned(t: Option<&Text>) -> Option<String> {
    t.map(|t| t.as_str().to_string())
}

/// Reads tables for one query and adds up what was scanned.
struct Scanner<'m> {
    mirror: &'m Mirror,
    today: Date,
    stats: ScanStats,
    /// Literal strings every wanted record contains (event names): objects and records
    /// holding none are not parsed.
    needles: Option<EventNames>,
    /// The CloudTrail fields the query's visitor reads (the equivalence tests against the
    /// SQL catch a field read but not listed: it would be `None`).
    fields: Fields,
}

impl Scanner<'_> {
    fn run<A, I, V, M>(
        &mut self,
        table: &TableDef,
        constraints: &BTreeMap<String, Constraint>,
        init: I,
        visit: V,
        merge: M,
    ) -> Result<A, QueryError>
    where
        A: Send,
        I: Fn() -> A + Sync + Send,
        V: Fn(&mut A, Rec<'_, '_>, &BTreeMap<String, String>) + Sync + Send,
        M: Fn(A, A) -> A + Sync + Send,
    {
        let (folders, s0) = self.mirror.folders(table, constraints, self.today).map_err(QueryError::Engine)?;
        let how = How { needles: self.needles.as_ref(), fields: self.fields };
        let (acc, mut s1) = self.mirror.scan_filtered(table.kind, &folders, how, init, visit, merge);
        self.mirror.complete_totals(&table.location, &folders, &mut s1);
        self.stats.partitions_projected += s0.partitions_projected;
        self.stats.partitions_present += s1.partitions_present;
        self.stats.objects_total += s1.objects_total;
        self.stats.bytes_total += s1.bytes_total;
        self.stats.merge(s1);
        Ok(acc)
    }

    fn rows(
        &mut self,
        table: &TableDef,
        constraints: &BTreeMap<String, Constraint>,
        visit: Visit<'_>,
    ) -> Result<Vec<Vec<Value>>, QueryError> {
        self.run(
            table,
            constraints,
            Vec::new,
            |acc, rec, part| visit(acc, rec, part),
            |mut a, b| {
                a.extend(b);
                a
            },
        )
    }
}

/// (rows, errors) counts.
impl Tally for (i64, i64) {
    fn merge(&mut self, o: Self) {
        self.0 += o.0;
        self.1 += o.1;
    }
}

/// The `created-deleted` rows of one parsed record (`account` from its partition, or from
/// the record when it comes from event history).
pub fn event_touch_rows(r: &Record, account: Value) -> Vec<Vec<Value>> {
    let base = [
        s(r.event_time.as_ref()),
        s(r.event_source.as_ref()),
        s(r.event_name.as_ref()),
        account,
        s(r.aws_region.as_ref()),
        s(r.event_id.as_ref()),
        opt(r.arn()),
        opt(r.invoked_by()),
        s(r.error_code.as_ref()),
    ];
    let json =
        |raw: Option<&serde_json::value::RawValue>| raw.and_then(|v| serde_json::from_str::<Value>(v.get()).ok());
    let (req, resp) = (json(r.request_parameters), json(r.response_elements));
    super::touch_rows(&base, req.as_ref(), resp.as_ref())
}

fn eq(v: Option<&Text>, want: &str) -> bool {
    v.is_some_and(|t| t.as_str() == want)
}

/// `useridentity.username = :user OR useridentity.sessioncontext.sessionissuer.username = :user`
fn user_matches(r: &Record, user: &str) -> bool {
    let Some(ui) = r.user_identity.as_ref() else {
        return false;
    };
    let direct = ui.user_name.as_ref().is_some_and(|n| n.as_str() == user);
    let issuer = ui
        .session_context
        .as_ref()
        .and_then(|c| c.session_issuer.as_ref())
        .and_then(|i| i.user_name.as_ref())
        .is_some_and(|n| n.as_str() == user);
    direct || issuer
}
