//! `opslake ask`'s answer for people: the answer, then each tool call it rests on.

use opslake_runtime::analysis::ask::{Asked, CallStatus};

/// The answer and its calls.
pub fn text(a: &Asked) -> String {
    let mut out = String::new();
    if !a.answer.trim().is_empty() {
        out.push_str(a.answer.trim_end());
        out.push_str("\n\n");
    }
    for c in &a.calls {
        let args = c.arguments.to_string();
        let what = match c.status {
            CallStatus::Ok if c.bytes_scanned > 0 => {
                format!("{} rows, {:.1} MB scanned (${:.4})", c.rows, c.bytes_scanned as f64 / 1e6, c.cost_usd)
            }
            CallStatus::Ok => format!("{} rows", c.rows),
            CallStatus::Invalid => format!("refused: {}", c.error.as_deref().unwrap_or("")),
            CallStatus::Failed => format!("failed: {}", c.error.as_deref().unwrap_or("")),
            CallStatus::OverBudget => "not run: the scan budget was spent".to_string(),
        };
        out.push_str(&format!("[{}] {} {args}: {what}\n", c.id, c.tool));
    }
    out
}

/// What stderr says: why it stopped, and citations of calls that never happened.
pub fn notes(a: &Asked) -> String {
    let mut out = String::new();
    if let Some(e) = &a.error {
        out.push_str(&format!("error: {e}\n"));
    }
    for c in a.citations.iter().filter(|c| !c.known) {
        out.push_str(&format!(
            "warning: the answer cites [{}], a call that never happened: do not trust that part\n",
            c.call
        ));
    }
    out.push_str(&format!(
        "{} model turn(s), {} tool call(s), {} input and {} output tokens\n",
        a.steps,
        a.calls.len(),
        a.input_tokens,
        a.output_tokens
    ));
    out
}
