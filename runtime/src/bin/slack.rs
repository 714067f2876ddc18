//! Lambda adapter for the `slack` function (Function URL, auth NONE: every request is
//! signature-verified first): the environment, the two secrets read once per container,
//! requests to `opslake_runtime::functions::slack`.

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use opslake_runtime::aws::{secret_string, Connection};
use opslake_runtime::functions::env::{SlackEnv, SLACK_API_URL};
use opslake_runtime::functions::slack::{LambdaWorker, SlackService};
use opslake_runtime::slack::api::{SlackApi, SLACK_API};
use opslake_runtime::slack::verify::SigningSecret;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let env = SlackEnv::from_env()?;
    let aws = Connection::default().load(None).await;
    let signing = secret_string(&aws, &env.signing_secret_arn).await?;
    let token = secret_string(&aws, &env.bot_token_arn).await?;
    let base = std::env::var(SLACK_API_URL).unwrap_or_else(|_| SLACK_API.to_string());
    let service = SlackService {
        secret: SigningSecret::new(&signing),
        api: SlackApi::new(&base, token)?,
        worker: Box::new(LambdaWorker::new(&aws, env.worker.text())),
        log_groups: env.log_groups,
    };
    let service = &service;
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<LambdaFunctionUrlRequest>| async move {
        Ok::<_, Error>(service.handle_url(ev.payload).await)
    }))
    .await
}
