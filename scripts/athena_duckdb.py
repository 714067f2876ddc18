#!/usr/bin/env python3
"""Runs Athena SQL in DuckDB over a local mirror of the log buckets.

An independent stand-in for Athena, used by the tests to check the local engine: it reads
the Glue table definitions opslake renders (columns, SerDe, location template, projection),
finds the objects with its own reading of partition projection, loads them the way the
table's SerDe would (JSON keys case-insensitive, nested payloads as JSON text, ALB lines
through the table's regex), transpiles the SQL with sqlglot (read="athena", write="duckdb")
and prints the result as JSON: {"columns": [...], "rows": [[...], ...]}.

usage: athena_duckdb.py --mirror DIR --tables TABLES.json --sql SQL.sql --today YYYY-MM-DD
"""

import argparse
import datetime as dt
import gzip
import json
import os
import re
import sys
import tempfile

import duckdb
import sqlglot


# --- Hive types -> DuckDB types, and values shaped to them -------------------------------

def split_top(s, sep=","):
    """Splits on `sep` outside <...>."""
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        if ch == sep and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        out.append(cur)
    return out


def parse_type(t):
    t = t.strip()
    low = t.lower()
    if low.startswith("struct<"):
        fields = []
        for f in split_top(t[7:-1]):
            name, ftype = f.split(":", 1)
            fields.append((name.strip().lower(), parse_type(ftype)))
        return ("struct", fields)
    if low.startswith("array<"):
        return ("array", parse_type(t[6:-1]))
    if low.startswith("map<"):
        return ("map", None)
    return (low, None)


def duck_type(pt):
    kind, arg = pt
    if kind == "struct":
        return "STRUCT(" + ", ".join(f'"{n}" {duck_type(ft)}' for n, ft in arg) + ")"
    if kind == "array":
        return duck_type(arg) + "[]"
    return {"string": "VARCHAR", "int": "INTEGER", "bigint": "BIGINT", "double": "DOUBLE", "boolean": "BOOLEAN",
            "map": "MAP(VARCHAR, VARCHAR)"}[kind]


def ci(d):
    """A mapping's keys matched case-insensitively (as the JSON SerDes do); nested values
    stay as written, so JSON kept in string columns keeps its keys' case."""
    return {k.lower(): v for k, v in d.items()}


def shape(value, pt):
    """Shapes a JSON value to a Hive type, as the JSON SerDes do."""
    kind, arg = pt
    if value is None:
        return None
    if kind == "struct":
        if not isinstance(value, dict):
            return None
        value = ci(value)
        return {n: shape(value.get(n), ft) for n, ft in arg}
    if kind == "array":
        if not isinstance(value, list):
            return None
        return [shape(x, arg) for x in value]
    if kind == "map":  # map<string,string>: keys as written, scalar values as text
        if not isinstance(value, dict):
            return None
        return {str(k): shape(v, ("string", None)) for k, v in value.items()}
    if kind == "string":
        if isinstance(value, (dict, list)):
            return json.dumps(value, separators=(",", ":"))
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)
    if kind in ("int", "bigint"):
        try:
            return int(value)
        except (TypeError, ValueError):
            return None
    if kind == "double":
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    return value


# --- partition projection, read from the table parameters ----------------------------------

JAVA_DATE = {"yyyy": (r"\d{4}", "%Y"), "MM": (r"\d{2}", "%m"), "dd": (r"\d{2}", "%d")}


def date_regex(fmt):
    out, i = "", 0
    while i < len(fmt):
        for tok, (rx, _) in JAVA_DATE.items():
            if fmt.startswith(tok, i):
                out += rx
                i += len(tok)
                break
        else:
            if fmt[i] in "Md":
                out += r"\d{1,2}"
            else:
                out += re.escape(fmt[i])
            i += 1
    return out


def parse_java_date(s, fmt):
    parts = re.fullmatch(date_regex(fmt).replace(r"\d{4}", r"(\d{4})").replace(r"\d{2}", r"(\d{2})").replace(r"\d{1,2}", r"(\d{1,2})"), s)
    if not parts:
        return None
    y, m, d = (int(x) for x in parts.groups())
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def bound(s, fmt, today):
    s = s.strip()
    if s == "NOW":
        return today
    m = re.fullmatch(r"NOW([+-])(\d+)(YEARS?|MONTHS?|WEEKS?|DAYS?)", s)
    if m:
        n = int(m.group(2)) * (1 if m.group(1) == "+" else -1)
        unit = m.group(3).rstrip("S")
        if unit == "DAY":
            return today + dt.timedelta(days=n)
        if unit == "WEEK":
            return today + dt.timedelta(weeks=n)
        months = n * (12 if unit == "YEAR" else 1)
        y, mo = divmod(today.month - 1 + months, 12)
        return today.replace(year=today.year + y, month=mo + 1)
    return parse_java_date(s, fmt)


def column_matcher(table, col, today):
    p = table["parameters"]
    kind = p.get(f"projection.{col}.type")
    if kind == "enum":
        values = set(v.strip() for v in p[f"projection.{col}.values"].split(","))
        return r"[^/]+", lambda v: v in values
    if kind == "integer":
        lo, hi = (int(x) for x in p[f"projection.{col}.range"].split(","))
        digits = p.get(f"projection.{col}.digits")

        def ok(v):
            if not re.fullmatch(r"-?\d+", v):
                return False
            n = int(v)
            canonical = str(n).zfill(int(digits)) if digits else str(n)
            return v == canonical and lo <= n <= hi

        return r"[^/]+", ok
    if kind == "date":
        fmt = p[f"projection.{col}.format"]
        start, end = p[f"projection.{col}.range"].split(",")
        lo, hi = bound(start, fmt, today), bound(end, fmt, today)

        def ok_date(v):
            d = parse_java_date(v, fmt)
            return d is not None and lo <= d <= hi

        return date_regex(fmt), ok_date
    raise SystemExit(f"{table['name']}: projection type {kind!r} of {col} is not supported here")


def objects(table, mirror, today):
    """Yields (path, partition values) for every object the projection reaches."""
    template = table["parameters"]["storage.location.template"]
    keys = [k["name"] for k in table["partition_keys"]]
    matchers = {k: column_matcher(table, k, today) for k in keys}
    rx, pos = "", 0
    for m in re.finditer(r"\$\{(\w+)\}", template):
        rx += re.escape(template[pos:m.start()])
        rx += f"(?P<{m.group(1)}>{matchers[m.group(1)][0]})"
        pos = m.end()
    rx += re.escape(template[pos:]) + r"/(?:.*/)?[^/]+"
    pattern = re.compile(rx)
    root = table["location"][len("s3://"):]
    base = os.path.join(mirror, *root.split("/"))
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(("_", ".")))
        for f in sorted(filenames):
            if f.startswith(("_", ".")):
                continue
            full = os.path.join(dirpath, f)
            key = "s3://" + os.path.relpath(full, mirror).replace(os.sep, "/")
            m = pattern.fullmatch(key)
            if m and all(matchers[k][1](m.group(k)) for k in keys):
                yield full, {k: m.group(k) for k in keys}


# --- loading ------------------------------------------------------------------------------

def read(path):
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except Exception:  # corrupt objects are skipped, as the engine does
            return None
    return data


def rows_of(table, path, partition):
    data = read(path)
    if data is None:
        return
    cols = [(c["name"], parse_type(c["type"])) for c in table["columns"]]
    ptypes = {k["name"]: parse_type(k["type"]) for k in table["partition_keys"]}
    part = {k: shape(v, ptypes[k]) for k, v in partition.items()}
    if table["kind"] == "alb_access_logs":
        regex = re.compile(table["serde_parameters"]["input.regex"])
        for line in data.decode("utf-8", "replace").splitlines():
            if not line:
                continue
            m = regex.fullmatch(line)
            groups = m.groups() if m else [None] * len(cols)
            row = {name: shape(g, pt) for (name, pt), g in zip(cols, groups)}
            row.update(part)
            yield row
        return
    if table["kind"] in ("app_logs", "metrics"):  # JSON lines; malformed lines are ignored
        for line in data.decode("utf-8", "replace").splitlines():
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if isinstance(r, dict):
                r = ci(r)
                row = {name: shape(r.get(name), pt) for name, pt in cols}
                row.update(part)
                yield row
        return
    try:
        doc = json.loads(data)
    except ValueError:
        return
    if not isinstance(doc, dict):
        return
    if table["kind"] == "cloud_trail":
        records = doc.get("Records")
        if not isinstance(records, list):
            return
        for r in records:
            if not isinstance(r, dict):
                continue
            r = ci(r)
            row = {name: shape(r.get(name), pt) for name, pt in cols}
            row.update(part)
            yield row
    else:  # config history: one row per file
        d = ci(doc)
        if "configurationitems" not in d:
            return
        row = {name: shape(d.get(name), pt) for name, pt in cols}
        row.update(part)
        yield row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mirror", required=True)
    ap.add_argument("--tables", required=True)
    ap.add_argument("--sql", required=True)
    ap.add_argument("--today", required=True)
    a = ap.parse_args()
    today = dt.date.fromisoformat(a.today)
    with open(a.tables) as fh:
        spec = json.load(fh)
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.execute(f'CREATE SCHEMA "{spec["database"]}"')
    with tempfile.TemporaryDirectory() as tmp:
        for t in spec["tables"]:
            all_cols = [(c["name"], parse_type(c["type"])) for c in t["columns"] + t["partition_keys"]]
            ddl = ", ".join(f'"{n}" {duck_type(pt)}' for n, pt in all_cols)
            qualified = f'"{spec["database"]}"."{t["name"]}"'
            con.execute(f"CREATE TABLE {qualified} ({ddl})")
            nd = os.path.join(tmp, t["name"] + ".ndjson")
            n = 0
            with open(nd, "w") as out:
                for path, part in objects(t, a.mirror, today):
                    for row in rows_of(t, path, part):
                        out.write(json.dumps(row) + "\n")
                        n += 1
            if n:
                columns = "{" + ", ".join(f"'{n_}': '{duck_type(pt)}'" for n_, pt in all_cols) + "}"
                con.execute(f"INSERT INTO {qualified} SELECT * FROM read_json('{nd}', format='newline_delimited', columns={columns})")
        with open(a.sql) as fh:
            athena_sql = fh.read()
        duck_sql = sqlglot.transpile(athena_sql, read="athena", write="duckdb")[0]
        try:
            cur = con.execute(duck_sql)
        except Exception as e:
            sys.stderr.write(f"DuckDB rejected the transpiled SQL: {e}\n--- transpiled ---\n{duck_sql}\n")
            raise SystemExit(3)
        columns = [d[0] for d in cur.description]
        rows = [list(r) for r in cur.fetchall()]
    json.dump({"columns": columns, "rows": rows, "sql": duck_sql}, sys.stdout, default=str)


if __name__ == "__main__":
    main()
