#!/usr/bin/env python3
"""Adds an incident day to the CloudTrail benchmark lake (bench_data.py) for `bench-analyze`.

On 2025-06-12 in account 100000000000, us-east-1: application logs of five log groups all day
(`--events-per-minute` events a minute, 0.5 % errors; from 14:00 to 14:20 four in ten of one
group's events are timeouts), ALB access lines (a tenth as many, 5xx from 14:00), one-minute
metric-stream points of 50 metrics, and a security-group rule revoked at 13:56 among the
replicated real CloudTrail of that day. Objects are written as Firehose and ALB deliver them
(one per five minutes), under OUT, which holds a symlink to the base lake's CloudTrail (the
change is written there, one small object).

usage: bench_incident.py --base DIR --out DIR --events-per-minute 500
"""

import argparse
import datetime as dt
import gzip
import json
import os
import random

ACCOUNT, REGION, ORG = "100000000000", "us-east-1", "o-benchmark01"
DAY = dt.date(2025, 6, 12)
ONSET, FIXED = dt.time(14, 0), dt.time(14, 20)
GROUPS = ["/aws/lambda/orders-api", "/aws/lambda/billing", "/ecs/web", "/ecs/worker", "/aws/lambda/auth"]


def ms(t):
    return int((t - dt.datetime(1970, 1, 1)).total_seconds() * 1000)


def write(out, key, lines):
    path = os.path.join(out, *key.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=1, mtime=0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="bench_data.py's output (its CloudTrail is linked)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--events-per-minute", type=int, default=500)
    a = ap.parse_args()
    rng = random.Random(20250612)
    lake = os.path.join(a.out, "bench-lake", "AWSLogs")
    os.makedirs(lake, exist_ok=True)
    link = os.path.join(lake, ORG)
    if not os.path.exists(link):
        os.symlink(os.path.abspath(os.path.join(a.base, "bench-lake", "AWSLogs", ORG)), link)
    start = dt.datetime.combine(DAY, dt.time(0, 0))
    n_logs = n_alb = n_points = 0
    for block in range(24 * 12):  # five-minute Firehose / ALB deliveries
        logs, alb, points = [], [], []
        for m in range(5):
            minute = start + dt.timedelta(minutes=block * 5 + m)
            failing = ONSET <= minute.time() < FIXED
            by_group = {g: [] for g in GROUPS}
            for i in range(a.events_per_minute):
                g = GROUPS[i % len(GROUPS)]
                t = minute + dt.timedelta(milliseconds=rng.randrange(60000))
                if failing and g == GROUPS[0] and rng.random() < 0.4:
                    msg = "ERROR connect ETIMEDOUT 10.0.%d.%d:5432 request %08x" % (rng.randrange(256), rng.randrange(256), rng.getrandbits(32))
                elif rng.random() < 0.005:
                    msg = "ERROR upstream returned 429 for order %d" % rng.randrange(10 ** 6)
                else:
                    msg = "INFO order %d accepted in %d ms by worker %d" % (rng.randrange(10 ** 6), rng.randrange(5, 200), rng.randrange(64))
                by_group[g].append({"id": "%056d" % (ms(t) * 10 ** 6 + i), "timestamp": ms(t), "message": msg})
            for g, events in by_group.items():
                logs.append(json.dumps({"messageType": "DATA_MESSAGE", "owner": ACCOUNT, "logGroup": g,
                                        "logStream": "stream-1", "subscriptionFilters": ["opslake"], "logEvents": events}))
                n_logs += len(events)
            for i in range(max(1, a.events_per_minute // 10)):
                t = minute + dt.timedelta(microseconds=rng.randrange(60 * 10 ** 6))
                status, target = (500, "500") if failing and rng.random() < 0.5 else (200, "200")
                alb.append('https %s app/web/0123456789abcdef 203.0.113.%d:%d 10.0.1.%d:80 0.000 %.3f 0.000 %d %s 120 900 "GET https://web.example.com:443/orders/%d?x=1 HTTP/1.1" "curl/8" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:%s:%s:targetgroup/web/0123456789abcdef "Root=1-%08x-%024x" "web.example.com" "arn:aws:acm:%s:%s:certificate/x" 0 %s "forward" "-" "-" "10.0.1.%d:80" "%s" "-" "-"'
                           % (t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), rng.randrange(256), rng.randrange(1024, 65535), rng.randrange(256),
                              5.0 if status == 500 else rng.uniform(0.01, 0.2), status, target, rng.randrange(1000),
                              REGION, ACCOUNT, rng.getrandbits(32), rng.getrandbits(96), REGION, ACCOUNT,
                              t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), rng.randrange(256), target))
                n_alb += 1
            for k in range(50):
                v = (40.0 if failing and k == 0 else 0.0) + rng.randrange(3)
                points.append(json.dumps({"metric_stream_name": "bench", "account_id": ACCOUNT, "region": REGION,
                                          "namespace": "AWS/ApplicationELB" if k < 10 else "AWS/Lambda",
                                          "metric_name": "M%d" % k, "dimensions": {"Name": "n%d" % (k % 7)},
                                          "timestamp": ms(minute), "value": {"max": v, "min": 0.0, "sum": v, "count": 1.0},
                                          "unit": "Count"}))
                n_points += 1
        end = start + dt.timedelta(minutes=block * 5 + 5, seconds=17)
        hour, stamp = end.strftime("%Y/%m/%d/%H"), end.strftime("%Y-%m-%d-%H-%M-%S")
        write(a.out, "bench-lake/AWSLogs/%s/CloudWatchLogs/%s/%s/bench-logs-1-%s-%06d.gz" % (ACCOUNT, REGION, hour, stamp, block), logs)
        write(a.out, "bench-lake/AWSLogs/%s/CloudWatchMetrics/%s/%s/bench-metrics-1-%s-%06d.gz" % (ACCOUNT, REGION, hour, stamp, block), points)
        write(a.out, "bench-alb/AWSLogs/%s/elasticloadbalancing/%s/%s/%s_elasticloadbalancing_%s_app.web.0123456789abcdef_%s_203.0.113.1_%06d.log.gz"
              % (ACCOUNT, REGION, end.strftime("%Y/%m/%d"), ACCOUNT, REGION, end.strftime("%Y%m%dT%H%MZ"), block), alb)
    # The change: a rule revoked four minutes before the onset, in its own delivery file.
    revoke = {"eventVersion": "1.09", "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::%s:assumed-role/NetworkAdmin/dave" % ACCOUNT,
                                                        "accountId": ACCOUNT},
              "eventTime": "2025-06-12T13:56:00Z", "eventSource": "ec2.amazonaws.com", "eventName": "RevokeSecurityGroupIngress",
              "awsRegion": REGION, "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2",
              "requestParameters": {"groupId": "sg-0bench0000000001"}, "responseElements": {"_return": True},
              "eventID": "bench-revoke-0001", "readOnly": False, "eventType": "AwsApiCall", "managementEvent": True,
              "recipientAccountId": ACCOUNT, "eventCategory": "Management"}
    # Through the link, into the base lake's trail (the same one small object at every scale).
    ct = "bench-lake/AWSLogs/%s/%s/CloudTrail/%s/2025/06/12/%s_CloudTrail_%s_20250612T1400Z_benchrevoke00001.json.gz" % (
        ORG, ACCOUNT, REGION, ACCOUNT, REGION)
    write(a.out, ct, [json.dumps({"Records": [revoke]})])
    with open(os.path.join(a.base, "bench.yaml")) as fh:
        spec = fh.read()
    spec += "sources: { alb: { buckets: { %s: bench-alb } } }\n" % REGION
    spec += ("features:\n  failure_analysis:\n    log_groups: [%s]\n    alarm_topics: [arn:aws:sns:%s:%s:alarms]\n"
             % (", ".join(GROUPS), REGION, ACCOUNT))
    with open(os.path.join(a.out, "bench.yaml"), "w") as fh:
        fh.write(spec)
    print("%d log events, %d ALB lines, %d metric points" % (n_logs, n_alb, n_points))


if __name__ == "__main__":
    main()
