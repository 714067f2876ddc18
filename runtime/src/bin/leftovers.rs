//! Lambda adapter for the `leftovers` function (invoked by an EventBridge schedule): the
//! environment, one AWS connection, the work in `opslake_runtime::functions::leftovers`.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use opslake_runtime::aws::Connection;
use opslake_runtime::engine::lookup;
use opslake_runtime::functions::env::{LeftoversEnv, LeftoversSource};
use opslake_runtime::functions::{self, leftovers::LeftoversService};
use opslake_runtime::source::Source;
use serde_json::Value;

fn today() -> jiff::civil::Date {
    jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let env = LeftoversEnv::from_env()?;
    let aws = Connection::default().load(None).await;
    let source = match env.source {
        LeftoversSource::Athena => functions::athena(&env.lake, &aws),
        LeftoversSource::LookupEvents => {
            Source::EventHistory { aws: aws.clone(), regions: None, today: today(), pace: lookup::MIN_INTERVAL }
        }
    };
    let service = LeftoversService {
        layout: env.lake.layout,
        source,
        sns: aws_sdk_sns::Client::new(aws.config()),
        topic_arn: env.topic_arn.text().to_string(),
        lookback_days: env.lookback_days,
    };
    let service = &service;
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        service.run(today()).await.map_err(Error::from)
    }))
    .await
}
