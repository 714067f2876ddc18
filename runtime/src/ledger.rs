//! The run ledger: one DynamoDB item per thing that may start an analysis (a Slack request, an
//! alarm), claimed with a conditional write before anything runs. DynamoDB evaluates the
//! condition and the write as one step, so of deliveries that arrive together (Slack's
//! retries, an event delivered twice, Lambda's own retries of an asynchronous invocation)
//! exactly one wins; the others see the claim and stop.
//!
//! A claim may be renewed after a quiet period: an alarm that flaps starts one run per period,
//! not one per transition. Every item carries its expiry (`expires_at`, the table's TTL
//! attribute), so the table holds only what can still matter.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use jiff::Timestamp;

use crate::aws::{sdk_message, Aws};

/// The table's key attribute.
pub const KEY: &str = "pk";
/// The table's TTL attribute (Unix seconds).
pub const EXPIRES_AT: &str = "expires_at";
const CLAIMED_AT: &str = "claimed_at";

/// What a claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This delivery runs.
    Won,
    /// Another delivery claimed it within the quiet period: nothing runs.
    Taken,
}

pub struct Ledger {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl Ledger {
    pub fn new(aws: &Aws, table: &str) -> Ledger {
        let config = aws_sdk_dynamodb::config::Builder::from(aws.config()).retry_config(crate::aws::retries(4)).build();
        Ledger { client: aws_sdk_dynamodb::Client::from_conf(config), table: table.to_string() }
    }

    /// Claims `key` at `now`. It is free when nobody claimed it, or when the last claim is
    /// older than `quiet`; the item is kept for `quiet` (at least a day, so that a late
    /// duplicate still finds it).
    pub async fn claim(&self, key: &str, now: Timestamp, quiet: Duration) -> Result<Claim, String> {
        let now_s = now.as_second();
        let quiet_s = i64::try_from(quiet.as_secs()).unwrap_or(i64::MAX / 2);
        let keep = quiet_s.max(86_400);
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(KEY, AttributeValue::S(key.to_string()))
            .item(CLAIMED_AT, AttributeValue::N(now_s.to_string()))
            .item(EXPIRES_AT, AttributeValue::N(now_s.saturating_add(keep).to_string()))
            .condition_expression("attribute_not_exists(#k) OR #c <= :cutoff")
            .expression_attribute_names("#k", KEY)
            .expression_attribute_names("#c", CLAIMED_AT)
            .expression_attribute_values(":cutoff", AttributeValue::N(now_s.saturating_sub(quiet_s).to_string()))
            .send()
            .await;
        match put {
            Ok(_) => Ok(Claim::Won),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                Ok(Claim::Taken)
            }
            Err(e) => Err(format!("DynamoDB PutItem on {}: {}", self.table, sdk_message(&e))),
        }
    }
}
