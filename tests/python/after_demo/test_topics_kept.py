"""After the demo (`infra/stack test` runs a short one before this file): the platform's own topics,
created by `infra/stack topics` from infra/kafka/topics.toml exactly as users get them, still hold
every record after several broker maintenance passes — every council and enriched topic reads back
from offset 0 in full — and `lgma-ingest reconcile` accounts for every published event.

Run on its own (`pytest tests/python/after_demo`), after `infra/stack demo` or the test command's demo.
"""
import os
import pathlib
import subprocess
import sys
import time
import uuid

from confluent_kafka import Consumer, TopicPartition

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "python"))
from topics_support import COUNCIL_TOPICS, KAFKA_CONF  # noqa: E402

MAINTENANCE_S = 5  # infra/stack: tansu's sqlite maintenance_interval


def read_back(topic: str) -> tuple[int, int, int]:
    """(records read from offset 0, first offset the broker holds, records ever published)."""
    consumer = Consumer({**KAFKA_CONF, "group.id": f"readback-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        low_total, high_total, assignment = 0, 0, []
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            low_total += low
            high_total += high
            assignment.append(TopicPartition(topic, p, 0))
        consumer.assign(assignment)
        seen, deadline = set(), time.time() + 120
        while len(seen) < high_total and time.time() < deadline:
            for m in consumer.consume(1000, timeout=1):
                if m.error() is None:
                    seen.add((m.partition(), m.offset()))
        return len(seen), low_total, high_total
    finally:
        consumer.close()


def test_every_council_and_enriched_topic_reads_back_from_zero_after_maintenance():
    time.sleep(MAINTENANCE_S * 3 + 1)
    published = {}
    for topic in COUNCIL_TOPICS + [t + ".enriched" for t in COUNCIL_TOPICS]:
        read, low, high = read_back(topic)
        published[topic] = high
        assert low == 0, f"{topic}: the broker deleted records (log starts at {low})"
        assert read == high, f"{topic}: read {read} of {high} records from offset 0"
    # A short demo has no month end yet, so no waste return; every other topic has records.
    empty = [t for t, n in published.items() if n == 0 and not t.startswith("lgma.waste.return")]
    assert not empty, f"the demo published nothing to {empty}"
    assert sum(published.values()) > 1000, published


def test_reconcile_accounts_for_every_published_event():
    out = subprocess.run([str(ROOT / "target/debug/lgma-ingest"), "reconcile", "--config",
                          str(ROOT / "infra/config/ingest.toml")],
                         capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "every published record is accounted for" in out.stderr
    total = next(l for l in out.stdout.splitlines() if l.startswith("TOTAL")).split()
    published, stored, quarantined, lost, gone = map(int, total[1:6])
    assert published == stored + quarantined and lost == 0 and gone == 0, out.stdout
