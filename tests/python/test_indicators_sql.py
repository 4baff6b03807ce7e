"""The indicator SQL of schemas/reference/indicators.toml runs on a current ClickHouse engine (chdb,
26.x) against the schema the migrations build, and computes what its definition says on a small
fixture. (On 18.16 it runs in the API: tests/python/after_demo/test_indicators.py.)

The placeholders are filled the way lgma-domain fills them ({start}/{end}/{as_of} become dates,
{name} the indicator's integer parameters); here the dates are literals instead of bound values.
"""
import datetime as dt
import re
import sys
import tomllib

import pytest
from chdb import session

from test_sql_current_engine import apply_all


def definitions(root):
    return tomllib.loads((root / "schemas" / "reference" / "indicators.toml").read_text())


def build(ind: dict, start: dt.date, end: dt.date, as_of: dt.date) -> str:
    dates = {"start": start, "end": end, "as_of": as_of}

    def sub(m):
        name = m.group(1)
        if name in dates:
            return f"toDate('{dates[name].isoformat()}')"
        return str(int(ind["params"][name]))

    return re.sub(r"\{([a-z_]+)\}", sub, ind["sql"])


@pytest.fixture(scope="module")
def engine(tmp_path_factory, root):
    s = session.Session(str(tmp_path_factory.mktemp("chdb-indicators")))
    apply_all(s, root)
    yield s
    s.close()


def run(engine, sql: str) -> dict:
    out = str(engine.query(sql + " ORDER BY la_code", "CSV")).strip()
    rows = {}
    for line in filter(None, out.splitlines()):
        code, num, den = line.split(",")
        rows[code.strip('"')] = (float(num), float(den))
    return rows


def test_every_indicator_sql_runs_on_the_current_engine(engine, root):
    defs = definitions(root)
    assert len(defs["indicator"]) >= 7
    for ind in defs["indicator"]:
        for start, end in [(dt.date(2024, 1, 1), dt.date(2025, 1, 1)), (dt.date(2024, 4, 1), dt.date(2024, 7, 1))]:
            sql = build(ind, start, end, end - dt.timedelta(days=1))
            assert "{" not in sql and "?" not in sql, ind["code"]
            run(engine, sql)  # raises on any error


def ins(engine, table: str, columns: str, rows: list[str]):
    engine.query(f"INSERT INTO lgma.{table} ({columns}) VALUES " + ", ".join(rows))


def test_the_fixture_gives_what_the_definitions_say(engine, root):
    defs = {i["code"]: i for i in definitions(root)["indicator"]}
    t = "'lgma.housing.dwelling-unit'"
    day = dt.date(2024, 6, 30)
    ms = lambda d: int(dt.datetime(d.year, d.month, d.day, 12).timestamp() * 1000)  # noqa: E731
    cols = "topic, `partition`, `offset`, la_code, entity_id, entity_version, occurred_at, is_deleted, ownership, status, void_start_date, relet_date, relet_cost_eur"
    rows = []
    # 20 LA dwellings in CW: 1 vacant on 30 June; one sold; one AHB (not counted).
    for n in range(20):
        rows.append(f"({t}, 0, {n}, 'CW', 'U{n}', 1, {ms(dt.date(2023, 1, 1))}, 0, 'LA_OWNED', 'TENANTED', NULL, NULL, NULL)")
    rows.append(f"({t}, 0, 100, 'CW', 'U1', 2, {ms(dt.date(2024, 3, 1))}, 0, 'LA_OWNED', 'VOID_UNDER_WORKS', '2024-03-01', NULL, NULL)")
    rows.append(f"({t}, 0, 101, 'CW', 'U2', 2, {ms(dt.date(2024, 2, 1))}, 0, 'LA_OWNED', 'VOID_UNDER_WORKS', '2024-02-01', NULL, NULL)")
    rows.append(f"({t}, 0, 102, 'CW', 'U2', 3, {ms(dt.date(2024, 5, 10))}, 0, 'LA_OWNED', 'TENANTED', '2024-02-01', '2024-05-10', 21000)")
    rows.append(f"({t}, 0, 103, 'CW', 'U3', 2, {ms(dt.date(2024, 4, 1))}, 0, 'LA_OWNED', 'SOLD', NULL, NULL, NULL)")
    rows.append(f"({t}, 0, 104, 'CW', 'U99', 1, {ms(dt.date(2023, 1, 1))}, 0, 'AHB', 'VACANT_RELETTABLE', '2023-01-01', NULL, NULL)")
    # A change after 30 June does not count for Q2.
    rows.append(f"({t}, 0, 105, 'CW', 'U4', 2, {ms(dt.date(2024, 7, 5))}, 0, 'LA_OWNED', 'VOID_UNDER_WORKS', '2024-07-05', NULL, NULL)")
    ins(engine, "housing_dwelling_unit_history", cols, rows)
    q2 = (dt.date(2024, 4, 1), dt.date(2024, 7, 1), day)
    assert run(engine, build(defs["H2"], *q2))["CW"] == (1.0, 19.0)
    weeks, relets = run(engine, build(defs["H3_TIME"], *q2))["CW"]
    assert relets == 1 and abs(weeks - (dt.date(2024, 5, 10) - dt.date(2024, 2, 1)).days / 7) < 1e-9
    assert run(engine, build(defs["H3_COST"], *q2))["CW"] == (21000.0, 1.0)

    # H6 on 30 June 2024: A in EA since 1 Jan (continuous 182 days: not yet 183, but 10 more days
    # in an earlier stay make it long-term cumulatively); B since 1 Jan 2023 (continuous); C since
    # 1 June (new); D exited on 1 June (not in EA).
    p = "'lgma.homelessness.placement'"
    ins(engine, "hl_placement_current", "topic, la_code, entity_id, entity_version, is_deleted, placement_id, client_id_pseudo, start_date, adults", [
        f"({p}, 'CW', 'P1', 1, 0, 'P1', 'A', '2024-01-01', 1)",
        f"({p}, 'CW', 'P0', 1, 0, 'P0', 'A', '2023-10-01', 1)",
        f"({p}, 'CW', 'P2', 1, 0, 'P2', 'B', '2023-01-01', 2)",
        f"({p}, 'CW', 'P3', 1, 0, 'P3', 'C', '2024-06-01', 1)",
        f"({p}, 'CW', 'P4', 1, 0, 'P4', 'D', '2023-01-01', 1)",
    ])
    e = "'lgma.homelessness.exit'"
    ins(engine, "hl_exit_current", "topic, la_code, entity_id, entity_version, is_deleted, placement_id, exit_date, is_prevention", [
        f"({e}, 'CW', 'X0', 1, 0, 'P0', '2023-10-11', 0)",
        f"({e}, 'CW', 'X4', 1, 0, 'P4', '2024-06-01', 0)",
    ])
    # Adults in EA: A 1 + B 2 + C 1 = 4; long-term: A (182 + 10 days) and B.
    assert run(engine, build(defs["H6"], *q2))["CW"] == (3.0, 4.0)

    a = "'lgma.planning.application'"
    ins(engine, "planning_application_current", "topic, la_code, entity_id, entity_version, is_deleted, decision, appeal_decision, appeal_decision_date, decision_date, decision_days, is_overdue", [
        f"({a}, 'CW', 'A1', 1, 0, 'GRANTED_WITH_CONDITIONS', 'GRANTED', {ms(dt.date(2024, 5, 1))}, {ms(dt.date(2024, 4, 2))}, 50, 0)",
        f"({a}, 'CW', 'A2', 1, 0, 'REFUSED', 'GRANTED', {ms(dt.date(2024, 5, 1))}, {ms(dt.date(2024, 4, 3))}, 70, 1)",
        f"({a}, 'CW', 'A3', 1, 0, 'REFUSED', 'WITHDRAWN', {ms(dt.date(2024, 5, 1))}, {ms(dt.date(2024, 4, 4))}, 40, 0)",
        f"({a}, 'CW', 'A4', 1, 0, 'REFUSED', 'REFUSED', {ms(dt.date(2024, 5, 1))}, {ms(dt.date(2023, 4, 4))}, 40, 0)",
    ])
    assert run(engine, build(defs["P2"], *q2))["CW"] == (2.0, 3.0)
    assert run(engine, build(defs["P_STATUTORY"], *q2))["CW"] == (2.0, 3.0)

    w = "'lgma.waste.return'"
    ins(engine, "waste_return_current", "topic, la_code, entity_id, entity_version, is_deleted, period_year, period_month, recycled_t, energy_recovery_t, landfill_t", [
        f"({w}, 'CW', 'W4', 1, 0, 2024, 4, 40, 40, 20)",
        f"({w}, 'CW', 'W6', 1, 0, 2024, 6, 50, 40, 10)",
        f"({w}, 'CW', 'W7', 1, 0, 2024, 7, 99, 0, 0)",
        f"({w}, 'CW', 'W6x', 1, 0, 2024, 6, 10, 0, 0)",
        f"({w}, 'CW', 'W6x', 2, 1, 2024, 6, 10, 0, 0)",
    ])
    assert run(engine, build(defs["W_RECYCLING"], *q2))["CW"] == (90.0, 200.0)


def test_the_indicator_document_is_current(root):
    import subprocess
    r = subprocess.run([sys.executable, str(root / "infra" / "tools" / "indicators_doc.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
