//! The lake model: where each log source lands in S3 and the Glue table that reads it.
//!
//! This module is the single source of truth for the table definitions (columns, SerDe,
//! `storage.location.template`, partition projection). The generator renders them into
//! CloudFormation; the local engine interprets the very same [`TableDef`] to find files.
//! A wrong projection therefore fails a local test instead of returning zero rows in Athena.

mod columns;
pub use columns::{ALB_FIELDS, ALB_REGEX};
pub mod projection;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use projection::{closest_misses, not_data};
pub use projection::{ColumnProjection, Constraint, DateBound, PartitionValue, Projection, ProjectionError, Reach};

/// Everything about the lake's S3 layout that the table definitions depend on.
///
/// Built by the generator from a validated spec; values are assumed valid (bucket names,
/// account ids, regions and prefix have been checked by the spec layer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LakeLayout {
    /// Glue database name.
    pub database: String,
    /// The central log-archive bucket (CloudTrail and Config).
    pub bucket: String,
    /// Key prefix before `AWSLogs/`, without slashes at either end; empty for none.
    pub prefix: String,
    /// `Some(o-…)` when CloudTrail is an organization trail: its keys carry the org id.
    pub organization_trail: Option<String>,
    /// Source account ids, in spec order.
    pub accounts: Vec<String>,
    /// Regions, in spec order.
    pub regions: Vec<String>,
    /// First day of the projection range.
    pub start: jiff::civil::Date,
    /// Last day of the projection range; `None` means "now".
    pub end: Option<jiff::civil::Date>,
    /// Whether the lake holds CloudTrail / Config history.
    pub cloudtrail: bool,
    pub config: bool,
    /// ALB access-log buckets per region (ALB logs must stay in the load balancer's region).
    pub alb: Vec<AlbSource>,
    /// Whether the lake holds application logs (CloudWatch Logs subscriptions through
    /// Firehose) and metrics (a metric stream through Firehose), for failure analysis.
    #[serde(default)]
    pub app_logs: bool,
    #[serde(default)]
    pub metrics: bool,
}

/// One region's ALB access-log bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlbSource {
    pub region: String,
    pub bucket: String,
    /// Key prefix before `AWSLogs/`, without slashes at either end; empty for none.
    pub prefix: String,
}

/// What kind of log a table reads; the local engine picks its record parser by this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TableKind {
    CloudTrail,
    ConfigHistory,
    AlbAccessLogs,
    AppLogs,
    Metrics,
}

/// A column of a Glue table: name and Hive type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
}

/// A Glue table definition, in the shape `AWS::Glue::Table`'s `TableInput` wants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableDef {
    pub name: String,
    pub kind: TableKind,
    /// The region an ALB table covers (ALB logs stay in their region's bucket).
    pub region: Option<String>,
    pub description: String,
    pub columns: Vec<Column>,
    pub partition_keys: Vec<Column>,
    /// `s3://bucket/...` — the table's root location.
    pub location: String,
    pub input_format: String,
    pub output_format: String,
    pub serde_library: String,
    pub serde_parameters: BTreeMap<String, String>,
    /// Table parameters: projection, `storage.location.template`, classification.
    pub parameters: BTreeMap<String, String>,
}

impl TableDef {
    /// Parses this table's projection back out of its parameters, exactly as Athena would.
    pub fn projection(&self) -> Result<Projection, ProjectionError> {
        let keys: Vec<&str> = self.partition_keys.iter().map(|c| c.name.as_str()).collect();
        Projection::from_parameters(&keys, &self.parameters)
    }
}

const HIVE_TEXT_OUTPUT: &str = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat";
const TEXT_INPUT: &str = "org.apache.hadoop.mapred.TextInputFormat";

impl LakeLayout {
    /// `s3://bucket/[prefix/]AWSLogs/`
    fn awslogs_root(bucket: &str, prefix: &str) -> String {
        if prefix.is_empty() {
            format!("s3://{bucket}/AWSLogs/")
        } else {
            format!("s3://{bucket}/{prefix}/AWSLogs/")
        }
    }

    fn date_range(&self, format: fn(jiff::civil::Date) -> String) -> String {
        let end = self.end.map(format).unwrap_or_else(|| "NOW".to_string());
        format!("{},{}", format(self.start), end)
    }

    /// A daily date projection of column `col` (`yyyy/MM/dd`, from the layout's start).
    fn day_params(&self, params: &mut BTreeMap<String, String>, col: &str) {
        let key = |k: &str| format!("projection.{col}.{k}");
        params.insert(key("type"), "date".into());
        params.insert(key("format"), "yyyy/MM/dd".into());
        params.insert(key("interval"), "1".into());
        params.insert(key("interval.unit"), "DAYS".into());
        params.insert(key("range"), self.date_range(|d| d.strftime("%Y/%m/%d").to_string()));
    }

    fn enum_params(&self, params: &mut BTreeMap<String, String>) {
        params.insert("projection.account.type".into(), "enum".into());
        params.insert("projection.account.values".into(), self.accounts.join(","));
        params.insert("projection.region.type".into(), "enum".into());
        params.insert("projection.region.values".into(), self.regions.join(","));
    }

    /// The lake's tables, in a fixed order: cloudtrail, config, one ALB table per region,
    /// app_logs, metrics.
    pub fn tables(&self) -> Vec<TableDef> {
        let mut out = Vec::new();
        if self.cloudtrail {
            out.push(self.cloudtrail_table());
        }
        if self.config {
            out.push(self.config_table());
        }
        for alb in &self.alb {
            out.push(self.alb_table(alb));
        }
        if self.app_logs {
            out.push(self.firehose_table(FirehoseTable::AppLogs));
        }
        if self.metrics {
            out.push(self.firehose_table(FirehoseTable::Metrics));
        }
        out
    }

    /// Where Firehose delivers a capture in the lake bucket: `[prefix/]AWSLogs/<account>/
    /// <folder>/<region>/yyyy/MM/dd/HH/` (the Firehose prefix and this table agree on it).
    pub fn firehose_folder(kind: TableKind) -> Option<&'static str> {
        match kind {
            TableKind::AppLogs => Some("CloudWatchLogs"),
            TableKind::Metrics => Some("CloudWatchMetrics"),
            _ => None,
        }
    }

    /// `app_logs` or `metrics`: JSON lines under one folder per account and region, days
    /// projected (`yyyy/MM/dd`); the hour folders below a day are read with it, as Athena
    /// reads every object under a partition's location.
    fn firehose_table(&self, which: FirehoseTable) -> TableDef {
        let (name, kind, description, columns) = match which {
            FirehoseTable::AppLogs => (
                "app_logs",
                TableKind::AppLogs,
                "Application logs: CloudWatch Logs subscription records delivered by Firehose",
                columns::app_logs(),
            ),
            FirehoseTable::Metrics => (
                "metrics",
                TableKind::Metrics,
                "CloudWatch metrics: metric stream records (JSON) delivered by Firehose",
                columns::metrics(),
            ),
        };
        let folder = Self::firehose_folder(kind).unwrap_or_default();
        let root = Self::awslogs_root(&self.bucket, &self.prefix);
        let mut params = projected("json");
        self.enum_params(&mut params);
        self.day_params(&mut params, "day");
        params.insert("storage.location.template".into(), format!("{root}${{account}}/{folder}/${{region}}/${{day}}"));
        let mut serde_parameters = BTreeMap::new();
        serde_parameters.insert("ignore.malformed.json".into(), "true".into());
        TableDef {
            name: name.into(),
            kind,
            region: None,
            description: description.into(),
            columns,
            partition_keys: partition(&[("account", "string"), ("region", "string"), ("day", "string")]),
            location: root,
            input_format: TEXT_INPUT.into(),
            output_format: HIVE_TEXT_OUTPUT.into(),
            serde_library: "org.openx.data.jsonserde.JsonSerDe".into(),
            serde_parameters,
            parameters: params,
        }
    }

    /// Name of the ALB table for a region: `alb_logs_ap_northeast_1`.
    pub fn alb_table_name(region: &str) -> String {
        format!("alb_logs_{}", region.replace('-', "_"))
    }

    fn cloudtrail_table(&self) -> TableDef {
        let mut root = Self::awslogs_root(&self.bucket, &self.prefix);
        if let Some(org) = &self.organization_trail {
            root.push_str(org);
            root.push('/');
        }
        let mut params = projected("cloudtrail");
        self.enum_params(&mut params);
        self.day_params(&mut params, "timestamp");
        params.insert(
            "storage.location.template".into(),
            format!("{root}${{account}}/CloudTrail/${{region}}/${{timestamp}}"),
        );
        TableDef {
            name: "cloudtrail".into(),
            kind: TableKind::CloudTrail,
            region: None,
            description: "CloudTrail management and data events delivered by the trail".into(),
            columns: columns::cloudtrail(),
            partition_keys: partition(&[("account", "string"), ("region", "string"), ("timestamp", "string")]),
            location: root,
            input_format: "com.amazon.emr.cloudtrail.CloudTrailInputFormat".into(),
            output_format: HIVE_TEXT_OUTPUT.into(),
            serde_library: "org.apache.hive.hcatalog.data.JsonSerDe".into(),
            serde_parameters: BTreeMap::new(),
            parameters: params,
        }
    }

    fn config_table(&self) -> TableDef {
        let root = Self::awslogs_root(&self.bucket, &self.prefix);
        let mut params = projected("json");
        self.enum_params(&mut params);
        // AWS Config does not pad month and day (`2016/9/7`): integers without `digits`.
        let end_year = self.end.map(|d| d.year()).unwrap_or(CONFIG_YEAR_MAX);
        params.insert("projection.year.type".into(), "integer".into());
        params.insert("projection.year.range".into(), format!("{},{}", self.start.year(), end_year));
        params.insert("projection.month.type".into(), "integer".into());
        params.insert("projection.month.range".into(), "1,12".into());
        params.insert("projection.day.type".into(), "integer".into());
        params.insert("projection.day.range".into(), "1,31".into());
        params.insert(
            "storage.location.template".into(),
            format!("{root}${{account}}/Config/${{region}}/${{year}}/${{month}}/${{day}}/ConfigHistory"),
        );
        let mut serde_parameters = BTreeMap::new();
        serde_parameters.insert("ignore.malformed.json".into(), "true".into());
        TableDef {
            name: "config".into(),
            kind: TableKind::ConfigHistory,
            region: None,
            description: "AWS Config configuration history (ConfigHistory files only; snapshots excluded)".into(),
            columns: columns::config(),
            partition_keys: partition(&[
                ("account", "string"),
                ("region", "string"),
                ("year", "int"),
                ("month", "int"),
                ("day", "int"),
            ]),
            location: root,
            input_format: TEXT_INPUT.into(),
            output_format: HIVE_TEXT_OUTPUT.into(),
            serde_library: "org.openx.data.jsonserde.JsonSerDe".into(),
            serde_parameters,
            parameters: params,
        }
    }

    fn alb_table(&self, alb: &AlbSource) -> TableDef {
        let root = Self::awslogs_root(&alb.bucket, &alb.prefix);
        let mut params = projected("alb");
        params.insert("projection.account.type".into(), "enum".into());
        params.insert("projection.account.values".into(), self.accounts.join(","));
        self.day_params(&mut params, "day");
        params.insert(
            "storage.location.template".into(),
            format!("{root}${{account}}/elasticloadbalancing/{}/${{day}}", alb.region),
        );
        let mut serde_parameters = BTreeMap::new();
        serde_parameters.insert("input.regex".into(), columns::ALB_REGEX.into());
        TableDef {
            name: Self::alb_table_name(&alb.region),
            kind: TableKind::AlbAccessLogs,
            region: Some(alb.region.clone()),
            description: format!("Application Load Balancer access logs in {}", alb.region),
            columns: columns::alb(),
            partition_keys: partition(&[("account", "string"), ("day", "string")]),
            location: root,
            input_format: TEXT_INPUT.into(),
            output_format: HIVE_TEXT_OUTPUT.into(),
            serde_library: "org.apache.hadoop.hive.serde2.RegexSerDe".into(),
            serde_parameters,
            parameters: params,
        }
    }
}

#[derive(Clone, Copy)]
enum FirehoseTable {
    AppLogs,
    Metrics,
}

/// Upper bound of the Config `year` projection when the spec sets no end.
///
/// Integer projection has no `NOW`; a fixed bound keeps generation independent of the clock
/// (byte-identical output on every run). Queries always constrain the year, so the width of
/// the range costs nothing.
pub const CONFIG_YEAR_MAX: i16 = 2099;

/// The parameters every table starts from: its classification, external, projected.
fn projected(classification: &str) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    params.insert("classification".into(), classification.into());
    params.insert("EXTERNAL".into(), "TRUE".into());
    params.insert("projection.enabled".into(), "true".into());
    params
}

fn partition(keys: &[(&str, &str)]) -> Vec<Column> {
    keys.iter().map(|(n, t)| Column { name: (*n).into(), ty: (*t).into() }).collect()
}

#[cfg(test)]
mod tests;

/// The layout of the example mirror's `acme` lake (`examples/logs/`), for unit tests.
#[cfg(test)]
pub(crate) fn example_layout() -> LakeLayout {
    LakeLayout {
        database: "acme_opslake".into(),
        bucket: "acme-log-archive-111111111111".into(),
        prefix: String::new(),
        organization_trail: Some("o-a1b2c3d4e5".into()),
        accounts: vec!["111111111111".into(), "222222222222".into()],
        regions: vec!["ap-northeast-1".into(), "us-east-1".into()],
        start: jiff::civil::date(2024, 1, 1),
        end: None,
        cloudtrail: true,
        config: true,
        alb: vec![AlbSource {
            region: "ap-northeast-1".into(),
            bucket: "acme-alb-logs-apne1".into(),
            prefix: String::new(),
        }],
        app_logs: true,
        metrics: true,
    }
}
