//! Lambda adapter for the `leftovers` function (invoked by an EventBridge schedule): settings
//! from the environment, the work in `opslake_runtime::functions::leftovers`.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use opslake_runtime::engine::athena::{AthenaEngine, Connection};
use opslake_runtime::functions::leftovers::{settings_from_env, LeftoversService};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let s = settings_from_env()?;
    let athena = AthenaEngine::connect(&Connection::default(), &s.workgroup, &s.layout.database).await;
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let service = LeftoversService {
        layout: s.layout,
        source: s.source,
        athena: Some(athena),
        lookup: Connection::default(),
        sns: aws_sdk_sns::Client::new(&shared),
        topic_arn: s.topic_arn,
        lookback_days: s.lookback_days,
    };
    let service = &service;
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
        service.run(today).await.map_err(Error::from)
    }))
    .await
}
