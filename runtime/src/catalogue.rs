//! The create/delete catalogue: for each resource type, which CloudTrail events create and
//! delete it and where the resource's id is in each. One table, data only; the leftovers
//! finder pairs events through it, and `created-deleted` extracts ids with it.
//!
//! An id path is dot-separated keys into `requestParameters` (`req:`) or `responseElements`
//! (`resp:`); `[]` walks a list (EC2's XML-derived `{"items": [...]}` / `{"item": ...}`
//! wrappers are unwrapped, a single value counts as a list of one), and a `{"tag", "content"}`
//! value stands for its content.

use serde_json::Value;

/// How an id is normalised before two events are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Norm {
    None,
    /// RDS stores identifiers in lower case.
    Lowercase,
    /// MSK's delete carries the cluster ARN URL-encoded.
    UrlDecode,
    /// A name or an ARN ending in `…:stack/NAME/uuid` (CloudFormation) → NAME.
    StackName,
    /// A name or an ARN whose last `:` or `/` segment is the name (Lambda, Secrets Manager).
    LastSegment,
}

/// Where one event of a resource type carries the id (and optionally the name).
#[derive(Debug, Clone, Copy)]
pub struct Op {
    pub event: &'static str,
    pub id: &'static [&'static str],
    /// Where a human name is, when the id is not one (security groups, key pairs).
    pub name: &'static [&'static str],
}

#[derive(Debug, Clone, Copy)]
pub struct ResourceType {
    pub name: &'static str,
    pub source: &'static str,
    pub creates: &'static [Op],
    pub deletes: &'static [Op],
    pub norm: Norm,
    /// `{region}` and `{id}` are filled in.
    pub console: &'static str,
    /// A rough monthly cost and its basis.
    pub cost: &'static str,
}

const fn op(event: &'static str, id: &'static [&'static str]) -> Op {
    Op { event, id, name: &[] }
}

const fn named(event: &'static str, id: &'static [&'static str], name: &'static [&'static str]) -> Op {
    Op { event, id, name }
}

pub const CATALOGUE: &[ResourceType] = &[
    ResourceType { name: "EC2 instance", source: "ec2.amazonaws.com", creates: &[op("RunInstances", &["resp:instancesSet.items[].instanceId"])], deletes: &[op("TerminateInstances", &["req:instancesSet.items[].instanceId"])], norm: Norm::None, console: "https://{region}.console.aws.amazon.com/ec2/home?region={region}#InstanceDetails:instanceId={id}", cost: "t3.medium on demand ≈ $30/month (varies by type)" },
    ResourceType { name: "EBS volume", source: "ec2.amazonaws.com", creates: &[op("CreateVolume", &["resp:volumeId"])], deletes: &[op("DeleteVolume", &["req:volumeId"])], norm: Norm::None, console: "https://{region}.console.aws.amazon.com/ec2/home?region={region}#VolumeDetails:volumeId={id}", cost: "gp3 $0.08/GB-month" },
    ResourceType { name: "EBS snapshot", source: "ec2.amazonaws.com", creates: &[op("CreateSnapshot", &["resp:snapshotId"]), op("CopySnapshot", &["resp:snapshotId"])], deletes: &[op("DeleteSnapshot", &["req:snapshotId"])], norm: Norm::None, console: "https://{region}.console.aws.amazon.com/ec2/home?region={region}#SnapshotDetails:snapshotId={id}", cost: "$0.05/GB-month (standard tier)" },
    ResourceType { name: "AMI", source: "ec2.amazonaws.com", creates: &[op("CreateImage", &["resp:imageId"]), op("CopyImage", &["resp:imageId"]), op("RegisterImage", &["resp:imageId"])], deletes: &[op("DeregisterImage", &["req:imageId"])], norm: Norm::None, console: "https://{region}.console.aws.amazon.com/ec2/home?region={region}#ImageDetails:imageId={id}", cost: "its snapshots: $0.05/GB-month" },
    ResourceType { name: "Elastic IP", source: "ec2.amazonaws.com", creates: &[op("AllocateAddress", &["resp:allocationId"])], deletes: &[op("ReleaseAddress", &["req:allocationId"])], norm: Norm::None, console: "https://{region}.console.aws.amazon.com/ec2/home?region={region}#ElasticIpDetails:AllocationId={id}", cost: "public IPv4 $0.005/hour ≈ $3.6/month" },
    ResourceType { name: "NAT gateway", source: "ec2.amazonaws.com", creates: &[op("CreateNatGateway", &["resp:CreateNatGatewayResponse.natGateway.natGatewayId"])], deletes: &[op("DeleteNatGateway", &["req:DeleteNatGatewayRequest.NatGatewayId"])], norm: Norm::None, console: "https://{region}.console.aws.amazon.com/vpcconsole/home?region={region}#NatGatewayDetails:natGatewayId={id}", cost: "$0.045/hour ≈ $33/month plus data" },
    ResourceType { name: "VPC endpoint", source: "ec2.amazonaws.com", creates: &[op("CreateVpcEndpoint", &["resp:CreateVpcEndpointResponse.vpcEndpoint.vpcEndpointId"])], deletes: &[op("DeleteVpcEndpoints", &["req:DeleteVpcEndpointsRequest.VpcEndpointId[]"])], norm: Norm::None, console: "https://{region}.console.aws.amazon.com/vpcconsole/home?region={region}#EndpointDetails:vpcEndpointId={id}", cost: "interface endpoint $0.01/hour per AZ ≈ $7/month per AZ" },
    ResourceType { name: "Security group", source: "ec2.amazonaws.com", creates: &[named("CreateSecurityGroup", &["resp:groupId"], &["req:groupName"])], deletes: &[named("DeleteSecurityGroup", &["req:groupId"], &["req:groupName"])], norm: Norm::None, console: "https://{region}.console.aws.amazon.com/ec2/home?region={region}#SecurityGroup:groupId={id}", cost: "free (clutter and blast radius)" },
    ResourceType { name: "Key pair", source: "ec2.amazonaws.com", creates: &[named("CreateKeyPair", &["resp:keyPairId"], &["req:keyName"]), named("ImportKeyPair", &["resp:keyPairId"], &["req:keyName"])], deletes: &[named("DeleteKeyPair", &["req:keyPairId"], &["req:keyName"])], norm: Norm::None, console: "https://{region}.console.aws.amazon.com/ec2/home?region={region}#KeyPairs:search={id}", cost: "free (a credential to rotate)" },
    ResourceType { name: "VPC", source: "ec2.amazonaws.com", creates: &[op("CreateVpc", &["resp:vpc.vpcId"])], deletes: &[op("DeleteVpc", &["req:vpcId"])], norm: Norm::None, console: "https://{region}.console.aws.amazon.com/vpcconsole/home?region={region}#VpcDetails:VpcId={id}", cost: "free itself" },
    ResourceType { name: "Subnet", source: "ec2.amazonaws.com", creates: &[op("CreateSubnet", &["resp:subnet.subnetId"])], deletes: &[op("DeleteSubnet", &["req:subnetId"])], norm: Norm::None, console: "https://{region}.console.aws.amazon.com/vpcconsole/home?region={region}#SubnetDetails:subnetId={id}", cost: "free itself" },
    ResourceType { name: "Load balancer (v2)", source: "elasticloadbalancing.amazonaws.com", creates: &[op("CreateLoadBalancer", &["resp:loadBalancers[].loadBalancerArn"])], deletes: &[op("DeleteLoadBalancer", &["req:loadBalancerArn"])], norm: Norm::None, console: "https://{region}.console.aws.amazon.com/ec2/home?region={region}#LoadBalancers:search={id}", cost: "ALB ≈ $16/month plus LCUs" },
    ResourceType { name: "Load balancer (classic)", source: "elasticloadbalancing.amazonaws.com", creates: &[op("CreateLoadBalancer", &["req:loadBalancerName"])], deletes: &[op("DeleteLoadBalancer", &["req:loadBalancerName"])], norm: Norm::None, console: "https://{region}.console.aws.amazon.com/ec2/home?region={region}#LoadBalancers:search={id}", cost: "≈ $18/month plus data" },
    ResourceType { name: "RDS instance", source: "rds.amazonaws.com", creates: &[op("CreateDBInstance", &["req:dBInstanceIdentifier"])], deletes: &[op("DeleteDBInstance", &["req:dBInstanceIdentifier"])], norm: Norm::Lowercase, console: "https://{region}.console.aws.amazon.com/rds/home?region={region}#database:id={id};is-cluster=false", cost: "db.t3.medium ≈ $50/month plus storage" },
    ResourceType { name: "RDS cluster", source: "rds.amazonaws.com", creates: &[op("CreateDBCluster", &["req:dBClusterIdentifier"])], deletes: &[op("DeleteDBCluster", &["req:dBClusterIdentifier"])], norm: Norm::Lowercase, console: "https://{region}.console.aws.amazon.com/rds/home?region={region}#database:id={id};is-cluster=true", cost: "its instances plus storage" },
    ResourceType { name: "EKS cluster", source: "eks.amazonaws.com", creates: &[op("CreateCluster", &["req:name"])], deletes: &[op("DeleteCluster", &["req:name"])], norm: Norm::None, console: "https://{region}.console.aws.amazon.com/eks/home?region={region}#/clusters/{id}", cost: "$0.10/hour ≈ $73/month plus nodes" },
    ResourceType { name: "SageMaker endpoint", source: "sagemaker.amazonaws.com", creates: &[op("CreateEndpoint", &["req:endpointName"])], deletes: &[op("DeleteEndpoint", &["req:endpointName"])], norm: Norm::None, console: "https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/endpoints/{id}", cost: "ml.m5.large ≈ $83/month per instance" },
    ResourceType { name: "SageMaker notebook", source: "sagemaker.amazonaws.com", creates: &[op("CreateNotebookInstance", &["req:notebookInstanceName"])], deletes: &[op("DeleteNotebookInstance", &["req:notebookInstanceName"])], norm: Norm::None, console: "https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/notebook-instances/{id}", cost: "ml.t3.medium ≈ $36/month while running" },
    ResourceType { name: "OpenSearch domain", source: "es.amazonaws.com", creates: &[op("CreateDomain", &["req:domainName"]), op("CreateElasticsearchDomain", &["req:domainName"])], deletes: &[op("DeleteDomain", &["req:domainName"]), op("DeleteElasticsearchDomain", &["req:domainName"])], norm: Norm::None, console: "https://{region}.console.aws.amazon.com/aos/home?region={region}#opensearch/domains/{id}", cost: "t3.small.search ≈ $26/month per node" },
    ResourceType { name: "Redshift cluster", source: "redshift.amazonaws.com", creates: &[op("CreateCluster", &["req:clusterIdentifier"])], deletes: &[op("DeleteCluster", &["req:clusterIdentifier"])], norm: Norm::Lowercase, console: "https://{region}.console.aws.amazon.com/redshiftv2/home?region={region}#cluster-details?cluster={id}", cost: "ra3.xlplus ≈ $790/month per node" },
    ResourceType { name: "ElastiCache cluster", source: "elasticache.amazonaws.com", creates: &[op("CreateCacheCluster", &["req:cacheClusterId"])], deletes: &[op("DeleteCacheCluster", &["req:cacheClusterId"])], norm: Norm::Lowercase, console: "https://{region}.console.aws.amazon.com/elasticache/home?region={region}#/redis/{id}", cost: "cache.t3.micro ≈ $12/month per node" },
    ResourceType { name: "ElastiCache replication group", source: "elasticache.amazonaws.com", creates: &[op("CreateReplicationGroup", &["req:replicationGroupId"])], deletes: &[op("DeleteReplicationGroup", &["req:replicationGroupId"])], norm: Norm::Lowercase, console: "https://{region}.console.aws.amazon.com/elasticache/home?region={region}#/redis/{id}", cost: "its nodes" },
    ResourceType { name: "ElastiCache serverless cache", source: "elasticache.amazonaws.com", creates: &[op("CreateServerlessCache", &["req:serverlessCacheName"])], deletes: &[op("DeleteServerlessCache", &["req:serverlessCacheName"])], norm: Norm::None, console: "https://{region}.console.aws.amazon.com/elasticache/home?region={region}#/serverless/{id}", cost: "from ≈ $90/month (minimum storage)" },
    ResourceType { name: "EFS file system", source: "elasticfilesystem.amazonaws.com", creates: &[op("CreateFileSystem", &["resp:fileSystemId"])], deletes: &[op("DeleteFileSystem", &["req:fileSystemId"])], norm: Norm::None, console: "https://{region}.console.aws.amazon.com/efs/home?region={region}#/file-systems/{id}", cost: "$0.30/GB-month (standard)" },
    ResourceType { name: "FSx file system", source: "fsx.amazonaws.com", creates: &[op("CreateFileSystem", &["resp:fileSystem.fileSystemId"])], deletes: &[op("DeleteFileSystem", &["req:fileSystemId"])], norm: Norm::None, console: "https://{region}.console.aws.amazon.com/fsx/home?region={region}#file-system-details/{id}", cost: "from ≈ $0.13/GB-month plus throughput" },
    ResourceType { name: "DynamoDB table", source: "dynamodb.amazonaws.com", creates: &[op("CreateTable", &["req:tableName"])], deletes: &[op("DeleteTable", &["req:tableName"])], norm: Norm::None, console: "https://{region}.console.aws.amazon.com/dynamodbv2/home?region={region}#table?name={id}", cost: "$0.25/GB-month plus capacity" },
    ResourceType { name: "Kinesis stream", source: "kinesis.amazonaws.com", creates: &[op("CreateStream", &["req:streamName"])], deletes: &[op("DeleteStream", &["req:streamName"])], norm: Norm::None, console: "https://{region}.console.aws.amazon.com/kinesis/home?region={region}#/streams/details/{id}", cost: "$0.015/shard-hour ≈ $11/month per shard" },
    ResourceType { name: "MSK cluster", source: "kafka.amazonaws.com", creates: &[op("CreateCluster", &["resp:clusterArn"]), op("CreateClusterV2", &["resp:clusterArn"])], deletes: &[op("DeleteCluster", &["req:clusterArn"])], norm: Norm::UrlDecode, console: "https://{region}.console.aws.amazon.com/msk/home?region={region}#/clusters", cost: "kafka.t3.small ≈ $33/month per broker" },
    ResourceType { name: "CloudFormation stack", source: "cloudformation.amazonaws.com", creates: &[op("CreateStack", &["resp:stackId"])], deletes: &[op("DeleteStack", &["req:stackName"])], norm: Norm::StackName, console: "https://{region}.console.aws.amazon.com/cloudformation/home?region={region}#/stacks?filteringText={id}", cost: "its resources" },
    ResourceType { name: "Secrets Manager secret", source: "secretsmanager.amazonaws.com", creates: &[op("CreateSecret", &["req:name"])], deletes: &[op("DeleteSecret", &["req:secretId"])], norm: Norm::LastSegment, console: "https://{region}.console.aws.amazon.com/secretsmanager/secret?name={id}&region={region}", cost: "$0.40/month per secret" },
    ResourceType { name: "SSM parameter", source: "ssm.amazonaws.com", creates: &[op("PutParameter", &["req:name"])], deletes: &[op("DeleteParameter", &["req:name"]), op("DeleteParameters", &["req:names[]"])], norm: Norm::None, console: "https://{region}.console.aws.amazon.com/systems-manager/parameters/{id}/description?region={region}", cost: "free (standard tier)" },
    ResourceType { name: "IAM user", source: "iam.amazonaws.com", creates: &[op("CreateUser", &["req:userName"])], deletes: &[op("DeleteUser", &["req:userName"])], norm: Norm::None, console: "https://console.aws.amazon.com/iam/home#/users/details/{id}", cost: "free (a standing identity)" },
    ResourceType { name: "IAM role", source: "iam.amazonaws.com", creates: &[op("CreateRole", &["req:roleName"])], deletes: &[op("DeleteRole", &["req:roleName"])], norm: Norm::None, console: "https://console.aws.amazon.com/iam/home#/roles/details/{id}", cost: "free (a standing identity)" },
    ResourceType { name: "IAM access key", source: "iam.amazonaws.com", creates: &[op("CreateAccessKey", &["resp:accessKey.accessKeyId"])], deletes: &[op("DeleteAccessKey", &["req:accessKeyId"])], norm: Norm::None, console: "https://console.aws.amazon.com/iam/home#/security_credentials", cost: "free (a long-lived credential)" },
    ResourceType { name: "Lambda function", source: "lambda.amazonaws.com", creates: &[op("CreateFunction20150331", &["req:functionName"])], deletes: &[op("DeleteFunction20150331", &["req:functionName"])], norm: Norm::LastSegment, console: "https://{region}.console.aws.amazon.com/lambda/home?region={region}#/functions/{id}", cost: "free when idle" },
    ResourceType { name: "Log group", source: "logs.amazonaws.com", creates: &[op("CreateLogGroup", &["req:logGroupName"])], deletes: &[op("DeleteLogGroup", &["req:logGroupName"])], norm: Norm::None, console: "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logsV2:log-groups", cost: "$0.03/GB-month stored" },
    ResourceType { name: "S3 bucket", source: "s3.amazonaws.com", creates: &[op("CreateBucket", &["req:bucketName"])], deletes: &[op("DeleteBucket", &["req:bucketName"])], norm: Norm::None, console: "https://s3.console.aws.amazon.com/s3/buckets/{id}", cost: "$0.023/GB-month (standard)" },
    ResourceType { name: "KMS key", source: "kms.amazonaws.com", creates: &[op("CreateKey", &["resp:keyMetadata.keyId"])], deletes: &[op("ScheduleKeyDeletion", &["req:keyId"])], norm: Norm::LastSegment, console: "https://{region}.console.aws.amazon.com/kms/home?region={region}#/kms/keys/{id}", cost: "$1/month per key" },
];

/// Whether an event creates or deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Delete => "delete",
        }
    }
}

/// Every (source, event) pair in the catalogue, `source:event`, sorted (for the SQL filter).
pub fn event_keys() -> Vec<String> {
    let mut v: Vec<String> = CATALOGUE
        .iter()
        .flat_map(|t| t.creates.iter().chain(t.deletes).map(move |o| format!("{}:{}", t.source, o.event)))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Every event name in the catalogue, whatever its source (for `LookupEvents` and the local
/// engine's byte prefilter).
pub fn event_names() -> std::collections::BTreeSet<String> {
    CATALOGUE.iter().flat_map(|t| t.creates.iter().chain(t.deletes)).map(|o| o.event.to_string()).collect()
}

/// One resource an event creates or deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touch {
    pub resource_type: &'static str,
    pub action: Action,
    pub id: Option<String>,
    pub name: Option<String>,
}

fn walk<'v>(v: &'v Value, segs: &[&str], out: &mut Vec<&'v Value>) {
    let Some((first, rest)) = segs.split_first() else {
        out.push(v);
        return;
    };
    let (key, list) = match first.strip_suffix("[]") {
        Some(k) => (k, true),
        None => (*first, false),
    };
    let Some(child) = v.get(key) else { return };
    if !list {
        walk(child, rest, out);
        return;
    }
    // unwrap EC2's XML-derived {"items": [...]} / {"item": x}
    let inner = child.get("items").or_else(|| child.get("item")).unwrap_or(child);
    match inner {
        Value::Array(items) => items.iter().for_each(|i| walk(i, rest, out)),
        other => walk(other, rest, out),
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(o) => o.get("content").and_then(scalar),
        _ => None,
    }
}

/// Ids at `path` (`req:a.b[]` or `resp:…`) in the event's request / response.
pub fn extract(path: &str, request: Option<&Value>, response: Option<&Value>) -> Vec<String> {
    let (doc, p) = match path.split_once(':') {
        Some(("req", p)) => (request, p),
        Some(("resp", p)) => (response, p),
        _ => return Vec::new(),
    };
    let Some(doc) = doc else { return Vec::new() };
    let segs: Vec<&str> = p.split('.').collect();
    let mut found = Vec::new();
    walk(doc, &segs, &mut found);
    found
        .iter()
        .flat_map(|v| match v {
            Value::Array(a) => a.iter().filter_map(scalar).collect::<Vec<_>>(),
            other => scalar(other).into_iter().collect(),
        })
        .collect()
}

/// Normalises an id for comparison.
pub fn normalise(norm: Norm, id: &str) -> String {
    match norm {
        Norm::None => id.to_string(),
        Norm::Lowercase => id.to_ascii_lowercase(),
        Norm::UrlDecode => url_decode(id),
        Norm::StackName => match id.split_once(":stack/") {
            Some((_, rest)) => rest.split('/').next().unwrap_or(rest).to_string(),
            None => id.to_string(),
        },
        Norm::LastSegment => id.rsplit([':', '/']).next().unwrap_or(id).to_string(),
    }
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What an event creates or deletes, by the catalogue (several resources for multi-id calls).
pub fn touches(source: &str, event: &str, request: Option<&Value>, response: Option<&Value>) -> Vec<Touch> {
    let mut out = Vec::new();
    if updates_a_parameter(source, event, response) {
        return out;
    }
    for t in CATALOGUE.iter().filter(|t| t.source == source) {
        for (action, ops) in [(Action::Create, t.creates), (Action::Delete, t.deletes)] {
            for op in ops.iter().filter(|o| o.event == event) {
                let ids: Vec<String> =
                    op.id.iter().flat_map(|p| extract(p, request, response)).map(|i| normalise(t.norm, &i)).collect();
                let names: Vec<String> = op.name.iter().flat_map(|p| extract(p, request, response)).collect();
                if ids.is_empty() && names.is_empty() {
                    continue;
                }
                if ids.is_empty() {
                    out.push(Touch { resource_type: t.name, action, id: None, name: names.first().cloned() });
                }
                for id in ids {
                    out.push(Touch { resource_type: t.name, action, id: Some(id), name: names.first().cloned() });
                }
            }
        }
    }
    out
}

/// `PutParameter` both creates and overwrites; its response's `version` tells which (a new
/// parameter is version 1).
fn updates_a_parameter(source: &str, event: &str, response: Option<&Value>) -> bool {
    source == "ssm.amazonaws.com"
        && event == "PutParameter"
        && response.and_then(|r| r.get("version")).and_then(Value::as_i64).is_some_and(|v| v > 1)
}

/// Cloud Control resource type for a catalogue type whose catalogue id is the resource's
/// primary identifier there (`--confirm` checks existence with `GetResource`).
pub const CLOUD_CONTROL: &[(&str, &str)] = &[
    ("EC2 instance", "AWS::EC2::Instance"),
    ("EBS volume", "AWS::EC2::Volume"),
    ("Security group", "AWS::EC2::SecurityGroup"),
    ("VPC", "AWS::EC2::VPC"),
    ("Subnet", "AWS::EC2::Subnet"),
    ("NAT gateway", "AWS::EC2::NatGateway"),
    ("VPC endpoint", "AWS::EC2::VPCEndpoint"),
    ("Load balancer (v2)", "AWS::ElasticLoadBalancingV2::LoadBalancer"),
    ("RDS instance", "AWS::RDS::DBInstance"),
    ("RDS cluster", "AWS::RDS::DBCluster"),
    ("EKS cluster", "AWS::EKS::Cluster"),
    ("OpenSearch domain", "AWS::OpenSearchService::Domain"),
    ("ElastiCache replication group", "AWS::ElastiCache::ReplicationGroup"),
    ("EFS file system", "AWS::EFS::FileSystem"),
    ("DynamoDB table", "AWS::DynamoDB::Table"),
    ("Kinesis stream", "AWS::Kinesis::Stream"),
    ("SSM parameter", "AWS::SSM::Parameter"),
    ("IAM user", "AWS::IAM::User"),
    ("IAM role", "AWS::IAM::Role"),
    ("Lambda function", "AWS::Lambda::Function"),
    ("Log group", "AWS::Logs::LogGroup"),
    ("S3 bucket", "AWS::S3::Bucket"),
    ("KMS key", "AWS::KMS::Key"),
];

pub fn cloud_control_type(resource_type: &str) -> Option<&'static str> {
    CLOUD_CONTROL.iter().find(|(t, _)| *t == resource_type).map(|(_, c)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_found_where_each_event_keeps_them() {
        type Case<'a> = (&'a str, &'a str, Value, Value, Vec<(&'a str, Action, Option<&'a str>)>);
        let cases: Vec<Case> = vec![
            (
                "ec2.amazonaws.com",
                "RunInstances",
                json!({}),
                json!({"instancesSet": {"items": [{"instanceId": "i-1"}, {"instanceId": "i-2"}]}}),
                vec![("EC2 instance", Action::Create, Some("i-1")), ("EC2 instance", Action::Create, Some("i-2"))],
            ),
            (
                "ec2.amazonaws.com",
                "TerminateInstances",
                json!({"instancesSet": {"items": [{"instanceId": "i-1"}]}}),
                json!(null),
                vec![("EC2 instance", Action::Delete, Some("i-1"))],
            ),
            (
                "ec2.amazonaws.com",
                "CreateNatGateway",
                json!({}),
                json!({"CreateNatGatewayResponse": {"natGateway": {"natGatewayId": "nat-1"}}}),
                vec![("NAT gateway", Action::Create, Some("nat-1"))],
            ),
            (
                "ec2.amazonaws.com",
                "DeleteVpcEndpoints",
                json!({"DeleteVpcEndpointsRequest": {"VpcEndpointId": {"tag": 1, "content": "vpce-1"}}}),
                json!(null),
                vec![("VPC endpoint", Action::Delete, Some("vpce-1"))],
            ),
            (
                "ec2.amazonaws.com",
                "DeleteSecurityGroup",
                json!({"groupName": "web"}),
                json!(null),
                vec![("Security group", Action::Delete, None)],
            ),
            (
                "rds.amazonaws.com",
                "CreateDBInstance",
                json!({"dBInstanceIdentifier": "Prod-DB"}),
                json!({}),
                vec![("RDS instance", Action::Create, Some("prod-db"))],
            ),
            (
                "kafka.amazonaws.com",
                "DeleteCluster",
                json!({"clusterArn": "arn%3Aaws%3Akafka%3Aus-east-1%3A1%3Acluster%2Fx%2Fy"}),
                json!(null),
                vec![("MSK cluster", Action::Delete, Some("arn:aws:kafka:us-east-1:1:cluster/x/y"))],
            ),
            (
                "eks.amazonaws.com",
                "CreateCluster",
                json!({"name": "c1"}),
                json!({}),
                vec![("EKS cluster", Action::Create, Some("c1"))],
            ),
            (
                "redshift.amazonaws.com",
                "CreateCluster",
                json!({"clusterIdentifier": "DW"}),
                json!({}),
                vec![("Redshift cluster", Action::Create, Some("dw"))],
            ),
            (
                "cloudformation.amazonaws.com",
                "DeleteStack",
                json!({"stackName": "arn:aws:cloudformation:us-east-1:1:stack/app/uuid"}),
                json!(null),
                vec![("CloudFormation stack", Action::Delete, Some("app"))],
            ),
            (
                "elasticloadbalancing.amazonaws.com",
                "CreateLoadBalancer",
                json!({"name": "alb"}),
                json!({"loadBalancers": [{"loadBalancerArn": "arn:lb"}]}),
                vec![("Load balancer (v2)", Action::Create, Some("arn:lb"))],
            ),
        ];
        for (source, event, req, resp, want) in cases {
            let got = touches(source, event, Some(&req), Some(&resp));
            let got: Vec<(&str, Action, Option<&str>)> =
                got.iter().map(|t| (t.resource_type, t.action, t.id.as_deref())).collect();
            assert_eq!(got, want, "{source} {event}");
        }
    }

    #[test]
    fn the_catalogue_covers_at_least_thirty_types_and_every_entry_pairs() {
        assert!(CATALOGUE.len() >= 30);
        for t in CATALOGUE {
            assert!(!t.creates.is_empty() && !t.deletes.is_empty(), "{}", t.name);
            assert!(t.console.starts_with("https://") && !t.cost.is_empty(), "{}", t.name);
            for o in t.creates.iter().chain(t.deletes) {
                assert!(
                    o.id.iter().chain(o.name).all(|p| p.starts_with("req:") || p.starts_with("resp:")),
                    "{} {}",
                    t.name,
                    o.event
                );
            }
        }
    }

    #[test]
    fn put_parameter_creates_only_a_new_parameter() {
        let req = json!({"name": "/orders/flags", "overwrite": true});
        let create = touches("ssm.amazonaws.com", "PutParameter", Some(&req), Some(&json!({"version": 1})));
        assert_eq!(create.len(), 1);
        assert!(touches("ssm.amazonaws.com", "PutParameter", Some(&req), Some(&json!({"version": 7}))).is_empty());
        // No response (a failed call, or event history without it): still read as a create.
        assert_eq!(touches("ssm.amazonaws.com", "PutParameter", Some(&req), None).len(), 1);
    }

    /// Builds a document holding `value` at `path` (lists get EC2's `items` wrapper).
    fn doc_at(path: &str, value: &str) -> Value {
        let segs: Vec<&str> = path.split('.').collect();
        let mut v = json!(value);
        for seg in segs.iter().rev() {
            v = match seg.strip_suffix("[]") {
                Some(k) => json!({ k: {"items": [v]} }),
                None => json!({ *seg: v }),
            };
        }
        v
    }

    /// Every entry, every event, every id path: the id put where the catalogue says is found.
    #[test]
    fn every_catalogue_entry_extracts_its_ids() {
        let mut checked = 0;
        for t in CATALOGUE {
            for (action, ops) in [(Action::Create, t.creates), (Action::Delete, t.deletes)] {
                for op in ops {
                    for path in op.id {
                        let (side, p) = path.split_once(':').unwrap();
                        let doc = doc_at(p, "Id-123");
                        let (req, resp) = if side == "req" { (Some(&doc), None) } else { (None, Some(&doc)) };
                        let got = touches(t.source, op.event, req, resp);
                        let want = normalise(t.norm, "Id-123");
                        assert!(
                            got.iter().any(|g| g.resource_type == t.name
                                && g.action == action
                                && g.id.as_deref() == Some(want.as_str())),
                            "{} {} {path}: {got:?}",
                            t.name,
                            op.event
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked >= 76, "{checked}");
    }
}
