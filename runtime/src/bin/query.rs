//! Lambda adapter for the `query` function (Function URL with IAM auth): the environment,
//! one AWS connection, requests to `opslake_runtime::functions::query`.

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use opslake_runtime::aws::Connection;
use opslake_runtime::functions::{self, env::QueryEnv, query::QueryService};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let env = QueryEnv::from_env()?;
    let aws = Connection::default().load(None).await;
    let service = QueryService { source: functions::athena(&env.lake, &aws), layout: env.lake.layout };
    let service = &service;
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<LambdaFunctionUrlRequest>| async move {
        Ok::<_, Error>(service.handle_url(ev.payload).await)
    }))
    .await
}
