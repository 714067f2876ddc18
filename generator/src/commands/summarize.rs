//! `opslake summarize --month YYYY-MM`: what changed in a month of AWS Config history and what
//! is unusual — exact facts from the mirror or Athena, then the deterministic report or a
//! model's narrative of them (`--model`), in the spec's language.

use opslake_runtime::analysis::change_summary::{self, gather, narrate, Scope};
use opslake_runtime::llm::ModelChoice;
use serde_json::json;

use crate::args::{Format, LakeArgs};
use crate::context::{Context, Diagnostics};
use crate::error::{Error, Exit, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The month, YYYY-MM
    #[arg(long)]
    month: String,
    #[command(flatten)]
    lake: LakeArgs,
    /// Only this account
    #[arg(long)]
    account: Option<String>,
    /// Only this region
    #[arg(long)]
    region: Option<String>,
    /// none (the deterministic report, the default), bedrock:MODEL_ID or anthropic:MODEL (key from ANTHROPIC_API_KEY)
    #[arg(long, default_value = "none")]
    model: String,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Print the prompt the model would get, and exit
    #[arg(long)]
    print_prompt: bool,
}

/// `2025-06` → (2025, 6).
fn month(s: &str) -> Result<(i32, i32)> {
    let parsed = s.split_once('-').and_then(|(y, m)| Some((y.parse::<i32>().ok()?, m.parse::<i32>().ok()?)));
    match parsed {
        Some((y, m)) if (2000..=2100).contains(&y) && (1..=12).contains(&m) && s.len() == 7 => Ok((y, m)),
        _ => Err(Error::bad_input(format!("--month {s}: expected YYYY-MM, e.g. 2025-06"))),
    }
}

pub fn run(ctx: &mut Context, a: Args) -> Result {
    let (year, mon) = month(&a.month)?;
    let loaded = ctx.load_spec(&a.lake.spec, Diagnostics::Errors)?;
    let (spec, layout) = (&loaded.spec, loaded.layout());
    // The command line calls a model only when asked: offline and free by default.
    let choice: ModelChoice = a.model.parse().map_err(|e| Error::bad_input(format!("--model {e}")))?;
    let scope = Scope::new(&year.to_string(), &mon.to_string(), a.account.as_deref(), a.region.as_deref(), &layout)?;
    let rt = ctx.rt;
    let (model, source) = ctx.model_and_source(spec, &layout, &a.lake, &choice, !a.print_prompt)?;
    let g = rt.block_on(gather(&source, &layout, &scope));
    if let Some(e) = g.failure {
        return Err(e.into());
    }
    let language = spec.model.language;
    if a.print_prompt {
        let (system, user) =
            change_summary::prompt(&g.facts, language).map_err(|e| Error::failed(format!("prompt template: {e}")))?;
        writeln!(ctx.out, "--- system ---\n{system}\n--- user ---\n{user}")?;
        let tokens = change_summary::estimate_tokens(&system) + change_summary::estimate_tokens(&user);
        writeln!(ctx.err, "prompt: about {tokens} tokens (budget {})", change_summary::PROMPT_TOKEN_BUDGET)?;
        return Ok(Exit::Ok);
    }
    let n = rt.block_on(narrate(&g.facts, language, model.as_ref(), spec.model.max_tokens)).map_err(Error::failed)?;
    if let Some(e) = &n.model_error {
        writeln!(ctx.err, "warning: the model failed ({e}); answering with the deterministic report")?;
    }
    match a.format {
        Format::Json => {
            let v = json!({
                "status": n.status,
                "summary": n.summary,
                "model": choice.to_string(),
                "model_error": n.model_error,
                "usage": n.usage,
                "facts": g.facts,
                "query": {"bytes_scanned": g.bytes_scanned},
            });
            writeln!(ctx.out, "{}", serde_json::to_string_pretty(&v).unwrap_or_default())?;
        }
        Format::Text => {
            write!(ctx.out, "{}", n.summary)?;
            if let Some(e) = &n.model_error {
                writeln!(ctx.out, "\n(model unavailable: {e})")?;
            }
        }
    }
    Ok(Exit::Ok)
}
