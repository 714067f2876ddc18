//! Leftovers: resources created but never deleted.
//!
//! Pairs the rows of the `created-deleted` query (whatever engine produced them): each
//! resource is keyed by (account, region, event source, type, id) and its events are taken in
//! time order — a delete closes it, a later create opens it again. Events with an error code
//! (dry runs, denied calls, failed launches) count for nothing. A delete that names the
//! resource instead of giving its id (security groups, key pairs) is resolved through the
//! names its creates recorded. Creations by a service principal (`invokedBy`: Auto Scaling,
//! CloudFormation, …) are attributed to that service, not to a person.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::catalogue::CATALOGUE;
use crate::query::{Answer, Row};

/// One resource that was created and, as far as the events show, still exists.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Leftover {
    pub resource_type: String,
    pub id: String,
    pub name: Option<String>,
    pub account: String,
    pub region: String,
    pub created_at: String,
    /// ARN of the principal that created it.
    pub created_by: Option<String>,
    /// The user or role-session name at the end of that ARN.
    pub created_by_user: Option<String>,
    /// The AWS service that created it on someone's behalf (`invokedBy`), if any.
    pub created_by_service: Option<String>,
    pub create_event_id: Option<String>,
    pub age_days: i64,
    pub cost_hint: String,
    pub console_url: String,
    /// `--confirm`: `Some(true)` when Cloud Control found it; `None` when not checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub still_exists: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Callers that are a person at the console, not a service acting on its own.
const CONSOLE: &[&str] = &["signin.amazonaws.com", "console.amazonaws.com", "AWS Internal"];

fn user_of(arn: &str) -> Option<String> {
    arn.rsplit(['/', ':']).next().filter(|s| !s.is_empty()).map(str::to_string)
}

struct Open {
    row: usize,
    name: Option<String>,
}

/// Pairs the rows of a `created-deleted` answer into leftovers; `now` gives their age.
pub fn pair(answer: &Answer, now: jiff::Timestamp) -> Vec<Leftover> {
    let rows: Vec<Row> = answer.records().collect();
    // (account, region, source, type, id) → the open creation
    let mut open: BTreeMap<(String, String, String, String, String), Open> = BTreeMap::new();
    // (account, region, source, type, name) → id, from creates
    let mut names: HashMap<(String, String, String, String, String), String> = HashMap::new();
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| {
        let t = |i: usize| rows[i].str("eventtime").unwrap_or("");
        t(a).cmp(t(b))
    });
    for i in order {
        let r = rows[i];
        let get = |n: &str| r.str(n).map(str::to_string);
        if get("errorcode").is_some() {
            continue;
        }
        let (Some(account), Some(region), Some(source), Some(rtype), Some(action)) =
            (get("account"), get("awsregion"), get("eventsource"), get("resourcetype"), get("action"))
        else {
            continue;
        };
        let name = get("resourcename");
        // A create without an id is known by its name (older key pairs); a delete by name is
        // resolved through the names creates recorded, else taken as the name-as-id.
        let id = match (get("resourceid"), &name) {
            (Some(id), _) => id,
            (None, Some(n)) if action == "create" => n.clone(),
            (None, Some(n)) => names
                .get(&(account.clone(), region.clone(), source.clone(), rtype.clone(), n.clone()))
                .cloned()
                .unwrap_or_else(|| n.clone()),
            (None, None) => continue,
        };
        let key = (account.clone(), region.clone(), source.clone(), rtype.clone(), id.clone());
        if action == "create" {
            if let Some(n) = &name {
                names.insert((account, region, source, rtype, n.clone()), id);
            }
            open.insert(key, Open { row: i, name });
        } else {
            open.remove(&key);
        }
    }
    let mut out: Vec<Leftover> = open
        .into_iter()
        .map(|((account, region, _source, rtype, id), o)| {
            let r = rows[o.row];
            let get = |n: &str| r.str(n).map(str::to_string);
            let created_at = get("eventtime").unwrap_or_default();
            let age_days =
                created_at.parse::<jiff::Timestamp>().map(|t| (now.as_second() - t.as_second()) / 86_400).unwrap_or(0);
            let entry = CATALOGUE.iter().find(|t| t.name == rtype);
            let created_by = get("arn");
            let service = get("invokedby").filter(|s| !CONSOLE.contains(&s.as_str()));
            Leftover {
                console_url: entry
                    .map(|e| e.console.replace("{region}", &region).replace("{id}", &id))
                    .unwrap_or_default(),
                cost_hint: entry.map(|e| e.cost.to_string()).unwrap_or_default(),
                created_by_user: created_by.as_deref().and_then(user_of),
                created_by,
                created_by_service: service,
                create_event_id: get("eventid"),
                resource_type: rtype,
                id,
                name: o.name,
                account,
                region,
                created_at,
                age_days,
                still_exists: None,
                note: None,
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.resource_type, &a.created_at, &a.id).cmp(&(&b.resource_type, &b.created_at, &b.id)));
    out
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use serde_json::json;

    fn answer(rows: Vec<Vec<Value>>) -> Answer {
        Answer::of(crate::query::find("created-deleted").unwrap(), rows)
    }

    fn row(
        t: &str,
        action: &str,
        rtype: &str,
        id: Option<&str>,
        name: Option<&str>,
        invoked: Option<&str>,
        error: Option<&str>,
    ) -> Vec<Value> {
        let source = if rtype == "Security group" || rtype == "EC2 instance" {
            "ec2.amazonaws.com"
        } else {
            "rds.amazonaws.com"
        };
        vec![
            json!(t),
            json!(action),
            json!(rtype),
            json!(id),
            json!(name),
            json!(source),
            json!("X"),
            json!("111111111111"),
            json!("us-east-1"),
            json!(format!("ev-{t}")),
            json!("arn:aws:iam::111111111111:user/alice"),
            json!(invoked),
            json!(error),
        ]
    }

    #[test]
    fn pairing_rules() {
        let now: jiff::Timestamp = "2025-02-01T00:00:00Z".parse().unwrap();
        let rows = vec![
            // failed launch: ignored
            row(
                "2025-01-01T00:00:00Z",
                "create",
                "EC2 instance",
                Some("i-failed"),
                None,
                None,
                Some("Client.UnauthorizedOperation"),
            ),
            // created and terminated (one terminate closing two)
            row("2025-01-02T00:00:00Z", "create", "EC2 instance", Some("i-1"), None, None, None),
            row("2025-01-02T00:00:00Z", "create", "EC2 instance", Some("i-2"), None, None, None),
            row("2025-01-03T00:00:00Z", "delete", "EC2 instance", Some("i-1"), None, None, None),
            row("2025-01-03T00:00:00Z", "delete", "EC2 instance", Some("i-2"), None, None, None),
            // created, deleted, re-created: open again
            row("2025-01-04T00:00:00Z", "create", "EC2 instance", Some("i-3"), None, None, None),
            row("2025-01-05T00:00:00Z", "delete", "EC2 instance", Some("i-3"), None, None, None),
            row("2025-01-06T00:00:00Z", "create", "EC2 instance", Some("i-3"), None, None, None),
            // a security group deleted by name
            row("2025-01-07T00:00:00Z", "create", "Security group", Some("sg-1"), Some("web"), None, None),
            row("2025-01-08T00:00:00Z", "delete", "Security group", None, Some("web"), None, None),
            // a denied delete closes nothing
            row(
                "2025-01-09T00:00:00Z",
                "create",
                "EC2 instance",
                Some("i-4"),
                None,
                Some("autoscaling.amazonaws.com"),
                None,
            ),
            row("2025-01-10T00:00:00Z", "delete", "EC2 instance", Some("i-4"), None, None, Some("AccessDenied")),
            // the same id in another service is another resource
            row("2025-01-11T00:00:00Z", "create", "RDS instance", Some("i-1"), None, None, None),
        ];
        let got = pair(&answer(rows), now);
        let ids: Vec<(&str, &str, Option<&str>)> =
            got.iter().map(|l| (l.resource_type.as_str(), l.id.as_str(), l.created_by_service.as_deref())).collect();
        assert_eq!(
            ids,
            vec![
                ("EC2 instance", "i-3", None),
                ("EC2 instance", "i-4", Some("autoscaling.amazonaws.com")),
                ("RDS instance", "i-1", None)
            ]
        );
        let i3 = &got[0];
        assert_eq!(i3.created_at, "2025-01-06T00:00:00Z");
        assert_eq!(i3.age_days, 26);
        assert_eq!(i3.created_by_user.as_deref(), Some("alice"));
        assert!(i3.console_url.contains("InstanceDetails:instanceId=i-3") && i3.console_url.contains("us-east-1"));
        assert!(!i3.cost_hint.is_empty());
    }
}
