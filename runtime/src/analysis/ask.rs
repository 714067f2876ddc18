//! Questions in plain language: the model chooses among safe, typed tools — every named query
//! of the catalogue, the change summary and the leftovers — and the code runs them. The model
//! never writes SQL: a tool call is a name and JSON arguments, validated exactly as the CLI's
//! `--param` is; an invalid call goes back to the model as a tool error, which it may correct,
//! and nothing else runs.
//!
//! Budgets: at most `max_steps` model turns; each tool result cut to `max_rows` rows (the exact
//! total kept) and a byte budget; in Athena, a cap on the bytes one question may scan (the sum
//! of its queries). Every tool call gets an id (`c1`, `c2`, …) the answer must cite; a citation
//! of a call that never happened is flagged.

use jiff::civil::Date;
use serde::Serialize;
use serde_json::{json, Value};

use crate::analysis::change_summary::{gather, Scope};
use crate::analysis::incident;
use crate::analysis::leftovers::pair;
use crate::lake::LakeLayout;
use crate::llm::{Block, Chat, Model, Role, Tool, Turn};
use crate::query::{self, Answer, Via, QUERIES};
use crate::report::Language;
use crate::source::Source;

/// The system prompt: what the model may do, and how to cite.
pub const SYSTEM_PROMPT: &str = include_str!("../../../templates/prompts/ask.system.tera");

/// Tool names: the catalogue's query names with `_` for `-` (both APIs accept that), plus these.
pub const CHANGE_SUMMARY_TOOL: &str = "change_summary";
pub const LEFTOVERS_TOOL: &str = "leftovers";
pub const ANALYZE_TOOL: &str = "analyze";

#[derive(Debug, Clone)]
pub struct Options {
    /// Model turns at most.
    pub max_steps: usize,
    /// Rows of a tool result the model sees (the total is always given).
    pub max_rows: usize,
    /// Bytes of one tool result's JSON the model sees, at most.
    pub max_result_bytes: usize,
    /// Athena bytes one question may scan, summed over its queries (`None`: no cap).
    pub max_scan_bytes: Option<u64>,
    /// The answer's language when the question does not make it clear.
    pub language: Language,
    pub max_tokens: u32,
    pub today: Date,
}

impl Options {
    pub fn new(language: Language, max_tokens: u32, today: Date) -> Options {
        Options {
            max_steps: 6,
            max_rows: 20,
            max_result_bytes: 12_000,
            max_scan_bytes: None,
            language,
            max_tokens,
            today,
        }
    }
}

/// How a tool call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    Ok,
    /// The arguments were refused (the model was told why); nothing ran.
    Invalid,
    /// The query ran and failed.
    Failed,
    /// Not run: the question's scan budget was spent.
    OverBudget,
}

/// One tool call, as the JSON output lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Call {
    pub id: String,
    pub tool: String,
    pub arguments: Value,
    pub status: CallStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Rows (or items) the tool produced in all.
    pub rows: usize,
    pub bytes_scanned: u64,
    pub cost_usd: f64,
}

/// How the question ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Answered,
    /// The model still wanted tools after `max_steps` turns.
    StepLimit,
    /// The scan budget was spent before the model answered.
    ScanLimit,
    /// The model failed (after retries).
    ModelFailed,
}

/// A citation in the answer, and whether that call happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Citation {
    pub call: String,
    pub known: bool,
}

/// The outcome of a question.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Asked {
    pub status: Status,
    pub answer: String,
    pub calls: Vec<Call>,
    pub citations: Vec<Citation>,
    pub steps: usize,
    pub bytes_scanned: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn tool_name(query: &str) -> String {
    query.replace('-', "_")
}

/// The tools on offer: every named query (its JSON Schema from its parameter definitions), the
/// change summary and the leftovers.
pub fn tools(layout: &LakeLayout) -> Vec<Tool> {
    let mut out: Vec<Tool> = QUERIES
        .iter()
        .map(|q| Tool {
            name: tool_name(q.name),
            description: format!("{} (named query {}; columns: {})", q.description, q.name, q.columns.join(", ")),
            schema: query::params_schema(q.params, layout),
        })
        .collect();
    let of = |name: &str| query::find(name).map(|q| q.params).unwrap_or_default();
    out.push(Tool {
        name: CHANGE_SUMMARY_TOOL.into(),
        description: "What changed in one month of AWS Config history and what is unusual against the six months before: totals per type, account and region, most changed resources, created and deleted, new types, robust anomalies".into(),
        schema: query::params_schema(of("config-changes"), layout),
    });
    out.push(Tool {
        name: LEFTOVERS_TOOL.into(),
        description:
            "Resources created between two days (CloudTrail) and not deleted since, with who created them and their age"
                .into(),
        schema: query::params_schema(&of("created-deleted")[..2], layout),
    });
    out.push(Tool {
        name: ANALYZE_TOOL.into(),
        description: "Failure analysis of an incident window (at most 24 hours): the minute errors began, error signatures, metrics that left their baseline, the changes before the onset ranked, and hypotheses citing their evidence ids".into(),
        schema: query::params_schema(of("changes"), layout),
    });
    out
}

/// Tool arguments → `key=value` pairs, as the CLI passes them (strings, numbers and booleans
/// only: anything else is refused).
fn pairs(arguments: &Value) -> Result<Vec<(String, String)>, String> {
    let Some(map) = arguments.as_object() else { return Err("the arguments must be a JSON object".into()) };
    map.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            Value::Number(n) => Ok((k.clone(), n.to_string())),
            Value::Bool(b) => Ok((k.clone(), b.to_string())),
            other => Err(format!("{k}: expected a string, number or boolean, found {other}")),
        })
        .collect()
}

/// What a tool produced: the JSON the model sees (before budgeting), rows in all, and the
/// Athena bytes and cost.
struct Output {
    content: Value,
    rows: usize,
    bytes: u64,
    cost: f64,
}

fn athena_cost(a: &Answer) -> (u64, f64) {
    match &a.via {
        Via::Athena { estimated_cost_usd, .. } => (a.stats.bytes_scanned, *estimated_cost_usd),
        _ => (0, 0.0),
    }
}

/// Runs one tool call. `Err((invalid, message))`: refused (`invalid`) or failed.
async fn run_tool(
    name: &str,
    arguments: &Value,
    source: &Source,
    layout: &LakeLayout,
    now: jiff::Timestamp,
) -> Result<Output, (bool, String)> {
    let pairs = pairs(arguments).map_err(|e| (true, e))?;
    let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    match name {
        CHANGE_SUMMARY_TOOL => {
            let scope = Scope::new(
                get("year").unwrap_or(""),
                get("month").unwrap_or(""),
                get("account"),
                get("region"),
                layout,
            )
            .map_err(|e| (true, e.0))?;
            if let Some(p) = pairs.iter().find(|(k, _)| !["year", "month", "account", "region"].contains(&k.as_str())) {
                return Err((true, format!("{CHANGE_SUMMARY_TOOL}: unknown parameter `{}`", p.0)));
            }
            let g = gather(source, layout, &scope).await;
            if let Some(e) = g.failure {
                return Err((e.is_bad_input(), e.to_string()));
            }
            let rows = g.facts.resources_changed;
            // Only Athena's bytes count against the question's budget.
            let bytes = if g.query_ids.is_empty() { 0 } else { g.bytes_scanned };
            Ok(Output { content: json!({"facts": g.facts}), rows, bytes, cost: g.cost_usd })
        }
        LEFTOVERS_TOOL => {
            let answer =
                source.ask("created-deleted", &pairs, layout).await.map_err(|e| (e.is_bad_input(), e.to_string()))?;
            let (bytes, cost) = athena_cost(&answer);
            let found = pair(&answer, now);
            let items: Vec<Value> = found
                .iter()
                .map(|l| {
                    json!({"resource_type": l.resource_type, "id": l.id, "name": l.name, "account": l.account,
                           "region": l.region, "created_at": l.created_at, "created_by": l.created_by_user.clone().or(l.created_by_service.clone()),
                           "age_days": l.age_days})
                })
                .collect();
            Ok(Output { rows: items.len(), content: json!({"rows": items}), bytes, cost })
        }
        ANALYZE_TOOL => {
            // The same parameters as `changes`, validated the same way.
            let q = query::find_or_explain("changes").map_err(|e| (true, e.0))?;
            let p = query::validate(q, &pairs, layout).map_err(|e| (true, format!("{ANALYZE_TOOL}: {}", e.0)))?;
            let (start, end) = (p.time("start").unwrap_or(now), p.time("end").unwrap_or(now));
            let (account, region) = (p.str("account").map(str::to_string), p.str("region").map(str::to_string));
            let scope = incident::Scope::new(start, end, account, region, Vec::new()).map_err(|e| (true, e.0))?;
            let a = incident::analyze(&scope, incident::gather(source, layout, &scope).await);
            // Only Athena's bytes count against the question's budget.
            let billed = a.sources.iter().filter(|s| s.cost_usd > 0.0);
            let (bytes, cost) = billed.fold((0, 0.0), |(b, c), s| (b + s.bytes_scanned, c + s.cost_usd));
            let data = crate::report::incident::json(&a, Language::En);
            let content = json!({
                "window": a.window,
                "onset_note": a.onset_note,
                "rows": data["hypotheses"],
                "signatures": a.signatures.iter().take(5).collect::<Vec<_>>(),
                "metrics": a.metrics.iter().take(5).collect::<Vec<_>>(),
                "sources": a.sources.iter().map(|s| json!({"name": s.name, "query": s.query, "status": s.status, "kept": s.kept})).collect::<Vec<_>>(),
            });
            Ok(Output { rows: a.hypotheses.len(), content, bytes, cost })
        }
        tool => {
            let Some(q) = QUERIES.iter().find(|q| tool_name(q.name) == tool) else {
                return Err((true, format!("no tool named `{tool}`")));
            };
            let answer = source.ask(q.name, &pairs, layout).await.map_err(|e| (e.is_bad_input(), e.to_string()))?;
            let (bytes, cost) = athena_cost(&answer);
            Ok(Output {
                rows: answer.rows.len(),
                content: json!({"columns": answer.columns, "rows": answer.objects()}),
                bytes,
                cost,
            })
        }
    }
}

/// Cuts a result to what the model may see: at most `max_rows` rows, long strings shortened,
/// and fewer rows until the JSON fits `max_bytes`. The exact total stays.
fn budget(mut content: Value, total: usize, opts: &Options) -> Value {
    fn shorten(v: &mut Value) {
        match v {
            Value::String(s) if s.chars().count() > 300 => *s = format!("{}…", s.chars().take(299).collect::<String>()),
            Value::Array(a) => a.iter_mut().for_each(shorten),
            Value::Object(m) => m.values_mut().for_each(shorten),
            _ => {}
        }
    }
    shorten(&mut content);
    if let Some(rows) = content.get_mut("rows").and_then(Value::as_array_mut) {
        rows.truncate(opts.max_rows);
    }
    content["total_rows"] = json!(total);
    loop {
        let shown = content.get("rows").and_then(Value::as_array).map_or(0, Vec::len);
        content["rows_shown"] = json!(shown);
        if content.to_string().len() <= opts.max_result_bytes || shown == 0 {
            return content;
        }
        if let Some(rows) = content.get_mut("rows").and_then(Value::as_array_mut) {
            rows.truncate(shown / 2);
        }
    }
}

/// The `[cN]` citations of an answer, each marked whether that call happened.
pub fn citations(answer: &str, calls: &[Call]) -> Vec<Citation> {
    let mut out: Vec<Citation> = Vec::new();
    let mut rest = answer;
    while let Some(at) = rest.find("[c") {
        rest = &rest[at + 2..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() || !rest[digits.len()..].starts_with(']') {
            continue;
        }
        let call = format!("c{digits}");
        if !out.iter().any(|c| c.call == call) {
            let known = calls.iter().any(|c| c.id == call);
            out.push(Citation { call, known });
        }
    }
    out
}

/// The system prompt for this lake (a Tera template, like the change summary's prompts).
pub fn system_prompt(layout: &LakeLayout, opts: &Options) -> Result<String, String> {
    let accounts = if layout.accounts.is_empty() { "(any)".to_string() } else { layout.accounts.join(", ") };
    let language = match opts.language {
        Language::En => "English",
        Language::Ja => "Japanese",
    };
    let mut ctx = tera::Context::new();
    ctx.insert("accounts", &accounts);
    ctx.insert("regions", &layout.regions.join(", "));
    ctx.insert("today", &opts.today.to_string());
    ctx.insert("language", language);
    tera::Tera::one_off(SYSTEM_PROMPT, &ctx, false).map_err(|e| format!("prompt template: {e}"))
}

/// Runs the tool calls of one model turn; `true` when the scan budget stopped them.
async fn answer_calls(
    uses: Vec<(String, String, Value)>,
    state: &mut Asked,
    source: &Source,
    layout: &LakeLayout,
    opts: &Options,
) -> (Vec<Block>, bool) {
    let mut results = Vec::new();
    let mut capped = false;
    for (use_id, name, input) in uses {
        let id = format!("c{}", state.calls.len() + 1);
        let mut call = Call {
            id: id.clone(),
            tool: name.clone(),
            arguments: input.clone(),
            status: CallStatus::Ok,
            error: None,
            rows: 0,
            bytes_scanned: 0,
            cost_usd: 0.0,
        };
        let spent = opts.max_scan_bytes.is_some_and(|cap| state.bytes_scanned >= cap);
        let content = if spent {
            capped = true;
            call.status = CallStatus::OverBudget;
            let cap = opts.max_scan_bytes.unwrap_or_default();
            let e = format!("not run: this question has scanned {} bytes, its budget is {cap}", state.bytes_scanned);
            call.error = Some(e.clone());
            json!({"call": id, "error": e})
        } else {
            match run_tool(&name, &input, source, layout, jiff::Timestamp::now()).await {
                Ok(out) => {
                    (call.rows, call.bytes_scanned, call.cost_usd) = (out.rows, out.bytes, out.cost);
                    state.bytes_scanned += out.bytes;
                    let mut c = budget(out.content, out.rows, opts);
                    c["call"] = json!(id);
                    c
                }
                Err((invalid, e)) => {
                    call.status = if invalid { CallStatus::Invalid } else { CallStatus::Failed };
                    call.error = Some(e.clone());
                    json!({"call": id, "error": e})
                }
            }
        };
        let is_error = call.status != CallStatus::Ok;
        state.calls.push(call);
        results.push(Block::ToolResult { id: use_id, content, is_error });
    }
    (results, capped)
}

/// Answers `question` with `model` choosing tools over `source`.
pub async fn ask(question: &str, source: &Source, layout: &LakeLayout, model: &dyn Model, opts: &Options) -> Asked {
    let mut state = Asked {
        status: Status::StepLimit,
        answer: String::new(),
        calls: Vec::new(),
        citations: Vec::new(),
        steps: 0,
        bytes_scanned: 0,
        input_tokens: 0,
        output_tokens: 0,
        error: None,
    };
    let system = match system_prompt(layout, opts) {
        Ok(s) => s,
        Err(e) => {
            state.status = Status::ModelFailed;
            state.error = Some(e);
            return state;
        }
    };
    let mut chat =
        Chat { system, turns: vec![Turn::user(question)], tools: tools(layout), max_tokens: opts.max_tokens };
    while state.steps < opts.max_steps {
        state.steps += 1;
        let reply = match model.chat(&chat).await {
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                state.status = Status::ModelFailed;
                state.error = Some(e.0);
                break;
            }
            None => {
                state.status = Status::ModelFailed;
                state.error = Some("no model: questions need one (bedrock:ID or anthropic:ID)".into());
                break;
            }
        };
        (state.input_tokens, state.output_tokens) =
            (state.input_tokens + reply.input_tokens, state.output_tokens + reply.output_tokens);
        state.answer = reply.text();
        let uses: Vec<(String, String, Value)> = reply
            .content
            .iter()
            .filter_map(|b| {
                if let Block::ToolUse { id, name, input } = b {
                    Some((id.clone(), name.clone(), input.clone()))
                } else {
                    None
                }
            })
            .collect();
        chat.turns.push(Turn { role: Role::Assistant, content: reply.content });
        if uses.is_empty() {
            state.status = Status::Answered;
            break;
        }
        let (results, capped) = answer_calls(uses, &mut state, source, layout, opts).await;
        chat.turns.push(Turn { role: Role::User, content: results });
        if capped {
            state.status = Status::ScanLimit;
            let cap = opts.max_scan_bytes.unwrap_or_default();
            state.error = Some(format!(
                "stopped: the question's queries scanned {:.1} MB, its budget is {:.1} MB (raise --max-scan-mb, or ask about a shorter window)",
                state.bytes_scanned as f64 / 1e6,
                cap as f64 / 1e6
            ));
            break;
        }
    }
    if state.status == Status::StepLimit {
        state.error = Some(format!(
            "stopped after {} model turns: raise --max-steps, or ask a narrower question",
            opts.max_steps
        ));
    }
    state.citations = citations(&state.answer, &state.calls);
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::ParamKind;

    fn layout() -> LakeLayout {
        serde_json::from_value(json!({
            "database": "d", "bucket": "b", "prefix": "", "organization_trail": null,
            "accounts": ["111111111111", "222222222222"], "regions": ["ap-northeast-1", "us-east-1"],
            "start": "2024-01-01", "end": null, "cloudtrail": true, "config": true, "alb": []
        }))
        .unwrap()
    }

    /// A new named query becomes a tool with no extra code: every parameter, its type, its
    /// enum, and whether it is required come from the catalogue.
    #[test]
    fn every_named_query_is_a_tool_with_exactly_its_parameters() {
        let layout = layout();
        let tools = tools(&layout);
        assert_eq!(tools.len(), QUERIES.len() + 3);
        for t in &tools {
            let ok = t.name.len() <= 64
                && t.name.starts_with(|c: char| c.is_ascii_alphabetic())
                && t.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            assert!(ok, "{} is not a name both APIs accept", t.name);
            assert_eq!(t.schema["additionalProperties"], json!(false), "{}", t.name);
        }
        for q in QUERIES {
            let t = tools.iter().find(|t| t.name == q.name.replace('-', "_")).expect("a tool per query");
            let props = t.schema["properties"].as_object().unwrap();
            let mut names: Vec<&str> = props.keys().map(String::as_str).collect();
            let mut want: Vec<&str> = q.params.iter().map(|p| p.name).collect();
            names.sort_unstable();
            want.sort_unstable();
            assert_eq!(names, want, "{}", q.name);
            let required: Vec<&str> = q.params.iter().filter(|p| p.required).map(|p| p.name).collect();
            assert_eq!(t.schema["required"], json!(required), "{}", q.name);
            for p in q.params {
                let s = &props[p.name];
                assert_eq!(s["description"], json!(p.help));
                match p.kind {
                    ParamKind::Region => assert_eq!(s["enum"], json!(layout.regions)),
                    ParamKind::Account => assert_eq!(s["enum"], json!(layout.accounts)),
                    ParamKind::Year | ParamKind::Month | ParamKind::Limit => assert_eq!(s["type"], "integer"),
                    ParamKind::Bool => assert_eq!(s["type"], "boolean"),
                    _ => assert!(s["type"] == "string" && s["pattern"].is_string(), "{}: {s}", p.name),
                }
            }
        }
    }

    #[test]
    fn citations_are_found_once_each_and_checked() {
        let call = |id: &str| Call {
            id: id.into(),
            tool: "t".into(),
            arguments: json!({}),
            status: CallStatus::Ok,
            error: None,
            rows: 0,
            bytes_scanned: 0,
            cost_usd: 0.0,
        };
        let got = citations("a [c1], b [c2] [c1], not [cx] nor [c], c [c12]", &[call("c1"), call("c2")]);
        let got: Vec<(&str, bool)> = got.iter().map(|c| (c.call.as_str(), c.known)).collect();
        assert_eq!(got, [("c1", true), ("c2", true), ("c12", false)]);
    }

    #[test]
    fn a_result_keeps_its_total_when_cut() {
        let mut opts = Options::new(Language::En, 100, jiff::civil::date(2026, 1, 1));
        opts.max_rows = 5;
        let rows: Vec<Value> = (0..50).map(|i| json!({"n": i, "text": "x".repeat(400)})).collect();
        let cut = budget(json!({"rows": rows}), 50, &opts);
        assert_eq!((cut["total_rows"].as_u64(), cut["rows_shown"].as_u64()), (Some(50), Some(5)));
        assert!(cut["rows"][0]["text"].as_str().unwrap().chars().count() <= 300);
        opts.max_result_bytes = 700;
        let small = budget(
            json!({"rows": (0..50).map(|i| json!({"n": i, "t": "y".repeat(200)})).collect::<Vec<_>>()}),
            50,
            &opts,
        );
        assert!(small.to_string().len() <= 700 || small["rows_shown"] == 0, "{small}");
        assert_eq!(small["total_rows"], 50);
    }
}
