"""Every view and shipped query answers the same on the cluster as on one node, for the same events.

The events are the local stack's (after `infra/stack test`'s demo): the base tables (history, current
state, offsets of record, quarantine, replay, links) are copied with `remote()` from the stack's
ClickHouse into a fresh single node (`LGMA_REFERENCE_HTTP_PORT`, migrated like the stack) and into the
cluster through its Distributed tables; the materialized views fill the summaries on both sides. Then
every `v_*` view, every query in infra/clickhouse/queries and every indicator query must return the
same rows."""
import datetime as dt
import os
import re
import time

import pytest
import requests

import migrate
from conftest import ROOT
from test_indicators_sql import build, definitions

CLUSTER = int(os.environ.get("LGMA_CLUSTER_HTTP_BASE", "8130"))
REFERENCE = os.environ.get("LGMA_REFERENCE_HTTP_PORT")
SOURCE_TCP = os.environ.get("LGMA_CLUSTER_SOURCE_TCP", "127.0.0.1:9000")
SOURCE_HTTP = os.environ.get("LGMA_CLICKHOUSE_URL", "http://127.0.0.1:8123")
ADMIN = {"user": "lgma_admin", "password": os.environ.get("LGMA_CH_ADMIN_PASSWORD", "admin-local")}

pytestmark = pytest.mark.skipif(not REFERENCE, reason="needs a reference node: run by infra/stack test's cluster phase")


def ch(url: str, sql: str, **settings) -> str:
    r = requests.post(url, params={**ADMIN, **settings}, data=sql.encode(), timeout=300)
    assert r.status_code == 200, f"{url}: {r.text.strip()[:300]}\n{sql[:300]}"
    return r.text


def tsv(url: str, sql: str) -> list[str]:
    return ch(url, sql + "\nFORMAT TSV").splitlines()


@pytest.fixture(scope="module")
def both():
    reference, cluster = f"http://127.0.0.1:{REFERENCE}/", f"http://127.0.0.1:{CLUSTER}/"
    view_targets = set()
    for query in tsv(SOURCE_HTTP, "SELECT create_table_query FROM system.tables "
                                  "WHERE database = 'lgma' AND engine = 'MaterializedView'"):
        view_targets.update(re.findall(r"\bTO lgma\.(\w+)", query))
    assert view_targets, "the stack's ClickHouse has no materialized views: is it migrated?"
    tables = [t for t in tsv(SOURCE_HTTP, "SELECT name FROM system.tables WHERE database = 'lgma' "
                                          "AND engine LIKE '%MergeTree' AND name NOT LIKE 'mig%' ORDER BY name")
              if t not in view_targets and t not in ("schema_migrations", "local_authorities")]
    rows = int(ch(SOURCE_HTTP, "SELECT count() FROM lgma.ingest_events"))
    assert rows > 1000, f"the stack holds {rows} offsets of record: run the demo first"
    for table in tables:
        cols = ", ".join(f"`{c}`" for c in tsv(SOURCE_HTTP, f"SELECT name FROM system.columns WHERE database = 'lgma' "
                                                            f"AND table = '{table}' AND default_kind NOT IN ('ALIAS', 'MATERIALIZED')"))
        copy = (f"INSERT INTO lgma.{table} ({cols}) SELECT {cols} FROM remote('{SOURCE_TCP}', lgma.{table}, "
                f"'{ADMIN['user']}', '{ADMIN['password']}')")
        ch(reference, copy)
        ch(cluster, copy, insert_distributed_sync=1)
    # Replicas fetch parts asynchronously: wait until each holds what its shard was sent.
    for node in range(4):
        url = f"http://127.0.0.1:{CLUSTER + node}/"
        for table in tsv(url, "SELECT table FROM system.replicas WHERE database = 'lgma'"):
            ch(url, f"SYSTEM SYNC REPLICA lgma.{table}")
    time.sleep(1)
    return reference, cluster, tables


def rounded(line: str) -> str:
    """Floating-point sums differ in their last digits when shards add in another order."""
    def field(text: str) -> str:
        if "." not in text:
            return text
        try:
            return f"{float(text):.9g}"
        except ValueError:
            return text
    return "\t".join(field(f) for f in line.split("\t"))


# Columns computed from now() at query time: the two servers are asked a moment apart, so these
# may differ by the seconds in between (a run failed on 294 vs 295).
CLOCK_COLUMNS = {"seconds_since_last_ingest"}
CLOCK_TOLERANCE_S = 10


def answer(url: str, sql: str) -> list[tuple[str, list[int]]]:
    """Rows as (the row without its clock columns, rounded; the clock columns' values)."""
    header, *lines = ch(url, sql + "\nFORMAT TSVWithNames").splitlines()
    clock = [i for i, name in enumerate(header.split("\t")) if name in CLOCK_COLUMNS]
    rows = []
    for line in lines:
        fields = line.split("\t")
        rest = "\t".join(f for i, f in enumerate(fields) if i not in clock)
        rows.append((rounded(rest), [int(fields[i]) for i in clock]))
    return sorted(rows)


def same(reference: str, cluster: str, sql: str):
    a, b = answer(reference, sql), answer(cluster, sql)
    keys_a, keys_b = [k for k, _ in a], [k for k, _ in b]
    assert keys_a == keys_b, f"{len(a)} vs {len(b)} rows; only on one node: {sorted(set(keys_a) - set(keys_b))[:3]}; " \
                             f"only on the cluster: {sorted(set(keys_b) - set(keys_a))[:3]}\n{sql[:200]}"
    for (key, clock_a), (_, clock_b) in zip(a, b):
        assert all(abs(x - y) <= CLOCK_TOLERANCE_S for x, y in zip(clock_a, clock_b)), \
            f"{key}: {clock_a} vs {clock_b}\n{sql[:200]}"
    return len(a)


def test_copied_events_are_all_there(both):
    reference, cluster, tables = both
    for table in tables:
        assert tsv(reference, f"SELECT count() FROM lgma.{table}") == tsv(cluster, f"SELECT count() FROM lgma.{table}"), table


def test_every_view_answers_the_same(both):
    reference, cluster, _ = both
    views = tsv(reference, "SELECT name FROM system.tables WHERE database = 'lgma' AND engine = 'View' ORDER BY name")
    assert len(views) > 15
    answered = {v: same(reference, cluster, f"SELECT * FROM lgma.{v}") for v in views}
    assert sum(answered.values()) > 100, answered


def test_shipped_queries_and_indicators_answer_the_same(both):
    reference, cluster, _ = both
    queries = sorted((ROOT / "infra/clickhouse/queries").glob("*.sql"))
    assert queries
    for path in queries:
        for step in migrate.parse(path.read_text()):
            same(reference, cluster, migrate.strip_comments(step.sql))
    today = dt.date.today()
    councils = sum(same(reference, cluster, build(ind, dt.date(today.year - 1, 1, 1), dt.date(today.year + 1, 1, 1), today))
                   for ind in definitions(ROOT)["indicator"])
    assert councils > 31, "the indicators found no council's events: run the demo first"
