//! Lambda adapter for the `query` function (Function URL with IAM auth): configuration
//! from the environment, requests to `opslake_runtime::functions::query`.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use opslake_runtime::engine::athena::{AthenaEngine, Connection};
use opslake_runtime::functions::query::{layout_from_env, QueryService};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (layout, workgroup) = layout_from_env()?;
    let engine = AthenaEngine::connect(&Connection::default(), &workgroup, &layout.database).await;
    let service = QueryService { layout, engine };
    let service = &service;
    lambda_runtime::run(service_fn(
        move |ev: LambdaEvent<aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest>| async move {
            Ok::<_, Error>(service.handle_url(ev.payload).await)
        },
    ))
    .await
}
