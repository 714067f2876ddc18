//! The one place that loads AWS SDK configuration, and the one way SDK errors are shown.
//!
//! A [`Connection`] says how to reach AWS (the standard credential chain, refined by a profile,
//! a region and an endpoint URL); [`Connection::load`] resolves it once into an [`Aws`], and
//! every client of every service — Athena, Bedrock, Secrets Manager, CloudFormation, S3 … — is
//! built from that, per region with [`Aws::in_region`]. So `--profile` reaches the model as it
//! reaches Athena, and tests point every client at a local server with one endpoint URL.

use aws_config::{Region, SdkConfig};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// How to reach AWS: the standard credential chain, refined by what is set here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connection {
    /// A named profile of the shared config files.
    pub profile: Option<String>,
    /// The region, else the chain's (`AWS_REGION`, the profile's).
    pub region: Option<String>,
    /// Every client's endpoint (tests, private endpoints).
    pub endpoint_url: Option<String>,
}

/// A loaded SDK configuration: credentials, region, endpoint.
#[derive(Debug, Clone)]
pub struct Aws {
    config: SdkConfig,
}

impl Connection {
    /// Resolves the connection; `default_region` applies when the connection names none.
    pub async fn load(&self, default_region: Option<&str>) -> Aws {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(p) = &self.profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = self.region.as_deref().or(default_region) {
            loader = loader.region(Region::new(r.to_string()));
        }
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        Aws { config: loader.load().await }
    }

    /// The same connection with `region` when it names none.
    pub fn or_region(&self, region: &str) -> Connection {
        Connection { region: Some(self.region.clone().unwrap_or_else(|| region.to_string())), ..self.clone() }
    }
}

impl Aws {
    /// The configuration in its own region.
    pub fn config(&self) -> &SdkConfig {
        &self.config
    }

    /// The same credentials and endpoint in another region.
    pub fn in_region(&self, region: &str) -> SdkConfig {
        self.config.to_builder().region(Region::new(region.to_string())).build()
    }

    /// The same configuration with the credentials of `role_arn`, assumed from these ones
    /// (refreshed before they expire).
    pub async fn assume(&self, role_arn: &str, session_name: &str) -> Aws {
        let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
            .session_name(session_name)
            .configure(&self.config)
            .build()
            .await;
        let config = self
            .config
            .to_builder()
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(provider))
            .build();
        Aws { config }
    }

    pub fn region(&self) -> Option<&str> {
        self.config.region().map(|r| r.as_ref())
    }

    /// Set when every client goes to one endpoint (an emulator): S3 then needs path-style URLs.
    pub fn endpoint_url(&self) -> Option<&str> {
        self.config.endpoint_url()
    }
}

/// An SDK error of any AWS client as `Code: message` (not just "service error"); without
/// a code, the HTTP status; without a response, the error's chain of causes. Every SDK crate
/// shares `SdkError` and `ProvideErrorMetadata` from the smithy runtime.
pub fn sdk_message<E>(e: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match (e.code(), e.message()) {
        (Some(code), Some(msg)) => format!("{code}: {msg}"),
        (Some(code), None) => code.to_string(),
        (None, msg) => match e.raw_response().map(|r| r.status().as_u16()) {
            Some(status) => format!("HTTP {status}: {}", msg.unwrap_or("no message")),
            None => {
                let mut text = e.to_string();
                let mut source = std::error::Error::source(e);
                while let Some(s) = source {
                    text.push_str(&format!(": {s}"));
                    source = s.source();
                }
                text
            }
        },
    }
}

/// The retries every client of the engines uses for throttling, 5xx and dropped connections
/// (the SDK's standard strategy: `attempts` calls in all, backoff from 200 ms).
pub fn retries(attempts: u32) -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(attempts)
        .with_initial_backoff(std::time::Duration::from_millis(200))
}

/// Worth another attempt: throttling, a server error, or no response at all (network).
pub fn is_transient<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    let Some(status) = e.raw_response().map(|r| r.status().as_u16()) else { return true };
    matches!(
        e.code(),
        Some("ThrottlingException" | "Throttling" | "TooManyRequestsException" | "ServiceUnavailableException")
    ) || status == 429
        || status >= 500
}

/// A Secrets Manager secret's string value, trimmed (the functions' keys, tokens and signing
/// secrets: never in the environment, read once per container by the caller).
#[cfg(feature = "secrets")]
pub async fn secret_string(aws: &Aws, arn: &str) -> Result<String, String> {
    let got = aws_sdk_secretsmanager::Client::new(aws.config())
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| format!("Secrets Manager GetSecretValue {arn}: {}", sdk_message(&e)))?;
    let value = got.secret_string().ok_or_else(|| format!("{arn} has no string value"))?;
    Ok(value.trim().to_string())
}
