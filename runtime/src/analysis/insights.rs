//! Activity insights: API activity counted in event-time windows — calls in all, per service,
//! per API (`source:name`), per user (`userIdentity.arn`), per source IP, and per error code.
//! One aggregation for every path: the `events` query's rows from a mirror or Athena (a
//! backfill, `opslake insights`) and, later, the live events of the insights function.
//!
//! A window is `[start, start + width)` of the record's own `eventTime`, not of its arrival;
//! an event delivered twice (the same `eventID`) is counted once.

use std::collections::{BTreeMap, HashSet};

use jiff::Timestamp;
use serde::Serialize;

use crate::query::Row;

/// Keys kept per series and window (the rest are summed as `(other)`).
pub const TOP: usize = 20;
/// The key the rest of a series is summed under.
pub const OTHER: &str = "(other)";

/// One API call, as the windows need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub id: String,
    pub time: Timestamp,
    pub service: String,
    pub api: String,
    pub user: String,
    pub ip: String,
    /// The error code; `None` for a call that succeeded.
    pub error: Option<String>,
}

impl Activity {
    /// An `events` row (`eventtime`, `eventsource`, `eventname`, `arn`, `sourceipaddress`,
    /// `errorcode`, `eventid`); `None` when it has no id or no readable time.
    pub fn from_row(r: Row<'_>) -> Option<Activity> {
        let text = |c: &str| r.str(c).unwrap_or("").to_string();
        let id = r.str("eventid").filter(|s| !s.is_empty())?.to_string();
        let time = r.str("eventtime")?.parse::<Timestamp>().ok()?;
        let service = text("eventsource");
        Some(Activity {
            id,
            time,
            api: format!("{}:{}", service.trim_end_matches(".amazonaws.com"), text("eventname")),
            service,
            user: r.str("arn").filter(|s| !s.is_empty()).unwrap_or("(no identity)").to_string(),
            ip: r.str("sourceipaddress").filter(|s| !s.is_empty()).unwrap_or("(none)").to_string(),
            error: r.str("errorcode").filter(|s| !s.is_empty()).map(str::to_string),
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Counts {
    total: u64,
    by_service: BTreeMap<String, u64>,
    by_api: BTreeMap<String, u64>,
    by_user: BTreeMap<String, u64>,
    by_ip: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
}

/// One window's series, each keeping its [`TOP`] keys (ties by name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Window {
    pub start: String,
    pub end: String,
    pub total: u64,
    pub by_service: BTreeMap<String, u64>,
    pub by_api: BTreeMap<String, u64>,
    pub by_user: BTreeMap<String, u64>,
    pub by_ip: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
}

fn top(m: BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    if m.len() <= TOP {
        return m;
    }
    let mut v: Vec<(String, u64)> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let rest: u64 = v[TOP..].iter().map(|(_, n)| n).sum();
    let mut out: BTreeMap<String, u64> = v.into_iter().take(TOP).collect();
    *out.entry(OTHER.to_string()).or_default() += rest;
    out
}

fn text(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The windows of `[from, to)`, `width` seconds each.
pub struct Aggregator {
    from: Timestamp,
    to: Timestamp,
    width: i64,
    seen: HashSet<String>,
    windows: BTreeMap<i64, Counts>,
    /// Events counted, and those dropped as repeats or outside the range.
    pub counted: u64,
    pub repeated: u64,
    pub outside: u64,
}

impl Aggregator {
    /// Windows of `width` (a positive number of seconds) over `[from, to)`.
    pub fn new(from: Timestamp, to: Timestamp, width: i64) -> Aggregator {
        Aggregator {
            from,
            to,
            width: width.max(1),
            seen: HashSet::new(),
            windows: BTreeMap::new(),
            counted: 0,
            repeated: 0,
            outside: 0,
        }
    }

    pub fn add(&mut self, a: &Activity) {
        if a.time < self.from || a.time >= self.to {
            self.outside += 1;
            return;
        }
        if !self.seen.insert(a.id.clone()) {
            self.repeated += 1;
            return;
        }
        self.counted += 1;
        let start = a.time.as_second().div_euclid(self.width) * self.width;
        let c = self.windows.entry(start).or_default();
        c.total += 1;
        *c.by_service.entry(a.service.clone()).or_default() += 1;
        *c.by_api.entry(a.api.clone()).or_default() += 1;
        *c.by_user.entry(a.user.clone()).or_default() += 1;
        *c.by_ip.entry(a.ip.clone()).or_default() += 1;
        if let Some(e) = &a.error {
            *c.errors.entry(e.clone()).or_default() += 1;
        }
    }

    /// The windows that saw a call, in time order.
    pub fn windows(self) -> Vec<Window> {
        let width = self.width;
        self.windows
            .into_iter()
            .filter_map(|(start, c)| {
                let s = Timestamp::from_second(start).ok()?;
                let e = Timestamp::from_second(start + width).ok()?;
                Some(Window {
                    start: text(s),
                    end: text(e),
                    total: c.total,
                    by_service: top(c.by_service),
                    by_api: top(c.by_api),
                    by_user: top(c.by_user),
                    by_ip: top(c.by_ip),
                    errors: top(c.errors),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str, at: &str, api: &str, error: Option<&str>) -> Activity {
        Activity {
            id: id.into(),
            time: at.parse().unwrap(),
            service: "ec2.amazonaws.com".into(),
            api: format!("ec2:{api}"),
            user: "arn:aws:iam::111111111111:user/alice".into(),
            ip: "198.51.100.7".into(),
            error: error.map(str::to_string),
        }
    }

    #[test]
    fn calls_fall_into_their_own_event_time_window_once() {
        let from: Timestamp = "2025-06-12T09:00:00Z".parse().unwrap();
        let to: Timestamp = "2025-06-12T10:00:00Z".parse().unwrap();
        let mut agg = Aggregator::new(from, to, 60);
        agg.add(&call("a", "2025-06-12T09:00:59Z", "RunInstances", None));
        agg.add(&call("b", "2025-06-12T09:01:00Z", "RunInstances", Some("AccessDenied")));
        // The same event again (a redelivery), one outside the range.
        agg.add(&call("a", "2025-06-12T09:00:59Z", "RunInstances", None));
        agg.add(&call("c", "2025-06-12T10:00:00Z", "RunInstances", None));
        assert_eq!((agg.counted, agg.repeated, agg.outside), (2, 1, 1));
        let w = agg.windows();
        assert_eq!(w.len(), 2);
        assert_eq!(
            (w[0].start.as_str(), w[0].end.as_str(), w[0].total),
            ("2025-06-12T09:00:00Z", "2025-06-12T09:01:00Z", 1)
        );
        assert_eq!(w[1].errors, BTreeMap::from([("AccessDenied".to_string(), 1)]));
        assert_eq!(w[1].by_api["ec2:RunInstances"], 1);
    }

    #[test]
    fn a_series_keeps_its_top_keys_and_sums_the_rest() {
        let m: BTreeMap<String, u64> = (0..30).map(|i| (format!("k{i:02}"), 100 - i)).collect();
        let t = top(m);
        assert_eq!(t.len(), TOP + 1);
        assert_eq!(t["k00"], 100);
        assert!(!t.contains_key("k29"));
        assert_eq!(t[OTHER], (71..=80).sum::<u64>());
    }
}
