#!/usr/bin/env python3
"""Is the broker able to store and serve a record? A real round trip, not an open port.

tansu 0.6 runs its storage engine as one task behind the listener. When that task panics (seen:
`idempotent_message_check` "more or less than one row" on sqlite, tests/RELIABILITY.md) the port
stays open and metadata requests may still be answered, but every produce and fetch fails with
`UnableToSend`. So the probe does what the platform does: an idempotent, acks=all produce of one
record to the probe topic, then a fetch of that record at the offset the broker returned.

Each probe uses a fresh producer: a producer id kept across a broker restart is itself a trigger
of that panic, so a long-lived probe producer would make the watcher kill what it watches.

    probe.py [--bootstrap HOST:PORT[,...]] [--timeout S]           one probe; exit 0 = healthy
    probe.py --watch --log FILE --offset-file F --recover CMD ...  the stack's broker watcher

The watcher (started by `infra/stack up`, see infra/kafka/BROKER.md) probes every --interval
seconds. The broker is dead when its log shows a panic since it was started (`--offset-file` holds
the log size at launch) or when --failures probes in a row fail; then it runs the recover command
(`infra/stack restart tansu`) and appends a line to --recoveries, which `infra/stack status` shows.

The probe topic `_lgma.broker-probe` is outside the platform's `lgma.<domain>.<entity>` names; its
records expire after an hour (cleanup.policy=delete with an explicit retention, RETENTION.md).
"""
import argparse
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
from topics import read_properties  # noqa: E402

TOPIC = "_lgma.broker-probe"
TOPIC_CONFIG = {"cleanup.policy": "delete", "retention.ms": "3600000"}
PANIC_MARKERS = ("panicked at",)


class ProbeFailed(RuntimeError):
    """The broker did not store and serve the probe record; the message says which step failed."""


def client_conf(bootstrap: str) -> dict:
    """Bootstrap plus, in the TLS profile, the tools' SASL_SSL settings (LGMA_KAFKA_CLIENT_PROPERTIES)."""
    conf = {"bootstrap.servers": bootstrap, "log_level": 0}
    if os.environ.get("LGMA_KAFKA_CLIENT_PROPERTIES"):
        conf.update(read_properties(os.environ["LGMA_KAFKA_CLIENT_PROPERTIES"]))
    return conf


def ensure_topic(conf: dict, timeout: float) -> None:
    admin = AdminClient(conf)
    try:
        topics = admin.list_topics(timeout=timeout).topics
    except KafkaException as e:
        raise ProbeFailed(f"metadata: {e}") from e
    if TOPIC in topics and not topics[TOPIC].error:
        return
    future = admin.create_topics([NewTopic(TOPIC, 1, 1, config=TOPIC_CONFIG)], request_timeout=timeout)[TOPIC]
    try:
        future.result(timeout)
    except KafkaException as e:
        if "TOPIC_ALREADY_EXISTS" not in str(e):
            raise ProbeFailed(f"create {TOPIC}: {e}") from e


def probe(bootstrap: str, timeout: float) -> str:
    """One produce + fetch round trip; returns timings, raises ProbeFailed."""
    conf = client_conf(bootstrap)
    start = time.monotonic()
    ensure_topic(conf, timeout)
    token = uuid.uuid4().hex.encode()
    delivered: list = []
    producer = Producer({**conf, "enable.idempotence": True, "acks": "all",
                         "message.timeout.ms": int(timeout * 1000)})
    producer.produce(TOPIC, value=token, partition=0, on_delivery=lambda err, msg: delivered.append((err, msg)))
    producer.flush(timeout)
    if not delivered:
        raise ProbeFailed(f"produce: no delivery report within {timeout:.0f} s")
    err, msg = delivered[0]
    if err is not None:
        raise ProbeFailed(f"produce: {err}")
    offset = msg.offset()
    produced = time.monotonic()
    consumer = Consumer({**conf, "group.id": "_lgma.broker-probe", "enable.auto.commit": False,
                         "fetch.wait.max.ms": 100})
    try:
        consumer.assign([TopicPartition(TOPIC, 0, offset)])
        deadline = produced + timeout
        while time.monotonic() < deadline:
            record = consumer.poll(0.5)
            if record is None:
                continue
            if record.error():
                raise ProbeFailed(f"fetch: {record.error()}")
            if record.offset() == offset:
                if record.value() != token:
                    raise ProbeFailed(f"fetch: offset {offset} holds another record")
                done = time.monotonic()
                return f"produce {1000 * (produced - start):.0f} ms, fetch {1000 * (done - produced):.0f} ms (offset {offset})"
        raise ProbeFailed(f"fetch: offset {offset} not served within {timeout:.0f} s")
    finally:
        consumer.close()


def panic_since_launch(log: Path, offset_file: Path) -> str | None:
    """The first panic line the broker logged since it was started, else None."""
    try:
        start = int(offset_file.read_text().strip() or 0)
    except (OSError, ValueError):
        start = 0
    try:
        with log.open("rb") as f:
            f.seek(start)
            lines = iter(f)
            for raw in lines:
                line = raw.decode("utf-8", "replace")
                if any(m in line for m in PANIC_MARKERS):
                    # "thread ... panicked at <path>/tansu-storage-0.6.0/src/lite.rs:503:13:" + message
                    message = next(lines, b"").decode("utf-8", "replace").strip()
                    where = re.sub(r"at /\S*/(tansu-)", r"at \1", line.strip())
                    return f"{where} {message}"
    except OSError:
        return None
    return None


def watch(args: argparse.Namespace) -> int:
    failures = 0
    while True:
        time.sleep(args.interval)
        reason = panic_since_launch(Path(args.log), Path(args.offset_file))
        if reason is None:
            try:
                probe(args.bootstrap, args.timeout)
                failures = 0
                continue
            except (ProbeFailed, KafkaException) as e:
                failures += 1
                print(f"{time.strftime('%FT%TZ', time.gmtime())} probe failed ({failures}/{args.failures}): {e}",
                      flush=True)
                if failures < args.failures:
                    continue
                reason = f"{failures} probes in a row failed, last: {e}"
        # A restart in progress (infra/stack restart tansu by a user or a test) rewrites the offset
        # file; only recover when the broker is still the one found dead.
        print(f"{time.strftime('%FT%TZ', time.gmtime())} broker dead: {reason}; recovering", flush=True)
        with open(args.recoveries, "a") as f:
            f.write(f"{time.strftime('%FT%TZ', time.gmtime())} {reason}\n")
        result = subprocess.run(args.recover, shell=True)
        print(f"{time.strftime('%FT%TZ', time.gmtime())} recover command exited {result.returncode}", flush=True)
        failures = 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bootstrap", default=os.environ.get("LGMA_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per step")
    p.add_argument("--watch", action="store_true")
    p.add_argument("--interval", type=float, default=10.0)
    p.add_argument("--failures", type=int, default=3, help="failed probes in a row that mean dead")
    p.add_argument("--log"), p.add_argument("--offset-file"), p.add_argument("--recoveries")
    p.add_argument("--recover", help="shell command that restarts the broker")
    args = p.parse_args()
    if args.watch:
        if not (args.log and args.offset_file and args.recoveries and args.recover):
            p.error("--watch needs --log, --offset-file, --recoveries and --recover")
        return watch(args)
    try:
        print(probe(args.bootstrap, args.timeout))
        return 0
    except (ProbeFailed, KafkaException) as e:
        print(f"broker probe failed: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
