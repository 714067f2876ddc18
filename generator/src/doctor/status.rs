//! The trail (`GetTrailStatus`) and the Config recorders in every spec region
//! (`DescribeConfigurationRecorderStatus`), as the home account sees them.

use aws_sdk_cloudtrail::error::ProvideErrorMetadata;
use opslake_runtime::aws::{sdk_message, Aws};

use super::{RecorderReport, RecorderStatus, TrailReport, TrailStatus};
use crate::clients;
use crate::plan::Names;
use crate::spec::model::{Spec, TrailMode};

pub(super) async fn trail(spec: &Spec, names: &Names, aws: &Aws, region: &str) -> TrailReport {
    let mut r = TrailReport {
        name: names.trail.clone(),
        region: region.to_string(),
        status: TrailStatus::NotManaged,
        is_logging: None,
        latest_delivery_error: None,
        error: None,
    };
    if spec.trail_mode() == TrailMode::Existing {
        return r;
    }
    let ct = clients::cloudtrail(aws);
    match ct.get_trail_status().name(&names.trail).send().await {
        Ok(o) => {
            r.is_logging = o.is_logging();
            r.latest_delivery_error = o.latest_delivery_error().filter(|e| !e.is_empty()).map(str::to_string);
            r.status = match (o.is_logging(), &r.latest_delivery_error) {
                (Some(true), None) => TrailStatus::Logging,
                (Some(true), Some(_)) => TrailStatus::DeliveryError,
                _ => TrailStatus::Stopped,
            };
        }
        Err(e) if e.code() == Some("TrailNotFoundException") => {
            r.status = TrailStatus::Missing;
            r.error = Some(sdk_message(&e));
        }
        Err(e) => {
            r.status = TrailStatus::Error;
            r.error = Some(format!("GetTrailStatus: {}", sdk_message(&e)));
        }
    }
    r
}

pub(super) async fn recorders(spec: &Spec, names: &Names, aws: &Aws) -> Vec<RecorderReport> {
    if !spec.sources.config.recorder {
        return Vec::new();
    }
    let mut out = Vec::new();
    for region in &spec.regions {
        out.push(recorder(names, aws, region).await);
    }
    out
}

/// The spec's recorder in one region.
async fn recorder(names: &Names, aws: &Aws, region: &str) -> RecorderReport {
    let mut r = RecorderReport {
        region: region.to_string(),
        name: names.config.clone(),
        status: RecorderStatus::Error,
        recording: None,
        last_status: None,
        last_error: None,
        error: None,
    };
    let all = match clients::config(aws, region).describe_configuration_recorder_status().send().await {
        Ok(o) => o.configuration_recorders_status().to_vec(),
        Err(e) => {
            r.error = Some(format!("DescribeConfigurationRecorderStatus: {}", sdk_message(&e)));
            return r;
        }
    };
    let Some(s) = all.iter().find(|s| s.name() == Some(names.config.as_str())) else {
        r.status = RecorderStatus::Missing;
        let others: Vec<&str> = all.iter().filter_map(|s| s.name()).collect();
        r.error = Some(if others.is_empty() {
            "no configuration recorder in this region".to_string()
        } else {
            format!(
                "no recorder named {}; found {} (Config allows one customer-managed recorder per region)",
                names.config,
                others.join(", ")
            )
        });
        return r;
    };
    r.recording = Some(s.recording());
    r.last_status = s.last_status().map(|st| st.as_str().to_string());
    r.last_error = match (s.last_error_code(), s.last_error_message()) {
        (Some(c), Some(m)) if !m.is_empty() => Some(format!("{c}: {m}")),
        (_, Some(m)) if !m.is_empty() => Some(m.to_string()),
        (Some(c), _) if !c.is_empty() => Some(c.to_string()),
        _ => None,
    };
    let failed = r.last_status.as_deref().is_some_and(|st| st.eq_ignore_ascii_case("failure"));
    r.status = match (s.recording(), failed) {
        (true, false) => RecorderStatus::Recording,
        (true, true) => RecorderStatus::Failing,
        (false, _) => RecorderStatus::Stopped,
    };
    r
}
