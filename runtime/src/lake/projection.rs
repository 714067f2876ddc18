//! Partition projection, interpreted the way Athena does it.
//!
//! [`Projection::from_parameters`] reads a Glue table's `projection.*` and
//! `storage.location.template` parameters (the rendered strings, not our own structs), and
//! [`Projection::partitions`] enumerates the partition locations a query's predicates allow.
//! Supported: `enum`, `integer` (with optional `digits`), `date` (day interval) and `injected`.

use std::collections::BTreeMap;
use std::fmt;

use jiff::civil::Date;
use jiff::ToSpan;

/// Athena refuses to project more partitions than this in one query.
pub const MAX_PARTITIONS: usize = 1_000_000;

/// Why a table's projection cannot be interpreted or enumerated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectionError(pub String);

impl fmt::Display for ProjectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProjectionError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ProjectionError> {
    Err(ProjectionError(msg.into()))
}

/// One projected partition column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnProjection {
    Enum(Vec<String>),
    Integer { min: i64, max: i64, digits: Option<usize> },
    Date { format: String, start: DateBound, end: DateBound },
    Injected,
}

/// A date range bound: a fixed day, or `NOW` shifted by a number of days/months/years.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateBound {
    Fixed(Date),
    Now { years: i32, months: i32, days: i32 },
}

impl DateBound {
    fn resolve(self, today: Date) -> Result<Date, ProjectionError> {
        match self {
            DateBound::Fixed(d) => Ok(d),
            DateBound::Now { years, months, days } => {
                today.checked_add(years.years().months(months).days(days)).or_else(|_| err("NOW offset out of range"))
            }
        }
    }
}

/// A table's projection: the location template and each partition column's projection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    pub template: String,
    pub columns: Vec<(String, ColumnProjection)>,
}

/// What a query's predicates allow for one partition column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// Exactly these values (`col = 'x'` or `col IN (...)`).
    Values(Vec<String>),
    /// Days in `[from, to]` for a date column.
    DateRange { from: Date, to: Date },
    /// Integers in `[min, max]` for an integer column.
    IntRange { min: i64, max: i64 },
}

/// One projected partition: its column values and its S3 location (`s3://bucket/key/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionValue {
    pub values: BTreeMap<String, String>,
    pub location: String,
}

impl Projection {
    /// Reads the projection of a table with partition columns `keys` from its parameters.
    pub fn from_parameters(keys: &[&str], params: &BTreeMap<String, String>) -> Result<Self, ProjectionError> {
        if params.get("projection.enabled").map(String::as_str) != Some("true") {
            return err("projection.enabled is not \"true\"");
        }
        let template = match params.get("storage.location.template") {
            Some(t) => t.clone(),
            None => return err("storage.location.template is missing"),
        };
        let mut columns = Vec::new();
        for key in keys {
            let get = |suffix: &str| params.get(&format!("projection.{key}.{suffix}"));
            if !template.contains(&format!("${{{key}}}")) {
                return err(format!("storage.location.template has no ${{{key}}} for partition column {key}"));
            }
            let kind = match get("type").map(String::as_str) {
                Some("enum") => {
                    let values =
                        get("values").ok_or_else(|| ProjectionError(format!("projection.{key}.values missing")))?;
                    ColumnProjection::Enum(values.split(',').map(|v| v.trim().to_string()).collect())
                }
                Some("integer") => {
                    let range =
                        get("range").ok_or_else(|| ProjectionError(format!("projection.{key}.range missing")))?;
                    let (a, b) = range
                        .split_once(',')
                        .ok_or_else(|| ProjectionError(format!("projection.{key}.range must be MIN,MAX")))?;
                    let parse = |s: &str| {
                        s.trim()
                            .parse::<i64>()
                            .map_err(|_| ProjectionError(format!("projection.{key}.range: {s:?} is not an integer")))
                    };
                    let digits = match get("digits") {
                        Some(d) => Some(
                            d.parse::<usize>()
                                .map_err(|_| ProjectionError(format!("projection.{key}.digits: {d:?}")))?,
                        ),
                        None => None,
                    };
                    ColumnProjection::Integer { min: parse(a)?, max: parse(b)?, digits }
                }
                Some("date") => {
                    let format =
                        get("format").ok_or_else(|| ProjectionError(format!("projection.{key}.format missing")))?;
                    let range =
                        get("range").ok_or_else(|| ProjectionError(format!("projection.{key}.range missing")))?;
                    if let Some(i) = get("interval") {
                        if i != "1" {
                            return err(format!("projection.{key}.interval {i} is not supported (only 1)"));
                        }
                    }
                    if let Some(u) = get("interval.unit") {
                        if u != "DAYS" {
                            return err(format!("projection.{key}.interval.unit {u} is not supported (only DAYS)"));
                        }
                    }
                    let (a, b) = range
                        .split_once(',')
                        .ok_or_else(|| ProjectionError(format!("projection.{key}.range must be START,END")))?;
                    ColumnProjection::Date {
                        start: parse_bound(a.trim(), format)?,
                        end: parse_bound(b.trim(), format)?,
                        format: format.clone(),
                    }
                }
                Some("injected") => ColumnProjection::Injected,
                Some(other) => return err(format!("projection.{key}.type {other:?} is not supported")),
                None => return err(format!("projection.{key}.type missing")),
            };
            columns.push((key.to_string(), kind));
        }
        Ok(Projection { template, columns })
    }

    /// Every value a column can take under `constraint` (or unconstrained), in order.
    fn values(
        &self,
        kind: &ColumnProjection,
        name: &str,
        constraint: Option<&Constraint>,
        today: Date,
    ) -> Result<Vec<String>, ProjectionError> {
        match kind {
            ColumnProjection::Enum(all) => Ok(match constraint {
                None => all.clone(),
                Some(Constraint::Values(v)) => all.iter().filter(|a| v.contains(a)).cloned().collect(),
                Some(c) => return err(format!("{name}: {c:?} does not apply to an enum column")),
            }),
            ColumnProjection::Injected => match constraint {
                Some(Constraint::Values(v)) => Ok(v.clone()),
                // Athena: CONSTRAINT_VIOLATION without an equality predicate on an injected column.
                _ => err(format!("{name} is an injected partition column: the query must constrain it with =")),
            },
            ColumnProjection::Integer { min, max, digits } => {
                let (lo, hi) = match constraint {
                    None => (*min, *max),
                    Some(Constraint::IntRange { min: a, max: b }) => ((*min).max(*a), (*max).min(*b)),
                    Some(Constraint::Values(v)) => {
                        let mut out = Vec::new();
                        for s in v {
                            if let Ok(n) = s.parse::<i64>() {
                                if (*min..=*max).contains(&n) {
                                    out.push(fmt_int(n, *digits));
                                }
                            }
                        }
                        return Ok(out);
                    }
                    Some(c) => return err(format!("{name}: {c:?} does not apply to an integer column")),
                };
                if hi.saturating_sub(lo) >= MAX_PARTITIONS as i64 {
                    return err(format!("{name}: more than {MAX_PARTITIONS} values"));
                }
                Ok((lo..=hi).map(|n| fmt_int(n, *digits)).collect())
            }
            ColumnProjection::Date { format, start, end } => {
                let (mut lo, mut hi) = (start.resolve(today)?, end.resolve(today)?);
                match constraint {
                    None => {}
                    Some(Constraint::DateRange { from, to }) => {
                        lo = lo.max(*from);
                        hi = hi.min(*to);
                    }
                    Some(Constraint::Values(v)) => {
                        let mut out = Vec::new();
                        for s in v {
                            if let Ok(d) = parse_date(s, format) {
                                if d >= lo && d <= hi {
                                    out.push(format_date(d, format));
                                }
                            }
                        }
                        return Ok(out);
                    }
                    Some(c) => return err(format!("{name}: {c:?} does not apply to a date column")),
                }
                let mut out = Vec::new();
                let mut d = lo;
                while d <= hi {
                    if out.len() >= MAX_PARTITIONS {
                        return err(format!("{name}: more than {MAX_PARTITIONS} days"));
                    }
                    out.push(format_date(d, format));
                    d = match d.tomorrow() {
                        Ok(t) => t,
                        Err(_) => break,
                    };
                }
                Ok(out)
            }
        }
    }

    /// The partitions the constraints allow, as Athena would project them (cartesian product
    /// of each column's values, in column order). `today` resolves `NOW` in date ranges.
    pub fn partitions(
        &self,
        constraints: &BTreeMap<String, Constraint>,
        today: Date,
    ) -> Result<Vec<PartitionValue>, ProjectionError> {
        let mut per_column = Vec::new();
        let mut total: usize = 1;
        for (name, kind) in &self.columns {
            let values = self.values(kind, name, constraints.get(name), today)?;
            total = total.saturating_mul(values.len());
            if total > MAX_PARTITIONS {
                return err(format!(
                    "the query would project more than {MAX_PARTITIONS} partitions; constrain it further"
                ));
            }
            per_column.push((name.as_str(), values));
        }
        let mut out = Vec::with_capacity(total);
        let mut idx = vec![0usize; per_column.len()];
        if total == 0 {
            return Ok(out);
        }
        loop {
            let mut values = BTreeMap::new();
            let mut location = self.template.clone();
            for (i, (name, vals)) in per_column.iter().enumerate() {
                let v = &vals[idx[i]];
                location = location.replace(&format!("${{{name}}}"), v);
                values.insert((*name).to_string(), v.clone());
            }
            if !location.ends_with('/') {
                location.push('/');
            }
            out.push(PartitionValue { values, location });
            // odometer increment, last column fastest
            let mut i = per_column.len();
            loop {
                if i == 0 {
                    return Ok(out);
                }
                i -= 1;
                idx[i] += 1;
                if idx[i] < per_column[i].1.len() {
                    break;
                }
                idx[i] = 0;
            }
        }
    }
}

fn fmt_int(n: i64, digits: Option<usize>) -> String {
    match digits {
        Some(w) => format!("{n:0w$}"),
        None => n.to_string(),
    }
}

/// Formats a day with a Java `DateTimeFormatter` pattern (the subset projection uses:
/// `yyyy`, `MM`/`M`, `dd`/`d`, and literal separators).
pub fn format_date(d: Date, pattern: &str) -> String {
    let mut out = String::new();
    for tok in tokens(pattern) {
        match tok {
            Tok::Year => out.push_str(&format!("{:04}", d.year())),
            Tok::Month(2) => out.push_str(&format!("{:02}", d.month())),
            Tok::Month(_) => out.push_str(&d.month().to_string()),
            Tok::Day(2) => out.push_str(&format!("{:02}", d.day())),
            Tok::Day(_) => out.push_str(&d.day().to_string()),
            Tok::Lit(c) => out.push(c),
        }
    }
    out
}

/// Parses a day written with a `DateTimeFormatter` pattern (see [`format_date`]).
pub fn parse_date(s: &str, pattern: &str) -> Result<Date, ProjectionError> {
    let bad = || ProjectionError(format!("{s:?} does not match date format {pattern:?}"));
    let bytes = s.as_bytes();
    let mut pos = 0;
    let (mut y, mut m, mut d) = (None, None, None);
    let toks = tokens(pattern);
    for tok in &toks {
        let mut take_digits = |min: usize, max: usize| -> Result<i64, ProjectionError> {
            let start = pos;
            while pos < bytes.len() && pos - start < max && bytes[pos].is_ascii_digit() {
                pos += 1;
            }
            if pos - start < min {
                return Err(bad());
            }
            s[start..pos].parse::<i64>().map_err(|_| bad())
        };
        match tok {
            Tok::Year => y = Some(take_digits(4, 4)?),
            Tok::Month(w) => m = Some(take_digits(*w, 2)?),
            Tok::Day(w) => d = Some(take_digits(*w, 2)?),
            Tok::Lit(c) => {
                if s[pos..].starts_with(*c) {
                    pos += c.len_utf8();
                } else {
                    return Err(bad());
                }
            }
        }
    }
    if pos != bytes.len() {
        return Err(bad());
    }
    match (y, m, d) {
        (Some(y), Some(m), Some(d)) => Date::new(y as i16, m as i8, d as i8).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Year,
    Month(usize),
    Day(usize),
    Lit(char),
}

fn tokens(pattern: &str) -> Vec<Tok> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut n = 1;
        while i + n < chars.len() && chars[i + n] == c {
            n += 1;
        }
        match c {
            'y' => out.push(Tok::Year),
            'M' => out.push(Tok::Month(n.min(2))),
            'd' => out.push(Tok::Day(n.min(2))),
            _ => {
                for _ in 0..n {
                    out.push(Tok::Lit(c));
                }
            }
        }
        i += n;
    }
    out
}

fn parse_bound(s: &str, format: &str) -> Result<DateBound, ProjectionError> {
    if let Some(rest) = s.strip_prefix("NOW") {
        if rest.is_empty() {
            return Ok(DateBound::Now { years: 0, months: 0, days: 0 });
        }
        let (sign, body) = match rest.as_bytes()[0] {
            b'-' => (-1, &rest[1..]),
            b'+' => (1, &rest[1..]),
            _ => return err(format!("bad date bound {s:?}")),
        };
        let digits: String = body.chars().take_while(char::is_ascii_digit).collect();
        let n: i32 = digits.parse().map_err(|_| ProjectionError(format!("bad date bound {s:?}")))?;
        let unit = &body[digits.len()..];
        let n = sign * n;
        return match unit {
            "YEARS" | "YEAR" => Ok(DateBound::Now { years: n, months: 0, days: 0 }),
            "MONTHS" | "MONTH" => Ok(DateBound::Now { years: 0, months: n, days: 0 }),
            "WEEKS" | "WEEK" => Ok(DateBound::Now { years: 0, months: 0, days: 7 * n }),
            "DAYS" | "DAY" => Ok(DateBound::Now { years: 0, months: 0, days: n }),
            _ => err(format!("unsupported unit in date bound {s:?}")),
        };
    }
    parse_date(s, format).map(DateBound::Fixed)
}
