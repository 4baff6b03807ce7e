#!/usr/bin/env python3
"""Apply ClickHouse migrations (infra/clickhouse/migrations/NNNN_name.sql) in order, once each.

Applied files are recorded in lgma.schema_migrations with a checksum; re-running is a no-op, and an
applied file that was edited afterwards is an error (write a new migration instead). Statements are
separated by a `;` at the end of a line and must be idempotent (IF NOT EXISTS), so a run that failed
half-way can simply be re-run.

Directive (on its own line): `-- @load-csv <table> <path relative to repo root>` posts that CSV file
(with a header row) into the table, so reference data has one source: schemas/reference/.

`--cluster NAME` prints (or applies) the clustered production variant instead: see clustered.py.
"""
import argparse
import hashlib
import os
import pathlib
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
DIRECTIVE_RE = re.compile(r"^--\s*@load-csv\s+(\S+)\s+(\S+)\s*$")


class Step:
    """One unit of a migration: a SQL statement or a CSV load."""

    def __init__(self, sql=None, csv_table=None, csv_path=None):
        self.sql = sql
        self.csv_table = csv_table
        self.csv_path = csv_path


def parse(text: str) -> list[Step]:
    """Split a migration file into statements and directives."""
    steps, buf = [], []
    for line in text.splitlines():
        m = DIRECTIVE_RE.match(line.strip())
        if m:
            steps.append(Step(csv_table=m.group(1), csv_path=m.group(2)))
            continue
        buf.append(line)
        if line.rstrip().endswith(";"):
            stmt = "\n".join(buf).strip().rstrip(";").strip()
            buf = []
            if strip_comments(stmt):
                steps.append(Step(sql=stmt))
    rest = "\n".join(buf).strip()
    if strip_comments(rest):
        steps.append(Step(sql=rest))
    return steps


def strip_comments(sql: str) -> str:
    return "\n".join(l for l in sql.splitlines() if not l.strip().startswith("--")).strip()


def migration_files(directory: pathlib.Path) -> list[tuple[str, str, pathlib.Path]]:
    files = []
    for path in sorted(directory.iterdir()):
        m = FILE_RE.match(path.name)
        if m:
            files.append((m.group(1), m.group(2), path))
        elif path.suffix == ".sql":
            raise SystemExit(f"error: {path.name} does not match NNNN_name.sql")
    versions = [v for v, _, _ in files]
    if len(versions) != len(set(versions)):
        raise SystemExit("error: two migrations share a number")
    return files


class ClickHouse:
    def __init__(self, url: str, user: str, password: str):
        self.url, self.user, self.password = url.rstrip("/"), user, password

    def query(self, sql: str, body: bytes | None = None) -> str:
        params = {"user": self.user, "password": self.password}
        if body is None:
            data = sql.encode()
        else:
            params["query"] = sql
            data = body
        req = urllib.request.Request(f"{self.url}/?{urllib.parse.urlencode(params)}", data=data, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.read().decode()
        except urllib.error.HTTPError as exc:
            raise RuntimeError(exc.read().decode().strip()) from None
        except urllib.error.URLError as exc:
            raise SystemExit(f"error: cannot reach ClickHouse at {self.url}: {exc.reason}") from None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory")
    parser.add_argument("--url", default="http://127.0.0.1:8123")
    parser.add_argument("--user", default="lgma_admin")
    parser.add_argument("--password-env", default="LGMA_CH_ADMIN_PASSWORD")
    parser.add_argument("--dry-run", action="store_true", help="list what would be applied")
    parser.add_argument("--ledger", default="lgma.schema_migrations", help="table recording applied files")
    args = parser.parse_args()

    ch = ClickHouse(args.url, args.user, os.environ.get(args.password_env, ""))
    ch.query("CREATE DATABASE IF NOT EXISTS lgma")
    ch.query(
        f"CREATE TABLE IF NOT EXISTS {args.ledger} (version String, name String, checksum String, "
        "applied_at DateTime DEFAULT now()) ENGINE = MergeTree() ORDER BY version"
    )
    applied = {}
    for line in ch.query(f"SELECT version, name, checksum FROM {args.ledger} FORMAT TSV").splitlines():
        version, name, checksum = line.split("\t")
        applied[version] = (name, checksum)

    count = 0
    for version, name, path in migration_files(pathlib.Path(args.directory)):
        text = path.read_text()
        checksum = hashlib.sha256(text.encode()).hexdigest()
        if version in applied:
            if applied[version][1] != checksum:
                print(f"error: applied migration {path.name} was edited since (checksum differs); "
                      "add a new migration instead", file=sys.stderr)
                return 1
            continue
        print(f"  applying {path.name}")
        if args.dry_run:
            continue
        for i, step in enumerate(parse(text), 1):
            try:
                if step.sql is not None:
                    ch.query(step.sql)
                else:
                    data = (ROOT / step.csv_path).read_bytes()
                    ch.query(f"INSERT INTO {step.csv_table} FORMAT CSVWithNames", body=data)
            except RuntimeError as exc:
                print(f"error: {path.name} step {i} failed: {exc}", file=sys.stderr)
                return 1
        ch.query(
            f"INSERT INTO {args.ledger} (version, name, checksum) VALUES "
            f"('{version}', '{name}', '{checksum}')"
        )
        count += 1
    print(f"  {count} migration(s) applied, {len(applied)} already there")
    return 0


if __name__ == "__main__":
    sys.exit(main())
