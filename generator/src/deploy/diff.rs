//! A change set's changes: per resource the action (Add / Modify / Remove), replacement,
//! logical id, type, and the properties that change. CloudFormation names the changed
//! properties in each change's details; where it does not, they are read off the deployed and
//! the new template. (`report::deploy` shows them as a diff.)

use serde_json::Value;

use super::ResourceChange;

/// The changes of a change set, with changed properties from CloudFormation's details or, when
/// it gives none, from comparing the deployed template (`previous`) with the new one.
pub(crate) fn resource_changes(
    changes: &[aws_sdk_cloudformation::types::ResourceChange],
    previous: Option<&str>,
    new: &str,
) -> Vec<ResourceChange> {
    let parse = |text: &str| crate::render::parse_back("template", text.as_bytes()).ok();
    let old_t = previous.and_then(parse);
    let new_t = parse(new);
    let mut out: Vec<ResourceChange> = changes
        .iter()
        .map(|c| {
            let logical_id = c.logical_resource_id().unwrap_or_default().to_string();
            let mut properties: Vec<String> = Vec::new();
            for d in c.details() {
                if let Some(target) = d.target() {
                    let name = match (target.attribute().map(|a| a.as_str()), target.name()) {
                        (Some("Properties"), Some(n)) => n.to_string(),
                        (Some(a), Some(n)) => format!("{a}.{n}"),
                        (Some(a), None) => a.to_string(),
                        (None, Some(n)) => n.to_string(),
                        (None, None) => continue,
                    };
                    if !properties.contains(&name) {
                        properties.push(name);
                    }
                }
            }
            let action = c.action().map(|a| a.as_str().to_string()).unwrap_or_default();
            if properties.is_empty() && action == "Modify" {
                properties = changed_properties(old_t.as_ref(), new_t.as_ref(), &logical_id);
            }
            ResourceChange {
                action,
                logical_id,
                resource_type: c.resource_type().unwrap_or_default().to_string(),
                replacement: c.replacement().map(|r| r.as_str().to_string()),
                properties,
            }
        })
        .collect();
    out.sort_by(|a, b| (order(&a.action), &a.logical_id).cmp(&(order(&b.action), &b.logical_id)));
    out
}

fn order(action: &str) -> u8 {
    match action {
        "Add" => 0,
        "Modify" => 1,
        "Remove" => 2,
        _ => 3,
    }
}

/// The properties (and other attributes, such as `Metadata` or `DependsOn`) of one resource
/// that differ between two templates.
pub(crate) fn changed_properties(old: Option<&Value>, new: Option<&Value>, logical_id: &str) -> Vec<String> {
    let resource = |t: Option<&Value>| t.and_then(|t| t.get("Resources")).and_then(|r| r.get(logical_id)).cloned();
    let (Some(a), Some(b)) = (resource(old), resource(new)) else {
        return vec![];
    };
    let empty = serde_json::Map::new();
    let mut out = Vec::new();
    let props = |v: &Value| v.get("Properties").and_then(Value::as_object).cloned().unwrap_or_else(|| empty.clone());
    let (pa, pb) = (props(&a), props(&b));
    let mut keys: Vec<&String> = pa.keys().chain(pb.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        if pa.get(k) != pb.get(k) {
            out.push(k.clone());
        }
    }
    for attr in ["Metadata", "DependsOn", "Condition", "DeletionPolicy", "UpdateReplacePolicy", "Type"] {
        if a.get(attr) != b.get(attr) {
            out.push(attr.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_properties_names_what_differs() {
        let old = json!({"Resources": {"F": {"Type": "AWS::Lambda::Function", "Properties": {"Code": {"S3Key": "a"}, "MemorySize": 256, "Gone": 1}}}});
        let new = json!({"Resources": {"F": {"Type": "AWS::Lambda::Function", "Metadata": {"x": 1}, "Properties": {"Code": {"S3Key": "b"}, "MemorySize": 256}}}});
        assert_eq!(changed_properties(Some(&old), Some(&new), "F"), ["Code", "Gone", "Metadata"]);
        assert!(changed_properties(Some(&old), Some(&new), "Missing").is_empty());
        assert!(changed_properties(None, Some(&new), "F").is_empty());
    }
}
