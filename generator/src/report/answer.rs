//! A query's answer for people and scripts (table, JSON, CSV on stdout), and what reading it
//! took (stderr, so stdout stays clean).

use opslake_runtime::query::{Answer, Via};
use serde_json::Value;

use super::table;
use crate::args::TableFormat;

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The answer in `format`.
pub fn render(a: &Answer, format: TableFormat) -> String {
    match format {
        TableFormat::Json => format!("{}\n", serde_json::to_string_pretty(&a.objects()).unwrap_or_default()),
        TableFormat::Csv => {
            let mut out = a.columns.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(",");
            out.push('\n');
            for r in &a.rows {
                out.push_str(&r.iter().map(|v| csv_field(&cell(v))).collect::<Vec<_>>().join(","));
                out.push('\n');
            }
            out
        }
        TableFormat::Table => {
            let rows: Vec<Vec<String>> = a
                .rows
                .iter()
                .map(|r| r.iter().map(|v| table::cell(&cell(v), table::MAX_CELL_WIDTH)).collect())
                .collect();
            let n = a.rows.len();
            format!("{}({n} row{})\n", table::render(&a.columns, &rows), if n == 1 { "" } else { "s" })
        }
    }
}

fn mb(b: u64) -> String {
    format!("{:.1} MB", b as f64 / 1e6)
}

/// What was read to answer, and what could not be: one line per engine, then the warnings.
pub fn read(a: &Answer) -> String {
    let s = &a.stats;
    let mut out = match &a.via {
        Via::Mirror => format!(
            "scanned {} of {} objects ({} of {}) in {} of {} projected partitions; {} records\n",
            s.objects_scanned,
            s.objects_total,
            mb(s.bytes_scanned),
            mb(s.bytes_total),
            s.partitions_present,
            s.partitions_projected,
            s.records
        ),
        Via::Athena { query_id, estimated_cost_usd } => format!(
            "Athena query {query_id}: scanned {} (estimated cost ${estimated_cost_usd:.4})\n",
            mb(s.bytes_scanned)
        ),
        Via::EventHistory { calls, regions } => {
            format!("LookupEvents: {calls} calls, {} events in {regions} regions\n", s.records)
        }
        Via::Live { service, calls } => format!("{service}: {calls} calls, scanned {}\n", mb(s.bytes_scanned)),
    };
    if s.bad_records > 0 {
        out.push_str(&format!("warning: {} records or lines could not be parsed and were skipped\n", s.bad_records));
    }
    for p in &s.problems {
        out.push_str(&format!("warning: skipped {}: {}\n", p.key, p.reason));
    }
    out
}
