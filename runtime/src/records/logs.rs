//! CloudWatch Logs subscription records, as Firehose delivers them to the lake (its
//! Decompression and AppendDelimiterToRecord processors): one JSON object per line,
//! `{"messageType", "owner", "logGroup", "logStream", "subscriptionFilters", "logEvents":
//! [{"id", "timestamp" (ms), "message"}]}`. `CONTROL_MESSAGE` lines (CloudWatch Logs checking
//! that the destination is reachable) carry no application events and are skipped.

use serde::Deserialize;

use super::Text;

/// One log event of a subscription record.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct Event<'a> {
    #[serde(borrow)]
    pub id: Option<Text<'a>>,
    /// Milliseconds since the epoch.
    pub timestamp: Option<i64>,
    #[serde(borrow)]
    pub message: Option<Text<'a>>,
}

/// One subscription record (one line of a delivered object).
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Record<'a> {
    #[serde(borrow)]
    pub message_type: Option<Text<'a>>,
    #[serde(borrow)]
    pub owner: Option<Text<'a>>,
    #[serde(borrow)]
    pub log_group: Option<Text<'a>>,
    #[serde(borrow)]
    pub log_stream: Option<Text<'a>>,
    #[serde(borrow)]
    pub log_events: Vec<Event<'a>>,
}

impl Record<'_> {
    /// A record that carries application events (not a `CONTROL_MESSAGE`).
    pub fn is_data(&self) -> bool {
        self.message_type.as_ref().is_none_or(|t| t.as_str() != "CONTROL_MESSAGE")
    }
}

/// Parses one line; `Err` says why it is not a subscription record.
pub fn parse(line: &str) -> Result<Record<'_>, String> {
    if !line.trim_start().starts_with('{') {
        return Err("not a JSON object".into());
    }
    let r: Record = serde_json::from_str(line).map_err(|e| e.to_string())?;
    if r.log_group.is_none() && r.message_type.is_none() {
        return Err("not a CloudWatch Logs subscription record (no logGroup, no messageType)".into());
    }
    Ok(r)
}

/// Words that mark a log message as an error, matched case-insensitively anywhere in the
/// message. The `app_logs` SQL matches the same list with `lower(message) LIKE '%…%'`.
pub const ERROR_WORDS: &[&str] = &["error", "exception", "timeout", "timed out", "fatal", "panic"];

/// Whether a message is an error by [`ERROR_WORDS`].
pub fn is_error(message: &str) -> bool {
    // ASCII lowering suffices: the words are ASCII, and SQL's `lower()` of a non-ASCII letter
    // never completes one of them.
    let lower = message.to_ascii_lowercase();
    ERROR_WORDS.iter().any(|w| lower.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_data_and_control_records() {
        let data = r#"{"messageType":"DATA_MESSAGE","owner":"111111111111","logGroup":"/aws/lambda/orders","logStream":"2025/06/12/[$LATEST]abc","subscriptionFilters":["opslake"],"logEvents":[{"id":"3861","timestamp":1749718800123,"message":"ERROR upstream timed out"}]}"#;
        let r = parse(data).unwrap();
        assert!(r.is_data());
        assert_eq!(r.log_group.as_ref().unwrap().as_str(), "/aws/lambda/orders");
        assert_eq!(r.log_events.len(), 1);
        assert_eq!(r.log_events[0].timestamp, Some(1749718800123));
        let control = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1432826855000,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}"#;
        assert!(!parse(control).unwrap().is_data());
        for bad in ["[1,2]", "{\"Records\":[]}", "{not json", "{\"logEvents\": 3, \"logGroup\": \"g\"}"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn error_words() {
        let cases = [
            ("ERROR connect failed", true),
            ("Task timed out after 3.00 seconds", true),
            ("java.lang.NullPointerException", true),
            ("request ok in 12 ms", false),
            ("START RequestId: 1", false),
            ("Ｅrror in full width", false),
        ];
        for (m, want) in cases {
            assert_eq!(is_error(m), want, "{m}");
        }
    }
}
