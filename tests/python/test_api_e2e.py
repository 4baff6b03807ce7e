"""lgma-api against the real stack: figures equal direct ClickHouse queries, roles, audit,
suppression of open data, and bad / hostile parameters on every endpoint.

Fixtures are rows inserted (as lgma_writer) into the ingest tables of 01xx, in a random month of
2001-2009 that live data never uses, marked with a unique source_system / topic, and removed at
the end. Requires `infra/stack up`, `infra/stack migrate` and `cargo build -p lgma-api`.
"""
import calendar
import datetime as dt
import random
import uuid

import pytest

from api_support import Api, ch, ch_json, insert

RUN = uuid.uuid4().hex[:12]
MARK = f"api-test-{RUN}"
YEAR, MONTH = random.randint(2001, 2009), random.randint(1, 10)
PERIOD = f"{YEAR:04d}-{MONTH:02d}"
ENTITY_TABLE = f"api_test_{RUN}"
VOID_LA = f"Z{RUN[:8]}"


def ms(y, m, d):
    return int(calendar.timegm(dt.datetime(y, m, d, 12).timetuple()) * 1000)


def base(topic, entity_id, version, la_code):
    return {"topic": topic, "partition": 0, "offset": version, "ingested_at": dt.datetime.utcnow().strftime("%Y-%m-%d %H:%M:%S"),
            "event_id": str(uuid.uuid4()), "operation": "UPDATE" if version > 1 else "CREATE", "entity_id": entity_id,
            "entity_version": version, "la_code": la_code, "source_system": MARK, "occurred_at": ms(YEAR, MONTH, 1),
            "published_at": ms(YEAR, MONTH, 1), "is_deleted": 0, "verdict": "ACCEPT", "rule_ids": []}


def planning_rows():
    rows = []
    # DC: 12 granted within the period (20..42 days), 3 refused late (70 days), 1 with FI, 1 appealed.
    apps = [("DC", "GRANTED", 20 + 2 * i, 0) for i in range(12)] + [("DC", "REFUSED", 70, 1)] * 3
    # CK: 4 granted (small numbers for suppression).
    apps += [("CK", "GRANTED_WITH_CONDITIONS", 30, 0)] * 4
    for n, (la, decision, days, overdue) in enumerate(apps):
        eid = f"{MARK}-pa-{n}"
        v1 = base("lgma.planning.application", eid, 1, la) | {"received_date": ms(YEAR, MONTH, 2), "status": "RECEIVED"}
        v2 = base("lgma.planning.application", eid, 2, la) | {
            "received_date": ms(YEAR, MONTH, 2), "decision_date": ms(YEAR, MONTH, 25), "decision": decision,
            "decision_days": days, "is_overdue": overdue, "status": "DECIDED",
            "fi_request_date": ms(YEAR, MONTH, 5) if (la == "DC" and n == 12) else None,
            "appeal_ref_number": "ABP-1-01" if (la == "DC" and n == 0) else None}
        rows.append((v1, v2))
    return rows


def placement_rows():
    out = []
    for n in range(5):
        eid = f"{MARK}-pl-{n}"
        p = base("lgma.homelessness.placement", eid, 1, "DC") | {
            "placement_id": eid, "accommodation_type": "PEA", "age_band": "AGE_25_44", "gender": "MALE",
            "adults": 2, "start_date": f"{YEAR:04d}-{MONTH:02d}-03", "homeless_region": "Dublin"}
        exit_date = f"{YEAR:04d}-{MONTH:02d}-20" if n == 0 else f"{YEAR:04d}-{MONTH + 2:02d}-01"
        e = base("lgma.homelessness.exit", f"{MARK}-ex-{n}", 1, "DC") | {
            "placement_id": eid, "exit_date": exit_date, "route": "HAP", "days_in_ea": 17 if n == 0 else 60,
            "is_prevention": 0, "length_of_stay_band": "0-3_MONTHS", "homeless_region": "Dublin"}
        out.append((p, e))
    return out


def cleanup():
    for t in ["planning_application_history", "planning_application_current", "hl_placement_history",
              "hl_placement_current", "hl_exit_history", "hl_exit_current", "housing_dwelling_unit_current"]:
        ch(f"ALTER TABLE lgma.{t} DELETE WHERE source_system = '{MARK}'", "admin")
    month = f"{YEAR:04d}-{MONTH:02d}-01"
    for t in ["sum_planning_received", "sum_planning_decided", "sum_hl_exits"]:
        ch(f"ALTER TABLE lgma.{t} DELETE WHERE month >= toDate('{month}') AND month <= addMonths(toDate('{month}'), 2)", "admin")
    ch(f"ALTER TABLE lgma.ingest_events DELETE WHERE entity_table = '{ENTITY_TABLE}'", "admin")
    ch(f"ALTER TABLE lgma.sum_quality_daily DELETE WHERE entity_table = '{ENTITY_TABLE}'", "admin")
    ch(f"ALTER TABLE lgma.sum_quality_rules DELETE WHERE entity_table = '{ENTITY_TABLE}'", "admin")


@pytest.fixture(scope="module")
def fixtures():
    for v1, v2 in planning_rows():
        insert("planning_application_history", [v1, v2])
        insert("planning_application_current", [v2])   # highest version first ...
        insert("planning_application_current", [v1])   # ... a late, older version must not win
    for p, e in placement_rows():
        insert("hl_placement_history", [p]); insert("hl_placement_current", [p])
        insert("hl_exit_history", [e]); insert("hl_exit_current", [e])
    events = [{"topic": f"api-test.{RUN}", "partition": 0, "offset": i, "event_id": str(uuid.uuid4()),
               "entity_table": ENTITY_TABLE, "entity_id": f"e{i}", "entity_version": 1, "operation": "CREATE",
               "la_code": "DC", "verdict": "ACCEPT" if i < 7 else "QUARANTINE", "rule_ids": [] if i < 7 else ["R_TEST"],
               "schema_id": 1, "rules_version": "t", "key_version": "t", "occurred_at": ms(YEAR, MONTH, 1),
               "published_at": ms(YEAR, MONTH, 1), "ingested_at": dt.datetime.utcnow().strftime("%Y-%m-%d %H:%M:%S"),
               "batch_id": RUN} for i in range(10)]
    insert("ingest_events", events)
    insert("ingest_events", events[:3])  # a re-inserted batch must not count twice in the summaries
    # A council-like code of its own with two units and no relet: the void averages have nothing to
    # average (0/0 in ClickHouse is nan).
    for n, status in enumerate(["TENANTED", "VACANT_RELETTABLE"]):
        insert("housing_dwelling_unit_current", [base("lgma.housing.dwelling-unit", f"{MARK}-du-{n}", 1, VOID_LA)
                                                 | {"status": status, "ownership": "LA_OWNED"}])
    yield
    cleanup()


@pytest.fixture(scope="module")
def api(tmp_path_factory, fixtures):
    a = Api(tmp_path_factory.mktemp("api"))
    yield a
    a.stop()


def test_planning_summary_matches_fixture_and_clickhouse(api):
    r = api.get("/v1/summaries/planning/monthly", "analyst", la_code="DC", period=PERIOD)
    assert r.status_code == 200, r.text
    rows = r.json()["data"]
    assert len(rows) == 1
    row = rows[0]
    assert (row["received"], row["decided"], row["refused"], row["appealed"]) == (15, 15, 3, 1)
    assert row["within_statutory_share"] == 0.8 and row["grant_rate"] == 0.8
    assert row["fi_rate"] == round(1 / 15, 4)
    assert row["median_decision_days"] == 34
    direct = ch_json(f"SELECT * FROM lgma.v_planning_monthly WHERE la_code = 'DC' AND month = toDate('{PERIOD}-01')")
    assert direct[0]["received"] in (15, "15") and direct[0]["median_decision_days"] == row["median_decision_days"]
    assert r.json()["page"]["total"] == 1
    # CSV carries the same figures.
    csv = api.get("/v1/summaries/planning/monthly", "analyst", la_code="DC", period=PERIOD, format="csv")
    assert csv.headers["content-type"].startswith("text/csv")
    header, line = csv.text.strip().splitlines()
    rec = dict(zip(header.split(","), line.split(",")))
    assert rec["received"] == "15" and rec["decided"] == "15" and rec["month"] == f"{PERIOD}-01"


def test_current_state_takes_highest_version(api):
    # The fixture's CK applications are numbers 15..18; look each up by its id (no paging through
    # every CK row, which other streams share).
    mine = []
    for n in range(15, 19):
        page = api.get("/v1/current/planning-applications", "analyst", la_code="CK", entity_id=f"{MARK}-pa-{n}").json()
        assert len(page["data"]) == 1, page
        mine += page["data"]
    assert all(x["entity_version"] == 2 and x["decision"] for x in mine)
    assert not any("ppsn" in k or "forename" in k for k in mine[0])
    # Filters combine: a DC application is not found under CK.
    other = api.get("/v1/current/planning-applications", "analyst", la_code="CK", entity_id=f"{MARK}-pa-0").json()
    assert other["data"] == []
    bad = api.get("/v1/current/planning-applications", "analyst", entity_id="x\u0000y")
    assert bad.status_code == 400 and "entity_id" in bad.text


def test_homelessness_stock_and_trend(api):
    r = api.get("/v1/summaries/homelessness/adults-in-ea", "analyst", la_code="DC", period=PERIOD)
    assert r.status_code == 200, r.text
    rows = r.json()["data"]
    assert [(x["accommodation_type"], x["age_band"], x["gender"], x["adults"], x["households"]) for x in rows] == \
        [("PEA", "AGE_25_44", "MALE", 8, 4)]
    t = api.get("/v1/summaries/homelessness/region-trend", "analyst", region="Dublin", period=PERIOD).json()["data"]
    assert t[0]["adults"] == 8
    direct = ch_json(f"SELECT adults FROM lgma.v_hl_region_trend WHERE homeless_region = 'Dublin' AND month = toDate('{PERIOD}-01')")
    assert int(direct[0]["adults"]) == 8
    ex = api.get("/v1/summaries/homelessness/exits", "analyst", la_code="DC", period=PERIOD).json()["data"]
    assert sum(x["exits"] for x in ex) == 1


def test_quality_freshness_counts_each_event_once(api):
    rows = api.get("/v1/quality/freshness", "analyst", la_code="DC", limit=1000).json()["data"]
    mine = [x for x in rows if x["entity_table"] == ENTITY_TABLE]
    assert len(mine) == 1
    assert (mine[0]["events_total"], mine[0]["accepted"], mine[0]["quarantined"]) == (10, 7, 3)
    rules = api.get("/v1/quality/rules", "admin", la_code="DC", limit=1000).json()["data"]
    assert [x["events"] for x in rules if x["entity_table"] == ENTITY_TABLE] == [3]


def test_roles_and_audit(api):
    nonce = random.randint(100, 999)
    q = {"la_code": "DC", "limit": nonce}
    assert api.get("/v1/summaries/planning/monthly", None, **q).status_code == 401
    assert api.get("/v1/summaries/planning/monthly", "public", **q).status_code == 403
    assert api.get("/v1/summaries/planning/monthly", None, headers={"Authorization": "Bearer nope"}, **q).status_code == 401
    assert api.get("/v1/open-data", None, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert api.get("/v1/quarantine", "analyst", la_code="DC", limit=nonce).status_code == 403
    assert api.get("/v1/quarantine", "admin", la_code="DC", limit=nonce).status_code == 200
    assert api.get("/v1/summaries/planning/monthly", "analyst", **q).status_code == 200
    assert api.get("/v1/open-data", None).status_code == 200
    audit = ch_json(f"SELECT path, role, token_name, status FROM lgma.api_access_audit "
                    f"WHERE query = 'la_code=DC&limit={nonce}' AND at >= now() - 300 ORDER BY at, status")
    got = sorted((a["path"], a["role"], a["token_name"], int(a["status"])) for a in audit)
    assert got == sorted([
        ("/v1/summaries/planning/monthly", "anonymous", "", 401),
        ("/v1/summaries/planning/monthly", "public", "test-public", 403),
        ("/v1/summaries/planning/monthly", "invalid_token", "", 401),
        ("/v1/quarantine", "analyst", "test-analyst", 403),
        ("/v1/quarantine", "admin", "test-admin", 200),
        ("/v1/summaries/planning/monthly", "analyst", "test-analyst", 200),
    ]), got


def test_open_data_suppressed_and_described(api):
    r = api.get("/v1/open-data/planning-decisions-by-council", None, period=PERIOD)
    assert r.status_code == 200, r.text
    body = r.json()
    meta = body["dataset"]
    assert meta["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert meta["publisher"]["name"].startswith("Local Government Management Agency")
    for k in ("title", "description", "temporal", "spatial", "modified", "suppression"):
        assert meta[k], k
    assert meta["suppression"]["threshold"] == 10
    rows = {x["la_code"]: x for x in body["rows"]}
    assert len(rows) == 31
    # DC: granted 12, refused 3 (primary), so granted is hidden too (complementary). CK's total 4 is
    # primary; with only DC and CK non-zero, DC's total 15 must go too, or CK's = grand - DC.
    assert rows["DC"]["cells"] == {"GRANTED": None, "REFUSED": None, "SPLIT": 0} and rows["DC"]["total"] is None
    assert body["grand_total"] == 19
    # CK: 4 granted; the total equals it, so both are hidden.
    assert rows["CK"]["cells"]["GRANTED"] is None and rows["CK"]["total"] is None
    # Invariants over the whole published grid (categories + totals).
    cats = body["categories"]
    grid = [[x["cells"][c] for c in cats] + [x["total"] for x in [rows[k]]] for k, x in rows.items()]
    grid.append([body["column_totals"][c] for c in cats] + [body["grand_total"]])
    for line in grid + [list(col) for col in zip(*grid)]:
        assert sum(v is None for v in line) != 1, line
        assert all(v is None or v == 0 or v >= 10 for v in line), line
    # Published numbers are the true ones (direct query).
    direct = ch_json(f"SELECT count() AS n FROM lgma.v_planning_application WHERE decision_date IS NOT NULL "
                     f"AND toStartOfMonth(toDate(toDateTime(intDiv(assumeNotNull(decision_date), 1000), 'Europe/Dublin'))) = toDate('{PERIOD}-01')")
    assert int(direct[0]["n"]) == body["grand_total"]
    csv = api.get("/v1/open-data/planning-decisions-by-council", None, period=PERIOD, format="csv").text.splitlines()
    dc = [line for line in csv if line.startswith("DC,")][0]
    assert dc == "DC,Dublin City Council,[c],[c],0,[c]"
    catalogue = api.get("/v1/open-data", None).json()
    assert {d["identifier"] for d in catalogue["dataset"]} >= {"planning-decisions-by-council", "homelessness-adults-in-ea-by-council"}


def test_empty_averages_are_null_not_nan(api):
    """0/0 figures are NULL everywhere: null in the API's JSON, an empty cell in its CSV, \\N in
    ClickHouse's own CSV (what Grafana / Superset users read), never nan."""
    rows = [x for x in api.get("/v1/summaries/housing/voids", "analyst", limit=1000).json()["data"] if x["la_code"] == VOID_LA]
    assert len(rows) == 1, rows
    row = rows[0]
    assert (row["stock"], row["voids"], row["void_rate"], row["relets"]) == (2, 1, 0.5, 0)
    assert row["avg_void_days"] is None and row["avg_relet_cost_eur"] is None and row["stock_per_1000"] is None
    csv = api.get("/v1/summaries/housing/voids", "analyst", limit=1000, format="csv").text.splitlines()
    header = csv[0].split(",")
    line = dict(zip(header, [x for x in csv if x.startswith(VOID_LA + ",")][0].split(",")))
    assert line["avg_void_days"] == "" and line["avg_relet_cost_eur"] == "" and line["void_rate"] == "0.5"
    cells = {c.strip('"').lower() for x in csv for c in x.split(",")}
    assert not cells & {"nan", "inf", "-inf", "+inf"}
    direct = ch(f"SELECT avg_void_days, avg_relet_cost_eur FROM lgma.v_housing_voids WHERE la_code = '{VOID_LA}' FORMAT CSV")
    assert direct.strip() == "\\N,\\N", direct


def test_shipped_example_queries_run_as_the_reader():
    """The Grafana / Superset examples of infra/clickhouse/queries run on the local server as the
    read-only dashboard user (test_sql_current_engine runs them on a current engine)."""
    import migrate
    from api_support import ROOT
    paths = sorted((ROOT / "infra" / "clickhouse" / "queries").glob("*.sql"))
    assert len(paths) >= 4
    for path in paths:
        for step in migrate.parse(path.read_text()):
            header = ch(step.sql + " FORMAT TSVWithNames", "reader").splitlines()[0].split("\t")
            assert len(header) >= 3, (path.name, header)


HOSTILE = [
    {"la_code": "DC' OR '1'='1"}, {"la_code": "DC); DROP TABLE lgma.api_access_audit; --"},
    {"region": "Dublin' UNION SELECT * FROM system.users --"}, {"period": "2024-05' OR 1=1 --"},
    {"period": "2024-13"}, {"from": "2024-05", "to": "2024-01"}, {"limit": "0"}, {"limit": "1000000"},
    {"limit": "10; DROP TABLE x"}, {"offset": "-1"}, {"format": "xml"}, {"nonexistent": "1"},
    {"la_code": "%00"}, {"period": "2024-05\nSELECT 1"},
]


def test_hostile_and_bad_parameters_on_every_endpoint(api):
    tables_before = ch("SHOW TABLES FROM lgma", "admin")
    audit_cols = ch("DESCRIBE TABLE lgma.api_access_audit", "admin")
    counts_before = ch(f"SELECT (SELECT count() FROM lgma.local_authorities), (SELECT count() FROM lgma.planning_application_history WHERE source_system = '{MARK}')", "admin")
    paths = [p for p in api.get("/openapi.json").json()["paths"] if p.startswith("/v1/")]
    assert len(paths) >= 20
    for path in paths:
        concrete = path.replace("{id}", "planning-decisions-by-council")
        for params in HOSTILE:
            r = api.get(concrete, "admin", **params)
            assert 400 <= r.status_code < 500, (concrete, params, r.status_code, r.text[:200])
            assert r.headers["content-type"].startswith("application/json")
            assert "error" in r.json()
    bad = api.get("/v1/open-data/planning'--", None)
    assert bad.status_code == 404
    assert ch("SHOW TABLES FROM lgma", "admin") == tables_before
    assert ch("DESCRIBE TABLE lgma.api_access_audit", "admin") == audit_cols
    assert ch(f"SELECT (SELECT count() FROM lgma.local_authorities), (SELECT count() FROM lgma.planning_application_history WHERE source_system = '{MARK}')", "admin") == counts_before


def test_ops_openapi_and_limits(api):
    assert api.get("/health").text == "ok"
    assert "lgma" not in api.get("/metrics").text or api.get("/metrics").status_code == 200
    doc = api.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.") and "/v1/summaries/planning/monthly" in doc["paths"]
    import requests
    big = requests.post(api.base + "/v1/open-data", data=b"x" * 200_000, timeout=10)
    assert big.status_code in (405, 413)
    assert api.get("/no/such/thing").status_code == 404
