#!/usr/bin/env python3
"""Generate the clustered (production) variant of the ClickHouse migrations from the same files.

Local and CI run single-node ClickHouse; production runs a replicated cluster. Rather than keep a second
DDL by hand, this rewrites every migration statement:

- `CREATE TABLE lgma.t (...) ENGINE = XMergeTree(args) ...` becomes a replicated local table
  `lgma.t_local ON CLUSTER '{cluster}' ... ENGINE = ReplicatedXMergeTree('/clickhouse/tables/{shard}/lgma/t_local',
  '{replica}', args)` plus a `Distributed` table `lgma.t` with the original name, so every query, view
  and service keeps using the names it uses locally.
- `CREATE MATERIALIZED VIEW ... TO lgma.t AS SELECT ... FROM lgma.s` fires on the shard-local source and
  writes to the shard-local target (`TO lgma.t_local`, `FROM lgma.s_local`).
- `CREATE VIEW`, `CREATE DATABASE` and `DROP TABLE` (how views are replaced) get `ON CLUSTER '{cluster}'`; `INSERT` (back-fills, reference
  loads) go through the Distributed tables unchanged.

Sharding key: `cityHash64(topic, partition)` for the offset-of-record tables, so each Kafka partition's
rows of an ingest batch land on one shard in one block: a batch's INSERT through the Distributed table is
all or nothing per partition, which is what the offset of record needs (ingest's cluster mode,
services/ingest/README.md "On a cluster"); `cityHash64(entity_id)` for entity tables,
so all versions of an entity meet on one shard and FINAL / ReplacingMergeTree collapse them;
`cityHash64(la_code)` for council summaries; `rand()` for the rest. Small reference tables are
replicated in full to every node (path without `{shard}`, no Distributed table) so joins stay local.

Usage: clustered.py [--cluster NAME] MIGRATIONS_DIR > clustered.sql
"""
import argparse
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import migrations  # noqa: E402

CREATE_TABLE_RE = re.compile(r"^\s*CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?(\w+)\.(\w+)\s*(\(.*)$", re.S | re.I)
ENGINE_RE = re.compile(r"ENGINE\s*=\s*(\w*MergeTree)\s*(\(([^()]*)\))?", re.I)
MV_RE = re.compile(
    r"^\s*CREATE\s+MATERIALIZED\s+VIEW\s+(IF\s+NOT\s+EXISTS\s+)?(\w+)\.(\w+)\s+TO\s+(\w+)\.(\w+)\s+AS\s+(.*)$", re.S | re.I
)
CREATE_AS_RE = re.compile(
    r"^\s*CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?(\w+)\.(\w+)\s+AS\s+(\w+)\.(\w+)\s+(ENGINE\b.*)$", re.S | re.I
)
VIEW_RE = re.compile(r"^\s*CREATE\s+VIEW\s+(IF\s+NOT\s+EXISTS\s+)?(\w+)\.(\w+)\s+AS\s+(.*)$", re.S | re.I)
DB_RE = re.compile(r"^\s*CREATE\s+DATABASE\s+(IF\s+NOT\s+EXISTS\s+)?(\w+)\s*$", re.I)
DROP_RE = re.compile(r"^\s*DROP\s+TABLE\s+(IF\s+EXISTS\s+)?(\w+)\.(\w+)\s*$", re.I)
ALTER_RE = re.compile(r"^\s*ALTER\s+TABLE\s+(\w+)\.(\w+)\s+(.*)$", re.S | re.I)
REFERENCE_TABLES = {"local_authorities", "schema_migrations"}
# Offset-of-record style tables: one Kafka partition's batch must land on one shard (ingest_losses is
# filled by a view over ingest_events on each shard, and read with FINAL: its rows must stay there too).
SHARD_BY_PROVENANCE = {"ingest_events", "ingest_quarantine", "ingest_losses", "smoke_events"}


def sharding_key(name: str, columns_sql: str) -> str:
    """Deterministic wherever rows must collapse (ReplacingMergeTree / FINAL) on one shard."""
    if name in SHARD_BY_PROVENANCE:
        return "cityHash64(topic, partition)"
    if re.search(r"`?\bentity_id`?\s+String", columns_sql):
        return "cityHash64(entity_id)"
    if re.search(r"`?\bla_code`?\s+String", columns_sql):
        return "cityHash64(la_code)"
    return "rand()"


def replicated_engine(db: str, name: str, kind: str, args: str) -> str:
    """The shard-local replicated engine of a sharded table (`<name>_local`)."""
    zk = f"'/clickhouse/tables/{{shard}}/{db}/{name}_local', '{{replica}}'"
    return f"ENGINE = Replicated{kind}({zk}{', ' + args if args else ''})"


def rewrite(stmt: str, cluster: str, local_tables: dict[str, str]) -> list[str]:
    """`local_tables`: the sharded tables so far and their column lists (filled in as it goes)."""
    on = f"ON CLUSTER '{cluster}'"
    if m := DB_RE.match(stmt):
        return [f"CREATE DATABASE {m.group(1) or ''}{m.group(2)} {on}"]
    if m := CREATE_AS_RE.match(stmt):
        # A table with another's columns (current state from history): local AS the other's
        # local table, replicated; distributed AS its own local table.
        ine, db, name, sdb, source, engine_sql = m.group(1) or "", *m.groups()[1:]
        engine = ENGINE_RE.search(engine_sql)
        if not engine or source not in local_tables:
            return [stmt]
        new_engine = replicated_engine(db, name, engine.group(1), (engine.group(3) or "").strip())
        local_tables[name] = local_tables[source]
        key = sharding_key(name, local_tables[name])
        return [
            f"CREATE TABLE {ine}{db}.{name}_local {on} AS {sdb}.{source}_local "
            f"{new_engine}{engine_sql[engine.end():]}",
            f"CREATE TABLE {ine}{db}.{name} {on} AS {db}.{name}_local "
            f"ENGINE = Distributed('{cluster}', '{db}', '{name}_local', {key})",
        ]
    if m := CREATE_TABLE_RE.match(stmt):
        ine, db, name, rest = m.group(1) or "", m.group(2), m.group(3), m.group(4)
        engine = ENGINE_RE.search(rest)
        if not engine:
            return [stmt]
        kind, args = engine.group(1), (engine.group(3) or "").strip()
        if name in REFERENCE_TABLES:
            # A full copy on every node (no {shard} in the path): joins stay local, no Distributed.
            zk = f"'/clickhouse/tables/all/{db}/{name}', '{{replica}}'"
            new_engine = f"ENGINE = Replicated{kind}({zk}{', ' + args if args else ''})"
            return [f"CREATE TABLE {ine}{db}.{name} {on} {rest[: engine.start()]}{new_engine}{rest[engine.end():]}"]
        local_rest = rest[: engine.start()] + replicated_engine(db, name, kind, args) + rest[engine.end():]
        local_tables[name] = rest[: engine.start()]  # its columns, for tables declared AS it
        key = sharding_key(name, rest[: engine.start()])
        return [
            f"CREATE TABLE {ine}{db}.{name}_local {on} {local_rest}",
            f"CREATE TABLE {ine}{db}.{name} {on} AS {db}.{name}_local "
            f"ENGINE = Distributed('{cluster}', '{db}', '{name}_local', {key})",
        ]
    if m := MV_RE.match(stmt):
        ine, db, name, tdb, target, select = m.groups()
        for table in local_tables:
            select = re.sub(rf"\b{db}\.{table}\b(?!_local)", f"{db}.{table}_local", select)
        return [f"CREATE MATERIALIZED VIEW {ine or ''}{db}.{name} {on} TO {tdb}.{target}_local AS {select}"]
    if m := VIEW_RE.match(stmt):
        ine, db, name, select = m.groups()
        return [f"CREATE VIEW {ine or ''}{db}.{name} {on} AS {select}"]
    if m := DROP_RE.match(stmt):
        # Views are replaced by DROP + CREATE (18.16 has no CREATE OR REPLACE): every node must drop.
        ie, db, name = m.group(1) or "", m.group(2), m.group(3)
        drops = [f"DROP TABLE {ie}{db}.{name} {on}"]
        if name in local_tables:
            drops.append(f"DROP TABLE {ie}{db}.{name}_local {on}")
        return drops
    if m := ALTER_RE.match(stmt):
        # ClickHouse runs an ALTER ON CLUSTER of a replicated table on one replica per shard (the
        # others get it through ZooKeeper), and refuses a non-replicated one on a cluster whose
        # shards replicate internally: so each kind goes to the cluster that reaches it once per
        # copy. `<cluster>_all` holds every node as its own shard, `<cluster>_one_shard` every node
        # as a replica of one shard (for tables replicated on every node).
        db, name, rest = m.groups()
        every_node = f"ON CLUSTER '{cluster}_all'"
        if name in local_tables:
            if re.match(r"\s*(UPDATE|DELETE)\b", rest, re.I):
                # Mutations act on the data: only the shards' local tables hold it.
                return [f"ALTER TABLE {db}.{name}_local {on} {rest}"]
            if re.match(r"\s*COMMENT\s+COLUMN\b", rest, re.I):
                # 18.16 refuses COMMENT COLUMN on replicated tables; analysts read the Distributed
                # table (the original name), which carries the comments.
                return [f"ALTER TABLE {db}.{name} {every_node} {rest}"]
            return [f"ALTER TABLE {db}.{name}_local {on} {rest}", f"ALTER TABLE {db}.{name} {every_node} {rest}"]
        if name in REFERENCE_TABLES:
            if re.match(r"\s*COMMENT\s+COLUMN\b", rest, re.I):
                return []  # replicated on every node, no Distributed table over it (see above)
            return [f"ALTER TABLE {db}.{name} ON CLUSTER '{cluster}_one_shard' {rest}"]
        return [f"ALTER TABLE {db}.{name} {every_node} {rest}"]
    return [stmt]


def generate(directory: pathlib.Path, cluster: str) -> list[tuple[str, str]]:
    """(migration file name, statement) pairs of the clustered variant, in order."""
    out = [("0000_database", f"CREATE DATABASE IF NOT EXISTS lgma ON CLUSTER '{cluster}'")]
    local_tables: dict[str, str] = {}
    for _v, _n, path in migrations.migration_files(directory):
        for step in migrations.parse(path.read_text()):
            if step.sql is None:
                out.append((path.name, f"-- @load-csv {step.csv_table} {step.csv_path}"))
                continue
            for stmt in rewrite(migrations.strip_comments(step.sql), cluster, local_tables):
                out.append((path.name, stmt))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory")
    parser.add_argument("--cluster", default="lgma")
    args = parser.parse_args()
    current = None
    for name, stmt in generate(pathlib.Path(args.directory), args.cluster):
        if name != current:
            print(f"\n-- from {name}")
            current = name
        print(stmt if stmt.startswith("--") else stmt + ";")
    return 0


if __name__ == "__main__":
    sys.exit(main())
