//! Partition projection, interpreted the way Athena does it.
//!
//! [`Projection::from_parameters`] reads a Glue table's `projection.*` and
//! `storage.location.template` parameters (the rendered strings, not our own structs), and
//! [`Projection::partitions`] enumerates the partition locations a query's predicates allow.
//! Supported: `enum`, `integer` (with optional `digits`), `date` (day interval) and `injected`.

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::ToSpan;

/// Athena refuses to project more partitions than this in one query.
pub const MAX_PARTITIONS: usize = 1_000_000;

/// Why a table's projection cannot be interpreted or enumerated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProjectionError(pub String);

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
        // The template cut once at its placeholders: each piece is literal text, then the
        // value of the column that follows it (if one does).
        let holders: Vec<String> = per_column.iter().map(|(name, _)| format!("${{{name}}}")).collect();
        let mut pieces: Vec<(&str, Option<usize>)> = Vec::new();
        let mut rest = self.template.as_str();
        while let Some((at, i)) =
            holders.iter().enumerate().filter_map(|(i, h)| rest.find(h.as_str()).map(|at| (at, i))).min()
        {
            pieces.push((&rest[..at], Some(i)));
            rest = &rest[at + holders[i].len()..];
        }
        pieces.push((rest, None));
        loop {
            let mut values = BTreeMap::new();
            let mut location = String::with_capacity(self.template.len() + 32);
            for (text, column) in &pieces {
                location.push_str(text);
                if let Some(i) = *column {
                    location.push_str(&per_column[i].1[idx[i]]);
                }
            }
            for (i, (name, vals)) in per_column.iter().enumerate() {
                values.insert((*name).to_string(), vals[idx[i]].clone());
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

/// Where an S3 prefix or object stands against a table's location template (see
/// [`Projection::locate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// A prefix above the partitions that may still lead to projected ones: descend into it.
    Viable,
    /// Inside a projected partition (every template segment matched), with its values.
    Reached { values: BTreeMap<String, String> },
    /// The projection never reaches it. `at` is the URL up to and including the offending
    /// segment; `expected` marks a known non-data sibling of the data (digests, snapshots, …).
    Missed { at: String, reason: String, expected: bool },
}

/// Objects and prefixes the services write beside the data, which no table reads, with what
/// they are (FACTS §1).
pub const NOT_DATA: &[(&str, &str)] = &[
    ("CloudTrail-Digest", "CloudTrail digest files (log file integrity validation), not events"),
    ("CloudTrail-Insight", "CloudTrail Insights events, not the trail's events"),
    ("ConfigSnapshot", "AWS Config snapshots (the table reads ConfigHistory only)"),
    ("ConfigWritabilityCheckFile", "the empty object AWS Config writes to check that it can deliver"),
    ("ELBAccessLogTestFile", "the test object Elastic Load Balancing writes when access logging is turned on"),
    ("firehose-errors", "records Firehose could not deliver or process (failure analysis's capture): look at them"),
];

/// What a known non-data key segment is, if it is one.
pub fn not_data(segment: &str) -> Option<&'static str> {
    NOT_DATA.iter().find(|(name, _)| *name == segment).map(|(_, what)| *what)
}

/// One piece of a location template segment (the text between two `/`).
#[derive(Debug, Clone)]
enum Piece {
    Lit(String),
    /// A whole enum, integer or injected column value.
    Col(usize),
    /// The part of a date column's format that lies in this segment (formats such as
    /// `yyyy/MM/dd` span several segments).
    Date {
        col: usize,
        toks: Vec<Tok>,
        pattern: String,
    },
}

/// Literal template text onto the segments: a `/` starts a new segment, and text next to
/// literal text joins it.
fn push_lit(segs: &mut Vec<Vec<Piece>>, text: &str) {
    for (i, part) in text.split('/').enumerate() {
        if i > 0 {
            segs.push(Vec::new());
        }
        if part.is_empty() {
            continue;
        }
        if let Some(seg) = segs.last_mut() {
            match seg.last_mut() {
                Some(Piece::Lit(s)) => s.push_str(part),
                _ => seg.push(Piece::Lit(part.to_string())),
            }
        }
    }
}

/// What a date column has matched so far, across segments.
#[derive(Debug, Default)]
struct DateSoFar {
    found: Vec<String>,
    pattern: Vec<String>,
    canonical: Vec<String>,
    year: Option<i64>,
    month: Option<i64>,
    day: Option<i64>,
    pieces_seen: usize,
}

impl Projection {
    /// The location template as segments of pieces, `s3://` and the bucket first.
    fn segments(&self) -> Result<Vec<Vec<Piece>>, ProjectionError> {
        let Some(body) = self.template.strip_prefix("s3://") else {
            return err(format!("storage.location.template {:?} does not start with s3://", self.template));
        };
        let mut segs: Vec<Vec<Piece>> = vec![Vec::new()];
        let mut rest = body;
        while let Some(i) = rest.find("${") {
            push_lit(&mut segs, &rest[..i]);
            let after = &rest[i + 2..];
            let Some(j) = after.find('}') else {
                return err(format!("storage.location.template has an unclosed ${{ in {:?}", self.template));
            };
            let name = &after[..j];
            let Some(col) = self.columns.iter().position(|(n, _)| n == name) else {
                return err(format!("storage.location.template names ${{{name}}}, which is not a partition column"));
            };
            match &self.columns[col].1 {
                ColumnProjection::Date { format, .. } => {
                    for (k, part) in format.split('/').enumerate() {
                        if k > 0 {
                            segs.push(Vec::new());
                        }
                        if !part.is_empty() {
                            if let Some(seg) = segs.last_mut() {
                                seg.push(Piece::Date { col, toks: tokens(part), pattern: part.to_string() });
                            }
                        }
                    }
                }
                _ => {
                    if let Some(seg) = segs.last_mut() {
                        seg.push(Piece::Col(col));
                    }
                }
            }
            rest = &after[j + 1..];
        }
        push_lit(&mut segs, rest);
        // A template ending in `/` leaves an empty last segment.
        if segs.len() > 1 && segs.last().is_some_and(Vec::is_empty) {
            segs.pop();
        }
        Ok(segs)
    }

    /// Classifies an S3 URL against the location template, segment by segment, the way
    /// partition projection would see it: a "directory" prefix ending in `/` or an object key.
    ///
    /// A prefix above the partition level is [`Reach::Viable`] while every segment could still
    /// be part of a projected location (values in the enum, integers in range and written as
    /// Athena writes them, date parts with the right digits and inside the range); a prefix or
    /// object at or under a full partition location is [`Reach::Reached`]; anything else is
    /// [`Reach::Missed`] with the first segment that no projected location has, and why.
    /// `today` resolves `NOW` in date ranges.
    pub fn locate(&self, url: &str, today: Date) -> Reach {
        let miss = |at: &str, reason: String| Reach::Missed { at: at.to_string(), reason, expected: false };
        let segs = match self.segments() {
            Ok(s) => s,
            Err(e) => return miss(url, e.0),
        };
        let Some(body) = url.strip_prefix("s3://") else {
            return miss(url, format!("`{url}` is not an s3:// URL"));
        };
        let (parts, object): (Vec<&str>, bool) = match body.strip_suffix('/') {
            Some(dir) => (dir.split('/').collect(), false),
            None if !body.contains('/') => (vec![body], false),
            None => (body.split('/').collect(), true),
        };
        let dirs = if object { parts.len() - 1 } else { parts.len() };
        let mut dates: BTreeMap<usize, DateSoFar> = BTreeMap::new();
        let mut values = BTreeMap::new();
        for (i, part) in parts.iter().enumerate() {
            if i >= segs.len() {
                break; // under a full partition location
            }
            let is_name = object && i + 1 == parts.len();
            let at = {
                let mut s = format!("s3://{}", parts[..=i].join("/"));
                if !is_name {
                    s.push('/');
                }
                s
            };
            let outcome = if is_name {
                Err(format!(
                    "an object where the projection expects a `{}/` prefix: Athena reads only objects inside a partition",
                    describe(&segs[i], &self.columns)
                ))
            } else {
                self.match_segment(i, &segs, part, &mut dates, &mut values, today)
            };
            if let Err(reason) = outcome {
                return match not_data(part) {
                    Some(what) => Reach::Missed { at, reason: format!("`{part}`: {what}"), expected: true },
                    None => miss(&at, reason),
                };
            }
        }
        if dirs >= segs.len() {
            Reach::Reached { values }
        } else {
            Reach::Viable
        }
    }

    fn match_segment(
        &self,
        index: usize,
        segs: &[Vec<Piece>],
        text: &str,
        dates: &mut BTreeMap<usize, DateSoFar>,
        values: &mut BTreeMap<String, String>,
        today: Date,
    ) -> Result<(), String> {
        let pieces = &segs[index];
        let want = describe(pieces, &self.columns);
        if text.is_empty() {
            return Err(format!("an empty segment (`//` in the key) where the projection expects `{want}`"));
        }
        if let [Piece::Lit(lit)] = pieces.as_slice() {
            if text == lit {
                return Ok(());
            }
            let what = if index == 0 { "bucket " } else { "" };
            return Err(format!("expected {what}`{lit}`, found `{text}`"));
        }
        if pieces.is_empty() {
            return Err(format!("expected an empty segment, found `{text}`"));
        }
        let no_match = || format!("`{text}` does not match `{want}`");
        let mut pos = 0;
        for (k, piece) in pieces.iter().enumerate() {
            match piece {
                Piece::Lit(lit) => {
                    if !text[pos..].starts_with(lit.as_str()) {
                        return Err(no_match());
                    }
                    pos += lit.len();
                }
                Piece::Col(_) | Piece::Date { .. } => {
                    let end = match pieces.get(k + 1) {
                        Some(Piece::Lit(next)) => text[pos..].find(next.as_str()).map_or(text.len(), |j| pos + j),
                        _ => text.len(),
                    };
                    let value = &text[pos..end];
                    pos = end;
                    match piece {
                        Piece::Col(col) => {
                            let (name, kind) = &self.columns[*col];
                            check_value(name, kind, value)?;
                            values.insert(name.clone(), value.to_string());
                        }
                        Piece::Date { col, toks, pattern } => {
                            let total = segs
                                .iter()
                                .flatten()
                                .filter(|p| matches!(p, Piece::Date { col: c, .. } if c == col))
                                .count();
                            let so_far = dates.entry(*col).or_default();
                            let (name, kind) = &self.columns[*col];
                            if let Some(full) = check_date_part(kind, so_far, toks, pattern, value, total, today)? {
                                values.insert(name.clone(), full);
                            }
                        }
                        Piece::Lit(_) => {}
                    }
                }
            }
        }
        if pos != text.len() {
            return Err(no_match());
        }
        Ok(())
    }
}

/// A segment as the template writes it: literals, `${column}`, date format parts.
fn describe(pieces: &[Piece], columns: &[(String, ColumnProjection)]) -> String {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Lit(s) => s.clone(),
            Piece::Col(c) => format!("${{{}}}", columns[*c].0),
            Piece::Date { pattern, .. } => pattern.clone(),
        })
        .collect()
}

/// Checks one enum, integer or injected value as Athena would project it.
fn check_value(name: &str, kind: &ColumnProjection, value: &str) -> Result<(), String> {
    match kind {
        ColumnProjection::Enum(all) => {
            if all.iter().any(|v| v == value) {
                return Ok(());
            }
            let listed = if all.len() <= 6 { format!(" ({})", all.join(", ")) } else { String::new() };
            Err(format!("{name} `{value}` is not in projection.{name}.values{listed}"))
        }
        ColumnProjection::Injected => Ok(()),
        ColumnProjection::Integer { min, max, digits } => {
            let n = match value.parse::<i64>() {
                Ok(n) if value.bytes().all(|b| b.is_ascii_digit() || b == b'-') => n,
                _ => return Err(format!("{name} `{value}` is not an integer (projection.{name}.type is integer)")),
            };
            let canonical = fmt_int(n, *digits);
            if canonical != value {
                return Err(match digits {
                    None if value.starts_with('0') || value.starts_with("-0") => format!(
                        "{name} `{value}` is zero-padded, but projection.{name} has no digits (Athena would look for `{canonical}`)"
                    ),
                    None => format!("{name} `{value}` is not how Athena writes {n} (it would look for `{canonical}`)"),
                    Some(w) => format!(
                        "{name} `{value}` is not written with projection.{name}.digits {w} (Athena would look for `{canonical}`)"
                    ),
                });
            }
            if n < *min || n > *max {
                return Err(format!("{name} {n} is outside projection.{name}.range {min},{max}"));
            }
            Ok(())
        }
        ColumnProjection::Date { .. } => Ok(()),
    }
}

/// Checks the part of a date column's value in one segment; `Some(value)` once the whole date
/// has been matched.
fn check_date_part(
    kind: &ColumnProjection,
    so_far: &mut DateSoFar,
    toks: &[Tok],
    pattern: &str,
    value: &str,
    total_pieces: usize,
    today: Date,
) -> Result<Option<String>, String> {
    let ColumnProjection::Date { format, start, end } = kind else {
        return Ok(None);
    };
    so_far.found.push(value.to_string());
    so_far.pattern.push(pattern.to_string());
    so_far.pieces_seen += 1;
    let shown = |s: &DateSoFar| (s.found.join("/"), s.pattern.join("/"));
    let no_match = |s: &DateSoFar| {
        let (found, pattern) = shown(s);
        format!("`{found}` does not match `{pattern}`")
    };
    let bytes = value.as_bytes();
    let mut pos = 0;
    let mut canonical = String::new();
    for tok in toks {
        match tok {
            Tok::Lit(c) => {
                if !value[pos..].starts_with(*c) {
                    return Err(no_match(so_far));
                }
                pos += c.len_utf8();
                canonical.push(*c);
            }
            Tok::Year | Tok::Month(_) | Tok::Day(_) => {
                let begin = pos;
                while pos < bytes.len() && bytes[pos].is_ascii_digit() {
                    pos += 1;
                }
                let digits = &value[begin..pos];
                let n = match digits.parse::<i64>() {
                    Ok(n) if digits.len() <= 9 => n,
                    _ => return Err(no_match(so_far)),
                };
                match tok {
                    Tok::Year => {
                        canonical.push_str(&format!("{n:04}"));
                        so_far.year = Some(n);
                    }
                    Tok::Month(w) => {
                        canonical.push_str(&if *w == 2 { format!("{n:02}") } else { n.to_string() });
                        so_far.month = Some(n);
                    }
                    Tok::Day(w) => {
                        canonical.push_str(&if *w == 2 { format!("{n:02}") } else { n.to_string() });
                        so_far.day = Some(n);
                    }
                    Tok::Lit(_) => {}
                }
            }
        }
    }
    if pos != value.len() {
        return Err(no_match(so_far));
    }
    so_far.canonical.push(canonical);
    let (found, pattern) = shown(so_far);
    let canonical = so_far.canonical.join("/");
    if canonical != found {
        return Err(format!("`{found}` does not match `{pattern}` (Athena would look for `{canonical}`)"));
    }
    if so_far.month.is_some_and(|m| !(1..=12).contains(&m)) || so_far.day.is_some_and(|d| !(1..=31).contains(&d)) {
        return Err(format!("`{found}` is not a date (`{pattern}`)"));
    }
    let lo = start.resolve(today).ok();
    let hi = end.resolve(today).ok();
    let end_text = |hi: Date| match end {
        DateBound::Fixed(_) => format_date(hi, format),
        DateBound::Now { .. } => format!("NOW ({})", format_date(hi, format)),
    };
    let before = |what: &str| {
        format!(
            "{what} {found} is before the projection range start {}",
            lo.map(|d| format_date(d, format)).unwrap_or_default()
        )
    };
    let complete = so_far.pieces_seen >= total_pieces;
    if !complete {
        // A partial date (`2019/`, `2019/12/`): out of range when every day it covers is.
        let key = |d: Date| (i64::from(d.year()), i64::from(d.month()));
        match (so_far.year, so_far.month, so_far.day) {
            (Some(y), None, None) => {
                if lo.is_some_and(|lo| y < i64::from(lo.year())) {
                    return Err(before("year"));
                }
                if let Some(hi) = hi.filter(|hi| y > i64::from(hi.year())) {
                    return Err(format!("year {found} is after the projection range end {}", end_text(hi)));
                }
            }
            (Some(y), Some(m), None) => {
                if lo.is_some_and(|lo| (y, m) < key(lo)) {
                    return Err(before("month"));
                }
                if let Some(hi) = hi.filter(|hi| (y, m) > key(*hi)) {
                    return Err(format!("month {found} is after the projection range end {}", end_text(hi)));
                }
            }
            _ => {}
        }
        return Ok(None);
    }
    let Some(y) = so_far.year else {
        return Ok(Some(found));
    };
    let date = match (i16::try_from(y), i8::try_from(so_far.month.unwrap_or(1)), i8::try_from(so_far.day.unwrap_or(1)))
    {
        (Ok(y), Ok(m), Ok(d)) => Date::new(y, m, d).ok(),
        _ => None,
    };
    let Some(date) = date else {
        return Err(format!("`{found}` is not a date (`{pattern}`)"));
    };
    if lo.is_some_and(|lo| date < lo) {
        return Err(before("day"));
    }
    if let Some(hi) = hi.filter(|hi| date > *hi) {
        return Err(format!("day {found} is after the projection range end {}", end_text(hi)));
    }
    Ok(Some(format_date(date, format)))
}

/// Of one URL's [`Reach`] against several tables (on the same bucket), the indices of the
/// misses that got furthest down their template (the longest `at`): the tables the URL was
/// most likely meant for. Empty when any table reaches the URL or finds it viable.
pub fn closest_misses(reaches: &[Reach]) -> Vec<usize> {
    if reaches.iter().any(|r| !matches!(r, Reach::Missed { .. })) {
        return Vec::new();
    }
    let depth = |r: &Reach| match r {
        Reach::Missed { at, .. } => at.trim_end_matches('/').matches('/').count(),
        _ => 0,
    };
    let deepest = reaches.iter().map(depth).max().unwrap_or(0);
    (0..reaches.len()).filter(|&i| depth(&reaches[i]) == deepest).collect()
}
