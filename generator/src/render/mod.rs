//! Render: the only module that knows Tera. Turns a [`Plan`] into files.
//!
//! Every `{{ value }}` is escaped as a JSON-quoted scalar (Tera's autoescape with our escape
//! function), so no spec value can add YAML structure. The rendered text is parsed back and
//! written in one canonical form ([`canonical`]): output is deterministic, byte for byte.

pub mod canonical;

use std::path::Path;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tera::Tera;

use crate::plan::Plan;
use crate::spec::yaml;

/// CloudFormation limits (FACTS §3).
pub const MAX_TEMPLATE_BYTES_S3: usize = 1024 * 1024;
pub const MAX_TEMPLATE_BYTES_INLINE: usize = 51_200;
pub const MAX_RESOURCES: usize = 500;
pub const MAX_OUTPUTS: usize = 200;
pub const MAX_PARAMETERS: usize = 200;

/// The templates shipped in the binary: (name, text). `--templates DIR` overrides by name.
pub const EMBEDDED: &[(&str, &str)] = &[
    ("cloudformation/bootstrap.yaml.tera", include_str!("../../../templates/cloudformation/bootstrap.yaml.tera")),
    ("cloudformation/central.yaml.tera", include_str!("../../../templates/cloudformation/central.yaml.tera")),
    ("cloudformation/member.yaml.tera", include_str!("../../../templates/cloudformation/member.yaml.tera")),
    ("cloudformation/trail.yaml.tera", include_str!("../../../templates/cloudformation/trail.yaml.tera")),
    (
        "cloudformation/activity-forward.part.tera",
        include_str!("../../../templates/cloudformation/activity-forward.part.tera"),
    ),
    (
        "cloudformation/activity-global.yaml.tera",
        include_str!("../../../templates/cloudformation/activity-global.yaml.tera"),
    ),
    (
        "cloudformation/event-selectors.yaml.tera",
        include_str!("../../../templates/cloudformation/event-selectors.yaml.tera"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A template file could not be read or parsed by Tera.
    #[error("template error: {0}")]
    Template(String),
    /// The rendered text is not YAML (a broken override template).
    #[error("{template}: the rendered template is not valid YAML: {message}")]
    NotYaml { template: String, message: String },
    /// A rendered template exceeds a CloudFormation limit.
    #[error("{template}: {message}")]
    Limit { template: String, message: String },
}

/// The escape applied to every `{{ }}` expression: a JSON string literal, which is also a
/// valid double-quoted YAML scalar.
fn json_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

fn tera_error(e: tera::Error) -> RenderError {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    RenderError::Template(msg)
}

/// Loads the embedded templates, then any same-named files from `overrides`.
pub fn engine(overrides: Option<&Path>) -> Result<Tera, RenderError> {
    let mut tera = Tera::default();
    let mut sources: Vec<(String, String)> = EMBEDDED.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
    if let Some(dir) = overrides {
        for (name, text) in sources.iter_mut() {
            let path = dir.join(name.as_str());
            if path.exists() {
                *text = std::fs::read_to_string(&path)
                    .map_err(|e| RenderError::Template(format!("{}: {e}", path.display())))?;
            }
        }
    }
    tera.add_raw_templates(sources).map_err(tera_error)?;
    tera.autoescape_on(vec![".tera"]);
    tera.set_escape_fn(json_quote);
    Ok(tera)
}

/// One output file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Renders every planned template plus `manifest.json`.
pub fn render(plan: &Plan, tera: &Tera) -> Result<Vec<OutputFile>, RenderError> {
    let mut files = Vec::new();
    let mut manifest_templates = Vec::new();
    for t in &plan.templates {
        let ctx = tera::Context::from_value(t.context.clone()).map_err(tera_error)?;
        let text = tera.render(&t.source, &ctx).map_err(tera_error)?;
        let value = parse_back(&t.source, text.as_bytes())?;
        check_limits(&t.file, &value)?;
        let out = canonical::to_yaml(&value);
        if out.len() > MAX_TEMPLATE_BYTES_S3 {
            return Err(RenderError::Limit {
                template: t.file.clone(),
                message: format!(
                    "{} bytes; CloudFormation accepts at most {MAX_TEMPLATE_BYTES_S3} (from S3)",
                    out.len()
                ),
            });
        }
        manifest_templates.push(json!({
            "name": t.name,
            "file": t.file,
            "description": t.description,
            "sha256": sha256_hex(out.as_bytes()),
            "bytes": out.len(),
            "upload_required": out.len() > MAX_TEMPLATE_BYTES_INLINE,
            "resources": value.get("Resources").and_then(Value::as_object).map_or(0, |r| r.len()),
            "target": t.target,
            "parameters": t.parameters,
        }));
        files.push(OutputFile { name: t.file.clone(), bytes: out.into_bytes() });
    }
    let tables: Vec<Value> = plan
        .tables
        .iter()
        .map(|t| json!({"name": t.name, "kind": t.kind, "location": t.location, "template": t.parameters.get("storage.location.template")}))
        .collect();
    let manifest = json!({
        "format": 1,
        "generator": concat!("opslake ", env!("CARGO_PKG_VERSION")),
        "name": plan.name,
        "database": plan.layout.database,
        "tables": tables,
        "templates": manifest_templates,
    });
    let mut text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    text.push('\n');
    files.push(OutputFile { name: "manifest.json".into(), bytes: text.into_bytes() });
    Ok(files)
}

/// Parses rendered YAML back into a JSON value (YAML 1.2 core schema).
pub fn parse_back(template: &str, bytes: &[u8]) -> Result<Value, RenderError> {
    let (root, diags) = yaml::parse_with_limits(bytes, MAX_TEMPLATE_BYTES_S3 * 4, 10_000_000);
    if let Some(d) = diags.iter().find(|d| d.is_error()) {
        let line = String::from_utf8_lossy(bytes).lines().nth(d.pos.line.saturating_sub(1)).unwrap_or("").to_string();
        return Err(RenderError::NotYaml {
            template: template.into(),
            message: format!("line {}:{}: {}: `{}`", d.pos.line, d.pos.col, d.message, line.trim()),
        });
    }
    match root {
        Some(node) => Ok(yaml::to_json(&node)),
        None => Err(RenderError::NotYaml { template: template.into(), message: "empty output".into() }),
    }
}

fn check_limits(file: &str, v: &Value) -> Result<(), RenderError> {
    let count = |k: &str| v.get(k).and_then(Value::as_object).map_or(0, |m| m.len());
    for (section, max) in [("Resources", MAX_RESOURCES), ("Outputs", MAX_OUTPUTS), ("Parameters", MAX_PARAMETERS)] {
        let n = count(section);
        if n > max {
            return Err(RenderError::Limit {
                template: file.into(),
                message: format!("{n} {section}; CloudFormation allows {max} per template"),
            });
        }
    }
    if count("Resources") == 0 {
        return Err(RenderError::Limit {
            template: file.into(),
            message: "no Resources: CloudFormation requires at least one".into(),
        });
    }
    Ok(())
}
