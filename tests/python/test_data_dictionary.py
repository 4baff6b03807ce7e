"""The analysts' data dictionary and column comments, against the real 18.16 server after
`infra/stack migrate`, and a current engine (chdb):

- infra/clickhouse/DICTIONARY.md is what infra/tools/dictionary.py generates from the live schema
  (fails when stale: a migration, a schema doc or dictionary.toml changed without regenerating);
- every column of every table the migrations define has a comment (a new column without one fails);
- every epoch-millisecond event time has its DateTime twin `<column>_time`, equal to it;
- every example query of the dictionary runs as `lgma_analyst` on 18.16 (with the setting Grafana
  sends) and on the current engine.
"""
import os
import pathlib
import subprocess
import sys

import pytest
import requests
from chdb import session

import dictionary
from test_sql_current_engine import apply_all

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLICKHOUSE = os.environ.get("LGMA_CLICKHOUSE_URL", "http://127.0.0.1:8123")
ADMIN = ("lgma_admin", os.environ.get("LGMA_CH_ADMIN_PASSWORD", "admin-local"))
ANALYST = ("lgma_analyst", os.environ.get("LGMA_CH_ANALYST_PASSWORD", "analyst-local"))


def ch(sql: str, user=ADMIN, **settings) -> str:
    r = requests.post(CLICKHOUSE, params={"user": user[0], "password": user[1], "database": "lgma", **settings},
                      data=sql.encode(), timeout=60)
    assert r.status_code == 200, f"{sql[:300]}\n-> {r.text[:500]}"
    return r.text


@pytest.fixture(scope="module")
def server():
    return dictionary.Server(CLICKHOUSE, *ADMIN)


def test_dictionary_is_generated_from_the_live_schema_and_current():
    result = subprocess.run([sys.executable, str(ROOT / "infra/tools/dictionary.py"), "markdown", "--url", CLICKHOUSE,
                             "--check", str(ROOT / "infra/clickhouse/DICTIONARY.md")],
                            capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, LGMA_CH_ADMIN_PASSWORD=ADMIN[1]))
    assert result.returncode == 0, f"DICTIONARY.md is stale:\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}"
    text = (ROOT / "infra/clickhouse/DICTIONARY.md").read_text()
    for name in dictionary.migration_objects():
        assert f"\n## {name}\n" in text, f"{name} missing from the dictionary"


def test_every_column_of_every_table_has_a_comment(server):
    tables = {o["name"] for o in server.objects() if dictionary.is_base(o["engine"])} - dictionary.NOT_MIGRATED
    assert len(tables) >= 30
    missing = [f"{t}.{c['name']}" for t, cols in server.columns().items() if t in tables
               for c in cols if not c["comment"].strip()]
    assert not missing, "columns without a comment (add a comment migration: infra/tools/dictionary.py):\n" \
        + "\n".join(missing)
    # The Avro docs reached the columns.
    doc = ch("SELECT comment FROM system.columns WHERE database = 'lgma' AND table = 'planning_application_history' "
             "AND name = 'received_date'").strip()
    assert "NPAD ReceivedDate" in doc, doc


def test_every_event_time_has_a_datetime_twin_equal_to_it(server):
    columns = server.columns()
    checked = 0
    for table in {o["name"] for o in server.objects() if dictionary.is_base(o["engine"])}:
        types = {c["name"]: c["type"] for c in columns[table]}
        for ms in dictionary.ms_columns(table):
            twin = ms + "_time"
            assert types.get(twin, "").replace("Nullable(", "").rstrip(")") == "DateTime", f"{table}.{twin}: {types.get(twin)}"
            wrong = ch(f"SELECT count() FROM lgma.{table} WHERE {twin} != toDateTime(intDiv({ms}, 1000))").strip()
            assert wrong == "0", f"{table}.{twin} differs from {ms} in {wrong} rows"
            checked += 1
    assert checked >= 40
    # ... and the current-state views carry them (SELECT * leaves ALIAS columns out).
    view = ch("SELECT name FROM system.columns WHERE database = 'lgma' AND table = 'v_planning_application' "
              "AND name LIKE '%_time' FORMAT TSV").split()
    assert {"occurred_at_time", "received_date_time", "decision_date_time"} <= set(view), view


def test_example_queries_run_as_the_analyst_on_both_engines(server, tmp_path):
    queries = dictionary.examples(server)
    assert len(queries) >= 45
    for name, sql in queries.items():
        # Grafana's ClickHouse data source sends max_execution_time with every query (the profile's 30 s).
        ch(sql + "\nFORMAT TSV", ANALYST, max_execution_time="30")
    engine = session.Session(str(tmp_path / "chdb"))
    try:
        apply_all(engine, ROOT)
        for name, sql in queries.items():
            if name not in dictionary.NOT_MIGRATED:  # the runner's ledger is no migration's table
                engine.query(sql, "CSV")
    finally:
        engine.close()


# Report views that still compute from current state on every query (stock at a point in time: the
# latest version of each entity; no incremental summary yet). Everything else reads summaries.
SNAPSHOT_VIEWS = {"v_hl_adults_in_ea_monthly", "v_hl_region_trend", "v_hl_length_of_stay", "v_housing_stock",
                  "v_housing_voids", "v_housing_need", "v_waste_monthly"}


def test_report_views_read_summaries_not_entity_tables(server):
    """18.16 pushes no WHERE into a view: a report view costs what it reads in full. Report views read
    the council x month summaries (sum_*), except the listed current-state snapshots, whose cost is
    documented (COMPATIBILITY.md) and whose dictionary entry says so."""
    objects = {o["name"]: o for o in server.objects()}
    entity_views = {f"v_{stem}" for stem in dictionary.entity_tables()}

    def reaches(name, seen):
        for dep in dictionary.source_of(objects[name]["create_table_query"]):
            if dep not in seen:
                seen.add(dep)
                if dep in objects and objects[dep]["engine"] == "View":
                    reaches(dep, seen)
        return seen

    text = (ROOT / "infra/clickhouse/DICTIONARY.md").read_text()
    for name, obj in objects.items():
        if obj["engine"] != "View" or name in entity_views:
            continue
        entity = sorted(d for d in reaches(name, set()) if d.endswith(("_history", "_current")) or d in entity_views)
        if name in SNAPSHOT_VIEWS:
            section = text.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]
            assert "Reads the current state (FINAL) in full" in section, name
        else:
            assert not entity, f"{name} reads {entity} on every query: keep a summary instead"
    for name in ("v_planning_monthly", "v_planning_decision_times"):
        assert "sum_planning_decision_days" in reaches(name, set()), name
