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

--ack-latency instead: the acknowledgement delays a council's publisher sees at a steady rate
(--tail-rate for --secs seconds, --headers headers per record as our publisher sends, over --topics
fresh topics of --partitions partitions), optionally with one consumer reading them (--readers 1)
that re-produces each record to an enriched twin (--echo), as ingest does. Prints p50/p99/max and the
largest delay of each second: tansu's maintenance pass shows as a stall every 5 s (BENCHMARKS.md,
session 24). Run it against a broker that already holds a store to see the stall grow with it, and
against one `infra/stack up` started: a bare tansu lacks tansu-indexes.sql's header index, and its
fetches of records with headers then take seconds.
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


def produce(c: dict, topics: str | list[str], n: int, size: int, rate: float = 0.0, headers: int = 0,
            compression: str | None = None, delays: list[tuple[float, float]] | None = None) -> tuple[float, int]:
    """Sends n records round-robin over `topics` (at most `rate` per second when > 0), with `headers`
    headers each; returns (seconds, failed deliveries). `delays`, if given, gets (second sent, ms to
    the acknowledgement) of every acknowledged record."""
    names = [topics] if isinstance(topics, str) else topics
    failed = [0]

    def report(err, sent):
        if err is not None:
            failed[0] += 1
        elif delays is not None:
            delays.append((sent - start, 1000 * (time.monotonic() - sent)))

    p = Producer({**c, "enable.idempotence": True, "acks": "all", "linger.ms": 5,
                  **({"compression.type": compression} if compression else {})})
    value = os.urandom(size // 2).hex().encode()[:size]
    hdrs = [(f"h{k}", b"header-value") for k in range(headers)] or None
    start = time.monotonic()
    for i in range(n):
        if rate > 0:
            ahead = start + i / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        sent = time.monotonic()
        while True:
            try:
                p.produce(names[i % len(names)], key=str(i % 1000).encode(), value=value, headers=hdrs,
                          on_delivery=lambda err, _m, sent=sent: report(err, sent))
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


def ack_latency(c: dict, topics: int, partitions: int, rate: float, secs: float, size: int, headers: int,
                readers: int, echo: bool) -> tuple[list[tuple[float, float]], int]:
    """(send second, ack delay ms) per record, and the records the readers read."""
    names = [new_topic(c, partitions) for _ in range(topics)]
    if echo:
        admin = AdminClient(c)
        twins = [NewTopic(f"{n}.enriched", partitions, 1,
                          config={"cleanup.policy": "delete", "retention.ms": "86400000"}) for n in names]
        for f in admin.create_topics(twins).values():
            f.result(30)
    stop, read = threading.Event(), [0]

    def reader():
        cons = Consumer({**c, "group.id": f"_lgma.storage-bench.{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100})
        cons.subscribe(names)
        # As ingest's enriched producer: acks=all, not idempotent, one request in flight, linger 20 ms.
        twin = Producer({**c, "acks": "all", "linger.ms": 20, "enable.idempotence": False,
                         "max.in.flight.requests.per.connection": 1}) if echo else None
        while not stop.is_set():
            for m in cons.consume(2000, 0.1):
                if m.error() is None:
                    read[0] += 1
                    if twin:
                        twin.produce(f"{m.topic()}.enriched", key=m.key(), value=m.value())
            if twin:
                twin.poll(0)
        if twin:
            twin.flush(60)
        cons.close()

    threads = [threading.Thread(target=reader, daemon=True) for _ in range(readers)]
    for t in threads:
        t.start()
    if readers:
        time.sleep(3)  # the readers join before the stream starts
    delays: list[tuple[float, float]] = []
    # As a council's publisher (our publisher library): LZ4, idempotent, acks=all, linger 5 ms.
    produce(c, names, int(rate * secs), size, rate, headers, "lz4", delays)
    time.sleep(2 if readers else 0)
    stop.set()
    for t in threads:
        t.join(90)
    return delays, read[0]


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
    a.add_argument("--ack-latency", action="store_true", help="measure the publisher's acknowledgement delays only")
    a.add_argument("--secs", type=float, default=30.0)
    a.add_argument("--topics", type=int, default=7)
    a.add_argument("--headers", type=int, default=4)
    a.add_argument("--readers", type=int, default=1, choices=(0, 1))
    a.add_argument("--echo", action="store_true")
    args = a.parse_args()
    c = conf(args.bootstrap)
    if args.ack_latency:
        delays, read = ack_latency(c, args.topics, args.partitions, args.tail_rate, args.secs, args.size,
                                   args.headers, args.readers, args.echo)
        d = sorted(ms for _, ms in delays)
        if not d:
            print("no record was acknowledged", file=sys.stderr)
            return 1
        q = lambda f: d[min(len(d) - 1, int(f * len(d)))]  # noqa: E731
        worst: dict[int, float] = {}
        for at, ms in delays:
            worst[int(at)] = max(worst.get(int(at), 0.0), ms)
        print(f"| {args.label} | {len(d)} acknowledged of {int(args.tail_rate * args.secs)}, {read} read | "
              f"p50 {q(0.5):,.0f} ms | p99 {q(0.99):,.0f} ms | max {d[-1]:,.0f} ms |")
        print("largest delay per second (ms): " + " ".join(f"{worst[k]:.0f}" for k in sorted(worst)))
        return 0
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
