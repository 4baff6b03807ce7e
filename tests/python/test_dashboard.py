"""The dashboard in headless Chromium (Debian's `chromium`): it loads, polls the API with an analyst
token and shows the numbers the API returns, in every panel. Screenshot: tests/artifacts/.

A fixture (rows in lgma.ingest_events with a unique entity_table) guarantees the freshness panel has
known figures; the other panels are compared with whatever the API returns (before or after the
page load, since live ingest may move them in between).
"""
import datetime as dt
import html.parser
import shutil
import subprocess
import uuid

import pytest

from api_support import ROOT, TOKENS, Api, ch, insert

RUN = uuid.uuid4().hex[:12]
ENTITY_TABLE = f"dash_test_{RUN}"
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
    for r in get("/v1/summaries/homelessness/region-trend"):
        if r["homeless_region"] not in trend or r["month"] > trend[r["homeless_region"]]["month"]:
            trend[r["homeless_region"]] = r
    for region, r in trend.items():
        out[f"trend-adults-{region}"] = str(r["adults"])
    for r in get("/v1/summaries/planning/decision-times"):
        out[f"plan-decided-{r['la_code']}"] = str(r["decided"])
        out[f"plan-median-{r['la_code']}"] = "–" if r["median_decision_days"] is None else str(r["median_decision_days"])
    for r in get("/v1/summaries/housing/voids"):
        out[f"voids-stock-{r['la_code']}"] = str(r["stock"]); out[f"voids-voids-{r['la_code']}"] = str(r["voids"])
    return out


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    now = dt.datetime.utcnow().strftime("%Y-%m-%d %H:%M:%S")
    insert("ingest_events", [{"topic": f"dash-test.{RUN}", "partition": 0, "offset": i, "event_id": str(uuid.uuid4()),
                              "entity_table": ENTITY_TABLE, "entity_id": f"e{i}", "entity_version": 1, "operation": "CREATE",
                              "la_code": "LM", "verdict": "ACCEPT" if i < 40 else "QUARANTINE", "rule_ids": [],
                              "schema_id": 1, "rules_version": "t", "key_version": "t", "occurred_at": 0,
                              "published_at": 0, "ingested_at": now, "batch_id": RUN} for i in range(50)])
    a = Api(tmp_path_factory.mktemp("dash-api"))
    yield a
    a.stop()
    for t in ("ingest_events", "sum_quality_daily", "sum_quality_rules"):
        ch(f"ALTER TABLE lgma.{t} DELETE WHERE entity_table = '{ENTITY_TABLE}'", "admin")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (LGMA_WITH_CHROMIUM=1 infra/stack install)")
def test_dashboard_shows_the_api_numbers(api, tmp_path):
    before = api_figures(api)
    url = f"{api.base}/#token={TOKENS['analyst']}&interval=60"
    dom = chromium(["--dump-dom", url], tmp_path / "profile-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    after = api_figures(api)
    page = DataTestIds()
    page.feed(dom.stdout)
    assert page.attrs_of.get("status", {}).get("data-state") == "ok", dom.stdout[:3000]
    assert int(page.attrs_of["body"].get("data-loaded", "0")) >= 1
    # Freshness lists all 31 councils; the fixture council shows our 50 events, 10 quarantined (at least:
    # live ingest may add to LM).
    assert sum(1 for k in page.values if k.startswith("fresh-state-")) == 31
    assert int(page.values["fresh-events-LM"]) >= 50 and int(page.values["fresh-quarantined-LM"]) >= 10
    compared = 0
    for key in set(before) | set(after):
        if key.startswith(("fresh-", "trend-", "plan-", "voids-")):
            shown = page.values.get(key)
            assert shown in (before.get(key), after.get(key)), (key, shown, before.get(key), after.get(key))
            compared += 1
    assert compared >= 2
    artifacts = ROOT / "tests" / "artifacts"
    artifacts.mkdir(exist_ok=True)
    shot = artifacts / "dashboard.png"
    res = chromium([f"--screenshot={shot}", url], tmp_path / "profile-shot")
    assert res.returncode == 0 and shot.exists() and shot.stat().st_size > 10_000, res.stderr[-1000:]
