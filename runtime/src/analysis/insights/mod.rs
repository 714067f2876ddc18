//! Activity insights: API activity counted in event-time windows — calls in all, per service,
//! API (`source:name`), principal, source IP, region and error code; errors per API; console
//! sign-ins; root's calls; access denied per principal — with the services and regions each
//! account uses for the first time, and anomaly scores per series ([`anomaly`]).
//!
//! One aggregation for every path: the `activity` query's rows from a mirror or Athena (a
//! backfill, `opslake insights`) and the live events of the insights function
//! ([`Activity::from_record`]), so the two agree.
//!
//! A window is `[start, start + width)` of the record's own `eventTime`, not of its arrival;
//! an event delivered twice (the same `eventID`) is counted once.

pub mod anomaly;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::query::Row;
use crate::records::cloudtrail::Record;

/// Keys kept per series and window (the rest are summed as `(other)`).
pub const TOP: usize = 20;
/// The key the rest of a series is summed under.
pub const OTHER: &str = "(other)";

/// A keyed series: calls per key. Keys are shared text: a principal or an IP seen in
/// thousands of windows is held once ([`Names`]).
pub type Counts = BTreeMap<Arc<str>, u64>;

/// A [`Counts`] as a JSON object of numbers (`Arc<str>` keys written as text).
mod counts {
    use super::Counts;
    use serde::{Deserialize, Deserializer, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(m: &Counts, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(m.iter().map(|(k, n)| (&**k, n)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Counts, D::Error> {
        Ok(BTreeMap::<String, u64>::deserialize(d)?.into_iter().map(|(k, n)| (k.into(), n)).collect())
    }
}

/// Adds one call to `key`'s count (allocating the key only the first time in the window).
fn bump(m: &mut Counts, key: &str) {
    match m.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            m.insert(Arc::from(key), 1);
        }
    }
}

/// The keys of the closed windows, each held once.
#[derive(Debug, Default)]
pub struct Names(HashSet<Arc<str>>);

impl Names {
    fn shared(&mut self, key: &Arc<str>) -> Arc<str> {
        match self.0.get(key) {
            Some(k) => Arc::clone(k),
            None => {
                self.0.insert(Arc::clone(key));
                Arc::clone(key)
            }
        }
    }
}

/// One API call, as the windows need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub id: String,
    pub time: Timestamp,
    pub account: String,
    pub region: String,
    pub service: String,
    pub api: String,
    /// The role of a role session, else the caller's ARN, else the calling service.
    pub principal: String,
    /// `useridentity.type` (`Root`, `IAMUser`, `AssumedRole`, …).
    pub identity: String,
    pub ip: String,
    /// The error code; `None` for a call that succeeded.
    pub error: Option<String>,
    /// A console sign-in's result (`Success`, `Failure`).
    pub sign_in: Option<String>,
}

/// The error codes that mean "not allowed".
pub fn is_access_denied(code: &str) -> bool {
    code.contains("AccessDenied") || code.contains("UnauthorizedOperation") || code == "Unauthorized"
}

fn api_of(service: &str, name: &str) -> String {
    format!("{}:{name}", service.trim_end_matches(".amazonaws.com"))
}

fn or<'a>(v: Option<&'a str>, none: &'a str) -> &'a str {
    v.filter(|s| !s.is_empty()).unwrap_or(none)
}

impl Activity {
    /// An `activity` row; `None` when it has no id or no readable time.
    pub fn from_row(r: Row<'_>) -> Option<Activity> {
        let id = r.str("eventid").filter(|s| !s.is_empty())?.to_string();
        let time = r.str("eventtime")?.parse::<Timestamp>().ok()?;
        let service = or(r.str("eventsource"), "").to_string();
        Some(Activity {
            id,
            time,
            account: or(r.str("account"), "(none)").to_string(),
            region: or(r.str("awsregion"), "(none)").to_string(),
            api: api_of(&service, or(r.str("eventname"), "")),
            service,
            principal: or(r.str("principal"), "(no identity)").to_string(),
            identity: or(r.str("identitytype"), "(none)").to_string(),
            ip: or(r.str("sourceipaddress"), "(none)").to_string(),
            error: r.str("errorcode").filter(|s| !s.is_empty()).map(str::to_string),
            sign_in: r.str("signin").filter(|s| !s.is_empty()).map(str::to_string),
        })
    }

    /// A CloudTrail record (a trail file's, or the `detail` of an EventBridge `AWS API Call via
    /// CloudTrail` event) of `account`, as the `activity` query reads it.
    pub fn from_record(r: &Record<'_>, account: &str) -> Option<Activity> {
        let text = |t: Option<&crate::records::Text>| t.map(|t| t.as_str().to_string());
        let id = text(r.event_id.as_ref()).filter(|s| !s.is_empty())?;
        let time = r.event_time.as_ref()?.as_str().parse::<Timestamp>().ok()?;
        let service = text(r.event_source.as_ref()).unwrap_or_default();
        let name = text(r.event_name.as_ref()).unwrap_or_default();
        Some(Activity {
            id,
            time,
            account: or(Some(account), "(none)").to_string(),
            region: or(r.aws_region.as_ref().map(|t| t.as_str()), "(none)").to_string(),
            api: api_of(&service, &name),
            service,
            principal: or(r.principal(), "(no identity)").to_string(),
            identity: or(r.identity_type(), "(none)").to_string(),
            ip: or(r.source_ip_address.as_ref().map(|t| t.as_str()), "(none)").to_string(),
            error: text(r.error_code.as_ref()).filter(|s| !s.is_empty()),
            sign_in: r.sign_in(),
        })
    }
}

/// Console sign-ins of a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignIns {
    pub success: u64,
    pub failure: u64,
}

/// One window's series. Keyed series keep their [`TOP`] keys (ties by name) and sum the rest
/// under [`OTHER`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: String,
    pub end: String,
    pub total: u64,
    #[serde(with = "counts")]
    pub by_service: Counts,
    #[serde(with = "counts")]
    pub by_api: Counts,
    #[serde(with = "counts")]
    pub by_user: Counts,
    #[serde(with = "counts")]
    pub by_ip: Counts,
    #[serde(with = "counts")]
    pub by_region: Counts,
    /// Calls that failed, per error code.
    #[serde(with = "counts")]
    pub errors: Counts,
    /// Calls that failed, per API: with `by_api`, each API's error rate.
    #[serde(with = "counts")]
    pub api_errors: Counts,
    /// Calls refused (AccessDenied, UnauthorizedOperation), per principal.
    #[serde(with = "counts")]
    pub access_denied: Counts,
    pub signins: SignIns,
    /// Failed console sign-ins, per source IP.
    #[serde(with = "counts")]
    pub signin_failure_ips: Counts,
    /// Calls made as the root user.
    pub root: u64,
    /// Root's calls, per source IP.
    #[serde(with = "counts")]
    pub root_ips: Counts,
}

impl Window {
    /// The window's failed calls.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// The window's refused calls.
    pub fn denied_count(&self) -> u64 {
        self.access_denied.values().sum()
    }

    /// Counts one call into the window.
    pub fn count(&mut self, a: &Activity) {
        self.total += 1;
        bump(&mut self.by_service, &a.service);
        bump(&mut self.by_api, &a.api);
        bump(&mut self.by_user, &a.principal);
        bump(&mut self.by_ip, &a.ip);
        bump(&mut self.by_region, &a.region);
        if let Some(e) = &a.error {
            bump(&mut self.errors, e);
            bump(&mut self.api_errors, &a.api);
            if is_access_denied(e) {
                bump(&mut self.access_denied, &a.principal);
            }
        }
        match a.sign_in.as_deref() {
            Some("Success") => self.signins.success += 1,
            Some(_) => {
                self.signins.failure += 1;
                bump(&mut self.signin_failure_ips, &a.ip);
            }
            None => {}
        }
        if a.identity == "Root" {
            self.root += 1;
            bump(&mut self.root_ips, &a.ip);
        }
    }

    /// The window closed: each series cut to its top keys, the keys shared with the other
    /// closed windows'.
    fn cut(mut self, names: &mut Names) -> Window {
        for m in [
            &mut self.by_service,
            &mut self.by_api,
            &mut self.by_user,
            &mut self.by_ip,
            &mut self.by_region,
            &mut self.errors,
            &mut self.api_errors,
            &mut self.access_denied,
            &mut self.signin_failure_ips,
            &mut self.root_ips,
        ] {
            *m = top(std::mem::take(m)).into_iter().map(|(k, n)| (names.shared(&k), n)).collect();
        }
        self
    }
}

fn top(m: Counts) -> Counts {
    if m.len() <= TOP {
        return m;
    }
    let mut v: Vec<(Arc<str>, u64)> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let rest: u64 = v[TOP..].iter().map(|(_, n)| n).sum();
    let mut out: Counts = v.into_iter().take(TOP).collect();
    *out.entry(Arc::from(OTHER)).or_default() += rest;
    out
}

/// The key of a map with the highest count (ties: the first name).
pub fn first_key(m: &Counts) -> Option<(&str, u64)> {
    m.iter()
        .filter(|(k, _)| &***k != OTHER)
        .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(k, n)| (&**k, *n))
}

/// Time as the windows write it: RFC 3339 UTC to the second.
pub fn text(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Every window of `[from, to)` in order, `width` seconds each: those of `windows` (the ones
/// that saw a call, in time order), borrowed, and an empty one for every other.
pub fn dense(windows: &[Window], from: Timestamp, to: Timestamp, width: i64) -> Vec<Cow<'_, Window>> {
    let width = width.max(1);
    let mut seen = windows.iter().peekable();
    let mut out = Vec::new();
    let mut start = from.as_second().div_euclid(width) * width;
    while start < to.as_second() {
        let (Ok(s), Ok(e)) = (Timestamp::from_second(start), Timestamp::from_second(start + width)) else { break };
        let key = text(s);
        // Windows before the range's first (none, from the aggregator) are passed over.
        while seen.peek().is_some_and(|w| w.start < key) {
            seen.next();
        }
        match seen.next_if(|w| w.start == key) {
            Some(w) => out.push(Cow::Borrowed(w)),
            None => out.push(Cow::Owned(Window { start: key, end: text(e), ..Window::default() })),
        }
        start += width;
    }
    out
}

/// What an account has used so far: its regions and its services. Persisted between runs of
/// the live function; learnt from the start of the range offline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Known {
    pub regions: BTreeSet<(String, String)>,
    pub services: BTreeSet<(String, String)>,
}

/// An account's first call in a region or to a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct First {
    pub time: String,
    pub account: String,
    /// `region` or `service`.
    pub kind: String,
    pub key: String,
    pub principal: String,
    pub api: String,
}

/// The windows of `[from, to)`, `width` seconds each, over calls in event-time order (the
/// `activity` query's order). Only the open window is held whole, with the event ids seen in
/// it (a repeat has the same `eventTime`, so it falls in the same window); when a later window
/// starts, the open one is closed: cut to its top keys, its ids forgotten. Memory grows with
/// the number of windows, not with the calls.
pub struct Aggregator {
    from: Timestamp,
    to: Timestamp,
    width: i64,
    learn_until: Timestamp,
    known: Known,
    firsts: Vec<First>,
    /// The open window: its start, its counts, the event ids in it.
    open: Option<(i64, Window, HashSet<String>)>,
    closed: Vec<Window>,
    names: Names,
    /// Events counted, and those dropped as repeats, outside the range, or after their window
    /// was closed (input not in event-time order).
    pub counted: u64,
    pub repeated: u64,
    pub outside: u64,
    pub out_of_order: u64,
}

/// What the aggregation found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Activities {
    /// The windows that saw a call, in time order.
    pub windows: Vec<Window>,
    pub firsts: Vec<First>,
    pub known: Known,
}

impl Aggregator {
    /// Windows of `width` (a positive number of seconds) over `[from, to)`. Regions and
    /// services are learnt until `learn_until`; a first use after it is reported.
    pub fn new(from: Timestamp, to: Timestamp, width: i64, learn_until: Timestamp) -> Aggregator {
        Aggregator::with_known(from, to, width, learn_until, Known::default())
    }

    /// The same, starting from what is already known.
    pub fn with_known(from: Timestamp, to: Timestamp, width: i64, learn_until: Timestamp, known: Known) -> Aggregator {
        Aggregator {
            from,
            to,
            width: width.max(1),
            learn_until,
            known,
            firsts: Vec::new(),
            open: None,
            closed: Vec::new(),
            names: Names::default(),
            counted: 0,
            repeated: 0,
            outside: 0,
            out_of_order: 0,
        }
    }

    fn close(&mut self) {
        if let Some((start, w, _)) = self.open.take() {
            let (Ok(s), Ok(e)) = (Timestamp::from_second(start), Timestamp::from_second(start + self.width)) else {
                return;
            };
            self.closed.push(Window { start: text(s), end: text(e), ..w }.cut(&mut self.names));
        }
    }

    /// The start of `t`'s window, in seconds.
    pub fn window_of(&self, t: Timestamp) -> i64 {
        t.as_second().div_euclid(self.width) * self.width
    }

    pub fn add(&mut self, a: &Activity) {
        if a.time < self.from || a.time >= self.to {
            self.outside += 1;
            return;
        }
        let start = self.window_of(a.time);
        match &self.open {
            Some((open, _, _)) if start < *open => {
                self.out_of_order += 1;
                return;
            }
            Some((open, _, _)) if start == *open => {}
            _ => {
                self.close();
                self.open = Some((start, Window::default(), HashSet::new()));
            }
        }
        let Some((_, window, seen)) = self.open.as_mut() else { return };
        if !seen.insert(a.id.clone()) {
            self.repeated += 1;
            return;
        }
        self.counted += 1;
        window.count(a);
        let learning = a.time < self.learn_until;
        for (kind, key) in [("region", &a.region), ("service", &a.service)] {
            let set = if kind == "region" { &mut self.known.regions } else { &mut self.known.services };
            if set.insert((a.account.clone(), key.clone())) && !learning {
                self.firsts.push(First {
                    time: text(a.time),
                    account: a.account.clone(),
                    kind: kind.to_string(),
                    key: key.clone(),
                    principal: a.principal.clone(),
                    api: a.api.clone(),
                });
            }
        }
    }

    /// The windows, each with its bounds and its series cut to their top keys.
    pub fn finish(mut self) -> Activities {
        self.close();
        let mut firsts = self.firsts;
        firsts.sort_by(|a, b| (&a.time, &a.account, &a.kind, &a.key).cmp(&(&b.time, &b.account, &b.kind, &b.key)));
        Activities { windows: self.closed, firsts, known: self.known }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str, at: &str, api: &str, error: Option<&str>) -> Activity {
        Activity {
            id: id.into(),
            time: at.parse().unwrap(),
            account: "111111111111".into(),
            region: "us-east-1".into(),
            service: "ec2.amazonaws.com".into(),
            api: format!("ec2:{api}"),
            principal: "arn:aws:iam::111111111111:user/alice".into(),
            identity: "IAMUser".into(),
            ip: "198.51.100.7".into(),
            error: error.map(str::to_string),
            sign_in: None,
        }
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn calls_fall_into_their_own_event_time_window_once() {
        let (from, to) = (at("2025-06-12T09:00:00Z"), at("2025-06-12T10:00:00Z"));
        let mut agg = Aggregator::new(from, to, 60, from);
        agg.add(&call("a", "2025-06-12T09:00:59Z", "RunInstances", None));
        // The same event again (a redelivery: the same time, so next in the order).
        agg.add(&call("a", "2025-06-12T09:00:59Z", "RunInstances", None));
        agg.add(&call("b", "2025-06-12T09:01:00Z", "RunInstances", Some("Client.UnauthorizedOperation")));
        // One after its window was closed (the input out of order), one outside the range.
        agg.add(&call("z", "2025-06-12T09:00:30Z", "RunInstances", None));
        agg.add(&call("c", "2025-06-12T10:00:00Z", "RunInstances", None));
        assert_eq!((agg.counted, agg.repeated, agg.out_of_order, agg.outside), (2, 1, 1, 1));
        let w = agg.finish().windows;
        assert_eq!(w.len(), 2);
        assert_eq!(
            (w[0].start.as_str(), w[0].end.as_str(), w[0].total),
            ("2025-06-12T09:00:00Z", "2025-06-12T09:01:00Z", 1)
        );
        assert_eq!(w[1].errors, Counts::from([("Client.UnauthorizedOperation".into(), 1)]));
        assert_eq!(w[1].api_errors, Counts::from([("ec2:RunInstances".into(), 1)]));
        assert_eq!(w[1].denied_count(), 1);
        assert_eq!(w[1].by_api["ec2:RunInstances"], 1);
    }

    #[test]
    fn sign_ins_root_and_first_uses_after_the_learning_period() {
        let (from, to) = (at("2025-06-12T09:00:00Z"), at("2025-06-12T12:00:00Z"));
        let mut agg = Aggregator::new(from, to, 3600, at("2025-06-12T10:00:00Z"));
        agg.add(&call("a", "2025-06-12T09:10:00Z", "DescribeInstances", None));
        let mut login = call("b", "2025-06-12T10:30:00Z", "ConsoleLogin", None);
        (login.service, login.api, login.identity) =
            ("signin.amazonaws.com".into(), "signin:ConsoleLogin".into(), "Root".into());
        login.sign_in = Some("Failure".into());
        agg.add(&login);
        let mut away = call("c", "2025-06-12T11:00:00Z", "RunInstances", None);
        away.region = "ap-southeast-2".into();
        agg.add(&away);
        agg.add(&call("d", "2025-06-12T11:01:00Z", "DescribeInstances", None));
        let got = agg.finish();
        assert_eq!(got.windows[1].signins, SignIns { success: 0, failure: 1 });
        assert_eq!(got.windows[1].root, 1);
        let firsts: Vec<(&str, &str, &str)> =
            got.firsts.iter().map(|f| (f.time.as_str(), f.kind.as_str(), f.key.as_str())).collect();
        // ec2 in us-east-1 was learnt in the first hour; sign-in and ap-southeast-2 are new.
        assert_eq!(
            firsts,
            [
                ("2025-06-12T10:30:00Z", "service", "signin.amazonaws.com"),
                ("2025-06-12T11:00:00Z", "region", "ap-southeast-2")
            ]
        );
    }

    #[test]
    fn a_series_keeps_its_top_keys_and_sums_the_rest() {
        let m: Counts = (0..30).map(|i| (Arc::from(format!("k{i:02}")), 100 - i)).collect();
        let t = top(m);
        assert_eq!(t.len(), TOP + 1);
        assert_eq!(t["k00"], 100);
        assert!(!t.contains_key("k29"));
        assert_eq!(t[OTHER], (71..=80).sum::<u64>());
        assert_eq!(first_key(&t), Some(("k00", 100)));
    }
}
