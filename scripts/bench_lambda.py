#!/usr/bin/env python3
"""Cold starts of the Lambda functions, measured the way Lambda starts them.

Each function's `bootstrap` is exec'd against a small Lambda Runtime API server on loopback
(`/2018-06-01/runtime/invocation/next`, `/response`, `/error`, `/init/error`), with Athena,
Bedrock and SNS answered by a local fake that speaks their protocols. Timed: exec -> the
first `next` (init), and the first invocation (the canned event handed out) -> its response;
then the process's peak RSS (VmHWM). Side by side, in the same run: the seeds' approach, a
Python handler that creates the same boto3 clients at import, run by `awslambdaric` under the
same Runtime API (init only: its handler does nothing).

Usage: bench_lambda.py --artifacts DIR --spec SPEC --opslake BIN [--runs N] [--format text|json]
DIR holds the cargo-lambda output: DIR/<function>/bootstrap (run) and the zips to size.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

FUNCTIONS = {
    # function: (template resource, canned event, the boto3 clients the seeds' handler creates)
    "query": ("QueryFunction", "url", ["athena"]),
    "change-summary": ("ChangeSummaryFunction", "url", ["athena", "bedrock-runtime", "secretsmanager"]),
    "leftovers": ("LeftoversFunction", "schedule", ["athena", "cloudtrail", "sns"]),
    "ask": ("AskFunction", "url", ["athena", "bedrock-runtime", "secretsmanager"]),
}

URL_BODIES = {
    "query": {"name": "event-counts", "params": {"from": "2025-03-01", "to": "2025-03-31"}},
    "change-summary": {"target_year": "2025", "target_month": "6"},
    "ask": {"question": "How many API calls were made in March 2025?"},
}


def function_url_event(body):
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": "111111111111",
            "apiId": "bench",
            "domainName": "bench.lambda-url.ap-northeast-1.on.aws",
            "domainPrefix": "bench",
            "http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
            "requestId": "bench-request",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Dec/2026:00:00:00 +0000",
            "timeEpoch": 1764547200000,
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


SCHEDULE_EVENT = {
    "version": "0",
    "id": "bench",
    "detail-type": "Scheduled Event",
    "source": "aws.scheduler",
    "account": "111111111111",
    "time": "2026-12-01T00:00:00Z",
    "region": "ap-northeast-1",
    "resources": [],
    "detail": {},
}


# --- the fake AWS endpoint -----------------------------------------------------------------

ATHENA_COLUMNS = {
    # a query's columns by a word its SQL contains (first match wins)
    "recordcount": [("resourcetype", "varchar"), ("resourcename", "varchar"), ("awsaccountid", "varchar"),
                    ("awsregion", "varchar"), ("year", "integer"), ("month", "integer"), ("recordcount", "bigint")],
    "capturetime": [("resourcetype", "varchar"), ("resourceid", "varchar"), ("resourcename", "varchar"),
                    ("awsaccountid", "varchar"), ("awsregion", "varchar"), ("status", "varchar"), ("capturetime", "varchar")],
    "requestparameters": [(c, "varchar") for c in ["eventtime", "eventsource", "eventname", "account", "awsregion", "eventid",
                                                   "arn", "invokedby", "errorcode", "requestparameters", "responseelements"]],
    "": [("eventsource", "varchar"), ("eventname", "varchar"), ("calls", "bigint"), ("errors", "bigint")],
}

ATHENA_ROWS = {
    "recordcount": [["AWS::EC2::Instance", "web", "111111111111", "ap-northeast-1", "2025", "6", "4"]],
    "capturetime": [],
    "requestparameters": [["2025-11-03T09:00:00Z", "ec2.amazonaws.com", "RunInstances", "111111111111", "ap-northeast-1", "e1",
                           "arn:aws:iam::111111111111:user/alice", None, None, "{}",
                           json.dumps({"instancesSet": {"items": [{"instanceId": "i-abc"}]}})]],
    "": [["ec2.amazonaws.com", "RunInstances", "3", "0"]],
}


class FakeAws(BaseHTTPRequestHandler):
    queries = {}
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="application/x-amz-json-1.1"):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        target = self.headers.get("X-Amz-Target", "")
        op = target.rsplit(".", 1)[-1]
        if self.path.endswith("/converse"):
            return self.reply(200, {"output": {"message": {"role": "assistant", "content": [{"text": "Narrative."}]}},
                                    "stopReason": "end_turn", "usage": {"inputTokens": 9, "outputTokens": 1, "totalTokens": 10},
                                    "metrics": {"latencyMs": 1}}, "application/json")
        if not target:
            form = urllib.parse.parse_qs(raw.decode())
            if form.get("Action") == ["Publish"]:
                return self.reply(200, '<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult>'
                                       '<MessageId>bench-message</MessageId></PublishResult><ResponseMetadata><RequestId>r'
                                       '</RequestId></ResponseMetadata></PublishResponse>', "text/xml")
            return self.reply(400, {"__type": "UnknownOperationException", "message": self.path})
        body = json.loads(raw or b"{}")
        if op == "StartQueryExecution":
            with self.lock:
                qid = "q-%d" % (len(self.queries) + 1)
                self.queries[qid] = body.get("QueryString", "")
            return self.reply(200, {"QueryExecutionId": qid})
        if op == "GetQueryExecution":
            return self.reply(200, {"QueryExecution": {"QueryExecutionId": body["QueryExecutionId"],
                                                       "Status": {"State": "SUCCEEDED"},
                                                       "Statistics": {"DataScannedInBytes": 1000}}})
        if op == "GetQueryResults":
            sql = self.queries.get(body["QueryExecutionId"], "")
            key = next(k for k in ATHENA_COLUMNS if k in sql)
            cols = ATHENA_COLUMNS[key]
            rows = [{"Data": [{"VarCharValue": n} for n, _ in cols]}]
            rows += [{"Data": [{"VarCharValue": v} if v is not None else {} for v in r]} for r in ATHENA_ROWS[key]]
            return self.reply(200, {"ResultSet": {"Rows": rows, "ResultSetMetadata": {
                "ColumnInfo": [{"Name": n, "Type": t} for n, t in cols]}}})
        return self.reply(400, {"__type": "UnknownOperationException", "message": op})


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog is 5: a burst of connections beyond it waits for a TCP
    # retransmission (a second), which would be measured as the function's latency.
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        pass  # a killed process leaves its held `next` call with nobody to answer to


def serve(handler):
    server = QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --- the Lambda Runtime API ----------------------------------------------------------------

class RuntimeApiHandler(BaseHTTPRequestHandler):
    """A Runtime API request; `wants_next` answers 404 to anything but `…/invocation/next`."""

    def log_message(self, *args):
        pass

    def wants_next(self):
        if self.path.endswith("/runtime/invocation/next"):
            return True
        self.send_error(404)
        return False


def hand_out(handler, request_id, event, timeout_s):
    """Answers a `GET …/runtime/invocation/next` with `event`, as the Runtime API does."""
    data = json.dumps(event).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
    handler.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + timeout_s * 1000))
    handler.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:ap-northeast-1:111111111111:function:bench")
    handler.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def runtime_api(event):
    """A Runtime API that hands out `event` once and records when each step happened."""
    state = {"next": None, "response": None, "error": None, "body": None,
             "done": threading.Event(), "release": threading.Event()}

    class Api(RuntimeApiHandler):
        def do_GET(self):
            if not self.wants_next():
                return
            if state["next"] is not None:
                # Lambda freezes the process here; hold the call until it has been measured.
                state["release"].wait(30)
                self.send_error(410)
                return
            state["next"] = time.perf_counter()
            hand_out(self, "bench-request", event, 300)

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
            if self.path.endswith("/response"):
                state["response"], state["body"] = time.perf_counter(), raw
            else:
                state["error"] = (self.path, raw.decode(errors="replace"))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            state["done"].set()

    return serve(Api), state


def peak_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        m = re.search(r"VmHWM:\s+(\d+) kB", f.read())
    return int(m.group(1)) if m else 0


def start(cmd, env, event, cwd=None):
    """One cold start: (init_ms, first_invoke_ms, rss_kb, response body)."""
    server, state = runtime_api(event)
    env = dict(env, AWS_LAMBDA_RUNTIME_API="127.0.0.1:%d" % server.server_address[1])
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not state["done"].wait(60):
            raise SystemExit("%s: no answer within 60 s" % cmd[0])
        time.sleep(0.05)  # let the next `next` arrive: the process is idle, as Lambda freezes it
        rss = peak_rss_kb(proc.pid)
    finally:
        proc.kill()
        state["release"].set()
        err = proc.communicate()[1].decode(errors="replace")
        state["done"].set()
        server.shutdown()
    if state["error"]:
        raise SystemExit("%s reported an error %s: %s\n%s" % (cmd[0], state["error"][0], state["error"][1], err[-2000:]))
    init = (state["next"] - t0) * 1000
    invoke = (state["response"] - state["next"]) * 1000
    return init, invoke, rss, state["body"]


def lambda_env(endpoint):
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": "ap-northeast-1",
        "AWS_DEFAULT_REGION": "ap-northeast-1",
        "AWS_ACCESS_KEY_ID": "AKIABENCH0000000000",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/nonexistent/opslake-bench",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/opslake-bench",
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
    }


def template_env(central, resource):
    """The function's environment as the generated template sets it (a Ref resolved to an ARN)."""
    out = {}
    for k, v in central["Resources"][resource]["Properties"]["Environment"]["Variables"].items():
        out[k] = v if isinstance(v, str) else "arn:aws:sns:ap-northeast-1:111111111111:%s" % v["Ref"]
    return out


def generated_central(opslake, spec):
    """The central template `opslake generate` writes for `spec`, parsed."""
    out = tempfile.mkdtemp(prefix="opslake-bench-generate-")
    subprocess.run([opslake, "generate", spec, "--out", out], check=True, capture_output=True)
    with open(os.path.join(out, "central.yaml")) as f:
        return yaml.safe_load(f)


def bootstrap_of(artifacts, fn):
    """The function's `bootstrap` in a cargo-lambda output dir (unpacked from its zip when only
    the zip is there: what it holds is what Lambda runs)."""
    bootstrap = os.path.join(artifacts, fn, "bootstrap")
    if not os.path.exists(bootstrap):
        unpacked = tempfile.mkdtemp(prefix="opslake-bench-%s-" % fn)
        with zipfile.ZipFile(os.path.join(artifacts, fn, "bootstrap.zip")) as z:
            z.extractall(unpacked)
        bootstrap = os.path.join(unpacked, "bootstrap")
        os.chmod(bootstrap, 0o755)
    return bootstrap


PY_HANDLER = """import boto3
CLIENTS = [boto3.client(name) for name in {clients!r}]

def handler(event, context):
    return {{"statusCode": 200, "body": "{{}}"}}
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--artifacts", required=True, help="cargo-lambda output dir (DIR/FUNCTION/bootstrap)")
    ap.add_argument("--zips", help="another cargo-lambda output dir whose zips are sized too (arm64)")
    ap.add_argument("--spec", required=True)
    ap.add_argument("--opslake", required=True, help="the opslake binary (renders the function environment)")
    ap.add_argument("--python", default=sys.executable, help="the Python with boto3 and awslambdaric")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--format", choices=["text", "json"], default="text")
    a = ap.parse_args()

    central = generated_central(a.opslake, a.spec)
    fake = serve(FakeAws)
    endpoint = "http://127.0.0.1:%d" % fake.server_address[1]
    results = []
    for fn, (resource, kind, clients) in FUNCTIONS.items():
        event = function_url_event(URL_BODIES[fn]) if kind == "url" else SCHEDULE_EVENT
        env = dict(lambda_env(endpoint), **template_env(central, resource))
        bootstrap = bootstrap_of(a.artifacts, fn)
        runs = [start([bootstrap], env, event) for _ in range(a.runs)]
        body = json.loads(runs[0][3])
        ok = body.get("statusCode", 200) == 200 if kind == "url" else body.get("status") == "SUCCEEDED"
        if not ok:
            raise SystemExit("%s answered %s" % (fn, runs[0][3][:500]))
        handler_dir = tempfile.mkdtemp(prefix="opslake-bench-py-")
        with open(os.path.join(handler_dir, "seed_handler.py"), "w") as f:
            f.write(PY_HANDLER.format(clients=clients))
        py = [start([a.python, "-m", "awslambdaric", "seed_handler.handler"], env, event, cwd=handler_dir)
              for _ in range(a.runs)]
        zip_of = lambda d: os.path.getsize(os.path.join(d, fn, "bootstrap.zip"))
        results.append({
            "function": fn,
            "zip_bytes": zip_of(a.zips or a.artifacts),
            "zip_bytes_run": zip_of(a.artifacts),
            "init_ms": round(statistics.median(r[0] for r in runs), 1),
            "first_invoke_ms": round(statistics.median(r[1] for r in runs), 1),
            "rss_kb": int(statistics.median(r[2] for r in runs)),
            "python_init_ms": round(statistics.median(r[0] for r in py), 1),
            "python_rss_kb": int(statistics.median(r[2] for r in py)),
        })
    fake.shutdown()
    if a.format == "json":
        print(json.dumps(results, indent=2))
        return
    print("%-15s %10s %9s %14s %8s %15s %10s" % ("function", "zip", "init", "first invoke", "RSS", "Python init", "Python RSS"))
    for r in results:
        print("%-15s %8.1f MB %6.1f ms %11.1f ms %5.1f MB %12.1f ms %7.1f MB" % (
            r["function"], r["zip_bytes"] / 1e6, r["init_ms"], r["first_invoke_ms"], r["rss_kb"] / 1024,
            r["python_init_ms"], r["python_rss_kb"] / 1024))
    print("(medians of %d cold starts each; the Rust functions' first invocation includes their Athena "
          "and model calls to the local fake)" % a.runs)


if __name__ == "__main__":
    main()
