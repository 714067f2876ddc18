//! Argument groups several commands share: output format, how to reach AWS, where to read.

use std::path::PathBuf;

use clap::ValueEnum;
use opslake_runtime::aws::Connection;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable (`table` is accepted too)
    #[value(alias = "table")]
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    Table,
    Json,
    Csv,
}

/// How the commands that read the lake reach AWS: the standard credential chain, refined here.
/// (`--region` is theirs for filtering; the AWS region is `--aws-region`.)
#[derive(clap::Args, Debug, Clone, Default)]
pub struct AwsArgs {
    /// AWS profile
    #[arg(long)]
    pub profile: Option<String>,
    /// AWS region of the Athena workgroup and the model (default: the spec's home region)
    #[arg(long = "aws-region")]
    pub aws_region: Option<String>,
    /// Endpoint URL for every AWS client (tests, private endpoints)
    #[arg(long)]
    pub endpoint_url: Option<String>,
}

impl AwsArgs {
    pub fn connection(&self) -> Connection {
        Connection {
            profile: self.profile.clone(),
            region: self.aws_region.clone(),
            endpoint_url: self.endpoint_url.clone(),
        }
    }
}

/// How `deploy` and `doctor` reach the lake's home account: the standard credential chain,
/// refined here. `--region` defaults to the spec's home region.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct HomeArgs {
    /// AWS profile
    #[arg(long)]
    pub profile: Option<String>,
    /// AWS region of the central stack (default: the spec's home region)
    #[arg(long, alias = "aws-region")]
    pub region: Option<String>,
    /// Endpoint URL for every AWS client (tests, private endpoints)
    #[arg(long)]
    pub endpoint_url: Option<String>,
}

impl HomeArgs {
    pub fn connection(&self) -> Connection {
        Connection {
            profile: self.profile.clone(),
            region: self.region.clone(),
            endpoint_url: self.endpoint_url.clone(),
        }
    }
}

/// Where the commands that read the lake read it.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SourceArgs {
    /// Mirror root of the log buckets: one folder per bucket, as `aws s3 sync s3://B DIR/B` leaves it
    #[arg(long, value_name = "DIR", conflicts_with_all = ["athena", "lookup_events"])]
    pub local: Option<PathBuf>,
    /// Read through Athena: the spec's workgroup and database (every account, any age)
    #[arg(long, conflicts_with = "lookup_events")]
    pub athena: bool,
    /// Read CloudTrail event history (LookupEvents: this account, the last 90 days, no trail
    /// needed; created-deleted only)
    #[arg(long)]
    pub lookup_events: bool,
}

/// What the commands that read the lake share: the spec, where to read, how to reach AWS.
#[derive(clap::Args, Debug, Clone)]
pub struct LakeArgs {
    /// The spec that describes the lake
    #[arg(long, default_value = "opslake.yaml")]
    pub spec: PathBuf,
    #[command(flatten)]
    pub from: SourceArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}
