"""Operators' view of the services, against the real stack: `/ready` follows ClickHouse, the broker
and the registry while the service runs (a dependency cut and restored through a TCP proxy; a
required one turns /ready to 503 and back, an optional one is shown but keeps it 200), each probe
is also `lgma_dependency_up{dependency}`; and with their JSON setting every service (ingest, api,
registry, publisher) writes nothing but JSON objects on its log stream.

Requires `infra/stack up`, `infra/stack topics`, `infra/stack migrate` and the built binaries.
"""
import json
import os
import pathlib
import socket
import subprocess
import threading
import time
import uuid

import pytest
import requests

from http_support import free_port
from topics_support import COUNCIL_TOPICS, create_defined

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = ROOT / "target" / "debug"
KAFKA = os.environ.get("LGMA_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
REGISTRY = os.environ.get("LGMA_REGISTRY_URL", "http://127.0.0.1:8081")
CLICKHOUSE = os.environ.get("LGMA_CLICKHOUSE_URL", "http://127.0.0.1:8123")
WRITER = ("lgma_writer", os.environ.get("LGMA_CH_WRITER_PASSWORD", "writer-local"))
DEAD = "127.0.0.1:1"  # nothing listens there
PROBE_S = 5  # lgma_core::ops: probes every 5 s, each bounded by 4 s


class Proxy:
    """A TCP forwarder to `target` that can be cut (listener and every connection closed) and
    restored on the same port: a dependency going away and coming back."""

    def __init__(self, target: str):
        host, port = target.removeprefix("http://").split(":")
        self.target = (host, int(port))
        self.port = free_port()
        self.conns: list[socket.socket] = []
        self.listener = None
        self.up()

    def up(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(64)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def down(self):
        self.listener.close()
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        self.conns.clear()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            self.conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass


def ready(base: str) -> tuple[int, str]:
    try:
        r = requests.get(base + "/ready", timeout=10)
        return r.status_code, r.text
    except requests.ConnectionError as e:
        return 0, str(e)


def wait_for(base: str, status: int, needle: str | list[str], proc: subprocess.Popen, log: pathlib.Path,
             timeout: float = 40):
    """Waits until /ready answers `status` with every line of `needle` in its body."""
    needles = [needle] if isinstance(needle, str) else needle
    deadline, last = time.time() + timeout, None
    while time.time() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        last = ready(base)
        if last[0] == status and all(n in last[1] for n in needles):
            return last[1]
        time.sleep(0.5)
    raise AssertionError(f"{base}/ready never answered {status} with {needle!r}; last: {last}\n"
                         + log.read_text()[-3000:])


def dependency_up(base: str) -> dict[str, float]:
    text = requests.get(base + "/metrics", timeout=10).text
    out = {}
    for line in text.splitlines():
        if line.startswith("lgma_dependency_up{"):
            name = line.split('dependency="', 1)[1].split('"', 1)[0]
            out[name] = float(line.rsplit(" ", 1)[1])
    return out


def json_lines_only(log: pathlib.Path, service: str) -> list[dict]:
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert lines, f"{service} logged nothing"
    events = []
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"{service}: a log line is not JSON: {line[:300]!r}")
        assert isinstance(event, dict) and "level" in event and "timestamp" in event, line[:300]
        events.append(event)
    return events


def clean_env(**settings: str) -> dict:
    """The environment without any service setting the caller's shell may carry (LGMA_INGEST_*,
    LGMA_API_*, ... override config files), plus `settings`."""
    prefixes = ("LGMA_INGEST_", "LGMA_API_", "LGMA_REGISTRY_", "LGMA_PUBLISHER_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return dict(env, LGMA_DEV_MODE="1", **settings)


def stop(proc: subprocess.Popen):
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def clickhouse_proxy():
    proxy = Proxy(CLICKHOUSE)
    yield proxy
    proxy.down()


def test_ingest_ready_follows_clickhouse_and_registry_and_logs_json(tmp_path, clickhouse_proxy):
    suffix = f".obs{uuid.uuid4().hex[:10]}"
    create_defined(suffix, COUNCIL_TOPICS)  # the publisher checks that all seven exist
    create_defined(suffix, ["lgma.dlq"], partitions=1)
    ops = f"http://127.0.0.1:{free_port()}"
    config = tmp_path / "ingest.toml"
    config.write_text(
        f'group_id = "obs{suffix}"\nassignment = "manual"\ntopic_suffix = "{suffix}"\n'
        f'dlq_topic = "lgma.dlq"\npublish_enriched = false\nregistry_url = "{REGISTRY}"\nlog_json = true\n'
        f'schemas_dir = "{ROOT}/schemas"\nrules_dir = "{ROOT}/schemas/rules"\n'
        f'keys_file = "{ROOT}/infra/config/keys.example.toml"\nmetrics_listen = "{ops.removeprefix("http://")}"\n'
        f'[kafka]\nbootstrap_servers = "{KAFKA}"\n[batch]\nmax_rows = 5000\nmax_wait_ms = 500\n'
        f'[clickhouse]\nurl = "http://127.0.0.1:{clickhouse_proxy.port}"\nuser = "{WRITER[0]}"\n'
        f'password = "{WRITER[1]}"\ndatabase = "lgma"\n'
        '[[topics]]\ntopic = "lgma.planning.application"\nentity = "planning.application"\n'
        'table = "planning_application"\n')
    log = tmp_path / "ingest.log"
    env = clean_env(RUST_LOG="info")
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(BIN / "lgma-ingest"), "run", "--config", str(config)], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(ops, 200, ["clickhouse: ok", "broker: ok", "registry: ok"], proc, log)

        # The publisher, logging JSON, sends events that this ingest lands.
        pub_log = tmp_path / "publisher.log"
        pub_env = clean_env(LGMA_PUBLISHER_KAFKA__BOOTSTRAP_SERVERS=KAFKA, LGMA_PUBLISHER_REGISTRY_URL=REGISTRY,
                       LGMA_PUBLISHER_PROGRESS_INTERVAL_SECS="1")
        with open(pub_log, "wb") as err:
            pub = subprocess.run([str(BIN / "lgma-publisher"), "--log-json", "--topic-suffix", suffix, "simulate",
                                  "--count", "300", "--rate", "120"],
                                 cwd=ROOT, env=pub_env, stdout=subprocess.PIPE, stderr=err, timeout=120)
        assert pub.returncode == 0, pub_log.read_text()[-3000:]
        assert pub.stdout.strip(), "the summary stays on standard output"
        events = json_lines_only(pub_log, "lgma-publisher")
        assert any(e["fields"].get("message") == "progress" for e in events), events[:5]

        # ClickHouse goes away: required, so /ready turns 503 and says why; then it is back.
        clickhouse_proxy.down()
        wait_for(ops, 503, ["clickhouse: DOWN (required)", "broker: ok"], proc, log, timeout=PROBE_S * 4)
        assert dependency_up(ops) == {"clickhouse": 0.0, "broker": 1.0, "registry": 1.0}
        clickhouse_proxy.up()
        wait_for(ops, 200, "clickhouse: ok", proc, log, timeout=PROBE_S * 4)
        assert dependency_up(ops)["clickhouse"] == 1.0
    finally:
        stop(proc)
    events = json_lines_only(log, "lgma-ingest")
    messages = [e["fields"].get("message", "") for e in events]
    assert any("DEVELOPMENT MODE" in m for m in messages), "start-up warnings are JSON too"
    assert any(m == "dependency unreachable" for m in messages), messages[-20:]


def test_ingest_without_registry_stays_ready_and_says_so(tmp_path):
    # The registry is optional for ingest: it goes on with cached schemas.
    ops = f"http://127.0.0.1:{free_port()}"
    log = tmp_path / "ingest.log"
    env = clean_env(LGMA_INGEST_REGISTRY_URL=f"http://{DEAD}",
               LGMA_INGEST_METRICS_LISTEN=ops.removeprefix("http://"), LGMA_INGEST_GROUP_ID=f"obs-{uuid.uuid4().hex}",
               LGMA_INGEST_TOPIC_SUFFIX=f".obs-none-{uuid.uuid4().hex[:8]}", LGMA_INGEST_CLICKHOUSE__URL=CLICKHOUSE,
               LGMA_INGEST_KAFKA__BOOTSTRAP_SERVERS=KAFKA)
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(BIN / "lgma-ingest"), "run", "--config", str(ROOT / "infra/config/ingest.toml")],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(ops, 200, ["registry: DOWN (optional", "clickhouse: ok", "broker: ok"], proc, log)
        assert dependency_up(ops)["registry"] == 0.0
    finally:
        stop(proc)


def test_api_ready_follows_clickhouse_shows_the_broker_and_logs_json(tmp_path, clickhouse_proxy):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "api.log"
    env = clean_env(LGMA_API_LISTEN=f"127.0.0.1:{port}", LGMA_API_LOG_JSON="true",
               LGMA_API_CLICKHOUSE__URL=f"http://127.0.0.1:{clickhouse_proxy.port}",
               LGMA_API_KAFKA__BOOTSTRAP_SERVERS=DEAD)
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(BIN / "lgma-api"), "--config", str(ROOT / "infra/config/api.toml")],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        # The broker (read only by /v1/reconcile) is optional: down, and still ready.
        wait_for(base, 200, ["broker: DOWN (optional: only /v1/reconcile fails)", "clickhouse: ok"], proc, log)
        assert requests.get(base + "/v1/councils", timeout=10).status_code == 200
        clickhouse_proxy.down()
        wait_for(base, 503, "clickhouse: DOWN (required)", proc, log, timeout=PROBE_S * 4)
        assert dependency_up(base) == {"clickhouse": 0.0, "broker": 0.0}
        clickhouse_proxy.up()
        wait_for(base, 200, "clickhouse: ok", proc, log, timeout=PROBE_S * 4)
        metrics = requests.get(base + "/metrics", timeout=10).text
        assert 'lgma_api_http_requests_total{method="GET",route="/v1/councils",status="200"} 1' in metrics, metrics
    finally:
        stop(proc)
    json_lines_only(log, "lgma-api")


def test_registry_shows_the_broker_and_logs_json(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "registry.log"
    env = clean_env(LGMA_REGISTRY_JSON_LOGS="true", LGMA_REGISTRY_KAFKA__BOOTSTRAP_SERVERS=KAFKA)
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(BIN / "lgma-registry"), "--config", str(ROOT / "infra/config/registry.toml"),
                                 "--listen", f"127.0.0.1:{port}"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        body = wait_for(base, 200, "broker: ok", proc, log)
        assert dependency_up(base) == {"broker": 1.0}, body
        assert requests.get(base + "/subjects", timeout=10).status_code == 200
    finally:
        stop(proc)
    events = json_lines_only(log, "lgma-registry")
    assert any(e["fields"].get("message") == "registry ready" for e in events)
