#!/usr/bin/env python3
"""The seed's approach to leftovers, as a straightforward Python program: load every trail
file's JSON, keep create and delete events, pair them by resource id. The benchmark peer of
`opslake leftovers` (scripts/bench-leftovers); it prints the leftover count per type as JSON.

usage: leftovers_seed.py DIR FROM TO     (DIR holds the trail objects; FROM/TO: YYYY-MM-DD)
"""

import gzip
import json
import os
import sys

# (source, event) -> (type, "create"|"delete", where, path, lowercase)
CATALOGUE = {
    ("ec2.amazonaws.com", "RunInstances"): ("EC2 instance", "create", "responseElements", "instancesSet.items[].instanceId"),
    ("ec2.amazonaws.com", "TerminateInstances"): ("EC2 instance", "delete", "requestParameters", "instancesSet.items[].instanceId"),
    ("ec2.amazonaws.com", "CreateVolume"): ("EBS volume", "create", "responseElements", "volumeId"),
    ("ec2.amazonaws.com", "DeleteVolume"): ("EBS volume", "delete", "requestParameters", "volumeId"),
    ("ec2.amazonaws.com", "CreateImage"): ("AMI", "create", "responseElements", "imageId"),
    ("ec2.amazonaws.com", "CopyImage"): ("AMI", "create", "responseElements", "imageId"),
    ("ec2.amazonaws.com", "RegisterImage"): ("AMI", "create", "responseElements", "imageId"),
    ("ec2.amazonaws.com", "DeregisterImage"): ("AMI", "delete", "requestParameters", "imageId"),
    ("rds.amazonaws.com", "CreateDBInstance"): ("RDS instance", "create", "requestParameters", "dBInstanceIdentifier"),
    ("rds.amazonaws.com", "DeleteDBInstance"): ("RDS instance", "delete", "requestParameters", "dBInstanceIdentifier"),
}


def values(doc, path):
    cur = [doc]
    for seg in path.split("."):
        many = seg.endswith("[]")
        key = seg[:-2] if many else seg
        nxt = []
        for c in cur:
            if not isinstance(c, dict) or key not in c:
                continue
            v = c[key]
            if many:
                if isinstance(v, dict):
                    v = v.get("items", v.get("item", v))
                nxt.extend(v if isinstance(v, list) else [v])
            else:
                nxt.append(v)
        cur = nxt
    return [v for v in cur if isinstance(v, str) and v]


def main():
    root, start, end = sys.argv[1], sys.argv[2], sys.argv[3]
    end_ts = end + "T99"
    events = []
    for d, _, files in os.walk(root):
        if "/CloudTrail/" not in d + "/":
            continue
        for f in files:
            if not f.endswith(".json.gz"):
                continue
            # the trail's account is the folder before CloudTrail/ (old records lack recipientAccountId)
            account = d.split("/CloudTrail/")[0].rstrip("/").split("/")[-1]
            with gzip.open(os.path.join(d, f)) as fh:
                doc = json.load(fh)
            for r in doc.get("Records", []):
                r["_account"] = account
                key = (r.get("eventSource"), r.get("eventName"))
                if key in CATALOGUE and not r.get("errorCode") and start <= r.get("eventTime", "") < end_ts:
                    events.append(r)
    events.sort(key=lambda r: r.get("eventTime", ""))
    open_ = {}
    for r in events:
        rtype, action, where, path = CATALOGUE[(r["eventSource"], r["eventName"])]
        for rid in values(r.get(where) or {}, path):
            if rtype.startswith("RDS"):
                rid = rid.lower()
            k = (r["_account"], r.get("awsRegion"), r["eventSource"], rtype, rid)
            if action == "create":
                open_[k] = r
            else:
                open_.pop(k, None)
    counts = {}
    for k in open_:
        counts[k[3]] = counts.get(k[3], 0) + 1
    json.dump(dict(sorted(counts.items())), sys.stdout)
    print()


if __name__ == "__main__":
    main()
