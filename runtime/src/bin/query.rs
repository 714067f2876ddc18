//! Lambda adapter for the `query` function (Function URL with IAM auth): the environment,
//! one AWS connection, requests to `opslake_runtime::functions::query`.

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use opslake_runtime::aws::Connection;
use opslake_runtime::functions::query::{QueryService, MAX_ROWS};
use opslake_runtime::functions::{self, env::QueryEnv};
use opslake_runtime::source::Source;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let env = QueryEnv::from_env()?;
    let aws = Connection::default().load(None).await;
    // The function stops reading a result at MAX_ROWS; the rest stays in Athena's result file.
    let source = match functions::athena(&env.lake, &aws) {
        Source::Athena(engine) => Source::Athena(engine.with_row_cap(MAX_ROWS)),
        other => other,
    };
    let service = QueryService { source, layout: env.lake.layout };
    let service = &service;
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<LambdaFunctionUrlRequest>| async move {
        Ok::<_, Error>(service.handle_url(ev.payload).await)
    }))
    .await
}
