"""The migration runner against the real ClickHouse 18.16: applies in order, records, re-runs as a
no-op, refuses an edited applied file, and reports a failing statement by file and step."""
import hashlib
import os
import subprocess
import sys
import uuid

import requests

from conftest import CLICKHOUSE, ROOT

RUNNER = ROOT / "infra" / "tools" / "migrate.py"
ADMIN = {"user": "lgma_admin", "password": os.environ.get("LGMA_CH_ADMIN_PASSWORD", "admin-local")}


def run(directory, ledger):
    return subprocess.run(
        [sys.executable, str(RUNNER), str(directory), "--url", CLICKHOUSE, "--ledger", ledger],
        capture_output=True, text=True, env={**os.environ, "LGMA_CH_ADMIN_PASSWORD": ADMIN["password"]},
    )


def query(sql):
    r = requests.post(CLICKHOUSE, params=ADMIN, data=sql.encode(), timeout=30)
    r.raise_for_status()
    return r.text.strip()


def test_apply_record_rerun_and_refuse_edits(tmp_path):
    tag = uuid.uuid4().hex[:10]
    ledger = f"lgma.migrations_test_{tag}"
    table = f"lgma.mig_test_{tag}"
    (tmp_path / "0001_create.sql").write_text(
        f"CREATE TABLE IF NOT EXISTS {table} (id UInt32) ENGINE = MergeTree() ORDER BY id;\n"
    )
    (tmp_path / "0002_seed.sql").write_text(f"INSERT INTO {table} VALUES (1), (2), (3);\n")

    first = run(tmp_path, ledger)
    assert first.returncode == 0, first.stderr
    assert "2 migration(s) applied" in first.stdout
    assert query(f"SELECT count() FROM {table}") == "3"

    again = run(tmp_path, ledger)
    assert again.returncode == 0, again.stderr
    assert "0 migration(s) applied, 2 already there" in again.stdout
    assert query(f"SELECT count() FROM {table}") == "3", "re-run inserted again"

    (tmp_path / "0002_seed.sql").write_text(f"INSERT INTO {table} VALUES (4);\n")
    edited = run(tmp_path, ledger)
    assert edited.returncode == 1
    assert "0002_seed.sql was edited" in edited.stderr

    (tmp_path / "0002_seed.sql").write_text(f"INSERT INTO {table} VALUES (1), (2), (3);\n")
    (tmp_path / "0003_broken.sql").write_text("CREATE TABLE nonsense (;\n")
    broken = run(tmp_path, ledger)
    assert broken.returncode == 1
    assert "0003_broken.sql step 1 failed" in broken.stderr
    assert query(f"SELECT count() FROM {ledger} WHERE version = '0003'") == "0"

    query(f"DROP TABLE {table}")
    query(f"DROP TABLE {ledger}")


def test_backfill_from_the_views_own_select_and_a_rewrite_named_by_was(tmp_path):
    """`@backfill` inserts what the view's one SELECT returns (rows from before the view); a file
    rewritten without copies is accepted by a ledger holding its `@was` checksum, nothing else is;
    a current table declared `AS` its history keeps history's columns but not its partitioning."""
    tag = uuid.uuid4().hex[:10]
    ledger = f"lgma.migrations_test_{tag}"
    hist, cur, total, mv = (f"lgma.mig_{k}_{tag}" for k in ("history", "current", "total", "mv"))
    create = (
        f"CREATE TABLE IF NOT EXISTS {hist} (entity_id String, entity_version Int64, occurred_at Int64)\n"
        "ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(toDateTime(intDiv(occurred_at, 1000)))\n"
        "ORDER BY (entity_id, entity_version);\n"
        f"INSERT INTO {hist} VALUES ('a', 1, 1700000000000), ('a', 2, 1710000000000), ('b', 1, 1700000000000);\n"
    )
    views = (
        f"CREATE TABLE IF NOT EXISTS {total} (n UInt64) ENGINE = SummingMergeTree() ORDER BY tuple();\n"
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {mv} TO {total} AS\nSELECT count() AS n FROM {hist};\n"
        f"-- @backfill {mv}\n"
    )
    (tmp_path / "0001_history.sql").write_text(create)
    (tmp_path / "0002_views.sql").write_text(views)
    first = run(tmp_path, ledger)
    assert first.returncode == 0, first.stderr
    assert query(f"SELECT sum(n) FROM {total}") == "3", "the back-fill counted the rows from before the view"

    old = hashlib.sha256(create.encode()).hexdigest()
    rewritten = create + (
        f"CREATE TABLE IF NOT EXISTS {cur} AS {hist}\nENGINE = ReplacingMergeTree(entity_version)\n"
        "PARTITION BY tuple()\nORDER BY entity_id;\n"
    )
    (tmp_path / "0001_history.sql").write_text(rewritten)
    refused = run(tmp_path, ledger)
    assert refused.returncode == 1 and "0001_history.sql was edited" in refused.stderr
    (tmp_path / "0001_history.sql").write_text(f"-- @was {old}\n" + rewritten)
    accepted = run(tmp_path, ledger)
    assert accepted.returncode == 0, accepted.stderr
    assert "0 migration(s) applied, 2 already there" in accepted.stdout
    assert query(f"SELECT count() FROM {hist}") == "3", "an accepted rewrite is not applied again"

    # The AS form on 18.16 (the fresh-install path): history's columns, one partition.
    (tmp_path / "0001_history.sql").write_text(rewritten)
    fresh = run(tmp_path, f"{ledger}_fresh")
    assert fresh.returncode == 0, fresh.stderr
    assert query(f"SELECT name, type FROM system.columns WHERE database = 'lgma' AND table = '{cur.split('.')[1]}' "
                 "FORMAT TSV").split("\n") == [
        "entity_id\tString", "entity_version\tInt64", "occurred_at\tInt64"]
    assert query(f"SELECT partition_key FROM system.tables WHERE database = 'lgma' "
                 f"AND name = '{cur.split('.')[1]}'") == "tuple()"
    for t in (mv, total, cur, hist, ledger, f"{ledger}_fresh"):
        query(f"DROP TABLE IF EXISTS {t}")
