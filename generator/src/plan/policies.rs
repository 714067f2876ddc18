//! The lake bucket policy and key policy, exactly as the CloudTrail and Config guides
//! require: service principals limited by `aws:SourceArn` / `aws:SourceAccount`, writes
//! limited to each account's `AWSLogs/` path, TLS only. Computed here (not in a template)
//! so that their size can be checked against the service limits before anything is written.

use serde_json::{json, Value};

use super::Names;
use crate::spec::model::{Spec, TrailMode};

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

/// `s3:x-amz-acl` as CloudTrail and Config set it.
const OWNER_FULL_CONTROL: &str = "bucket-owner-full-control";

/// A statement Id from an account id (statement ids are alphanumeric).
fn sid(prefix: &str, account: &str) -> String {
    format!("{prefix}{account}")
}

/// What makes the archive tamper-evident: nobody deletes a log object, and nobody changes the
/// rules that keep them (policy, lifecycle, versioning, encryption, logging, ownership) — but
/// the break-glass role, and the rules through a deployment of the lake's stack (CloudFormation
/// with the deployer's credentials: `aws:CalledVia`). Expiry by the lifecycle rule is S3's own
/// and not subject to the policy.
fn tamper_denials(spec: &Spec, bucket_arn: &str) -> Vec<Value> {
    let break_glass = format!("arn:aws:iam::{}:role/{}", spec.home.account, spec.lake.break_glass_role(&spec.name));
    vec![
        json!({
            "Sid": "DenyDeletingLogs",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectAcl", "s3:PutObjectVersionAcl"],
            "Resource": format!("{bucket_arn}/*"),
            "Condition": {"ArnNotEquals": {"aws:PrincipalArn": break_glass}}
        }),
        json!({
            "Sid": "DenyChangingTheArchiveRules",
            "Effect": "Deny",
            "Principal": "*",
            "Action": [
                "s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:PutLifecycleConfiguration",
                "s3:PutBucketVersioning", "s3:PutEncryptionConfiguration", "s3:PutBucketLogging",
                "s3:PutBucketOwnershipControls", "s3:PutBucketPublicAccessBlock", "s3:PutBucketObjectLockConfiguration",
                "s3:DeleteBucket"
            ],
            "Resource": bucket_arn,
            "Condition": {
                "ArnNotEquals": {"aws:PrincipalArn": break_glass},
                "ForAllValues:StringNotEquals": {"aws:CalledVia": "cloudformation.amazonaws.com"}
            }
        }),
    ]
}

/// CloudTrail's writes. Each trail writes only its own account's folder, named with the trail
/// as its source (one statement per account: the path and the condition belong together, so
/// one account's trail cannot deliver into another's partition). An organization trail is one
/// source writing its management account's and the organization's folders.
fn trail_writes(spec: &Spec, names: &Names, trail: TrailMode, trail_accounts: &[String], logs: &str) -> Vec<Value> {
    let (like, arns) = trail_arns(spec, names, trail, trail_accounts);
    let op = if like { "StringLike" } else { "StringEquals" };
    let write = |sid: String, resource: Vec<String>, arn: Value| {
        let mut cond = json!({op: {"aws:SourceArn": arn}});
        if like {
            cond["StringEquals"] = json!({"s3:x-amz-acl": OWNER_FULL_CONTROL});
        } else {
            cond[op]["s3:x-amz-acl"] = json!(OWNER_FULL_CONTROL);
        }
        json!({
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": resource,
            "Condition": cond
        })
    };
    match (trail, &spec.organization) {
        (TrailMode::Organization, Some(org)) => {
            let owner = &trail_accounts[0];
            vec![write(
                "CloudTrailWrite".into(),
                vec![format!("{logs}/{owner}/*"), format!("{logs}/{}/*", org.id)],
                json!(arns[0]),
            )]
        }
        _ => trail_accounts
            .iter()
            .zip(&arns)
            .map(|(a, arn)| write(sid("CloudTrailWriteAccount", a), vec![format!("{logs}/{a}/*")], json!(arn)))
            .collect(),
    }
}

/// AWS Config's bucket check and writes. In an organization, any of its accounts — also those
/// that join its OUs after generation — by `aws:SourceOrgID`; else each listed account into its
/// own folder only (one statement per account).
fn config_statements(spec: &Spec, accounts: &[String], bucket_arn: &str, logs: &str) -> Vec<Value> {
    let principal = json!({"Service": "config.amazonaws.com"});
    let source = match &spec.organization {
        Some(org) => json!({"aws:SourceOrgID": org.id}),
        None => json!({"aws:SourceAccount": accounts}),
    };
    let mut out = vec![json!({
        "Sid": "ConfigAclCheck",
        "Effect": "Allow",
        "Principal": principal,
        "Action": ["s3:GetBucketAcl", "s3:ListBucket"],
        "Resource": bucket_arn,
        "Condition": {"StringEquals": source}
    })];
    match &spec.organization {
        Some(org) => out.push(json!({
            "Sid": "ConfigWriteOrganization",
            "Effect": "Allow",
            "Principal": principal,
            "Action": "s3:PutObject",
            "Resource": format!("{logs}/*/Config/*"),
            "Condition": {"StringEquals": {"s3:x-amz-acl": OWNER_FULL_CONTROL, "aws:SourceOrgID": org.id}}
        })),
        None => out.extend(accounts.iter().map(|a| {
            json!({
                "Sid": sid("ConfigWriteAccount", a),
                "Effect": "Allow",
                "Principal": principal,
                "Action": "s3:PutObject",
                "Resource": format!("{logs}/{a}/Config/*"),
                "Condition": {"StringEquals": {"s3:x-amz-acl": OWNER_FULL_CONTROL, "aws:SourceAccount": a}}
            })
        })),
    }
    out
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
    let mut statements = vec![
        json!({
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, format!("{bucket_arn}/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
        }),
        json!({
            "Sid": "CloudTrailAclCheck",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:GetBucketAcl",
            "Resource": bucket_arn,
            "Condition": source_arn_cond
        }),
    ];
    statements.extend(tamper_denials(spec, &bucket_arn));
    statements.extend(trail_writes(spec, names, trail, trail_accounts, &logs));
    statements.extend(config_statements(spec, accounts, &bucket_arn, &logs));
    statements.extend(capture_statements(spec, accounts, &bucket_arn, &logs));
    json!({"Version": "2012-10-17", "Statement": statements})
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

pub fn key_policy(
    spec: &Spec,
    names: &Names,
    trail: TrailMode,
    trail_accounts: &[String],
    accounts: &[String],
) -> Value {
    let mut policy = key_policy_base(spec, names, trail, trail_accounts, accounts);
    use crate::spec::model::Feature;
    if spec.enabled(Feature::Leftovers) || spec.enabled(Feature::ActivityInsights) {
        if let Some(statements) = policy["Statement"].as_array_mut() {
            // The leftovers and insights functions' alarms publish to their topics, which the
            // lake key encrypts.
            statements.push(json!({
                "Sid": "CloudWatchAlarmsPublishToEncryptedTopics",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": spec.home.account}}
            }));
        }
    }
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

fn key_policy_base(
    spec: &Spec,
    names: &Names,
    trail: TrailMode,
    trail_accounts: &[String],
    accounts: &[String],
) -> Value {
    // CloudTrail uses the key for the spec's trails only (named as the source, and in the
    // encryption context).
    let (like, trail_arns) = trail_arns(spec, names, trail, trail_accounts);
    let source_op = if like { "StringLike" } else { "StringEquals" };
    let trail_source = json!({source_op: {"aws:SourceArn": trail_arns}});
    let trail_ctx: Vec<String> = trail_accounts.iter().map(|a| format!("arn:aws:cloudtrail:*:{a}:trail/*")).collect();
    let mut trail_encrypt = json!({"StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": trail_ctx}});
    trail_encrypt[source_op]["aws:SourceArn"] = json!(trail_arns);
    // CloudWatch Logs uses it for the lake's own log groups: the functions' and Firehose's.
    let (region, account, n) = (&spec.home.region, &spec.home.account, &spec.name);
    let log_groups = [
        format!("arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{n}-opslake-*"),
        format!("arn:aws:logs:{region}:{account}:log-group:/aws/kinesisfirehose/{n}-opslake-*"),
    ];
    // Config's deliveries: any account of the organization (also those that join later), or
    // the listed accounts.
    let config_source = match &spec.organization {
        Some(org) => json!({"aws:SourceOrgID": org.id}),
        None => json!({"aws:SourceAccount": accounts}),
    };
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
                "Sid": "DenyGrantsExceptForAwsResources",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "kms:CreateGrant",
                "Resource": "*",
                "Condition": {"BoolIfExists": {"kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false"}}
            },
            {
                "Sid": "CloudTrailEncryptLogs",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "kms:GenerateDataKey*",
                "Resource": "*",
                "Condition": trail_encrypt
            },
            {
                "Sid": "CloudTrailDescribeKey",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "kms:DescribeKey",
                "Resource": "*",
                "Condition": trail_source
            },
            {
                "Sid": "CloudWatchLogsEncryptFunctionLogs",
                "Effect": "Allow",
                "Principal": {"Service": format!("logs.{}.amazonaws.com", spec.home.region)},
                "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                "Resource": "*",
                "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}}
            },
            {
                "Sid": "ConfigEncryptDeliveries",
                "Effect": "Allow",
                "Principal": {"Service": "config.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": "*",
                "Condition": {"StringEquals": config_source}
            }
        ]
    })
}
