"""Two brokers on shared PostgreSQL storage (LGMA_KAFKA_STORAGE=postgres LGMA_KAFKA_BROKERS=2 infra/stack up):
an idempotent producer and a consumer group, both bootstrapped with both brokers, keep working when
broker 1 is SIGKILLed 8 s into a 25 s stream. Prints sent / acknowledged / consumed; exit 1 when a
record was not acknowledged or not consumed.

    two_brokers_check.py 127.0.0.1:9092,127.0.0.1:9095 <data>/tansu/tansu.pid
"""
import sys, time, os, signal, threading, collections, uuid
from confluent_kafka import Producer, Consumer
from confluent_kafka.admin import AdminClient, NewTopic
bs, pidfile = sys.argv[1], sys.argv[2]
topic = "failover-" + uuid.uuid4().hex[:8]
a = AdminClient({"bootstrap.servers": bs, "log_level": 0})
a.create_topics([NewTopic(topic, 4, 1, config={"cleanup.policy": "delete", "retention.ms": "86400000"})])[topic].result(10)  # explicit retention (RETENTION.md)
errs = collections.Counter(); ok = [0]
def cb(e, m):
    if e: errs[str(e)[:100]] += 1
    else: ok[0] += 1
p = Producer({"bootstrap.servers": bs, "enable.idempotence": True, "acks": "all", "message.timeout.ms": 60000, "log_level": 0, "linger.ms": 5})
seen = set(); cstop = threading.Event()
def consume():
    c = Consumer({"bootstrap.servers": bs, "group.id": "fo-" + topic, "auto.offset.reset": "earliest", "log_level": 0})
    c.subscribe([topic])
    while not cstop.is_set():
        for m in c.consume(500, 0.5):
            if not m.error(): seen.add(m.value())
    c.close()
t = threading.Thread(target=consume); t.start()
start = time.time(); killed = False; i = 0; sent_after_kill = 0
while time.time() - start < 25:
    if not killed and time.time() - start > 8:
        os.kill(int(open(pidfile).read()), signal.SIGKILL); killed = True; print("killed broker 1 at", i, flush=True); k_ok = ok[0]
    p.produce(topic, value=b"%d" % i, on_delivery=cb); i += 1
    p.poll(0.002)
p.flush(60)
print("sent", i, "ok", ok[0], "ok after kill", ok[0] - k_ok, "errors", dict(errs), flush=True)
deadline = time.time() + 60
while len(seen) < ok[0] and time.time() < deadline: time.sleep(0.5)
cstop.set(); t.join()
print("consumed distinct", len(seen), "of", ok[0], flush=True)
sys.exit(0 if ok[0] == i and len(seen) == i and not errs else 1)
