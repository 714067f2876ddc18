//! Lambda adapter for the `analyze` worker (invoked asynchronously by the `slack` function,
//! by EventBridge alarm rules and by SNS alarm topics): the environment, one AWS connection,
//! the model, the bot token read once per container, events to
//! `opslake_runtime::functions::analyze`.

use std::time::Duration;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use opslake_runtime::analysis::incident::rank::Redaction;
use opslake_runtime::aws::{secret_string, Connection};
use opslake_runtime::functions::analyze::{AnalyzeService, Settings};
use opslake_runtime::functions::env::{AnalyzeEnv, SLACK_API_URL};
use opslake_runtime::functions::{self};
use opslake_runtime::ledger::Ledger;
use opslake_runtime::llm;
use opslake_runtime::slack::api::{SlackApi, SLACK_API};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let env = AnalyzeEnv::from_env()?;
    let aws = Connection::default().load(None).await;
    let model = llm::connect(&env.model.model, &aws, &env.model.anthropic_key()).await?;
    let slack = match &env.bot_token_arn {
        Some(arn) => {
            let base = std::env::var(SLACK_API_URL).unwrap_or_else(|_| SLACK_API.to_string());
            Some(SlackApi::new(&base, secret_string(&aws, arn).await?)?)
        }
        None => None,
    };
    let zone = jiff::tz::TimeZone::get(&env.time_zone)?;
    let service = AnalyzeService {
        source: functions::athena(&env.lake, &aws),
        ledger: Ledger::new(&aws, env.ledger_table.text()),
        settings: Settings {
            home_account: env.home_account,
            home_region: aws.region().unwrap_or("us-east-1").to_string(),
            log_groups: env.log_groups,
            namespaces: env.namespaces,
            xray: env.xray,
            zone,
            language: env.model.language,
            max_tokens: env.model.max_tokens,
            redaction: Redaction { ips: env.redact_ips },
            quiet: Duration::from_secs(u64::from(env.quiet_minutes) * 60),
            reader_role: env.reader_role,
            channel: env.channel,
        },
        layout: env.lake.layout,
        model,
        slack,
        aws,
    };
    let service = &service;
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| async move {
        service.handle(&ev.payload, jiff::Timestamp::now()).await.map_err(Error::from)
    }))
    .await
}
