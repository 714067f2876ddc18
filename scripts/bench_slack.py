#!/usr/bin/env python3
"""A burst of Slack slash commands against the `slack` function, run the way Lambda runs it.

As many `bootstrap` processes as the generated template reserves for the function (its
ReservedConcurrentExecutions) serve one local Lambda Runtime API on loopback; Secrets Manager
and Lambda's Invoke API are answered by a local fake. Once every instance waits for work, N
signed `/opslake analyze at TIME` requests (each its own trigger_id) arrive at once, as Function
URL events. Measured per request: arrival -> the function's response (its acknowledgement to
Slack; Slack gives up after 3 s). Counted: the worker invocations (asynchronous `Invoke`, one
per request, by job key), then the same burst again as Slack retries (`X-Slack-Retry-Num`),
which must start nothing.

Side by side, in the same run: the seeds' approach, a Python handler (Bolt for Python's
signature verifier from slack_sdk, boto3's Lambda client) under awslambdaric, same instances,
same burst.

Usage: bench_slack.py --artifacts DIR --spec SPEC --opslake BIN [--requests N] [--format text|json]
"""

import argparse
import hashlib
import hmac
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

from bench_lambda import FakeAws, RuntimeApiHandler, bootstrap_of, hand_out, function_url_event, generated_central, lambda_env, serve, template_env

SIGNING_SECRET = "bench-signing-secret-0123456789abcdef"
BOT_TOKEN = "xoxb-bench-token"
ACK_LIMIT_S = 3.0


class Fake(FakeAws):
    """Secrets Manager's GetSecretValue and Lambda's Invoke (recorded)."""

    invocations = []
    lock = threading.Lock()

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        if "/functions/" in self.path and self.path.endswith("/invocations"):
            if self.headers.get("X-Amz-Invocation-Type") != "Event":
                return self.reply(400, {"message": "not an asynchronous invocation"})
            with self.lock:
                self.invocations.append(json.loads(raw))
            return self.reply(202, "", "application/json")
        if self.headers.get("X-Amz-Target", "").endswith("GetSecretValue"):
            arn = json.loads(raw)["SecretId"]
            value = SIGNING_SECRET if "signing" in arn else BOT_TOKEN
            return self.reply(200, {"ARN": arn, "Name": arn.rsplit(":", 1)[-1], "SecretString": value})
        return self.reply(400, {"__type": "UnknownOperationException", "message": self.path})


def runtime_api():
    """A Runtime API for many instances: `next` takes the oldest queued event; responses are
    recorded by request id."""
    state = {"queue": queue.Queue(), "waiting": 0, "done": {}, "errors": [], "lock": threading.Lock(),
             "all_done": threading.Event(), "expected": 0}

    class Api(RuntimeApiHandler):
        def do_GET(self):
            if not self.wants_next():
                return
            with state["lock"]:
                state["waiting"] += 1
            rid, event = state["queue"].get()
            with state["lock"]:
                state["waiting"] -= 1
            hand_out(self, rid, event, 10)

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
            now = time.perf_counter()
            parts = self.path.split("/")
            with state["lock"]:
                if self.path.endswith("/response"):
                    state["done"][parts[-2]] = (now, raw)
                else:
                    state["errors"].append((self.path, raw.decode(errors="replace")[:500]))
                    if len(parts) > 2 and parts[-1] == "error":
                        state["done"][parts[-2]] = (now, raw)
                if len(state["done"]) >= state["expected"] > 0:
                    state["all_done"].set()
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return serve(Api), state


def slash_command(i, ts):
    form = urllib.parse.urlencode([
        ("token", "bench"), ("team_id", "T0001"), ("team_domain", "acme"), ("channel_id", "C0123456789"),
        ("channel_name", "ops"), ("user_id", "U0AB12CDE"), ("user_name", "oncall"), ("command", "/opslake"),
        ("text", "analyze at 2025-06-12T09:40:00Z"), ("api_app_id", "A0OPSLAKE1"),
        ("response_url", "https://hooks.slack.com/commands/T0001/1/x"),
        ("trigger_id", "bench.%d.%s" % (i, hashlib.sha1(str(i).encode()).hexdigest()[:16])),
    ])
    sig = "v0=" + hmac.new(SIGNING_SECRET.encode(), ("v0:%d:%s" % (ts, form)).encode(), hashlib.sha256).hexdigest()
    event = function_url_event({})
    event["body"] = form
    event["headers"] = {"content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": str(ts),
                        "x-slack-signature": sig, "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)"}
    return event


def burst(state, events):
    """Queues every event at once; (latencies in s, answers) once all are answered."""
    with state["lock"]:
        state["done"].clear()
        state["expected"] = len(events)
        state["all_done"].clear()
    ids = ["req-%d-%d" % (time.monotonic_ns(), i) for i in range(len(events))]
    t0 = time.perf_counter()
    for rid, e in zip(ids, events):
        state["queue"].put((rid, e))
    if not state["all_done"].wait(60):
        raise SystemExit("only %d of %d requests were answered within 60 s (instances waiting: %d, queued: %d, errors: %s)"
                         % (len(state["done"]), len(events), state["waiting"], state["queue"].qsize(), state["errors"][:3]))
    return [state["done"][rid][0] - t0 for rid in ids], [state["done"][rid][1] for rid in ids]


PY_HANDLER = """import json, os, time
from urllib.parse import parse_qs
import boto3
from slack_sdk.signature import SignatureVerifier

SECRETS = boto3.client("secretsmanager")
VERIFIER = SignatureVerifier(SECRETS.get_secret_value(SecretId=os.environ["OPSLAKE_SLACK_SIGNING_SECRET_ARN"])["SecretString"])
LAMBDA = boto3.client("lambda")

def handler(event, context):
    body = event.get("body") or ""
    if not VERIFIER.is_valid_request(body, event.get("headers") or {}):
        return {"statusCode": 401, "body": "{}"}
    if (event.get("headers") or {}).get("x-slack-retry-num"):
        return {"statusCode": 200, "headers": {"x-slack-no-retry": "1"}, "body": ""}
    form = {k: v[0] for k, v in parse_qs(body).items()}
    job = {"kind": "opslake.analyze/v1", "key": "slack:" + form["trigger_id"],
           "when": {"type": "at", "at": form["text"].split()[-1]},
           "reply": {"channel": form["channel_id"], "user": form["user_id"]}}
    LAMBDA.invoke(FunctionName=os.environ["OPSLAKE_WORKER"], InvocationType="Event", Payload=json.dumps(job))
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps({"response_type": "ephemeral", "text": "Analyzing; the answer will be posted in this channel."})}
"""


def run(name, cmd, env, instances, requests, cwd=None):
    server, state = runtime_api()
    env = dict(env, AWS_LAMBDA_RUNTIME_API="127.0.0.1:%d" % server.server_address[1])
    logs = [tempfile.TemporaryFile() for _ in range(instances)]
    procs = [subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=log) for log in logs]
    try:
        deadline = time.time() + 60
        while state["waiting"] < instances:
            if time.time() > deadline or any(p.poll() is not None for p in procs):
                errs = []
                for p, log in zip(procs, logs):
                    if p.poll() is not None:
                        log.seek(0)
                        errs.append(log.read().decode(errors="replace")[-1500:])
                raise SystemExit("%s: the instances did not start\n%s" % (name, "\n".join(errs)))
            time.sleep(0.02)
        Fake.invocations.clear()
        ts = int(time.time())
        events = [slash_command(i, ts) for i in range(requests)]
        latencies, answers = burst(state, events)
        acked = sum(1 for a in answers if json.loads(a).get("statusCode") == 200
                    and "Analyzing" in (json.loads(a).get("body") or ""))
        keys = [j["key"] for j in Fake.invocations]
        for e in events:
            e["headers"]["x-slack-retry-num"] = "1"
            e["headers"]["x-slack-retry-reason"] = "http_timeout"
        before = len(Fake.invocations)
        retry_latencies, _ = burst(state, events)
        lat = sorted(latencies)
        return {
            "handler": name,
            "instances": instances,
            "requests": requests,
            "acknowledged": acked,
            "within_3s": sum(1 for x in latencies if x <= ACK_LIMIT_S),
            "p50_ms": round(statistics.median(lat) * 1000, 1),
            "p95_ms": round(lat[int(0.95 * (len(lat) - 1))] * 1000, 1),
            "max_ms": round(lat[-1] * 1000, 1),
            "worker_invocations": len(keys),
            "distinct_jobs": len(set(keys)),
            "retries_started": len(Fake.invocations) - before,
            "retries_max_ms": round(max(retry_latencies) * 1000, 1),
            "errors": state["errors"][:3],
        }
    finally:
        for p in procs:
            p.kill()
            p.wait()
        for _ in procs:
            state["queue"].put(("stop", {}))
        server.shutdown()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--artifacts", required=True, help="cargo-lambda output dir (DIR/slack/bootstrap[.zip])")
    ap.add_argument("--spec", required=True)
    ap.add_argument("--opslake", required=True, help="the opslake binary (renders the function's environment)")
    ap.add_argument("--python", default=sys.executable, help="the Python with boto3, slack_sdk and awslambdaric")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--format", choices=["text", "json"], default="text")
    a = ap.parse_args()

    central = generated_central(a.opslake, a.spec)
    props = central["Resources"]["SlackFunction"]["Properties"]
    instances = int(props["ReservedConcurrentExecutions"])
    fake = serve(Fake)
    env = dict(lambda_env("http://127.0.0.1:%d" % fake.server_address[1]), **template_env(central, "SlackFunction"))
    env["OPSLAKE_WORKER"] = central["Resources"]["AnalyzeFunction"]["Properties"]["FunctionName"]
    env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(props["MemorySize"])
    results = [run("opslake slack (Rust)", [bootstrap_of(a.artifacts, "slack")], env, instances, a.requests)]
    handler_dir = tempfile.mkdtemp(prefix="opslake-bench-slack-py-")
    with open(os.path.join(handler_dir, "seed_slack.py"), "w") as f:
        f.write(PY_HANDLER)
    results.append(run("Python: slack_sdk verifier + boto3 (awslambdaric)",
                       [a.python, "-m", "awslambdaric", "seed_slack.handler"], env, instances, a.requests, cwd=handler_dir))
    if a.format == "json":
        print(json.dumps(results, indent=2))
    else:
        print("%d signed slash commands at once; %d instances (the template's reserved concurrency)" % (a.requests, instances))
        print("%-50s %6s %6s %8s %8s %8s %8s %8s" % ("handler", "acked", "<=3s", "p50 ms", "p95 ms", "max ms", "invokes", "retries"))
        for r in results:
            print("%-50s %6d %6d %8.1f %8.1f %8.1f %8d %8d" % (
                r["handler"], r["acknowledged"], r["within_3s"], r["p50_ms"], r["p95_ms"], r["max_ms"],
                r["distinct_jobs"], r["retries_started"]))
    ours = results[0]
    if (ours["acknowledged"], ours["within_3s"], ours["worker_invocations"], ours["distinct_jobs"], ours["retries_started"]) != (
            a.requests, a.requests, a.requests, a.requests, 0):
        raise SystemExit("the slack function missed the target: %s" % json.dumps(ours))


if __name__ == "__main__":
    main()
