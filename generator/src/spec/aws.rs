//! AWS naming rules the spec is checked against (no SDK: plain data and string checks).

/// Regions of the `aws` partition, opt-in regions included.
pub const REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
];

/// Longest region name above: generated names are sized against it.
pub const LONGEST_REGION: usize = 14;

pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Why `name` is not a valid S3 bucket name (general purpose buckets), if it is not.
pub fn bucket_name_problem(name: &str) -> Option<String> {
    let len = name.len();
    if !(3..=63).contains(&len) {
        return Some(format!("a bucket name has 3 to 63 characters; this one has {len}"));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.')) {
        return Some(format!("a bucket name may contain only lowercase letters, digits, `-` and `.` (found `{c}`)"));
    }
    let first = name.as_bytes()[0];
    let last = name.as_bytes()[len - 1];
    if !(first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric()) {
        return Some("a bucket name must begin and end with a letter or digit".into());
    }
    if name.contains("..") {
        return Some("a bucket name must not contain two adjacent periods".into());
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
        return Some("a bucket name must not look like an IP address".into());
    }
    for p in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(p) {
            return Some(format!("a bucket name must not start with `{p}`"));
        }
    }
    for s in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(s) {
            return Some(format!("a bucket name must not end with `{s}`"));
        }
    }
    None
}

fn lower_alnum(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

pub fn is_org_id(s: &str) -> bool {
    s.strip_prefix("o-").is_some_and(|r| (10..=32).contains(&r.len()) && lower_alnum(r))
}

pub fn is_ou_or_root(s: &str) -> bool {
    if let Some(r) = s.strip_prefix("r-") {
        return (4..=32).contains(&r.len()) && lower_alnum(r);
    }
    let Some(r) = s.strip_prefix("ou-") else {
        return false;
    };
    let Some((a, b)) = r.split_once('-') else {
        return false;
    };
    (4..=32).contains(&a.len()) && lower_alnum(a) && (8..=32).contains(&b.len()) && lower_alnum(b)
}

/// Splits `arn:aws:SERVICE:REGION:ACCOUNT:RESOURCE`.
pub fn arn_parts(arn: &str) -> Option<(&str, &str, &str, &str)> {
    let mut it = arn.splitn(6, ':');
    if it.next()? != "arn" || it.next()? != "aws" {
        return None;
    }
    let service = it.next()?;
    let region = it.next()?;
    let account = it.next()?;
    let resource = it.next()?;
    Some((service, region, account, resource))
}

/// Why `arn` is not a Secrets Manager secret ARN, if it is not.
pub fn secret_arn_problem(arn: &str) -> Option<String> {
    let Some((service, region, account, resource)) = arn_parts(arn) else {
        return Some("not an ARN: expected arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX".into());
    };
    if service != "secretsmanager" {
        return Some(format!("expected a Secrets Manager ARN, found a `{service}` ARN"));
    }
    if !REGIONS.contains(&region) {
        return Some(format!("`{region}` is not a known region"));
    }
    if !is_account_id(account) {
        return Some(format!("`{account}` is not a 12-digit account id"));
    }
    let Some(name) = resource.strip_prefix("secret:") else {
        return Some("the resource part must be secret:NAME-XXXXXX".into());
    };
    // Full secret ARNs end with a hyphen and six random characters.
    let suffix_ok = name
        .rsplit_once('-')
        .is_some_and(|(n, s)| !n.is_empty() && s.len() == 6 && s.bytes().all(|b| b.is_ascii_alphanumeric()));
    if !suffix_ok {
        return Some("a full secret ARN ends with `-` and the 6 random characters Secrets Manager adds".into());
    }
    None
}

/// Why `arn` is not an SNS topic ARN, if it is not.
pub fn topic_arn_problem(arn: &str) -> Option<String> {
    let Some((service, region, account, name)) = arn_parts(arn) else {
        return Some("not an ARN: expected arn:aws:sns:REGION:ACCOUNT:TOPIC".into());
    };
    if service != "sns" {
        return Some(format!("expected an SNS topic ARN, found a `{service}` ARN"));
    }
    if !REGIONS.contains(&region) {
        return Some(format!("`{region}` is not a known region"));
    }
    if !is_account_id(account) {
        return Some(format!("`{account}` is not a 12-digit account id"));
    }
    let ok = (1..=256).contains(&name.len())
        && name.trim_end_matches(".fifo").bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        return Some("a topic name has 1 to 256 letters, digits, `-` or `_`".into());
    }
    None
}

/// A log group's ARN (`arn:aws:logs:REGION:ACCOUNT:log-group:NAME`, an ending `:*` allowed)
/// → (region, account, name); why not, when it is not one.
pub fn log_group_arn(arn: &str) -> Result<(&str, &str, &str), String> {
    let expected = "expected arn:aws:logs:REGION:ACCOUNT:log-group:NAME";
    let Some((service, region, account, resource)) = arn_parts(arn) else {
        return Err(format!("not an ARN: {expected}"));
    };
    if service != "logs" {
        return Err(format!("expected a log group ARN, found a `{service}` ARN"));
    }
    if !REGIONS.contains(&region) {
        return Err(format!("`{region}` is not a known region"));
    }
    if !is_account_id(account) {
        return Err(format!("`{account}` is not a 12-digit account id"));
    }
    let Some(name) = resource.strip_prefix("log-group:") else { return Err(expected.into()) };
    let name = name.strip_suffix(":*").unwrap_or(name);
    match log_group_problem(name) {
        Some(problem) => Err(problem),
        None => Ok((region, account, name)),
    }
}

/// Why `name` is not a CloudWatch Logs log group name, if it is not.
pub fn log_group_problem(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > 512 {
        return Some("a log group name has 1 to 512 characters".into());
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || "._-/#".contains(*c))) {
        return Some(format!("a log group name may contain letters, digits and `._-/#` only (found `{c}`)"));
    }
    if name.starts_with("aws/") {
        return Some("log group names starting with `aws/` are reserved".into());
    }
    None
}

/// Why `expr` is not an EventBridge schedule expression, if it is not.
pub fn schedule_problem(expr: &str) -> Option<String> {
    if let Some(body) = expr.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
        let fields: Vec<&str> = body.split_whitespace().collect();
        if fields.len() != 6 {
            return Some(format!(
                "cron() takes 6 fields (minutes hours day-of-month month day-of-week year); found {}",
                fields.len()
            ));
        }
        if fields[2] != "?" && fields[4] != "?" {
            return Some("cron(): one of day-of-month and day-of-week must be `?`".into());
        }
        return None;
    }
    if let Some(body) = expr.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
        let mut it = body.split_whitespace();
        let (Some(n), Some(unit), None) = (it.next(), it.next(), it.next()) else {
            return Some("rate() takes a value and a unit: rate(1 day)".into());
        };
        let Ok(n) = n.parse::<u32>() else {
            return Some(format!("rate(): `{n}` is not a positive integer"));
        };
        let units = if n == 1 { ["minute", "hour", "day"] } else { ["minutes", "hours", "days"] };
        if n == 0 || !units.contains(&unit) {
            return Some(format!("rate(): with {n} the unit is one of {}", units.join(", ")));
        }
        return None;
    }
    Some("expected cron(…) or rate(…)".into())
}

/// Why `id` does not look like a model id of `provider`, if it does not.
pub fn model_id_problem(provider: &str, id: &str) -> Option<String> {
    match provider {
        "bedrock" => {
            if id.starts_with("arn:aws:bedrock:") {
                return None;
            }
            let base = ["us.", "eu.", "apac.", "jp.", "au.", "ca.", "us-gov.", "global."]
                .iter()
                .find_map(|p| id.strip_prefix(p))
                .unwrap_or(id);
            let Some((vendor, rest)) = base.split_once('.') else {
                return Some("a Bedrock model id looks like `anthropic.claude-…-v1:0` (vendor.model), optionally with an inference-profile prefix such as `global.`".into());
            };
            if vendor.is_empty() || rest.is_empty() || !vendor.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
                return Some("a Bedrock model id looks like `vendor.model-version`".into());
            }
            None
        }
        "anthropic" => {
            if id.contains('.') || id.contains(':') {
                return Some(
                    "this looks like a Bedrock model id; the Anthropic API takes names such as `claude-sonnet-4-5`"
                        .into(),
                );
            }
            if !id.starts_with("claude-") {
                return Some("Anthropic model names start with `claude-`".into());
            }
            None
        }
        _ => None,
    }
}
