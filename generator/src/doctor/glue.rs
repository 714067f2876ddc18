//! Glue: each table read back with `GetTable` and compared field by field with the definition
//! the spec renders (columns, partition keys, location, formats, SerDe, table parameters).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_glue::error::ProvideErrorMetadata;
use opslake_runtime::aws::sdk_message;
use opslake_runtime::lake::{Column, Projection, TableDef};

use super::{Drift, GlueReport, GlueStatus};

/// Table parameters Glue, Athena or crawlers add on their own: not drift.
const HOUSEKEEPING_PARAMETERS: &[&str] = &["transient_lastDdlTime", "last_modified_by", "last_modified_time"];

/// A Glue table as read back, in the terms of a [`TableDef`].
#[derive(Debug, Clone)]
pub(super) struct Deployed {
    table_type: Option<String>,
    columns: Vec<Column>,
    partition_keys: Vec<Column>,
    location: Option<String>,
    input_format: Option<String>,
    output_format: Option<String>,
    serde_library: Option<String>,
    serde_parameters: BTreeMap<String, String>,
    parameters: BTreeMap<String, String>,
}

impl Deployed {
    fn from_glue(t: &aws_sdk_glue::types::Table) -> Deployed {
        let cols = |cs: &[aws_sdk_glue::types::Column]| -> Vec<Column> {
            cs.iter()
                .map(|c| Column { name: c.name().to_string(), ty: c.r#type().unwrap_or_default().to_string() })
                .collect()
        };
        let map = |m: Option<&std::collections::HashMap<String, String>>| -> BTreeMap<String, String> {
            m.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
        };
        let sd = t.storage_descriptor();
        let serde = sd.and_then(|s| s.serde_info());
        Deployed {
            table_type: t.table_type().map(str::to_string),
            columns: sd.map(|s| cols(s.columns())).unwrap_or_default(),
            partition_keys: cols(t.partition_keys()),
            location: sd.and_then(|s| s.location()).map(str::to_string),
            input_format: sd.and_then(|s| s.input_format()).map(str::to_string),
            output_format: sd.and_then(|s| s.output_format()).map(str::to_string),
            serde_library: serde.and_then(|s| s.serialization_library()).map(str::to_string),
            serde_parameters: map(serde.and_then(|s| s.parameters())),
            parameters: map(t.parameters()),
        }
    }

    pub(super) fn projection(&self) -> Result<Projection, String> {
        let keys: Vec<&str> = self.partition_keys.iter().map(|c| c.name.as_str()).collect();
        Projection::from_parameters(&keys, &self.parameters).map_err(|e| e.0)
    }
}

/// Hive types compare without case or whitespace (Athena DDL normalises both).
fn same_type(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    norm(a) == norm(b)
}

fn compare_columns(kind: &str, deployed: &[Column], spec: &[Column], out: &mut Vec<Drift>) {
    let find = |cs: &[Column], name: &str| cs.iter().find(|c| c.name.eq_ignore_ascii_case(name)).cloned();
    for c in spec {
        match find(deployed, &c.name) {
            None => out.push(Drift { field: format!("{kind}.{}", c.name), deployed: None, spec: Some(c.ty.clone()) }),
            Some(d) if !same_type(&d.ty, &c.ty) => {
                out.push(Drift { field: format!("{kind}.{}", c.name), deployed: Some(d.ty), spec: Some(c.ty.clone()) })
            }
            Some(_) => {}
        }
    }
    for d in deployed {
        if find(spec, &d.name).is_none() {
            out.push(Drift { field: format!("{kind}.{}", d.name), deployed: Some(d.ty.clone()), spec: None });
        }
    }
    let common = |a: &[Column], b: &[Column]| -> Vec<String> {
        a.iter().filter(|c| find(b, &c.name).is_some()).map(|c| c.name.to_ascii_lowercase()).collect()
    };
    let (d_order, s_order) = (common(deployed, spec), common(spec, deployed));
    if d_order != s_order {
        out.push(Drift {
            field: format!("{kind} (order)"),
            deployed: Some(d_order.join(", ")),
            spec: Some(s_order.join(", ")),
        });
    }
}

fn compare_maps(
    kind: &str,
    deployed: &BTreeMap<String, String>,
    spec: &BTreeMap<String, String>,
    ignore: &[&str],
    out: &mut Vec<Drift>,
) {
    let keys: BTreeSet<&String> = deployed.keys().chain(spec.keys()).collect();
    for k in keys {
        let (d, s) = (deployed.get(k), spec.get(k));
        if s.is_none() && ignore.contains(&k.as_str()) {
            continue;
        }
        if d != s {
            out.push(Drift { field: format!("{kind}.{k}"), deployed: d.cloned(), spec: s.cloned() });
        }
    }
}

/// Every field of the deployed table that differs from the spec's definition, in a fixed order.
fn drift(deployed: &Deployed, spec: &TableDef) -> Vec<Drift> {
    let mut out = Vec::new();
    let mut scalar = |field: &str, d: &Option<String>, s: &str| {
        if d.as_deref() != Some(s) {
            out.push(Drift { field: field.into(), deployed: d.clone(), spec: Some(s.to_string()) });
        }
    };
    scalar("table_type", &deployed.table_type, "EXTERNAL_TABLE");
    scalar("location", &deployed.location, &spec.location);
    scalar("input_format", &deployed.input_format, &spec.input_format);
    scalar("output_format", &deployed.output_format, &spec.output_format);
    scalar("serde_library", &deployed.serde_library, &spec.serde_library);
    compare_columns("columns", &deployed.columns, &spec.columns, &mut out);
    compare_columns("partition_keys", &deployed.partition_keys, &spec.partition_keys, &mut out);
    compare_maps("serde_parameters", &deployed.serde_parameters, &spec.serde_parameters, &[], &mut out);
    compare_maps("parameters", &deployed.parameters, &spec.parameters, HOUSEKEEPING_PARAMETERS, &mut out);
    out
}

/// Reads every table back, with its drift; a missing or unreadable database marks every table.
pub(super) async fn tables(
    glue: &aws_sdk_glue::Client,
    database: &str,
    tables: &[TableDef],
) -> Vec<(GlueReport, Option<Deployed>)> {
    let all = |status: GlueStatus, error: String| {
        tables.iter().map(|_| (GlueReport { status, error: Some(error.clone()), drift: Vec::new() }, None)).collect()
    };
    match glue.get_database().name(database).send().await {
        Ok(_) => {}
        Err(e) if e.code() == Some("EntityNotFoundException") => {
            return all(
                GlueStatus::DatabaseMissing,
                format!("database {database} does not exist: deploy the central stack (`opslake deploy`)"),
            )
        }
        Err(e) => return all(GlueStatus::Error, format!("GetDatabase {database}: {}", sdk_message(&e))),
    }
    let mut out = Vec::new();
    for t in tables {
        out.push(table(glue, database, t).await);
    }
    out
}

/// One table read back: its report, and the table when it could be read.
async fn table(glue: &aws_sdk_glue::Client, database: &str, t: &TableDef) -> (GlueReport, Option<Deployed>) {
    let failed = |status, error: String| (GlueReport { status, error: Some(error), drift: Vec::new() }, None);
    match glue.get_table().database_name(database).name(&t.name).send().await {
        Ok(o) => match o.table() {
            Some(table) => {
                let deployed = Deployed::from_glue(table);
                let drift = drift(&deployed, t);
                let status = if drift.is_empty() { GlueStatus::Ok } else { GlueStatus::Drift };
                (GlueReport { status, error: None, drift }, Some(deployed))
            }
            None => failed(GlueStatus::Error, format!("GetTable {database}.{}: empty answer", t.name)),
        },
        Err(e) if e.code() == Some("EntityNotFoundException") => failed(
            GlueStatus::Missing,
            format!("table {database}.{} does not exist: deploy the central stack (`opslake deploy`)", t.name),
        ),
        Err(e) => failed(GlueStatus::Error, format!("GetTable {database}.{}: {}", t.name, sdk_message(&e))),
    }
}
