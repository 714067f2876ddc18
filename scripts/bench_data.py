#!/usr/bin/env python3
"""Builds a CloudTrail benchmark lake by replicating the real shared trail files.

Each output object holds the records of `--files-per-object` real files (default 1: the
real files' own events-per-object distribution, 16.5 on average — CloudTrail writes a small
object per account, region and about 5 minutes; 8 gives about 120 KB uncompressed, a busy
account's delivery), rewritten per replica: the account id, the region, the day of eventTime
and a fresh eventID, so no two records are identical. Objects land in the organization-trail
layout of the spec this script also writes (bench.yaml).

usage: bench_data.py --shared ../shared/data/real --out DIR --gigabytes 1.0 [--files-per-object 1]
"""

import argparse
import datetime as dt
import gzip
import os
import re
import sys
import uuid

ACCOUNTS = ["%012d" % (100000000000 + i) for i in range(10)]
REGIONS = ["us-east-1", "eu-west-1", "ap-northeast-1", "sa-east-1"]
ORG = "o-benchmark01"
BUCKET = "bench-lake"
SOURCE_ACCOUNT = "974349055189"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--gigabytes", type=float, default=1.0)
    ap.add_argument("--files-per-object", type=int, default=1)
    a = ap.parse_args()

    src_dir = os.path.join(a.shared, "grycap_cloudtrail_tracker")
    paths = []
    for d, _, files in os.walk(src_dir):
        paths += [os.path.join(d, f) for f in files if f.endswith(".json.gz")]
    paths.sort()
    # The inner record lists of the real files, as text (no re-serialisation needed).
    bodies = []
    for p in paths:
        text = gzip.decompress(open(p, "rb").read()).decode()
        start, end = text.index("[") + 1, text.rindex("]")
        inner = text[start:end].strip()
        if inner:
            bodies.append(inner)
    k = max(1, a.files_per_object)
    chunks = [",".join(bodies[i:i + k]) for i in range(0, len(bodies), k)]

    target = int(a.gigabytes * 1e9)
    event_id = re.compile(r'"eventID":\s*"[^"]*"')
    event_day = re.compile(r'("eventTime":\s*")\d{4}-\d{2}-\d{2}')
    region_re = re.compile(r'("awsRegion":\s*")[a-z0-9-]+')
    written = files = 0
    n = 0
    start_day = dt.date(2025, 1, 1)
    rng = uuid.UUID(int=0x0B5E55ED)
    while written < target:
        chunk = chunks[n % len(chunks)]
        account = ACCOUNTS[(n // 7) % len(ACCOUNTS)]
        region = REGIONS[(n // 3) % len(REGIONS)]
        day = start_day + dt.timedelta(days=n % 365)
        counter = [0]

        def new_id(_m):
            counter[0] += 1
            return '"eventID":"%s"' % uuid.uuid5(rng, "%d-%d" % (n, counter[0]))

        body = chunk.replace(SOURCE_ACCOUNT, account)
        body = event_id.sub(new_id, body)
        body = event_day.sub(lambda m: m.group(1) + day.isoformat(), body)
        body = region_re.sub(lambda m: m.group(1) + region, body)
        data = ('{"Records":[' + body + "]}").encode()
        key = "%s/AWSLogs/%s/%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%sT%02d%02dZ_bench%011d.json.gz" % (
            BUCKET, ORG, account, region, day.strftime("%Y/%m/%d"), account, region,
            day.strftime("%Y%m%d"), (n // 12) % 24, (n * 5) % 60, n)
        path = os.path.join(a.out, *key.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(gzip.compress(data, compresslevel=6, mtime=0))
        written += len(data)
        files += 1
        n += 1
    with open(os.path.join(a.out, "bench.yaml"), "w") as fh:
        fh.write("name: bench\n")
        fh.write('home: { account: "%s", region: us-east-1 }\n' % ACCOUNTS[0])
        fh.write("organization: { id: %s, member_ous: [ou-ab12-cdef3456] }\n" % ORG)
        fh.write("accounts:\n" + "".join('  - { id: "%s" }\n' % acct for acct in ACCOUNTS))
        fh.write("regions: [%s]\n" % ", ".join(REGIONS))
        fh.write("lake: { bucket: %s, projection: { start: 2025-01-01 } }\n" % BUCKET)
    sys.stderr.write("wrote %d objects, %.2f GB uncompressed, under %s\n" % (files, written / 1e9, a.out))


if __name__ == "__main__":
    main()
