"""The local cluster profile (infra/cluster: ZooKeeper + ClickHouse 18.16 as 2 shards x 2 replicas) after
`infra/cluster migrate`: every node holds the same objects and the same replicated ledger, reference data
is a full copy on every node, rows written through a Distributed table land on one shard each and on
both replicas of that shard, and a second migrate run applies nothing."""
import os
import subprocess
import sys
import time
import uuid

import requests

from conftest import ROOT

HTTP_BASE = int(os.environ.get("LGMA_CLUSTER_HTTP_BASE", "8130"))
ADMIN = {"user": "lgma_admin", "password": os.environ.get("LGMA_CH_ADMIN_PASSWORD", "admin-local")}
NODES = range(4)  # node i: shard i // 2 + 1, replica i % 2 + 1


def ch(node: int, sql: str, **settings) -> str:
    r = requests.post(f"http://127.0.0.1:{HTTP_BASE + node}/", params={**ADMIN, **settings}, data=sql.encode(),
                      timeout=60)
    assert r.status_code == 200, f"node {node}: {r.text.strip()[:300]}\n{sql[:300]}"
    return r.text.strip()


def test_every_node_has_the_same_objects_ledger_and_reference_data():
    tables = {n: ch(n, "SELECT name, engine FROM system.tables WHERE database = 'lgma' ORDER BY name") for n in NODES}
    assert len(set(tables.values())) == 1, "nodes differ in their lgma objects"
    lines = tables[0].splitlines()
    assert len(lines) > 80
    engines = dict(line.split("\t") for line in lines)
    # Under the original names analysts query Distributed tables over replicated shard-local ones.
    assert engines["hl_placement_current"] == "Distributed"
    assert engines["hl_placement_current_local"] == "ReplicatedReplacingMergeTree"
    assert engines["ingest_events"] == "Distributed"
    assert engines["local_authorities"].startswith("Replicated")
    ledgers = {n: ch(n, "SELECT version, checksum FROM lgma.schema_migrations ORDER BY version") for n in NODES}
    assert len(set(ledgers.values())) == 1
    migrations = sorted(p.name[:4] for p in (ROOT / "infra/clickhouse/migrations").glob("*.sql"))
    assert [line.split("\t")[0] for line in ledgers[0].splitlines()] == migrations
    for n in NODES:
        assert ch(n, "SELECT count() FROM lgma.local_authorities") == "31", f"node {n}"
        assert ch(n, "SELECT count() FROM system.replicas WHERE is_readonly OR is_session_expired") == "0"


def test_distributed_writes_land_on_one_shard_and_both_its_replicas():
    tag = uuid.uuid4().hex[:8]
    topic = f"lgma.cluster.test.{tag}"
    rows = ",".join(
        f"('{topic}', {p}, {o}, 1, '', '', now(), 'e{p}-{o}', 'create', 'ent-{p}-{o}', 1, 'DCC', 'test', "
        f"0, 0, 0, 'accepted', [])"
        for p in range(4) for o in range(50)
    )
    cols = ("topic, partition, offset, schema_id, rules_version, key_version, ingested_at, event_id, operation, "
            "entity_id, entity_version, la_code, source_system, occurred_at, published_at, is_deleted, verdict, "
            "rule_ids")
    # insert_distributed_sync: acknowledged once stored on the shards, not queued on this node.
    ch(0, f"INSERT INTO lgma.hl_exit_history ({cols}) VALUES {rows}", insert_distributed_sync=1)
    deadline = time.time() + 30
    while True:
        local = {n: int(ch(n, f"SELECT count() FROM lgma.hl_exit_history_local WHERE topic = '{topic}'")) for n in NODES}
        if (local[0], local[2]) == (local[1], local[3]) or time.time() > deadline:
            break
        time.sleep(0.5)
    assert local[0] == local[1] and local[2] == local[3], f"replicas of a shard differ: {local}"
    assert local[0] + local[2] == 200 and local[0] > 0 and local[2] > 0, f"rows not spread over both shards: {local}"
    for n in NODES:
        assert ch(n, f"SELECT count() FROM lgma.hl_exit_history WHERE topic = '{topic}'") == "200"
    # An entity's rows stay on one shard (cityHash64(entity_id)), so FINAL collapses its versions there.
    ids = {n: set(ch(n, f"SELECT DISTINCT entity_id FROM lgma.hl_exit_history_local WHERE topic = '{topic}'").split())
           for n in (0, 2)}
    assert not ids[0] & ids[2] and len(ids[0] | ids[2]) == 200
    ch(0, f"ALTER TABLE lgma.hl_exit_history_local ON CLUSTER 'lgma' DELETE WHERE topic = '{topic}'")


def test_a_second_migrate_run_applies_nothing():
    env = {**os.environ, "LGMA_CH_ADMIN_PASSWORD": ADMIN["password"]}
    out = subprocess.run(
        [sys.executable, str(ROOT / "infra/tools/migrate.py"), "--cluster", "lgma", "--url",
         f"http://127.0.0.1:{HTTP_BASE}", str(ROOT / "infra/clickhouse/migrations")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "0 migration(s) applied" in out.stdout
