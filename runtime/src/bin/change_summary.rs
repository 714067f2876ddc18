//! Lambda adapter for the `change-summary` function (Function URL with IAM auth): the
//! environment, one AWS connection (Athena, Bedrock, the Anthropic key's secret), requests to
//! `opslake_runtime::functions::change_summary`.

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use opslake_runtime::aws::Connection;
use opslake_runtime::functions::{self, change_summary::ChangeSummaryService, env::ChangeSummaryEnv};
use opslake_runtime::llm;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let env = ChangeSummaryEnv::from_env()?;
    let aws = Connection::default().load(None).await;
    // The key lives in Secrets Manager, never in the environment.
    let model = llm::connect(&env.model.model, &aws, &env.model.anthropic_key()).await?;
    let service = ChangeSummaryService {
        source: functions::athena(&env.lake, &aws),
        layout: env.lake.layout,
        model,
        language: env.model.language,
        max_tokens: env.model.max_tokens,
    };
    let service = &service;
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<LambdaFunctionUrlRequest>| async move {
        Ok::<_, Error>(service.handle_url(ev.payload).await)
    }))
    .await
}
