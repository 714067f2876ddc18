//! Data-driven validation tests: every spec fault in [`CASES`] must be reported as an error at
//! exactly the line and column of the offending text, with a useful message or hint, and the
//! spec must not load. Hostile inputs (alias bombs, oversized or non-UTF-8 files, deep
//! nesting) must fail fast and without panicking.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use opslake::spec::{self, Diagnostic, Loaded, Severity};

/// The date the tests pretend it is (`projection.start` must not be after it).
fn today() -> jiff::civil::Date {
    jiff::civil::date(2026, 11, 27)
}

/// Hostile inputs must be rejected well within this (a debug build on a busy machine).
const FAST: Duration = Duration::from_secs(3);

struct Case {
    name: &'static str,
    yaml: &'static str,
    /// (line, column, text that must appear in the message or hint of an error there).
    expect: &'static [(usize, usize, &'static str)],
}

const CASES: &[Case] = &[
    Case {
        name: "ALB region not in regions (reported at the key)",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
sources:
  alb: { buckets: { ap-northeast-1: demo-alb-logs-apne1 } }
"#,
        expect: &[(7, 21, "ALB region `ap-northeast-1` is not in `regions`")],
    },
    Case {
        name: "ALB region key with a slash is reported on its own line",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
sources:
  alb:
    buckets:
      us-east-1: demo-alb-logs
      eu-west-1/x: demo-alb-logs-2
"#,
        expect: &[(10, 7, "`eu-west-1/x` is not an AWS region")],
    },
    Case {
        name: "region typo suggests the first of equally close names",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-l]
lake:
  bucket: demo-log-archive-123456789012
"#,
        expect: &[(3, 22, "did you mean `eu-west-1`?")],
    },
    Case {
        name: "tag on a list",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: !!seq [us-east-1]
lake:
  bucket: demo-log-archive-123456789012
"#,
        expect: &[(3, 10, "YAML tags are not used")],
    },
    Case {
        name: "tag on a mapping",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1]
lake: !Bucket
  bucket: demo-log-archive-123456789012
"#,
        expect: &[(4, 7, "YAML tags are not used")],
    },
    Case { name: "document end marker only", yaml: "...\n", expect: &[(1, 1, "the spec has no content")] },
    Case { name: "byte-order mark only", yaml: "\u{feff}", expect: &[(1, 1, "the spec is empty")] },

    // ---- structure (shape.rs) ----
    Case {
        name: "unknown top-level key with did-you-mean",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regoins: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
"#,
        expect: &[
            (3, 1, "unknown key `regoins`"),
            (3, 1, "did you mean `regions`?"),
            (1, 1, "missing required key `regions`"),
        ],
    },
    Case {
        name: "unknown nested key with did-you-mean",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  buckt: demo-log-archive-123456789012
"#,
        expect: &[
            (5, 3, "unknown key `buckt`"),
            (5, 3, "did you mean `bucket`?"),
            (5, 3, "missing required key `bucket` in `lake`"),
        ],
    },
    Case {
        name: "duplicate key",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
  kms: true
  kms: false
"#,
        expect: &[
            (7, 3, "duplicate key `kms`"),
            (7, 3, "already set at line 6"),
        ],
    },
    Case {
        name: "missing required key at the mapping start",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
lake:
  bucket: demo-log-archive-123456789012
"#,
        expect: &[(1, 1, "missing required key `regions`")],
    },
    Case {
        name: "missing required nested key in a flow mapping",
        yaml: r#"name: demo
home: { account: "123456789012" }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
"#,
        expect: &[(2, 7, "missing required key `region` in `home`")],
    },
    Case {
        name: "string where a list is expected",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: us-east-1
lake:
  bucket: demo-log-archive-123456789012
"#,
        expect: &[
            (3, 10, "expected a list, found a string"),
            (3, 10, "[us-east-1]"),
        ],
    },
    Case {
        name: "unquoted account id",
        yaml: r#"name: demo
home: { account: 123456789012, region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
"#,
        expect: &[
            (2, 18, "expected a string, found an integer"),
            (2, 18, "quote it"),
        ],
    },
    Case {
        name: "enum typo with did-you-mean",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
sources:
  cloudtrail: { trail: organisation }
"#,
        expect: &[
            (7, 24, "`organisation` is not one of"),
            (7, 24, "did you mean `organization`?"),
        ],
    },
    Case {
        name: "retention_days out of range",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
  retention_days: 0
"#,
        expect: &[(6, 19, "must be between 1 and 36500")],
    },
    Case {
        name: "boolean written as yes",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
  kms: yes
"#,
        expect: &[
            (6, 8, "expected a boolean"),
            (6, 8, "write true or false"),
        ],
    },
    // ---- accounts and regions ----
    Case {
        name: "account id with 11 digits",
        yaml: r#"name: demo
home: { account: "12345678901", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
"#,
        expect: &[
            (2, 18, "`12345678901` is not an AWS account id"),
            (2, 18, "exactly 12 digits"),
        ],
    },
    Case {
        name: "duplicate account id in accounts",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
accounts:
  - { id: "123456789012", name: logs }
  - { id: "123456789012", name: prod }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
"#,
        expect: &[
            (5, 11, "account `123456789012` is listed twice"),
            (5, 11, "already listed at line 4"),
        ],
    },
    Case {
        name: "invalid account label",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
accounts:
  - { id: "123456789012", name: Prod_Account }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
"#,
        expect: &[(4, 33, "`Prod_Account` is not a valid account label")],
    },
    Case {
        name: "unknown region with did-you-mean",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-wset-1]
lake:
  bucket: demo-log-archive-123456789012
"#,
        expect: &[
            (3, 22, "`eu-wset-1` is not an AWS region"),
            (3, 22, "did you mean `eu-west-1`?"),
        ],
    },
    Case {
        name: "GovCloud region",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, us-gov-west-1]
lake:
  bucket: demo-log-archive-123456789012
"#,
        expect: &[
            (3, 22, "`us-gov-west-1` is not an AWS region"),
            (3, 22, "partition"),
        ],
    },
    Case {
        name: "duplicate region",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1, us-east-1]
lake:
  bucket: demo-log-archive-123456789012
"#,
        expect: &[(3, 33, "region `us-east-1` is listed twice")],
    },
    Case {
        name: "home region not in regions",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [eu-west-1, eu-central-1]
lake:
  bucket: demo-log-archive-123456789012
"#,
        expect: &[
            (3, 10, "the home region us-east-1 is not in `regions`"),
            (3, 10, "add it to `regions`"),
        ],
    },
    Case {
        name: "empty regions",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: []
lake:
  bucket: demo-log-archive-123456789012
"#,
        expect: &[(3, 10, "`regions` is empty"), (3, 10, "regions: [us-east-1]")],
    },
    // ---- name ----
    Case {
        name: "name too long (21 characters)",
        yaml: r#"name: observability-lake-xy
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
"#,
        expect: &[
            (1, 7, "`observability-lake-xy` is not a valid name"),
            (1, 7, "2 to 20 characters"),
        ],
    },
    Case {
        name: "name with invalid characters",
        yaml: r#"name: Demo_Team
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
"#,
        expect: &[(1, 7, "`Demo_Team` is not a valid name")],
    },
    Case {
        name: "name ending with a hyphen",
        yaml: r#"name: demo-
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
"#,
        expect: &[(1, 7, "`demo-` is not a valid name")],
    },
    // ---- lake ----
    Case {
        name: "bucket name with uppercase",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: Demo-Log-Archive
"#,
        expect: &[
            (5, 11, "`Demo-Log-Archive` is not a valid bucket name"),
            (5, 11, "lowercase letters"),
        ],
    },
    Case {
        name: "bucket name too short",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: ab
"#,
        expect: &[(5, 11, "3 to 63 characters; this one has 2")],
    },
    Case {
        name: "bucket name like an IP address",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: 192.168.10.20
"#,
        expect: &[(5, 11, "must not look like an IP address")],
    },
    Case {
        name: "bucket name with the xn-- prefix",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: xn--demo-log-archive
"#,
        expect: &[(5, 11, "must not start with `xn--`")],
    },
    Case {
        name: "prefix with a leading slash",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
  prefix: /logs
"#,
        expect: &[
            (6, 11, "must not start or end with `/`"),
            (6, 11, "write `logs`"),
        ],
    },
    Case {
        name: "prefix containing AWSLogs",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
  prefix: archive/AWSLogs
"#,
        expect: &[(6, 11, "must not contain `AWSLogs`")],
    },
    Case {
        name: "projection start in the future",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
  projection: { start: 2027-01-01 }
"#,
        expect: &[
            (6, 24, "starts in the future (2027-01-01; today is 2026-11-27)"),
            (6, 24, "at or before today"),
        ],
    },
    Case {
        name: "projection end before start",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
  projection: { start: 2024-06-01, end: 2024-01-01 }
"#,
        expect: &[(6, 41, "ends (2024-01-01) before it starts (2024-06-01)")],
    },
    Case {
        name: "invalid date",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
  projection: { start: 2024-02-30 }
"#,
        expect: &[
            (6, 24, "`2024-02-30` is not a date"),
            (6, 24, "YYYY-MM-DD"),
        ],
    },
    Case {
        name: "projection start before CloudTrail existed",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
  projection: { start: 2010-01-01 }
"#,
        expect: &[(6, 24, "before CloudTrail existed")],
    },
    Case {
        name: "prefix with a space",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
  prefix: "logs/ops lake"
"#,
        expect: &[(6, 11, "the prefix contains ` `")],
    },
    // ---- organization and sources ----
    Case {
        name: "organization trail without organization section",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
sources:
  cloudtrail: { trail: organization }
"#,
        expect: &[(7, 24, "an organization trail needs the `organization` section")],
    },
    Case {
        name: "bad organization id",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
organization:
  id: o-abc
  member_ous: [ou-ab12-cdef3456]
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
"#,
        expect: &[(4, 7, "`o-abc` is not an organization id")],
    },
    Case {
        name: "bad OU id",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
organization:
  id: o-a1b2c3d4e5
  member_ous: [ou-ab12]
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
"#,
        expect: &[
            (5, 16, "`ou-ab12` is not an OU or root id"),
            (5, 16, "ou-ab12-cdef3456"),
        ],
    },
    Case {
        name: "organization without member OUs while Config records",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
organization: { id: o-a1b2c3d4e5 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
"#,
        expect: &[(3, 15, "member_ous is empty")],
    },
    Case {
        name: "data_events with an existing trail",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
sources:
  cloudtrail: { trail: existing, data_events: ["AWS::S3::Object"] }
"#,
        expect: &[(7, 47, "data events cannot be set on an existing trail")],
    },
    Case {
        name: "ALB bucket equal to the KMS-encrypted lake bucket",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
sources:
  alb: { buckets: { us-east-1: demo-log-archive-123456789012 } }
"#,
        expect: &[
            (7, 32, "ALB access logs support SSE-S3 only"),
            (7, 32, "lake.kms: false"),
        ],
    },
    Case {
        name: "ALB prefix with a leading slash",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
sources:
  alb: { buckets: { us-east-1: demo-alb-logs-use1 }, prefix: /alb }
"#,
        expect: &[(7, 62, "`/alb` must not start or end with `/`")],
    },
    Case {
        name: "ALB section without buckets",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
sources:
  alb: { buckets: {} }
"#,
        expect: &[(7, 19, "no ALB buckets listed")],
    },
    // ---- model ----
    Case {
        name: "provider none with a model id",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
model: { provider: none, id: claude-sonnet-4-5 }
"#,
        expect: &[(6, 30, "model.id is set but the provider is none")],
    },
    Case {
        name: "bedrock provider without id",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
model: { provider: bedrock }
"#,
        expect: &[(6, 8, "the model provider needs `model.id`")],
    },
    Case {
        name: "anthropic provider with a Bedrock-style id",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
model: { provider: anthropic, id: anthropic.claude-sonnet-4-5-20250929-v1:0 }
"#,
        expect: &[(6, 35, "looks like a Bedrock model id")],
    },
    Case {
        name: "anthropic provider with change_summary but no api_key_secret",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
model: { provider: anthropic, id: claude-sonnet-4-5 }
features:
  change_summary: { enabled: true }
"#,
        expect: &[(6, 8, "needs `model.api_key_secret`")],
    },
    Case {
        name: "api_key_secret with the bedrock provider",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
model:
  provider: bedrock
  id: global.anthropic.claude-sonnet-4-5-20250929-v1:0
  api_key_secret: arn:aws:secretsmanager:us-east-1:123456789012:secret:anthropic-AbCdEf
"#,
        expect: &[(9, 19, "only used with provider: anthropic")],
    },
    // ---- features ----
    Case {
        name: "secret ARN without the 6-character suffix",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
features:
  failure_analysis:
    log_groups: [/aws/lambda/orders-api]
    slack:
      signing_secret: arn:aws:secretsmanager:us-east-1:123456789012:secret:slack-signing
      bot_token: arn:aws:secretsmanager:us-east-1:123456789012:secret:slack-bot-AbCdEf
      channel: C0123456789
"#,
        expect: &[(10, 23, "6 random characters")],
    },
    Case {
        name: "Slack channel name instead of id",
        yaml: r##"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
features:
  failure_analysis:
    log_groups: [/aws/lambda/orders-api]
    slack:
      signing_secret: arn:aws:secretsmanager:us-east-1:123456789012:secret:slack-signing-AbCdEf
      bot_token: arn:aws:secretsmanager:us-east-1:123456789012:secret:slack-bot-AbCdEf
      channel: "#alerts"
"##,
        expect: &[
            (12, 16, "`#alerts` is not a Slack channel id"),
            (12, 16, "not its #name"),
        ],
    },
    Case {
        name: "failure analysis without log groups",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
features:
  failure_analysis:
    enabled: true
    alarm_topics: [arn:aws:sns:us-east-1:123456789012:alarms]
"#,
        expect: &[(8, 5, "needs at least one log group")],
    },
    Case {
        name: "failure analysis with neither slack nor alarm events nor alarm topics",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
features:
  failure_analysis: { log_groups: [/aws/lambda/orders-api], alarm_events: false }
"#,
        expect: &[(7, 21, "nothing would trigger failure analysis")],
    },
    Case {
        name: "failure analysis in a time zone that does not exist",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
features:
  failure_analysis:
    log_groups: [/aws/lambda/orders-api]
    time_zone: Asia/Tokio
"#,
        expect: &[(9, 16, "`Asia/Tokio` is not a time zone")],
    },
    Case {
        name: "a management account that is not an account id",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
organization: { id: o-a1b2c3d4e5, member_ous: [r-ab12], management_account: "12345" }
regions: [us-east-1]
lake:
  bucket: demo-log-archive-123456789012
"#,
        expect: &[(3, 77, "`12345` is not an AWS account id")],
    },
    Case {
        name: "reserved log group name aws/",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
features:
  failure_analysis:
    log_groups: [aws/lambda/orders-api]
    alarm_topics: [arn:aws:sns:us-east-1:123456789012:alarms]
"#,
        expect: &[(8, 18, "`aws/` are reserved")],
    },
    Case {
        name: "log group name with a space",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
features:
  failure_analysis:
    log_groups: [/aws/lambda/orders-api, "/aws/lambda/orders api"]
    alarm_topics: [arn:aws:sns:us-east-1:123456789012:alarms]
"#,
        expect: &[(8, 42, "(found ` `)")],
    },
    Case {
        name: "log group ARNs: malformed, outside the spec's accounts and regions, listed twice",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
features:
  failure_analysis:
    alarm_topics: [arn:aws:sns:us-east-1:123456789012:alarms]
    log_groups:
      - arn:aws:logs:eu-west-1:123456789012:loggroup:/ecs/web
      - arn:aws:logs:eu-west-1:999999999999:log-group:/ecs/web
      - arn:aws:logs:ap-south-1:123456789012:log-group:/ecs/web:*
      - /ecs/web
      - arn:aws:logs:us-east-1:123456789012:log-group:/ecs/web
"#,
        expect: &[
            (10, 9, "is not a log group ARN: expected arn:aws:logs:REGION:ACCOUNT:log-group:NAME"),
            (11, 9, "is in account 999999999999, which is not one of the spec's accounts"),
            (12, 9, "is in ap-south-1, which is not one of the spec's regions"),
            (14, 9, "log group `/ecs/web` (123456789012, us-east-1) is listed twice"),
        ],
    },
    Case {
        name: "bad SNS topic ARN",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
features:
  failure_analysis:
    log_groups: [/aws/lambda/orders-api]
    alarm_topics: [arn:aws:sqs:us-east-1:123456789012:alarms]
"#,
        expect: &[(9, 20, "expected an SNS topic ARN, found a `sqs` ARN")],
    },
    Case {
        name: "cron schedule with 5 fields",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
features:
  leftovers: { schedule: "cron(0 0 * * *)" }
"#,
        expect: &[(7, 26, "cron() takes 6 fields"), (7, 26, "found 5")],
    },
    Case {
        name: "notify address that is not an e-mail",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
features:
  leftovers:
    notify: [ops@example.com, ops-team]
"#,
        expect: &[(8, 31, "`ops-team` is not an e-mail address")],
    },
    // ---- YAML level (yaml.rs) ----
    Case {
        name: "YAML syntax error (bad indentation)",
        yaml: r#"name: demo
home:
  account: "123456789012"
   region: us-east-1
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
"#,
        expect: &[
            (4, 4, "YAML syntax error"),
            (4, 4, "check indentation"),
        ],
    },
    Case {
        name: "tab indentation",
        yaml: "name: demo\nhome: { account: \"123456789012\", region: us-east-1 }\nregions: [us-east-1, eu-west-1]\nlake:\n\tbucket: demo-log-archive-123456789012\n",
        expect: &[(5, 2, "tabs disallowed")],
    },
    Case {
        name: "alias to an unknown anchor",
        yaml: r#"name: demo
home: { account: "123456789012", region: *home_region }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
"#,
        expect: &[(2, 42, "unknown anchor")],
    },
    Case {
        name: "duplicate key in a flow mapping",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1, region: eu-west-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
"#,
        expect: &[(2, 53, "duplicate key `region`")],
    },
    Case {
        name: "empty file",
        yaml: "",
        expect: &[(1, 1, "the spec is empty"), (1, 1, "opslake init")],
    },
    Case {
        name: "file with comments only",
        yaml: "# opslake spec\n\n# name: demo\n",
        expect: &[(1, 1, "the spec is empty")],
    },
    Case {
        name: "multiple documents",
        yaml: r#"---
name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
---
name: other
"#,
        expect: &[
            (7, 1, "more than one YAML document"),
            (7, 1, "remove this `---`"),
        ],
    },
    Case {
        name: "YAML tag on a scalar",
        yaml: r#"name: demo
home: { account: "123456789012", region: !Ref x }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
"#,
        expect: &[(2, 42, "YAML tags are not used in a spec (found `!Ref`)")],
    },
    Case {
        name: "deep nesting (40 brackets)",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[us-east-1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
lake:
  bucket: demo-log-archive-123456789012
"#,
        // The root mapping is level 1, so the 32nd bracket (column 10 + 31) is level 33.
        expect: &[(3, 41, "nested deeper than 32 levels")],
    },
    Case {
        name: "alias bomb (billion laughs)",
        yaml: r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]
"#,
        expect: &[
            (10, 36, "expands to more than 100000 values"),
            (10, 36, "aliases"),
        ],
    },
];

fn render(diagnostics: &[Diagnostic]) -> String {
    let mut s = String::new();
    for d in diagnostics {
        let severity = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = write!(s, "    {}:{} {severity}: {}", d.pos.line, d.pos.col, d.message);
        if let Some(h) = &d.hint {
            let _ = write!(s, " / hint: {h}");
        }
        s.push('\n');
    }
    if diagnostics.is_empty() {
        s.push_str("    (no diagnostics)\n");
    }
    s
}

fn numbered(yaml: &str) -> String {
    yaml.lines().enumerate().map(|(i, l)| format!("    {:>3} | {l}\n", i + 1)).collect()
}

fn reported(loaded: &Loaded, (line, col, text): (usize, usize, &str)) -> bool {
    loaded.diagnostics.iter().any(|d| {
        d.is_error()
            && d.pos.line == line
            && d.pos.col == col
            && (d.message.contains(text) || d.hint.as_deref().is_some_and(|h| h.contains(text)))
    })
}

#[test]
fn every_fault_is_reported_where_it_is() {
    assert!(CASES.len() >= 34, "only {} cases", CASES.len());
    let mut names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), CASES.len(), "case names must be distinct");

    let mut failures = Vec::new();
    for case in CASES {
        assert!(!case.expect.is_empty(), "{}: no expectation", case.name);
        let started = Instant::now();
        let loaded = match catch_unwind(AssertUnwindSafe(|| spec::load(case.yaml.as_bytes(), today()))) {
            Ok(l) => l,
            Err(_) => {
                failures.push(format!("{}: spec::load panicked\n  input:\n{}", case.name, numbered(case.yaml)));
                continue;
            }
        };
        let elapsed = started.elapsed();
        let mut problems = Vec::new();
        for &expected in case.expect {
            if !reported(&loaded, expected) {
                problems
                    .push(format!("  expected an error at {}:{} mentioning {:?}", expected.0, expected.1, expected.2));
            }
        }
        if loaded.spec.is_some() {
            problems.push("  expected no spec (loaded.spec is Some)".to_string());
        }
        if elapsed > FAST {
            problems.push(format!("  took {elapsed:?}"));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}:\n{}\n  input:\n{}  actual diagnostics:\n{}",
                case.name,
                problems.join("\n"),
                numbered(case.yaml),
                render(&loaded.diagnostics)
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n\n{}", failures.len(), CASES.len(), failures.join("\n"));
}

/// A valid spec (examples/specs/minimal.yaml) that the byte-level cases start from.
const MINIMAL: &str = r#"name: demo
home: { account: "123456789012", region: us-east-1 }
regions: [us-east-1, eu-west-1]
lake:
  bucket: demo-log-archive-123456789012
"#;

fn load_fast(bytes: &[u8]) -> Loaded {
    let started = Instant::now();
    let loaded = spec::load(bytes, today());
    let elapsed = started.elapsed();
    assert!(elapsed < FAST, "took {elapsed:?}");
    assert!(loaded.spec.is_none(), "hostile input loaded a spec");
    loaded
}

fn assert_reported(loaded: &Loaded, expected: (usize, usize, &str)) {
    assert!(
        reported(loaded, expected),
        "expected an error at {}:{} mentioning {:?}; got:\n{}",
        expected.0,
        expected.1,
        expected.2,
        render(&loaded.diagnostics)
    );
}

#[test]
fn byte_level_faults_fail_fast() {
    // Sanity: the base is valid, so the faults below are what is reported.
    let base = spec::load(MINIMAL.as_bytes(), today());
    assert!(!base.has_errors(), "{}", render(&base.diagnostics));

    // Non-UTF-8: an ISO-8859-1 `é` in the third line.
    let latin1 = MINIMAL
        .replace("eu-west-1]", "eu-west-\u{0}]")
        .into_bytes()
        .into_iter()
        .map(|b| if b == 0 { 0xE9 } else { b })
        .collect::<Vec<u8>>();
    let loaded = load_fast(&latin1);
    assert_reported(&loaded, (3, 30, "not valid UTF-8"));
    assert_reported(&loaded, (3, 30, "save the file as UTF-8"));

    // A 2 MiB file (a valid spec padded with comments) is refused before parsing.
    let mut big = MINIMAL.to_string();
    while big.len() <= 2 * 1024 * 1024 {
        big.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    let loaded = load_fast(big.as_bytes());
    assert_reported(&loaded, (1, 1, "the limit is 1048576"));

    // A wider alias bomb than the table's: 9 levels of 100 each.
    let mut bomb = MINIMAL.to_string();
    bomb.push_str("x0: &x0 [");
    bomb.push_str(&vec!["lol"; 100].join(", "));
    bomb.push_str("]\n");
    for i in 1..9 {
        let prev = format!("*x{}", i - 1);
        bomb.push_str(&format!("x{i}: &x{i} [{}]\n", vec![prev.as_str(); 100].join(", ")));
    }
    let loaded = load_fast(bomb.as_bytes());
    assert!(
        loaded.diagnostics.iter().any(|d| d.is_error() && d.message.contains("expands to more than")),
        "{}",
        render(&loaded.diagnostics)
    );

    // Very deep nesting (far beyond the limit) is cut off, not recursed into.
    let deep =
        MINIMAL.replace("[us-east-1, eu-west-1]", &format!("{}us-east-1{}", "[".repeat(100_000), "]".repeat(100_000)));
    let loaded = load_fast(deep.as_bytes());
    // saphyr's scanner looks ahead along the line and may stop at its own recursion limit
    // before our depth check sees the 32nd bracket: either way, an error on that line.
    assert!(
        loaded.diagnostics.iter().any(|d| d.is_error()
            && d.pos.line == 3
            && (d.message.contains("nested deeper than") || d.message.contains("recursion limit"))),
        "{}",
        render(&loaded.diagnostics)
    );
}

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn cli_prints_file_line_col_caret_and_hint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("opslake.yaml");
    let faulty = MINIMAL
        .replace("  bucket: demo-log-archive-123456789012\n", "  bucket: demo-log-archive-123456789012\n  kms: yes\n");
    std::fs::write(&path, &faulty).expect("write spec");
    let path_s = path.to_str().expect("UTF-8 temp path").to_string();

    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = opslake::cli::run(["opslake", "validate", path_s.as_str()], &mut out, &mut err);
    let stderr = String::from_utf8(err).expect("UTF-8 stderr");
    assert_eq!(code, 2, "exit code; stderr:\n{stderr}");

    let header = format!("{path_s}:6:8: error: ");
    assert!(stderr.contains(&header), "no `{header}` in:\n{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    let source_at = lines
        .iter()
        .position(|l| l.ends_with("|   kms: yes"))
        .unwrap_or_else(|| panic!("no source line in:\n{stderr}"));
    let caret = lines.get(source_at + 1).unwrap_or_else(|| panic!("no caret line in:\n{stderr}"));
    assert!(caret.contains('^'), "no caret in:\n{stderr}");
    // The caret sits under `yes`.
    assert_eq!(caret.find('^'), lines[source_at].find("yes"), "caret misplaced in:\n{stderr}");
    assert!(stderr.contains("  = help: ") && stderr.contains("write true or false"), "no help line in:\n{stderr}");

    let full = crate_dir().join("../examples/specs/full.yaml");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = opslake::cli::run([OsString::from("opslake"), "validate".into(), full.into()], &mut out, &mut err);
    assert_eq!(
        code,
        0,
        "full.yaml: stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&err)
    );
}

#[test]
fn examples_and_starter_are_valid() {
    let root = crate_dir().join("..");
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("examples/specs"))
        .expect("examples/specs")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "examples found: {files:?}");
    files.push(root.join("templates/init/opslake.yaml"));

    let mut failures = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let loaded = spec::load(&bytes, today());
        if loaded.has_errors() || loaded.spec.is_none() {
            failures.push(format!("{}:\n{}", file.display(), render(&loaded.diagnostics)));
        }
    }
    assert!(failures.is_empty(), "invalid examples:\n{}", failures.join("\n"));
}

/// Activity insights' settings: no warning with or without us-east-1 in regions (global
/// services are counted either way); its e-mail addresses and Slack channel are errors at
/// their line when wrong.
#[test]
fn activity_insights_settings_are_checked_at_their_line() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/specs/full.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let today = jiff::civil::date(2026, 11, 27);
    let warnings = |text: &str| -> Vec<(usize, usize, String, String)> {
        let loaded = spec::load(text.as_bytes(), today);
        assert!(!loaded.has_errors(), "{}", render(&loaded.diagnostics));
        loaded
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .map(|d| (d.pos.line, d.pos.col, d.message.clone(), d.hint.clone().unwrap_or_default()))
            .collect()
    };
    assert_eq!(warnings(&text), []);
    // Without us-east-1 in regions, global services are still counted (a StackSet of their
    // own forwards from there): nothing to say.
    let west = text.replace("regions: [ap-northeast-1, us-east-1]", "regions: [ap-northeast-1]");
    assert_eq!(warnings(&west), []);
    // Its e-mail addresses are checked like the leftovers report's, at their line.
    let bad = text.replace(
        "activity_insights: { enabled: true }",
        "activity_insights: { notify: [ops@example.com, not-an-address] }",
    );
    let loaded = spec::load(bad.as_bytes(), today);
    let d = loaded.diagnostics.iter().find(|d| d.is_error()).expect("an error");
    assert_eq!(d.message, "`not-an-address` is not an e-mail address");
    assert_eq!(d.pos.line, bad.lines().position(|l| l.contains("not-an-address")).unwrap() + 1);
    // Its Slack channel is a channel id, and needs failure analysis's Slack app to post in it.
    let first_error = |text: &str| {
        let loaded = spec::load(text.as_bytes(), today);
        let d = loaded.diagnostics.iter().find(|d| d.is_error()).cloned().expect("an error");
        (d.pos.line, d.message, d.hint.unwrap_or_default())
    };
    let named =
        text.replace("activity_insights: { enabled: true }", "activity_insights: { slack_channel: \"#security\" }");
    let line = named.lines().position(|l| l.contains("#security")).unwrap() + 1;
    assert_eq!(
        first_error(&named),
        (
            line,
            "`#security` is not a Slack channel id".into(),
            "use the channel id (C0123456789), not its #name".into()
        )
    );
    let no_app: String = text.lines().filter(|l| !l.starts_with("    slack: {")).map(|l| format!("{l}\n")).collect();
    assert_ne!(no_app.len(), text.len(), "full.yaml has a Slack app");
    let no_app =
        no_app.replace("activity_insights: { enabled: true }", "activity_insights: { slack_channel: C0SECURITY1 }");
    let (l, message, hint) = first_error(&no_app);
    assert_eq!(l, no_app.lines().position(|l| l.contains("C0SECURITY1")).unwrap() + 1);
    assert!(
        message.contains("Slack app, which this spec does not have") && hint.contains("failure_analysis.slack"),
        "{message} / {hint}"
    );
}

/// `insights_query` still loads (older specs set it) but is said to be unused, at its line.
#[test]
fn an_unused_insights_query_is_a_warning_at_its_line() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/specs/full.yaml");
    let text = std::fs::read_to_string(path).unwrap().replace(
        "    xray: true\n",
        "    xray: true\n    insights_query: \"fields @message | filter @message like /ERROR/\"\n",
    );
    let loaded = spec::load(text.as_bytes(), jiff::civil::date(2026, 11, 27));
    assert!(!loaded.has_errors(), "{}", render(&loaded.diagnostics));
    let line = text.lines().position(|l| l.contains("insights_query")).unwrap() + 1;
    let d = loaded.diagnostics.iter().find(|d| d.message.contains("insights_query is not used")).expect("a warning");
    assert_eq!((d.severity, d.pos.line, d.pos.col), (Severity::Warning, line, 5));
    assert!(d.hint.as_deref().unwrap().contains("--log-group"));
}

/// Without `organization.management_account` the home account is taken as the management
/// account: a warning at the section recommends a separate log-archive home.
#[test]
fn an_organization_without_a_management_account_is_warned_about() {
    let text = "name: demo\nhome: { account: \"123456789012\", region: us-east-1 }\norganization: { id: o-a1b2c3d4e5, member_ous: [r-ab12] }\nregions: [us-east-1]\nlake:\n  bucket: demo-log-archive-123456789012\n";
    let loaded = spec::load(text.as_bytes(), jiff::civil::date(2026, 11, 27));
    assert!(!loaded.has_errors(), "{}", render(&loaded.diagnostics));
    let d = loaded.diagnostics.iter().find(|d| d.message.contains("management account")).expect("a warning");
    assert_eq!((d.severity, d.pos.line, d.pos.col), (Severity::Warning, 3, 1));
    assert!(d.hint.as_deref().unwrap().contains("management_account"));
    let named = text.replace("member_ous: [r-ab12] }", "member_ous: [r-ab12], management_account: \"210987654321\" }");
    let loaded = spec::load(named.as_bytes(), jiff::civil::date(2026, 11, 27));
    assert!(
        loaded.diagnostics.iter().all(|d| !d.message.contains("management account")),
        "{}",
        render(&loaded.diagnostics)
    );
}
