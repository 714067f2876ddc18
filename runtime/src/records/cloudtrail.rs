//! CloudTrail log files: `{"Records": [ ... ]}`, one record per API call or event.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{FileProblem, Text};

mod index;
mod scan;
pub use scan::{read, read_each, Field, Fields, Read, Tally};

/// One CloudTrail record: every documented field. Nested payloads stay raw JSON (Athena
/// keeps them as strings too: `requestparameters`, `responseelements`, …).
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Record<'a> {
    #[serde(borrow)]
    pub event_version: Option<Text<'a>>,
    #[serde(borrow)]
    pub user_identity: Option<Box<UserIdentity<'a>>>,
    #[serde(borrow)]
    pub event_time: Option<Text<'a>>,
    #[serde(borrow)]
    pub event_source: Option<Text<'a>>,
    #[serde(borrow)]
    pub event_name: Option<Text<'a>>,
    #[serde(borrow)]
    pub aws_region: Option<Text<'a>>,
    #[serde(borrow, rename = "sourceIPAddress")]
    pub source_ip_address: Option<Text<'a>>,
    #[serde(borrow)]
    pub user_agent: Option<Text<'a>>,
    #[serde(borrow)]
    pub error_code: Option<Text<'a>>,
    #[serde(borrow)]
    pub error_message: Option<Text<'a>>,
    #[serde(borrow)]
    pub request_parameters: Option<&'a RawValue>,
    #[serde(borrow)]
    pub response_elements: Option<&'a RawValue>,
    #[serde(borrow)]
    pub additional_event_data: Option<&'a RawValue>,
    #[serde(borrow, rename = "requestID")]
    pub request_id: Option<Text<'a>>,
    #[serde(borrow, rename = "eventID")]
    pub event_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub read_only: Option<Text<'a>>,
    #[serde(borrow)]
    pub resources: Option<&'a RawValue>,
    #[serde(borrow)]
    pub event_type: Option<Text<'a>>,
    #[serde(borrow)]
    pub api_version: Option<Text<'a>>,
    #[serde(borrow)]
    pub management_event: Option<Text<'a>>,
    #[serde(borrow)]
    pub recipient_account_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub service_event_details: Option<&'a RawValue>,
    #[serde(borrow, rename = "sharedEventID")]
    pub shared_event_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub vpc_endpoint_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub vpc_endpoint_account_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub event_category: Option<Text<'a>>,
    #[serde(borrow)]
    pub addendum: Option<&'a RawValue>,
    #[serde(borrow)]
    pub session_credential_from_console: Option<Text<'a>>,
    #[serde(borrow)]
    pub edge_device_details: Option<&'a RawValue>,
    #[serde(borrow)]
    pub tls_details: Option<&'a RawValue>,
    #[serde(borrow)]
    pub insight_details: Option<&'a RawValue>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct UserIdentity<'a> {
    #[serde(borrow, rename = "type")]
    pub kind: Option<Text<'a>>,
    #[serde(borrow)]
    pub principal_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub arn: Option<Text<'a>>,
    #[serde(borrow)]
    pub account_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub access_key_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub user_name: Option<Text<'a>>,
    #[serde(borrow)]
    pub invoked_by: Option<Text<'a>>,
    #[serde(borrow)]
    pub session_context: Option<SessionContext<'a>>,
    #[serde(borrow)]
    pub on_behalf_of: Option<&'a RawValue>,
    #[serde(borrow)]
    pub identity_provider: Option<Text<'a>>,
    #[serde(borrow)]
    pub credential_id: Option<Text<'a>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct SessionContext<'a> {
    #[serde(borrow)]
    pub attributes: Option<&'a RawValue>,
    #[serde(borrow)]
    pub session_issuer: Option<SessionIssuer<'a>>,
    #[serde(borrow)]
    pub web_id_federation_data: Option<&'a RawValue>,
    #[serde(borrow)]
    pub source_identity: Option<Text<'a>>,
    #[serde(borrow)]
    pub ec2_role_delivery: Option<Text<'a>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct SessionIssuer<'a> {
    #[serde(borrow, rename = "type")]
    pub kind: Option<Text<'a>>,
    #[serde(borrow)]
    pub principal_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub arn: Option<Text<'a>>,
    #[serde(borrow)]
    pub account_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub user_name: Option<Text<'a>>,
}

impl Record<'_> {
    /// `useridentity.arn`
    pub fn arn(&self) -> Option<&str> {
        self.user_identity.as_ref()?.arn.as_ref().map(Text::as_str)
    }

    /// `useridentity.username`, else the session issuer's user name (assumed roles).
    pub fn user_name(&self) -> Option<&str> {
        let ui = self.user_identity.as_ref()?;
        ui.user_name
            .as_ref()
            .or_else(|| ui.session_context.as_ref()?.session_issuer.as_ref()?.user_name.as_ref())
            .map(Text::as_str)
    }

    pub fn invoked_by(&self) -> Option<&str> {
        self.user_identity.as_ref()?.invoked_by.as_ref().map(Text::as_str)
    }

    /// Who made the call, as activity counts it: the role of a role session (its session
    /// issuer's ARN: one key per role, not per session), else `useridentity.arn` (IAM users
    /// and root), else the service that called (`invokedby`).
    pub fn principal(&self) -> Option<&str> {
        let ui = self.user_identity.as_ref()?;
        ui.session_context
            .as_ref()
            .and_then(|c| c.session_issuer.as_ref()?.arn.as_ref())
            .or(ui.arn.as_ref())
            .or(ui.invoked_by.as_ref())
            .map(Text::as_str)
    }

    /// `useridentity.type`: `Root`, `IAMUser`, `AssumedRole`, `AWSService`, …
    pub fn identity_type(&self) -> Option<&str> {
        self.user_identity.as_ref()?.kind.as_ref().map(Text::as_str)
    }

    /// A console sign-in's result (`Success`, `Failure`): `responseElements.ConsoleLogin` of
    /// a `ConsoleLogin` event; `None` for every other event.
    pub fn sign_in(&self) -> Option<String> {
        if self.event_name.as_ref().map(Text::as_str) != Some("ConsoleLogin") {
            return None;
        }
        extract_scalar(self.response_elements, &["ConsoleLogin"])
    }
}

/// Text of a raw JSON value as Athena's string column holds it: objects and arrays as JSON
/// text, strings unquoted, `null` as NULL.
pub fn raw_text(v: Option<&RawValue>) -> Option<String> {
    let raw = v?.get();
    if raw == "null" {
        return None;
    }
    if raw.starts_with('"') {
        return serde_json::from_str::<String>(raw).ok();
    }
    Some(raw.to_string())
}

/// `json_extract_scalar(raw, '$.a.b')`: the scalar at a dotted path, as text.
pub fn extract_scalar(v: Option<&RawValue>, path: &[&str]) -> Option<String> {
    let raw = v?.get();
    let mut value: serde_json::Value = serde_json::from_str(raw).ok()?;
    for key in path {
        value = value.get_mut(*key)?.take();
    }
    match value {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
