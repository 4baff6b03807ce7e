#!/usr/bin/env python3
"""Refill every materialized view's target from its source table, on one ClickHouse node.

Why: on a cluster, an INSERT whose quorum timed out (a replica died while it ran) leaves its part on
the replica that took it, and ClickHouse 18.16 then never pushes that block to the materialized views
(they fire only after a successful INSERT, and ingest's identical retry is de-duplicated, which skips
the views too): the summaries miss that block. Every view target here is idempotent under a second
insert of the same rows (AggregatingMergeTree of uniqExact / groupUniqArray / max states,
ReplacingMergeTree), so running each view's own SELECT over the whole source again restores them.
Targets of any other engine are refused (a SummingMergeTree would count twice).

On a cluster the views read and write shard-local tables: run it once per shard, on one replica
(`infra/cluster refill-views` does); on one server, once.

Usage: refill_views.py --url http://127.0.0.1:8130 [--user lgma_admin] [--password-env LGMA_CH_ADMIN_PASSWORD]
"""
import argparse
import os
import re
import sys

from migrate import ClickHouse

VIEW_RE = re.compile(r"^CREATE MATERIALIZED VIEW (\S+) TO (\S+) \((.*?)\) AS (SELECT .*)$", re.S)
IDEMPOTENT = re.compile(r"^(Replicated)?(Aggregating|Replacing)MergeTree$")


def top_level_items(text: str) -> list[str]:
    """`a String, b AggregateFunction(uniqExact, String)` -> its items, commas in brackets kept."""
    items, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            items.append(text[start:i].strip())
            start = i + 1
    items.append(text[start:].strip())
    return [item for item in items if item]


def refills(ch: ClickHouse) -> list[tuple[str, str]]:
    """(view, INSERT ... SELECT) for every materialized view of database lgma."""
    out = []
    for line in ch.query("SELECT name, create_table_query FROM system.tables WHERE database = 'lgma' "
                         "AND engine = 'MaterializedView' ORDER BY name FORMAT TSVRaw").splitlines():
        name, create = line.split("\t", 1)
        m = VIEW_RE.match(create)
        if not m:
            raise SystemExit(f"error: {name}: not a `TO <table>` materialized view: {create[:120]}")
        target, columns, select = m.group(2), top_level_items(m.group(3)), m.group(4)
        tdb, tname = target.split(".", 1)
        engine = ch.query(f"SELECT engine FROM system.tables WHERE database = '{tdb}' AND name = '{tname}'").strip()
        if not IDEMPOTENT.match(engine):
            raise SystemExit(f"error: {name} -> {target} ({engine}): not idempotent under a refill")
        names = ", ".join(c.split()[0] for c in columns)
        out.append((name, f"INSERT INTO {target} ({names}) {select}"))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8123")
    parser.add_argument("--user", default="lgma_admin")
    parser.add_argument("--password-env", default="LGMA_CH_ADMIN_PASSWORD")
    args = parser.parse_args()
    ch = ClickHouse(args.url, args.user, os.environ.get(args.password_env, "admin-local"))
    done = refills(ch)
    for name, sql in done:
        ch.query(sql)
    print(f"{len(done)} materialized view(s) refilled on {args.url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
