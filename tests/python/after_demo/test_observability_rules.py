"""After the demo: the alert rules and the Grafana dashboard shipped in infra/observability/ query
only metrics, labels and label values that the running services (lgma-ingest, lgma-api,
lgma-registry of the demo) really expose on /metrics; every exposed metric has HELP and TYPE and
follows the naming conventions (service prefix, `_total` counters, base units).

Run on its own (`pytest tests/python/after_demo`), after `infra/stack demo` or the test command's demo.
"""
import json
import os
import pathlib
import re
import sys

import requests

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "python"))
from promql_support import alert_rules, merged, problems, scrape  # noqa: E402

INGEST = f"http://127.0.0.1:{os.environ.get('LGMA_INGEST_OPS_PORT', '9181')}"
API = f"http://127.0.0.1:{os.environ.get('LGMA_API_PORT', '8080')}"
REGISTRY = os.environ.get("LGMA_REGISTRY_URL") or "http://127.0.0.1:8081"
# In the TLS profile (LGMA_TLS=1) the registry is behind TLS with the stack's private CA.
CA = pathlib.Path(os.environ.get("LGMA_DATA", ROOT / ".data")) / "tls" / "ca.pem"
VERIFY = str(CA) if REGISTRY.startswith("https") and CA.exists() else True
OBS = ROOT / "infra" / "observability"


def scrapes() -> dict:
    # Traffic on the API first (public endpoints; one reads ClickHouse), so its request and
    # query metrics exist whatever ran before.
    for path in ("/v1/councils", "/v1/open-data", "/v1/no-such-endpoint"):
        requests.get(API + path, timeout=30)
    catalogue = requests.get(API + "/v1/open-data", timeout=30).json()
    datasets = catalogue.get("datasets") or catalogue.get("dataset") or []
    if datasets:
        first = datasets[0].get("id") or datasets[0].get("identifier")
        requests.get(f"{API}/v1/open-data/{first}", timeout=60)
    return {"ingest": scrape(INGEST + "/metrics"), "api": scrape(API + "/metrics"),
            "registry": scrape(REGISTRY + "/metrics", VERIFY)}


def test_every_metric_has_help_and_follows_the_naming_conventions():
    per_service = scrapes()
    for service, families in per_service.items():
        assert families, f"{service} exposes no metric"
        own = [n for n in families if n.startswith(f"lgma_{service}_")]
        assert own, f"{service} exposes none of its own lgma_{service}_* metrics: {sorted(families)}"
        for name, f in families.items():
            assert f.get("help"), f"{service}: {name} has no HELP"
            assert f.get("type"), f"{service}: {name} has no TYPE"
            assert name == "lgma_dependency_up" or name.startswith(f"lgma_{service}_"), \
                f"{service}: {name} lacks the service prefix"
            if f["type"] == "counter":
                assert name.endswith("_total"), f"{service}: counter {name} does not end in _total"
            else:
                assert not name.endswith("_total"), f"{service}: {f['type']} {name} ends in _total"
            assert not re.search(r"_(accepted|warned|quarantined)_", name), \
                f"{service}: {name} puts a verdict in the name (a label is expected)"
    ingest = per_service["ingest"]
    verdicts = ingest["lgma_ingest_events_total"]["series"]["lgma_ingest_events_total"]["verdict"]
    # (A demo re-run on the same data folder re-sends stored versions: then all are QUARANTINE.)
    assert verdicts and verdicts <= {"ACCEPT", "WARN", "QUARANTINE"}, verdicts
    rules = ingest["lgma_ingest_rule_findings_total"]["series"]["lgma_ingest_rule_findings_total"]["rule"]
    assert "envelope.not_framed" in rules, rules
    councils = ingest["lgma_ingest_events_total"]["series"]["lgma_ingest_events_total"]["la_code"]
    assert len(councils) <= 32, f"la_code is bounded to the 31 councils + other: {len(councils)}"
    routes = per_service["api"]["lgma_api_http_requests_total"]["series"]["lgma_api_http_requests_total"]["route"]
    assert "unmatched" in routes and "/v1/open-data" in routes, routes
    assert not any("no-such" in r for r in routes), "unknown paths must not become label values"
    for service in per_service.values():
        up = service["lgma_dependency_up"]["series"]["lgma_dependency_up"]
        assert up["dependency"] <= {"clickhouse", "broker", "registry"}, up


def test_alert_rules_query_what_the_services_expose():
    samples = merged(*scrapes().values())
    alerts = alert_rules((OBS / "alerts.yml").read_text())
    names = {a["alert"] for a in alerts}
    # What operators expect alerts on (issue 19): lag, lost records, quarantine rate per council,
    # latency, freshness; plus the services and their dependencies.
    for wanted in ("LgmaIngestLagHigh", "LgmaIngestRecordsLost", "LgmaQuarantineRateHigh",
                   "LgmaPublishToQueryableSlow", "LgmaTopicStale", "LgmaServiceDown",
                   "LgmaDependencyDown", "LgmaApiErrors"):
        assert wanted in names, f"{wanted} missing from alerts.yml: {sorted(names)}"
    assert len(names) == len(alerts), "alert names are unique"
    found = []
    for a in alerts:
        assert a.get("expr"), f"{a['alert']} has no expr"
        assert a["labels"].get("severity") in ("critical", "warning"), a
        assert a["annotations"].get("summary"), a
        found += [f"{a['alert']}: {p}" for p in problems(a["expr"], samples)]
    assert not found, "\n".join(found)


def test_dashboard_panels_query_what_the_services_expose():
    samples = merged(*scrapes().values())
    dashboard = json.loads((OBS / "grafana-dashboard.json").read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 30
    assert any(v["type"] == "datasource" and v["query"] == "prometheus"
               for v in dashboard["templating"]["list"])
    found, exprs, ids = [], 0, set()
    for panel in dashboard["panels"]:
        assert panel["id"] not in ids, f"duplicate panel id {panel['id']}"
        ids.add(panel["id"])
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], f"panel {panel['title']} has no query"
        for target in panel["targets"]:
            exprs += 1
            found += [f"{panel['title']}: {p}" for p in problems(target["expr"], samples)]
    assert exprs >= 15
    assert not found, "\n".join(found)
