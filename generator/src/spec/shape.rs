//! The spec's shape, declared once: it drives the structural check (unknown keys, types,
//! enum values, required keys — all reported at once, with did-you-mean hints) and the
//! JSON Schema that editors use for completion (`opslake schema`).

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::diag::{did_you_mean, Diagnostic, Pos};
use super::yaml::{Kind, Node, Scalar};

pub enum Shape {
    /// A string; `pattern` is an editor hint (the semantic checks give precise messages).
    Str {
        pattern: Option<&'static str>,
    },
    Int {
        min: i64,
        max: i64,
    },
    Bool,
    /// A calendar day, `YYYY-MM-DD`.
    Date,
    Enum(&'static [&'static str]),
    List(&'static Shape),
    /// Free-form keys (validated semantically) mapping to values of one shape.
    Map {
        keys: &'static str,
        values: &'static Shape,
    },
    Object(&'static [Field]),
}

pub struct Field {
    pub name: &'static str,
    pub shape: &'static Shape,
    pub required: bool,
    /// JSON text of the default, for documentation (serde applies it).
    pub default: Option<&'static str>,
    pub doc: &'static str,
}

const fn f(name: &'static str, shape: &'static Shape, doc: &'static str) -> Field {
    Field { name, shape, required: false, default: None, doc }
}
const fn req(name: &'static str, shape: &'static Shape, doc: &'static str) -> Field {
    Field { name, shape, required: true, default: None, doc }
}
const fn def(name: &'static str, shape: &'static Shape, default: &'static str, doc: &'static str) -> Field {
    Field { name, shape, required: false, default: Some(default), doc }
}

const STR: Shape = Shape::Str { pattern: None };
const BOOL: Shape = Shape::Bool;
const ACCOUNT_ID: Shape = Shape::Str { pattern: Some("^[0-9]{12}$") };
const REGION: Shape = Shape::Str { pattern: Some("^[a-z]{2}(-[a-z]+)+-[0-9]+$") };
const DATE: Shape = Shape::Date;
const ARN: Shape = Shape::Str { pattern: Some("^arn:aws:") };

pub const SPEC: Shape = Shape::Object(&[
    req("name", &Shape::Str { pattern: Some("^[a-z][a-z0-9-]{1,19}$") }, "Short name that prefixes every generated resource name: [a-z][a-z0-9-]{1,19}."),
    req(
        "home",
        &Shape::Object(&[
            req("account", &ACCOUNT_ID, "Account that holds the lake, Athena and the functions (quoted, 12 digits)."),
            req("region", &REGION, "Region of the central stack."),
        ]),
        "Where the central stack is deployed.",
    ),
    f(
        "organization",
        &Shape::Object(&[
            req("id", &Shape::Str { pattern: Some("^o-[a-z0-9]{10,32}$") }, "Organization id (o-…)."),
            def("member_ous", &Shape::List(&Shape::Str { pattern: Some("^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$") }), "[]", "OUs (or the root r-…) that receive the member stacks through a SERVICE_MANAGED StackSet."),
            f("management_account", &ACCOUNT_ID, "The organization's management account (quoted, 12 digits): it owns the organization trail, deployed there as its own small stack; the lake, Athena and the functions stay in the home (log-archive) account, which must be a delegated administrator for CloudFormation StackSets and AWS Config. Default: the home account is the management account."),
        ]),
        "Optional: use an organization trail, an organization aggregator and StackSets to OUs.",
    ),
    f(
        "accounts",
        &Shape::List(&Shape::Object(&[
            req("id", &ACCOUNT_ID, "Account id (quoted, 12 digits)."),
            f("name", &Shape::Str { pattern: Some("^[a-z0-9][a-z0-9-]{0,62}$") }, "Short label used in reports."),
        ])),
        "Accounts whose logs land in the lake. Default: the home account only.",
    ),
    req("regions", &Shape::List(&REGION), "Regions recorded by Config and projected in the tables."),
    req(
        "lake",
        &Shape::Object(&[
            req("bucket", &Shape::Str { pattern: Some("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$") }, "The central log-archive bucket."),
            def("existing", &BOOL, "false", "true: the bucket exists already; only read it (no bucket, policy or key is created)."),
            def("prefix", &Shape::Str { pattern: Some("^([A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*)?$") }, "\"\"", "Key prefix before AWSLogs/, without leading or trailing slash."),
            def("retention_days", &Shape::Int { min: 1, max: 36500 }, "400", "Days before log objects expire."),
            def("kms", &BOOL, "true", "Encrypt the lake with a customer-managed KMS key (SSE-KMS)."),
            def(
                "projection",
                &Shape::Object(&[
                    def("start", &DATE, "\"2024-01-01\"", "First day the tables project (YYYY-MM-DD)."),
                    f("end", &DATE, "Last day the tables project (YYYY-MM-DD). Default: NOW."),
                ]),
                "{\"start\": \"2024-01-01\"}",
                "Date range of partition projection.",
            ),
            f("break_glass_role", &Shape::Str { pattern: Some("^[A-Za-z0-9+=,.@_-]{1,64}$") }, "The one IAM role (a name in the home account) that may delete log objects or change the bucket's policy, lifecycle, versioning or encryption outside a stack deployment. Default: NAME-opslake-break-glass (it need not exist until needed)."),
            def("audit_reads", &BOOL, "true", "The trails record reads of the lake's objects (GetObject data events, $0.10 per 100,000) besides deletes and ACL, retention and restore changes."),
        ]),
        "The log-archive bucket.",
    ),
    def(
        "sources",
        &Shape::Object(&[
            def(
                "cloudtrail",
                &Shape::Object(&[
                    f("trail", &Shape::Enum(&["organization", "account", "existing"]), "organization: one organization trail; account: one trail per account (member stacks); existing: a trail you already have delivers to the lake. Default: organization when `organization` is set, else account."),
                    def("data_events", &Shape::List(&Shape::Enum(&["AWS::S3::Object", "AWS::Lambda::Function", "AWS::DynamoDB::Table"])), "[]", "Data event resource types to record as well (they cost extra)."),
                ]),
                "{}",
                "CloudTrail delivery into the lake.",
            ),
            def(
                "config",
                &Shape::Object(&[
                    def("recorder", &BOOL, "true", "Create a Config recorder and delivery channel in every account and region."),
                    def("aggregator", &BOOL, "true", "Create a Config aggregator in the home account."),
                    def("delivery_frequency", &Shape::Enum(&["One_Hour", "Three_Hours", "Six_Hours", "Twelve_Hours", "TwentyFour_Hours"]), "\"TwentyFour_Hours\"", "Config snapshot delivery frequency."),
                ]),
                "{}",
                "AWS Config recording and delivery into the lake.",
            ),
            f(
                "alb",
                &Shape::Object(&[
                    req("buckets", &Shape::Map { keys: "region", values: &Shape::Str { pattern: Some("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$") } }, "ALB access-log bucket per region (ALB logs must stay in the load balancer's region)."),
                    def("prefix", &Shape::Str { pattern: None }, "\"\"", "Key prefix before AWSLogs/ in those buckets."),
                ]),
                "Optional: Application Load Balancer access logs.",
            ),
        ]),
        "{}",
        "Which logs land in the lake.",
    ),
    def(
        "athena",
        &Shape::Object(&[
            f("workgroup", &Shape::Str { pattern: Some("^[A-Za-z0-9._-]{1,128}$") }, "Workgroup name. Default: <name>-opslake."),
            def("bytes_scanned_cutoff_mb", &Shape::Int { min: 10, max: 1_000_000_000 }, "10240", "Queries scanning more than this are cancelled (MB, at least 10)."),
            def("results_retention_days", &Shape::Int { min: 1, max: 3650 }, "30", "Days before query results expire."),
        ]),
        "{}",
        "The Athena workgroup.",
    ),
    def(
        "model",
        &Shape::Object(&[
            def("provider", &Shape::Enum(&["none", "bedrock", "anthropic"]), "\"none\"", "LLM provider for narratives; none gives the deterministic report only."),
            f("id", &STR, "Model id: a Bedrock model or inference profile id (e.g. global.anthropic.claude-sonnet-4-5-20250929-v1:0) or an Anthropic model name (e.g. claude-sonnet-4-5)."),
            def("max_tokens", &Shape::Int { min: 1, max: 64000 }, "1500", "Most tokens the model may write."),
            def("language", &Shape::Enum(&["en", "ja"]), "\"en\"", "Language of prompts and reports."),
            f("api_key_secret", &ARN, "Anthropic only: ARN of the Secrets Manager secret that holds the API key."),
        ]),
        "{}",
        "The language model the functions use.",
    ),
    def(
        "features",
        &Shape::Object(&[
            f("change_summary", &Shape::Object(&[def("enabled", &BOOL, "true", "")]), "Monthly Config change summary behind a Function URL (IAM auth)."),
            f("query", &Shape::Object(&[def("enabled", &BOOL, "true", "")]), "Named, parameterised Athena queries behind a Function URL (IAM auth)."),
            f(
                "ask",
                &Shape::Object(&[
                    def("enabled", &BOOL, "true", ""),
                    def("max_scan_mb", &Shape::Int { min: 1, max: 10_000_000 }, "1024", "Megabytes one question's Athena queries may scan in all."),
                ]),
                "Questions in plain language behind a Function URL (IAM auth): the model picks named queries as tools, never SQL. Needs a model.",
            ),
            f(
                "leftovers",
                &Shape::Object(&[
                    def("enabled", &BOOL, "true", ""),
                    def("schedule", &STR, "\"cron(0 0 * * ? *)\"", "EventBridge schedule expression: cron(…) with 6 fields, or rate(…)."),
                    def("lookback_days", &Shape::Int { min: 1, max: 3650 }, "30", "How far back to look for creations."),
                    def("notify", &Shape::List(&STR), "[]", "E-mail addresses subscribed to the report topic."),
                ]),
                "Resources created but never deleted, on a schedule.",
            ),
            f(
                "failure_analysis",
                &Shape::Object(&[
                    def("enabled", &BOOL, "true", ""),
                    def("log_groups", &Shape::List(&STR), "[]", "CloudWatch Logs groups: a name is in the home account and region, an ARN (arn:aws:logs:REGION:ACCOUNT:log-group:NAME) in one of the spec's accounts and regions; captured into the lake and searched with Logs Insights (at most 50)."),
                    def("insights_query", &STR, "\"fields @timestamp, @message | filter @message like /(?i)error/\"", "Not used: every engine counts as errors the messages holding error, exception, timeout, timed out, fatal or panic (a warning says so when set)."),
                    def("xray", &BOOL, "true", "Include X-Ray trace summaries."),
                    def("alarm_topics", &Shape::List(&ARN), "[]", "SNS topics whose alarms trigger an analysis."),
                    f(
                        "slack",
                        &Shape::Object(&[
                            req("signing_secret", &ARN, "Secrets Manager ARN of the Slack signing secret."),
                            req("bot_token", &ARN, "Secrets Manager ARN of the Slack bot token."),
                            req("channel", &Shape::Str { pattern: Some("^[CGD][A-Z0-9]{8,}$") }, "Channel id (C…)."),
                        ]),
                        "Slack app that receives requests and answers.",
                    ),
                    f(
                        "capture",
                        &Shape::Object(&[
                            def("logs", &BOOL, "true", "Copy the log groups' events into the lake (subscription filter → Firehose → app_logs table)."),
                            def("metrics", &BOOL, "true", "Copy metrics into the lake (metric stream → Firehose → metrics table)."),
                            def(
                                "namespaces",
                                &Shape::List(&Shape::Str { pattern: Some("^[A-Za-z0-9/_.#:-]{1,255}$") }),
                                "[\"AWS/ApplicationELB\", \"AWS/Lambda\", \"AWS/RDS\"]",
                                "CloudWatch namespaces the metric stream includes.",
                            ),
                        ]),
                        "What failure analysis keeps in the lake, so that an analysis also runs over Athena or a mirror.",
                    ),
                    def("redact_ips", &BOOL, "false", "Replace IP addresses in the evidence a model sees (access keys, tokens and e-mail addresses are always replaced)."),
                    def("alarm_events", &BOOL, "true", "Every CloudWatch alarm of the spec's accounts and regions that goes to ALARM starts an analysis (EventBridge rules forwarded to the home account's bus)."),
                    def("alarm_prefix", &STR, "\"\"", "Only alarms whose names start with this start an analysis (empty: all)."),
                    def("quiet_minutes", &Shape::Int { min: 1, max: 1440 }, "30", "An alarm starts at most one analysis per this many minutes, so a flapping alarm does not flood the channel."),
                    def("time_zone", &STR, "\"UTC\"", "IANA zone of the report's times when the asker's is unknown (alarms); Slack users see their own."),
                ]),
                "Root-cause hypotheses for alarms, answered in Slack.",
            ),
            f(
                "activity_insights",
                &Shape::Object(&[
                    def("enabled", &BOOL, "true", ""),
                    def("read_only", &BOOL, "false", "Also count read-only calls (Describe*, Get*, List*): often ten times the volume of the others, and as many more events, messages and invocations."),
                    def("notify", &Shape::List(&STR), "[]", "E-mail addresses subscribed to the anomaly topic."),
                    f("slack_channel", &STR, "Channel id for the alerts when the failure-analysis Slack app exists (default: its channel)."),
                ]),
                "Near-real-time API activity of every account and region: metrics, rankings and a dashboard, random cut forest anomalies to a topic.",
            ),
        ]),
        "{}",
        "Functions to deploy. A present section turns its feature on; `enabled: false` turns it off.",
    ),
]);

/// Where each value and key of the document is, by JSON pointer (`/accounts/1/id`).
#[derive(Debug, Default, Clone)]
pub struct Locations {
    values: HashMap<String, Pos>,
    keys: HashMap<String, Pos>,
}

impl Locations {
    /// Position of the value at `pointer`, or of its nearest present ancestor.
    pub fn value(&self, pointer: &str) -> Pos {
        let mut p = pointer;
        loop {
            if let Some(pos) = self.values.get(p) {
                return *pos;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return Pos::START,
            }
        }
    }

    /// Position of the key of `pointer` (falls back to the value's position).
    pub fn key(&self, pointer: &str) -> Pos {
        self.keys.get(pointer).copied().unwrap_or_else(|| self.value(pointer))
    }

    pub fn has(&self, pointer: &str) -> bool {
        self.values.contains_key(pointer)
    }
}

/// Checks `node` against `shape`, converting it to JSON. Returns `None` where the value is
/// unusable (its problems are in `diags`).
pub fn check(
    node: &Node,
    shape: &Shape,
    pointer: &str,
    locs: &mut Locations,
    diags: &mut Vec<Diagnostic>,
) -> Option<Value> {
    locs.values.insert(pointer.to_string(), node.pos);
    let width = match &node.kind {
        Kind::Scalar { value, .. } => value.chars().count(),
        _ => 1,
    };
    let mismatch = |expected: &str| {
        let mut d = Diagnostic::error(node.pos, format!("expected {expected}, found {}", node.describe())).width(width);
        if expected == "a string" {
            if let Kind::Scalar { value, .. } = &node.kind {
                if !value.is_empty() {
                    d = d.hint(format!("quote it: \"{value}\""));
                }
            }
        }
        d
    };
    match shape {
        Shape::List(item) => match &node.kind {
            Kind::Seq(items) => {
                let mut out = Vec::new();
                for (i, it) in items.iter().enumerate() {
                    out.push(check(it, item, &format!("{pointer}/{i}"), locs, diags).unwrap_or(Value::Null));
                }
                Some(Value::Array(out))
            }
            _ => {
                let mut d = mismatch("a list");
                if let Kind::Scalar { value, .. } = &node.kind {
                    if !value.is_empty() {
                        d = d.hint(format!("write a list: [{value}]"));
                    }
                }
                diags.push(d);
                None
            }
        },
        Shape::Map { values, .. } => match &node.kind {
            Kind::Map(entries) => {
                let mut out = Map::new();
                for (k, v) in entries {
                    let p = format!("{pointer}/{}", escape(&k.name));
                    locs.keys.insert(p.clone(), k.pos);
                    out.insert(k.name.clone(), check(v, values, &p, locs, diags).unwrap_or(Value::Null));
                }
                Some(Value::Object(out))
            }
            _ => {
                diags.push(mismatch("a mapping"));
                None
            }
        },
        Shape::Object(fields) => match &node.kind {
            Kind::Map(entries) => check_object(node, entries, fields, pointer, locs, diags),
            _ => {
                diags.push(mismatch("a mapping"));
                None
            }
        },
        scalar => check_scalar(node, scalar, width, &mismatch, diags),
    }
}

/// A scalar against its shape (text, date, integer, boolean, one of a list); `mismatch` is
/// the error for a value of another kind.
fn check_scalar(
    node: &Node,
    shape: &Shape,
    width: usize,
    mismatch: &dyn Fn(&str) -> Diagnostic,
    diags: &mut Vec<Diagnostic>,
) -> Option<Value> {
    match shape {
        Shape::Str { .. } => match node.scalar() {
            Some(Scalar::Str(s)) => Some(Value::String(s.to_string())),
            _ => {
                diags.push(mismatch("a string"));
                None
            }
        },
        Shape::Date => match node.scalar() {
            Some(Scalar::Str(s)) if s.len() == 10 && s.parse::<jiff::civil::Date>().is_ok() => {
                Some(Value::String(s.to_string()))
            }
            Some(Scalar::Str(s)) => {
                let d = Diagnostic::error(node.pos, format!("`{s}` is not a date")).width(width);
                diags.push(d.hint("write YYYY-MM-DD, e.g. 2024-01-01"));
                None
            }
            _ => {
                diags.push(mismatch("a string"));
                None
            }
        },
        Shape::Int { min, max } => match node.scalar() {
            Some(Scalar::Int(n)) if n >= *min && n <= *max => Some(json!(n)),
            Some(Scalar::Int(_)) | Some(Scalar::BigInt(_)) => {
                diags.push(Diagnostic::error(node.pos, format!("must be between {min} and {max}")).width(width));
                None
            }
            _ => {
                diags.push(mismatch("an integer"));
                None
            }
        },
        Shape::Bool => match node.scalar() {
            Some(Scalar::Bool(b)) => Some(json!(b)),
            _ => {
                let mut d = mismatch("a boolean (true or false)");
                if let Some(Scalar::Str(s)) = node.scalar() {
                    if ["yes", "no", "on", "off", "y", "n"].contains(&s.to_ascii_lowercase().as_str()) {
                        d = d.hint("YAML 1.2 reads yes/no/on/off as text: write true or false");
                    }
                }
                diags.push(d);
                None
            }
        },
        Shape::Enum(allowed) => match node.scalar() {
            Some(Scalar::Str(s)) if allowed.contains(&s) => Some(Value::String(s.to_string())),
            Some(Scalar::Str(s)) => {
                let mut d =
                    Diagnostic::error(node.pos, format!("`{s}` is not one of: {}", allowed.join(", "))).width(width);
                if let Some(m) = did_you_mean(s, allowed.iter().copied()) {
                    d = d.hint(format!("did you mean `{m}`?"));
                }
                diags.push(d);
                None
            }
            _ => {
                diags.push(mismatch(&format!("one of: {}", allowed.join(", "))));
                None
            }
        },
        Shape::List(_) | Shape::Map { .. } | Shape::Object(_) => None,
    }
}

/// A mapping against its fields: each known key checked, each unknown one named with the
/// nearest known key, each missing required key reported at the mapping.
fn check_object(
    node: &Node,
    entries: &[(crate::spec::yaml::Key, Node)],
    fields: &[Field],
    pointer: &str,
    locs: &mut Locations,
    diags: &mut Vec<Diagnostic>,
) -> Option<Value> {
    let mut out = Map::new();
    for (k, v) in entries {
        let p = format!("{pointer}/{}", escape(&k.name));
        locs.keys.insert(p.clone(), k.pos);
        match fields.iter().find(|f| f.name == k.name) {
            Some(field) => {
                if let Some(value) = check(v, field.shape, &p, locs, diags) {
                    out.insert(k.name.clone(), value);
                }
            }
            None => {
                let mut d = Diagnostic::error(k.pos, format!("unknown key `{}`", k.name)).width(k.name.chars().count());
                d = match did_you_mean(&k.name, fields.iter().map(|f| f.name)) {
                    Some(m) => d.hint(format!("did you mean `{m}`?")),
                    None => d.hint(format!(
                        "known keys here: {}",
                        fields.iter().map(|f| f.name).collect::<Vec<_>>().join(", ")
                    )),
                };
                diags.push(d);
            }
        }
    }
    for field in fields.iter().filter(|f| f.required) {
        if !entries.iter().any(|(k, _)| k.name == field.name) {
            let where_ = if pointer.is_empty() { "the spec".to_string() } else { format!("`{}`", dotted(pointer)) };
            diags.push(
                Diagnostic::error(node.pos, format!("missing required key `{}` in {where_}", field.name))
                    .hint(format!("{}: {}", field.name, field.doc)),
            );
        }
    }
    Some(Value::Object(out))
}

/// Escapes a key for a JSON pointer segment (RFC 6901).
pub fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// `/lake/projection/start` → `lake.projection.start`
pub fn dotted(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".").replace("~1", "/").replace("~0", "~")
}

/// The JSON Schema (draft 2020-12) of the spec, for editors.
pub fn json_schema() -> Value {
    let mut root = schema_of(&SPEC);
    if let Value::Object(m) = &mut root {
        m.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
        m.insert("$id".into(), json!("https://opslake.dev/schema/opslake.schema.json"));
        m.insert("title".into(), json!("opslake spec"));
        m.insert(
            "description".into(),
            json!("One YAML spec for an AWS account-activity log lake and the AIOps functions that read it."),
        );
    }
    root
}

fn schema_of(shape: &Shape) -> Value {
    match shape {
        Shape::Str { pattern: Some(p) } => json!({"type": "string", "pattern": p}),
        Shape::Str { pattern: None } => json!({"type": "string"}),
        Shape::Date => json!({"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}),
        Shape::Int { min, max } => json!({"type": "integer", "minimum": min, "maximum": max}),
        Shape::Bool => json!({"type": "boolean"}),
        Shape::Enum(values) => json!({"type": "string", "enum": values}),
        Shape::List(item) => json!({"type": "array", "items": schema_of(item)}),
        Shape::Map { keys, values } => {
            json!({"type": "object", "description": format!("keys: {keys}"), "additionalProperties": schema_of(values)})
        }
        Shape::Object(fields) => {
            let mut props = Map::new();
            for field in fields.iter() {
                let mut s = schema_of(field.shape);
                if let Value::Object(m) = &mut s {
                    if !field.doc.is_empty() {
                        m.insert("description".into(), json!(field.doc));
                    }
                    if let Some(d) = field.default {
                        if let Ok(v) = serde_json::from_str::<Value>(d) {
                            m.insert("default".into(), v);
                        }
                    }
                }
                props.insert(field.name.into(), s);
            }
            let required: Vec<&str> = fields.iter().filter(|f| f.required).map(|f| f.name).collect();
            let mut o = json!({"type": "object", "additionalProperties": false, "properties": props});
            if !required.is_empty() {
                o["required"] = json!(required);
            }
            o
        }
    }
}
