//! Lambda adapter for the `change-summary` function (Function URL with IAM auth).

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use opslake_runtime::engine::athena::{AthenaEngine, Connection};
use opslake_runtime::functions::change_summary::ChangeSummaryService;
use opslake_runtime::functions::query::layout_from_env;
use opslake_runtime::llm::{parse_model, Anthropic, Backoff, Bedrock, Model, NoModel};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (layout, workgroup) = layout_from_env()?;
    let var = |k: &str| std::env::var(k).map_err(|_| format!("{k} is not set"));
    let model_spec = var("OPSLAKE_MODEL")?;
    let model: Box<dyn Model> = match parse_model(&model_spec)? {
        ("bedrock", Some(id)) => Box::new(Bedrock::connect(id, None, None, Backoff::default()).await),
        ("anthropic", Some(id)) => {
            // The key lives in Secrets Manager, never in the environment.
            let secret = var("OPSLAKE_ANTHROPIC_SECRET_ARN")?;
            let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let got = aws_sdk_secretsmanager::Client::new(&shared).get_secret_value().secret_id(&secret).send().await?;
            let key = got.secret_string().ok_or("the Anthropic secret has no string value")?.trim().to_string();
            Box::new(Anthropic {
                api_key: key,
                model: id.to_string(),
                base_url: "https://api.anthropic.com".into(),
                backoff: Backoff::default(),
            })
        }
        _ => Box::new(NoModel),
    };
    let athena = AthenaEngine::connect(&Connection::default(), &workgroup, &layout.database).await;
    let service = ChangeSummaryService {
        layout,
        athena,
        model,
        language: var("OPSLAKE_LANGUAGE").unwrap_or_else(|_| "en".into()),
        max_tokens: var("OPSLAKE_MAX_TOKENS").ok().and_then(|v| v.parse().ok()).unwrap_or(1500),
    };
    let service = &service;
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<LambdaFunctionUrlRequest>| async move {
        Ok::<_, Error>(service.handle_url(ev.payload).await)
    }))
    .await
}
