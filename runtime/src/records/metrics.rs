//! CloudWatch metric stream records in the JSON output format, as Firehose delivers them to
//! the lake: one JSON object per line, `{"metric_stream_name", "account_id", "region",
//! "namespace", "metric_name", "dimensions": {…}, "timestamp" (ms), "value": {"max", "min",
//! "sum", "count"}, "unit"}` — one minute of one metric.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Text;

/// The statistics of one minute.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq)]
#[serde(default)]
pub struct Value {
    pub max: Option<f64>,
    pub min: Option<f64>,
    pub sum: Option<f64>,
    pub count: Option<f64>,
}

/// One metric-stream record.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct Point<'a> {
    #[serde(borrow)]
    pub metric_stream_name: Option<Text<'a>>,
    #[serde(borrow)]
    pub account_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub region: Option<Text<'a>>,
    #[serde(borrow)]
    pub namespace: Option<Text<'a>>,
    #[serde(borrow)]
    pub metric_name: Option<Text<'a>>,
    #[serde(borrow)]
    pub dimensions: BTreeMap<String, Text<'a>>,
    /// Milliseconds since the epoch: the start of the minute.
    pub timestamp: Option<i64>,
    pub value: Value,
    #[serde(borrow)]
    pub unit: Option<Text<'a>>,
}

impl Point<'_> {
    /// The dimensions as one text, `Name=Value` pairs sorted by name and joined by `,` (how
    /// the `metrics` queries show them).
    pub fn dimensions_text(&self) -> String {
        let pairs: Vec<String> = self.dimensions.iter().map(|(k, v)| format!("{k}={v}")).collect();
        pairs.join(",")
    }
}

/// Parses one line; `Err` says why it is not a metric-stream record.
pub fn parse(line: &str) -> Result<Point<'_>, String> {
    if !line.trim_start().starts_with('{') {
        return Err("not a JSON object".into());
    }
    let p: Point = serde_json::from_str(line).map_err(|e| e.to_string())?;
    if p.metric_name.is_none() || p.timestamp.is_none() {
        return Err("not a metric stream record (no metric_name or timestamp)".into());
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_record() {
        let line = r#"{"metric_stream_name":"opslake","account_id":"111111111111","region":"ap-northeast-1","namespace":"AWS/ApplicationELB","metric_name":"HTTPCode_Target_5XX_Count","dimensions":{"TargetGroup":"targetgroup/orders/6d0ecf831eec9f09","LoadBalancer":"app/orders/50dc6c495c0c9188"},"timestamp":1749718800000,"value":{"max":9.0,"min":0.0,"sum":42.0,"count":60.0},"unit":"Count"}"#;
        let p = parse(line).unwrap();
        assert_eq!(p.metric_name.as_ref().unwrap().as_str(), "HTTPCode_Target_5XX_Count");
        assert_eq!(p.value.sum, Some(42.0));
        assert_eq!(
            p.dimensions_text(),
            "LoadBalancer=app/orders/50dc6c495c0c9188,TargetGroup=targetgroup/orders/6d0ecf831eec9f09"
        );
        for bad in ["{}", "[]", "{\"metric_name\":\"x\"}", "nope"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
