//! The small commands: `init`, `schema`, and template overrides.

mod support;

use serde_json::Value;
use support::*;

#[test]
fn init_writes_a_valid_starter_and_never_overwrites_silently() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("new");
    let (code, out, err) = cli(&["init", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("opslake.yaml"), "{out}");
    let path = dir.join("opslake.yaml");
    let (code, _, err) = cli(&["validate", path.to_str().unwrap()]);
    assert_eq!(code, 0, "the starter must validate:\n{err}");

    std::fs::write(&path, "edited\n").unwrap();
    let (code, _, err) = cli(&["init", dir.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("already exists") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "edited\n", "init must not overwrite without --force");
    let (code, _, _) = cli(&["init", dir.to_str().unwrap(), "--force"]);
    assert_eq!(code, 0);
}

/// Every default the schema documents is the default the model applies.
#[test]
fn schema_defaults_match_the_model() {
    let (code, out, _) = cli(&["schema"]);
    assert_eq!(code, 0);
    let schema: Value = serde_json::from_str(&out).expect("schema is JSON");
    assert_eq!(schema["required"], serde_json::json!(["name", "home", "regions", "lake"]));
    assert_eq!(schema["additionalProperties"], Value::Bool(false));

    // A spec with every optional section present but empty, so each default applies.
    let text = format!(
        "{}sources: {{ cloudtrail: {{}}, config: {{}}, alb: {{ buckets: {{ us-east-1: demo-alb }} }} }}\nathena: {{}}\nmodel: {{}}\nfeatures: {{ change_summary: {{}}, query: {{}}, leftovers: {{}}, failure_analysis: {{ log_groups: [/x], alarm_topics: [\"arn:aws:sns:us-east-1:123456789012:t\"] }}, activity_insights: {{}} }}\n",
        example("minimal.yaml")
    );
    let spec = load_spec_text(&text);
    let model = serde_json::to_value(&spec).unwrap();
    let mut checked = 0;
    compare(&schema, &model, "", &mut checked);
    assert!(checked >= 20, "only {checked} defaults compared");
}

fn compare(schema: &Value, value: &Value, path: &str, checked: &mut usize) {
    let Some(props) = schema["properties"].as_object() else {
        return;
    };
    for (key, sub) in props {
        let p = format!("{path}.{key}");
        let Some(v) = value.get(key) else { continue };
        if let Some(default) = sub.get("default") {
            if !default.is_object() {
                // `features.failure_analysis.log_groups` etc. are set by the test spec itself.
                let set_by_test = matches!(
                    p.as_str(),
                    ".features.failure_analysis.log_groups" | ".features.failure_analysis.alarm_topics"
                );
                if !set_by_test {
                    assert_eq!(v, default, "schema default of {p} differs from the model's");
                    *checked += 1;
                }
            }
        }
        compare(sub, v, &p, checked);
    }
}

#[test]
fn templates_dir_overrides_an_embedded_template() {
    let tmp = tempfile::tempdir().unwrap();
    let over = tmp.path().join("tpl/cloudformation");
    std::fs::create_dir_all(&over).unwrap();
    let original = opslake::render::EMBEDDED.iter().find(|(n, _)| n.ends_with("member.yaml.tera")).unwrap().1;
    std::fs::write(
        over.join("member.yaml.tera"),
        original
            .replace("Description: {{ text.member }}", "Description: {{ text.member }}\nMetadata: {Team: {{ name }}}"),
    )
    .unwrap();
    let spec = workspace().join("examples/specs/minimal.yaml");
    let out = tmp.path().join("out");
    let tpl = tmp.path().join("tpl");
    let (code, _, err) = cli(&[
        "generate",
        spec.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--templates",
        tpl.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let member = std::fs::read_to_string(out.join("member.yaml")).unwrap();
    assert!(member.contains("Metadata:\n  Team: demo\n"), "{member}");

    // A broken override is a clear error and writes nothing.
    std::fs::write(over.join("member.yaml.tera"), "Resources: {{ unclosed").unwrap();
    let out2 = tmp.path().join("out2");
    let (code, _, err) = cli(&[
        "generate",
        spec.to_str().unwrap(),
        "--out",
        out2.to_str().unwrap(),
        "--templates",
        tpl.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("template error") && err.contains("member.yaml.tera"), "{err}");
    assert!(!out2.exists());
}

#[test]
fn unreadable_spec_is_bad_input() {
    let (code, _, err) = cli(&["validate", "/nonexistent/opslake.yaml"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read /nonexistent/opslake.yaml"), "{err}");
}
