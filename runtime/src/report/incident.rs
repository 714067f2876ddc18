//! A failure analysis for people: summary, hypotheses with their evidence, the timeline, each
//! source's evidence and what was not available — in English or Japanese. Plain text for a
//! terminal, Markdown for a ticket or a chat thread; the same words either way. Times are
//! written in the reader's zone with their offset (`2025-06-12 18:40:00 +09:00`), or in UTC
//! with their `Z`. The analysis holds data (causes, evidence details); every word is here.

use std::fmt::Write;

use jiff::tz::TimeZone;
use serde_json::{json, Value};

use super::Language;
use crate::analysis::incident::{Analysis, Cause, Confidence, Detail, SourceStatus, TOP};

/// Text or Markdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Text,
    Markdown,
}

/// The words of the report in one language.
struct Words {
    title: &'static str,
    summary: &'static str,
    /// (from, to, zone)
    window: fn(&str, &str, &str) -> String,
    onset: fn(&str) -> String,
    no_onset: fn(&str) -> String,
    by_model: fn(&str) -> String,
    by_code: &'static str,
    most_likely: fn(&str, &str) -> String,
    no_hypothesis: &'static str,
    hypotheses: &'static str,
    evidence: &'static str,
    next: &'static str,
    none: &'static str,
    timeline: &'static str,
    nothing: &'static str,
    per_minute: &'static str,
    per_minute_head: &'static str,
    onset_mark: &'static str,
    changes: &'static str,
    no_changes: &'static str,
    signatures: &'static str,
    urls: &'static str,
    metrics: &'static str,
    sources: &'static str,
    confidence_word: &'static str,
    confidence: fn(Confidence) -> &'static str,
    status: fn(SourceStatus) -> &'static str,
    cause: fn(&Cause) -> String,
    checks: fn(&Cause) -> Vec<String>,
    detail: fn(&Detail) -> String,
}

fn targets(t: &[String]) -> String {
    if t.is_empty() {
        "-".into()
    } else {
        t.join(", ")
    }
}

const EN: Words = Words {
    title: "Failure analysis",
    summary: "Summary",
    window: |from, to, zone| format!("Window: {from} to {to} ({zone})."),
    onset: |o| format!("Errors began at {o}."),
    no_onset: |why| format!("No onset: {why}."),
    by_model: |m| format!("Hypotheses ranked by {m} from the evidence below."),
    by_code: "Hypotheses ranked by the code (changes scored by category, proximity and shared names).",
    most_likely: |t, c| format!("Most likely: {t} ({c} confidence)."),
    no_hypothesis: "No hypothesis: nothing in the window explains a failure.",
    hypotheses: "Hypotheses",
    evidence: "evidence",
    next: "next",
    none: "none",
    timeline: "Timeline",
    nothing: "nothing in the window",
    per_minute: "Errors per minute",
    per_minute_head: "minute                 alb_5xx  log_errors  requests",
    onset_mark: "  ← onset",
    changes: "Changes before the onset",
    no_changes: "none in the look-back",
    signatures: "Error signatures",
    urls: "URLs answered with 5xx",
    metrics: "Metrics that left their baseline",
    sources: "Sources",
    confidence_word: "confidence",
    confidence: |c| match c {
        Confidence::High => "high",
        Confidence::Medium => "medium",
        Confidence::Low => "low",
    },
    status: |s| match s {
        SourceStatus::Ok => "ok",
        SourceStatus::Empty => "empty",
        SourceStatus::Failed => "FAILED",
        SourceStatus::Unavailable => "unavailable",
    },
    cause: |c| {
        match c {
        Cause::Change { category, event, targets: t, minutes_before_onset: m, shared_names, .. } => {
            let when = if *m >= 0.0 {
                format!("{m} min before the errors began")
            } else {
                format!("{} min after the errors began", -m)
            };
            let shared =
                if shared_names.is_empty() { String::new() } else { format!("; the errors name {}", shared_names.join(", ")) };
            let on = if t.is_empty() { String::new() } else { format!(" on {}", t.join(", ")) };
            format!("{} change {event}{on}, {when}{shared}", category.as_str())
        }
        Cause::TargetsUnreachable { responses_missing } => format!(
            "the load balancer got no response from its targets ({responses_missing} 5xx without one): targets down, overloaded or unreachable"
        ),
        Cause::TargetErrors { count } => {
            format!("the targets themselves answered 5xx ({count}): an application or dependency failure")
        }
        Cause::NewError { signature, log_groups, .. } => {
            format!("a new error appeared at the onset in {}: {signature}", log_groups.join(", "))
        }
        Cause::TraceRootCause { service, exception, traces, .. } => format!(
            "X-Ray places the root cause of {traces} failed traces in {service}{}",
            exception.as_deref().map(|e| format!(" ({e})")).unwrap_or_default()
        ),
        Cause::Model { title, .. } => title.clone(),
    }
    },
    checks: |c| match c {
        Cause::Change { category, time, targets: t, actor, .. } => {
            let t = t.first().map(String::as_str).unwrap_or("the resource");
            use crate::analysis::incident::changes::Category as C;
            let mut v = match category {
                C::Network => vec![
                    format!("compare {t}'s rules before and after {time} (AWS Config history, the event's requestParameters)"),
                    "check whether the failing targets still reach their dependencies (VPC Reachability Analyzer, flow logs)".into(),
                ],
                C::Deploy => vec![
                    format!("compare the deployed version of {t} with the previous one; roll back if the errors match"),
                    "check the new version's own logs from its first invocation".into(),
                ],
                C::Iam => vec![format!("simulate the failing principal's calls against the changed policy of {t} (IAM policy simulator)")],
                C::Parameters => vec![format!("compare the value of {t} before and after the change")],
                C::Scaling => vec![format!("check the capacity of {t} against the traffic (desired vs running)")],
                C::DataStore => vec![format!("check {t}'s status and events (failover, reboot, parameter changes)")],
                C::OtherWrite | C::FailedCall => vec![format!("check what the call changed on {t}")],
            };
            v.extend(actor.iter().map(|a| format!("ask {a} what the change was for")));
            v
        }
        Cause::TargetsUnreachable { .. } | Cause::TargetErrors { .. } => {
            vec!["check the target group's health checks and the targets' own logs".into()]
        }
        Cause::NewError { first_seen, first_event, .. } => {
            vec![format!("read the events around {first_seen} ({first_event})")]
        }
        Cause::TraceRootCause { service, first_seen, .. } => {
            vec![format!(
                "open the traces of {service} from {first_seen} in the X-Ray console and read the faulting segment"
            )]
        }
        Cause::Model { next_checks, .. } => next_checks.clone(),
    },
    detail: |d| match d {
        Detail::Alb { requests, elb_5xx, target_5xx, no_target } => format!(
            "{elb_5xx} 5xx of {requests} requests ({target_5xx} from targets, {no_target} without a target response)"
        ),
        Detail::Signature { signature, before, during, first_event } => {
            format!("{signature} ({before} before the onset, {during} from it; first: {first_event})")
        }
        Detail::Trace { service, exception, traces, faults, first_trace } => format!(
            "{traces} failed traces ({faults} faults) with their root cause in {service}{}; first: {first_trace}",
            exception.as_deref().map(|e| format!(" ({e})")).unwrap_or_default()
        ),
        Detail::Metric { namespace, metric, dimensions, value, baseline_median } => {
            format!("{namespace} {metric} {dimensions}: {value} (baseline median {baseline_median})")
        }
        Detail::Change { category, event, actor, targets: t, error } => format!(
            "{category} {event} by {}{}{}",
            actor.as_deref().unwrap_or("?"),
            if t.is_empty() { String::new() } else { format!(" on {t}") },
            error.as_deref().map(|e| format!(" → {e}")).unwrap_or_default()
        ),
        Detail::Config { resource_type, resource_id, resource_name, status, related } => format!(
            "{resource_type} {resource_id}{} ({status}){}",
            resource_name.as_deref().map(|n| format!(" \"{n}\"")).unwrap_or_default(),
            if related.is_empty() { String::new() } else { format!(" after {}", related.join(", ")) }
        ),
    },
};

const JA: Words = Words {
    title: "障害分析",
    summary: "概要",
    window: |from, to, zone| format!("対象期間: {from} 〜 {to}({zone})"),
    onset: |o| format!("エラーの開始: {o}"),
    no_onset: |why| format!("開始時刻は特定できません: {why}"),
    by_model: |m| format!("仮説の順位付け: {m}(以下の証拠に基づく)"),
    by_code: "仮説の順位付け: コード(変更の種類・時間的な近さ・名前の一致で採点)",
    most_likely: |t, c| format!("最も可能性が高い原因: {t}(確度: {c})"),
    no_hypothesis: "仮説なし: 期間内に障害を説明するものはありません。",
    hypotheses: "仮説",
    evidence: "証拠",
    next: "確認",
    none: "なし",
    timeline: "タイムライン",
    nothing: "期間内には何もありません",
    per_minute: "1 分ごとのエラー",
    per_minute_head: "分                     alb_5xx  log_errors  requests",
    onset_mark: "  ← 開始",
    changes: "開始前の変更",
    no_changes: "遡及期間内に変更はありません",
    signatures: "エラーシグネチャ",
    urls: "5xx を返した URL",
    metrics: "ベースラインから外れたメトリクス",
    sources: "データソース",
    confidence_word: "確度",
    confidence: |c| match c {
        Confidence::High => "高",
        Confidence::Medium => "中",
        Confidence::Low => "低",
    },
    status: |s| match s {
        SourceStatus::Ok => "ok",
        SourceStatus::Empty => "データなし",
        SourceStatus::Failed => "失敗",
        SourceStatus::Unavailable => "利用不可",
    },
    cause: |c| {
        match c {
        Cause::Change { category, event, targets: t, minutes_before_onset: m, shared_names, .. } => {
            let when = if *m >= 0.0 { format!("エラー開始の {m} 分前") } else { format!("エラー開始の {} 分後", -m) };
            let shared = if shared_names.is_empty() {
                String::new()
            } else {
                format!("。エラー側にも {} の名前があります", shared_names.join(", "))
            };
            format!("{when}の {} 変更 {event}(対象: {}){shared}", category.as_str(), targets(t))
        }
        Cause::TargetsUnreachable { responses_missing } => format!(
            "ロードバランサーがターゲットから応答を得られませんでした(応答なしの 5xx: {responses_missing} 件)。ターゲットの停止・過負荷・到達不能"
        ),
        Cause::TargetErrors { count } => {
            format!("ターゲット自身が 5xx を返しました({count} 件)。アプリケーションまたは依存先の障害")
        }
        Cause::NewError { signature, log_groups, .. } => {
            format!("エラー開始と同時に {} に新しいエラーが現れました: {signature}", log_groups.join(", "))
        }
        Cause::TraceRootCause { service, exception, traces, .. } => format!(
            "X-Ray は失敗したトレース {traces} 件の根本原因を {service}{} としています",
            exception.as_deref().map(|e| format!("({e})")).unwrap_or_default()
        ),
        Cause::Model { title, .. } => title.clone(),
    }
    },
    checks: |c| match c {
        Cause::Change { category, time, targets: t, actor, .. } => {
            let t = t.first().map(String::as_str).unwrap_or("対象リソース");
            use crate::analysis::incident::changes::Category as C;
            let mut v = match category {
                C::Network => vec![
                    format!("{time} の前後で {t} のルールを比較する(AWS Config の履歴、イベントの requestParameters)"),
                    "失敗しているターゲットが依存先に到達できるか確認する(VPC Reachability Analyzer、フローログ)"
                        .into(),
                ],
                C::Deploy => vec![
                    format!(
                        "{t} のデプロイされたバージョンを前のバージョンと比較し、エラーが一致すればロールバックする"
                    ),
                    "新しいバージョンの最初の実行からのログを確認する".into(),
                ],
                C::Iam => {
                    vec![format!("失敗しているプリンシパルの呼び出しを、変更された {t} のポリシーでシミュレートする")]
                }
                C::Parameters => vec![format!("変更前後の {t} の値を比較する")],
                C::Scaling => vec![format!("{t} のキャパシティをトラフィックと比較する(希望数と実行数)")],
                C::DataStore => {
                    vec![format!("{t} の状態とイベントを確認する(フェイルオーバー、再起動、パラメータ変更)")]
                }
                C::OtherWrite | C::FailedCall => vec![format!("この呼び出しが {t} に何を変更したか確認する")],
            };
            v.extend(actor.iter().map(|a| format!("変更の目的を {a} に確認する")));
            v
        }
        Cause::TargetsUnreachable { .. } | Cause::TargetErrors { .. } => {
            vec!["ターゲットグループのヘルスチェックとターゲット自身のログを確認する".into()]
        }
        Cause::NewError { first_seen, first_event, .. } => {
            vec![format!("{first_seen} 前後のイベントを読む({first_event})")]
        }
        Cause::TraceRootCause { service, first_seen, .. } => {
            vec![format!(
                "X-Ray コンソールで {first_seen} 以降の {service} のトレースを開き、障害のあるセグメントを読む"
            )]
        }
        Cause::Model { next_checks, .. } => next_checks.clone(),
    },
    detail: |d| {
        match d {
        Detail::Alb { requests, elb_5xx, target_5xx, no_target } => format!(
            "リクエスト {requests} 件中 5xx が {elb_5xx} 件(ターゲットから {target_5xx} 件、ターゲット応答なし {no_target} 件)"
        ),
        Detail::Signature { signature, before, during, first_event } => {
            format!("{signature}(開始前 {before} 件、開始後 {during} 件。最初: {first_event})")
        }
        Detail::Trace { service, exception, traces, faults, first_trace } => format!(
            "根本原因が {service}{} にある失敗トレース {traces} 件(フォールト {faults} 件)。最初: {first_trace}",
            exception.as_deref().map(|e| format!("({e})")).unwrap_or_default()
        ),
        Detail::Metric { namespace, metric, dimensions, value, baseline_median } => {
            format!("{namespace} {metric} {dimensions}: {value}(ベースラインの中央値 {baseline_median})")
        }
        Detail::Change { category, event, actor, targets: t, error } => format!(
            "{category} {event}(実行者: {}{}{})",
            actor.as_deref().unwrap_or("?"),
            if t.is_empty() { String::new() } else { format!("、対象: {t}") },
            error.as_deref().map(|e| format!("、エラー: {e}")).unwrap_or_default()
        ),
        Detail::Config { resource_type, resource_id, resource_name, status, related } => format!(
            "{resource_type} {resource_id}{}({status}){}",
            resource_name.as_deref().map(|n| format!(" \"{n}\"")).unwrap_or_default(),
            if related.is_empty() { String::new() } else { format!(" 関連イベント: {}", related.join(", ")) }
        ),
    }
    },
};

fn words(language: Language) -> &'static Words {
    match language {
        Language::En => &EN,
        Language::Ja => &JA,
    }
}

/// What a hypothesis says, in `language`.
pub fn title(c: &Cause, language: Language) -> String {
    (words(language).cause)(c)
}

/// The checks that would confirm or refute a hypothesis, in `language`.
pub fn next_checks(c: &Cause, language: Language) -> Vec<String> {
    (words(language).checks)(c)
}

/// What an evidence item records, in `language`.
pub fn summary(d: &Detail, language: Language) -> String {
    (words(language).detail)(d)
}

/// The analysis as JSON for scripts and tools: the data, each hypothesis with its `title` and
/// `next_checks`, each timeline item with its `summary`, in `language`.
pub fn json(a: &Analysis, language: Language) -> Value {
    let mut v = serde_json::to_value(a).unwrap_or(Value::Null);
    if let Some(hs) = v["hypotheses"].as_array_mut() {
        for (h, data) in hs.iter_mut().zip(&a.hypotheses) {
            h["title"] = json!(title(&data.cause, language));
            h["next_checks"] = json!(next_checks(&data.cause, language));
        }
    }
    if let Some(items) = v["timeline"].as_array_mut() {
        for (e, data) in items.iter_mut().zip(&a.timeline) {
            e["summary"] = json!(summary(&data.detail, language));
        }
    }
    v
}

fn heading(out: &mut String, style: Style, title: &str) {
    match style {
        Style::Markdown => {
            let _ = writeln!(out, "\n## {title}\n");
        }
        Style::Text => {
            let _ = writeln!(out, "\n{title}\n{}", "-".repeat(title.chars().count()));
        }
    }
}

fn code(style: Style, s: &str) -> String {
    match style {
        Style::Markdown => format!("`{}`", s.replace('`', "'")),
        Style::Text => s.to_string(),
    }
}

/// A UTC time (RFC 3339, as the analysis holds it) in `tz`, with its offset; as given in UTC.
fn at(t: &str, tz: &TimeZone) -> String {
    if *tz == TimeZone::UTC {
        return t.to_string();
    }
    match t.parse::<jiff::Timestamp>() {
        Ok(ts) => ts.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M:%S %:z").to_string(),
        Err(_) => t.to_string(),
    }
}

/// The whole report in `language`, times in `tz`.
pub fn render(a: &Analysis, style: Style, tz: &TimeZone, language: Language) -> String {
    let w = words(language);
    let mut out = String::new();
    match style {
        Style::Markdown => {
            let _ = writeln!(out, "# {}", w.title);
        }
        Style::Text => {
            let _ = writeln!(out, "{}\n{}", w.title, "=".repeat(w.title.chars().count()));
        }
    }
    summary_section(&mut out, a, style, tz, w);
    hypotheses_section(&mut out, a, style, w);
    timeline_sections(&mut out, a, style, tz, w);
    details_sections(&mut out, a, style, tz, w);
    out
}

/// The analysis in a few lines, for a chat message: the title, the window and onset, and the
/// first `top` hypotheses with their confidence and evidence (the full report goes beside it).
pub struct Brief {
    pub title: String,
    /// The window, then the onset (or why there is none).
    pub when: Vec<String>,
    /// One line per hypothesis, ranked; `none` when there is none.
    pub hypotheses: Vec<String>,
    /// The sources that failed, as `name: error`.
    pub failed: Vec<String>,
}

pub fn brief(a: &Analysis, tz: &TimeZone, language: Language, top: usize) -> Brief {
    let w = words(language);
    let zone = tz.iana_name().unwrap_or("UTC");
    let mut when = vec![(w.window)(&at(&a.window.from, tz), &at(&a.window.to, tz), zone)];
    match (&a.window.onset, &a.onset_note) {
        (Some(o), _) => when.push((w.onset)(&at(o, tz))),
        (None, Some(note)) => when.push((w.no_onset)(note)),
        (None, None) => {}
    }
    let mut hypotheses: Vec<String> = a
        .hypotheses
        .iter()
        .take(top)
        .map(|h| {
            format!(
                "{}. {} ({} {}; {}: {})",
                h.rank,
                (w.cause)(&h.cause),
                w.confidence_word,
                (w.confidence)(h.confidence),
                w.evidence,
                h.evidence.join(", ")
            )
        })
        .collect();
    if hypotheses.is_empty() {
        hypotheses.push(w.no_hypothesis.to_string());
    }
    let failed = a
        .sources
        .iter()
        .filter(|s| s.status == SourceStatus::Failed)
        .map(|s| format!("{}: {}", s.name, s.error.as_deref().unwrap_or("")))
        .collect();
    Brief { title: w.title.to_string(), when, hypotheses, failed }
}

fn summary_section(out: &mut String, a: &Analysis, style: Style, tz: &TimeZone, w: &Words) {
    heading(out, style, w.summary);
    let zone = tz.iana_name().unwrap_or("UTC");
    let _ = writeln!(out, "{}", (w.window)(&at(&a.window.from, tz), &at(&a.window.to, tz), zone));
    match (&a.window.onset, &a.onset_note) {
        (Some(o), _) => {
            let _ = writeln!(out, "{}", (w.onset)(&at(o, tz)));
        }
        (None, Some(note)) => {
            let _ = writeln!(out, "{}", (w.no_onset)(note));
        }
        (None, None) => {}
    }
    let _ = match a.ranking.by {
        "model" => writeln!(out, "{}", (w.by_model)(&a.ranking.model)),
        _ => writeln!(out, "{}", w.by_code),
    };
    let _ = match a.hypotheses.first() {
        Some(h) => writeln!(out, "{}", (w.most_likely)(&(w.cause)(&h.cause), (w.confidence)(h.confidence))),
        None => writeln!(out, "{}", w.no_hypothesis),
    };
}

fn hypotheses_section(out: &mut String, a: &Analysis, style: Style, w: &Words) {
    heading(out, style, w.hypotheses);
    if a.hypotheses.is_empty() {
        let _ = writeln!(out, "{}", w.none);
    }
    for h in &a.hypotheses {
        let ev: Vec<String> = h.evidence.iter().map(|e| code(style, e)).collect();
        let _ = writeln!(
            out,
            "{}. {} — {} {}, score {}",
            h.rank,
            (w.cause)(&h.cause),
            w.confidence_word,
            (w.confidence)(h.confidence),
            h.score
        );
        let _ = writeln!(out, "   {}: {}", w.evidence, ev.join(", "));
        for c in (w.checks)(&h.cause) {
            let _ = writeln!(out, "   {}: {c}", w.next);
        }
    }
}

fn timeline_sections(out: &mut String, a: &Analysis, style: Style, tz: &TimeZone, w: &Words) {
    heading(out, style, w.timeline);
    if a.timeline.is_empty() {
        let _ = writeln!(out, "{}", w.nothing);
    }
    for e in &a.timeline {
        let _ =
            writeln!(out, "{}  {:<10} {}  {}", at(&e.time, tz), e.source, code(style, &e.id), (w.detail)(&e.detail));
    }

    heading(out, style, w.per_minute);
    let _ = writeln!(out, "{}", w.per_minute_head);
    for m in a.minutes.iter().filter(|m| m.alb_5xx + m.log_errors + m.requests > 0) {
        let mark = if a.window.onset.as_deref() == Some(m.minute.as_str()) { w.onset_mark } else { "" };
        let _ = writeln!(out, "{}  {:>7}  {:>10}  {:>8}{mark}", at(&m.minute, tz), m.alb_5xx, m.log_errors, m.requests);
    }
}

fn details_sections(out: &mut String, a: &Analysis, style: Style, tz: &TimeZone, w: &Words) {
    heading(out, style, w.changes);
    if a.changes.is_empty() {
        let _ = writeln!(out, "{}", w.no_changes);
    }
    for c in a.changes.iter().take(TOP) {
        let _ = writeln!(
            out,
            "{}  {:<11} {} · {} · {} · {} min · score {}{}",
            at(&c.time, tz),
            c.category.as_str(),
            c.event,
            c.actor.as_deref().unwrap_or("?"),
            targets(&c.targets),
            c.minutes_before_onset,
            c.score,
            if c.shared_names.is_empty() { String::new() } else { format!(" · {}", c.shared_names.join(", ")) }
        );
    }

    heading(out, style, w.signatures);
    if a.signatures.is_empty() {
        let _ = writeln!(out, "{}", w.none);
    }
    for s in a.signatures.iter().take(TOP) {
        let _ = writeln!(
            out,
            "{} {} — {} / {} · {} ({}) · {}",
            code(style, &s.evidence),
            code(style, &s.signature),
            s.before,
            s.during,
            at(&s.first_seen, tz),
            code(style, &s.first_event),
            s.log_groups.join(", ")
        );
    }
    if !a.error_urls.is_empty() {
        heading(out, style, w.urls);
        for u in &a.error_urls {
            let _ = writeln!(
                out,
                "{:>6}  {} {}  ({}, trace {})",
                u["errors"],
                u["request_verb"].as_str().unwrap_or(""),
                code(style, u["url"].as_str().unwrap_or("")),
                u["elb"].as_str().unwrap_or(""),
                u["trace_id"].as_str().unwrap_or("-")
            );
        }
    }
    if !a.metrics.is_empty() {
        heading(out, style, w.metrics);
        for m in a.metrics.iter().take(TOP) {
            let detail = Detail::Metric {
                namespace: m.namespace.clone(),
                metric: m.metric.clone(),
                dimensions: m.dimensions.clone(),
                value: m.value,
                baseline_median: m.baseline_median,
            };
            let _ = writeln!(out, "{}  {}", at(&m.minute, tz), (w.detail)(&detail));
        }
    }

    heading(out, style, w.sources);
    for s in &a.sources {
        let total = s.total.map(|t| format!(" / {t}")).unwrap_or_default();
        let why = s.stopped_because.as_deref().map(|w| format!(" · {w}")).unwrap_or_default();
        let err = s.error.as_deref().map(|e| format!(" — {e}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<10} {:<15} {:<13} {}: {}{total}{why}{err}",
            s.name,
            s.query,
            s.engine,
            (w.status)(s.status),
            s.kept
        );
    }
}
