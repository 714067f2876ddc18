//! Lambda adapter for the `insights` function: SQS batches of forwarded CloudTrail API calls
//! (ingest), and the one-minute schedule (score). The environment, one AWS connection, the
//! work in `opslake_runtime::functions::insights`; the metric and ranking lines on stdout.
//! When the Slack app exists, its bot token is read once per container.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use opslake_runtime::aws::{secret_string, Connection};
use opslake_runtime::functions::env::{InsightsEnv, SLACK_API_URL};
use opslake_runtime::functions::insights::{InsightsService, SlackAlerts};
use opslake_runtime::functions::log;
use opslake_runtime::slack::api::{SlackApi, SLACK_API};
use serde_json::{json, Value};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let env = InsightsEnv::from_env()?;
    let aws = Connection::default().load(None).await;
    let slack = match (&env.bot_token_arn, &env.channel) {
        (Some(arn), Some(channel)) => {
            let base = std::env::var(SLACK_API_URL).unwrap_or_else(|_| SLACK_API.to_string());
            let api = SlackApi::new(&base, secret_string(&aws, arn).await?)?;
            Some(SlackAlerts { api, channel: channel.clone() })
        }
        _ => None,
    };
    let service = InsightsService {
        aws,
        slack,
        table: env.table.text().to_string(),
        bucket: env.bucket.text().to_string(),
        state_key: env.state_key.text().to_string(),
        topic_arn: env.topic_arn.text().to_string(),
        namespace: env.namespace.text().to_string(),
    };
    let service = &service;
    lambda_runtime::run(service_fn(move |e: LambdaEvent<Value>| async move {
        let now = jiff::Timestamp::now();
        // An SQS batch has Records; the schedule's event has none.
        if e.payload.get("Records").is_some() {
            let batch: SqsEvent = serde_json::from_value(e.payload)?;
            let done = service.ingest(batch, now).await;
            for line in &done.lines {
                println!("{line}");
            }
            log("info", "insights: batch", serde_json::to_value(&done)?);
            Ok::<Value, Error>(serde_json::to_value::<&SqsBatchResponse>(&done.response)?)
        } else {
            let found = service.score(now).await.map_err(Error::from)?;
            Ok(json!({"anomalies": found.len()}))
        }
    }))
    .await
}
