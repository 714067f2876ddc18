//! Column lists of the lake's tables (Hive types, as Athena's DDL for each log format).

use super::Column;

fn cols(list: &[(&str, &str)]) -> Vec<Column> {
    list.iter().map(|(n, t)| Column { name: (*n).into(), ty: (*t).into() }).collect()
}

/// CloudTrail: the current Athena column list. `requestparameters`, `responseelements`,
/// `additionaleventdata` and `serviceeventdetails` are objects in the files but strings here
/// (read them with `json_extract`).
pub fn cloudtrail() -> Vec<Column> {
    cols(&[
        ("eventversion", "string"),
        (
            "useridentity",
            "struct<type:string,principalid:string,arn:string,accountid:string,invokedby:string,\
accesskeyid:string,username:string,onbehalfof:struct<userid:string,identitystorearn:string>,\
sessioncontext:struct<attributes:struct<mfaauthenticated:string,creationdate:string>,\
sessionissuer:struct<type:string,principalid:string,arn:string,accountid:string,username:string>,\
ec2roledelivery:string,webidfederationdata:struct<federatedprovider:string,attributes:map<string,string>>>>",
        ),
        ("eventtime", "string"),
        ("eventsource", "string"),
        ("eventname", "string"),
        ("awsregion", "string"),
        ("sourceipaddress", "string"),
        ("useragent", "string"),
        ("errorcode", "string"),
        ("errormessage", "string"),
        ("requestparameters", "string"),
        ("responseelements", "string"),
        ("additionaleventdata", "string"),
        ("requestid", "string"),
        ("eventid", "string"),
        ("readonly", "string"),
        ("resources", "array<struct<arn:string,accountid:string,type:string>>"),
        ("eventtype", "string"),
        ("apiversion", "string"),
        ("recipientaccountid", "string"),
        ("serviceeventdetails", "string"),
        ("sharedeventid", "string"),
        ("vpcendpointid", "string"),
        ("vpcendpointaccountid", "string"),
        ("eventcategory", "string"),
        ("addendum", "struct<reason:string,updatedfields:string,originalrequestid:string,originaleventid:string>"),
        ("sessioncredentialfromconsole", "string"),
        ("edgedevicedetails", "string"),
        ("tlsdetails", "struct<tlsversion:string,ciphersuite:string,clientprovidedhostheader:string>"),
    ])
}

/// AWS Config history files: `{"fileVersion": "1.0", "configurationItems": [...]}`.
/// `configuration` and `supplementaryconfiguration` vary by resource type: kept as JSON strings.
pub fn config() -> Vec<Column> {
    cols(&[
        ("fileversion", "string"),
        ("configsnapshotid", "string"),
        (
            "configurationitems",
            "array<struct<configurationitemversion:string,configurationitemcapturetime:string,\
configurationstateid:bigint,awsaccountid:string,configurationitemstatus:string,resourcetype:string,\
resourceid:string,resourcename:string,arn:string,awsregion:string,availabilityzone:string,\
configurationstatemd5hash:string,resourcecreationtime:string,configuration:string,\
supplementaryconfiguration:string,tags:map<string,string>,relatedevents:array<string>,\
relationships:array<struct<resourceid:string,resourcename:string,resourcetype:string,name:string>>>>",
        ),
    ])
}

/// CloudWatch Logs subscription records (one per line, as Firehose delivers them).
pub fn app_logs() -> Vec<Column> {
    cols(&[
        ("messagetype", "string"),
        ("owner", "string"),
        ("loggroup", "string"),
        ("logstream", "string"),
        ("subscriptionfilters", "array<string>"),
        ("logevents", "array<struct<id:string,timestamp:bigint,message:string>>"),
    ])
}

/// CloudWatch metric stream records, JSON output format (one per line). The record's `region`
/// is not a column: the table's `region` partition (its folder) says the same, and Athena
/// refuses a column named like a partition key.
pub fn metrics() -> Vec<Column> {
    cols(&[
        ("metric_stream_name", "string"),
        ("account_id", "string"),
        ("namespace", "string"),
        ("metric_name", "string"),
        ("dimensions", "map<string,string>"),
        ("timestamp", "bigint"),
        ("value", "struct<max:double,min:double,sum:double,count:double>"),
        ("unit", "string"),
    ])
}

/// ALB access-log fields, in log order.
pub const ALB_FIELDS: &[(&str, &str)] = &[
    ("type", "string"),
    ("time", "string"),
    ("elb", "string"),
    ("client_ip", "string"),
    ("client_port", "int"),
    ("target_ip", "string"),
    ("target_port", "int"),
    ("request_processing_time", "double"),
    ("target_processing_time", "double"),
    ("response_processing_time", "double"),
    ("elb_status_code", "int"),
    ("target_status_code", "string"),
    ("received_bytes", "bigint"),
    ("sent_bytes", "bigint"),
    ("request_verb", "string"),
    ("request_url", "string"),
    ("request_proto", "string"),
    ("user_agent", "string"),
    ("ssl_cipher", "string"),
    ("ssl_protocol", "string"),
    ("target_group_arn", "string"),
    ("trace_id", "string"),
    ("domain_name", "string"),
    ("chosen_cert_arn", "string"),
    ("matched_rule_priority", "string"),
    ("request_creation_time", "string"),
    ("actions_executed", "string"),
    ("redirect_url", "string"),
    ("lambda_error_reason", "string"),
    ("target_port_list", "string"),
    ("target_status_code_list", "string"),
    ("classification", "string"),
    ("classification_reason", "string"),
    ("conn_trace_id", "string"),
];

pub fn alb() -> Vec<Column> {
    cols(ALB_FIELDS)
}

/// RegexSerDe pattern for ALB lines: one capture group per column of [`ALB_FIELDS`].
/// Fields added to the format over the years (from `domain_name` on) are optional, so older
/// lines still parse (their newer columns are NULL), and the trailing non-capturing `(?: .*)?`
/// lets lines with fields added later still parse. Stored raw in the Glue table.
pub const ALB_REGEX: &str = concat!(
    r#"([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*):([0-9]*) ([^ ]*)[:-]([0-9]*) ([-.0-9]*) ([-.0-9]*) ([-.0-9]*) "#,
    r#"(|[-0-9]*) (-|[-0-9]*) ([-0-9]*) ([-0-9]*) "([^ ]*) (.*) (- |[^ ]*)" "([^"]*)" ([A-Z0-9-_]+) "#,
    r#"([A-Za-z0-9.-]*) ([^ ]*) "([^"]*)""#,
    r#"(?: "([^"]*)" "([^"]*)" ([-.0-9]*) ([^ ]*) "([^"]*)" "([^"]*)" "([^ ]*)""#,
    r#"(?: "([^\s]+?)" "([^\s]+)"(?: "([^ ]*)" "([^ ]*)"(?: ([^ ]*))?)?)?)?(?: .*)?"#,
);
