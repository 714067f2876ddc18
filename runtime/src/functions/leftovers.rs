//! The `leftovers` function: on a schedule, find resources created but never deleted over the
//! last `lookback_days` (Athena over the lake, or CloudTrail event history) and publish the
//! report to the SNS topic the generated template creates.

use jiff::civil::Date;
use jiff::ToSpan;
use serde_json::{json, Value};

use crate::analysis::leftovers::pair;
use crate::aws::sdk_message;
use crate::lake::LakeLayout;
use crate::source::Source;

/// SNS messages are limited to 256 KB.
pub const MAX_MESSAGE: usize = 250_000;

pub struct LeftoversService {
    pub layout: LakeLayout,
    pub source: Source,
    pub sns: aws_sdk_sns::Client,
    pub topic_arn: String,
    pub lookback_days: u32,
}

/// `text` cut to at most `max` bytes on a character boundary, with a note when cut.
fn within(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text.push_str("\n… (truncated: run `opslake leftovers --athena` for the whole list)\n");
    text
}

impl LeftoversService {
    /// Runs once for the window ending `today`; returns the summary the invocation answers.
    pub async fn run(&self, today: Date) -> Result<Value, String> {
        let from = today.checked_sub(i64::from(self.lookback_days).days()).map_err(|e| e.to_string())?;
        let pairs = [("from".to_string(), from.to_string()), ("to".to_string(), today.to_string())];
        let answer = self.source.ask("created-deleted", &pairs, &self.layout).await.map_err(|e| e.to_string())?;
        let found = pair(&answer, jiff::Timestamp::now());
        let text = within(crate::report::leftovers::text(&found, from, today), MAX_MESSAGE);
        let plural = if found.len() == 1 { "" } else { "s" };
        let subject = format!("opslake: {} leftover resource{plural} ({from} to {today})", found.len());
        let published = self
            .sns
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject)
            .message(text)
            .send()
            .await
            .map_err(|e| format!("SNS Publish: {}", sdk_message(&e)))?;
        Ok(json!({
            "status": "SUCCEEDED",
            "from": from.to_string(),
            "to": today.to_string(),
            "leftovers": found.len(),
            "message_id": published.message_id(),
        }))
    }
}
