//! A failure analysis for people: summary, hypotheses with their evidence, the timeline, each
//! source's evidence and what was not available. Plain text for a terminal, Markdown for a
//! ticket or a chat thread; the same words either way. Times are written in the reader's zone
//! with their offset (`2025-06-12 18:40:00 +09:00`), or in UTC with their `Z`.

use std::fmt::Write;

use jiff::tz::TimeZone;

use crate::analysis::incident::{Analysis, SourceStatus};

/// Text or Markdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Text,
    Markdown,
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

/// The whole report, times in `tz`.
pub fn render(a: &Analysis, style: Style, tz: &TimeZone) -> String {
    let mut out = String::new();
    let title = "Failure analysis";
    match style {
        Style::Markdown => {
            let _ = writeln!(out, "# {title}");
        }
        Style::Text => {
            let _ = writeln!(out, "{title}\n{}", "=".repeat(title.len()));
        }
    }
    heading(&mut out, style, "Summary");
    let zone = tz.iana_name().unwrap_or("UTC");
    let _ = writeln!(out, "Window: {} to {} ({zone}).", at(&a.window.from, tz), at(&a.window.to, tz));
    match (&a.window.onset, &a.onset_note) {
        (Some(o), _) => {
            let _ = writeln!(out, "Errors began at {}.", at(o, tz));
        }
        (None, Some(note)) => {
            let _ = writeln!(out, "No onset: {note}.");
        }
        (None, None) => {}
    }
    match a.ranking.by {
        "model" => {
            let _ = writeln!(out, "Hypotheses ranked by {} from the evidence below.", a.ranking.model);
        }
        _ => {
            let _ = writeln!(
                out,
                "Hypotheses ranked by the code (changes scored by category, proximity and shared names)."
            );
        }
    }
    match a.hypotheses.first() {
        Some(h) => {
            let _ = writeln!(out, "Most likely: {} ({:?} confidence).", h.title, h.confidence);
        }
        None => {
            let _ = writeln!(out, "No hypothesis: nothing in the window explains a failure.");
        }
    }

    heading(&mut out, style, "Hypotheses");
    if a.hypotheses.is_empty() {
        let _ = writeln!(out, "none");
    }
    for h in &a.hypotheses {
        let ev: Vec<String> = h.evidence.iter().map(|e| code(style, e)).collect();
        let _ = writeln!(out, "{}. {} — confidence {:?}, score {}", h.rank, h.title, h.confidence, h.score);
        let _ = writeln!(out, "   evidence: {}", ev.join(", "));
        for c in &h.next_checks {
            let _ = writeln!(out, "   next: {c}");
        }
    }

    heading(&mut out, style, "Timeline");
    if a.timeline.is_empty() {
        let _ = writeln!(out, "nothing in the window");
    }
    for e in &a.timeline {
        let _ = writeln!(out, "{}  {:<10} {}  {}", at(&e.time, tz), e.source, code(style, &e.id), e.summary);
    }

    heading(&mut out, style, "Errors per minute");
    let _ = writeln!(out, "minute                 alb_5xx  log_errors  requests");
    for m in a.minutes.iter().filter(|m| m.alb_5xx + m.log_errors + m.requests > 0) {
        let mark = if a.window.onset.as_deref() == Some(m.minute.as_str()) { "  ← onset" } else { "" };
        let _ = writeln!(out, "{}  {:>7}  {:>10}  {:>8}{mark}", at(&m.minute, tz), m.alb_5xx, m.log_errors, m.requests);
    }

    heading(&mut out, style, "Changes before the onset");
    if a.changes.is_empty() {
        let _ = writeln!(out, "none in the look-back");
    }
    for c in a.changes.iter().take(crate::analysis::incident::TOP) {
        let _ = writeln!(
            out,
            "{}  {:<11} {} by {} on {} — {} min before, score {}{}",
            at(&c.time, tz),
            c.category.as_str(),
            c.event,
            c.actor.as_deref().unwrap_or("?"),
            if c.targets.is_empty() { "-".to_string() } else { c.targets.join(", ") },
            c.minutes_before_onset,
            c.score,
            if c.shared_names.is_empty() {
                String::new()
            } else {
                format!(", named by the errors: {}", c.shared_names.join(", "))
            }
        );
    }

    heading(&mut out, style, "Error signatures");
    if a.signatures.is_empty() {
        let _ = writeln!(out, "none");
    }
    for s in a.signatures.iter().take(crate::analysis::incident::TOP) {
        let _ = writeln!(
            out,
            "{} {} — before {}, from the onset {}; first {} ({}) in {}",
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
        heading(&mut out, style, "URLs answered with 5xx");
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
        heading(&mut out, style, "Metrics that left their baseline");
        for m in a.metrics.iter().take(crate::analysis::incident::TOP) {
            let _ = writeln!(
                out,
                "{}  {} {} {}: {} (baseline median {})",
                at(&m.minute, tz),
                m.namespace,
                m.metric,
                m.dimensions,
                m.value,
                m.baseline_median
            );
        }
    }

    heading(&mut out, style, "Sources");
    for s in &a.sources {
        let total = s.total.map(|t| format!(" of {t}")).unwrap_or_default();
        let why = s.stopped_because.as_deref().map(|w| format!(", stopped: {w}")).unwrap_or_default();
        let err = s.error.as_deref().map(|e| format!(" — {e}")).unwrap_or_default();
        let status = match s.status {
            SourceStatus::Ok => "ok",
            SourceStatus::Empty => "empty",
            SourceStatus::Failed => "FAILED",
            SourceStatus::Unavailable => "unavailable",
        };
        let _ = writeln!(out, "{:<10} {:<15} {status}: {} kept{total}{why}{err}", s.name, s.query, s.kept);
    }
    out
}
