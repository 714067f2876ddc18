//! AWS Config history and snapshot files: `{"fileVersion": "1.0", "configurationItems": [...]}`.
//! Real files carry key typos (`configurationStateID`, `availibilityZone`) and deliver
//! `configuration` as an object or as a JSON string: both are accepted.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{FileProblem, Text};

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Item<'a> {
    #[serde(borrow)]
    pub configuration_item_version: Option<Text<'a>>,
    #[serde(borrow)]
    pub configuration_item_capture_time: Option<Text<'a>>,
    #[serde(borrow, alias = "configurationStateID")]
    pub configuration_state_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub aws_account_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub configuration_item_status: Option<Text<'a>>,
    #[serde(borrow)]
    pub resource_type: Option<Text<'a>>,
    #[serde(borrow)]
    pub resource_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub resource_name: Option<Text<'a>>,
    #[serde(borrow, rename = "ARN", alias = "arn")]
    pub arn: Option<Text<'a>>,
    #[serde(borrow)]
    pub aws_region: Option<Text<'a>>,
    #[serde(borrow, alias = "availibilityZone")]
    pub availability_zone: Option<Text<'a>>,
    #[serde(borrow, alias = "configurationStateMD5Hash")]
    pub configuration_state_md5_hash: Option<Text<'a>>,
    #[serde(borrow)]
    pub resource_creation_time: Option<Text<'a>>,
    #[serde(borrow)]
    pub configuration: Option<&'a RawValue>,
    #[serde(borrow)]
    pub supplementary_configuration: Option<&'a RawValue>,
    #[serde(borrow)]
    pub tags: Option<&'a RawValue>,
    #[serde(borrow)]
    pub related_events: Option<&'a RawValue>,
    #[serde(borrow)]
    pub relationships: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct File<'a> {
    #[serde(borrow, default)]
    file_version: Option<Text<'a>>,
    #[serde(borrow, default)]
    configuration_items: Option<Vec<&'a RawValue>>,
}

/// Splits a Config file into its raw items.
pub fn split(bytes: &[u8]) -> Result<Vec<&RawValue>, FileProblem> {
    let file: File = match serde_json::from_slice(bytes) {
        Ok(f) => f,
        Err(e) if e.is_data() => return Err(FileProblem(format!("not an AWS Config file: {e}"))),
        Err(e) => return Err(FileProblem(format!("invalid JSON: {e}"))),
    };
    match file.configuration_items {
        Some(items) => Ok(items),
        None if file.file_version.is_some() => Ok(Vec::new()),
        None => Err(FileProblem("not an AWS Config file: no \"configurationItems\" array".into())),
    }
}

pub fn parse(raw: &RawValue) -> Result<Item<'_>, String> {
    serde_json::from_str(raw.get()).map_err(|e| e.to_string())
}
