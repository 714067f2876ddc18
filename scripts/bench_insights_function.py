#!/usr/bin/env python3
"""The `insights` function's ingest, run the way Lambda runs it: events per second per GB-second.

One `bootstrap` process serves a local Lambda Runtime API on loopback and is handed SQS
batches of EventBridge `AWS API Call via CloudTrail` events one after another, as the event
source mapping delivers them (the template's batch size). Each event's detail is a real
CloudTrail record from the example mirror, re-timed to the last minutes and given its own
eventID. DynamoDB (the per-event claims, the window counters, the install time) is answered by
a local fake after a fixed delay per call: 0 ms shows the function's own cost, a few ms what
an in-region DynamoDB adds (its latency is single-digit milliseconds).

Measured per batch: the hand-out -> the function's response. Reported: the median warm batch,
events per second, peak RSS, and events per GB-second at the template's MemorySize (what
Lambda bills: duration x configured memory).

Side by side, in the same run: the same work in Python (boto3, one conditional PutItem per
event, one UpdateItem per window, the same log lines) under awslambdaric.

Usage: bench_insights_function.py --artifacts DIR --spec SPEC --opslake BIN [--batches N]
       [--latency-ms MS ...] [--format text|json]
"""

import argparse
import datetime
import gzip
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from bench_lambda import FakeAws, RuntimeApiHandler, bootstrap_of, generated_central, hand_out, lambda_env, peak_rss_kb, serve, template_env


class Fake(FakeAws):
    """DynamoDB, answered after `latency` seconds: every claim is won, every update taken."""

    # Keep-alive, as DynamoDB's endpoint does: the clients reuse their connections.
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    latency = 0.0
    calls = 0
    lock = threading.Lock()

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        op = self.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
        with self.lock:
            Fake.calls += 1
        if self.latency:
            time.sleep(self.latency)
        if op in ("PutItem", "UpdateItem", "DeleteItem"):
            return self.reply(200, {}, "application/x-amz-json-1.0")
        if op == "GetItem":
            # The install time: now, so the learning day has not passed (no first uses).
            return self.reply(200, {"Item": {"pk": {"S": "meta#installed"}, "at": {"N": str(int(time.time()))}}},
                              "application/x-amz-json-1.0")
        return self.reply(400, {"__type": "UnknownOperationException", "message": op or self.path})


def records(root):
    """The example mirror's CloudTrail records."""
    out = []
    for dirpath, _, files in os.walk(root):
        for name in sorted(files):
            if "/CloudTrail/" in dirpath + "/" and name.endswith(".json.gz"):
                with gzip.open(os.path.join(dirpath, name), "rt") as f:
                    out.extend(json.load(f)["Records"])
    return out


def batches(recs, n, size):
    """`n` SQS batches of `size` EventBridge events, timed within the last minutes."""
    now = datetime.datetime.now(datetime.timezone.utc)
    out, k = [], 0
    for b in range(n):
        msgs = []
        for i in range(size):
            r = dict(recs[k % len(recs)])
            t = now - datetime.timedelta(seconds=120 - (k % 100))
            r["eventTime"] = t.strftime("%Y-%m-%dT%H:%M:%SZ")
            r["eventID"] = "bench-%d" % k
            kind = "AWS Console Signin via CloudTrail" if r.get("eventName") == "ConsoleLogin" else "AWS API Call via CloudTrail"
            ev = {"version": "0", "id": "eb-%d" % k, "detail-type": kind,
                  "source": "aws." + r.get("eventSource", "x").split(".")[0], "account": r.get("recipientAccountId", "111111111111"),
                  "time": r["eventTime"], "region": r.get("awsRegion", "us-east-1"), "resources": [], "detail": r}
            msgs.append({"messageId": "m-%d" % k, "receiptHandle": "rh-%d" % k, "body": json.dumps(ev), "attributes": {},
                         "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                         "eventSourceARN": "arn:aws:sqs:ap-northeast-1:111111111111:bench", "awsRegion": "ap-northeast-1"})
            k += 1
        out.append({"Records": msgs})
    return out


PY_HANDLER = """import json, os, time, datetime
import boto3
from botocore.exceptions import ClientError

DDB = boto3.client("dynamodb")
TABLE = os.environ["OPSLAKE_INSIGHTS_TABLE"]
NS = os.environ["OPSLAKE_METRICS_NAMESPACE"]
LATENESS = 900

def handler(event, context):
    now = int(time.time())
    windows, failures = {}, []
    for m in event["Records"]:
        try:
            e = json.loads(m["body"])
            d = e["detail"]
            t = int(datetime.datetime.strptime(d["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp())
        except (ValueError, KeyError):
            continue
        if t < now - LATENESS:
            continue
        try:
            DDB.put_item(TableName=TABLE, Item={"pk": {"S": "event#" + d["eventID"]}, "claimed_at": {"N": str(now)},
                         "expires_at": {"N": str(now + 2 * LATENESS)}}, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as x:
            if x.response["Error"]["Code"] == "ConditionalCheckFailedException":
                continue
            failures.append({"itemIdentifier": m["messageId"]})
            continue
        err = d.get("errorCode")
        ui = d.get("userIdentity") or {}
        w = windows.setdefault(t // 10 * 10, {"total": 0, "errors": 0, "denied": 0, "signin_failures": 0, "root": 0})
        w["total"] += 1
        w["errors"] += 1 if err else 0
        w["denied"] += 1 if err and "AccessDenied" in err else 0
        w["root"] += 1 if ui.get("type") == "Root" else 0
        w["signin_failures"] += 1 if (d.get("responseElements") or {}).get("ConsoleLogin") == "Failure" else 0
        print(json.dumps({"insight": "call", "account": e.get("account"), "api": d.get("eventSource", "").split(".")[0] + ":" + d.get("eventName", ""),
                          "principal": ui.get("arn") or ui.get("invokedBy"), "ip": d.get("sourceIPAddress"), "error": err}))
    for start, w in windows.items():
        DDB.update_item(TableName=TABLE, Key={"pk": {"S": "window#%d" % start}},
                        UpdateExpression="ADD #t :t, #e :e, #d :d, #s :s, #r :r SET #x = :x",
                        ExpressionAttributeNames={"#t": "total", "#e": "errors", "#d": "denied", "#s": "signin_failures", "#r": "root", "#x": "expires_at"},
                        ExpressionAttributeValues={":t": {"N": str(w["total"])}, ":e": {"N": str(w["errors"])}, ":d": {"N": str(w["denied"])},
                                                   ":s": {"N": str(w["signin_failures"])}, ":r": {"N": str(w["root"])}, ":x": {"N": str(start + 172800)}})
        print(json.dumps({"_aws": {"Timestamp": start * 1000, "CloudWatchMetrics": [{"Namespace": NS, "Dimensions": [[]],
                          "Metrics": [{"Name": "Calls", "Unit": "Count"}]}]}, "Calls": w["total"]}))
    return {"batchItemFailures": failures}
"""


def run(name, cmd, env, events, cwd=None):
    """Hands out each batch in turn; (durations in s, peak RSS in KB, responses)."""
    jobs, done = queue.Queue(), queue.Queue()

    class Api(RuntimeApiHandler):
        def do_GET(self):
            if not self.wants_next():
                return
            rid, event = jobs.get()
            if rid is None:
                self.send_error(410)
                return
            done.put(("start", rid, time.perf_counter(), None))
            hand_out(self, rid, event, 60)

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
            ok = self.path.endswith("/response")
            done.put(("end" if ok else "error", self.path.split("/")[-2], time.perf_counter(), raw))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = serve(Api)
    env = dict(env, AWS_LAMBDA_RUNTIME_API="127.0.0.1:%d" % server.server_address[1])
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=log)
    durations, answers = [], []
    try:
        for i, event in enumerate(events):
            jobs.put(("b%d" % i, event))
            started = None
            while True:
                try:
                    kind, _, at, raw = done.get(timeout=120)
                except queue.Empty:
                    log.seek(0)
                    raise SystemExit("%s: batch %d not answered within 120 s\n%s" % (name, i, log.read().decode(errors="replace")[-2000:]))
                if kind == "start":
                    started = at
                elif kind == "error":
                    raise SystemExit("%s: batch %d failed: %s" % (name, i, raw.decode(errors="replace")[:1000]))
                else:
                    durations.append(at - started)
                    answers.append(json.loads(raw))
                    break
        rss = peak_rss_kb(proc.pid)
    finally:
        proc.kill()
        proc.wait()
        jobs.put((None, None))
        server.shutdown()
    return durations, rss, answers


def summary(name, latency_ms, durations, rss, size, memory_mb):
    warm = durations[1:]  # the first batch pays the cold start's connections
    median = statistics.median(warm)
    per_s = size / median
    return {"handler": name, "dynamodb_latency_ms": latency_ms, "batch_size": size, "batches": len(durations),
            "median_batch_ms": round(median * 1000, 1), "events_per_s": round(per_s),
            "events_per_gb_s": round(per_s / (memory_mb / 1024)), "memory_mb": memory_mb, "rss_mb": round(rss / 1024, 1)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--artifacts", required=True, help="cargo-lambda output dir (DIR/insights/bootstrap[.zip])")
    ap.add_argument("--spec", required=True)
    ap.add_argument("--opslake", required=True, help="the opslake binary (renders the function's environment)")
    ap.add_argument("--logs", default="examples/logs", help="a mirror with CloudTrail files")
    ap.add_argument("--python", default=sys.executable, help="the Python with boto3 and awslambdaric")
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 5.0])
    ap.add_argument("--format", choices=["text", "json"], default="text")
    a = ap.parse_args()

    central = generated_central(a.opslake, a.spec)
    props = central["Resources"]["InsightsFunction"]["Properties"]
    memory = int(props["MemorySize"])
    size = int(central["Resources"]["InsightsEventSource"]["Properties"]["BatchSize"])
    recs = records(a.logs)
    fake = serve(Fake)
    env = dict(lambda_env("http://127.0.0.1:%d" % fake.server_address[1]), **template_env(central, "InsightsFunction"))
    env.pop("OPSLAKE_SLACK_BOT_TOKEN_ARN", None)  # alerts are not part of ingest's cost
    env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(memory)
    handler_dir = tempfile.mkdtemp(prefix="opslake-bench-insights-py-")
    with open(os.path.join(handler_dir, "seed_insights.py"), "w") as f:
        f.write(PY_HANDLER)
    handlers = [("opslake insights (Rust)", [bootstrap_of(a.artifacts, "insights")], None),
                ("Python + boto3 (awslambdaric)", [a.python, "-m", "awslambdaric", "seed_insights.handler"], handler_dir)]
    results = []
    for latency in a.latency_ms:
        Fake.latency = latency / 1000
        for name, cmd, cwd in handlers:
            events = batches(recs, a.batches, size)
            before = Fake.calls
            durations, rss, answers = run(name, cmd, env, events, cwd=cwd)
            failures = sum(len(x.get("batchItemFailures") or []) for x in answers)
            if failures:
                raise SystemExit("%s reported %d failed messages" % (name, failures))
            r = summary(name, latency, durations, rss, size, memory)
            r["dynamodb_calls"] = Fake.calls - before
            results.append(r)
    if a.format == "json":
        print(json.dumps(results, indent=2))
        return
    print("%d batches of %d events each (the template's batch size), one instance; MemorySize %d MB" % (a.batches, size, memory))
    print("%-32s %8s %10s %10s %12s %8s %10s" % ("handler", "DDB ms", "batch ms", "events/s", "events/GB-s", "RSS MB", "DDB calls"))
    for r in results:
        print("%-32s %8.0f %10.1f %10d %12d %8.1f %10d" % (r["handler"], r["dynamodb_latency_ms"], r["median_batch_ms"],
              r["events_per_s"], r["events_per_gb_s"], r["rss_mb"], r["dynamodb_calls"]))


if __name__ == "__main__":
    main()
