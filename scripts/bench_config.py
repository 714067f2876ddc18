#!/usr/bin/env python3
"""Builds a Config history mirror for the change-summary benchmark: N configuration items in
the target month (2025-06) and a lighter baseline in the six months before, in the delivered
layout (unpadded month/day) of the spec it also writes (bench-config.yaml).

usage: bench_config.py --out DIR --items N
"""
import argparse, datetime as dt, gzip, json, os, random

ACCOUNTS = ["%012d" % (300000000000 + i) for i in range(20)]
REGIONS = ["us-east-1", "eu-west-1", "ap-northeast-1"]
TYPES = ["AWS::EC2::Instance", "AWS::EC2::SecurityGroup", "AWS::EC2::Volume", "AWS::Lambda::Function", "AWS::IAM::Role",
         "AWS::S3::Bucket", "AWS::RDS::DBInstance", "AWS::ECS::Service", "AWS::KMS::Key", "AWS::SNS::Topic",
         "AWS::DynamoDB::Table", "AWS::EKS::Cluster"]


def write_month(out, year, month, n, rng, bucket):
    per_file = 200
    days = 28
    for f in range(0, n, per_file):
        acct, region = ACCOUNTS[(f // per_file) % len(ACCOUNTS)], REGIONS[(f // per_file) % len(REGIONS)]
        day = 1 + (f // per_file) % days
        items = []
        for i in range(f, min(n, f + per_file)):
            t = TYPES[rng.randrange(len(TYPES))]
            items.append({
                "configurationItemVersion": "1.3", "configurationItemCaptureTime": "%04d-%02d-%02dT%02d:00:00.000Z" % (year, month, day, i % 24),
                "configurationStateId": i, "awsAccountId": acct, "configurationItemStatus": rng.choice(["OK"] * 18 + ["ResourceDiscovered", "ResourceDeleted"]),
                "resourceType": t, "resourceId": "r-%08d" % rng.randrange(20000), "resourceName": "res-%d" % rng.randrange(20000),
                "ARN": "arn:aws:x:%s:%s:r/%d" % (region, acct, i), "awsRegion": region, "availabilityZone": "Not Applicable",
                "tags": {}, "relatedEvents": [], "relationships": [], "configuration": {"n": i}, "supplementaryConfiguration": {},
            })
        key = "%s/AWSLogs/%s/Config/%s/%d/%d/%d/ConfigHistory/%s_Config_%s_ConfigHistory_X_%d.json.gz" % (bucket, acct, region, year, month, day, acct, region, f)
        path = os.path.join(out, *key.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(gzip.compress(json.dumps({"fileVersion": "1.0", "configurationItems": items}).encode(), mtime=0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--items", type=int, default=100000)
    a = ap.parse_args()
    rng = random.Random(7)
    bucket = "bench-config-lake"
    write_month(a.out, 2025, 6, a.items, rng, bucket)
    for m in range(1, 6):
        write_month(a.out, 2025, m, max(100, a.items // 10), rng, bucket)
    write_month(a.out, 2024, 12, max(100, a.items // 10), rng, bucket)
    with open(os.path.join(a.out, "bench-config.yaml"), "w") as fh:
        fh.write("name: benchcfg\nhome: { account: \"%s\", region: us-east-1 }\n" % ACCOUNTS[0])
        fh.write("accounts:\n" + "".join('  - { id: "%s" }\n' % x for x in ACCOUNTS))
        fh.write("regions: [%s]\nlake: { bucket: %s, projection: { start: 2024-06-01 } }\n" % (", ".join(REGIONS), bucket))


if __name__ == "__main__":
    main()
