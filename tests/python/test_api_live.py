"""lgma-api against the real stack WITH THE SIMULATOR RUNNING: `lgma-publisher simulate` streams onto
its own topics, a private `lgma-ingest` lands the stream in the shared `lgma` tables, and while data
lands every summary family (planning, homelessness, housing, waste), current state and quality are
read through the API (JSON and CSV, as an analyst) and compared with the same figures queried
directly from ClickHouse as lgma_reader: the same view, and where the figure can be recomputed from
the history tables without the summary machinery, that independent count too.

Because rows land between two reads, each comparison reads ClickHouse, then the API, then
ClickHouse again, and only compares when the two direct reads agree (retrying otherwise); a
mismatch fails. After the stream stops and ingest has landed every delivered event, the closed
months and current state are compared once more, and the open datasets (suppressed) are checked
against the landed data (tests of suppression: test_api_suppression.py reuses this module's stream).

Requires `infra/stack up`, `infra/stack migrate`, and built lgma-api, lgma-ingest, lgma-publisher.
"""
import pytest

from api_support import Api, Retry, Stream, agree, csv_rows, direct, same_cell

COUNCILS = ["DC", "CK", "G", "LM", "WX"]


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    s = Stream(tmp_path_factory.mktemp("live"))
    try:
        s.start()
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    a = Api(tmp_path_factory.mktemp("live-api"))
    yield a
    a.stop()


def api_page(api, path, **params):
    """Every row of an endpoint (pages of 1000), JSON, as an analyst (admin for admin endpoints)."""
    role = "admin" if path.startswith(("/v1/quality/rules", "/v1/quarantine", "/v1/audit")) else "analyst"
    rows, offset, total = [], 0, None
    while True:
        r = api.get(path, role, limit=1000, offset=offset, **params)
        assert r.status_code == 200, (path, params, r.status_code, r.text[:300])
        body = r.json()
        if total is not None and body["page"]["total"] != total:
            raise Retry()  # rows landed between pages: offsets moved
        total = body["page"]["total"]
        rows += body["data"]
        if len(body["data"]) < 1000:
            assert len(rows) == total, (path, len(rows), total)
            return rows, body["columns"]
        offset += 1000


TOPIC_OF = {"planning_application": "lgma.planning.application", "housing_dwelling_unit": "lgma.housing.dwelling-unit",
            "hl_placement": "lgma.homelessness.placement"}
CURRENT = {"planning_application": ("/v1/current/planning-applications", "lgma.v_planning_application", "status"),
           "housing_dwelling_unit": ("/v1/current/dwelling-units", "lgma.v_housing_dwelling_unit", "status"),
           "hl_placement": ("/v1/current/homelessness-placements", "lgma.v_hl_placement", "accommodation_type")}


def compare_current(api, stream, table, la):
    """This stream's entities of one council through /v1/current/*: (entity_id, version, a field)
    equal the current-state view read directly, each entity once."""
    path, view, field = CURRENT[table]
    topic = stream.topic(TOPIC_OF[table])

    def via_api():
        rows = [r for r in api_page(api, path, la_code=la)[0] if r["topic"] == topic]
        ids = [r["entity_id"] for r in rows]
        assert len(ids) == len(set(ids)), f"{path}: an entity of this stream appears twice"
        assert not any(k in r for r in rows[:1] for k in ("ppsn", "forename", "surname", "date_of_birth")), rows[:1]
        return sorted((r["entity_id"], r["entity_version"], r[field]) for r in rows)

    def via_clickhouse():
        return sorted((r["entity_id"], r["entity_version"], r[field]) for r in direct(
            f"SELECT entity_id, entity_version, {field} FROM {view} WHERE la_code = '{la}' AND topic = '{topic}'")[0])
    return agree(via_clickhouse, via_api, f"{path} {la}")


def compare_view(api, path, view, where_sql, order_by, what, **params):
    """API JSON and CSV of `path` == `SELECT * FROM view WHERE ... ORDER BY ...` run directly."""
    sql = f"SELECT * FROM {view} WHERE {where_sql} ORDER BY {order_by}"

    def via_api():
        rows, columns = api_page(api, path, **params)
        return rows

    rows = agree(lambda: direct(sql)[0], via_api, what)
    # CSV: same rows, same order, same cells (null = empty).
    def via_csv():
        r = api.get(path, "analyst", limit=1000, format="csv", **params)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), r.text[:300]
        return csv_rows(r.text)

    def csv_matches():
        d1 = direct(sql)[0]
        c = via_csv()
        d2 = direct(sql)[0]
        return d1 == d2, d1, c

    for _ in range(40):
        stable, d, c = csv_matches()
        if stable:
            d = d[:1000]
            assert len(c) == len(d), (what, len(c), len(d))
            for got, want in zip(c, d):
                assert list(got) == list(want), (what, list(got), list(want))
                bad = [k for k in want if not same_cell(got[k], want[k])]
                assert not bad, (what, "csv", {k: (got[k], want[k]) for k in bad})
            break
    else:
        raise AssertionError(f"{what}: ClickHouse never held still for the CSV comparison")
    for r in rows:
        for k, v in r.items():
            assert v not in ("nan", "inf", "-inf"), (what, k, r)
    return rows


def period_filter(col, months):
    return f"{col} >= toDate('{months[0]}-01') AND {col} <= toDate('{months[-1]}-01')"


def test_figures_match_clickhouse_while_the_stream_lands(stream, api):
    """All summary families, current state and quality, compared while the publisher streams."""
    landed_before = stream.landed()
    m0, m1 = stream.months[0], stream.months[1]
    compared = {}

    # Planning: the monthly summary (materialized views) over the months the stream fills.
    rows = compare_view(api, "/v1/summaries/planning/monthly", "lgma.v_planning_monthly",
                        period_filter("month", [m0, m1]), "month, la_code", "planning monthly", **{"from": m0, "to": m1})
    compared["planning monthly"] = len(rows)
    # ... and received / decided recomputed from the history table, without the summary tables.
    for period in (m0,):
        indep = f"""SELECT la_code, toUInt64(uniqExactIf(entity_id, received_date IS NOT NULL AND toStartOfMonth(toDate(toDateTime(intDiv(assumeNotNull(received_date), 1000), 'Europe/Dublin'))) = toDate('{period}-01'))) AS received,
            toUInt64(uniqExactIf(entity_id, decision_date IS NOT NULL AND assumeNotNull(decision) IN ('GRANTED', 'GRANTED_WITH_CONDITIONS', 'REFUSED', 'SPLIT') AND toStartOfMonth(toDate(toDateTime(intDiv(assumeNotNull(decision_date), 1000), 'Europe/Dublin'))) = toDate('{period}-01'))) AS decided
            FROM lgma.planning_application_history WHERE is_deleted = 0 GROUP BY la_code HAVING received + decided > 0 ORDER BY la_code"""
        agree(lambda: {r["la_code"]: (r["received"], r["decided"]) for r in direct(indep)[0]},
              lambda: {r["la_code"]: (r["received"], r["decided"]) for r in api_page(api, "/v1/summaries/planning/monthly", period=period)[0]},
              f"planning received/decided {period} vs history")
    rows = compare_view(api, "/v1/summaries/planning/decision-times", "lgma.v_planning_decision_times", "1 = 1",
                        "la_code", "planning decision times")
    compared["planning decision times"] = len(rows)

    # Homelessness: stock at month end, regional trend, presentations (and recomputed), exits, stays.
    rows = compare_view(api, "/v1/summaries/homelessness/adults-in-ea", "lgma.v_hl_adults_in_ea_monthly",
                        f"month = toDate('{m0}-01')", "month, la_code, accommodation_type, age_band, gender",
                        "adults in EA", period=m0)
    compared["adults in EA"] = len(rows)
    compare_view(api, "/v1/summaries/homelessness/region-trend", "lgma.v_hl_region_trend",
                 period_filter("month", [m0, m1]), "month, homeless_region", "region trend", **{"from": m0, "to": m1})
    rows = compare_view(api, "/v1/summaries/homelessness/presentations", "lgma.v_hl_presentations_monthly",
                        f"month = toDate('{m0}-01') AND la_code = 'DC'",
                        "month, la_code, presentation_type, household_type, outcome", "presentations DC", la_code="DC", period=m0)
    compared["presentations"] = len(rows)
    indep = f"""SELECT la_code, toUInt64(uniqExact(entity_id)) AS n FROM lgma.hl_presentation_history
        WHERE is_deleted = 0 AND presented_at IS NOT NULL
          AND toStartOfMonth(toDate(toDateTime(intDiv(assumeNotNull(presented_at), 1000), 'Europe/Dublin'))) = toDate('{m0}-01')
        GROUP BY la_code ORDER BY la_code"""

    def presented_via_api():
        out = {}
        for r in api_page(api, "/v1/summaries/homelessness/presentations", period=m0)[0]:
            out[r["la_code"]] = out.get(r["la_code"], 0) + r["households"]
        return out
    agree(lambda: {r["la_code"]: r["n"] for r in direct(indep)[0]}, presented_via_api, "presentations vs history")
    compare_view(api, "/v1/summaries/homelessness/exits", "lgma.v_hl_exits_monthly",
                 f"month = toDate('{m0}-01')", "month, la_code, route, is_prevention, length_of_stay_band", "exits", period=m0)
    compare_view(api, "/v1/summaries/homelessness/length-of-stay", "lgma.v_hl_length_of_stay",
                 period_filter("month", [m0, m1]), "month, la_code", "length of stay", **{"from": m0, "to": m1})

    # Housing (current-state summaries: these move with every batch).
    rows = compare_view(api, "/v1/summaries/housing/voids", "lgma.v_housing_voids", "1 = 1", "la_code", "housing voids")
    compared["voids"] = len(rows)
    agree(lambda: {r["la_code"]: r["units"] for r in direct(
              "SELECT la_code, toUInt64(countIf(ifNull(status, '') != 'SOLD')) AS units FROM lgma.housing_dwelling_unit_current FINAL "
              "WHERE is_deleted = 0 GROUP BY la_code HAVING units > 0 ORDER BY la_code")[0]},
          lambda: {r["la_code"]: r["stock"] for r in api_page(api, "/v1/summaries/housing/voids")[0] if r["stock"] > 0},
          "housing stock vs current state table")
    compare_view(api, "/v1/summaries/housing/stock", "lgma.v_housing_stock", "la_code = 'DC'",
                 "la_code, ownership, status", "housing stock DC", la_code="DC")
    compare_view(api, "/v1/summaries/housing/need", "lgma.v_housing_need", "la_code = 'CK'",
                 "la_code, main_need, time_on_list", "housing need CK", la_code="CK")

    # Waste (monthly returns).
    compare_view(api, "/v1/summaries/waste/monthly", "lgma.v_waste_monthly", period_filter("month", stream.months),
                 "month, la_code", "waste monthly", **{"from": stream.months[0], "to": stream.months[-1]})

    # Current state while it changes: this stream's planning applications in one council.
    compared["current state"] = len(compare_current(api, stream, "planning_application", "LM"))

    # Quality: freshness per council x table, and events counted straight from the offset of record.
    rows = compare_view(api, "/v1/quality/freshness", "lgma.v_quality_freshness", "1 = 1", "la_code, entity_table",
                        "quality freshness")
    compared["freshness"] = len(rows)
    tables = "('hl_presentation', 'hl_placement', 'hl_exit', 'housing_dwelling_unit', 'housing_need_assessment', 'planning_application', 'waste_return')"
    agree(lambda: {(r["la_code"], r["entity_table"]): r["n"] for r in direct(
              f"SELECT la_code, entity_table, toUInt64(uniqExact(cityHash64(topic, partition, offset))) AS n FROM lgma.ingest_events "
              f"WHERE entity_table IN {tables} AND la_code IN ({', '.join(repr(c) for c in COUNCILS)}) GROUP BY la_code, entity_table ORDER BY la_code, entity_table")[0]},
          lambda: {(r["la_code"], r["entity_table"]): r["events_total"] for r in api_page(api, "/v1/quality/freshness")[0]
                   if r["entity_table"] in tables and r["la_code"] in COUNCILS},
          "quality events vs ingest_events")

    # The comparisons ran while the stream was landing, and found figures to compare.
    stream.assert_running()
    assert stream.landed() > landed_before, "nothing landed while comparing: not a live comparison"
    assert all(n > 0 for n in compared.values()), compared


def test_closed_months_and_current_state_after_the_stream(stream, api):
    """Publisher stopped, every delivered event landed: closed months and this stream's current
    state equal ClickHouse, and current state is the highest version per entity (from history)."""
    delivered = stream.stop_publisher_and_drain()
    assert delivered > 1000
    m0, m1 = stream.months[0], stream.months[1]
    compare_view(api, "/v1/summaries/planning/monthly", "lgma.v_planning_monthly", period_filter("month", [m0, m1]),
                 "month, la_code", "planning monthly (closed)", **{"from": m0, "to": m1})
    compare_view(api, "/v1/summaries/homelessness/adults-in-ea", "lgma.v_hl_adults_in_ea_monthly",
                 f"month = toDate('{m1}-01')", "month, la_code, accommodation_type, age_band, gender",
                 "adults in EA (closed)", period=m1)
    for path, view, table in [("/v1/current/planning-applications", "lgma.v_planning_application", "planning_application"),
                              ("/v1/current/dwelling-units", "lgma.v_housing_dwelling_unit", "housing_dwelling_unit"),
                              ("/v1/current/homelessness-placements", "lgma.v_hl_placement", "hl_placement")]:
        for la in ("LM", "DC"):
            got = compare_current(api, stream, table, la)
            # Independent of FINAL: the highest version per entity in history, deletes removed.
            topic = stream.topic(TOPIC_OF[table])
            history = sorted((r["entity_id"], r["v"]) for r in direct(
                f"SELECT entity_id, max(entity_version) AS v, argMax(is_deleted, entity_version) AS d FROM lgma.{table}_history "
                f"WHERE la_code = '{la}' AND topic = '{topic}' GROUP BY entity_id HAVING d = 0")[0])
            assert [(e, v) for e, v, _ in got] == history, (path, la, len(got), len(history))
            assert got or (table == "hl_placement" and la == "LM"), f"{path} {la}: the stream left nothing to compare"


def test_no_view_gives_nan_or_inf(stream):
    """Every float column of every lgma view, over everything landed: no nan, no inf."""
    views = direct("SELECT name FROM system.tables WHERE database = 'lgma' AND engine = 'View' ORDER BY name")[0]
    assert len(views) >= 15
    checked = 0
    for v in views:
        cols = direct(f"SELECT name FROM system.columns WHERE database = 'lgma' AND table = '{v['name']}' AND type LIKE '%Float%'")[0]
        for c in cols:
            n = direct(f"SELECT toUInt64(count()) AS n FROM lgma.{v['name']} WHERE isNaN(ifNull({c['name']}, 0)) OR isInfinite(ifNull({c['name']}, 0))")[0]
            assert n[0]["n"] == 0, (v["name"], c["name"])
            checked += 1
    assert checked >= 15
