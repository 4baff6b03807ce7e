"""The TLS profile (`LGMA_TLS=1`, run by `infra/stack test` after a demo on it): what the platform's
services used — SASL_SSL with SCRAM-SHA-512 to the broker, HTTPS to ClickHouse and the registry,
trusting only the stack's private CA — works for a client configured that way and is refused to
anyone else: plaintext, a wrong password, a client that does not trust the CA.

The demo before this file is the positive proof for the services themselves: the publisher,
registry, ingest and API ran over these connections — on infra/deploy/production.env.example and
registry.toml.example, with only addresses and secrets replaced, without development mode — and the
demo reconciled every published event.
"""
import base64
import os
import pathlib
import ssl
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from confluent_kafka.admin import AdminClient

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "python"))
from topics_support import KAFKA, KAFKA_CONF  # noqa: E402

pytestmark = pytest.mark.skipif(os.environ.get("LGMA_TLS") != "1", reason="only in the TLS profile")

TLS_DIR = pathlib.Path(os.environ.get("LGMA_DATA", ROOT / ".data")) / "tls"
CA = TLS_DIR / "ca.pem"
CH = os.environ.get("LGMA_CLICKHOUSE_URL", "")
REGISTRY = os.environ.get("LGMA_REGISTRY_URL", "")


def metadata(conf: dict) -> int:
    """Topics the broker lists to a client with `conf` (raises when it cannot get metadata)."""
    return len(AdminClient({**conf, "log_level": 0}).list_topics(timeout=8).topics)


def test_the_broker_serves_sasl_ssl_with_scram_to_a_configured_client():
    assert KAFKA_CONF["security.protocol"] == "SASL_SSL"
    assert KAFKA_CONF["sasl.mechanism"] == "SCRAM-SHA-512"
    assert metadata(KAFKA_CONF) >= 7, "the council topics exist"


@pytest.mark.parametrize("change", [
    {"sasl.password": "not-the-password"},
    {"sasl.username": "nobody"},
    {"sasl.mechanism": "PLAIN", "sasl.username": "nobody", "sasl.password": "anything"},
    {"security.protocol": "SSL"},                      # TLS without authenticating
    {"security.protocol": "PLAINTEXT"},                # no TLS at all
    {"ssl.ca.location": "/etc/ssl/certs/ca-certificates.crt"},  # does not trust the stack's CA
], ids=["wrong-password", "unknown-user", "plain-any-password", "no-sasl", "plaintext", "untrusted-ca"])
def test_the_broker_refuses_everyone_else(change):
    with pytest.raises(Exception):
        metadata({**KAFKA_CONF, **change})


def https_get(url: str, ca: pathlib.Path | None, user: str | None = None) -> int:
    context = ssl.create_default_context(cafile=str(ca)) if ca else ssl.create_default_context(
        cafile="/etc/ssl/certs/ca-certificates.crt")
    request = urllib.request.Request(url)
    if user:
        password = (TLS_DIR / "secrets" / f"registry-{user}").read_text().strip()
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    with urllib.request.urlopen(request, timeout=10, context=context) as resp:
        return resp.status


def test_clickhouse_is_https_only_and_trusted_through_the_ca():
    assert CH.startswith("https://")
    assert https_get(f"{CH}/ping", CA) == 200
    with pytest.raises(urllib.error.URLError):
        https_get(f"{CH}/ping", None)
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(CH.replace("https://", "http://") + "/ping", timeout=10).read()


def test_the_registry_is_https_only_and_trusted_through_the_ca():
    assert REGISTRY.startswith("https://")
    assert https_get(f"{REGISTRY}/subjects", CA, user="lgma-reader") == 200
    with pytest.raises(urllib.error.URLError):
        https_get(f"{REGISTRY}/subjects", None, user="lgma-reader")
    with pytest.raises(urllib.error.HTTPError) as refused:
        https_get(f"{REGISTRY}/subjects", CA)  # auth is on, as in production
    assert refused.value.code == 401


def test_the_services_ran_with_tls_settings_and_print_no_secret():
    """`lgma-ingest print-config` under the environment the stack gave the services."""
    out = subprocess.run([str(ROOT / "target/debug/lgma-ingest"), "print-config", "--config",
                          str(ROOT / "infra/config/ingest.toml")],
                         capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert 'url = "https://' in text and str(CA) in text
    assert "SASL_SSL" in text and "SCRAM-SHA-512" in text
    for secret in ("kafka-ingest", "ch-writer", "registry-lgma-ingest"):
        password = (TLS_DIR / "secrets" / secret).read_text().strip()
        assert password not in text, f"{secret} printed"
    assert "<redacted>" in text


def test_the_profile_runs_without_development_mode():
    """The services started here accepted no example key or local password: development mode is off."""
    assert os.environ.get("LGMA_DEV_MODE") == "0"
    logs = pathlib.Path(os.environ["LGMA_DATA"])
    for service in ("ingest", "api", "registry"):
        text = (logs / service / f"{service}.log").read_text(errors="replace")
        assert "DEVELOPMENT MODE" not in text, f"{service} started in development mode"


def test_the_api_reads_clickhouse_over_https():
    """lgma-api's readiness is a query as its reader user: over HTTPS through the CA file."""
    port = os.environ.get("LGMA_API_PORT", "8080")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=10) as resp:
        assert resp.status == 200
