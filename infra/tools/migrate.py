#!/usr/bin/env python3
"""Apply ClickHouse migrations (infra/clickhouse/migrations/NNNN_name.sql) in order, once each.

Applied files are recorded in lgma.schema_migrations with a checksum; re-running is a no-op, and an
applied file that was edited afterwards is an error (write a new migration instead). Statements are
separated by a `;` at the end of a line and must be idempotent (IF NOT EXISTS), so a run that failed
half-way can simply be re-run.

The files' format and directives (`@load-csv`, `@backfill`, `@was`): migrations.py.

`--cluster NAME` applies the clustered production variant instead (clustered.py: replicated shard-local
tables, Distributed tables under the original names, ON CLUSTER DDL); the ledger is then a replicated
table on every node of the cluster, so any node answers what has been applied.
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

from migrations import ROOT, Step, earlier_checksums, migration_files, parse, strip_comments  # noqa: F401


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
            # Above ClickHouse's distributed_ddl_task_timeout (180 s): an ON CLUSTER statement waits
            # for every host through ZooKeeper, and under load (CI) that took over 60 s once; the
            # server's own answer, success or which hosts did not finish, is what should decide.
            with urllib.request.urlopen(req, timeout=240) as resp:
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
    parser.add_argument("--cluster", help="apply the clustered variant on this cluster (remote_servers name)")
    args = parser.parse_args()

    ch = ClickHouse(args.url, args.user, os.environ.get(args.password_env, ""))
    # Each statement as this run sends it: rewritten for the cluster, or as written.
    local_tables: dict[str, str] = {}
    if args.cluster:
        import clustered  # noqa: PLC0415 - only the cluster variant needs it

        # 18.16 runs no COMMENT COLUMN ... ON CLUSTER ("Unsupported type of ALTER query"): there the
        # cluster goes without column comments (DICTIONARY.md has them); current engines keep them.
        legacy = int(ch.query("SELECT version()").split(".")[0]) < 19
        skipped = []

        def statements(sql: str) -> list[str]:
            out = clustered.rewrite(strip_comments(sql), args.cluster, local_tables)
            if legacy:
                skipped.extend(s for s in out if re.search(r"ON CLUSTER '[^']+'\s+COMMENT\s+COLUMN\b", s))
                out = [s for s in out if s not in skipped]
            return out
    else:
        def statements(sql: str) -> list[str]:
            return [sql]
    for stmt in statements("CREATE DATABASE IF NOT EXISTS lgma"):
        ch.query(stmt)
    for stmt in statements(
        f"CREATE TABLE IF NOT EXISTS {args.ledger} (version String, name String, checksum String, "
        "applied_at DateTime DEFAULT now()) ENGINE = MergeTree() ORDER BY version"
    ):
        ch.query(stmt)
    applied = {}
    for line in ch.query(f"SELECT version, name, checksum FROM {args.ledger} FORMAT TSV").splitlines():
        version, name, checksum = line.split("\t")
        applied[version] = (name, checksum)

    count = 0
    for version, name, path in migration_files(pathlib.Path(args.directory)):
        text = path.read_text()
        checksum = hashlib.sha256(text.encode()).hexdigest()
        if version in applied:
            if applied[version][1] != checksum and applied[version][1] not in earlier_checksums(text):
                print(f"error: applied migration {path.name} was edited since (checksum differs); "
                      "add a new migration instead", file=sys.stderr)
                return 1
            if args.cluster:  # later files must know which tables are shard-local
                for step in parse(text):
                    if step.sql is not None:
                        statements(step.sql)
            continue
        print(f"  applying {path.name}")
        if args.dry_run:
            continue
        for i, step in enumerate(parse(text), 1):
            try:
                if step.sql is not None:
                    for stmt in statements(step.sql):
                        ch.query(stmt)
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
    if args.cluster and skipped:
        print(f"  {len(skipped)} column comment(s) left out: ClickHouse 18.16 runs no COMMENT COLUMN ON CLUSTER")
    return 0


if __name__ == "__main__":
    sys.exit(main())
