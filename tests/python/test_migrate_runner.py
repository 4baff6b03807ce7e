"""The migration runner against the real ClickHouse 18.16: applies in order, records, re-runs as a
no-op, refuses an edited applied file, and reports a failing statement by file and step."""
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
