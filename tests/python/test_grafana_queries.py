"""The queries Grafana's ClickHouse data source (grafana-clickhouse-datasource v4) sends, with its
macros expanded exactly as the plugin expands them, run as the analyst user on the local 18.16
server and on a current engine (chdb), on the same rows, with the same results:
time filter (`$__timeFilter`, `$__dateFilter`, `$__fromTime`), group by a time grain
(toStartOfHour / Day / Month, and `$__interval_s` buckets), a table panel over a report view,
a template-variable query, and the query builder's look-ups of tables and columns.

The plugin sends `max_execution_time` (its query timeout) with every query; the analyst profile
(`readonly = 1`) accepts it only at the profile's 30 s on 18.16 (60, the plugin's default, is
refused), and the same bound is a `MAX 30 CHANGEABLE_IN_READONLY` constraint on a current server
(infra/clickhouse/grants.sql; chdb has no access storage, so the profile itself is parse-checked
there by test_sql_current_engine). `$__timeInterval` expands to toStartOfInterval, which 18.16
lacks: on 18.16 use `toDateTime(intDiv(toUInt32(col), $__interval_s) * $__interval_s)`.
"""
import datetime as dt
import json
import os
import pathlib
import uuid

import pytest
import requests
from chdb import session

from test_sql_current_engine import apply_all

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLICKHOUSE = os.environ.get("LGMA_CLICKHOUSE_URL", "http://127.0.0.1:8123")
ANALYST = ("lgma_analyst", os.environ.get("LGMA_CH_ANALYST_PASSWORD", "analyst-local"))
WRITER = ("lgma_writer", os.environ.get("LGMA_CH_WRITER_PASSWORD", "writer-local"))
GRAFANA_SETTINGS = {"max_execution_time": "30"}

FROM = dt.datetime(2031, 3, 1, tzinfo=dt.timezone.utc)  # a range no other test writes into
TO = dt.datetime(2031, 3, 8, tzinfo=dt.timezone.utc)
INTERVAL_S = 3600


def expand(sql: str) -> str:
    """The plugin's macros (pkg/macros/macros.go), for the dashboard range FROM..TO."""
    f, t = int(FROM.timestamp()), int(TO.timestamp())
    for name, arg_sql in (("timeFilter", lambda c: f"{c} >= toDateTime({f}) AND {c} <= toDateTime({t})"),
                          ("dateFilter", lambda c: f"{c} >= toDate('{FROM:%Y-%m-%d}') AND {c} <= toDate('{TO:%Y-%m-%d}')"),
                          ("timeInterval", lambda c: f"toStartOfInterval(toDateTime({c}), INTERVAL {INTERVAL_S} second)")):
        while f"$__{name}(" in sql:
            start = sql.index(f"$__{name}(")
            end = sql.index(")", start)
            column = sql[start + len(name) + 4:end]
            sql = sql[:start] + arg_sql(column) + sql[end + 1:]
    return (sql.replace("$__fromTime", f"toDateTime({f})").replace("$__toTime", f"toDateTime({t})")
            .replace("$__interval_s", str(INTERVAL_S)))


def rows(topic: str) -> list[dict]:
    """Planning application versions in the dashboard range (two councils, 3 days)."""
    out = []
    for i in range(30):
        at = FROM + dt.timedelta(hours=5 * i + 1, minutes=7)
        ms = int(at.timestamp() * 1000) + 123
        out.append({"topic": topic, "partition": 0, "offset": i, "entity_id": f"G{i % 10}",
                    "entity_version": i // 10 + 1, "la_code": "DC" if i % 3 else "CK", "operation": "UPDATE",
                    "verdict": "ACCEPT", "occurred_at": ms, "published_at": ms + 500,
                    "received_date": int((FROM + dt.timedelta(days=i % 5)).timestamp() * 1000),
                    "statutory_due_date": str((FROM + dt.timedelta(days=56 + i % 5)).date())})
    return out


QUERIES = {
    # Time series, grouped by hour / day (toStartOf*), filtered by the dashboard range.
    "events per hour and council": """
        SELECT toStartOfHour(occurred_at_time) AS time, la_code, count() AS versions
        FROM lgma.planning_application_history
        WHERE $__timeFilter(occurred_at_time) AND topic = '{topic}'
        GROUP BY time, la_code ORDER BY time, la_code""",
    "applications received per day": """
        SELECT toStartOfDay(received_date_time) AS time, uniqExact(entity_id) AS applications
        FROM lgma.planning_application_history
        WHERE $__timeFilter(received_date_time) AND topic = '{topic}'
        GROUP BY time ORDER BY time""",
    # A grain chosen by Grafana ($__interval_s) without toStartOfInterval.
    "interval buckets": """
        SELECT toDateTime(intDiv(toUInt32(occurred_at_time), $__interval_s) * $__interval_s) AS time, count() AS versions
        FROM lgma.planning_application_history
        WHERE occurred_at_time >= $__fromTime AND occurred_at_time <= $__toTime AND topic = '{topic}'
        GROUP BY time ORDER BY time""",
    # A Date column with $__dateFilter, grouped by month.
    "due dates per month": """
        SELECT toStartOfMonth(statutory_due_date) AS month, count() AS versions
        FROM lgma.planning_application_history
        WHERE topic = '{topic}' AND statutory_due_date >= toDate('2031-01-01')
        GROUP BY month ORDER BY month""",
    # Current state through the view (FINAL), with the DateTime twin.
    "current state by council": """
        SELECT la_code, count() AS applications, max(occurred_at_time) AS last_change
        FROM lgma.v_planning_application
        WHERE topic = '{topic}'
        GROUP BY la_code ORDER BY la_code""",
}
# Against the real report views and reference data (contents differ between engines).
SHAPE_ONLY = {
    "table panel over a report view": """
        SELECT month, la_code, official_name, received, decided, within_statutory_share
        FROM lgma.v_planning_monthly WHERE $__dateFilter(month) ORDER BY month, la_code LIMIT 100""",
    "template variable": "SELECT la_code AS __value, official_name AS __text FROM lgma.local_authorities ORDER BY la_code",
    "query builder: tables": "SELECT name FROM system.tables WHERE database = 'lgma' ORDER BY name",
    "query builder: columns": """
        SELECT name, type, comment FROM system.columns
        WHERE database = 'lgma' AND table = 'planning_application_history' ORDER BY name""",
}


def ch(sql: str, user, fmt: str = "JSONEachRow", **settings) -> requests.Response:
    return requests.post(CLICKHOUSE, params={"user": user[0], "password": user[1], **settings},
                         data=f"{sql} FORMAT {fmt}".encode(), timeout=60)


def parse(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def stream():
    topic = f"lgma.planning.application.grafana{uuid.uuid4().hex[:8]}"
    data = rows(topic)
    body = "\n".join(json.dumps(r) for r in data).encode()
    for table in ("planning_application_history", "planning_application_current"):
        r = requests.post(CLICKHOUSE, params={"user": WRITER[0], "password": WRITER[1],
                                              "query": f"INSERT INTO lgma.{table} FORMAT JSONEachRow"},
                          data=body, timeout=60)
        assert r.status_code == 200, r.text
    return topic, body


@pytest.fixture(scope="module")
def current_engine(tmp_path_factory, stream):
    engine = session.Session(str(tmp_path_factory.mktemp("chdb-grafana")))
    apply_all(engine, ROOT)
    _, body = stream
    for table in ("planning_application_history", "planning_application_current"):
        path = tmp_path_factory.mktemp("rows") / "rows.jsonl"
        path.write_bytes(body)
        engine.query(f"INSERT INTO lgma.{table} SELECT * FROM file('{path}', 'JSONEachRow')")
    yield engine
    engine.close()


@pytest.mark.parametrize("name", list(QUERIES))
def test_grafana_query_as_analyst_same_answer_on_both_engines(name, stream, current_engine):
    topic, _ = stream
    sql = expand(QUERIES[name].format(topic=topic)).strip()
    r = ch(sql, ANALYST, **GRAFANA_SETTINGS)
    assert r.status_code == 200, f"18.16 as lgma_analyst: {r.text[:500]}\n{sql}"
    old = parse(r.text)
    assert old, f"no rows on 18.16: {sql}"
    new = parse(str(current_engine.query(sql + f" SETTINGS max_execution_time = 30", "JSONEachRow")))
    # The newer engine quotes 64-bit integers the same way (JSON strings); compare as text.
    norm = lambda rs: [{k: str(v) for k, v in row.items()} for row in rs]  # noqa: E731
    assert norm(old) == norm(new), f"{name}: 18.16 {old[:3]} vs current {new[:3]}"


def test_grafana_time_grains_count_what_was_written(stream):
    topic, _ = stream
    hourly = parse(ch(expand(QUERIES["events per hour and council"].format(topic=topic)), ANALYST,
                      **GRAFANA_SETTINGS).text)
    assert sum(int(r["versions"]) for r in hourly) == 30
    first = hourly[0]
    assert first["time"] == "2031-03-01 01:00:00", first  # 01:07:00.123 -> its hour, UTC
    daily = parse(ch(expand(QUERIES["applications received per day"].format(topic=topic)), ANALYST,
                     **GRAFANA_SETTINGS).text)
    assert [r["time"][:10] for r in daily] == ["2031-03-01", "2031-03-02", "2031-03-03", "2031-03-04", "2031-03-05"]


@pytest.mark.parametrize("name", list(SHAPE_ONLY))
def test_grafana_lookups_and_report_views_run_as_analyst_on_both_engines(name, current_engine):
    sql = expand(SHAPE_ONLY[name]).strip()
    r = ch(sql, ANALYST, **GRAFANA_SETTINGS)
    assert r.status_code == 200, f"18.16 as lgma_analyst: {r.text[:500]}"
    current_engine.query(sql, "JSONEachRow")
    if name == "query builder: columns":
        comments = {row["name"]: row["comment"] for row in parse(r.text)}
        assert comments["occurred_at_time"] and comments["received_date"], "Grafana shows the column comments"


def test_the_analyst_cannot_raise_its_limits_through_grafana_settings():
    assert ch("SELECT 1", ANALYST, max_execution_time="30").status_code == 200
    for setting, value in (("max_execution_time", "60"), ("max_execution_time", "0"),
                           ("max_memory_usage", "50000000000"), ("readonly", "0"), ("readonly", "2")):
        r = ch("SELECT 1", ANALYST, **{setting: value})
        assert r.status_code != 200 and "readonly" in r.text, f"{setting}={value}: {r.status_code} {r.text[:200]}"
    r = requests.post(CLICKHOUSE, params={"user": ANALYST[0], "password": ANALYST[1], "max_execution_time": "30"},
                      data=b"INSERT INTO lgma.smoke_events (topic) VALUES ('x')", timeout=30)
    assert r.status_code != 200 and "readonly" in r.text, r.text[:200]


def test_time_interval_macro_needs_a_current_engine(current_engine):
    sql = expand("SELECT $__timeInterval(occurred_at_time) AS time, count() AS n FROM lgma.planning_application_history "
                 "WHERE $__timeFilter(occurred_at_time) GROUP BY time ORDER BY time")
    current_engine.query(sql, "JSONEachRow")
    r = ch(sql, ANALYST, **GRAFANA_SETTINGS)
    assert r.status_code != 200 and "toStartOfInterval" in r.text, "18.16 learnt toStartOfInterval: update the docs"
