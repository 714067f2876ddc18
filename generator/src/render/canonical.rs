//! The one canonical YAML form every generated template is written in.
//!
//! Block style, two-space indent; CloudFormation's sections and resource attributes in
//! their conventional order, every other mapping sorted by key; strings left plain only when
//! no YAML 1.1 or 1.2 reader could take them for anything but that string, else JSON-quoted.

use serde_json::Value;

const TOP_ORDER: &[&str] = &[
    "AWSTemplateFormatVersion",
    "Description",
    "Metadata",
    "Parameters",
    "Mappings",
    "Conditions",
    "Rules",
    "Resources",
    "Outputs",
];

const RESOURCE_ORDER: &[&str] =
    &["Type", "Condition", "DependsOn", "DeletionPolicy", "UpdateReplacePolicy", "Metadata", "Properties"];

/// Writes a template in canonical form.
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) => {
            let keys = ordered(m, TOP_ORDER);
            for k in keys {
                let child = &m[k];
                let ctx = if k == "Resources" { Ctx::Resources } else { Ctx::Plain };
                entry(&mut out, 0, k, child, ctx);
            }
        }
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Plain,
    /// Children are resources (their attributes get the resource order).
    Resources,
    Resource,
}

fn ordered<'a>(m: &'a serde_json::Map<String, Value>, order: &[&str]) -> Vec<&'a str> {
    let mut keys: Vec<&str> = m.keys().map(String::as_str).collect();
    keys.sort_by_key(|k| (order.iter().position(|o| o == k).unwrap_or(order.len()), *k));
    keys
}

fn entry(out: &mut String, indent: usize, key: &str, v: &Value, ctx: Ctx) {
    out.push_str(&" ".repeat(indent));
    out.push_str(&string(key));
    out.push(':');
    block(out, indent, v, ctx);
}

/// Writes what follows `key:` or `-`: an inline scalar / empty collection, or a nested block.
fn block(out: &mut String, indent: usize, v: &Value, ctx: Ctx) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            let order: &[&str] = if ctx == Ctx::Resource { RESOURCE_ORDER } else { &[] };
            for k in ordered(m, order) {
                let child_ctx = if ctx == Ctx::Resources { Ctx::Resource } else { Ctx::Plain };
                entry(out, indent + 2, k, &m[k], child_ctx);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            for item in a {
                out.push_str(&" ".repeat(indent + 2));
                out.push('-');
                item_block(out, indent + 2, item);
            }
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

/// A list item: a mapping starts on the dash's line (`- Key: value`).
fn item_block(out: &mut String, indent: usize, v: &Value) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            let mut first = true;
            for k in ordered(m, &[]) {
                if first {
                    out.push(' ');
                    out.push_str(&string(k));
                    out.push(':');
                    block(out, indent + 2, &m[k], Ctx::Plain);
                    first = false;
                } else {
                    entry(out, indent + 2, k, &m[k], Ctx::Plain);
                }
            }
        }
        // lists and scalars follow the dash as they follow a key
        other => block(out, indent, other, Ctx::Plain),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// YAML 1.1 words that some readers (PyYAML, hence cfn-lint) take for booleans or null.
const RESERVED: &[&str] = &["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"];

/// A string, plain when unambiguous, else JSON-quoted (a valid YAML double-quoted scalar).
pub fn string(s: &str) -> String {
    let plain = !s.is_empty()
        && s.as_bytes()[0].is_ascii_alphabetic()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_./:@$*-".contains(&b))
        && !s.ends_with(':')
        && !RESERVED.contains(&s.to_ascii_lowercase().as_str());
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}
