//! `opslake ask "QUESTION"`: a question in plain language, answered by a model that chooses
//! among the lake's typed query tools (it never writes SQL), with every number cited to the
//! tool call it came from.

use opslake_runtime::analysis::ask::{self, Status};
use opslake_runtime::llm::ModelChoice;
use opslake_runtime::source::Source;
use serde_json::json;

use crate::args::{Format, LakeArgs};
use crate::context::{Context, Diagnostics};
use crate::error::{Error, Exit, Result};
use crate::report;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The question, in plain language (English or Japanese)
    question: String,
    #[command(flatten)]
    lake: LakeArgs,
    /// bedrock:MODEL_ID or anthropic:MODEL (key from ANTHROPIC_API_KEY); default: the spec's model
    #[arg(long)]
    model: Option<String>,
    /// Model turns at most (each may call several tools)
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=30))]
    max_steps: u32,
    /// Megabytes the question's Athena queries may scan in all
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    max_scan_mb: u64,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub fn run(ctx: &mut Context, a: Args) -> Result {
    let loaded = ctx.load_spec(&a.lake.spec, Diagnostics::Errors)?;
    let (spec, layout) = (&loaded.spec, loaded.layout());
    let choice = match &a.model {
        Some(m) => m.parse().map_err(|e| Error::bad_input(format!("--model {e}")))?,
        None => spec.model.choice(),
    };
    if choice == ModelChoice::None {
        return Err(Error::bad_input("a question needs a model: --model bedrock:MODEL_ID or anthropic:MODEL")
            .hint("for exact answers without a model, run a named query: `opslake query` lists them"));
    }
    let rt = ctx.rt;
    let aws = ctx.aws(&a.lake.aws.connection(), spec);
    let model = ctx.model(&choice, Some(&aws))?;
    let source = ctx.source(spec, &layout, &a.lake.from, || aws.clone(), None)?;
    let mut opts = ask::Options::new(spec.model.language, spec.model.max_tokens, ctx.today);
    opts.max_steps = a.max_steps as usize;
    if matches!(source, Source::Athena(_)) {
        opts.max_scan_bytes = Some(a.max_scan_mb.saturating_mul(1_000_000));
    }
    let asked = rt.block_on(ask::ask(&a.question, &source, &layout, model.as_ref(), &opts));
    match a.format {
        Format::Json => {
            let v = json!({"model": choice.to_string(), "question": a.question, "result": asked});
            writeln!(ctx.out, "{}", serde_json::to_string_pretty(&v).unwrap_or_default())?;
        }
        Format::Text => write!(ctx.out, "{}", report::ask::text(&asked))?,
    }
    write!(ctx.err, "{}", report::ask::notes(&asked))?;
    Ok(Exit::ok_if(asked.status == Status::Answered))
}
