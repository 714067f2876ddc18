//! A model's ranking of a failure analysis: the evidence the code found, as a table of at most
//! a fixed number of short items (so the prompt does not grow with the data), with secrets and
//! personal data redacted; the model answers through one tool (`submit_hypotheses`, native tool
//! use, never parsed from text). A hypothesis citing an id the table does not have is dropped
//! and reported; with no model, a failing model or nothing left, the code's ranking stands.

use serde::Serialize;
use serde_json::{json, Value};

use super::{Analysis, Cause, Confidence, Hypothesis, TOP};
use crate::llm::{Block, Chat, Model, Tool, Turn};
use crate::report::Language;

/// Most hypotheses the model may return.
pub const MAX_HYPOTHESES: usize = 5;
/// Evidence summaries are cut to this many characters.
const MAX_SUMMARY: usize = 240;
/// The prompt's ceiling (estimated tokens), whatever the window held.
pub const PROMPT_TOKEN_BUDGET: usize = 8_000;
pub const TOOL: &str = "submit_hypotheses";

/// What to hide from a model.
#[derive(Debug, Clone, Copy, Default)]
pub struct Redaction {
    /// IP addresses too (access keys, secrets-looking tokens and e-mail addresses always).
    pub ips: bool,
}

/// Who ranked the hypotheses, and what the model did.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Ranking {
    /// `code` (no model, or it failed) or `model`.
    pub by: &'static str,
    pub model: String,
    /// Hypotheses the model returned that cited unknown evidence: dropped.
    pub dropped: Vec<Value>,
    pub error: Option<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl Ranking {
    /// The code's ranking; `model` names the model that was not asked or did not answer.
    pub fn by_code(model: &str) -> Ranking {
        Ranking { by: "code", model: model.into(), dropped: Vec::new(), error: None, input_tokens: 0, output_tokens: 0 }
    }
}

fn redact_word(w: &str, r: Redaction) -> Option<&'static str> {
    let t = w.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let key_like = t.len() == 20
        && (t.starts_with("AKIA") || t.starts_with("ASIA"))
        && t.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if key_like {
        return Some("<access-key>");
    }
    let at = t.find('@');
    if at.is_some_and(|i| i > 0 && t[i + 1..].contains('.')) {
        return Some("<email>");
    }
    // Long unbroken tokens mixing cases and digits: secrets, session tokens, signatures.
    let mixed = t.chars().any(|c| c.is_ascii_lowercase())
        && t.chars().any(|c| c.is_ascii_uppercase())
        && t.chars().any(|c| c.is_ascii_digit());
    if t.len() >= 32 && mixed && t.chars().all(|c| c.is_ascii_alphanumeric() || "+/=_-".contains(c)) {
        return Some("<token>");
    }
    if r.ips {
        let host = t.split(':').next().unwrap_or(t);
        let parts: Vec<&str> = host.split('.').collect();
        if parts.len() == 4 && parts.iter().all(|p| !p.is_empty() && p.parse::<u8>().is_ok()) {
            return Some("<ip>");
        }
    }
    None
}

/// `text` with access keys, secret-looking tokens, e-mail addresses (and IPs when asked)
/// replaced, cut to [`MAX_SUMMARY`] characters.
pub fn redact(text: &str, r: Redaction) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, w) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(redact_word(w, r).unwrap_or(w));
    }
    match out.char_indices().nth(MAX_SUMMARY) {
        Some((i, _)) => format!("{}…", &out[..i]),
        None => out,
    }
}

/// The evidence table: every item a hypothesis may cite, bounded.
pub fn evidence_table(a: &Analysis, r: Redaction) -> Vec<Value> {
    use crate::report::incident::{summary, title};
    let mut items = Vec::new();
    for h in a.hypotheses.iter().take(TOP) {
        let t = title(&h.cause, Language::En);
        items.push(json!({"id": format!("hyp:{}", h.rank), "kind": "code hypothesis", "summary": redact(&t, r), "cites": h.evidence}));
    }
    for c in a.changes.iter().take(TOP) {
        items.push(json!({
            "id": c.evidence, "time": c.time, "kind": format!("{} change", c.category.as_str()),
            "summary": redact(&format!("{} by {} on {}", c.event, c.actor.as_deref().unwrap_or("?"), c.targets.join(", ")), r),
            "minutes_before_onset": c.minutes_before_onset, "named_by_errors": c.shared_names, "code_score": c.score,
        }));
    }
    let seen: Vec<String> = items.iter().filter_map(|i| i["id"].as_str().map(str::to_string)).collect();
    for e in a.timeline.iter().filter(|e| !seen.contains(&e.id)).take(2 * TOP) {
        items.push(json!({"id": e.id, "time": e.time, "kind": e.source, "summary": redact(&summary(&e.detail, Language::En), r)}));
    }
    items
}

/// The ids a hypothesis may cite.
fn known_ids(table: &[Value]) -> Vec<String> {
    table.iter().filter_map(|i| i["id"].as_str().map(str::to_string)).collect()
}

fn tool() -> Tool {
    Tool {
        name: TOOL.into(),
        description:
            "Submit the ranked root-cause hypotheses, most likely first, each citing evidence ids from the table".into(),
        schema: json!({
            "type": "object",
            "properties": {
                "hypotheses": {
                    "type": "array", "maxItems": MAX_HYPOTHESES,
                    "items": {
                        "type": "object",
                        "properties": {
                            "title": {"type": "string", "maxLength": 300},
                            "confidence": {"type": "string", "enum": ["high", "medium", "low"]},
                            "evidence": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                            "next_checks": {"type": "array", "items": {"type": "string", "maxLength": 300}, "maxItems": 5}
                        },
                        "required": ["title", "confidence", "evidence"],
                        "additionalProperties": false
                    }
                }
            },
            "required": ["hypotheses"],
            "additionalProperties": false
        }),
    }
}

/// (system, user) prompts over the evidence `table`.
pub fn prompt(a: &Analysis, table: &[Value], language: Language) -> Result<(String, String), String> {
    let mut tera = tera::Tera::default();
    tera.add_raw_template("incident.system", include_str!("../../../../templates/prompts/incident.system.tera"))
        .map_err(|e| e.to_string())?;
    let mut ctx = tera::Context::new();
    ctx.insert("max_hypotheses", &MAX_HYPOTHESES);
    ctx.insert("language", if language == Language::Ja { "Japanese" } else { "English" });
    let system = tera.render("incident.system", &ctx).map_err(|e| e.to_string())?;
    let user = json!({
        "window": a.window,
        "onset_note": a.onset_note,
        "evidence": table,
        "sources": a.sources.iter().map(|s| json!({"name": s.name, "query": s.query, "status": s.status, "kept": s.kept, "stopped_because": s.stopped_because})).collect::<Vec<_>>(),
    });
    Ok((system, format!("Rank the causes of this failure.\n{user}")))
}

fn confidence(s: &str) -> Option<Confidence> {
    match s {
        "high" => Some(Confidence::High),
        "medium" => Some(Confidence::Medium),
        "low" => Some(Confidence::Low),
        _ => None,
    }
}

/// The model's hypotheses from its tool call; those citing unknown ids (or none) are dropped.
fn accept(input: &Value, known: &[String]) -> (Vec<Hypothesis>, Vec<Value>) {
    let (mut kept, mut dropped) = (Vec::new(), Vec::new());
    for h in input["hypotheses"].as_array().into_iter().flatten().take(MAX_HYPOTHESES) {
        let evidence: Vec<String> =
            h["evidence"].as_array().into_iter().flatten().filter_map(|e| e.as_str().map(str::to_string)).collect();
        let unknown: Vec<&String> = evidence.iter().filter(|e| !known.contains(e)).collect();
        let (Some(title), Some(conf)) = (h["title"].as_str(), h["confidence"].as_str().and_then(confidence)) else {
            dropped.push(json!({"hypothesis": h, "why": "no title or confidence"}));
            continue;
        };
        if evidence.is_empty() || !unknown.is_empty() {
            dropped
                .push(json!({"title": title, "why": "cites evidence the analysis does not have", "unknown": unknown}));
            continue;
        }
        let next_checks =
            h["next_checks"].as_array().into_iter().flatten().filter_map(|c| c.as_str().map(str::to_string)).collect();
        kept.push(Hypothesis {
            rank: kept.len() + 1,
            cause: Cause::Model { title: title.to_string(), next_checks },
            confidence: conf,
            score: 0.0,
            evidence,
        });
    }
    (kept, dropped)
}

/// Asks `model` to rank `a`'s evidence; replaces `a.hypotheses` with the model's when it
/// answered with at least one valid hypothesis, and says so in `a.ranking`. `hyp:N` citations
/// are expanded to what the code's hypothesis N cited, so every id in the output is evidence
/// the analysis holds. `Err` only when the prompt template cannot be rendered.
pub async fn rank(
    a: &mut Analysis,
    model: &dyn Model,
    language: Language,
    max_tokens: u32,
    r: Redaction,
) -> Result<(), String> {
    a.ranking = ask_model(a, model, language, max_tokens, r).await?;
    Ok(())
}

async fn ask_model(
    a: &mut Analysis,
    model: &dyn Model,
    language: Language,
    max_tokens: u32,
    r: Redaction,
) -> Result<Ranking, String> {
    let mut ranking = Ranking::by_code(&model.name());
    if a.window.onset.is_none() && a.changes.is_empty() {
        return Ok(ranking); // nothing to rank: no call is made
    }
    let table = evidence_table(a, r);
    let (system, user) = prompt(a, &table, language).map_err(|e| format!("prompt template: {e}"))?;
    let known = known_ids(&table);
    let chat = Chat { system, turns: vec![Turn::user(user)], tools: vec![tool()], max_tokens };
    let reply = match model.chat(&chat).await {
        None => return Ok(ranking),
        Some(Err(e)) => {
            ranking.error = Some(e.0);
            return Ok(ranking);
        }
        Some(Ok(reply)) => reply,
    };
    (ranking.input_tokens, ranking.output_tokens) = (reply.input_tokens, reply.output_tokens);
    let input = reply.content.iter().find_map(|b| match b {
        Block::ToolUse { name, input, .. } if name == TOOL => Some(input.clone()),
        _ => None,
    });
    let Some(input) = input else {
        ranking.error = Some(format!("the model did not call {TOOL} (stop reason {})", reply.stop_reason));
        return Ok(ranking);
    };
    let (mut kept, dropped) = accept(&input, &known);
    ranking.dropped = dropped;
    if kept.is_empty() {
        ranking.error = Some("no hypothesis of the model cited evidence the analysis has".into());
        return Ok(ranking);
    }
    for h in &mut kept {
        let mut ids = Vec::new();
        for e in &h.evidence {
            let cited =
                e.strip_prefix("hyp:").and_then(|n| n.parse::<usize>().ok()).and_then(|n| a.hypotheses.get(n - 1));
            match cited {
                Some(code) => ids.extend(code.evidence.iter().cloned()),
                None => ids.push(e.clone()),
            }
        }
        ids.dedup();
        h.evidence = ids;
    }
    a.hypotheses = kept;
    ranking.by = "model";
    Ok(ranking)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_personal_data_never_reach_a_model() {
        let r = Redaction { ips: true };
        let cases = [
            ("key AKIAIOSFODNN7EXAMPLE used", "key <access-key> used"),
            ("mail alice@example.com now", "mail <email> now"),
            ("from 10.0.12.7:5432 ok", "from <ip> ok"),
            ("tok wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY99 end", "tok <token> end"),
            ("orders-api timed out after 3 seconds", "orders-api timed out after 3 seconds"),
        ];
        for (t, want) in cases {
            assert_eq!(redact(t, r), want, "{t}");
        }
        assert_eq!(redact("from 10.0.12.7:5432 ok", Redaction { ips: false }), "from 10.0.12.7:5432 ok");
        assert!(redact(&"x ".repeat(500), r).chars().count() <= MAX_SUMMARY + 1);
    }

    #[test]
    fn hypotheses_citing_unknown_evidence_are_dropped() {
        let known = vec!["ct:1".to_string(), "sig:1".to_string()];
        let input = json!({"hypotheses": [
            {"title": "a", "confidence": "high", "evidence": ["ct:1", "sig:1"]},
            {"title": "b", "confidence": "medium", "evidence": ["ct:9"]},
            {"title": "c", "confidence": "sure", "evidence": ["ct:1"]},
            {"title": "d", "confidence": "low", "evidence": []}
        ]});
        let (kept, dropped) = accept(&input, &known);
        let titles: Vec<String> = kept.iter().map(|h| crate::report::incident::title(&h.cause, Language::En)).collect();
        assert_eq!(titles, ["a"]);
        assert_eq!(dropped.len(), 3);
        assert_eq!(dropped[0]["unknown"], json!(["ct:9"]));
    }
}
