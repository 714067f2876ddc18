//! Change events for failure analysis: which CloudTrail writes are changes an operator would
//! suspect (by category), and which resources a change names. Used as the `changes` query's
//! post-processing step, so every engine's rows get the same category and targets.

use serde_json::Value;

/// What kind of change an event is. The weight says how often such a change breaks a
/// running service (used when ranking changes before a failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Code or configuration rolled out: functions, services, stacks, deployments.
    Deploy,
    /// Security groups, network ACLs, routes, load balancer listeners and targets, DNS.
    Network,
    /// Policies, roles, users, keys.
    Iam,
    /// Parameters, secrets, feature flags, keys' state.
    Parameters,
    /// Capacity: Auto Scaling, desired counts, concurrency, instances stopped or terminated.
    Scaling,
    /// Databases, tables, caches, bucket policies.
    DataStore,
    /// Any other write.
    OtherWrite,
    /// A call that failed (read or write): a symptom more often than a cause.
    FailedCall,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Deploy => "deploy",
            Category::Network => "network",
            Category::Iam => "iam",
            Category::Parameters => "parameters",
            Category::Scaling => "scaling",
            Category::DataStore => "data_store",
            Category::OtherWrite => "other_write",
            Category::FailedCall => "failed_call",
        }
    }

    pub fn parse(s: &str) -> Option<Category> {
        [
            Category::Deploy,
            Category::Network,
            Category::Iam,
            Category::Parameters,
            Category::Scaling,
            Category::DataStore,
            Category::OtherWrite,
            Category::FailedCall,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }

    /// How likely such a change is to break a running service, 0–1.
    pub fn weight(self) -> f64 {
        match self {
            Category::Deploy | Category::Network => 1.0,
            Category::DataStore => 0.9,
            Category::Iam | Category::Parameters => 0.8,
            Category::Scaling => 0.6,
            Category::OtherWrite => 0.25,
            Category::FailedCall => 0.1,
        }
    }
}

/// (event source, event name prefixes, category): the first match wins. A prefix matches
/// versioned names too (`UpdateFunctionCode20150331v2`).
const RULES: &[(&str, &[&str], Category)] = &[
    (
        "lambda.amazonaws.com",
        &["UpdateFunctionCode", "UpdateFunctionConfiguration", "PublishVersion", "UpdateAlias", "CreateFunction"],
        Category::Deploy,
    ),
    (
        "lambda.amazonaws.com",
        &["PutFunctionConcurrency", "DeleteFunctionConcurrency", "PutProvisionedConcurrencyConfig"],
        Category::Scaling,
    ),
    (
        "ecs.amazonaws.com",
        &["UpdateService", "RegisterTaskDefinition", "CreateService", "DeleteService"],
        Category::Deploy,
    ),
    ("codedeploy.amazonaws.com", &["CreateDeployment"], Category::Deploy),
    (
        "cloudformation.amazonaws.com",
        &["CreateStack", "UpdateStack", "ExecuteChangeSet", "DeleteStack"],
        Category::Deploy,
    ),
    ("elasticbeanstalk.amazonaws.com", &["UpdateEnvironment"], Category::Deploy),
    ("apigateway.amazonaws.com", &["CreateDeployment", "UpdateStage"], Category::Deploy),
    ("amplify.amazonaws.com", &["StartDeployment", "StartJob"], Category::Deploy),
    (
        "ec2.amazonaws.com",
        &[
            "AuthorizeSecurityGroup",
            "RevokeSecurityGroup",
            "ModifySecurityGroupRules",
            "UpdateSecurityGroupRuleDescriptions",
            "DeleteSecurityGroup",
            "ModifyNetworkInterfaceAttribute",
            "CreateRoute",
            "ReplaceRoute",
            "DeleteRoute",
            "CreateNetworkAclEntry",
            "ReplaceNetworkAcl",
            "DeleteNetworkAcl",
            "ModifyVpcEndpoint",
            "DeleteNatGateway",
            "DisassociateRouteTable",
            "ReplaceRouteTableAssociation",
        ],
        Category::Network,
    ),
    (
        "ec2.amazonaws.com",
        &["TerminateInstances", "StopInstances", "RunInstances", "ModifyInstanceAttribute"],
        Category::Scaling,
    ),
    (
        "elasticloadbalancing.amazonaws.com",
        &[
            "Modify",
            "RegisterTargets",
            "DeregisterTargets",
            "CreateListener",
            "DeleteListener",
            "CreateRule",
            "DeleteRule",
            "SetSecurityGroups",
            "SetSubnets",
        ],
        Category::Network,
    ),
    ("route53.amazonaws.com", &["ChangeResourceRecordSets"], Category::Network),
    ("wafv2.amazonaws.com", &["Update", "Associate", "Disassociate"], Category::Network),
    ("cloudfront.amazonaws.com", &["UpdateDistribution"], Category::Network),
    ("iam.amazonaws.com", &[""], Category::Iam),
    ("kms.amazonaws.com", &["DisableKey", "ScheduleKeyDeletion", "PutKeyPolicy", "RevokeGrant"], Category::Parameters),
    ("ssm.amazonaws.com", &["PutParameter", "DeleteParameter", "LabelParameterVersion"], Category::Parameters),
    (
        "secretsmanager.amazonaws.com",
        &["PutSecretValue", "UpdateSecret", "RotateSecret", "DeleteSecret"],
        Category::Parameters,
    ),
    ("appconfig.amazonaws.com", &["StartDeployment"], Category::Parameters),
    (
        "autoscaling.amazonaws.com",
        &[
            "Update",
            "SetDesiredCapacity",
            "PutScalingPolicy",
            "SuspendProcesses",
            "TerminateInstanceInAutoScalingGroup",
        ],
        Category::Scaling,
    ),
    ("application-autoscaling.amazonaws.com", &["PutScalingPolicy", "RegisterScalableTarget"], Category::Scaling),
    ("rds.amazonaws.com", &["Modify", "Reboot", "Failover", "Delete", "Stop"], Category::DataStore),
    ("dynamodb.amazonaws.com", &["UpdateTable", "DeleteTable", "UpdateTimeToLive"], Category::DataStore),
    ("elasticache.amazonaws.com", &["Modify", "Reboot", "Delete", "TestFailover"], Category::DataStore),
    (
        "s3.amazonaws.com",
        &["PutBucketPolicy", "DeleteBucketPolicy", "PutBucketAcl", "PutPublicAccessBlock", "PutBucketCors"],
        Category::DataStore,
    ),
    ("sqs.amazonaws.com", &["SetQueueAttributes", "DeleteQueue", "PurgeQueue"], Category::DataStore),
];

/// The category of a call: a failed call is a [`Category::FailedCall`] whatever it is.
pub fn category(source: &str, name: &str, failed: bool) -> Category {
    if failed {
        return Category::FailedCall;
    }
    RULES
        .iter()
        .find(|(s, prefixes, _)| *s == source && prefixes.iter().any(|p| name.starts_with(p)))
        .map_or(Category::OtherWrite, |(_, _, c)| *c)
}

/// At most this many targets are kept per change.
pub const MAX_TARGETS: usize = 8;

/// Whether a key names a resource: `groupId`, `functionName`, `targetGroupArn`, `dBInstanceIdentifier`, …
fn names_resource(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["id", "ids", "name", "names", "arn", "arns", "identifier"].iter().any(|s| k.ends_with(s))
        && !matches!(k.as_str(), "rolesessionname" | "clientrequesttoken" | "requestid" | "keyid" | "kmskeyid")
}

/// Whether a string looks like an AWS id (`sg-0a1b2c3d`, `i-0123456789abcdef0`) or an ARN.
fn looks_like_id(v: &str) -> bool {
    if v.starts_with("arn:") {
        return true;
    }
    let Some((kind, hex)) = v.split_once('-') else { return false };
    (1..=8).contains(&kind.len())
        && kind.chars().all(|c| c.is_ascii_lowercase())
        && (8..=17).contains(&hex.len())
        && hex.chars().all(|c| c.is_ascii_hexdigit())
}

fn collect(v: &Value, key: Option<&str>, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                collect(x, Some(k), out);
            }
        }
        Value::Array(a) => {
            for x in a {
                collect(x, key, out);
            }
        }
        Value::String(s)
            if !s.is_empty() && s.len() <= 256 && (looks_like_id(s) || key.is_some_and(names_resource)) =>
        {
            out.push(s.clone());
        }
        _ => {}
    }
}

/// The resources a request names (ids, names, ARNs), sorted, at most [`MAX_TARGETS`].
pub fn targets(request: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect(request, None, &mut out);
    out.sort();
    out.dedup();
    out.truncate(MAX_TARGETS);
    out
}

/// The `changes` query's post-processing: SQL rows (eventtime, eventsource, eventname, arn,
/// account, awsregion, eventid, errorcode, invokedby, requestparameters) → the catalogue's
/// columns (eventtime, category, eventsource, eventname, arn, account, awsregion, eventid,
/// errorcode, invokedby, targets), order kept.
pub fn rows(rows: Vec<Vec<Value>>) -> Vec<Vec<Value>> {
    rows.into_iter()
        .filter(|r| r.len() >= 10)
        .map(|mut r| {
            let request = r.pop().unwrap_or(Value::Null);
            let request = request.as_str().and_then(|t| serde_json::from_str::<Value>(t).ok()).unwrap_or(Value::Null);
            let (source, name) = (r[1].as_str().unwrap_or(""), r[2].as_str().unwrap_or(""));
            let failed = !r[7].is_null();
            let cat = category(source, name, failed);
            r.insert(1, Value::String(cat.as_str().into()));
            r.push(Value::String(targets(&request).join(" ")));
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn categories() {
        let cases = [
            ("ec2.amazonaws.com", "RevokeSecurityGroupIngress", false, Category::Network),
            ("lambda.amazonaws.com", "UpdateFunctionCode20150331v2", false, Category::Deploy),
            ("iam.amazonaws.com", "PutRolePolicy", false, Category::Iam),
            ("ssm.amazonaws.com", "PutParameter", false, Category::Parameters),
            ("s3.amazonaws.com", "PutBucketTagging", false, Category::OtherWrite),
            ("ec2.amazonaws.com", "RevokeSecurityGroupIngress", true, Category::FailedCall),
            ("rds.amazonaws.com", "ModifyDBInstance", false, Category::DataStore),
            ("autoscaling.amazonaws.com", "UpdateAutoScalingGroup", false, Category::Scaling),
        ];
        for (s, n, failed, want) in cases {
            assert_eq!(category(s, n, failed), want, "{s} {n}");
            assert_eq!(Category::parse(want.as_str()), Some(want));
        }
    }

    #[test]
    fn targets_are_the_resources_a_request_names() {
        let req = json!({
            "groupId": "sg-0a1b2c3d4e5f60718",
            "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 5432, "groups": {"items": [{"groupId": "sg-0123456789abcdef0"}]}}]},
            "roleSessionName": "alice",
            "description": "temp"
        });
        assert_eq!(targets(&req), vec!["sg-0123456789abcdef0", "sg-0a1b2c3d4e5f60718"]);
        let req = json!({"functionName": "orders-api", "environment": {"variables": {"DB_HOST": "x"}}});
        assert_eq!(targets(&req), vec!["orders-api"]);
        assert!(targets(&Value::Null).is_empty());
        let rows_in = vec![vec![
            json!("2025-06-12T09:36:10Z"),
            json!("ec2.amazonaws.com"),
            json!("RevokeSecurityGroupIngress"),
            json!("arn:aws:iam::1:user/a"),
            json!("111111111111"),
            json!("ap-northeast-1"),
            json!("e1"),
            Value::Null,
            Value::Null,
            json!(r#"{"groupId":"sg-0a1b2c3d4e5f60718"}"#),
        ]];
        let out = rows(rows_in);
        assert_eq!(out[0][1], json!("network"));
        assert_eq!(out[0][10], json!("sg-0a1b2c3d4e5f60718"));
        assert_eq!(out[0].len(), 11);
    }
}
