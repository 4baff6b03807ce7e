#!/usr/bin/env python3
"""The broker's raw rates on its storage engine (sqlite or PostgreSQL), as infra/kafka/BROKER.md
reports them: produce, consume, and the fetch stalls of consumers tailing a topic while a producer
writes to it. Prints one Markdown table row; never asserts a time (the numbers are the result).

    bench_storage.py --bootstrap 127.0.0.1:9092 --label sqlite [--messages 50000] [--size 300]

1. produce: N keyed records of --size bytes, idempotent, acks=all (as the platform's producers),
   into a fresh topic with --partitions partitions; records/s from the first send to the last ack.
2. consume: one consumer reads the N records from offset 0 (assigned, no group); records/s.
3. tail: --tailers consumers follow a second fresh topic while one producer writes --messages / 2
   records at --tail-rate records/s; a stall is a gap of more than --stall-ms between two records a
   tailer receives while the producer is still writing. Prints the longest gap and the count.
"""
import argparse
import os
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
from topics import read_properties  # noqa: E402


def conf(bootstrap: str) -> dict:
    c = {"bootstrap.servers": bootstrap, "log_level": 0}
    if os.environ.get("LGMA_KAFKA_CLIENT_PROPERTIES"):
        c.update(read_properties(os.environ["LGMA_KAFKA_CLIENT_PROPERTIES"]))
    return c


def new_topic(c: dict, partitions: int) -> str:
    name = f"_lgma.storage-bench.{uuid.uuid4().hex[:12]}"
    # A delete policy with an explicit retention, as infra/kafka/RETENTION.md requires.
    topic = NewTopic(name, partitions, 1, config={"cleanup.policy": "delete", "retention.ms": "86400000"})
    admin = AdminClient(c)  # kept alive until the result: a dropped client cancels its requests
    admin.create_topics([topic])[name].result(30)
    return name


def produce(c: dict, topic: str, n: int, size: int, rate: float = 0.0) -> tuple[float, int]:
    """Sends n records (at most `rate` per second when > 0); returns (seconds, failed deliveries)."""
    failed = [0]

    def report(err, _msg):
        if err is not None:
            failed[0] += 1

    p = Producer({**c, "enable.idempotence": True, "acks": "all", "linger.ms": 5})
    value = os.urandom(size // 2).hex().encode()[:size]
    start = time.monotonic()
    for i in range(n):
        if rate > 0:
            ahead = start + i / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        while True:
            try:
                p.produce(topic, key=str(i % 1000).encode(), value=value, on_delivery=report)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    p.flush(120)
    return time.monotonic() - start, failed[0]


def consume(c: dict, topic: str, partitions: int, n: int, timeout: float = 120) -> tuple[float, int]:
    """Reads n records from offset 0; returns (seconds, records read)."""
    cons = Consumer({**c, "group.id": "_lgma.storage-bench", "enable.auto.commit": False})
    cons.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    got, start = 0, time.monotonic()
    while got < n and time.monotonic() - start < timeout:
        for m in cons.consume(1000, 1.0):
            if not m.error():
                got += 1
    elapsed = time.monotonic() - start
    cons.close()
    return elapsed, got


def tail(c: dict, partitions: int, n: int, size: int, tailers: int, rate: float, stall_ms: float) -> dict:
    topic = new_topic(c, partitions)
    writing = threading.Event()
    writing.set()
    gaps: list[list[float]] = [[] for _ in range(tailers)]
    counts = [0] * tailers

    def follow(k: int):
        cons = Consumer({**c, "group.id": f"_lgma.storage-bench.tail{k}", "enable.auto.commit": False,
                         "fetch.wait.max.ms": 100})
        cons.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        last = None
        while counts[k] < n:
            msgs = cons.consume(500, 0.2)
            now = time.monotonic()
            got = [m for m in msgs if not m.error()]
            if got:
                if last is not None and writing.is_set():
                    gaps[k].append(now - last)
                last = now
                counts[k] += len(got)
            elif not writing.is_set() and last is not None and now - last > 30:
                break
        cons.close()

    threads = [threading.Thread(target=follow, args=(k,)) for k in range(tailers)]
    for t in threads:
        t.start()
    seconds, failed = produce(c, topic, n, size, rate)
    writing.clear()
    for t in threads:
        t.join(180)
    flat = [g for gs in gaps for g in gs]
    return {"seconds": seconds, "failed": failed, "max_gap_ms": 1000 * max(flat, default=0.0),
            "stalls": sum(1 for g in flat if g * 1000 > stall_ms), "read": min(counts), "expected": n}


def main() -> int:
    a = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("--bootstrap", default=os.environ.get("LGMA_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    a.add_argument("--label", required=True)
    a.add_argument("--messages", type=int, default=50000)
    a.add_argument("--size", type=int, default=300)
    a.add_argument("--partitions", type=int, default=4)
    a.add_argument("--tailers", type=int, default=3)
    a.add_argument("--tail-rate", type=float, default=2000.0)
    a.add_argument("--stall-ms", type=float, default=1000.0)
    args = a.parse_args()
    c = conf(args.bootstrap)
    topic = new_topic(c, args.partitions)
    p_s, p_failed = produce(c, topic, args.messages, args.size)
    c_s, c_got = consume(c, topic, args.partitions, args.messages)
    t = tail(c, args.partitions, args.messages // 2, args.size, args.tailers, args.tail_rate, args.stall_ms)
    print("| storage | produce rec/s | failed | consume rec/s | read | tail: longest gap | gaps > "
          f"{args.stall_ms:.0f} ms | tail read |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {args.label} | {args.messages / p_s:,.0f} | {p_failed} | {c_got / c_s:,.0f} | {c_got}/{args.messages} "
          f"| {t['max_gap_ms']:,.0f} ms | {t['stalls']} | {t['read']}/{t['expected']} ({t['failed']} failed) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
