"""The dashboard in headless Chromium (Debian's `chromium`): it loads, polls the API with an analyst
token and shows the numbers the API returns, in every panel. Screenshot: tests/artifacts/.

Fixtures guarantee every panel has rows: events in lgma.ingest_events (unique entity_table) for
freshness, and in Leitrim (LM) a placement still open (homelessness trend, North-West), decided
planning applications (decision times against the 8-week target) and dwelling units (voids). Every
figure of every panel is compared with what the API returns (before or after the page load, since
live ingest may move them in between), formatted as the page formats it. The page polls (at least
two refreshes are required), and the screenshot goes to tests/artifacts/dashboard.png.
"""
import datetime as dt
import decimal
import html.parser
import shutil
import subprocess
import uuid

import pytest

from api_support import ROOT, TOKENS, Api, ch, insert

RUN = uuid.uuid4().hex[:12]
ENTITY_TABLE = f"dash_test_{RUN}"
MARK = f"dash-test-{RUN}"
PANELS = ("fresh-", "trend-", "plan-", "voids-", "rec-")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class DataTestIds(html.parser.HTMLParser):
    """Collects text of elements carrying data-test, plus body/status attributes."""

    def __init__(self):
        super().__init__()
        self.values, self.attrs_of, self._open = {}, {}, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("body",) or a.get("id") == "status":
            self.attrs_of[tag if tag == "body" else "status"] = a
        self._open.append(a.get("data-test"))

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()

    def handle_data(self, data):
        if self._open and self._open[-1]:
            self.values[self._open[-1]] = self.values.get(self._open[-1], "") + data


def chromium(args, tmp):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp}", "--virtual-time-budget=20000", "--window-size=1400,1800"] + args
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def api_figures(api):
    get = lambda p: api.get(p, "analyst", limit=1000).json()["data"]
    fresh = {}
    for r in get("/v1/quality/freshness"):
        f = fresh.setdefault(r["la_code"], [0, 0])
        f[0] += r["events_total"]; f[1] += r["quarantined"]
    out = {}
    # The panel lists the 31 councils; events with an unknown or empty la_code (quarantined by ingest,
    # e.g. by other tests running at the same time) are not a council row.
    known = {line.split(",")[0] for line in (ROOT / "schemas/reference/local_authorities.csv").read_text().splitlines()[1:]}
    for la, (events, q) in fresh.items():
        if la not in known:
            continue
        out[f"fresh-events-{la}"] = str(events); out[f"fresh-quarantined-{la}"] = str(q)
    trend = {}
    first = dt.date.today().replace(day=1)
    for _ in range(23):  # dashboard.js: the last 24 months
        first = (first - dt.timedelta(days=1)).replace(day=1)
    for r in api.get("/v1/summaries/homelessness/region-trend", "analyst", limit=1000, **{"from": first.strftime("%Y-%m")}).json()["data"]:
        if r["homeless_region"] not in trend or r["month"] > trend[r["homeless_region"]]["month"]:
            trend[r["homeless_region"]] = r
    for region, r in trend.items():
        out[f"trend-adults-{region}"] = str(r["adults"]); out[f"trend-month-{region}"] = r["month"][:7]
    for r in get("/v1/summaries/planning/decision-times"):
        out[f"plan-decided-{r['la_code']}"] = str(r["decided"])
        out[f"plan-median-{r['la_code']}"] = num(r["median_decision_days"])
        out[f"plan-within-{r['la_code']}"] = pct(r["within_statutory_share"])
    for r in get("/v1/summaries/housing/voids"):
        out[f"voids-stock-{r['la_code']}"] = str(r["stock"]); out[f"voids-voids-{r['la_code']}"] = str(r["voids"])
        out[f"voids-rate-{r['la_code']}"] = pct(r["void_rate"])
    published, lost = {}, {}
    for p in api.get("/v1/reconcile", "analyst").json()["partitions"]:
        published[p["topic"]] = published.get(p["topic"], 0) + p["published"]
        lost[p["topic"]] = lost.get(p["topic"], 0) + p["lost"] + p["lost_unrecorded"]
    for topic in published:
        out[f"rec-published-{topic}"] = str(published[topic]); out[f"rec-lost-{topic}"] = str(lost[topic])
    return out


def num(x):
    """As dashboard.js `num`: "–" for null, else the number as JavaScript prints it."""
    if x is None:
        return "–"
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def pct(x):
    """As dashboard.js `pct`: `(x * 100).toFixed(1)`, which rounds the exact binary value half up
    (26.25 -> 26.3), where Python's format rounds half to even."""
    if x is None:
        return "–"
    return str(decimal.Decimal(x * 100).quantize(decimal.Decimal("0.1"), rounding=decimal.ROUND_HALF_UP)) + "%"


def base(topic, entity_id, version=1):
    now = dt.datetime.utcnow()
    ms = int(now.timestamp() * 1000)
    return {"topic": topic, "partition": 0, "offset": version, "ingested_at": now.strftime("%Y-%m-%d %H:%M:%S"),
            "event_id": str(uuid.uuid4()), "operation": "CREATE", "entity_id": entity_id, "entity_version": version,
            "la_code": "LM", "source_system": MARK, "occurred_at": ms, "published_at": ms, "is_deleted": 0,
            "verdict": "ACCEPT", "rule_ids": []}


def panel_fixtures():
    today = dt.date.today()
    day_ms = int(dt.datetime(today.year, today.month, 1, 12).timestamp() * 1000)
    insert("hl_placement_current", [base("lgma.homelessness.placement", f"{MARK}-pl-{n}") | {
        "placement_id": f"{MARK}-pl-{n}", "accommodation_type": "PEA", "age_band": "AGE_25_44", "gender": "FEMALE",
        "adults": 1, "start_date": today.replace(day=1).isoformat(), "homeless_region": "North-West"} for n in range(3)])
    planning = [base("lgma.planning.application", f"{MARK}-pa-{n}") | {
        "received_date": day_ms, "decision_date": day_ms, "decision": "GRANTED", "decision_days": 40 + 10 * n,
        "is_overdue": int(n > 1), "status": "DECIDED"} for n in range(4)]
    # As ingest writes them: history (whose summaries feed the decision-times panel) and current state.
    insert("planning_application_history", planning)
    insert("planning_application_current", planning)
    insert("housing_dwelling_unit_current", [base("lgma.housing.dwelling-unit", f"{MARK}-du-{n}") | {
        "status": "VACANT_RELETTABLE" if n == 0 else "TENANTED", "ownership": "LA_OWNED"} for n in range(5)])


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    now = dt.datetime.utcnow().strftime("%Y-%m-%d %H:%M:%S")
    insert("ingest_events", [{"topic": f"dash-test.{RUN}", "partition": 0, "offset": i, "event_id": str(uuid.uuid4()),
                              "entity_table": ENTITY_TABLE, "entity_id": f"e{i}", "entity_version": 1, "operation": "CREATE",
                              "la_code": "LM", "verdict": "ACCEPT" if i < 40 else "QUARANTINE", "rule_ids": [],
                              "schema_id": 1, "rules_version": "t", "key_version": "t", "occurred_at": 0,
                              "published_at": 0, "ingested_at": now, "batch_id": RUN} for i in range(50)])
    panel_fixtures()
    a = Api(tmp_path_factory.mktemp("dash-api"))
    yield a
    a.stop()
    for t in ("ingest_events", "sum_quality_daily", "sum_quality_rules"):
        ch(f"ALTER TABLE lgma.{t} DELETE WHERE entity_table = '{ENTITY_TABLE}'", "admin")
    for t in ("hl_placement_current", "planning_application_current", "housing_dwelling_unit_current"):
        ch(f"ALTER TABLE lgma.{t} DELETE WHERE source_system = '{MARK}'", "admin")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (LGMA_WITH_CHROMIUM=1 infra/stack install)")
def test_dashboard_shows_the_api_numbers(api, tmp_path):
    before = api_figures(api)
    url = f"{api.base}/#token={TOKENS['analyst']}&interval=3"
    dom = chromium(["--dump-dom", url], tmp_path / "profile-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    after = api_figures(api)
    page = DataTestIds()
    page.feed(dom.stdout)
    assert page.attrs_of.get("status", {}).get("data-state") == "ok", dom.stdout[:3000]
    assert int(page.attrs_of["body"].get("data-loaded", "0")) >= 2, "the page did not poll"
    # Freshness lists all 31 councils; the fixture council shows our 50 events, 10 quarantined (at least:
    # live ingest may add to LM).
    assert sum(1 for k in page.values if k.startswith("fresh-state-")) == 31
    assert int(page.values["fresh-events-LM"]) >= 50 and int(page.values["fresh-quarantined-LM"]) >= 10
    # The fixture rows are on the page: Leitrim decided, voids and the North-West trend.
    assert int(page.values["plan-decided-LM"]) >= 4 and int(page.values["voids-stock-LM"]) >= 5
    assert int(page.values["trend-adults-North-West"]) >= 3
    assert page.values["trend-month-North-West"] == dt.date.today().strftime("%Y-%m"), "the trend must reach this month"
    compared = dict.fromkeys(PANELS, 0)
    for key in set(before) | set(after):
        panel = next((p for p in PANELS if key.startswith(p)), None)
        if panel:
            shown = page.values.get(key)
            assert shown in (before.get(key), after.get(key)), (key, shown, before.get(key), after.get(key))
            compared[panel] += 1
    # Every panel compared, every row of it: freshness 2 per council; planning and voids 3 per row.
    assert compared["fresh-"] >= 2 and compared["trend-"] >= 2, compared
    # Reconciliation: the seven council topics, published and lost as the API counts them.
    assert compared["rec-"] == 14, compared
    assert "published =" in page.values.get("reconcile-summary", ""), page.values.get("reconcile-summary")
    assert compared["plan-"] >= 3 and compared["plan-"] % 3 == 0 and compared["voids-"] >= 3, compared
    # The planning chart: one bar per council with a median, and the 8-week target line.
    assert dom.stdout.count('<rect') >= 1 and "8-week target (56 days)" in dom.stdout
    assert 'data-la="LM"' in dom.stdout
    # The trend chart: a line per region of the table, drawn as rates (regions of 10x different
    # size on one axis), with its axis labelled.
    regions = sum(1 for k in page.values if k.startswith("trend-adults-"))
    assert dom.stdout.count('<polyline') == regions >= 2, (dom.stdout.count('<polyline'), regions)
    assert "adults per 1,000 residents" in dom.stdout
    artifacts = ROOT / "tests" / "artifacts"
    artifacts.mkdir(exist_ok=True)
    shot = artifacts / "dashboard.png"
    res = chromium([f"--screenshot={shot}", url], tmp_path / "profile-shot")
    assert res.returncode == 0 and shot.exists() and shot.stat().st_size > 10_000, res.stderr[-1000:]
