//! `opslake summarize`: what changed in a month of AWS Config history, and what is unusual —
//! exact facts from `config-changes` and `config-lifecycle` over the month and up to six
//! before it (local mirror or Athena), then a deterministic report.

use std::io::Write;
use std::path::Path;

use opslake_runtime::analysis::change_summary::{self, Month};
use opslake_runtime::engine::athena::{AthenaEngine, Connection};
use opslake_runtime::engine::local::Mirror;
use opslake_runtime::lake::LakeLayout;
use opslake_runtime::query::{self, QueryError};
use serde_json::json;

use crate::cli::{load_spec, Format, BAD_INPUT, FAILURE, OK};
use crate::{plan, spec};

/// Months of baseline before the target month.
pub const BASELINE_MONTHS: i32 = 6;

pub struct Args<'a> {
    pub spec: &'a Path,
    pub month: &'a str,
    pub local: Option<&'a Path>,
    pub athena: bool,
    /// Every AWS client's connection (Athena with --athena, Bedrock with a bedrock model).
    pub conn: Connection,
    pub account: Option<&'a str>,
    pub region: Option<&'a str>,
    pub model: Option<&'a str>,
    pub format: Format,
    pub print_prompt: bool,
}

enum Engine {
    Local(Mirror),
    Athena(tokio::runtime::Runtime, AthenaEngine),
}

impl Engine {
    fn rows(
        &self,
        name: &str,
        params: &[(String, String)],
        layout: &LakeLayout,
        bytes: &mut u64,
    ) -> Result<Vec<Vec<serde_json::Value>>, String> {
        let q = query::find(name).ok_or("not catalogued")?;
        let p = query::validate(q, params, layout).map_err(|e| e.0)?;
        match self {
            Engine::Local(m) => match query::run_local(q, &p, layout, m, spec::today_utc()) {
                Ok(a) => {
                    *bytes += a.stats.bytes_scanned;
                    Ok(a.rows)
                }
                Err(QueryError::Param(e)) => Err(e.0),
                Err(QueryError::Engine(e)) => Err(e.to_string()),
            },
            Engine::Athena(rt, engine) => {
                let sql = query::render_sql(q, &p, layout).map_err(|e| e.0)?;
                let a = rt.block_on(engine.run(&sql)).map_err(|e| e.to_string())?;
                *bytes += a.bytes_scanned;
                Ok(query::finish(q, a.rows))
            }
        }
    }
}

fn parse_month(s: &str) -> Option<(i32, i32)> {
    let (y, m) = s.split_once('-')?;
    let (y, m) = (y.parse::<i32>().ok()?, m.parse::<i32>().ok()?);
    ((2000..=2100).contains(&y) && (1..=12).contains(&m) && s.len() == 7).then_some((y, m))
}

pub fn run(a: Args, out: &mut dyn Write, err: &mut dyn Write) -> std::io::Result<u8> {
    let Some((year, month)) = parse_month(a.month) else {
        writeln!(err, "error: --month {}: expected YYYY-MM, e.g. 2025-06", a.month)?;
        return Ok(BAD_INPUT);
    };
    let (loaded, _) = match load_spec(a.spec, Format::Text, out, err)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let Some(spec) = loaded.spec.as_ref() else { return Ok(BAD_INPUT) };
    // The CLI calls a model only when asked (`--model`): offline and free by default.
    let model_spec = a.model.unwrap_or("none").to_string();
    let (provider, model_id) = match opslake_runtime::llm::parse_model(&model_spec) {
        Ok(x) => x,
        Err(e) => {
            writeln!(err, "error: --model {e}")?;
            return Ok(BAD_INPUT);
        }
    };
    let anthropic_key = std::env::var("ANTHROPIC_API_KEY").ok();
    if provider == "anthropic" && anthropic_key.is_none() && !a.print_prompt {
        writeln!(
            err,
            "error: --model {model_spec}: set ANTHROPIC_API_KEY (in Lambda the key comes from Secrets Manager)"
        )?;
        return Ok(BAD_INPUT);
    }
    let layout = plan::layout(spec);
    let mut conn = a.conn.clone();
    conn.region = conn.region.or_else(|| Some(spec.home.region.clone()));
    let engine = if a.athena {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let engine = rt.block_on(AthenaEngine::connect(&conn, &spec.workgroup(), &layout.database));
        Engine::Athena(rt, engine)
    } else if let Some(dir) = a.local {
        if !dir.is_dir() {
            writeln!(err, "error: --local {}: not a directory", dir.display())?;
            return Ok(BAD_INPUT);
        }
        Engine::Local(Mirror::new(dir))
    } else {
        writeln!(err, "error: say where to read: --local DIR (a mirror of the log buckets) or --athena")?;
        return Ok(BAD_INPUT);
    };

    // The month and up to six before it, not before the projection starts.
    let start = (i32::from(layout.start.year()), i32::from(layout.start.month()));
    let months = change_summary::months_to_read(start, year, month, BASELINE_MONTHS);
    let mut bytes = 0u64;
    let mut data = Vec::new();
    for (y, m) in &months {
        let mut params = vec![("year".to_string(), y.to_string()), ("month".to_string(), m.to_string())];
        if let Some(acct) = a.account {
            params.push(("account".into(), acct.into()));
        }
        if let Some(r) = a.region {
            params.push(("region".into(), r.into()));
        }
        let changes = engine.rows("config-changes", &params, &layout, &mut bytes);
        let lifecycle = engine.rows("config-lifecycle", &params, &layout, &mut bytes);
        match (changes, lifecycle) {
            (Ok(changes), Ok(lifecycle)) => data.push(Month { label: format!("{y}-{m:02}"), changes, lifecycle }),
            (Err(e), _) | (_, Err(e)) => {
                let bad = e.contains("not in the spec") || e.contains("not a");
                writeln!(err, "error: {e}")?;
                return Ok(if bad { BAD_INPUT } else { FAILURE });
            }
        }
    }
    let target = data.remove(0);
    let facts = change_summary::facts(&target, &data);
    let language = spec.model.language.as_str();
    if a.print_prompt {
        match change_summary::prompt(&facts, language) {
            Ok((system, user)) => {
                writeln!(out, "--- system ---\n{system}\n--- user ---\n{user}")?;
                writeln!(
                    err,
                    "prompt: about {} tokens (budget {})",
                    change_summary::estimate_tokens(&system) + change_summary::estimate_tokens(&user),
                    change_summary::PROMPT_TOKEN_BUDGET
                )?;
                return Ok(OK);
            }
            Err(e) => {
                writeln!(err, "error: prompt template: {e}")?;
                return Ok(FAILURE);
            }
        }
    }
    let deterministic = change_summary::report(&facts, language);
    let empty = facts.total_changes == 0 && facts.created.count == 0 && facts.deleted.count == 0;
    // An empty month makes no model call; a failing model leaves the deterministic report.
    let (status, summary, model_error, usage) = if provider == "none" || empty {
        ("SUCCEEDED", deterministic.clone(), None, None)
    } else {
        let (system, user) = match change_summary::prompt(&facts, language) {
            Ok(p) => p,
            Err(e) => {
                writeln!(err, "error: prompt template: {e}")?;
                return Ok(FAILURE);
            }
        };
        let req = opslake_runtime::llm::Request { system, user, max_tokens: spec.model.max_tokens };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let id = model_id.unwrap_or_default().to_string();
        let endpoint = conn.endpoint_url.clone();
        let home = conn.region.clone().unwrap_or_else(|| spec.home.region.clone());
        let key = anthropic_key.clone().unwrap_or_default();
        let result = rt.block_on(async move {
            use opslake_runtime::llm::{Anthropic, Backoff, Bedrock, Model};
            let model: Box<dyn Model> = if provider == "bedrock" {
                Box::new(Bedrock::connect(&id, Some(&home), endpoint.as_deref(), Backoff::default()).await)
            } else {
                let base = std::env::var("ANTHROPIC_BASE_URL").unwrap_or_else(|_| "https://api.anthropic.com".into());
                Box::new(Anthropic { api_key: key, model: id, base_url: base, backoff: Backoff::default() })
            };
            model.complete(&req).await
        });
        match result {
            Some(Ok(c)) => (
                "SUCCEEDED",
                c.text.clone(),
                None,
                Some(
                    json!({"input_tokens": c.input_tokens, "output_tokens": c.output_tokens, "stop_reason": c.stop_reason}),
                ),
            ),
            Some(Err(e)) => {
                writeln!(err, "warning: the model failed ({e}); answering with the deterministic report")?;
                ("FALLBACK", deterministic.clone(), Some(e.0), None)
            }
            None => ("SUCCEEDED", deterministic.clone(), None, None),
        }
    };
    match a.format {
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&json!({
                "status": status,
                "summary": summary,
                "model": model_spec,
                "model_error": model_error,
                "usage": usage,
                "facts": facts,
                "query": {"bytes_scanned": bytes},
            }))
            .unwrap_or_default()
        )?,
        Format::Text => {
            write!(out, "{summary}")?;
            if let Some(e) = &model_error {
                writeln!(out, "\n(model unavailable: {e})")?;
            }
        }
    }
    Ok(OK)
}
