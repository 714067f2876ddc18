//! The change summary's deterministic report (`--model none`, and what is left when a model
//! fails): the month's facts as text, in English or Japanese.

use std::fmt::Write as _;

use super::Language;
use crate::analysis::change_summary::{is_empty, Facts, Ranked};

/// The words of the report in one language.
struct Words {
    nothing: fn(&str) -> String,
    /// (month, change records, resources, baseline months)
    headline: fn(&str, i64, usize, &str) -> String,
    by_type: &'static str,
    by_account: &'static str,
    by_region: &'static str,
    most_changed: &'static str,
    /// (created, deleted)
    created_deleted: fn(usize, usize) -> String,
    new_types: &'static str,
    nothing_unusual: &'static str,
    unusual: &'static str,
    normally_quiet: &'static str,
}

const EN: Words = Words {
    nothing: |month| format!("{month}: no configuration changes were recorded."),
    headline: |month, changes, resources, baseline| {
        format!("{month}: {changes} change records on {resources} resources (baseline: {baseline})")
    },
    by_type: "\nBy resource type",
    by_account: "\nBy account",
    by_region: "\nBy region",
    most_changed: "\nMost changed resources",
    created_deleted: |c, d| format!("\nCreated: {c}  Deleted: {d}"),
    new_types: "Resource types seen for the first time: ",
    nothing_unusual: "\nNothing unusual against the baseline.",
    unusual: "\nUnusual",
    normally_quiet: "(normally quiet)",
};

const JA: Words = Words {
    nothing: |month| format!("{month}: 変更記録はありません。"),
    headline: |month, changes, resources, baseline| {
        format!("{month} の変更: {changes} 件の変更記録、{resources} リソース(比較対象: {baseline})")
    },
    by_type: "\nリソースタイプ別",
    by_account: "\nアカウント別",
    by_region: "\nリージョン別",
    most_changed: "\n最も変更の多いリソース",
    created_deleted: |c, d| format!("\n作成: {c} / 削除: {d}"),
    new_types: "初めて現れたタイプ: ",
    nothing_unusual: "\n通常と異なる点はありません。",
    unusual: "\n通常と異なる点",
    normally_quiet: "(普段は変更なし)",
};

fn words(language: Language) -> &'static Words {
    match language {
        Language::En => &EN,
        Language::Ja => &JA,
    }
}

fn list(o: &mut String, title: &str, r: &Ranked) {
    let _ = writeln!(o, "{title}");
    for c in &r.items {
        let _ = writeln!(o, "  {:>7}  {}", c.count, c.key);
    }
    if r.others > 0 {
        let _ = writeln!(o, "  {:>7}  ({} more)", r.others_count, r.others);
    }
}

/// The report of `f` in `language`.
pub fn text(f: &Facts, language: Language) -> String {
    let w = words(language);
    let mut o = String::new();
    if is_empty(f) {
        let _ = writeln!(o, "{}", (w.nothing)(&f.month));
        return o;
    }
    let baseline = f.baseline_months.join(", ");
    let _ = writeln!(o, "{}", (w.headline)(&f.month, f.total_changes, f.resources_changed, &baseline));
    list(&mut o, w.by_type, &f.by_type);
    list(&mut o, w.by_account, &f.by_account);
    list(&mut o, w.by_region, &f.by_region);
    let _ = writeln!(o, "{}", w.most_changed);
    for r in &f.most_changed {
        let name = if r.name.is_empty() { "-" } else { &r.name };
        let _ = writeln!(o, "  {:>7}  {} {name} ({} {})", r.count, r.resource_type, r.account, r.region);
    }
    let _ = writeln!(o, "{}", (w.created_deleted)(f.created.count, f.deleted.count));
    if !f.new_types.is_empty() {
        let _ = writeln!(o, "{}{}", w.new_types, f.new_types.join(", "));
    }
    if f.anomalies.is_empty() && f.normally_quiet.is_empty() {
        let _ = writeln!(o, "{}", w.nothing_unusual);
        return o;
    }
    let _ = writeln!(o, "{}", w.unusual);
    for a in &f.anomalies {
        let _ = writeln!(o, "  {} {}: {} (baseline {:?}; {})", a.dimension, a.key, a.count, a.baseline, a.reason);
    }
    for q in &f.normally_quiet {
        let _ = writeln!(o, "  {}: {} {}", q.key, q.count, w.normally_quiet);
    }
    o
}
