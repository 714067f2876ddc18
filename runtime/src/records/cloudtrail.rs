//! CloudTrail log files: `{"Records": [ ... ]}`, one record per API call or event.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{FileProblem, Text};

/// One CloudTrail record: every documented field. Nested payloads stay raw JSON (Athena
/// keeps them as strings too: `requestparameters`, `responseelements`, …).
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Record<'a> {
    #[serde(borrow)]
    pub event_version: Option<Text<'a>>,
    #[serde(borrow)]
    pub user_identity: Option<UserIdentity<'a>>,
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

#[derive(Deserialize)]
struct File<'a> {
    #[serde(borrow, rename = "Records")]
    records: Option<Vec<&'a RawValue>>,
    #[serde(borrow, rename = "digestStartTime", default)]
    digest_start_time: Option<&'a RawValue>,
}

/// Splits a CloudTrail file into its raw records (each parsed later, so one bad record
/// does not lose the file).
pub fn split(bytes: &[u8]) -> Result<Vec<&RawValue>, FileProblem> {
    let file: File = match serde_json::from_slice(bytes) {
        Ok(f) => f,
        Err(e) if e.is_data() => return Err(FileProblem(format!("not a CloudTrail log file: {e}"))),
        Err(e) => return Err(FileProblem(format!("invalid JSON: {e}"))),
    };
    match (file.records, file.digest_start_time) {
        (Some(r), _) => Ok(r),
        (None, Some(_)) => Err(FileProblem("a CloudTrail digest file, not a log file".into())),
        (None, None) => Err(FileProblem("not a CloudTrail log file: no \"Records\" array".into())),
    }
}

#[derive(Deserialize)]
struct TypedFile<'a> {
    #[serde(borrow, rename = "Records", deserialize_with = "records")]
    records: Vec<Record<'a>>,
}

/// Records a file holds before its vector grows: CloudTrail's small deliveries (16 on average
/// in real trails) are read without moving records that were already read.
const RECORDS_AT_ONCE: usize = 64;

fn records<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Record<'de>>, D::Error> {
    struct Records;
    impl<'de> serde::de::Visitor<'de> for Records {
        type Value = Vec<Record<'de>>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of CloudTrail records")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).max(RECORDS_AT_ONCE));
            while let Some(r) = seq.next_element()? {
                out.push(r);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Records)
}

/// Parses a whole file in one pass. `None` when any record (or the file) does not fit the
/// model: the caller then falls back to [`split`] and [`parse`], record by record, to keep
/// the good ones and count the bad.
pub fn parse_file(bytes: &[u8]) -> Option<Vec<Record<'_>>> {
    // One UTF-8 check of the whole file, rather than one per string and raw value.
    let text = std::str::from_utf8(bytes).ok()?;
    serde_json::from_str::<TypedFile>(text).ok().map(|f| f.records)
}

/// Parses one raw record.
pub fn parse(raw: &RawValue) -> Result<Record<'_>, String> {
    serde_json::from_str(raw.get()).map_err(|e| e.to_string())
}
