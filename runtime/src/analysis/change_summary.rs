//! Change summary facts: what changed in a month of AWS Config history, and what is unusual
//! against the months before. Every number is exact and comes from the `config-changes` and
//! `config-lifecycle` rows it was computed from; a model (if any) only narrates these facts.
//!
//! Unusual means a robust outlier: for each resource type, account and region, the month's
//! change count against its own baseline (the previous months) by the modified z-score
//! `0.6745 (x - median) / MAD` (Iglewicz and Hoaglin), flagged beyond 3.5. Median and MAD
//! are not dragged by one busy month the way mean and standard deviation are, and need no
//! distribution assumption. A flat baseline (MAD = 0) flags a departure of at least
//! max(5, median). An account or region with no changes in any baseline month that changes
//! now is reported as normally quiet.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use futures_util::StreamExt;

use super::robust;
use crate::lake::LakeLayout;
use crate::llm::{Model, Request};
use crate::query::{self, Answer, ParamError, Row, Via};
use crate::report::Language;
use crate::source::{Source, SourceError};

/// Lists in the facts are cut to this many entries (the rest is counted), so the facts — and
/// the prompt built from them — stay the same size however busy the month is.
pub const TOP: usize = 10;
pub use super::robust::Z_THRESHOLD;

/// One month's answers to `config-changes` (resourcetype, resourcename, awsaccountid,
/// awsregion, year, month, recordcount) and `config-lifecycle` (resourcetype, resourceid,
/// resourcename, awsaccountid, awsregion, status, capturetime), read by column name.
#[derive(Debug, Clone)]
pub struct Month {
    pub label: String,
    pub changes: Answer,
    pub lifecycle: Answer,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Count {
    pub key: String,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranked {
    pub items: Vec<Count>,
    /// Entries beyond the list, and their total.
    pub others: usize,
    pub others_count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resource {
    pub resource_type: String,
    pub name: String,
    pub account: String,
    pub region: String,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lifecycle {
    pub count: usize,
    pub by_type: Ranked,
    /// The first ones, by time.
    pub examples: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anomaly {
    /// `resource_type`, `account` or `region`.
    pub dimension: String,
    pub key: String,
    pub count: i64,
    pub baseline: Vec<i64>,
    pub median: f64,
    pub mad: f64,
    /// Modified z-score; `None` when the baseline is flat.
    pub score: Option<f64>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Facts {
    pub month: String,
    pub baseline_months: Vec<String>,
    pub total_changes: i64,
    pub resources_changed: usize,
    pub by_type: Ranked,
    pub by_account: Ranked,
    pub by_region: Ranked,
    pub most_changed: Vec<Resource>,
    pub created: Lifecycle,
    pub deleted: Lifecycle,
    pub new_types: Vec<String>,
    pub anomalies: Vec<Anomaly>,
    pub normally_quiet: Vec<Count>,
    pub method: String,
}

fn text(r: &Row, column: &str) -> String {
    r.str(column).unwrap_or("").to_string()
}

fn ranked(counts: &BTreeMap<String, i64>) -> Ranked {
    let mut all: Vec<Count> = counts.iter().map(|(k, c)| Count { key: k.clone(), count: *c }).collect();
    all.sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key)));
    let rest: Vec<Count> = all.split_off(all.len().min(TOP));
    Ranked { items: all, others: rest.len(), others_count: rest.iter().map(|c| c.count).sum() }
}

/// Totals per dimension of one month: (type, account, region) → count.
fn totals(m: &Month) -> [BTreeMap<String, i64>; 3] {
    let mut out: [BTreeMap<String, i64>; 3] = Default::default();
    for r in m.changes.records() {
        let n = r.int("recordcount");
        for (i, col) in ["resourcetype", "awsaccountid", "awsregion"].iter().enumerate() {
            *out[i].entry(text(&r, col)).or_default() += n;
        }
    }
    out
}

fn lifecycle(rows: &[Row]) -> Lifecycle {
    let mut by_type = BTreeMap::new();
    for r in rows {
        *by_type.entry(text(r, "resourcetype")).or_default() += 1;
    }
    let examples = rows
        .iter()
        .take(TOP)
        .map(|r| {
            serde_json::json!({
                "type": r.get("resourcetype"), "id": r.get("resourceid"), "name": r.get("resourcename"),
                "account": r.get("awsaccountid"), "region": r.get("awsregion"), "time": r.get("capturetime")
            })
        })
        .collect();
    Lifecycle { count: rows.len(), by_type: ranked(&by_type), examples }
}

/// Computes the facts of `target` against `baseline` (older months, any order).
pub fn facts(target: &Month, baseline: &[Month]) -> Facts {
    let [types, accounts, regions] = totals(target);
    let base: Vec<[BTreeMap<String, i64>; 3]> = baseline.iter().map(totals).collect();

    let mut resources: Vec<Resource> = target
        .changes
        .records()
        .map(|r| Resource {
            resource_type: text(&r, "resourcetype"),
            name: text(&r, "resourcename"),
            account: text(&r, "awsaccountid"),
            region: text(&r, "awsregion"),
            count: r.int("recordcount"),
        })
        .collect();
    resources.sort_by(|a, b| {
        b.count.cmp(&a.count).then_with(|| {
            (&a.resource_type, &a.name, &a.account, &a.region).cmp(&(&b.resource_type, &b.name, &b.account, &b.region))
        })
    });
    let resources_changed = resources.len();
    resources.truncate(TOP);

    let seen_before: BTreeSet<&String> = base.iter().flat_map(|b| b[0].keys()).collect();
    let new_types: Vec<String> = if baseline.is_empty() {
        Vec::new()
    } else {
        types.keys().filter(|t| !seen_before.contains(t)).cloned().collect()
    };

    let mut anomalies = Vec::new();
    let mut quiet = Vec::new();
    if !baseline.is_empty() {
        for (dim, name, now) in [(0, "resource_type", &types), (1, "account", &accounts), (2, "region", &regions)] {
            let keys: BTreeSet<&String> = now.keys().chain(base.iter().flat_map(|b| b[dim].keys())).collect();
            for key in keys {
                let x = now.get(key).copied().unwrap_or(0);
                let hist: Vec<i64> = base.iter().map(|b| b[dim].get(key).copied().unwrap_or(0)).collect();
                let h: Vec<f64> = hist.iter().map(|&v| v as f64).collect();
                let d = robust::departure(x as f64, &h, 5.0);
                let (med, mad, score, unusual) = (d.median, d.mad, d.score, d.unusual);
                let reason = match d.z {
                    Some(z) => format!("modified z-score {z:.1} (|z| > {Z_THRESHOLD})"),
                    None => format!("{x} against a flat baseline of {med}"),
                };
                if dim > 0 && x > 0 && hist.iter().all(|&v| v == 0) {
                    quiet.push(Count { key: format!("{name} {key}"), count: x });
                    continue;
                }
                if unusual {
                    anomalies.push(Anomaly {
                        dimension: name.into(),
                        key: key.clone(),
                        count: x,
                        baseline: hist,
                        median: med,
                        mad,
                        score,
                        reason,
                    });
                }
            }
        }
    }
    anomalies.sort_by(|a, b| {
        let s = |x: &Anomaly| x.score.map_or(f64::INFINITY, f64::abs);
        s(b).total_cmp(&s(a)).then_with(|| (&a.dimension, &a.key).cmp(&(&b.dimension, &b.key)))
    });
    anomalies.truncate(TOP);

    let discovered = |r: &Row| r.str("status") == Some("ResourceDiscovered");
    let created: Vec<Row> = target.lifecycle.records().filter(|r| discovered(r)).collect();
    let deleted: Vec<Row> = target.lifecycle.records().filter(|r| !discovered(r)).collect();
    Facts {
        month: target.label.clone(),
        baseline_months: baseline.iter().map(|m| m.label.clone()).collect(),
        total_changes: types.values().sum(),
        resources_changed,
        by_type: ranked(&types),
        by_account: ranked(&accounts),
        by_region: ranked(&regions),
        most_changed: resources,
        created: lifecycle(&created),
        deleted: lifecycle(&deleted),
        new_types,
        anomalies,
        normally_quiet: quiet,
        method: format!("modified z-score 0.6745(x-median)/MAD over the baseline months, unusual beyond {Z_THRESHOLD}; flat baselines flag a change of at least max(5, median)"),
    }
}

/// The months a summary reads: the target and up to `baseline` before it, not before the
/// projection starts (`start` is (year, month)).
pub fn months_to_read(start: (i32, i32), year: i32, month: i32, baseline: i32) -> Vec<(i32, i32)> {
    let mut months = Vec::new();
    let (mut y, mut m) = (year, month);
    for i in 0..=baseline {
        if i > 0 && (y, m) < start {
            break;
        }
        months.push((y, m));
        (y, m) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
    }
    months
}

/// True when the month has nothing to narrate (no model call is made).
pub fn is_empty(f: &Facts) -> bool {
    f.total_changes == 0 && f.created.count == 0 && f.deleted.count == 0
}

/// Months of baseline before the target month.
pub const BASELINE_MONTHS: i32 = 6;
/// Queries in flight at once: Athena runs them side by side; a mirror reads one after another.
pub const CONCURRENT_QUERIES: usize = 4;

/// What to summarise: a month, optionally of one account or region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub year: i32,
    pub month: i32,
    pub account: Option<String>,
    pub region: Option<String>,
}

impl Scope {
    /// Validates a request the way `config-changes` validates its parameters (year 2000-2100,
    /// month 1-12, an account and a region of the spec).
    pub fn new(
        year: &str,
        month: &str,
        account: Option<&str>,
        region: Option<&str>,
        layout: &LakeLayout,
    ) -> Result<Scope, ParamError> {
        let q = query::find_or_explain("config-changes")?;
        let p = query::validate(q, &pairs(year, month, account, region), layout)?;
        Ok(Scope {
            year: p.int("year").unwrap_or_default() as i32,
            month: p.int("month").unwrap_or_default() as i32,
            account: p.str("account").map(str::to_string),
            region: p.str("region").map(str::to_string),
        })
    }

    fn pairs(&self, year: i32, month: i32) -> Vec<(String, String)> {
        pairs(&year.to_string(), &month.to_string(), self.account.as_deref(), self.region.as_deref())
    }
}

/// The `config-changes` / `config-lifecycle` parameters of one month.
fn pairs(year: &str, month: &str, account: Option<&str>, region: Option<&str>) -> Vec<(String, String)> {
    let mut pairs = vec![("year".to_string(), year.to_string()), ("month".to_string(), month.to_string())];
    pairs.extend(account.map(|a| ("account".to_string(), a.to_string())));
    pairs.extend(region.map(|r| ("region".to_string(), r.to_string())));
    pairs
}

/// The facts of a month and what reading them took.
#[derive(Debug)]
pub struct Gathered {
    pub facts: Facts,
    /// Athena query execution ids, in the order the queries were asked.
    pub query_ids: Vec<String>,
    pub bytes_scanned: u64,
    /// What Athena bills for them (0 for a mirror).
    pub cost_usd: f64,
    /// The first query that failed; the facts are then those of the queries that answered.
    pub failure: Option<SourceError>,
}

/// Reads `config-changes` and `config-lifecycle` for the month and up to [`BASELINE_MONTHS`]
/// before it (not before the projection starts), [`CONCURRENT_QUERIES`] at a time, and
/// computes the facts.
pub async fn gather(source: &Source, layout: &LakeLayout, scope: &Scope) -> Gathered {
    let start = (i32::from(layout.start.year()), i32::from(layout.start.month()));
    let months = months_to_read(start, scope.year, scope.month, BASELINE_MONTHS);
    let asks: Vec<_> = months
        .iter()
        .flat_map(|&(y, m)| ["config-changes", "config-lifecycle"].map(|q| (q, scope.pairs(y, m))))
        .collect();
    let answers: Vec<Result<Answer, SourceError>> = futures_util::stream::iter(asks)
        .map(|(q, pairs)| async move { source.ask(q, &pairs, layout).await })
        .buffered(CONCURRENT_QUERIES)
        .collect()
        .await;
    let (mut query_ids, mut bytes_scanned, mut cost_usd, mut failure) = (Vec::new(), 0u64, 0.0, None);
    let mut answered = |q: &str, a: Result<Answer, SourceError>| match a {
        Ok(a) => {
            if let Via::Athena { query_id, estimated_cost_usd, .. } = &a.via {
                query_ids.push(query_id.clone());
                cost_usd += estimated_cost_usd;
            }
            bytes_scanned += a.stats.bytes_scanned;
            a
        }
        Err(e) => {
            failure.get_or_insert(e);
            Answer::of(query::find(q).expect("catalogued"), Vec::new())
        }
    };
    let mut answers = answers.into_iter();
    let mut read = Vec::new();
    for (y, m) in months {
        let changes = answered("config-changes", answers.next().unwrap_or_else(|| Ok(Answer::default())));
        let lifecycle = answered("config-lifecycle", answers.next().unwrap_or_else(|| Ok(Answer::default())));
        read.push(Month { label: format!("{y}-{m:02}"), changes, lifecycle });
    }
    let target = read.remove(0);
    Gathered { facts: facts(&target, &read), query_ids, bytes_scanned, cost_usd, failure }
}

/// How a summary was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// The model's narrative, or the deterministic report when no model was asked.
    Succeeded,
    /// The model failed: the deterministic report, with the model's error.
    Fallback,
}

/// What the model used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub stop_reason: String,
}

/// A month's summary in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Narrated {
    pub status: Status,
    pub summary: String,
    pub model_error: Option<String>,
    pub usage: Option<Usage>,
}

/// The summary of `facts` in `language`: the model's narrative of them, or the deterministic
/// report when there is no model, nothing to narrate (no call is made) or the model failed.
/// `Err` only when a prompt template cannot be rendered.
pub async fn narrate(
    facts: &Facts,
    language: Language,
    model: &dyn Model,
    max_tokens: u32,
) -> Result<Narrated, String> {
    let report = crate::report::change_summary::text(facts, language);
    let deterministic = Narrated { status: Status::Succeeded, summary: report.clone(), model_error: None, usage: None };
    if is_empty(facts) {
        return Ok(deterministic);
    }
    let (system, user) = prompt(facts, language).map_err(|e| format!("prompt template: {e}"))?;
    Ok(match model.complete(&Request { system, user, max_tokens }).await {
        None => deterministic,
        Some(Ok(c)) => Narrated {
            status: Status::Succeeded,
            summary: c.text,
            model_error: None,
            usage: Some(Usage {
                input_tokens: c.input_tokens,
                output_tokens: c.output_tokens,
                stop_reason: c.stop_reason,
            }),
        },
        Some(Err(e)) => Narrated { status: Status::Fallback, summary: report, model_error: Some(e.0), usage: None },
    })
}

/// Prompt templates (Tera), by language; the user prompt carries the facts as compact JSON.
pub const PROMPTS: &[(&str, &str)] = &[
    ("change-summary.system.en", include_str!("../../../templates/prompts/change-summary.system.en.tera")),
    ("change-summary.system.ja", include_str!("../../../templates/prompts/change-summary.system.ja.tera")),
    ("change-summary.user", include_str!("../../../templates/prompts/change-summary.user.tera")),
];

/// Prompt size is bounded: the facts are capped lists, so this holds for any month.
pub const PROMPT_TOKEN_BUDGET: usize = 6_000;

/// A conservative token estimate: one token per 3 bytes (English runs ~4 bytes a token;
/// Japanese ~3 bytes a character and ~1 token a character).
pub fn estimate_tokens(text: &str) -> usize {
    text.len().div_ceil(3)
}

/// (system, user) prompts for the facts in `language`.
pub fn prompt(f: &Facts, language: Language) -> Result<(String, String), String> {
    let mut tera = tera::Tera::default();
    tera.add_raw_templates(PROMPTS.iter().map(|(n, t)| (*n, *t))).map_err(|e| e.to_string())?;
    let lang = language.as_str();
    let mut ctx = tera::Context::new();
    ctx.insert("month", &f.month);
    ctx.insert("facts", &serde_json::to_string(f).map_err(|e| e.to_string())?);
    let system = tera.render(&format!("change-summary.system.{lang}"), &ctx).map_err(|e| e.to_string())?;
    let user = tera.render("change-summary.user", &ctx).map_err(|e| e.to_string())?;
    Ok((system, user))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(t: &str, name: &str, acct: &str, region: &str, n: i64) -> Vec<Value> {
        vec![json!(t), json!(name), json!(acct), json!(region), json!(2025), json!(1), json!(n)]
    }

    fn month(label: &str, rows: Vec<Vec<Value>>) -> Month {
        let q = |name| query::find(name).unwrap();
        Month {
            label: label.into(),
            changes: Answer::of(q("config-changes"), rows),
            lifecycle: Answer::of(q("config-lifecycle"), vec![]),
        }
    }

    fn report(f: &Facts, language: &str) -> String {
        crate::report::change_summary::text(f, language.parse().unwrap())
    }

    #[test]
    fn a_spike_against_a_steady_baseline_is_unusual_and_a_quiet_region_is_reported() {
        let base: Vec<Month> = [10, 12, 11, 9, 10, 11]
            .iter()
            .enumerate()
            .map(|(i, n)| {
                month(&format!("2025-0{}", i + 1), vec![change("AWS::EC2::Instance", "web", "1", "us-east-1", *n)])
            })
            .collect();
        let now = month(
            "2025-07",
            vec![
                change("AWS::EC2::Instance", "web", "1", "us-east-1", 60),
                change("AWS::IAM::Role", "r", "1", "eu-west-1", 2),
            ],
        );
        let f = facts(&now, &base);
        assert_eq!(f.total_changes, 62);
        assert_eq!(f.new_types, vec!["AWS::IAM::Role".to_string()]);
        let a = f
            .anomalies
            .iter()
            .find(|a| a.dimension == "resource_type" && a.key == "AWS::EC2::Instance")
            .expect("spike flagged");
        // baseline [9,10,10,11,11,12]: median 10.5; deviations [.5,.5,.5,.5,1.5,1.5]: MAD 0.5;
        // z = 0.6745 * (60 - 10.5) / 0.5 = 66.78
        assert_eq!(a.median, 10.5);
        assert_eq!(a.mad, 0.5);
        assert_eq!(a.score, Some(66.78));
        assert!(f.normally_quiet.iter().any(|q| q.key == "region eu-west-1"));
        let text = report(&f, "en");
        assert!(text.contains("62 change records") && text.contains("normally quiet"), "{text}");
    }

    #[test]
    fn an_ordinary_month_has_no_anomalies_and_an_empty_month_says_so() {
        let base: Vec<Month> =
            [10, 12, 11, 9].iter().map(|n| month("b", vec![change("T", "x", "1", "r", *n)])).collect();
        let f = facts(&month("now", vec![change("T", "x", "1", "r", 12)]), &base);
        assert!(f.anomalies.is_empty() && f.normally_quiet.is_empty(), "{:?}", f.anomalies);
        let empty = facts(&month("2025-08", vec![]), &base);
        assert!(report(&empty, "en").contains("no configuration changes"));
        assert!(report(&empty, "ja").contains("変更記録はありません"));
    }

    #[test]
    fn the_prompt_stays_under_its_budget_at_any_size() {
        let prompt_tokens = |n: usize| {
            let rows: Vec<Vec<Value>> = (0..n)
                .map(|i| {
                    change(
                        &format!("AWS::Service{}::Type{}", i % 97, i % 13),
                        &format!("resource-{i:08}"),
                        &format!("{:012}", i % 200),
                        "ap-northeast-1",
                        1 + (i % 7) as i64,
                    )
                })
                .collect();
            let base = vec![
                month("b1", rows.iter().take(n / 2).cloned().collect()),
                month("b2", rows.iter().take(n / 3).cloned().collect()),
            ];
            let f = facts(&month("m", rows), &base);
            let (s, u) = prompt(&f, Language::Ja).unwrap();
            estimate_tokens(&s) + estimate_tokens(&u)
        };
        let sizes: Vec<usize> = [100, 10_000, 100_000].iter().map(|&n| prompt_tokens(n)).collect();
        assert!(sizes.iter().all(|&t| t <= PROMPT_TOKEN_BUDGET), "{sizes:?}");
        assert!(sizes[2] <= sizes[1] + sizes[1] / 10, "prompt grew with the data: {sizes:?}");
    }

    #[test]
    fn the_facts_do_not_grow_with_the_data() {
        let size = |n: usize| {
            let rows: Vec<Vec<Value>> = (0..n)
                .map(|i| {
                    change(
                        &format!("AWS::T{}", i % 500),
                        &format!("r{i}"),
                        &format!("{:012}", i % 50),
                        "us-east-1",
                        1 + (i % 7) as i64,
                    )
                })
                .collect();
            serde_json::to_string(&facts(&month("m", rows), &[])).unwrap().len()
        };
        let (small, large) = (size(1_000), size(100_000));
        assert!(large <= small + small / 5, "facts grew from {small} to {large} bytes");
    }
}
