//! What the app shows in Slack, as Block Kit: the modal that asks for an analysis (when, which
//! alarm, what was seen, which log groups) and reading it back when it is submitted, and the
//! short answer posted in the channel (the full report is a file beside it).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::report::incident::Brief;

/// The modal's `callback_id`.
pub const MODAL: &str = "opslake-analyze";
/// The message shortcut's `callback_id` (the Slack manifest names it).
pub const SHORTCUT: &str = "opslake-analyze-message";
/// Block Kit's limits this module writes within.
const MAX_SECTION: usize = 3000;
const MAX_HEADER: usize = 150;
const MAX_OPTIONS: usize = 100;
const MAX_OPTION_TEXT: usize = 75;
const MAX_INITIAL_TEXT: usize = 3000;

/// What the modal keeps between its opening and its submission (`private_metadata`, at most
/// 3,000 characters): where to answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub channel: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<String>,
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

fn plain(s: &str) -> Value {
    json!({"type": "plain_text", "text": s})
}

/// The modal: a date-time picker at `at`, the alarm and the person's words (prefilled when
/// given), and the spec's log groups to choose from.
pub fn modal(origin: &Origin, at: Timestamp, alarm: Option<&str>, note: &str, log_groups: &[String]) -> Value {
    let mut alarm_input = json!({"type": "plain_text_input", "action_id": "alarm",
        "placeholder": plain("the alarm's name: its last ALARM gives the window")});
    if let Some(a) = alarm.filter(|a| !a.is_empty()) {
        alarm_input["initial_value"] = json!(cut(a, 255));
    }
    let mut note_input = json!({"type": "plain_text_input", "action_id": "note", "multiline": true,
        "placeholder": plain("the error message, what users saw")});
    if !note.trim().is_empty() {
        note_input["initial_value"] = json!(cut(note.trim(), MAX_INITIAL_TEXT));
    }
    let mut blocks = vec![
        json!({"type": "input", "block_id": "when", "optional": true,
            "label": plain("When it happened (used when no alarm is given)"),
            "element": {"type": "datetimepicker", "action_id": "at", "initial_date_time": at.as_second()}}),
        json!({"type": "input", "block_id": "alarm", "optional": true, "label": plain("CloudWatch alarm"),
            "element": alarm_input}),
        json!({"type": "input", "block_id": "note", "optional": true, "label": plain("What was seen"),
            "element": note_input}),
    ];
    let options: Vec<Value> = log_groups
        .iter()
        .filter(|g| g.len() <= 150)
        .take(MAX_OPTIONS)
        .map(|g| json!({"text": plain(&cut(g, MAX_OPTION_TEXT)), "value": g}))
        .collect();
    if !options.is_empty() {
        blocks.push(json!({"type": "input", "block_id": "groups", "optional": true,
            "label": plain("Only these log groups (all when none is chosen)"),
            "element": {"type": "multi_static_select", "action_id": "groups", "options": options}}));
    }
    json!({
        "type": "modal",
        "callback_id": MODAL,
        "title": plain("Analyze a failure"),
        "submit": plain("Analyze"),
        "close": plain("Cancel"),
        "private_metadata": serde_json::to_string(origin).unwrap_or_default(),
        "blocks": blocks,
    })
}

/// What a submitted modal asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    pub at: Option<Timestamp>,
    pub alarm: Option<String>,
    pub note: Option<String>,
    pub log_groups: Vec<String>,
}

/// Reads the modal's state; `Err((block_id, message))` is shown on the modal itself.
pub fn submitted(values: &Value, log_groups: &[String]) -> Result<Asked, (&'static str, String)> {
    let text = |block: &str, action: &str| {
        values[block][action]["value"].as_str().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
    };
    let at = values["when"]["at"]["selected_date_time"].as_i64().and_then(|s| Timestamp::from_second(s).ok());
    let alarm = text("alarm", "alarm");
    if at.is_none() && alarm.is_none() {
        return Err(("when", "choose a time, or name an alarm".into()));
    }
    let chosen: Vec<String> = values["groups"]["groups"]["selected_options"]
        .as_array()
        .map(|a| a.iter().filter_map(|o| o["value"].as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    if let Some(g) = chosen.iter().find(|g| !log_groups.contains(g)) {
        return Err(("groups", format!("{g} is not one of the spec's log groups")));
    }
    Ok(Asked { at, alarm, note: text("note", "note"), log_groups: chosen })
}

/// The channel message: the brief, the person's words, and what failed.
pub fn answer(brief: &Brief, note: Option<&str>, asker: Option<&str>) -> (String, Value) {
    let mut blocks = vec![json!({"type": "header", "text": plain(&cut(&brief.title, MAX_HEADER))})];
    let mut context = brief.when.join("\n");
    if let Some(u) = asker {
        context = format!("<@{u}>\n{context}");
    }
    blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&context, MAX_SECTION)}}));
    if let Some(n) = note.filter(|n| !n.trim().is_empty()) {
        let quoted: String = n.lines().take(10).map(|l| format!("> {l}\n")).collect();
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&quoted, MAX_SECTION)}}));
    }
    blocks.push(json!({"type": "section", "text": {"type": "mrkdwn",
        "text": cut(&brief.hypotheses.join("\n"), MAX_SECTION)}}));
    if !brief.failed.is_empty() {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn",
            "text": cut(&format!(":warning: {}", brief.failed.join("; ")), MAX_SECTION)}]}));
    }
    let text = format!("{}: {}", brief.title, brief.hypotheses.first().map(String::as_str).unwrap_or(""));
    (cut(&text, MAX_SECTION), Value::Array(blocks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_modal_reads_back_what_it_asked() {
        let groups = vec!["/aws/lambda/orders-api".to_string(), "/apigateway/orders".to_string()];
        let origin = Origin { channel: "C1".into(), thread_ts: Some("1718185200.000100".into()) };
        let at: Timestamp = "2025-06-12T09:40:00Z".parse().unwrap();
        let m = modal(&origin, at, Some("orders 5xx"), "timeout", &groups);
        assert_eq!(m["callback_id"], MODAL);
        assert_eq!(serde_json::from_str::<Origin>(m["private_metadata"].as_str().unwrap()).unwrap(), origin);
        assert_eq!(m["blocks"][0]["element"]["initial_date_time"], at.as_second());
        assert_eq!(m["blocks"][3]["element"]["options"].as_array().unwrap().len(), 2);
        let values = json!({
            "when": {"at": {"type": "datetimepicker", "selected_date_time": at.as_second()}},
            "alarm": {"alarm": {"type": "plain_text_input", "value": "  "}},
            "note": {"note": {"type": "plain_text_input", "value": "upstream timeout"}},
            "groups": {"groups": {"type": "multi_static_select", "selected_options": [{"value": "/apigateway/orders"}]}}
        });
        let asked = submitted(&values, &groups).unwrap();
        assert_eq!(asked.at, Some(at));
        assert_eq!(asked.alarm, None);
        assert_eq!(asked.note.as_deref(), Some("upstream timeout"));
        assert_eq!(asked.log_groups, ["/apigateway/orders"]);
        assert_eq!(submitted(&json!({}), &groups).unwrap_err().0, "when");
        let foreign = json!({"when": values["when"], "groups": {"groups": {"selected_options": [{"value": "/x"}]}}});
        assert_eq!(submitted(&foreign, &groups).unwrap_err().0, "groups");
    }
}
