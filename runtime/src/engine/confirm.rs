//! `--confirm`: asks the Cloud Control API whether each leftover still exists. Resources can
//! vanish without a delete event (spot interruptions, scale-in); the live check is the final
//! word. `ResourceNotFoundException` drops a leftover; any other answer keeps it, marked as
//! unconfirmed with the reason.

use aws_sdk_cloudcontrol::error::ProvideErrorMetadata;

use crate::analysis::leftovers::Leftover;
use crate::aws::{sdk_message, Aws};
use crate::catalogue::cloud_control_type;

/// What the check did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Confirmed {
    pub still_there: usize,
    pub gone: usize,
    pub unconfirmed: usize,
}

fn client(aws: &Aws, region: &str) -> aws_sdk_cloudcontrol::Client {
    let config = aws_sdk_cloudcontrol::config::Builder::from(&aws.in_region(region))
        .retry_config(crate::aws::retries(5))
        .build();
    aws_sdk_cloudcontrol::Client::from_conf(config)
}

/// Keeps the leftovers that still exist (or could not be checked) and records the outcome
/// in each one's `still_exists` and `note`.
pub async fn confirm(aws: &Aws, found: Vec<Leftover>) -> (Vec<Leftover>, Confirmed) {
    let mut clients = std::collections::BTreeMap::new();
    let mut out = Vec::new();
    let mut stats = Confirmed::default();
    for mut l in found {
        let Some(type_name) = cloud_control_type(&l.resource_type) else {
            l.note = Some("not checked: Cloud Control has no identifier for this type that the events give".into());
            stats.unconfirmed += 1;
            out.push(l);
            continue;
        };
        if !clients.contains_key(&l.region) {
            clients.insert(l.region.clone(), client(aws, &l.region));
        }
        let c = &clients[&l.region];
        match c.get_resource().type_name(type_name).identifier(&l.id).send().await {
            Ok(_) => {
                l.still_exists = Some(true);
                stats.still_there += 1;
                out.push(l);
            }
            Err(e) if e.code() == Some("ResourceNotFoundException") => stats.gone += 1,
            Err(e) => {
                l.note = Some(format!("not confirmed: {}", sdk_message(&e)));
                stats.unconfirmed += 1;
                out.push(l);
            }
        }
    }
    (out, stats)
}
