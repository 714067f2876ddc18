//! `opslake doctor`'s report as text: a section per table (Glue, S3), the trail, the
//! recorders, then the problems.

use crate::doctor::{
    GlueStatus, RecorderReport, RecorderStatus, Report, S3Report, S3Status, TableReport, TrailReport, TrailStatus,
};

/// The problems, one line each (empty when the lake is ok).
pub fn problems(report: &Report) -> Vec<String> {
    let mut out = Vec::new();
    for t in &report.tables {
        match t.glue.status {
            GlueStatus::Ok => {}
            GlueStatus::Drift => out.push(format!("table {}: {} drifted field(s)", t.name, t.glue.drift.len())),
            GlueStatus::Missing => out.push(format!("table {}: not in the Glue database", t.name)),
            GlueStatus::DatabaseMissing => out.push(format!("table {}: the Glue database does not exist", t.name)),
            GlueStatus::Error => out.push(format!("table {}: Glue could not be read", t.name)),
        }
        if t.s3.status == S3Status::Error {
            out.push(format!("table {}: s3://{}/ could not be listed", t.name, t.s3.bucket));
        }
        if t.s3.unreachable_total > 0 {
            out.push(format!("table {}: {} prefix(es) the projection does not reach", t.name, t.s3.unreachable_total));
        }
    }
    if !matches!(report.trail.status, TrailStatus::Logging | TrailStatus::NotManaged) {
        out.push(format!("trail {}: {}", report.trail.name, trail_word(report.trail.status)));
    }
    for r in &report.recorders {
        if r.status != RecorderStatus::Recording {
            out.push(format!("Config recorder in {}: {}", r.region, recorder_word(r.status)));
        }
    }
    out
}

/// Lines of text, each ended by a newline.
#[derive(Default)]
struct Text(String);

impl Text {
    fn line(&mut self, l: impl AsRef<str>) {
        self.0.push_str(l.as_ref());
        self.0.push('\n');
    }
}

fn mark(good: bool) -> &'static str {
    if good {
        "ok  "
    } else {
        "FAIL"
    }
}

/// The human-readable report (plain ASCII markers: `ok`, `DRIFT`, `MISS`, `skip`, `FAIL`).
pub fn text(report: &Report) -> String {
    let mut o = Text::default();
    o.line(format!(
        "opslake doctor: {} (database {} in {}, as seen from account {})",
        report.name, report.database, report.region, report.account
    ));
    for t in &report.tables {
        table(&mut o, t);
    }
    trail(&mut o, &report.trail);
    o.line("");
    o.line(format!("== Config recorders (account {}) ==", report.account));
    if report.recorders.is_empty() {
        o.line("  info  none: sources.config.recorder is false");
    }
    for r in &report.recorders {
        recorder(&mut o, r);
    }
    o.line("");
    let problems = problems(report);
    if problems.is_empty() {
        o.line("result: ok");
    } else {
        o.line(format!("result: {} problem(s)", problems.len()));
        for p in problems {
            o.line(format!("  - {p}"));
        }
    }
    o.0
}

fn table(o: &mut Text, t: &TableReport) {
    o.line("");
    o.line(format!("== table {} ==", t.name));
    match t.glue.status {
        GlueStatus::Ok => o.line("  ok    glue: matches the spec"),
        GlueStatus::Drift => {
            o.line(format!("  DRIFT glue: {} field(s) differ from the spec", t.glue.drift.len()));
            for d in &t.glue.drift {
                let (deployed, spec) = (shown(d.deployed.as_deref()), shown(d.spec.as_deref()));
                o.line(format!("        {}: {}: deployed {deployed}, spec {spec}", t.name, d.field));
            }
        }
        GlueStatus::Missing | GlueStatus::DatabaseMissing | GlueStatus::Error => {
            o.line(format!("  FAIL  glue: {}", t.glue.error.as_deref().unwrap_or("the table could not be read")))
        }
    }
    s3(o, &t.s3);
}

fn s3(o: &mut Text, s3: &S3Report) {
    let walked = format!(
        "{} list call{}{}",
        s3.list_calls,
        if s3.list_calls == 1 { "" } else { "s" },
        if s3.truncated { ", budget used up: a sample" } else { "" }
    );
    if s3.status != S3Status::Error {
        o.line(format!("  s3://{}/ (projection: {}; {walked})", s3.bucket, s3.projection));
    }
    if let Some(note) = &s3.note {
        o.line(format!("        note: {note}"));
    }
    match s3.status {
        S3Status::Error => o.line(format!("  FAIL  s3: {}", s3.error.as_deref().unwrap_or("cannot list"))),
        S3Status::Empty => o.line("  info  s3: no partition the projection reaches has data yet"),
        S3Status::Ok => o.line(format!(
            "  ok    s3: {} partition prefix(es) reached, e.g. {}",
            s3.reached_total,
            s3.reached.first().map(String::as_str).unwrap_or("")
        )),
    }
    for m in s3.missed.iter().filter(|m| !m.expected) {
        o.line(format!("  MISS  {}: {}", m.prefix, m.reason));
    }
    for m in s3.missed.iter().filter(|m| m.expected) {
        o.line(format!("  skip  {}: {} (not data; skipped on purpose)", m.prefix, m.reason));
    }
    if s3.missed_total > s3.missed.len() {
        o.line(format!("        ... and {} more", s3.missed_total - s3.missed.len()));
    }
}

fn trail(o: &mut Text, t: &TrailReport) {
    o.line("");
    o.line(format!("== trail {} ({}) ==", t.name, t.region));
    let mut detail = format!("{}: {}", t.name, trail_word(t.status));
    if let Some(e) = t.latest_delivery_error.as_deref().filter(|e| !e.is_empty()) {
        detail.push_str(&format!(" (latest delivery error: {e})"));
    }
    if let Some(e) = &t.error {
        detail.push_str(&format!(": {e}"));
    }
    o.line(format!("  {}  {detail}", mark(matches!(t.status, TrailStatus::Logging | TrailStatus::NotManaged))));
}

fn recorder(o: &mut Text, r: &RecorderReport) {
    let mut detail = format!("{} {}: {}", r.region, r.name, recorder_word(r.status));
    if let Some(st) = &r.last_status {
        detail.push_str(&format!(" (last status {st})"));
    }
    if let Some(e) = r.last_error.as_deref().filter(|e| !e.is_empty()) {
        detail.push_str(&format!(", last error: {e}"));
    }
    if let Some(e) = &r.error {
        detail.push_str(&format!(": {e}"));
    }
    o.line(format!("  {}  {detail}", mark(r.status == RecorderStatus::Recording)));
}

fn trail_word(s: TrailStatus) -> &'static str {
    match s {
        TrailStatus::Logging => "logging",
        TrailStatus::DeliveryError => "logging, but the last delivery to S3 failed",
        TrailStatus::Stopped => "NOT logging (StartLogging, or deploy the stack again)",
        TrailStatus::Missing => "not found (deploy the stack that creates it)",
        TrailStatus::Error => "status unknown",
        TrailStatus::NotManaged => "not managed by the spec (sources.cloudtrail.trail: existing)",
    }
}

fn recorder_word(s: RecorderStatus) -> &'static str {
    match s {
        RecorderStatus::Recording => "recording",
        RecorderStatus::Failing => "recording, but the last delivery failed",
        RecorderStatus::Stopped => "NOT recording (StartConfigurationRecorder)",
        RecorderStatus::Missing => "not found (deploy the member stack to this region)",
        RecorderStatus::Error => "status unknown",
    }
}

/// A value for a text line: absent, or cut to a readable length.
fn shown(v: Option<&str>) -> String {
    match v {
        None => "(absent)".into(),
        Some(v) if v.chars().count() > 120 => format!("{}...", v.chars().take(117).collect::<String>()),
        Some(v) => v.to_string(),
    }
}
