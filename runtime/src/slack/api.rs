//! The Slack Web API methods the app calls, with its bot token in the `Authorization` header:
//! `views.open`, `chat.postMessage`, `users.info`, and the file upload flow
//! (`files.getUploadURLExternal` → POST the bytes to the URL it gives →
//! `files.completeUploadExternal`). Every method answers 200 with `{"ok": …}`; `ok: false` is
//! an error named by Slack's `error` code. A 429 is waited out for its `Retry-After` (capped)
//! and retried; a 5xx or a dropped connection is retried on the shared backoff.

use std::time::Duration;

use serde_json::{json, Value};

use crate::backoff::Backoff;
use crate::http::{HttpClient, Response};

/// Slack's Web API.
pub const SLACK_API: &str = "https://slack.com/api";
/// Calls per method, the first included.
const ATTEMPTS: usize = 4;
/// A `Retry-After` longer than this is not waited for (the call fails as rate-limited).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackError {
    /// Slack answered `ok: false`.
    #[error("Slack {method}: {error}")]
    Api { method: String, error: String },
    #[error("Slack {method}: rate-limited (retry after {after:?})")]
    RateLimited { method: String, after: Option<Duration> },
    #[error("Slack {method}: {detail}")]
    Transport { method: String, detail: String },
}

/// Text as Slack shows it literally in `mrkdwn`: `&`, `<` and `>` are Slack's control
/// characters (links, mentions), so a value from the logs cannot mention or link anyone.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The body of one call.
enum Body<'a> {
    Json(&'a Value),
    Form(&'a [(&'a str, &'a str)]),
}

pub struct SlackApi {
    http: HttpClient,
    base: String,
    token: String,
    backoff: Backoff,
}

impl std::fmt::Debug for SlackApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackApi").field("base", &self.base).finish_non_exhaustive()
    }
}

impl SlackApi {
    /// A client of the API at `base` (`SLACK_API`; tests give a local server) with `token`.
    pub fn new(base: &str, token: String) -> Result<SlackApi, String> {
        let http = HttpClient::new(Duration::from_secs(10)).map_err(|e| e.to_string())?;
        Ok(SlackApi {
            http,
            base: base.trim_end_matches('/').to_string(),
            token,
            backoff: Backoff::retries(ATTEMPTS, Duration::from_millis(500)),
        })
    }

    async fn send(&self, url: &str, method: &str, body: &Body<'_>) -> Result<Response, SlackError> {
        let auth = format!("Bearer {}", self.token);
        let headers = [("authorization", auth.as_str())];
        let sent = match body {
            Body::Json(v) => {
                self.http.post(url, "application/json; charset=utf-8", &headers, v.to_string().into_bytes()).await
            }
            Body::Form(fields) => {
                let form = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields.iter()).finish();
                self.http.post(url, "application/x-www-form-urlencoded", &headers, form.into_bytes()).await
            }
        };
        sent.map_err(|e| SlackError::Transport { method: method.to_string(), detail: e.to_string() })
    }

    /// One method call, retried as the module says; the answer when `ok`.
    async fn call(&self, method: &str, body: Body<'_>) -> Result<Value, SlackError> {
        let url = format!("{}/{method}", self.base);
        let mut pauses = self.backoff.delays();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= ATTEMPTS;
            let resp = match self.send(&url, method, &body).await {
                Ok(r) => r,
                Err(e) if last => return Err(e),
                Err(_) => {
                    tokio::time::sleep(pauses.next().unwrap_or(Duration::from_secs(1))).await;
                    continue;
                }
            };
            match resp.status {
                429 => {
                    let after = resp.retry_after;
                    match after.filter(|a| *a <= MAX_RETRY_AFTER && !last) {
                        Some(wait) => tokio::time::sleep(wait).await,
                        None => return Err(SlackError::RateLimited { method: method.to_string(), after }),
                    }
                }
                s if s >= 500 && !last => tokio::time::sleep(pauses.next().unwrap_or(Duration::from_secs(1))).await,
                200 => {
                    let v: Value = serde_json::from_slice(&resp.body).map_err(|e| SlackError::Transport {
                        method: method.to_string(),
                        detail: format!("the answer is not JSON: {e}"),
                    })?;
                    if v["ok"].as_bool() == Some(true) {
                        return Ok(v);
                    }
                    let error = v["error"].as_str().unwrap_or("ok is false, no error given").to_string();
                    return Err(SlackError::Api { method: method.to_string(), error });
                }
                s => {
                    return Err(SlackError::Transport { method: method.to_string(), detail: format!("HTTP {s}") });
                }
            }
        }
    }

    /// Opens a modal for the user whose `trigger_id` this is (valid for 3 s after it was sent).
    pub async fn views_open(&self, trigger_id: &str, view: &Value) -> Result<(), SlackError> {
        self.call("views.open", Body::Json(&json!({"trigger_id": trigger_id, "view": view}))).await.map(|_| ())
    }

    /// Posts a message (in `thread_ts`'s thread when given); its `ts`.
    pub async fn post_message(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        text: &str,
        blocks: &Value,
    ) -> Result<String, SlackError> {
        let mut body = json!({"channel": channel, "text": text, "blocks": blocks, "unfurl_links": false});
        if let Some(t) = thread_ts {
            body["thread_ts"] = json!(t);
        }
        let v = self.call("chat.postMessage", Body::Json(&body)).await?;
        Ok(v["ts"].as_str().unwrap_or_default().to_string())
    }

    /// A user's IANA time zone (`users.info` → `user.tz`), when Slack knows it.
    pub async fn user_zone(&self, user: &str) -> Result<Option<String>, SlackError> {
        let v = self.call("users.info", Body::Form(&[("user", user)])).await?;
        Ok(v["user"]["tz"].as_str().filter(|s| !s.is_empty()).map(str::to_string))
    }

    /// Uploads `bytes` as `filename` and shares it in `channel` (in `thread_ts`'s thread);
    /// the file's id.
    pub async fn upload(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        filename: &str,
        title: &str,
        bytes: Vec<u8>,
    ) -> Result<String, SlackError> {
        let length = bytes.len().to_string();
        let got =
            self.call("files.getUploadURLExternal", Body::Form(&[("filename", filename), ("length", &length)])).await?;
        let (Some(url), Some(id)) = (got["upload_url"].as_str(), got["file_id"].as_str()) else {
            return Err(SlackError::Api {
                method: "files.getUploadURLExternal".into(),
                error: "no upload_url or file_id in the answer".into(),
            });
        };
        let up = self
            .http
            .post(url, "application/octet-stream", &[], bytes)
            .await
            .map_err(|e| SlackError::Transport { method: "file upload".into(), detail: e.to_string() })?;
        if up.status != 200 {
            return Err(SlackError::Transport { method: "file upload".into(), detail: format!("HTTP {}", up.status) });
        }
        let mut body = json!({"files": [{"id": id, "title": title}], "channel_id": channel});
        if let Some(t) = thread_ts {
            body["thread_ts"] = json!(t);
        }
        self.call("files.completeUploadExternal", Body::Json(&body)).await?;
        Ok(id.to_string())
    }
}
