//! What Slack sends the app, read after its signature is checked: a slash command (a form), an
//! interaction (a form whose `payload` field is JSON: a modal's `view_submission`, a message
//! shortcut), or an Events API `url_verification` (JSON). Only the fields the app uses are
//! read; anything else Slack adds is ignored.

use serde::Deserialize;
use serde_json::Value;

/// The slash command's invocation (`/opslake analyze …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub command: String,
    pub text: String,
    pub user_id: String,
    pub channel_id: String,
    pub trigger_id: String,
}

/// A submitted modal.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    pub view_id: String,
    pub callback_id: String,
    pub user_id: String,
    pub private_metadata: String,
    /// `view.state.values`: block id → action id → the element's state.
    pub values: Value,
}

/// A message shortcut (the "…" menu of a message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortcut {
    pub callback_id: String,
    pub trigger_id: String,
    pub user_id: String,
    pub channel_id: String,
    /// The message's `ts`, and the thread it is in (its own `ts` when it starts none).
    pub message_ts: String,
    pub thread_ts: String,
    /// The message's words: its text, and its attachments' titles, texts and fallbacks (an
    /// alarm notification often carries its name only there).
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    Command(Command),
    Submission(Submission),
    Shortcut(Shortcut),
    UrlVerification {
        challenge: String,
    },
    /// A payload the app does not act on (a `view_closed`, a `block_actions`…): acknowledged.
    Other(String),
}

/// Why a verified body could not be read (a 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

fn field(form: &[(String, String)], name: &str) -> Result<String, Malformed> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .ok_or_else(|| Malformed(format!("the form has no `{name}`")))
}

#[derive(Deserialize)]
struct Id {
    id: String,
}

#[derive(Deserialize)]
struct ViewPayload {
    id: String,
    #[serde(default)]
    callback_id: String,
    #[serde(default)]
    private_metadata: String,
    #[serde(default)]
    state: Option<State>,
}

#[derive(Deserialize)]
struct State {
    #[serde(default)]
    values: Value,
}

#[derive(Deserialize)]
struct MessagePayload {
    ts: String,
    #[serde(default)]
    thread_ts: Option<String>,
    #[serde(default)]
    text: String,
    #[serde(default)]
    attachments: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Interaction {
    ViewSubmission {
        user: Id,
        view: ViewPayload,
    },
    MessageAction {
        callback_id: String,
        trigger_id: String,
        user: Id,
        channel: Id,
        message: MessagePayload,
    },
    #[serde(other)]
    Other,
}

/// The words of a message and its attachments.
fn message_words(m: &MessagePayload) -> String {
    let mut parts = vec![m.text.clone()];
    for a in &m.attachments {
        for k in ["pretext", "title", "text", "fallback"] {
            if let Some(s) = a.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()) {
                parts.push(s.to_string());
            }
        }
    }
    parts.retain(|p| !p.is_empty());
    parts.join("\n")
}

/// Reads a verified request body (`content_type` as sent).
pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Inbound, Malformed> {
    if content_type.is_some_and(|c| c.starts_with("application/json")) {
        let v: Value = serde_json::from_slice(body).map_err(|e| Malformed(format!("the JSON body: {e}")))?;
        return match (v["type"].as_str(), v["challenge"].as_str()) {
            (Some("url_verification"), Some(c)) => Ok(Inbound::UrlVerification { challenge: c.to_string() }),
            (t, _) => Ok(Inbound::Other(t.unwrap_or("untyped").to_string())),
        };
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    if let Some((_, payload)) = form.iter().find(|(k, _)| k == "payload") {
        let interaction: Interaction =
            serde_json::from_str(payload).map_err(|e| Malformed(format!("the interaction payload: {e}")))?;
        return Ok(match interaction {
            Interaction::ViewSubmission { user, view } => Inbound::Submission(Submission {
                view_id: view.id,
                callback_id: view.callback_id,
                user_id: user.id,
                private_metadata: view.private_metadata,
                values: view.state.map(|s| s.values).unwrap_or(Value::Null),
            }),
            Interaction::MessageAction { callback_id, trigger_id, user, channel, message } => {
                let text = message_words(&message);
                Inbound::Shortcut(Shortcut {
                    callback_id,
                    trigger_id,
                    user_id: user.id,
                    channel_id: channel.id,
                    thread_ts: message.thread_ts.unwrap_or_else(|| message.ts.clone()),
                    message_ts: message.ts,
                    text,
                })
            }
            Interaction::Other => {
                let v: Value = serde_json::from_str(payload).unwrap_or(Value::Null);
                Inbound::Other(v["type"].as_str().unwrap_or("untyped").to_string())
            }
        });
    }
    // Slack checks the endpoint's certificate now and then with `ssl_check=1` and no command.
    if form.iter().any(|(k, v)| k == "ssl_check" && v == "1") {
        return Ok(Inbound::Other("ssl_check".into()));
    }
    Ok(Inbound::Command(Command {
        command: field(&form, "command")?,
        text: field(&form, "text").unwrap_or_default(),
        user_id: field(&form, "user_id")?,
        channel_id: field(&form, "channel_id")?,
        trigger_id: field(&form, "trigger_id")?,
    }))
}

/// The name of the CloudWatch alarm a notification is about, when its words say: the SNS
/// subject `ALARM: "name" in Region`, or an `AlarmName` field.
pub fn alarm_name(text: &str) -> Option<String> {
    for marker in ["ALARM: \"", "ALARM: “"] {
        if let Some(rest) = text.split(marker).nth(1) {
            let end = rest.find(['"', '”']).unwrap_or(rest.len());
            let name = rest[..end].trim();
            if !name.is_empty() {
                return Some(name.to_string());
            }
        }
    }
    let rest = text.split("AlarmName").nth(1)?;
    let name: String = rest
        .trim_start_matches(|c: char| c == '"' || c == ':' || c == '=' || c.is_whitespace())
        .chars()
        .take_while(|c| *c != '"' && *c != '\n' && *c != ',')
        .collect();
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_check_is_acknowledged_and_a_form_without_a_command_is_malformed() {
        assert_eq!(parse(None, b"ssl_check=1&token=x"), Ok(Inbound::Other("ssl_check".into())));
        assert!(parse(None, b"text=analyze").unwrap_err().0.contains("`command`"));
        assert!(parse(Some("application/json"), b"{not json").is_err());
        assert!(parse(None, b"payload=%7Bbroken").unwrap_err().0.contains("interaction payload"));
    }

    #[test]
    fn an_alarm_name_is_found_in_a_notification() {
        assert_eq!(alarm_name("ALARM: \"orders-api 5xx\" in Asia Pacific (Tokyo)").as_deref(), Some("orders-api 5xx"));
        assert_eq!(alarm_name("{\"AlarmName\":\"orders-latency\",\"x\":1}").as_deref(), Some("orders-latency"));
        assert_eq!(alarm_name("deploy finished"), None);
    }
}
