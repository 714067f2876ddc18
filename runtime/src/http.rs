//! HTTPS to the APIs that are not AWS's (the Anthropic Messages API, Slack's Web API), on the client stack
//! the AWS SDK already brings: hyper, rustls on aws-lc-rs, the system's trust roots. One TLS
//! library and one crypto provider in the whole program.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// What came back: the status, the whole body, and how long the server asked to be left
/// alone (`Retry-After` in seconds, with a 429 or 503).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    pub retry_after: Option<Duration>,
}

/// A request that got no HTTP answer (connection, TLS, timeout).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(pub String);

#[derive(Clone)]
pub struct HttpClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl HttpClient {
    /// A client whose every request (connect, send, read the body) must end within `timeout`.
    pub fn new(timeout: Duration) -> Result<HttpClient, HttpError> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| HttpError(format!("TLS trust roots: {e}")))?
            // Plain http only reaches loopback test servers; real endpoints are https.
            .https_or_http()
            .enable_http1()
            .build();
        Ok(HttpClient { client: Client::builder(TokioExecutor::new()).build(https), timeout })
    }

    /// POSTs `body` (JSON) with `headers`.
    pub async fn post_json(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &serde_json::Value,
    ) -> Result<Response, HttpError> {
        self.post(url, "application/json", headers, body.to_string().into_bytes()).await
    }

    /// POSTs `body` as `content_type` with `headers`.
    pub async fn post(
        &self,
        url: &str,
        content_type: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Response, HttpError> {
        let mut req = hyper::Request::post(url).header("content-type", content_type);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(Bytes::from(body))).map_err(|e| HttpError(format!("POST {url}: {e}")))?;
        let exchange = async {
            let resp = self.client.request(req).await.map_err(|e| HttpError(format!("POST {url}: {e}")))?;
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = resp.into_body().collect().await.map_err(|e| HttpError(format!("POST {url}: {e}")))?;
            Ok(Response { status, body: body.to_bytes().to_vec(), retry_after })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| HttpError(format!("POST {url}: no answer within {}s", self.timeout.as_secs())))?
    }
}
