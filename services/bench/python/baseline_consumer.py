#!/usr/bin/env python3
"""The consumer a council's developer would write instead of lgma-ingest (the benchmark's baseline).

confluent-kafka's DeserializingConsumer + AvroDeserializer against our schema registry, the same
envelope checks as the service, a few payload rules (Eircode format, PPSN check letter, no negative
numbers), the same pseudonymisation driven by the schema's `pii` tags (keyed HMAC of identifiers,
age band for dates of birth, Eircode routing key for addresses, names and free text dropped), and
batches of rows inserted into ClickHouse over HTTP as JSONEachRow; each accepted event published to
the topic's enriched topic (SerializingProducer + AvroSerializer, acks=all, flushed before the batch
counts as done, as the service awaits its enriched events); offsets committed asynchronously after
each batch.

Run by `lgma-bench` (see BENCHMARKS.md). Prints one JSON line: {"events", "secs", "cpu_secs"};
progress and errors go to stderr. Exit 1 if the run could not complete.
"""

import argparse
import csv
import datetime
import hashlib
import hmac
import json
import os
import re
import sys
import time
import uuid

import requests
from confluent_kafka import DeserializingConsumer, SerializingProducer
from confluent_kafka.error import ConsumeError
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import StringDeserializer, StringSerializer

EIRCODE = re.compile(r"^(?:[AC-FHKNPRTV-Y][0-9]{2}|D6W) ?[0-9AC-FHKNPRTV-Y]{4}$")
EIRCODE_IN_TEXT = re.compile(r"\b((?:[AC-FHKNPRTV-Y][0-9]{2}|D6W)) ?[0-9AC-FHKNPRTV-Y]{4}\b", re.I)
PPSN = re.compile(r"^(\d{7})([A-W])([ABHWTX]?)$")
CHECK = "WABCDEFGHIJKLMNOPQRSTUV"
# A benchmark key (never a real one): the service uses a key per domain from its keys file.
KEY = bytes.fromhex("6c676d612d62656e63682d6f6e6c792d6e6f742d612d7265616c2d6b65792121")

TABLE_DDL = """CREATE TABLE IF NOT EXISTS {db}.py_events (
    topic String, partition Int32, offset Int64, event_id String, operation String,
    entity_id String, entity_version Int64, la_code String, verdict String,
    rule_ids Array(String), occurred_at Int64, published_at Int64, ingested_at DateTime,
    payload String
) ENGINE = MergeTree() ORDER BY (topic, partition, offset)"""


# The enriched event: the envelope, the verdict and the pseudonymised payload as one JSON string (the
# service writes typed Avro fields per payload leaf; a shortcut a hand-written consumer would take).
ENRICHED_SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "PyEnriched",
        "namespace": "ie.lgma.bench",
        "fields": [
            {"name": "event_id", "type": "string"},
            {"name": "operation", "type": "string"},
            {"name": "entity_id", "type": "string"},
            {"name": "entity_version", "type": "long"},
            {"name": "la_code", "type": "string"},
            {"name": "verdict", "type": "string"},
            {"name": "rule_ids", "type": {"type": "array", "items": "string"}},
            {"name": "occurred_at", "type": "long"},
            {"name": "published_at", "type": "long"},
            {"name": "payload", "type": "string"},
        ],
    }
)

ENRICHED_FIELDS = [f["name"] for f in json.loads(ENRICHED_SCHEMA)["fields"]]


def ppsn_valid(raw):
    m = PPSN.match(raw.replace(" ", "").upper())
    if not m:
        return False
    digits, check, ninth = m.groups()
    total = sum(int(d) * w for d, w in zip(digits, range(8, 1, -1)))
    if ninth and ninth != "W":
        total += 9 * (ord(ninth) - ord("A") + 1)
    return CHECK[total % 23] == check


def age_band(birth_days, at):
    """`at` is the event time: fastavro gives a datetime for timestamp-millis, older writers an int."""
    born = datetime.date(1970, 1, 1) + datetime.timedelta(days=birth_days)
    if isinstance(at, datetime.datetime):
        at = at.astimezone(datetime.timezone.utc).date()
    else:
        at = datetime.datetime.fromtimestamp(at / 1000, datetime.timezone.utc).date()
    age = at.year - born.year - ((at.month, at.day) < (born.month, born.day))
    if age < 18:
        return "0-17"
    if age < 25:
        return "18-24"
    if age < 45:
        return "25-44"
    if age < 65:
        return "45-64"
    return "65+"


def pii_tags(schema_str):
    """Field name -> pii tag, from the payload record of an envelope schema."""
    tags = {}

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "record":
                for f in node.get("fields", []):
                    if "pii" in f:
                        tags[f["name"]] = f["pii"]
                    walk(f.get("type"))
            elif "items" in node:
                walk(node["items"])
        elif isinstance(node, list):
            for n in node:
                walk(n)

    walk(json.loads(schema_str))
    return tags


class Baseline:
    def __init__(self, args):
        self.args = args
        with open(args.references, newline="") as f:
            self.councils = {row["la_code"] for row in csv.DictReader(f)}
        registry = SchemaRegistryClient({"url": args.registry})
        self.tags = {}
        # Source topic -> its enriched topic (`<base>.enriched<suffix>`, created by lgma-bench).
        self.enriched_topic = {}
        for topic in args.topics.split(","):
            base = topic[: -len(args.topic_suffix)] if args.topic_suffix else topic
            self.enriched_topic[topic] = f"{base}.enriched{args.topic_suffix}"
            latest = registry.get_latest_version(f"{base}-value")
            self.tags[topic] = pii_tags(latest.schema.schema_str)
        self.consumer = DeserializingConsumer(
            {
                "bootstrap.servers": args.bootstrap,
                    "group.id": args.group,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "key.deserializer": StringDeserializer("utf_8"),
                "value.deserializer": AvroDeserializer(registry),
            }
        )
        self.consumer.subscribe(args.topics.split(","))
        # One fixed subject for every run (registering the same schema again is a no-op), not one
        # per suffixed topic.
        serializer = AvroSerializer(
            registry,
            ENRICHED_SCHEMA,
            conf={"subject.name.strategy": lambda ctx, name: "bench-python-enriched-value"},
        )
        self.producer = SerializingProducer(
            {
                "bootstrap.servers": args.bootstrap,
                "acks": "all",
                "linger.ms": 20,
                "key.serializer": StringSerializer("utf_8"),
                "value.serializer": serializer,
            }
        )
        self.delivery_error = None
        self.http = requests.Session()
        self.http.auth = (args.user, os.environ.get(args.password_env, ""))

    def sql(self, query, body=None):
        params = {"query": query} if body is not None else {}
        r = self.http.post(
            self.args.clickhouse_url,
            params=params,
            data=body if body is not None else query.encode(),
            timeout=60,
        )
        if r.status_code != 200:
            raise RuntimeError(f"ClickHouse HTTP {r.status_code}: {r.text[:300]}")
        return r.text

    def judge(self, msg, event):
        findings = []
        if event is None:
            return ["envelope.tombstone"], {}
        try:
            # fastavro gives a uuid.UUID for the uuid logical type, a str from older writers.
            uuid.UUID(str(event["event_id"]))
        except (ValueError, TypeError, KeyError):
            findings.append("envelope.event_id")
        if not str(event.get("entity_id", "")).strip():
            findings.append("envelope.entity_id")
        if event.get("entity_version", -1) < 0:
            findings.append("envelope.entity_version")
        if event.get("la_code") not in self.councils:
            findings.append("envelope.la_code")
        payload = event.get("payload")
        if event.get("operation") != "DELETE" and payload is None:
            findings.append("envelope.payload_missing")
        tags = self.tags.get(msg.topic(), {})
        out = {}
        for name, value in (payload or {}).items():
            tag = tags.get(name)
            if value is None:
                out[name] = None
            elif tag == "identifier":
                if name == "ppsn" and not ppsn_valid(value):
                    findings.append("ppsn.check_letter")
                norm = str(value).replace(" ", "").upper().encode()
                out[name] = hmac.new(KEY, norm, hashlib.sha256).hexdigest()
            elif tag == "date_of_birth":
                days = value if isinstance(value, int) else (value - datetime.date(1970, 1, 1)).days
                out[name + "_age_band"] = age_band(days, event["occurred_at"])
            elif tag == "address":
                m = EIRCODE_IN_TEXT.search(str(value))
                out[name + "_routing_key"] = m.group(1).upper() if m else None
            elif tag is not None:
                continue  # names, free text, special category: never stored
            else:
                if "eircode" in name and isinstance(value, str) and not EIRCODE.match(value.upper()):
                    findings.append(f"{name}.format")
                if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                    findings.append(f"{name}.range")
                if isinstance(value, (datetime.date, datetime.datetime)):
                    value = value.isoformat()
                out[name] = value
        return findings, out

    def row(self, msg, event, findings, payload):
        event = event or {}
        verdict = "QUARANTINE" if findings else "ACCEPT"

        def ms(v):
            if isinstance(v, datetime.datetime):
                return int(v.timestamp() * 1000)
            return int(v or 0)

        return {
                "topic": msg.topic(),
                "partition": msg.partition(),
                "offset": msg.offset(),
                "event_id": str(event.get("event_id", "")),
                "operation": str(event.get("operation", "")),
                "entity_id": str(event.get("entity_id", "")),
                "entity_version": int(event.get("entity_version", 0) or 0),
                "la_code": str(event.get("la_code", "")),
                "verdict": verdict,
                "rule_ids": findings,
                "occurred_at": ms(event.get("occurred_at")),
                "published_at": ms(event.get("published_at")),
                "ingested_at": int(time.time()),
                "payload": json.dumps(payload, default=str),
            }

    def delivered(self, err, _msg):
        """Delivery report: the first failure is kept for the batch's flush to raise."""
        if err is not None and self.delivery_error is None:
            self.delivery_error = err

    def publish(self, msg, row):
        """The accepted event to its topic's enriched topic (delivery checked at the batch's flush)."""
        value = {k: row[k] for k in ENRICHED_FIELDS}
        self.producer.produce(
            self.enriched_topic[msg.topic()], key=row["entity_id"], value=value, on_delivery=self.delivered
        )
        self.producer.poll(0)

    def flush(self):
        """Waits until every enriched event is acknowledged; a failed delivery fails the run."""
        if self.producer.flush(30) > 0:
            raise RuntimeError("enriched events not acknowledged within 30 s")
        if self.delivery_error is not None:
            raise RuntimeError(f"enriched event not delivered: {self.delivery_error}")

    def run(self):
        db, max_events, batch_size = self.args.database, self.args.max_events, self.args.batch
        self.sql(TABLE_DDL.format(db=db))
        insert = f"INSERT INTO {db}.py_events FORMAT JSONEachRow"
        consumed, batch, batch_started, first = 0, [], None, None
        idle_since = time.monotonic()
        cpu0 = time.process_time()
        while consumed < max_events:
            try:
                msg = self.consumer.poll(0.5)
            except ConsumeError as e:  # undecodable record: quarantined
                msg, event = e.kafka_message, None
                if msg is None:
                    continue
            else:
                if msg is None:
                    if time.monotonic() - idle_since > 120:
                        raise RuntimeError(f"no records for 120 s after {consumed}")
                    event = "none"
                elif msg.error():
                    raise RuntimeError(str(msg.error()))
                else:
                    event = msg.value()
            if msg is not None:
                idle_since = time.monotonic()
                if first is None:
                    first = time.monotonic()
                findings, payload = self.judge(msg, event)
                row = self.row(msg, event, findings, payload)
                if not findings:
                    self.publish(msg, row)
                batch.append(json.dumps(row, default=str))
                consumed += 1
                if batch_started is None:
                    batch_started = time.monotonic()
            due = batch_started is not None and time.monotonic() - batch_started >= 0.5
            if batch and (len(batch) >= batch_size or due or consumed >= max_events):
                self.sql(insert, ("\n".join(batch) + "\n").encode())
                self.flush()
                self.consumer.commit(asynchronous=True)
                batch, batch_started = [], None
                print(f"python baseline: {consumed} events", file=sys.stderr)
        secs = time.monotonic() - (first or time.monotonic())
        cpu = time.process_time() - cpu0
        self.consumer.close()
        print(json.dumps({"events": consumed, "secs": secs, "cpu_secs": cpu}))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bootstrap", default=os.environ.get("LGMA_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    p.add_argument("--registry", default=os.environ.get("LGMA_REGISTRY_URL", "http://127.0.0.1:8081"))
    p.add_argument("--clickhouse-url", default=os.environ.get("LGMA_CLICKHOUSE_URL", "http://127.0.0.1:8123"))
    p.add_argument("--user", default="lgma_admin")
    p.add_argument("--password-env", default="LGMA_CH_ADMIN_PASSWORD")
    p.add_argument("--database", required=True, help="scratch database (must exist)")
    p.add_argument("--topics", required=True, help="comma-separated topics")
    p.add_argument("--max-events", type=int, required=True)
    p.add_argument("--batch", type=int, default=5000)
    p.add_argument("--group", required=True)
    p.add_argument("--topic-suffix", default="", help="schemas are registered under the base topic's subject")
    p.add_argument("--references", required=True, help="local_authorities.csv")
    args = p.parse_args()
    try:
        Baseline(args).run()
    except Exception as e:  # noqa: BLE001 - report and fail the run
        print(f"python baseline failed: {e!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
