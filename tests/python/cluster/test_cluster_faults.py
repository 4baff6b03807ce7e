"""Exactly once on the cluster under faults (issue 18): the simulator's stream goes through the real
lgma-ingest in cluster mode (`clickhouse.cluster = "lgma"`: synchronous quorum INSERTs through the
Distributed tables, the offset of record read from every replica) while, in turn, a replica is
SIGKILLed and restarted, a whole shard is frozen (SIGSTOP) for 30 s, ZooKeeper is restarted and the
ingest process is SIGKILLed while its offset-of-record INSERT is running on the cluster. A second
lgma-ingest (one node, undisturbed) reads the same topics into the reference node.

At the end, for every published record: its offset of record exactly once on the cluster (0 lost, 0
doubled), on both replicas of its shard; entity rows = accepted events; the same records, verdicts
and entity rows as on the reference node; and every view and shipped query answers the same through
the Distributed tables as on the reference node.

Run by `infra/stack test`'s cluster phase (needs the stack's broker and registry, the cluster and the
reference node). What it measured goes to $LGMA_DATA/cluster-faults.json."""
import json
import os
import pathlib
import signal
import socket
import subprocess
import time
import uuid

import pytest
import requests
from confluent_kafka import Consumer, TopicPartition

import migrate
from conftest import KAFKA, REGISTRY, ROOT
from test_cluster_answers import rounded, same
from topics_support import COUNCIL_TOPICS, create_defined

HTTP_BASE = int(os.environ.get("LGMA_CLUSTER_HTTP_BASE", "8130"))
REFERENCE = os.environ.get("LGMA_REFERENCE_HTTP_PORT")
DATA = pathlib.Path(os.environ.get("LGMA_DATA") or ROOT / ".data")
CLUSTER_DATA = pathlib.Path(os.environ.get("LGMA_CLUSTER_DATA") or DATA / "cluster")
ADMIN = {"user": "lgma_admin", "password": os.environ.get("LGMA_CH_ADMIN_PASSWORD", "admin-local")}
BIN = ROOT / "target" / "debug"
EVENTS = int(os.environ.get("LGMA_CLUSTER_FAULT_EVENTS", "12000"))
RATE = int(os.environ.get("LGMA_CLUSTER_FAULT_RATE", "100"))
TABLES = {  # base topic -> entity table stem (infra/config/ingest.toml)
    "lgma.homelessness.presentation": "hl_presentation", "lgma.homelessness.placement": "hl_placement",
    "lgma.homelessness.exit": "hl_exit", "lgma.housing.dwelling-unit": "housing_dwelling_unit",
    "lgma.housing.need-assessment": "housing_need_assessment", "lgma.planning.application": "planning_application",
    "lgma.waste.return": "waste_return",
}

# When each ingest recorded an event: the two ingests ran apart, so only these columns may differ.
INGEST_TIME = {"ingested_at", "last_ingested_at", "seconds_since_last_ingest", "batch_id", "first_seen_at",
               "last_seen_at"}

pytestmark = pytest.mark.skipif(not REFERENCE, reason="needs a reference node: run by infra/stack test's cluster phase")


def ch(port: int, sql: str, timeout: float = 60, **settings) -> str:
    r = requests.post(f"http://127.0.0.1:{port}/", params={**ADMIN, **settings}, data=sql.encode(), timeout=timeout)
    assert r.status_code == 200, f"port {port}: {r.text.strip()[:300]}\n{sql[:300]}"
    return r.text.strip()


def node(n: int) -> int:
    return HTTP_BASE + n


def pid_of(name: str) -> int:
    return int((CLUSTER_DATA / name / ("zookeeper.pid" if name == "zookeeper" else "clickhouse.pid")).read_text())


def cluster_up():
    """Starts whatever of the cluster is not running (infra/cluster up skips running processes)."""
    subprocess.run(["bash", str(ROOT / "infra/cluster"), "up"], check=True, timeout=180, capture_output=True)


def answer(url: str, sql: str) -> list[str]:
    """The rows of `sql`, sorted, without the columns of INGEST_TIME, rounded like `same`'s."""
    lines = ch(int(url.rsplit(":", 1)[1].strip("/")), sql + "\nFORMAT TSVWithNames", timeout=300).splitlines()
    if not lines:
        return []
    keep = [i for i, name in enumerate(lines[0].split("\t")) if name not in INGEST_TIME]
    return sorted(rounded("\t".join(line.split("\t")[i] for i in keep)) for line in lines[1:])


def same_answer(reference: str, cluster: str, sql: str) -> int:
    a, b = answer(reference, sql), answer(cluster, sql)
    assert a == b, f"{len(a)} vs {len(b)} rows; only on one node: {sorted(set(a) - set(b))[:2]}; " \
                   f"only on the cluster: {sorted(set(b) - set(a))[:2]}\n{sql[:200]}"
    return len(a)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Ingest:
    """One lgma-ingest process on a config of its own; every start logs to its own file."""

    def __init__(self, run_dir: pathlib.Path, name: str, suffix: str, url: str, cluster: str):
        self.dir, self.name, self.starts, self.proc = run_dir, name, 0, None
        self.config = run_dir / f"{name}.toml"
        self.config.write_text(f"""group_id = "cluster-faults{suffix}-{name}"
assignment = "manual"
topic_suffix = "{suffix}"
registry_url = "{REGISTRY}"
schemas_dir = "{ROOT / 'schemas'}"
rules_dir = "{ROOT / 'schemas/rules'}"
keys_file = "{ROOT / 'infra/config/keys.example.toml'}"
metrics_listen = "127.0.0.1:{free_port()}"

[kafka]
bootstrap_servers = "{KAFKA}"

[batch]
max_rows = 400
max_wait_ms = 200

[clickhouse]
url = "{url}"
password = "{os.environ.get('LGMA_CH_WRITER_PASSWORD', 'writer-local')}"
cluster = "{cluster}"
""")

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("LGMA_INGEST_")}
        env.update(LGMA_DEV_MODE="1", RUST_LOG="info,librdkafka=warn,rdkafka=warn")
        log = open(self.dir / f"{self.name}-{self.starts}.log", "wb")
        self.proc = subprocess.Popen([str(BIN / "lgma-ingest"), "run", "--config", str(self.config)],
                                     stdout=log, stderr=subprocess.STDOUT, env=env)
        self.starts += 1

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill9()

    def logs(self) -> str:
        return "".join((self.dir / f"{self.name}-{i}.log").read_text(errors="replace") for i in range(self.starts))


def published(suffix: str) -> dict[tuple[str, int], int]:
    """Records per (topic, partition) on the broker (high watermarks; the topics are new)."""
    consumer = Consumer({"bootstrap.servers": KAFKA, "group.id": f"cluster-faults-count{suffix}"})
    try:
        out = {}
        for base in COUNCIL_TOPICS:
            topic = base + suffix
            for p in consumer.list_topics(topic, timeout=30).topics[topic].partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
                assert low == 0
                out[(topic, p)] = high
        return out
    finally:
        consumer.close()


def recorded(port: int, suffix: str) -> int:
    return int(ch(port, f"SELECT count() FROM lgma.ingest_events WHERE endsWith(topic, '{suffix}')", timeout=120))


def wait_for_progress(suffix: str, seconds: float = 60) -> int:
    """Waits until the cluster records more events (the stream is flowing), returns the count."""
    before, deadline = recorded(node(0), suffix), time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = recorded(node(0), suffix)
        if now > before:
            return now
    raise AssertionError(f"no progress on the cluster in {seconds} s ({before} recorded)")


def kill_during_record_insert(ingest: Ingest) -> str:
    """SIGKILLs ingest while its INSERT into the offset of record runs on the entry node."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        running = ch(node(0), "SELECT query FROM system.processes WHERE query LIKE 'INSERT INTO lgma.ingest_events %'")
        if running:
            ingest.kill9()
            return running.splitlines()[0][:80]
        time.sleep(0.01)
    raise AssertionError("never saw an offset-of-record INSERT running on ch0 in 60 s")


def test_faults_lose_nothing_and_double_nothing(tmp_path_factory):
    started = time.monotonic()
    run = uuid.uuid4().hex[:8]
    suffix = f"-cf{run}"
    run_dir = tmp_path_factory.mktemp("cluster-faults")
    create_defined(suffix, COUNCIL_TOPICS + [t + ".enriched" for t in COUNCIL_TOPICS] + ["lgma.dlq"])
    pub_env = {**os.environ, "LGMA_PUBLISHER_KAFKA__BOOTSTRAP_SERVERS": KAFKA, "LGMA_PUBLISHER_REGISTRY_URL": REGISTRY}
    pub = [str(BIN / "lgma-publisher"), "--config", str(ROOT / "infra/config/publisher.toml"), f"--topic-suffix={suffix}"]
    subprocess.run([*pub, "register"], check=True, env=pub_env, capture_output=True, timeout=120)

    on_cluster = Ingest(run_dir, "cluster", suffix, f"http://127.0.0.1:{node(0)}", "lgma")
    on_one_node = Ingest(run_dir, "reference", suffix, f"http://127.0.0.1:{REFERENCE}", "")
    on_cluster.start()
    on_one_node.start()
    publisher = subprocess.Popen(
        [*pub, "simulate", "--seed", "18", "--count", str(EVENTS), "--rate", str(RATE), "--speed-up", "86400",
         "--invalid-ratio", "0.02"],
        env=pub_env, stdout=subprocess.DEVNULL, stderr=open(run_dir / "publisher.log", "wb"))
    faults = []
    try:
        def fault(name: str, **detail):
            faults.append({"fault": name, "at_s": round(time.monotonic() - started, 1),
                           "recorded_before": recorded(node(0), suffix), **detail})

        # 1. A replica SIGKILLed mid-stream, restarted 10 s later (shard 1's second replica).
        wait_for_progress(suffix)
        fault("SIGKILL ch1 (shard 1 replica 2), restart after 10 s")
        os.kill(pid_of("ch1"), signal.SIGKILL)
        time.sleep(10)
        cluster_up()
        # 2. A whole shard unreachable for 30 s: both nodes of shard 2 frozen.
        wait_for_progress(suffix)
        fault("SIGSTOP ch2 + ch3 (all of shard 2) for 30 s")
        frozen = [pid_of("ch2"), pid_of("ch3")]
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(30)
        finally:
            for pid in frozen:
                os.kill(pid, signal.SIGCONT)
        # 3. ZooKeeper restarted.
        wait_for_progress(suffix, 120)
        fault("ZooKeeper stopped and started again")
        zk = pid_of("zookeeper")
        os.kill(zk, signal.SIGTERM)
        while pathlib.Path(f"/proc/{zk}").exists():
            time.sleep(0.1)
        cluster_up()
        # 4. Ingest SIGKILLed while its offset-of-record INSERT runs (quorum), restarted.
        wait_for_progress(suffix, 120)
        query = kill_during_record_insert(on_cluster)
        fault("SIGKILL lgma-ingest during its quorum INSERT into ingest_events", insert=query)
        time.sleep(1)
        on_cluster.start()
        assert publisher.wait(timeout=300) == 0, (run_dir / "publisher.log").read_text()[-2000:]

        expected = published(suffix)
        total = sum(expected.values())
        assert total == EVENTS
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and (recorded(node(0), suffix), recorded(int(REFERENCE), suffix)) != (total, total):
            time.sleep(1)
        time.sleep(2)  # a (wrong) late duplicate batch would land now
    finally:
        if publisher.poll() is None:
            publisher.kill()
        on_cluster.stop()
        on_one_node.stop()
    logs = on_cluster.logs()
    where = f"cluster ingest logs: {run_dir}"

    # Every replica up to date, then exact counts per (topic, partition) through the Distributed table.
    for n in range(4):
        for table in ("ingest_events_local", "ingest_quarantine_local", *(f"{t}_history_local" for t in TABLES.values())):
            ch(node(n), f"SYSTEM SYNC REPLICA lgma.{table}", timeout=120)
    rows = ch(node(0), f"SELECT topic, partition, count(), uniqExact(offset), min(offset), max(offset) "
                       f"FROM lgma.ingest_events WHERE endsWith(topic, '{suffix}') GROUP BY topic, partition")
    got = {(t, int(p)): tuple(map(int, rest)) for t, p, *rest in (line.split("\t") for line in rows.splitlines())}
    assert set(got) == {k for k, n in expected.items() if n}, where
    for key, n in expected.items():
        if n:
            assert got[key] == (n, n, 0, n - 1), f"{key}: (rows, distinct offsets, min, max) {got[key]}, published {n}; {where}"
    # Both replicas of each shard hold the same offsets of record, and the shards add up.
    local = [int(ch(node(n), f"SELECT count() FROM lgma.ingest_events_local WHERE endsWith(topic, '{suffix}')"))
             for n in range(4)]
    assert local[0] == local[1] and local[2] == local[3] and local[0] + local[2] == total, local
    assert local[0] and local[2], f"both shards hold offsets of record: {local}"

    # Entity rows = accepted events, per table; and the same records and rows as on one node.
    reference, cluster = f"http://127.0.0.1:{REFERENCE}/", f"http://127.0.0.1:{node(0)}/"
    accepted = 0
    for base, table in TABLES.items():
        topic = base + suffix
        events = int(ch(node(0), f"SELECT count() FROM lgma.ingest_events WHERE topic = '{topic}' AND verdict != 'QUARANTINE'"))
        history = int(ch(node(0), f"SELECT count() FROM lgma.{table}_history FINAL WHERE topic = '{topic}'"))
        assert history == events, f"{table}: {history} history rows for {events} accepted events; {where}"
        accepted += events
        same(reference, cluster, f"SELECT partition, offset, entity_id, entity_version FROM lgma.{table}_history FINAL "
                                 f"WHERE topic = '{topic}'")
        same(reference, cluster, f"SELECT la_code, entity_id, entity_version FROM lgma.{table}_current FINAL "
                                 f"WHERE entity_id GLOBAL IN (SELECT entity_id FROM lgma.ingest_events WHERE topic = '{topic}')")
    assert 0 < accepted < total
    same(reference, cluster, f"SELECT topic, partition, offset, event_id, verdict, rule_ids FROM lgma.ingest_events "
                             f"WHERE endsWith(topic, '{suffix}')")
    same(reference, cluster, f"SELECT topic, partition, offset, rule_ids FROM lgma.ingest_quarantine FINAL "
                             f"WHERE endsWith(topic, '{suffix}')")
    # Every view and shipped query over everything both hold. The views' summaries can miss blocks
    # whose quorum timed out (18.16 pushes to views only after a successful INSERT): counted, then
    # `infra/cluster refill-views` (the documented repair) must make every answer the same.
    views = ch(node(0), "SELECT name FROM system.tables WHERE database = 'lgma' AND engine = 'View' ORDER BY name").split()
    answers = [f"SELECT * FROM lgma.{view}" for view in views] + [
        migrate.strip_comments(step.sql)
        for path in sorted((ROOT / "infra/clickhouse/queries").glob("*.sql")) for step in migrate.parse(path.read_text())]
    assert len(answers) > 20

    def differing() -> list[str]:
        out = []
        for sql in answers:
            try:
                same_answer(reference, cluster, sql)
            except AssertionError:
                out.append(sql[:60])
        return out

    before_refill = differing()
    subprocess.run(["bash", str(ROOT / "infra/cluster"), "refill-views"], check=True, timeout=300, capture_output=True)
    assert sum(same_answer(reference, cluster, sql) for sql in answers) > total / 2

    measured = {
        "events": total, "accepted": accepted, "faults": faults, "seconds": round(time.monotonic() - started, 1),
        "ingest_starts": on_cluster.starts,
        "record_retries": logs.count("offset of record not acknowledged"),
        "failed_batches": logs.count("batch failed;"),
        "shard_local_rows": local,
        "answers_compared": len(answers),
        "answers_differing_before_refill": before_refill,
    }
    (DATA / "cluster-faults.json").write_text(json.dumps(measured, indent=2))
    print(json.dumps(measured, indent=2))
