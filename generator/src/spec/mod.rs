//! The spec layer: YAML text → validated [`Spec`] plus every diagnostic, each pointing into
//! the file. No IO and no AWS SDK here: callers read the file and pass its bytes.

pub mod aws;
mod check;
pub mod diag;
pub mod model;
pub mod shape;
pub mod yaml;

pub use diag::{Diagnostic, Pos, Severity};
pub use model::Spec;
pub use shape::Locations;

/// The outcome of loading a spec: the model when it has no errors, and all diagnostics
/// (errors and warnings) sorted by position.
#[derive(Debug)]
pub struct Loaded {
    pub spec: Option<Spec>,
    pub locations: Locations,
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Loads a spec from its bytes. `today` (UTC) bounds the projection start.
pub fn load(bytes: &[u8], today: jiff::civil::Date) -> Loaded {
    let (root, mut diagnostics) = yaml::parse(bytes);
    let mut locations = Locations::default();
    let mut spec = None;
    if let Some(root) = root {
        let structural_errors_before = diagnostics.iter().filter(|d| d.is_error()).count();
        let value = shape::check(&root, &shape::SPEC, "", &mut locations, &mut diagnostics);
        let structural_ok = diagnostics.iter().filter(|d| d.is_error()).count() == structural_errors_before;
        if let (Some(value), true) = (value, structural_ok && structural_errors_before == 0) {
            match serde_json::from_value::<Spec>(value) {
                Ok(s) => {
                    diagnostics.extend(check::check(&s, &locations, today));
                    spec = Some(s);
                }
                // Unreachable when shape.rs and model.rs agree (a test keeps them in step).
                Err(e) => diagnostics.push(Diagnostic::error(
                    Pos::START,
                    format!("internal: the checked spec did not map onto the model: {e}"),
                )),
            }
        }
    }
    diagnostics.sort_by(|a, b| a.pos.cmp(&b.pos).then(a.severity.cmp(&b.severity)));
    let spec = if diagnostics.iter().any(Diagnostic::is_error) { None } else { spec };
    Loaded { spec, locations, diagnostics }
}
