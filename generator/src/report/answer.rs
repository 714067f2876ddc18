//! A query's answer for people and scripts (table, JSON, CSV on stdout), and what reading it
//! took (stderr, so stdout stays clean).

use opslake_runtime::query::{Answer, CellRef, RowRef, Via};
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

/// A CSV field: quoted (quotes doubled) when it holds a comma, a quote or a line break.
fn write_csv_field(out: &mut impl std::io::Write, s: &str) -> std::io::Result<()> {
    // Bytes, not chars, and without stopping at the first: a loop over every field of every
    // row that the compiler runs many bytes at a time.
    if !s.bytes().fold(false, |special, b| special | matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        return out.write_all(s.as_bytes());
    }
    out.write_all(b"\"")?;
    for (i, part) in s.split('"').enumerate() {
        if i > 0 {
            out.write_all(b"\"\"")?;
        }
        out.write_all(part.as_bytes())?;
    }
    out.write_all(b"\"")
}

/// Rows written as they come, as CSV (a header line, then one line per row) or as a JSON
/// array of objects keyed by column (pretty-printed): what `query` streams, and what an
/// answer in memory renders to.
pub struct RowWriter<W: std::io::Write> {
    out: W,
    columns: Vec<String>,
    csv: bool,
    rows: u64,
    /// A CSV line being put together (its room reused).
    line: Vec<u8>,
}

/// Whether a line of `width` values joined by commas is CSV as it stands: no value holds a
/// comma (the line has only the separators), a quote or a line break.
fn plain_csv(line: &[u8], width: usize) -> bool {
    memchr::memchr3(b'"', b'\n', b'\r', line).is_none() && memchr::memchr_iter(b',', line).count() + 1 == width.max(1)
}

impl<W: std::io::Write> RowWriter<W> {
    /// Starts the output (the CSV header, or the JSON array's opening bracket).
    pub fn begin(mut out: W, columns: &[String], csv: bool) -> std::io::Result<Self> {
        if csv {
            for (i, c) in columns.iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                write_csv_field(&mut out, c)?;
            }
            out.write_all(b"\n")?;
        } else {
            out.write_all(b"[")?;
        }
        Ok(RowWriter { out, columns: columns.to_vec(), csv, rows: 0, line: Vec::new() })
    }

    pub fn row(&mut self, r: RowRef<'_>) -> std::io::Result<()> {
        if self.csv {
            // A sorted row of texts is joined in one piece, and written so when no value needs
            // quoting: its commas are only the separators, and it has no quote or line break.
            self.line.clear();
            if r.join_texts_into(b',', &mut self.line) && plain_csv(&self.line, r.len()) {
                self.line.push(b'\n');
                self.out.write_all(&self.line)?;
                self.rows += 1;
                return Ok(());
            }
            for i in 0..r.len() {
                if i > 0 {
                    self.out.write_all(b",")?;
                }
                // An empty string is `""`, a NULL nothing (as DuckDB and PostgreSQL write them).
                match r.cell(i).map_err(std::io::Error::other)? {
                    CellRef::Null => {}
                    CellRef::Text("") => self.out.write_all(b"\"\"")?,
                    CellRef::Text(s) => write_csv_field(&mut self.out, s)?,
                    CellRef::Other(v) => write_csv_field(&mut self.out, &v.to_string())?,
                }
            }
            self.out.write_all(b"\n")?;
        } else {
            let mut buf = Vec::new();
            let values = r.values(&mut buf).map_err(std::io::Error::other)?;
            let object: serde_json::Map<String, Value> =
                self.columns.iter().cloned().zip(values.iter().cloned()).collect();
            let text = serde_json::to_string_pretty(&object).map_err(std::io::Error::other)?;
            // Indented one level, as an element of the array.
            let sep = if self.rows == 0 { "\n  " } else { ",\n  " };
            write!(self.out, "{sep}{}", text.replace('\n', "\n  "))?;
        }
        self.rows += 1;
        Ok(())
    }

    /// Ends the output; the writer back.
    pub fn end(mut self) -> std::io::Result<W> {
        if !self.csv {
            self.out.write_all(if self.rows == 0 { b"]\n" } else { b"\n]\n" })?;
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

/// The answer in `format`.
pub fn render(a: &Answer, format: TableFormat) -> String {
    match format {
        TableFormat::Json | TableFormat::Csv => {
            let write = || -> std::io::Result<Vec<u8>> {
                let mut w = RowWriter::begin(Vec::new(), &a.columns, format == TableFormat::Csv)?;
                for r in &a.rows {
                    w.row(RowRef::Values(r))?;
                }
                w.end()
            };
            String::from_utf8(write().unwrap_or_default()).unwrap_or_default()
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
        Via::Athena { query_id, estimated_cost_usd, .. } => format!(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_when_they_hold_a_separator_a_quote_or_a_line_break() {
        let cases = [
            ("plain", "plain"),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("two\nlines", "\"two\nlines\""),
            ("cr\r", "\"cr\r\""),
            // Long enough to be checked many bytes at a time, with the comma last.
            (
                "arn:aws:iam::123456789012:role/a-rather-long-role-name-for-a-field,",
                "\"arn:aws:iam::123456789012:role/a-rather-long-role-name-for-a-field,\"",
            ),
            ("é ü ✓", "é ü ✓"),
        ];
        for (field, want) in cases {
            let mut out = Vec::new();
            write_csv_field(&mut out, field).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), want, "{field:?}");
        }
        let mut w = RowWriter::begin(Vec::new(), &["a".to_string(), "b".to_string(), "c".to_string()], true).unwrap();
        w.row(RowRef::Values(&[Value::Null, Value::from(""), Value::from(3)])).unwrap();
        assert_eq!(String::from_utf8(w.end().unwrap()).unwrap(), "a,b,c\n,\"\",3\n");
    }

    /// Sorted rows (packed, written in one piece when they can be) come out as the same rows
    /// given as JSON values do, value by value.
    #[test]
    fn sorted_rows_are_written_as_their_values_are() {
        use opslake_runtime::query::ordered::{Cell, Plan};
        let texts = ["plain", "a,b", "say \"hi\"", "two\nlines", "cr\r", "", "é ü ✓", "trailing,", ",", "ok", "x"];
        let rows: Vec<Vec<Value>> = (0..texts.len() * 3)
            .map(|i| {
                let t = |k: usize| Value::from(texts[(i + k) % texts.len()]);
                match i % 3 {
                    0 => vec![Value::from(format!("{i:03}")), t(0), Value::Null, t(1)],
                    1 => vec![Value::from(format!("{i:03}")), Value::Null, t(2), Value::Null],
                    _ => vec![Value::from(format!("{i:03}")), t(3), Value::from(i), t(4)],
                }
            })
            .collect();
        let columns: Vec<String> = ["k", "a", "b", "c"].map(String::from).to_vec();
        let mut by_values = RowWriter::begin(Vec::new(), &columns, true).unwrap();
        for r in &rows {
            by_values.row(RowRef::Values(r)).unwrap();
        }
        let mut ordered = Plan::new(&[(0, false)], None, 1 << 20).collector();
        for r in rows.iter().rev() {
            ordered.push(&r.iter().map(Cell::from).collect::<Vec<_>>());
        }
        let mut sorted = RowWriter::begin(Vec::new(), &columns, true).unwrap();
        let (n, warning) = ordered.drain(|r| sorted.row(r)).unwrap();
        assert_eq!((n as usize, warning), (rows.len(), None));
        let (want, got) = (by_values.end().unwrap(), sorted.end().unwrap());
        let want_text = String::from_utf8_lossy(&want);
        for line in ["\n000,plain,,\"a,b\"\n", "\n001,,\"two\nlines\",\n", "\n002,\"\",2,é ü ✓\n"] {
            assert!(want_text.contains(line), "{line:?} in {want_text}");
        }
        assert_eq!(String::from_utf8(got).unwrap(), String::from_utf8(want).unwrap());
    }
}
