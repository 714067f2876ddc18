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

/// Lists in the facts are cut to this many entries (the rest is counted), so the facts — and
/// the prompt built from them — stay the same size however busy the month is.
pub const TOP: usize = 10;
/// Modified z-score beyond which a count is unusual.
pub const Z_THRESHOLD: f64 = 3.5;

/// One month's rows: `config-changes` (resourcetype, resourcename, awsaccountid, awsregion,
/// year, month, recordcount) and `config-lifecycle` (resourcetype, resourceid, resourcename,
/// awsaccountid, awsregion, status, capturetime).
#[derive(Debug, Clone, Default)]
pub struct Month {
    pub label: String,
    pub changes: Vec<Vec<Value>>,
    pub lifecycle: Vec<Vec<Value>>,
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

fn text(v: &Value) -> String {
    v.as_str().unwrap_or("").to_string()
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
    for r in &m.changes {
        let n = r.get(6).and_then(Value::as_i64).unwrap_or(0);
        for (i, col) in [0usize, 2, 3].iter().enumerate() {
            *out[i].entry(text(&r[*col])).or_default() += n;
        }
    }
    out
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn lifecycle(rows: &[&Vec<Value>]) -> Lifecycle {
    let mut by_type = BTreeMap::new();
    for r in rows {
        *by_type.entry(text(&r[0])).or_default() += 1;
    }
    let examples = rows
        .iter()
        .take(TOP)
        .map(|r| {
            serde_json::json!({
                "type": r[0], "id": r[1], "name": r[2], "account": r[3], "region": r[4], "time": r[6]
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
        .iter()
        .map(|r| Resource {
            resource_type: text(&r[0]),
            name: text(&r[1]),
            account: text(&r[2]),
            region: text(&r[3]),
            count: r.get(6).and_then(Value::as_i64).unwrap_or(0),
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
                let mut h: Vec<f64> = hist.iter().map(|&v| v as f64).collect();
                let med = median(&mut h);
                let mut dev: Vec<f64> = hist.iter().map(|&v| (v as f64 - med).abs()).collect();
                let mad = median(&mut dev);
                let (score, unusual, reason) = if mad > 0.0 {
                    let z = 0.6745 * (x as f64 - med) / mad;
                    (
                        Some((z * 100.0).round() / 100.0),
                        z.abs() > Z_THRESHOLD,
                        format!("modified z-score {z:.1} (|z| > {Z_THRESHOLD})"),
                    )
                } else {
                    let d = (x as f64 - med).abs();
                    (None, d >= med.max(5.0), format!("{x} against a flat baseline of {med}"))
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

    let created: Vec<&Vec<Value>> = target.lifecycle.iter().filter(|r| r[5] == "ResourceDiscovered").collect();
    let deleted: Vec<&Vec<Value>> = target.lifecycle.iter().filter(|r| r[5] != "ResourceDiscovered").collect();
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

/// The deterministic report (`--model none`, and the fallback when the model fails).
pub fn report(f: &Facts, language: &str) -> String {
    use std::fmt::Write as _;
    let ja = language == "ja";
    let mut o = String::new();
    let list = |o: &mut String, title: &str, r: &Ranked| {
        let _ = writeln!(o, "{title}");
        for c in &r.items {
            let _ = writeln!(o, "  {:>7}  {}", c.count, c.key);
        }
        if r.others > 0 {
            let _ = writeln!(o, "  {:>7}  ({} more)", r.others_count, r.others);
        }
    };
    if f.total_changes == 0 && f.created.count == 0 && f.deleted.count == 0 {
        let _ = writeln!(
            o,
            "{}",
            if ja {
                format!("{}: 変更記録はありません。", f.month)
            } else {
                format!("{}: no configuration changes were recorded.", f.month)
            }
        );
        return o;
    }
    let _ = writeln!(
        o,
        "{}",
        if ja {
            format!(
                "{} の変更: {} 件の変更記録、{} リソース(比較対象: {})",
                f.month,
                f.total_changes,
                f.resources_changed,
                f.baseline_months.join(", ")
            )
        } else {
            format!(
                "{}: {} change records on {} resources (baseline: {})",
                f.month,
                f.total_changes,
                f.resources_changed,
                f.baseline_months.join(", ")
            )
        }
    );
    list(&mut o, if ja { "\nリソースタイプ別" } else { "\nBy resource type" }, &f.by_type);
    list(&mut o, if ja { "\nアカウント別" } else { "\nBy account" }, &f.by_account);
    list(&mut o, if ja { "\nリージョン別" } else { "\nBy region" }, &f.by_region);
    let _ = writeln!(o, "{}", if ja { "\n最も変更の多いリソース" } else { "\nMost changed resources" });
    for r in &f.most_changed {
        let _ = writeln!(
            o,
            "  {:>7}  {} {} ({} {})",
            r.count,
            r.resource_type,
            if r.name.is_empty() { "-" } else { &r.name },
            r.account,
            r.region
        );
    }
    let _ = writeln!(
        o,
        "{}",
        if ja {
            format!("\n作成: {} / 削除: {}", f.created.count, f.deleted.count)
        } else {
            format!("\nCreated: {}  Deleted: {}", f.created.count, f.deleted.count)
        }
    );
    if !f.new_types.is_empty() {
        let _ = writeln!(
            o,
            "{}{}",
            if ja { "初めて現れたタイプ: " } else { "Resource types seen for the first time: " },
            f.new_types.join(", ")
        );
    }
    if f.anomalies.is_empty() && f.normally_quiet.is_empty() {
        let _ = writeln!(
            o,
            "{}",
            if ja { "\n通常と異なる点はありません。" } else { "\nNothing unusual against the baseline." }
        );
    } else {
        let _ = writeln!(o, "{}", if ja { "\n通常と異なる点" } else { "\nUnusual" });
        for a in &f.anomalies {
            let _ = writeln!(o, "  {} {}: {} (baseline {:?}; {})", a.dimension, a.key, a.count, a.baseline, a.reason);
        }
        for q in &f.normally_quiet {
            let _ =
                writeln!(o, "  {}: {} {}", q.key, q.count, if ja { "(普段は変更なし)" } else { "(normally quiet)" });
        }
    }
    o
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

/// (system, user) prompts for the facts in `language` (`en` or `ja`).
pub fn prompt(f: &Facts, language: &str) -> Result<(String, String), String> {
    let mut tera = tera::Tera::default();
    tera.add_raw_templates(PROMPTS.iter().map(|(n, t)| (*n, *t))).map_err(|e| e.to_string())?;
    let lang = if language == "ja" { "ja" } else { "en" };
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
        Month { label: label.into(), changes: rows, lifecycle: Vec::new() }
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
            let (s, u) = prompt(&f, "ja").unwrap();
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
