//! The leftovers report: resources created and never deleted, grouped by type with a cost hint
//! and a console link (the command line's text and the SNS message).

use std::fmt::Write as _;

use jiff::civil::Date;

use crate::analysis::leftovers::Leftover;

/// The report as text: grouped by resource type, people's resources first, then those a
/// service made, each with its console link (the CLI's table and the SNS message).
pub fn text(found: &[Leftover], from: Date, to: Date) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Resources created between {from} and {to} and not deleted since: {}", found.len());
    for (title, by_service) in [("created by people", false), ("created by AWS services on someone's behalf", true)] {
        let group: Vec<&Leftover> = found.iter().filter(|l| l.created_by_service.is_some() == by_service).collect();
        if group.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n== {title} ==");
        let mut current = "";
        for l in group {
            if l.resource_type != current {
                current = &l.resource_type;
                let _ = writeln!(out, "\n{current}  ({})", l.cost_hint);
            }
            let who = l.created_by_service.clone().or_else(|| l.created_by_user.clone()).unwrap_or_else(|| "?".into());
            let name = l.name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
            let _ = writeln!(
                out,
                "  {}{name}  {} {}  created {} by {who}  ({} days)\n    {}",
                l.id, l.account, l.region, l.created_at, l.age_days, l.console_url
            );
        }
    }
    out
}
