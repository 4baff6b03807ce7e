"""The clustered production DDL is generated from the same migration files and parses on a current
ClickHouse engine (chdb 26.x: no cluster here, so a parse check via formatQuery, not execution)."""
import re

from chdb import session

import clustered
from conftest import ROOT

MIGRATIONS = ROOT / "infra" / "clickhouse" / "migrations"


def sql_literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def test_every_statement_parses_on_current_engine():
    engine = session.Session()
    statements = [s for _, s in clustered.generate(MIGRATIONS, "lgma") if not s.startswith("--")]
    assert len(statements) > 20
    for stmt in statements:
        formatted = str(engine.query(f"SELECT formatQuery({sql_literal(stmt)})", "TSVRaw"))
        assert formatted.strip(), stmt


def test_tables_are_replicated_and_distributed_and_views_stay_shard_local():
    out = clustered.generate(MIGRATIONS, "lgma")
    statements = [s for _, s in out]
    local_creates = [s for s in statements if re.match(r"CREATE TABLE .*_local ON CLUSTER", s)]
    assert local_creates, "no replicated local tables generated"
    for stmt in local_creates:
        assert "ENGINE = Replicated" in stmt, stmt
        name = re.match(r"CREATE TABLE (?:IF NOT EXISTS )?lgma\.(\w+)_local", stmt).group(1)
        dist = [s for s in statements if f"lgma.{name} ON CLUSTER 'lgma' AS lgma.{name}_local" in s]
        assert len(dist) == 1 and "ENGINE = Distributed('lgma', 'lgma'," in dist[0], name
        assert "rand()" not in dist[0] or "_current" not in name, "current state must shard by entity"
    for stmt in statements:
        if stmt.startswith("CREATE MATERIALIZED VIEW"):
            target = re.search(r"\bTO lgma\.(\w+)", stmt).group(1)
            assert target.endswith("_local"), stmt[:120]
            sources = re.findall(r"\bFROM lgma\.(\w+)", stmt)
            assert sources and all(s.endswith("_local") or s == "local_authorities" for s in sources), stmt[:200]
    # The offset of record shards by Kafka partition, so one partition's batch stays on one shard.
    ingest_events = [s for s in statements if "lgma.ingest_events ON CLUSTER 'lgma' AS" in s]
    assert ingest_events and "cityHash64(topic, partition)" in ingest_events[0]
    # A view replaced by DROP + CREATE is dropped on every node, not only the one running the DDL.
    drops = [s for s in statements if s.startswith("DROP")]
    assert drops and all("ON CLUSTER 'lgma'" in s for s in drops), drops
    # Reference data is a full replica on every node, never distributed (which would multiply rows).
    assert not any("local_authorities_local" in s for s in statements)
