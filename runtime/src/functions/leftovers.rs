//! The `leftovers` function: on a schedule, find resources created but never deleted over the
//! last `lookback_days` (Athena over the lake, or CloudTrail event history) and publish the
//! report to the SNS topic the generated template creates.

use std::collections::BTreeSet;

use aws_sdk_sns::error::ProvideErrorMetadata;
use jiff::ToSpan;
use serde_json::{json, Value};

use crate::analysis::leftovers::{pair, report};
use crate::engine::athena::{AthenaEngine, Connection};
use crate::lake::LakeLayout;
use crate::query;

/// SNS messages are limited to 256 KB.
pub const MAX_MESSAGE: usize = 250_000;

/// Where the events come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Athena,
    LookupEvents,
}

pub struct LeftoversService {
    pub layout: LakeLayout,
    pub source: Source,
    pub athena: Option<AthenaEngine>,
    pub lookup: Connection,
    pub sns: aws_sdk_sns::Client,
    pub topic_arn: String,
    pub lookback_days: i64,
}

impl LeftoversService {
    /// Runs once for the window ending `today`; returns the summary the invocation answers.
    pub async fn run(&self, today: jiff::civil::Date) -> Result<Value, String> {
        let from = today.checked_sub(self.lookback_days.days()).map_err(|e| e.to_string())?;
        let q = query::find("created-deleted").ok_or("created-deleted is not catalogued")?;
        let columns: Vec<String> = q.columns.iter().map(|c| c.to_string()).collect();
        let rows = match self.source {
            Source::Athena => {
                let engine = self.athena.as_ref().ok_or("no Athena engine configured")?;
                let params = query::validate(
                    q,
                    &[("from".into(), from.to_string()), ("to".into(), today.to_string())],
                    &self.layout,
                )
                .map_err(|e| e.0)?;
                let sql = query::render_sql(q, &params, &self.layout).map_err(|e| e.0)?;
                query::finish(q, engine.run(&sql).await.map_err(|e| e.to_string())?.rows)
            }
            Source::LookupEvents => {
                let names: BTreeSet<String> = crate::catalogue::event_keys()
                    .iter()
                    .filter_map(|k| k.split_once(':'))
                    .map(|(_, e)| e.to_string())
                    .collect();
                crate::engine::lookup::created_deleted(&self.lookup, &self.layout.regions, &names, from, today).await?.0
            }
        };
        let found = pair(&columns, &rows, jiff::Timestamp::now());
        let mut text = report(&found, &from.to_string(), &today.to_string());
        if text.len() > MAX_MESSAGE {
            let mut cut = MAX_MESSAGE;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str("\n… (truncated: run `opslake leftovers --athena` for the whole list)\n");
        }
        let subject = format!(
            "opslake: {} leftover resource{} ({from} to {today})",
            found.len(),
            if found.len() == 1 { "" } else { "s" }
        );
        let published = self
            .sns
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject)
            .message(text)
            .send()
            .await
            .map_err(|e| format!("SNS Publish: {}: {}", e.code().unwrap_or("error"), e.message().unwrap_or("")))?;
        Ok(json!({
            "status": "SUCCEEDED",
            "from": from.to_string(),
            "to": today.to_string(),
            "leftovers": found.len(),
            "message_id": published.message_id(),
        }))
    }
}

/// Configuration from the environment the generated template sets.
pub struct Settings {
    pub layout: LakeLayout,
    pub workgroup: String,
    pub topic_arn: String,
    pub lookback_days: i64,
    pub source: Source,
}

pub fn settings_from_env() -> Result<Settings, String> {
    let (layout, workgroup) = super::query::layout_from_env()?;
    let var = |k: &str| std::env::var(k).map_err(|_| format!("{k} is not set"));
    let lookback_days =
        var("OPSLAKE_LOOKBACK_DAYS")?.parse::<i64>().map_err(|e| format!("OPSLAKE_LOOKBACK_DAYS: {e}"))?;
    let source = match var("OPSLAKE_SOURCE").unwrap_or_else(|_| "athena".into()).as_str() {
        "athena" => Source::Athena,
        "lookup-events" => Source::LookupEvents,
        other => return Err(format!("OPSLAKE_SOURCE: `{other}` is not athena or lookup-events")),
    };
    Ok(Settings { layout, workgroup, topic_arn: var("OPSLAKE_TOPIC_ARN")?, lookback_days, source })
}
