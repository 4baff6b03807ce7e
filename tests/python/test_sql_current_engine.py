"""Every migration the platform ships also runs on a current ClickHouse engine (chdb, 26.x).

The local server is Debian's 18.16; production runs a current ClickHouse. This test applies the
same migration files, in the same order, through the same parser as infra/tools/migrate.py, on
chdb's embedded engine, and checks the reference data loaded. Query files the platform ships
(infra/clickhouse/queries/*.sql, if any) are run against the resulting schema too.
"""
import pathlib

import pytest
from chdb import session

import migrate


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    s = session.Session(str(tmp_path_factory.mktemp("chdb")))
    yield s
    s.close()


def apply_all(engine, root: pathlib.Path) -> list[str]:
    engine.query("CREATE DATABASE IF NOT EXISTS lgma")
    applied = []
    for _version, _name, path in migrate.migration_files(root / "infra" / "clickhouse" / "migrations"):
        for step in migrate.parse(path.read_text()):
            if step.sql is not None:
                engine.query(step.sql)
            else:
                csv_path = root / step.csv_path
                engine.query(
                    f"INSERT INTO {step.csv_table} SELECT * FROM file('{csv_path}', 'CSVWithNames')"
                )
        applied.append(path.name)
    return applied


def test_migrations_run_on_current_engine(engine, root):
    applied = apply_all(engine, root)
    assert applied, "no migrations found"
    # Re-applying is a no-op by construction (IF NOT EXISTS); the CSV load is the only non-idempotent
    # step, so count rows after the first application only.
    total = engine.query("SELECT count(), sum(population_2022) FROM lgma.local_authorities", "CSV")
    count, population = str(total).strip().split(",")
    assert int(count) == 31
    assert int(population) == 5_149_139


def test_shipped_queries_run_on_current_engine(engine, root):
    queries = sorted((root / "infra" / "clickhouse" / "queries").glob("*.sql"))
    if not queries:
        pytest.skip("no shipped query files yet")
    for path in queries:
        for step in migrate.parse(path.read_text()):
            if step.sql is not None:
                # Run, not only parsed: names of views and columns are resolved against the schema.
                engine.query(step.sql, "CSVWithNames")


def test_grants_parse_on_current_engine(engine, root):
    """infra/clickhouse/grants.sql (users, settings profiles with constraints, GRANTs for a current
    server) parses on a current engine, and every lgma table it names exists after the migrations.
    chdb has no writable access storage, so the statements are parsed (formatQuery), not applied."""
    import re

    text = (root / "infra" / "clickhouse" / "grants.sql").read_text()
    steps = [s.sql for s in migrate.parse(text) if s.sql is not None]
    assert any(s.startswith("GRANT") for s in steps)
    for sql in steps:
        quoted = sql.replace("\\", "\\\\").replace("'", "\\'")
        engine.query(f"SELECT formatQuery('{quoted}')")
    if str(engine.query("EXISTS TABLE lgma.ingest_events", "CSV")).strip() != "1":
        apply_all(engine, root)  # this test run alone
    for table in sorted(set(re.findall(r"\bON lgma\.([a-z_0-9]+)", text))):
        exists = str(engine.query(f"EXISTS TABLE lgma.{table}", "CSV")).strip()
        assert exists == "1" or table == "schema_migrations", f"grants.sql names lgma.{table}, which no migration creates"
