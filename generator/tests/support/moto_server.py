"""moto_server, with two additions to its CloudFormation where it falls short of the service:

- A stack created by executing a change set gets its outputs (moto builds a stack's outputs
  when the stack is created, and a change set creates it with an empty template).
- AWS::CloudTrail::Trail, AWS::KinesisFirehose::DeliveryStream and AWS::Lambda::Url, which
  moto emulates as APIs but not as stack resources: created in moto's own backends (so the APIs then show them), with
  Ref and Fn::GetAtt answered as CloudFormation documents them.

Run as `python server.py -H 127.0.0.1 -p PORT` (the arguments of moto_server).
"""

from typing import Any

from moto.cloudformation.models import CloudFormationBackend
from moto.core.common_models import CloudFormationModel
from moto.awslambda.models import lambda_backends
from moto.cloudtrail.models import cloudtrail_backends
from moto.firehose.models import firehose_backends
from moto.server import main


class DeliveryStream(CloudFormationModel):
    """AWS::KinesisFirehose::DeliveryStream: Ref is the stream's name, Arn its ARN."""

    # moto files a model under the service its module names.
    __module__ = "moto.firehose.models"

    def __init__(self, name: str, arn: str):
        self.name = name
        self.arn = arn

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::KinesisFirehose::DeliveryStream"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "DeliveryStreamName"

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name == "Arn":
            return self.arn
        raise KeyError(attribute_name)

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> "DeliveryStream":
        p = cloudformation_json.get("Properties", {})
        name = p.get("DeliveryStreamName") or resource_name
        arn = firehose_backends[account_id][region_name].create_delivery_stream(
            region=region_name,
            delivery_stream_name=name,
            delivery_stream_type=p.get("DeliveryStreamType", "DirectPut"),
            kinesis_stream_source_configuration=p.get("KinesisStreamSourceConfiguration"),
            delivery_stream_encryption_configuration_input=p.get("DeliveryStreamEncryptionConfigurationInput"),
            s3_destination_configuration=p.get("S3DestinationConfiguration"),
            extended_s3_destination_configuration=p.get("ExtendedS3DestinationConfiguration"),
            redshift_destination_configuration=p.get("RedshiftDestinationConfiguration"),
            elasticsearch_destination_configuration=p.get("ElasticsearchDestinationConfiguration"),
            splunk_destination_configuration=p.get("SplunkDestinationConfiguration"),
            http_endpoint_destination_configuration=p.get("HttpEndpointDestinationConfiguration"),
            snowflake_destination_configuration=p.get("SnowflakeDestinationConfiguration"),
            iceberg_destination_configuration=p.get("IcebergDestinationConfiguration"),
            tags=p.get("Tags", []),
        )
        return cls(name, arn)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        name = cloudformation_json.get("Properties", {}).get("DeliveryStreamName") or resource_name
        firehose_backends[account_id][region_name].delete_delivery_stream(name)


class Trail(CloudFormationModel):
    """AWS::CloudTrail::Trail: Ref is the trail's name, Arn its ARN; logging as IsLogging says,
    with its advanced event selectors."""

    __module__ = "moto.cloudtrail.models"

    def __init__(self, name: str, arn: str):
        self.name = name
        self.arn = arn

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudTrail::Trail"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "TrailName"

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name == "Arn":
            return self.arn
        raise KeyError(attribute_name)

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> "Trail":
        p = cloudformation_json.get("Properties", {})
        backend = cloudtrail_backends[account_id][region_name]
        trail = backend.create_trail(
            name=p.get("TrailName") or resource_name,
            bucket_name=p["S3BucketName"],
            s3_key_prefix=p.get("S3KeyPrefix"),
            sns_topic_name=p.get("SnsTopicName"),
            is_global=bool(p.get("IncludeGlobalServiceEvents", True)),
            is_multi_region=bool(p.get("IsMultiRegionTrail", False)),
            log_validation=bool(p.get("EnableLogFileValidation", False)),
            is_org_trail=bool(p.get("IsOrganizationTrail", False)),
            cw_log_group_arn=p.get("CloudWatchLogsLogGroupArn"),
            cw_role_arn=p.get("CloudWatchLogsRoleArn"),
            kms_key_id=p.get("KMSKeyId"),
            tags_list=p.get("Tags", []),
        )
        trail.put_event_selectors(p.get("EventSelectors"), p.get("AdvancedEventSelectors"))
        if p.get("IsLogging"):
            trail.start_logging()
        return cls(trail.trail_name, trail.arn)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        name = cloudformation_json.get("Properties", {}).get("TrailName") or resource_name
        cloudtrail_backends[account_id][region_name].delete_trail(name)


class FunctionUrl(CloudFormationModel):
    """AWS::Lambda::Url: Ref is the function's ARN; FunctionArn and FunctionUrl."""

    __module__ = "moto.awslambda.models"

    def __init__(self, function_arn: str, url: str):
        self.function_arn = function_arn
        self.url = url

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::Url"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @property
    def physical_resource_id(self) -> str:
        return self.function_arn

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("FunctionArn", "FunctionUrl")

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name == "FunctionArn":
            return self.function_arn
        if attribute_name == "FunctionUrl":
            return self.url
        raise KeyError(attribute_name)

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> "FunctionUrl":
        p = cloudformation_json.get("Properties", {})
        config = {k: p[k] for k in ("AuthType", "Cors", "InvokeMode") if k in p}
        url = lambda_backends[account_id][region_name].create_function_url_config(p["TargetFunctionArn"], config)
        return cls(url.function.function_arn, url.url)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        target = cloudformation_json.get("Properties", {}).get("TargetFunctionArn")
        lambda_backends[account_id][region_name].delete_function_url_config(target)


_execute_change_set = CloudFormationBackend.execute_change_set


def execute_change_set(self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None) -> None:
    _execute_change_set(self, change_set_name, stack_name)
    change_set = self.change_sets.get(change_set_name) or next(
        c for c in self.change_sets.values() if c.change_set_name == change_set_name
    )
    stack = self.stacks[change_set.stack_id]
    stack._parse_template()
    stack.output_map = stack._create_output_map()


CloudFormationBackend.execute_change_set = execute_change_set  # type: ignore[method-assign]


if __name__ == "__main__":
    main()
