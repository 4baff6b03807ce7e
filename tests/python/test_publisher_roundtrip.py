"""The publisher CLI against the real stack, read back the way a council developer would: a
standard confluent-kafka DeserializingConsumer with AvroDeserializer against our registry.

- `lgma-publisher simulate --count 30000` (LGMA_PUBLISHER_ROUNDTRIP_COUNT to change it: 100000 took
  a minute of `infra/stack test`, mostly the debug publisher and Python's Avro decoding) onto
  uniquely suffixed topics: every event is read back, all 28 partitions in one consumer, and
  decodes; keys = entity ids, headers = envelope.
- The NPAD sample publishes; the broken sample is rejected with line and column per bad row.
"""
import json
import os
import pathlib
import subprocess
import time
import uuid

import pytest
from confluent_kafka import DeserializingConsumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import StringDeserializer
from topics_support import COUNCIL_TOPICS, create_defined

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = ROOT / "target" / "debug" / "lgma-publisher"
COUNT = int(os.environ.get("LGMA_PUBLISHER_ROUNDTRIP_COUNT", "30000"))
TOPICS = COUNCIL_TOPICS
PARTITIONS = 4


@pytest.fixture(scope="module")
def publisher():
    if not BINARY.exists():
        subprocess.run(["cargo", "build", "-p", "lgma-publisher", "--bins"], cwd=ROOT, check=True)
    return BINARY


def run(publisher, kafka_bootstrap, registry_url, *args, timeout=1800):
    env = dict(os.environ)
    env["LGMA_PUBLISHER_KAFKA__BOOTSTRAP_SERVERS"] = kafka_bootstrap
    env["LGMA_PUBLISHER_REGISTRY_URL"] = registry_url
    env["LGMA_PUBLISHER_PROGRESS_INTERVAL_SECS"] = "10"
    return subprocess.run(
        [str(publisher), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def read_all(kafka_bootstrap, registry_url, topics, expected, timeout_s=600):
    """Reads every partition from the start until `expected` records arrived (or timeout)."""
    registry = SchemaRegistryClient({"url": registry_url})
    consumer = DeserializingConsumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"pubtest-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "key.deserializer": StringDeserializer("utf_8"),
            "value.deserializer": AvroDeserializer(registry),
        }
    )
    records = []
    deadline = time.time() + timeout_s
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
        marks = [consumer.get_watermark_offsets(tp, timeout=30) for tp in partitions]
        assert sum(high - low for low, high in marks) == expected
        consumer.assign([TopicPartition(tp.topic, tp.partition, 0) for tp in partitions])
        while len(records) < expected and time.time() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            records.append((msg.topic(), msg.key(), msg.value(), dict(msg.headers() or [])))
    finally:
        consumer.close()
    return records


def test_simulate_lands_and_every_event_reads_back(publisher, kafka_bootstrap, registry_url, tmp_path):
    suffix = f".py{uuid.uuid4().hex[:10]}"
    create_defined(suffix, TOPICS)
    summary_file = tmp_path / "summary.json"
    result = run(
        publisher, kafka_bootstrap, registry_url,
        "--topic-suffix", suffix, "simulate", "--count", str(COUNT), "--seed", "7",
        "--summary-json", str(summary_file),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(summary_file.read_text())
    assert summary["events"] == COUNT and summary["delivered"] == COUNT
    assert summary["delivery_failures"] == 0
    assert set(summary["per_topic"]) == set(TOPICS)
    assert len(summary["per_council"]) == 31

    records = read_all(kafka_bootstrap, registry_url, [t + suffix for t in TOPICS], COUNT)
    assert len(records) == COUNT
    per_topic = {}
    seen_ids = set()
    for topic, key, value, headers in records:
        base = topic[: -len(suffix)]
        per_topic[base] = per_topic.get(base, 0) + 1
        assert key == value["entity_id"]
        assert headers["la_code"].decode() == value["la_code"]
        assert int(headers["entity_version"]) == value["entity_version"] >= 1
        assert headers["operation"].decode() == value["operation"]
        assert (value["payload"] is None) == (value["operation"] == "DELETE")
        assert value["published_at"] >= value["occurred_at"]
        seen_ids.add(str(value["event_id"]))
    assert per_topic == summary["per_topic"]
    assert len(seen_ids) == COUNT, "event ids are unique"


def test_npad_sample_publishes(publisher, kafka_bootstrap, registry_url):
    suffix = f".py{uuid.uuid4().hex[:10]}"
    create_defined(suffix, TOPICS)  # the stack creates every council topic
    result = run(publisher, kafka_bootstrap, registry_url, "--topic-suffix", suffix, "publish",
                 "schemas/samples/planning_npad.csv")
    assert result.returncode == 0, result.stderr
    assert "8 rows, 8 mapped, 0 with errors" in result.stderr
    records = read_all(kafka_bootstrap, registry_url, ["lgma.planning.application" + suffix], 8, 120)
    assert len(records) == 8
    by_number = {value["entity_id"]: value for _, _, value, _ in records}
    dcc = by_number["3012/24"]
    assert dcc["la_code"] == "DC"
    assert dcc["payload"]["decision"] == "GRANTED_WITH_CONDITIONS"
    assert dcc["payload"]["decision_raw"] == "CONDITIONAL"
    assert by_number["D24A/0187"]["la_code"] == "DR"  # an alias of Dún Laoghaire-Rathdown
    assert by_number["24/05123"]["payload"]["status"] == "FURTHER_INFORMATION_REQUESTED"


def test_broken_npad_rows_are_reported_with_line_and_column(publisher, kafka_bootstrap, registry_url):
    suffix = f".py{uuid.uuid4().hex[:10]}"
    create_defined(suffix, TOPICS)  # the stack creates every council topic
    result = run(publisher, kafka_bootstrap, registry_url, "--topic-suffix", suffix, "publish",
                 "schemas/samples/planning_npad_broken.csv")
    assert result.returncode == 2
    err = result.stderr
    assert "line 4, column DecisionDate: is before received_date" in err
    assert "line 6, column ApplicationStatus: unknown status `Sent to the Minister`" in err
    assert "line 7, column DevelopmentPostcode" in err
    assert "6 rows, 3 mapped, 3 with errors" in err
    assert "nothing published" in err


def test_jsonl_broken_rows_name_line_and_field(publisher, kafka_bootstrap, registry_url):
    result = run(publisher, kafka_bootstrap, registry_url, "publish", "--dry-run", "--topic",
                 "lgma.homelessness.presentation", "schemas/samples/lgma.homelessness.presentation_broken.jsonl")
    assert result.returncode == 2
    assert "line 2, column payload.gender: unknown variant `M`" in result.stderr
    assert "line 4, column payload.ppsn" in result.stderr
