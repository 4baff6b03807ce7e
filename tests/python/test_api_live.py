"""lgma-api against the real stack WITH THE SIMULATOR RUNNING: `lgma-publisher simulate` streams onto
its own topics, a private `lgma-ingest` lands the stream in the shared `lgma` tables, and while data
lands every summary family (planning, homelessness, housing, waste), current state and quality are
read through the API (JSON and CSV, as an analyst) and compared with the same figures queried
directly from ClickHouse as lgma_reader: the same view, and where the figure can be recomputed from
the history tables without the summary machinery, that independent count too.

Because rows land between two reads, each comparison reads ClickHouse, then the API, then
ClickHouse again, and only compares when the two direct reads agree (retrying otherwise); a
mismatch fails. After the stream stops and ingest has landed every delivered event, the closed
months and current state are compared once more, and every open dataset is checked for suppression
against the landed data: no published cell or total below the threshold, no line with a single
hidden entry, no hidden entry derivable from the published cells and totals (exact linear algebra),
published values equal to the true ones, CSV equal to JSON; with the default threshold and with 25.

Requires `infra/stack up`, `infra/stack migrate`, and built lgma-api, lgma-ingest, lgma-publisher.
"""
from fractions import Fraction

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

    for _ in range(80):
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
          "quality events vs ingest_events", view_of_direct=True)

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


# ---------------------------------------------------------------------------------------------
# Open data: small-number and complementary suppression over the landed stream
# ---------------------------------------------------------------------------------------------

TRUTH = {
    "homelessness-adults-in-ea-by-council":
        "SELECT la_code, age_band AS category, toUInt64(sum(adults)) AS value FROM lgma.v_hl_adults_in_ea_monthly "
        "WHERE month = toDate('{period}-01') GROUP BY la_code, category",
    "planning-decisions-by-council":
        "SELECT la_code, if(decision = 'GRANTED_WITH_CONDITIONS', 'GRANTED', decision) AS category, toUInt64(count()) AS value FROM "
        "(SELECT la_code, assumeNotNull(decision) AS decision, decision_date FROM lgma.planning_application_current FINAL "
        "WHERE is_deleted = 0 AND decision_date IS NOT NULL) "
        "WHERE decision IN ('GRANTED', 'GRANTED_WITH_CONDITIONS', 'REFUSED', 'SPLIT') "
        "AND toStartOfMonth(toDate(toDateTime(intDiv(assumeNotNull(decision_date), 1000), 'Europe/Dublin'))) = toDate('{period}-01') "
        "GROUP BY la_code, category",
}


def extended(body):
    """The published grid with its totals: council rows + a total column, then the totals row."""
    cats = body["categories"]
    grid = [[r["cells"][c] for c in cats] + [r["total"]] for r in body["rows"]]
    grid.append([body["column_totals"][c] for c in cats] + [body["grand_total"]])
    return grid


def derivable_hidden(grid):
    """Hidden entries whose value follows from the published ones through the table's equations
    (each row's cells sum to its total, each column's cells sum to its total): exact Gaussian
    elimination over the rationals. An entry is derivable iff its unit vector lies in the row space
    of the equations restricted to the hidden entries."""
    R, C = len(grid) - 1, len(grid[0]) - 1
    hidden = [(r, c) for r in range(R + 1) for c in range(C + 1) if grid[r][c] is None]
    index = {p: i for i, p in enumerate(hidden)}
    equations = []
    for r in range(R + 1):
        equations.append([((r, c), 1) for c in range(C)] + [((r, C), -1)])
    for c in range(C + 1):
        equations.append([((r, c), 1) for r in range(R)] + [((R, c), -1)])
    rows = []
    for eq in equations:
        v = [Fraction(0)] * len(hidden)
        for p, k in eq:
            if p in index:
                v[index[p]] += k
        if any(v):
            rows.append(v)
    pivots = []  # reduced rows with their pivot column
    for v in rows:
        for p, row in pivots:
            if v[p]:
                f = v[p]
                v = [a - f * b for a, b in zip(v, row)]
        nz = next((i for i, a in enumerate(v) if a), None)
        if nz is not None:
            v = [a / v[nz] for a in v]
            pivots = [(p, [a - row[nz] * b for a, b in zip(row, v)]) for p, row in pivots]
            pivots.append((nz, v))
    out = []
    for k, pos in enumerate(hidden):
        e = [Fraction(0)] * len(hidden)
        e[k] = Fraction(1)
        for p, row in pivots:
            if e[p]:
                f = e[p]
                e = [a - f * b for a, b in zip(e, row)]
        if not any(e):
            out.append(pos)
    return out


def test_derivability_check_finds_a_lone_hidden_cell():
    # The auditor itself: one hidden cell in a row is derivable; a 2x2 rectangle of hidden cells is not.
    assert derivable_hidden([[None, 20, 23], [40, 50, 90], [None, 70, 113]]) == [(0, 0), (2, 0)]
    assert derivable_hidden([[None, None, 30, 53], [None, None, 60, 113], [40, 56, 90, 166]]) == []


@pytest.fixture(scope="module")
def api25(tmp_path_factory):
    a = Api(tmp_path_factory.mktemp("live-api25"), threshold=25)
    yield a
    a.stop()


@pytest.mark.parametrize("threshold", [10, 25])
def test_open_data_suppression_over_the_stream(stream, api, api25, threshold):
    server = api if threshold == 10 else api25
    catalogue = server.get("/v1/open-data").json()["dataset"]
    ids = [d["identifier"] for d in catalogue]
    assert set(ids) == set(TRUTH), "every open dataset needs a suppression test here"
    primary = complementary = 0
    for dataset in ids:
        # The stream's months, and the default (the latest month with data, whoever wrote it).
        for asked in stream.months[:2] + [None]:
            r = server.get(f"/v1/open-data/{dataset}", **({"period": asked} if asked else {}))
            assert r.status_code == 200, r.text[:300]
            body = r.json()
            period = body["period"]
            assert period == (asked or body["dataset"]["temporal"]["endDate"][:7]), (asked, period)
            assert body["dataset"]["suppression"]["threshold"] == threshold
            assert len(body["rows"]) == 31
            grid = extended(body)
            where = f"{dataset} {period} threshold {threshold}"
            # No published cell or total is a small non-zero count.
            for row in grid:
                assert all(v is None or v == 0 or v >= threshold for v in row), (where, row)
            # No row or column (totals included) with exactly one hidden entry ...
            for line in grid + [list(col) for col in zip(*grid)]:
                assert sum(v is None for v in line) != 1, (where, line)
            # ... and no hidden entry derivable by any combination of the published equations.
            assert derivable_hidden(grid) == [], where
            # Published values are the true ones; every small true value is hidden.
            truth = {(x["la_code"], x["category"]): x["value"] for x in direct(TRUTH[dataset].format(period=period))[0]}
            cats = body["categories"]
            true_grid = [[truth.get((row["la_code"], c), 0) for c in cats] for row in body["rows"]]
            true_grid = [row + [sum(row)] for row in true_grid]
            true_grid.append([sum(col) for col in zip(*true_grid)])
            assert true_grid[-1][-1] > 0, f"{where}: no landed data to publish"
            for pub_row, true_row in zip(grid, true_grid):
                for pub, true in zip(pub_row, true_row):
                    assert pub is None or pub == true, (where, pub, true)
                    if 0 < true < threshold:
                        assert pub is None, (where, true)
                        primary += 1
                    elif pub is None:
                        complementary += 1
            # The CSV publishes the same table ([c] = suppressed).
            csv = server.get(f"/v1/open-data/{dataset}", period=period, format="csv")
            assert csv.headers["content-type"].startswith("text/csv")
            lines = csv_rows(csv.text)
            assert len(lines) == 32
            for line, pub_row in zip(lines, grid):
                shown = [line[c] for c in cats] + [line["total"]]
                assert shown == ["[c]" if v is None else str(v) for v in pub_row], (where, line, pub_row)
            assert body["suppressed_entries"] == sum(v is None for row in grid for v in row)
    # Real data exercised both kinds of suppression.
    assert primary > 0 and complementary > 0, (primary, complementary)
