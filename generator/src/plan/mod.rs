//! Plan: a validated spec → what to generate. Computes every name, ARN, policy and table
//! definition (the tables come from `opslake_runtime::lake`), and decides which templates
//! exist and where each one is deployed. Only `render` turns this into text.

mod incident;
mod insights;
mod policies;

use crate::spec::model::PlacedLogGroup;
use serde::Serialize;
use serde_json::{json, Value};

use opslake_runtime::functions::env::{
    AskEnv, ChangeSummaryEnv, EnvValue, LakeEnv, LeftoversEnv, LeftoversSource, ModelEnv, QueryEnv, Vars,
};
use opslake_runtime::lake::{AlbSource, LakeLayout, TableDef, TableKind};

use crate::spec::model::{Spec, TrailMode};

/// S3 bucket policies are limited to 20 KB.
pub const MAX_BUCKET_POLICY_BYTES: usize = 20 * 1024;
/// KMS key policies are limited to 32 KB.
pub const MAX_KEY_POLICY_BYTES: usize = 32 * 1024;

/// A spec that is valid on its own but cannot be turned into deployable templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    /// JSON pointer of the spec value the problem is about.
    pub pointer: String,
    pub message: String,
    pub hint: String,
}

/// How a template reaches its accounts and regions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// One stack in one account and region.
    Stack { stack_name: String, account: String, region: String },
    /// A StackSet administered from the home account.
    StackSet {
        stack_set_name: String,
        permission_model: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        organizational_units: Vec<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        accounts: Vec<String>,
        regions: Vec<String>,
        /// Accounts the StackSet cannot reach (the management account under
        /// SERVICE_MANAGED): deployed as plain stacks, one per region, instead.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        also_as_stacks_in: Vec<String>,
        /// The home account administers the organization's StackSets as a delegated
        /// administrator (`CallAs: DELEGATED_ADMIN`): the management account is another.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        delegated_admin: bool,
    },
}

/// Where a template parameter's value comes from at deploy time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamSource {
    /// An output of another template's stack.
    StackOutput { template: String, output: String },
    /// The assets bucket of the bootstrap stack (where artifacts are uploaded).
    AssetsBucket,
    /// The S3 key of the zip of a runtime binary (named by its content hash).
    Artifact { bin: String },
    /// The S3 object version of that zip as deploy uploaded or found (and checked) it, so the
    /// function runs exactly those bytes; empty when the bucket keeps no versions.
    ArtifactVersion { bin: String },
    /// The functions' instruction set: `arm64` (default) or `x86_64` (`deploy --x86-64`).
    Architecture,
}

/// One template to render.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedTemplate {
    /// Logical name (`central`, `member`).
    pub name: String,
    /// File written to the output directory.
    pub file: String,
    /// Tera template that renders it.
    #[serde(skip)]
    pub source: String,
    pub description: String,
    pub target: Target,
    pub parameters: std::collections::BTreeMap<String, ParamSource>,
    /// The Tera context.
    #[serde(skip)]
    pub context: Value,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub layout: LakeLayout,
    pub tables: Vec<TableDef>,
    pub templates: Vec<PlannedTemplate>,
}

/// Name of the bootstrap stack in every account and region.
pub const BOOTSTRAP_STACK: &str = "opslake-bootstrap";

/// The bootstrap stack's assets bucket in an account and region (a fixed name, so a deploy
/// finds it without reading stack outputs).
pub fn assets_bucket(account: &str, region: &str) -> String {
    format!("opslake-assets-{account}-{region}")
}

/// Names of everything the generator creates, derived from the spec's `name`.
#[derive(Debug, Clone, Serialize)]
pub struct Names {
    pub database: String,
    pub workgroup: String,
    pub trail: String,
    pub key_alias: String,
    pub access_logs_bucket: String,
    pub results_bucket: String,
    pub central_stack: String,
    pub member_stack_set: String,
    /// Activity forwarding from us-east-1 when the spec's regions do not include it.
    pub activity_global_stack_set: String,
    pub member_stack: String,
    /// Config recorder, delivery channel and aggregator name.
    pub config: String,
    pub results_access_log_prefix: String,
    pub query_function: String,
    pub leftovers_function: String,
    pub leftovers_topic: String,
    pub change_summary_function: String,
    pub ask_function: String,
    /// Failure analysis where the team is: the Slack endpoint, the worker, its run ledger,
    /// its dead-letter queue, the bus alarms are forwarded to, and the read-only role the
    /// worker assumes in the other accounts.
    pub slack_function: String,
    pub analyze_function: String,
    pub runs_table: String,
    pub analyze_dlq: String,
    pub alarm_bus: String,
    pub reader_role: String,
    /// Failure analysis's capture: the Firehose streams and the metric stream.
    pub app_logs_stream: String,
    pub metrics_stream: String,
    pub metric_stream: String,
    /// Member accounts' capture roles are this and their region (the bucket policy matches it).
    pub capture_role_prefix: String,
    /// The bootstrap stack, one per account and region, shared by every lake there.
    pub bootstrap_stack: String,
    /// Its assets bucket: the functions' zips and large templates.
    pub assets_bucket: String,
}

impl Names {
    pub fn of(spec: &Spec) -> Names {
        let n = &spec.name;
        let (acct, region) = (&spec.home.account, &spec.home.region);
        Names {
            database: format!("{}_opslake", n.replace('-', "_")),
            workgroup: spec.workgroup(),
            trail: format!("{n}-opslake"),
            key_alias: format!("alias/{n}-opslake-lake"),
            access_logs_bucket: format!("{n}-s3-access-{acct}-{region}"),
            results_bucket: format!("{n}-athena-{acct}-{region}"),
            central_stack: format!("{n}-opslake-central"),
            member_stack_set: format!("{n}-opslake-member"),
            activity_global_stack_set: format!("{n}-opslake-activity-global"),
            member_stack: format!("{n}-opslake-member"),
            config: format!("{n}-opslake"),
            results_access_log_prefix: format!("{n}-athena-{acct}-{region}/"),
            query_function: format!("{n}-opslake-query"),
            app_logs_stream: format!("{n}-opslake-app-logs"),
            metrics_stream: format!("{n}-opslake-metrics"),
            metric_stream: format!("{n}-opslake"),
            capture_role_prefix: format!("{n}-opslake-capture-"),
            leftovers_function: format!("{n}-opslake-leftovers"),
            leftovers_topic: format!("{n}-opslake-leftovers"),
            change_summary_function: format!("{n}-opslake-change-summary"),
            ask_function: format!("{n}-opslake-ask"),
            slack_function: format!("{n}-opslake-slack"),
            analyze_function: format!("{n}-opslake-analyze"),
            runs_table: format!("{n}-opslake-analysis-runs"),
            analyze_dlq: format!("{n}-opslake-analyze-failed"),
            alarm_bus: format!("{n}-opslake-alarms"),
            reader_role: format!("{n}-opslake-analysis-reader"),
            bootstrap_stack: BOOTSTRAP_STACK.to_string(),
            assets_bucket: assets_bucket(acct, region),
        }
    }
}

fn join_prefix(prefix: &str) -> String {
    if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    }
}

/// `None` for an empty string. Template conditions test presence, and Tera escapes a string
/// before testing it (`""` would become the truthy `"\"\""`): only booleans and nulls are tested.
fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// The lake layout the tables are computed from.
pub fn layout(spec: &Spec) -> LakeLayout {
    let trail = spec.trail_mode();
    LakeLayout {
        database: Names::of(spec).database,
        bucket: spec.lake.bucket.clone(),
        prefix: spec.lake.prefix.clone(),
        organization_trail: match (trail, &spec.organization) {
            (TrailMode::Organization, Some(org)) => Some(org.id.clone()),
            _ => None,
        },
        accounts: spec.account_ids(),
        regions: spec.regions.clone(),
        start: spec.lake.projection.start,
        end: spec.lake.projection.end,
        cloudtrail: true,
        config: true,
        alb: spec
            .sources
            .alb
            .iter()
            .flat_map(|a| {
                a.buckets.iter().map(|(region, bucket)| AlbSource {
                    region: region.clone(),
                    bucket: bucket.clone(),
                    prefix: a.prefix.clone(),
                })
            })
            .collect(),
        app_logs: spec.capture().is_some_and(|c| c.logs),
        metrics: spec.capture().is_some_and(|c| c.metrics),
    }
}

/// Failure analysis's capture in one account and region (the template's own, through
/// `${AWS::AccountId}` and `${AWS::Region}`): the spec's log groups through a subscription
/// filter and Firehose into `app_logs`, a metric stream through Firehose into `metrics`, each
/// where its table's location template reads (`…/AWSLogs/<account>/<folder>/<region>/
/// yyyy/MM/dd/HH/`); what Firehose could not deliver goes under `firehose-errors/`, outside
/// the tables.
fn capture(spec: &Spec, names: &Names) -> Value {
    let Some(c) = spec.capture().filter(|c| c.logs || c.metrics) else { return Value::Null };
    let prefix = join_prefix(&spec.lake.prefix);
    let bucket = &spec.lake.bucket;
    let folder = |kind| LakeLayout::firehose_folder(kind).unwrap_or_default();
    let stream = |kind: TableKind, name: &str, on: bool| {
        let f = folder(kind);
        let logs = kind == TableKind::AppLogs;
        on.then(|| {
            json!({
                "id": if logs { "AppLogs" } else { "Metrics" },
                // Where the member template creates it (the central one: always).
                "condition": if logs { "AppLogsHere" } else { "CaptureHere" },
                // Subscription records arrive gzipped, one or more per Firehose record.
                "decompress": logs,
                "name": name,
                "prefix": format!("{prefix}AWSLogs/${{AWS::AccountId}}/{f}/${{AWS::Region}}/!{{timestamp:yyyy/MM/dd/HH}}/"),
                "error_prefix": format!("{prefix}firehose-errors/${{AWS::AccountId}}/${{AWS::Region}}/{f}/!{{firehose:error-output-type}}/!{{timestamp:yyyy/MM/dd}}/"),
                "objects": [
                    format!("arn:aws:s3:::{bucket}/{prefix}AWSLogs/${{AWS::AccountId}}/{f}/*"),
                    format!("arn:aws:s3:::{bucket}/{prefix}firehose-errors/${{AWS::AccountId}}/*"),
                ],
                "log_group": format!("/aws/kinesisfirehose/{name}"),
            })
        })
    };
    let at_home = |g: &PlacedLogGroup| g.account == spec.home.account && g.region == spec.home.region;
    let groups: Vec<Value> = placed_log_groups(spec)
        .iter()
        .enumerate()
        .filter(|(_, g)| at_home(g))
        .map(|(i, g)| json!({"id": format!("AppLogsSubscription{}", i + 1), "name": g.name}))
        .collect();
    json!({
        "logs": stream(TableKind::AppLogs, &names.app_logs_stream, c.logs),
        "metrics": stream(TableKind::Metrics, &names.metrics_stream, c.metrics),
        "log_groups": if c.logs { groups } else { Vec::new() },
        "metric_stream": names.metric_stream,
        "namespaces": c.namespaces.iter().map(|n| json!({"Namespace": n})).collect::<Vec<_>>(),
        "bucket_arn": format!("arn:aws:s3:::{bucket}"),
        // The lake bucket is in the home region: S3 uses the lake key there.
        "s3_service": format!("s3.{}.amazonaws.com", spec.home.region),
        "text": {
            "role": format!("opslake {}: Firehose delivers captured logs and metrics into the lake", spec.name),
            "subscription_role": format!("opslake {}: CloudWatch Logs sends the subscribed log groups to Firehose", spec.name),
            "metric_role": format!("opslake {}: the metric stream sends metrics to Firehose", spec.name),
        },
    })
}

/// The spec's log groups with their account and region (none without failure analysis).
fn placed_log_groups(spec: &Spec) -> Vec<PlacedLogGroup> {
    spec.features.failure_analysis.iter().flat_map(|f| f.placed_log_groups(&spec.home)).collect()
}

/// The captured log groups outside the home account and region (the member stacks'), with
/// their place in the spec's list.
pub(crate) fn away_log_groups(spec: &Spec) -> Vec<(usize, PlacedLogGroup)> {
    let logs_on = spec.capture().is_some_and(|c| c.logs);
    placed_log_groups(spec)
        .into_iter()
        .enumerate()
        .filter(|(_, g)| logs_on && (g.account != spec.home.account || g.region != spec.home.region))
        .collect()
}

/// `Fn::Or` over conditions (2 to 10 each, nested beyond), or the one condition's own test.
fn any_of(conditions: &[(String, Value)]) -> Value {
    match conditions {
        [(_, only)] => only.clone(),
        _ => {
            let refs: Vec<Value> = conditions
                .chunks(10)
                .map(|chunk| match chunk {
                    [(id, _)] => json!({"Condition": id}),
                    _ => json!({"Fn::Or": chunk.iter().map(|(id, _)| json!({"Condition": id})).collect::<Vec<_>>()}),
                })
                .collect();
            if refs.len() == 1 {
                refs.into_iter().next().unwrap_or(Value::Null)
            } else {
                json!({"Fn::Or": refs})
            }
        }
    }
}

/// The member template's capture: metrics in every account and region (the home account's
/// home region is the central stack's), and the log groups the spec names by ARN where they
/// live, each by a condition on the stack's account and region; by a role whose name the
/// bucket policy's pattern matches.
fn member_capture(spec: &Spec, names: &Names) -> Value {
    let mut c = capture(spec, names);
    if c.is_null() {
        return Value::Null;
    }
    let away = away_log_groups(spec);
    if c["metrics"].is_null() && away.is_empty() {
        return Value::Null;
    }
    let mut places: Vec<(String, String)> = away.iter().map(|(_, g)| (g.account.clone(), g.region.clone())).collect();
    places.sort();
    places.dedup();
    let tests: Vec<(String, Value)> = places
        .iter()
        .enumerate()
        .map(|(i, (account, region))| {
            let test = json!({"Fn::And": [
                {"Fn::Equals": [{"Ref": "AWS::AccountId"}, account]},
                {"Fn::Equals": [{"Ref": "AWS::Region"}, region]},
            ]});
            (format!("AppLogsIn{}", i + 1), test)
        })
        .collect();
    let one_place = tests.len() == 1;
    let groups: Vec<Value> = away
        .iter()
        .map(|(i, g)| {
            let at = places.iter().position(|p| p.0 == g.account && p.1 == g.region).unwrap_or(0);
            let condition = if one_place { "AppLogsHere".to_string() } else { tests[at].0.clone() };
            json!({"id": format!("AppLogsSubscription{}", i + 1), "name": g.name, "condition": condition})
        })
        .collect();
    let listed: Vec<Value> = if one_place {
        Vec::new()
    } else {
        tests
            .iter()
            .zip(&places)
            .map(|((id, _), (account, region))| json!({"id": id, "account": account, "region": region}))
            .collect()
    };
    if let Some(m) = c.as_object_mut() {
        if away.is_empty() {
            m.insert("logs".into(), Value::Null);
        }
        m.insert("log_groups".into(), json!(groups));
        m.insert("places".into(), json!(listed));
        m.insert("logs_here".into(), if away.is_empty() { Value::Null } else { any_of(&tests) });
        let metrics = !m["metrics"].is_null();
        m.insert("role_condition".into(), json!(if metrics { "CaptureHere" } else { "AppLogsHere" }));
        m.insert("role_name".into(), json!(format!("{}${{AWS::Region}}", names.capture_role_prefix)));
    }
    c
}

/// The central template's capture: the log groups of the home account and region (no log
/// stream when there are none), and metrics there.
fn central_capture(spec: &Spec, names: &Names) -> Value {
    let mut c = capture(spec, names);
    if c["log_groups"].as_array().is_some_and(|g| g.is_empty()) {
        if let Some(m) = c.as_object_mut() {
            m.insert("logs".into(), Value::Null);
        }
    }
    if c["logs"].is_null() && c["metrics"].is_null() {
        return Value::Null;
    }
    c
}

/// The data events every generated trail records on the lake bucket: who read or deleted its
/// objects, or changed their ACL, retention or storage class (not the deliveries: the services'
/// writes are the bulk, and the objects themselves record them).
fn lake_data_events(spec: &Spec) -> Value {
    let mut names = vec![
        "DeleteObject",
        "DeleteObjects",
        "PutObjectAcl",
        "PutObjectRetention",
        "PutObjectLegalHold",
        "RestoreObject",
    ];
    if spec.lake.audit_reads {
        names.insert(0, "GetObject");
    }
    json!({
        "name": format!("Reads and deletes of the lake ({})", spec.lake.bucket),
        "arn_prefix": format!("arn:aws:s3:::{}/", spec.lake.bucket),
        "event_names": names,
    })
}

/// Days the functions' log groups keep their logs (an allowed CloudWatch Logs value).
pub const FUNCTION_LOG_RETENTION_DAYS: u32 = 400;

/// What every function that reads the lake may touch (one managed policy they share).
fn reader(spec: &Spec, layout: &LakeLayout, names: &Names) -> Value {
    if !spec.has_functions() {
        return Value::Null;
    }
    let prefix = join_prefix(&spec.lake.prefix);
    let mut read_objects = vec![format!("arn:aws:s3:::{}/{prefix}AWSLogs/*", spec.lake.bucket)];
    let mut read_buckets = vec![format!("arn:aws:s3:::{}", spec.lake.bucket)];
    for a in &layout.alb {
        read_objects.push(format!("arn:aws:s3:::{}/{}AWSLogs/*", a.bucket, join_prefix(&a.prefix)));
        read_buckets.push(format!("arn:aws:s3:::{}", a.bucket));
    }
    json!({
        "workgroup_arn": format!("arn:aws:athena:{}:{}:workgroup/{}", spec.home.region, spec.home.account, names.workgroup),
        "glue": [
            format!("arn:aws:glue:{}:{}:catalog", spec.home.region, spec.home.account),
            format!("arn:aws:glue:{}:{}:database/{}", spec.home.region, spec.home.account, names.database),
            format!("arn:aws:glue:{}:{}:table/{}/*", spec.home.region, spec.home.account, names.database),
        ],
        "read_objects": read_objects,
        "read_buckets": read_buckets,
    })
}

/// What every function that reads the lake finds in its environment.
fn lake_env(spec: &Spec, names: &Names) -> LakeEnv {
    LakeEnv { layout: layout(spec), workgroup: names.workgroup.clone() }
}

fn leftovers_function(spec: &Spec, names: &Names) -> Value {
    let Some(l) = spec.features.leftovers.as_ref().filter(|l| l.enabled) else { return Value::Null };
    let emails: Vec<Value> = l
        .notify
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"logical_id": format!("LeftoversSubscription{}", i + 1), "email": e}))
        .collect();
    let env = LeftoversEnv {
        lake: lake_env(spec, names),
        topic_arn: EnvValue::Ref("LeftoversTopic".into()),
        lookback_days: l.lookback_days,
        source: LeftoversSource::Athena,
    };
    json!({
        "env": env.to_vars(),
        "name": names.leftovers_function,
        "description": format!("opslake {}: resources created but never deleted, reported to SNS on a schedule", spec.name),
        "log_group": format!("/aws/lambda/{}", names.leftovers_function),
        "log_retention_days": FUNCTION_LOG_RETENTION_DAYS,
        "topic": names.leftovers_topic,
        "failed_queue": format!("{}-failed", names.leftovers_function),
        "errors_alarm": format!("{}-errors", names.leftovers_function),
        "schedule_name": names.leftovers_function,
        "schedule": l.schedule,
        "emails": emails,
    })
}

/// The Bedrock resources `bedrock:InvokeModel` is allowed on: the model in the home region, or
/// an inference profile and the foundation model it routes to in its geography's regions (any
/// region for a global profile).
fn bedrock_resources(spec: &Spec, id: &str) -> Vec<String> {
    if id.starts_with("arn:") {
        return vec![id.to_string()];
    }
    let (region, account) = (&spec.home.region, &spec.home.account);
    // A geographic inference profile routes to its geography's regions only; a global one
    // anywhere (and its foundation model is named without a region too).
    let geographies = [
        ("us-gov.", "us-gov-*"),
        ("us.", "us-*"),
        ("eu.", "eu-*"),
        ("apac.", "ap-*"),
        ("jp.", "ap-*"),
        ("au.", "ap-*"),
        ("ca.", "ca-*"),
        ("global.", "*"),
    ];
    match geographies.iter().find_map(|(p, regions)| id.strip_prefix(p).map(|base| (base, *regions))) {
        Some((base, regions)) => {
            let mut arns = vec![
                format!("arn:aws:bedrock:{region}:{account}:inference-profile/{id}"),
                format!("arn:aws:bedrock:{regions}::foundation-model/{base}"),
            ];
            if regions == "*" {
                arns.push(format!("arn:aws:bedrock:::foundation-model/{base}"));
            }
            arns
        }
        None => vec![format!("arn:aws:bedrock:{region}::foundation-model/{id}")],
    }
}

/// A function behind an IAM-auth Function URL, as the template's loop renders it.
struct UrlFunction<'a> {
    /// The logical-id stem (`Query` → `QueryFunction`, `QueryFunctionRole`, …).
    id: &'static str,
    /// Its zip's name, as deploy builds it.
    bin: &'static str,
    name: &'a str,
    what: &'static str,
    role_description: &'static str,
    policy_name: &'static str,
    no_vpc_reason: &'static str,
    url_description: &'static str,
    memory: u32,
    concurrency: u32,
    env: Vars,
    /// Whether it asks the spec's model.
    model: bool,
}

impl UrlFunction<'_> {
    fn context(&self, spec: &Spec) -> Value {
        let m = &spec.model;
        let bedrock: Vec<String> = match (self.model, m.provider, &m.id) {
            (true, crate::spec::model::Provider::Bedrock, Some(id)) => bedrock_resources(spec, id),
            _ => Vec::new(),
        };
        let id = self.id;
        json!({
            "key_param": format!("{id}FunctionKey"),
            "version_param": format!("{id}FunctionVersion"),
            "key_description": format!("S3 key of the {} function's zip (named by its content hash).", self.bin),
            "log_group_id": format!("{id}FunctionLogGroup"),
            "log_group_arn": format!("${{{id}FunctionLogGroup.Arn}}"),
            "role_id": format!("{id}FunctionRole"),
            "function_id": format!("{id}Function"),
            "url_id": format!("{id}FunctionUrl"),
            "url_description": self.url_description,
            "name": self.name,
            "description": format!("opslake {}: {} (Function URL, IAM auth)", spec.name, self.what),
            "role_description": self.role_description,
            "policy_name": self.policy_name,
            "no_vpc_reason": self.no_vpc_reason,
            "log_group": format!("/aws/lambda/{}", self.name),
            "log_retention_days": FUNCTION_LOG_RETENTION_DAYS,
            "memory": self.memory,
            "timeout": opslake_runtime::functions::FUNCTION_TIMEOUT_SECS,
            "concurrency": self.concurrency,
            "env": self.env,
            "bedrock_resources": if bedrock.is_empty() { Value::Null } else { json!(bedrock) },
            "anthropic_secret": if self.model { json!(m.api_key_secret) } else { Value::Null },
        })
    }
}

/// What every function that asks the spec's model finds in its environment.
fn model_env(spec: &Spec) -> ModelEnv {
    let m = &spec.model;
    ModelEnv {
        model: m.choice(),
        language: m.language,
        max_tokens: m.max_tokens,
        anthropic_secret_arn: m.api_key_secret.clone(),
    }
}

/// The functions the spec turns on that answer behind a Function URL: query, change summary,
/// ask.
fn url_functions<'a>(spec: &'a Spec, names: &'a Names) -> Vec<UrlFunction<'a>> {
    use crate::spec::model::Feature;
    let model_env = || model_env(spec);
    let uses_aws_only = "Calls only AWS APIs (Athena, Glue, S3) and holds no network resources; a VPC would add NAT costs without a security gain.";
    let uses_model = "Calls only AWS APIs (Athena, Glue, S3, Bedrock) and the model's public API; a VPC would add NAT costs without a security gain.";
    let mut out = Vec::new();
    if spec.enabled(Feature::Query) {
        out.push(UrlFunction {
            id: "Query",
            bin: "query",
            name: &names.query_function,
            what: "named queries over the log lake",
            role_description: "The query function reads the lake through Athena, and nothing else.",
            policy_name: "write-own-logs",
            no_vpc_reason: uses_aws_only,
            url_description: "POST {\"name\", \"params\"} here, signed with SigV4 (callers need lambda:InvokeFunctionUrl and lambda:InvokeFunction).",
            memory: 256,
            concurrency: 5,
            env: QueryEnv { lake: lake_env(spec, names) }.to_vars(),
            model: false,
        });
    }
    if spec.enabled(Feature::ChangeSummary) {
        out.push(UrlFunction {
            id: "ChangeSummary",
            bin: "change-summary",
            name: &names.change_summary_function,
            what: "what changed in a month of AWS Config history",
            role_description: "The change-summary function reads Config history through Athena and asks its model.",
            policy_name: "logs-and-model",
            no_vpc_reason: uses_model,
            url_description: "POST {\"target_year\", \"target_month\"} here, signed with SigV4.",
            memory: 512,
            concurrency: 2,
            env: ChangeSummaryEnv { lake: lake_env(spec, names), model: model_env() }.to_vars(),
            model: true,
        });
    }
    if let Some(ask) = spec.features.ask.as_ref().filter(|a| a.enabled) {
        out.push(UrlFunction {
            id: "Ask",
            bin: "ask",
            name: &names.ask_function,
            what: "questions in plain language over the log lake, answered with named queries",
            role_description: "The ask function runs named queries through Athena as its model asks for them.",
            policy_name: "logs-and-model",
            no_vpc_reason: uses_model,
            url_description: "POST {\"question\"} here, signed with SigV4.",
            memory: 512,
            concurrency: 2,
            env: AskEnv { lake: lake_env(spec, names), model: model_env(), max_scan_mb: ask.max_scan_mb }.to_vars(),
            model: true,
        });
    }
    out
}

fn central_parameters(spec: &Spec, names: &Names) -> std::collections::BTreeMap<String, ParamSource> {
    use crate::spec::model::Feature;
    let mut p = std::collections::BTreeMap::new();
    if spec.has_functions() {
        p.insert("ArtifactBucket".to_string(), ParamSource::AssetsBucket);
        p.insert("FunctionArchitecture".to_string(), ParamSource::Architecture);
    }
    for f in url_functions(spec, names) {
        p.insert(format!("{}FunctionKey", f.id), ParamSource::Artifact { bin: f.bin.into() });
    }
    if spec.enabled(Feature::Leftovers) {
        p.insert("LeftoversFunctionKey".to_string(), ParamSource::Artifact { bin: "leftovers".into() });
    }
    p.extend(incident::parameters(spec));
    p.extend(insights::parameters(spec));
    // Each zip's key comes with its object version.
    let versions: Vec<(String, ParamSource)> = p
        .iter()
        .filter_map(|(name, source)| match source {
            ParamSource::Artifact { bin } => Some((
                name.replace("FunctionKey", "FunctionVersion"),
                ParamSource::ArtifactVersion { bin: bin.clone() },
            )),
            _ => None,
        })
        .collect();
    p.extend(versions);
    p
}

/// `TableCloudtrail`, `TableAlbLogsApNortheast1`
fn logical_id(table: &str) -> String {
    let mut out = String::from("Table");
    for part in table.split('_') {
        let mut c = part.chars();
        if let Some(first) = c.next() {
            out.extend(first.to_uppercase());
            out.push_str(c.as_str());
        }
    }
    out
}

fn table_context(t: &TableDef) -> Value {
    let cols = |cs: &[opslake_runtime::lake::Column]| -> Value {
        cs.iter().map(|c| json!({"Name": c.name, "Type": c.ty})).collect()
    };
    json!({
        "logical_id": logical_id(&t.name),
        "name": t.name,
        "description": t.description,
        "columns": cols(&t.columns),
        "partition_keys": cols(&t.partition_keys),
        "location": t.location,
        "input_format": t.input_format,
        "output_format": t.output_format,
        "serde_library": t.serde_library,
        "serde_parameters": t.serde_parameters,
        "parameters": t.parameters,
    })
}

/// Builds the plan. Errors are specs that pass validation but would not deploy
/// (policy size limits), reported against the spec value that causes them.
/// The policies must fit their services' limits (S3 20 KB, KMS 32 KB) before anything is written.
fn check_policy_sizes(
    bucket_policy: &Value,
    key_policy: &Value,
    accounts: usize,
    creates_bucket: bool,
    kms: bool,
) -> Result<(), PlanError> {
    let size = |v: &Value| serde_json::to_string(v).map(|s| s.len()).unwrap_or(usize::MAX);
    if creates_bucket && size(bucket_policy) > MAX_BUCKET_POLICY_BYTES {
        return Err(PlanError {
            pointer: "/accounts".into(),
            message: format!(
                "the lake bucket policy for {accounts} accounts would be {} bytes; S3 allows {}",
                size(bucket_policy),
                MAX_BUCKET_POLICY_BYTES
            ),
            hint: "each account's trail and Config get their own path-bound statement (24 accounts fit); with an `organization` section one organization trail writes and Config is admitted by the organization — or split the accounts over several lakes".into(),
        });
    }
    if kms && size(key_policy) > MAX_KEY_POLICY_BYTES {
        return Err(PlanError {
            pointer: "/accounts".into(),
            message: format!(
                "the lake key policy for {accounts} accounts would be {} bytes; KMS allows {}",
                size(key_policy),
                MAX_KEY_POLICY_BYTES
            ),
            hint: "use an organization trail, or split the accounts over several lakes".into(),
        });
    }
    Ok(())
}

/// Every description a template prints is computed here: templates never concatenate values
/// (Tera does not escape a `~` concatenation).
fn texts(spec: &Spec) -> Value {
    let n = &spec.name;
    json!({
        "central": format!("opslake {n}: central log lake (bucket, trail, Config aggregator, Glue tables, Athena workgroup)"),
        "key": format!("opslake {n}: encrypts the log lake and Athena results"),
        "database": format!("opslake {n}: tables over the log lake (partition projection)"),
        "workgroup": format!("opslake {n}: queries over the log lake"),
        "member": format!("opslake {n}: per-account and per-region delivery into the log lake"),
        "bootstrap": "opslake bootstrap: assets bucket for deploys (function zips, large templates)",
        "trail": format!("opslake {n}: the organization trail, from the management account into the log lake"),
        "activity_global": format!("opslake {n}: API calls to global services (us-east-1), forwarded for activity insights"),
    })
}

/// Activity insights' forwarding from us-east-1, where global services' calls reach
/// EventBridge, when the spec's regions do not include it: the member template's targets, in
/// us-east-1 alone.
fn activity_global_template(spec: &Spec, names: &Names, text: &Value) -> Option<PlannedTemplate> {
    use insights::GLOBAL_REGION;
    if !insights::forwards_global(spec) {
        return None;
    }
    let activity = insights::member(spec);
    let mut target = member_target(spec, names, &spec.account_ids());
    if let Target::StackSet { stack_set_name, regions, .. } = &mut target {
        *stack_set_name = names.activity_global_stack_set.clone();
        *regions = vec![GLOBAL_REGION.to_string()];
    }
    Some(PlannedTemplate {
        name: "activity-global".into(),
        file: "activity-global.yaml".into(),
        source: "cloudformation/activity-global.yaml.tera".into(),
        description: "Every account, in us-east-1: API calls to global services, forwarded for activity insights"
            .into(),
        target,
        parameters: Default::default(),
        context: json!({"text": text, "insights": activity, "forward_condition": null}),
    })
}

/// Where the member template goes: a SERVICE_MANAGED StackSet to the organization's OUs (plus
/// a plain stack in the management account, which StackSets never reach), or a SELF_MANAGED
/// one to the account list.
fn member_target(spec: &Spec, names: &Names, accounts: &[String]) -> Target {
    match &spec.organization {
        Some(org) => Target::StackSet {
            stack_set_name: names.member_stack_set.clone(),
            permission_model: "SERVICE_MANAGED".into(),
            organizational_units: org.member_ous.clone(),
            accounts: vec![],
            regions: spec.regions.clone(),
            delegated_admin: org.management(&spec.home) != spec.home.account,
            // StackSets never deploy to the management account.
            also_as_stacks_in: {
                let management = org.management(&spec.home).to_string();
                if accounts.contains(&management) {
                    vec![management]
                } else {
                    vec![]
                }
            },
        },
        None => Target::StackSet {
            stack_set_name: names.member_stack_set.clone(),
            permission_model: "SELF_MANAGED".into(),
            organizational_units: vec![],
            accounts: accounts.to_vec(),
            regions: spec.regions.clone(),
            also_as_stacks_in: vec![],
            delegated_admin: false,
        },
    }
}

pub fn plan(spec: &Spec) -> Result<Plan, PlanError> {
    let names = Names::of(spec);
    let layout = layout(spec);
    let tables = layout.tables();
    let trail = spec.trail_mode();
    let accounts = spec.account_ids();
    let lake_prefix = join_prefix(&spec.lake.prefix);
    let org_id = spec.organization.as_ref().map(|o| o.id.clone());
    let creates_bucket = !spec.lake.existing;
    let kms = spec.lake.kms && creates_bucket;
    let config = &spec.sources.config;

    let trail_accounts = trail_accounts(spec, trail, &accounts);
    let trail_elsewhere = trail == TrailMode::Organization && trail_accounts[0] != spec.home.account;
    let bucket_policy = policies::bucket_policy(spec, &names, trail, &trail_accounts, &accounts);
    let key_policy = policies::key_policy(spec, &names, trail, &trail_accounts, &accounts);
    check_policy_sizes(&bucket_policy, &key_policy, accounts.len(), creates_bucket, kms)?;

    let data_events = data_events(spec);
    let text = texts(spec);
    let parameters = central_parameters(spec, &names);
    let zip_versions: Vec<&String> = parameters
        .iter()
        .filter(|(_, s)| matches!(s, ParamSource::ArtifactVersion { .. }))
        .map(|(name, _)| name)
        .collect();
    let central_ctx = json!({
        "name": spec.name,
        "text": text,
        "home": {"account": spec.home.account, "region": spec.home.region},
        "names": names,
        "lake": {
            "bucket": spec.lake.bucket,
            "create": creates_bucket,
            "access_log_prefix": format!("{}/", spec.lake.bucket),
            "prefix": lake_prefix,
            "kms": kms,
            "retention_days": spec.lake.retention_days,
        },
        "bucket_policy": bucket_policy,
        "key_policy": key_policy,
        // With a separate management account the trail is its own template, deployed there.
        "organization_trail": trail == TrailMode::Organization && !trail_elsewhere,
        "org_id": org_id,
        "trail_prefix": non_empty(&spec.lake.prefix),
        "data_events": data_events,
        "lake_events": lake_data_events(spec),
        "aggregator": config.aggregator,
        "regions": spec.regions,
        "accounts": accounts,
        "tables": tables.iter().map(table_context).collect::<Vec<_>>(),
        "reader": reader(spec, &layout, &names),
        "url_functions": url_functions(spec, &names).iter().map(|f| f.context(spec)).collect::<Vec<_>>(),
        "leftovers": leftovers_function(spec, &names),
        "incident": incident::central(spec, &names),
        "insights": insights::central(spec),
        "zip_versions": zip_versions,
        "capture": central_capture(spec, &names),
        "athena": {
            "cutoff_bytes": spec.athena.bytes_scanned_cutoff_mb * 1024 * 1024,
            "results_retention_days": spec.athena.results_retention_days,
        },
    });

    let mut templates = vec![
        bootstrap_template(spec, &names, &text),
        PlannedTemplate {
            name: "central".into(),
            file: "central.yaml".into(),
            source: "cloudformation/central.yaml.tera".into(),
            description: "Log lake: bucket, key, trail, Config aggregator, Glue tables, Athena workgroup".into(),
            target: Target::Stack {
                stack_name: names.central_stack.clone(),
                account: spec.home.account.clone(),
                region: spec.home.region.clone(),
            },
            parameters,
            context: central_ctx,
        },
    ];

    if trail_elsewhere {
        templates.push(trail_template(spec, &names, &text, &data_events, &trail_accounts[0], kms));
    }
    templates.extend(member_template(spec, &names, &text, &data_events));
    templates.extend(activity_global_template(spec, &names, &text));
    Ok(Plan { name: spec.name.clone(), layout, tables, templates })
}

/// Which accounts' trails write into the lake: an organization trail is the management
/// account's, whoever deploys it; otherwise every account has its own.
fn trail_accounts(spec: &Spec, trail: TrailMode, accounts: &[String]) -> Vec<String> {
    match (trail, &spec.organization) {
        (TrailMode::Organization, Some(org)) => vec![org.management(&spec.home).to_string()],
        (TrailMode::Organization, None) => vec![spec.home.account.clone()],
        _ => accounts.to_vec(),
    }
}

/// The spec's data-event selectors, as the trail templates list them.
fn data_events(spec: &Spec) -> Vec<Value> {
    spec.sources
        .cloudtrail
        .data_events
        .iter()
        .map(|t| json!({"name": format!("Data events: {t}"), "type": t}))
        .collect()
}

/// The bootstrap stack of the home account and region (deploy makes the same elsewhere).
fn bootstrap_template(spec: &Spec, names: &Names, text: &Value) -> PlannedTemplate {
    PlannedTemplate {
        name: "bootstrap".into(),
        file: "bootstrap.yaml".into(),
        source: "cloudformation/bootstrap.yaml.tera".into(),
        description: "Per account and region: the assets bucket deploys upload to".into(),
        target: Target::Stack {
            stack_name: names.bootstrap_stack.clone(),
            account: spec.home.account.clone(),
            region: spec.home.region.clone(),
        },
        parameters: Default::default(),
        context: json!({"text": text, "names": names}),
    }
}

/// The organization trail in the management account (when it is not the home account): a stack
/// of its own, deployed with the management account's credentials after the central stack (whose
/// bucket policy and key admit it).
fn trail_template(
    spec: &Spec,
    names: &Names,
    text: &Value,
    data_events: &[Value],
    management: &str,
    kms: bool,
) -> PlannedTemplate {
    let mut parameters = std::collections::BTreeMap::new();
    if kms {
        parameters.insert(
            "LakeKeyArn".to_string(),
            ParamSource::StackOutput { template: "central".into(), output: "LakeKeyArn".into() },
        );
    }
    PlannedTemplate {
        name: "trail".into(),
        file: "trail.yaml".into(),
        source: "cloudformation/trail.yaml.tera".into(),
        description: "The organization trail, in the management account".into(),
        target: Target::Stack {
            stack_name: format!("{}-opslake-trail", spec.name),
            account: management.to_string(),
            region: spec.home.region.clone(),
        },
        parameters,
        context: json!({
            "text": text,
            "names": names,
            "lake": {"bucket": spec.lake.bucket, "kms": kms},
            "trail_prefix": non_empty(&spec.lake.prefix),
            "data_events": data_events,
            "lake_events": lake_data_events(spec),
        }),
    }
}

/// The StackSet template of every account and region (recorder, account trail, aggregation
/// authorization, capture), when the spec needs any of them.
fn member_template(spec: &Spec, names: &Names, text: &Value, data_events: &[Value]) -> Option<PlannedTemplate> {
    let config = &spec.sources.config;
    let kms = spec.lake.kms && !spec.lake.existing;
    let member_trail = spec.trail_mode() == TrailMode::Account;
    let authorization = config.aggregator && spec.organization.is_none();
    let capture = member_capture(spec, names);
    let captures = match (capture["metrics"].is_null(), capture["logs"].is_null()) {
        (true, true) => "",
        (false, true) => ", metric capture",
        (true, false) => ", log capture",
        (false, false) => ", log and metric capture",
    };
    let incident = incident::member(spec, names);
    let alarms = match (incident["forward"].is_null(), incident["reader"].is_null()) {
        (true, true) => "",
        (false, true) => ", alarm forwarding",
        (true, false) => ", the analysis reader role",
        (false, false) => ", alarm forwarding, the analysis reader role",
    };
    let activity = insights::member(spec);
    let forwards = if activity.is_null() { "" } else { ", API activity forwarding" };
    let anything = config.recorder
        || member_trail
        || authorization
        || !captures.is_empty()
        || !alarms.is_empty()
        || !forwards.is_empty();
    if !anything {
        return None;
    }
    let context = json!({
        "name": spec.name,
        "text": text,
        "home": {"account": spec.home.account, "region": spec.home.region},
        "names": names,
        "lake": {"bucket": spec.lake.bucket, "prefix": join_prefix(&spec.lake.prefix), "kms": kms},
        "trail_prefix": non_empty(&spec.lake.prefix),
        "recorder": config.recorder,
        "delivery_frequency": config.delivery_frequency,
        "account_trail": member_trail,
        "data_events": data_events,
        "lake_events": lake_data_events(spec),
        "aggregation_authorization": authorization,
        "capture": capture,
        "incident": incident,
        "insights": activity,
        "config_delivery": {
            "bucket_arn": format!("arn:aws:s3:::{}", spec.lake.bucket),
            "own_folder": format!("arn:aws:s3:::{}/{}AWSLogs/${{AWS::AccountId}}/Config/*", spec.lake.bucket, join_prefix(&spec.lake.prefix)),
            "s3_service": format!("s3.{}.amazonaws.com", spec.home.region),
        },
    });
    let mut parameters = std::collections::BTreeMap::new();
    if kms {
        parameters.insert(
            "LakeKeyArn".to_string(),
            ParamSource::StackOutput { template: "central".into(), output: "LakeKeyArn".into() },
        );
    }
    Some(PlannedTemplate {
        name: "member".into(),
        file: "member.yaml".into(),
        source: "cloudformation/member.yaml.tera".into(),
        description: format!(
            "Per account and region: Config recorder and delivery channel, account trail, aggregation authorization{captures}{alarms}{forwards}"
        ),
        target: member_target(spec, names, &spec.account_ids()),
        parameters,
        context,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::aws::{LONGEST_REGION, REGIONS};

    #[test]
    fn the_model_is_allowed_where_its_profile_routes_only() {
        let spec = crate::spec::load(
            b"name: demo\nhome: { account: \"123456789012\", region: eu-west-1 }\nregions: [eu-west-1]\nlake: { bucket: demo-123456789012 }\n",
            jiff::civil::date(2026, 11, 27),
        )
        .spec
        .unwrap();
        let m = "anthropic.claude-sonnet-4-5-20250929-v1:0";
        assert_eq!(
            bedrock_resources(&spec, &format!("eu.{m}")),
            [
                format!("arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.{m}"),
                format!("arn:aws:bedrock:eu-*::foundation-model/{m}"),
            ]
        );
        assert!(bedrock_resources(&spec, &format!("apac.{m}"))[1].starts_with("arn:aws:bedrock:ap-*::"));
        assert!(bedrock_resources(&spec, &format!("us-gov.{m}"))[1].starts_with("arn:aws:bedrock:us-gov-*::"));
        assert_eq!(bedrock_resources(&spec, &format!("global.{m}")).len(), 3, "a global profile routes anywhere");
        assert_eq!(bedrock_resources(&spec, m), [format!("arn:aws:bedrock:eu-west-1::foundation-model/{m}")]);
    }

    /// With the longest `name` validation allows and the longest region, every generated
    /// name still fits its AWS limit.
    #[test]
    fn generated_names_fit_their_limits() {
        let longest_region = REGIONS.iter().copied().max_by_key(|r| r.len()).unwrap();
        assert_eq!(longest_region.len(), LONGEST_REGION);
        let text = format!(
            "name: abcdefghijklmnopqrst\nhome: {{ account: \"123456789012\", region: {longest_region} }}\nregions: [{longest_region}]\nlake: {{ bucket: b-123456789012 }}\n"
        );
        let loaded = crate::spec::load(text.as_bytes(), jiff::civil::date(2026, 1, 1));
        let spec = loaded.spec.unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
        let n = Names::of(&spec);
        let limits: [(&str, &str, usize); 9] = [
            ("access logs bucket", &n.access_logs_bucket, 63),
            ("results bucket", &n.results_bucket, 63),
            ("Glue database", &n.database, 255),
            ("Athena workgroup", &n.workgroup, 128),
            ("trail", &n.trail, 128),
            ("KMS alias", &n.key_alias, 256),
            ("stack", &n.central_stack, 128),
            ("StackSet", &n.member_stack_set, 128),
            ("StackSet", &n.activity_global_stack_set, 128),
        ];
        for (what, value, max) in limits {
            assert!(value.len() <= max, "{what} `{value}` has {} characters; the limit is {max}", value.len());
            if max == 63 {
                assert!(
                    crate::spec::aws::bucket_name_problem(value).is_none(),
                    "{what} `{value}` is not a valid bucket name"
                );
            }
        }
    }
}
