//! The clients of the AWS services only the command line talks to (CloudFormation, S3, Glue,
//! STS, CloudTrail, Config), built from one loaded `opslake_runtime::aws::Aws` — never from a
//! configuration of their own.

use opslake_runtime::aws::Aws;

/// S3 in `region`; path-style addressing when an endpoint URL is set (emulators).
pub fn s3(aws: &Aws, region: &str) -> aws_sdk_s3::Client {
    let c = aws_sdk_s3::config::Builder::from(&aws.in_region(region))
        .force_path_style(aws.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(c)
}

pub fn cloudformation(aws: &Aws, region: &str) -> aws_sdk_cloudformation::Client {
    aws_sdk_cloudformation::Client::new(&aws.in_region(region))
}

pub fn glue(aws: &Aws) -> aws_sdk_glue::Client {
    aws_sdk_glue::Client::new(aws.config())
}

pub fn sts(aws: &Aws) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::new(aws.config())
}

pub fn cloudtrail(aws: &Aws) -> aws_sdk_cloudtrail::Client {
    aws_sdk_cloudtrail::Client::new(aws.config())
}

pub fn config(aws: &Aws, region: &str) -> aws_sdk_config::Client {
    aws_sdk_config::Client::new(&aws.in_region(region))
}
