//! The lake bucket policy and key policy, exactly as the CloudTrail and Config guides
//! require: service principals limited by `aws:SourceArn` / `aws:SourceAccount`, writes
//! limited to each account's `AWSLogs/` path, TLS only. Computed here (not in a template)
//! so that their size can be checked against the service limits before anything is written.

use serde_json::{json, Value};

use super::Names;
use crate::spec::model::{Spec, TrailMode};

/// Above this many accounts, per-account resource ARNs give way to a wildcard path
/// constrained by the source-account condition, to stay within the policy size limit.
const PER_ACCOUNT_RESOURCES_MAX: usize = 20;

fn trail_arns(spec: &Spec, names: &Names, trail: TrailMode, trail_accounts: &[String]) -> (bool, Vec<String>) {
    match trail {
        TrailMode::Existing => {
            (true, trail_accounts.iter().map(|a| format!("arn:aws:cloudtrail:*:{a}:trail/*")).collect())
        }
        _ => (
            false,
            trail_accounts
                .iter()
                .map(|a| format!("arn:aws:cloudtrail:{}:{a}:trail/{}", spec.home.region, names.trail))
                .collect(),
        ),
    }
}

pub fn bucket_policy(
    spec: &Spec,
    names: &Names,
    trail: TrailMode,
    trail_accounts: &[String],
    accounts: &[String],
) -> Value {
    let bucket_arn = format!("arn:aws:s3:::{}", spec.lake.bucket);
    let logs = if spec.lake.prefix.is_empty() {
        format!("{bucket_arn}/AWSLogs")
    } else {
        format!("{bucket_arn}/{}/AWSLogs", spec.lake.prefix)
    };
    let (like, source_arns) = trail_arns(spec, names, trail, trail_accounts);
    let source_arn_cond = if like {
        json!({"StringLike": {"aws:SourceArn": source_arns}})
    } else {
        json!({"StringEquals": {"aws:SourceArn": source_arns}})
    };

    let mut trail_write: Vec<String> = Vec::new();
    match (trail, &spec.organization) {
        (TrailMode::Organization, Some(org)) => {
            trail_write.push(format!("{logs}/{}/*", spec.home.account));
            trail_write.push(format!("{logs}/{}/*", org.id));
        }
        _ if trail_accounts.len() <= PER_ACCOUNT_RESOURCES_MAX => {
            trail_write.extend(trail_accounts.iter().map(|a| format!("{logs}/{a}/*")));
        }
        _ => trail_write.push(format!("{logs}/*")),
    }
    let mut trail_write_cond = source_arn_cond.clone();
    let key = if like { "StringLike" } else { "StringEquals" };
    trail_write_cond[key]["aws:SourceArn"] = json!(source_arns);
    if like {
        trail_write_cond["StringEquals"] = json!({"s3:x-amz-acl": "bucket-owner-full-control"});
    } else {
        trail_write_cond["StringEquals"]["s3:x-amz-acl"] = json!("bucket-owner-full-control");
    }

    // The ACL check is read-only; beyond a few accounts its account list is left to the write
    // statement, which carries the same list, so that both fit in the 20 KB policy limit.
    let acl_check_cond = if accounts.len() <= PER_ACCOUNT_RESOURCES_MAX {
        json!({"StringEquals": {"aws:SourceAccount": accounts}})
    } else {
        json!({"StringLike": {"aws:SourceAccount": "*"}})
    };
    let config_write: Vec<String> = if accounts.len() <= PER_ACCOUNT_RESOURCES_MAX {
        accounts.iter().map(|a| format!("{logs}/{a}/Config/*")).collect()
    } else {
        vec![format!("{logs}/*/Config/*")]
    };

    let mut policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, format!("{bucket_arn}/*")],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}
            },
            {
                "Sid": "CloudTrailAclCheck",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:GetBucketAcl",
                "Resource": bucket_arn,
                "Condition": source_arn_cond
            },
            {
                "Sid": "CloudTrailWrite",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": trail_write,
                "Condition": trail_write_cond
            },
            {
                "Sid": "ConfigAclCheck",
                "Effect": "Allow",
                "Principal": {"Service": "config.amazonaws.com"},
                "Action": ["s3:GetBucketAcl", "s3:ListBucket"],
                "Resource": bucket_arn,
                "Condition": acl_check_cond
            },
            {
                "Sid": "ConfigWrite",
                "Effect": "Allow",
                "Principal": {"Service": "config.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": config_write,
                "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceAccount": accounts}}
            }
        ]
    });
    if let Some(statements) = policy["Statement"].as_array_mut() {
        statements.extend(capture_statements(spec, accounts, &bucket_arn, &logs));
    }
    policy
}

/// The bucket-policy statements that let the member accounts' capture roles deliver: each
/// writes its own account's folders only, because the resource names `${aws:PrincipalAccount}`.
fn capture_statements(spec: &Spec, accounts: &[String], bucket_arn: &str, logs: &str) -> Vec<Value> {
    let Some((principal, cond)) = capture_grant(spec, accounts) else { return Vec::new() };
    let prefix = if spec.lake.prefix.is_empty() { String::new() } else { format!("{}/", spec.lake.prefix) };
    vec![
        json!({
            "Sid": "CaptureList",
            "Effect": "Allow",
            "Principal": principal,
            "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
            "Resource": bucket_arn,
            "Condition": cond
        }),
        json!({
            "Sid": "CaptureWriteOwnFolders",
            "Effect": "Allow",
            "Principal": principal,
            "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
            "Resource": capture_folders(spec, bucket_arn, logs, &prefix),
            "Condition": cond
        }),
    ]
}

/// What the member capture roles write: their account's metric and (for log groups named by
/// ARN) log folders, and its Firehose error folder.
fn capture_folders(spec: &Spec, bucket_arn: &str, logs: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    if spec.capture().is_some_and(|c| c.metrics) {
        out.push(format!("{logs}/${{aws:PrincipalAccount}}/CloudWatchMetrics/*"));
    }
    if !super::away_log_groups(spec).is_empty() {
        out.push(format!("{logs}/${{aws:PrincipalAccount}}/CloudWatchLogs/*"));
    }
    out.push(format!("{bucket_arn}/{prefix}firehose-errors/${{aws:PrincipalAccount}}/*"));
    out
}

/// The roles of every member account's capture (Firehose), one per region.
fn capture_role_pattern(spec: &Spec) -> String {
    format!("arn:aws:iam::*:role/{}*", Names::of(spec).capture_role_prefix)
}

/// Who may write captured metrics from the member accounts: the lake's accounts (as
/// principals), and in them only their capture roles (and, with an organization, only inside
/// it). `None` without a member capture.
fn capture_grant(spec: &Spec, accounts: &[String]) -> Option<(Value, Value)> {
    spec.capture().filter(|c| c.metrics || !super::away_log_groups(spec).is_empty())?;
    let roots: Vec<String> = accounts.iter().map(|a| format!("arn:aws:iam::{a}:root")).collect();
    let mut cond = json!({"ArnLike": {"aws:PrincipalArn": capture_role_pattern(spec)}});
    if let Some(org) = &spec.organization {
        cond["StringEquals"] = json!({"aws:PrincipalOrgID": org.id});
    }
    Some((json!({"AWS": roots}), cond))
}

pub fn key_policy(spec: &Spec, trail_accounts: &[String], accounts: &[String]) -> Value {
    let mut policy = key_policy_base(spec, trail_accounts, accounts);
    if let (Some((principal, mut cond)), Some(statements)) =
        (capture_grant(spec, accounts), policy["Statement"].as_array_mut())
    {
        // The member accounts' capture roles encrypt what they deliver, through S3 only.
        if cond.get("StringEquals").is_none() {
            cond["StringEquals"] = json!({});
        }
        cond["StringEquals"]["kms:ViaService"] = json!(format!("s3.{}.amazonaws.com", spec.home.region));
        statements.push(json!({
            "Sid": "CaptureEncryptDeliveries",
            "Effect": "Allow",
            "Principal": principal,
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": "*",
            "Condition": cond
        }));
    }
    policy
}

fn key_policy_base(spec: &Spec, trail_accounts: &[String], accounts: &[String]) -> Value {
    let trail_ctx: Vec<String> = trail_accounts.iter().map(|a| format!("arn:aws:cloudtrail:*:{a}:trail/*")).collect();
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EnableIamPoliciesInHomeAccount",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{}:root", spec.home.account)},
                "Action": "kms:*",
                "Resource": "*"
            },
            {
                "Sid": "CloudTrailEncryptLogs",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "kms:GenerateDataKey*",
                "Resource": "*",
                "Condition": {"StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": trail_ctx}}
            },
            {
                "Sid": "CloudTrailDescribeKey",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "kms:DescribeKey",
                "Resource": "*"
            },
            {
                "Sid": "CloudWatchLogsEncryptFunctionLogs",
                "Effect": "Allow",
                "Principal": {"Service": format!("logs.{}.amazonaws.com", spec.home.region)},
                "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                "Resource": "*",
                "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": format!("arn:aws:logs:{}:{}:log-group:*", spec.home.region, spec.home.account)}}
            },
            {
                "Sid": "ConfigEncryptDeliveries",
                "Effect": "Allow",
                "Principal": {"Service": "config.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": accounts}}
            }
        ]
    })
}
