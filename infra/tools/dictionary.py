#!/usr/bin/env python3
"""The analysts' data dictionary of the `lgma` database, and the column comments it is made of.

Column descriptions have three sources, first match wins:
  1. infra/clickhouse/dictionary.toml, `[objects.<table>.columns]` (a table's or view's own columns);
  2. the Avro `doc` of the field a column comes from (schemas/lgma.*.avsc, for the entity tables):
     `<field>`, `<field>_pseudo` (identifier), `<field>_age_band` (date of birth),
     `<field>_routing_key` (address), `<field>_1km` (location), and `<field>_time`, the DateTime
     twin of an epoch-milliseconds field;
  3. dictionary.toml `[columns]`: columns the platform adds everywhere (provenance, enrichment).
Objects (tables and views) are described in dictionary.toml `[objects.<name>]`: meaning, grain,
key, example query.

  dictionary.py comments             the migration that adds the DateTime twins and sets every
                                     column comment (written once as a numbered migration; a later
                                     change is a new migration: applied files are checksummed)
  dictionary.py markdown             infra/clickhouse/DICTIONARY.md from the live server's tables,
                                     views, columns and comments (--url, --user, --password-env)
  dictionary.py markdown --check F   exit 1 when F differs from what the live server gives (stale)

Every object and column needs a description: the commands fail naming what is missing.
"""
import argparse
import difflib
import json
import os
import pathlib
import re
import sys
import tomllib

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import migrate  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOML = ROOT / "infra" / "clickhouse" / "dictionary.toml"
INGEST_CONFIG = ROOT / "infra" / "config" / "ingest.toml"
# Offset-of-record tables that carry the envelope's epoch-ms times too.
PLATFORM_MS = {"ingest_events": ["occurred_at", "published_at"], "ingest_quarantine": ["occurred_at", "published_at"],
               "ingest_replay_events": ["occurred_at", "published_at"]}
# Created by the migration runner, not by a migration (a current engine in the tests has no such table).
NOT_MIGRATED = {"schema_migrations"}
SUFFIXES = [("_pseudo", "Keyed HMAC-SHA256 pseudonym (key version in key_version; never joined across key versions) of: "),
            ("_age_band", "Age band at the event date, generalised from the date of birth (not stored): "),
            ("_routing_key", "Eircode routing area (first 3 characters), generalised from the address (not stored): "),
            ("_1km", "1 km grid square (south-west corner, metres), generalised from: ")]


def migration_objects() -> set[str]:
    """Names the migrations create in `lgma` (and do not drop for good)."""
    names: set[str] = set()
    create = re.compile(r"^\s*CREATE\s+(?:MATERIALIZED\s+)?(?:TABLE|VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?lgma\.(\w+)", re.I)
    drop = re.compile(r"^\s*DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?lgma\.(\w+)", re.I)
    for _v, _n, path in migrate.migration_files(ROOT / "infra" / "clickhouse" / "migrations"):
        for step in migrate.parse(path.read_text()):
            sql = migrate.strip_comments(step.sql or "")
            if m := create.match(sql):
                names.add(m.group(1))
            elif m := drop.match(sql):
                names.discard(m.group(1))
    return names


def settings() -> dict:
    return tomllib.loads(TOML.read_text())


def entity_tables() -> dict[str, str]:
    """Table stem -> topic, from the ingest configuration."""
    cfg = tomllib.loads(INGEST_CONFIG.read_text())
    return {t["table"]: t["topic"] for t in cfg["topics"]}


def _logical(t) -> str | None:
    if isinstance(t, dict):
        return t.get("logicalType") or (t["type"] if isinstance(t.get("type"), str) else None)
    if isinstance(t, list):
        for x in t:
            if x != "null":
                return _logical(x)
    return t if isinstance(t, str) else None


def avro_fields(topic: str) -> list[tuple[str, str, str | None]]:
    """(field, doc, logical type) of the envelope and the payload record, flattened."""
    schema = json.loads((ROOT / "schemas" / f"{topic}.avsc").read_text())
    out = []
    for f in schema["fields"]:
        t = f["type"]
        record = next((x for x in t if isinstance(x, dict) and x.get("type") == "record"), None) \
            if isinstance(t, list) else None
        if record:
            out += [(p["name"], p.get("doc", ""), _logical(p["type"])) for p in record["fields"]]
        else:
            out.append((f["name"], f.get("doc", ""), _logical(t)))
    return out


def ms_columns(table: str) -> list[str]:
    """Epoch-millisecond columns of a table: Avro timestamp-millis fields, and the envelope's."""
    stems = entity_tables()
    stem = re.sub(r"_(history|current)$", "", table)
    if stem in stems and stem != table:
        return [n for n, _, lt in avro_fields(stems[stem]) if lt == "timestamp-millis"]
    return PLATFORM_MS.get(table, [])


def twin_doc(ms_col: str) -> str:
    return (f"{ms_col} as DateTime (seconds, UTC): for time filters and time grains (Grafana "
            f"$__timeFilter, toStartOfDay/Month); {ms_col} keeps the milliseconds")


def avro_docs(table: str) -> dict[str, str]:
    stems = entity_tables()
    stem = re.sub(r"_(history|current)$", "", table)
    if stem not in stems:
        return {}
    docs = {}
    for name, doc, logical in avro_fields(stems[stem]):
        docs[name] = doc
        for suffix, prefix in SUFFIXES:
            docs[name + suffix] = prefix + doc
        if logical == "timestamp-millis":
            docs[name] = doc
            docs[name + "_time"] = twin_doc(name) + ". " + doc
    return docs


def describe(obj: str, column: str, conf: dict, source_comments: dict[str, str]) -> str | None:
    own = conf.get("objects", {}).get(obj, {}).get("columns", {})
    if column in own:
        return own[column]
    docs = avro_docs(obj)
    if column in docs and docs[column]:
        return docs[column]
    if column in conf.get("columns", {}):
        return conf["columns"][column]
    if column.endswith("_time") and column[:-5] in ms_columns(obj):
        return twin_doc(column[:-5])
    return source_comments.get(column)


def sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Server:
    def __init__(self, url: str, user: str, password: str):
        self.ch = migrate.ClickHouse(url, user, password)

    def rows(self, sql: str) -> list[dict]:
        text = self.ch.query(sql + " FORMAT JSONEachRow")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def objects(self) -> list[dict]:
        """The tables and views the migrations define (tests leave other objects in `lgma`)."""
        defined = migration_objects() | NOT_MIGRATED
        return [o for o in self.rows("SELECT name, engine, create_table_query, partition_key, sorting_key "
                                     "FROM system.tables WHERE database = 'lgma' ORDER BY name")
                if o["name"] in defined]

    def columns(self) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for r in self.rows("SELECT table, name, type, default_kind, comment FROM system.columns "
                           "WHERE database = 'lgma'"):
            out.setdefault(r["table"], []).append(r)
        return out


def is_base(engine: str) -> bool:
    return engine.endswith("MergeTree")


def comments_migration(server: Server) -> str:
    conf = settings()
    columns = server.columns()
    lines = ["-- Generated by `python3 infra/tools/dictionary.py comments`: DateTime twins of the epoch-millisecond",
             "-- columns (ALIAS: computed when read, nothing stored or rewritten) and a comment on every column",
             "-- (from the Avro docs and infra/clickhouse/dictionary.toml). Do not edit: applied migrations are",
             "-- checksummed; a later change is a new migration. Current-state views v_<entity> are re-created",
             "-- with the twins (SELECT * leaves ALIAS columns out).", ""]
    missing = []
    twins: dict[str, list[str]] = {}
    for obj in server.objects():
        table = obj["name"]
        if not is_base(obj["engine"]) or table in NOT_MIGRATED:
            continue
        existing = [c["name"] for c in columns.get(table, [])]
        names = [n for n in existing]
        for ms in ms_columns(table):
            twin = ms + "_time"
            twins.setdefault(table, []).append(twin)
            if twin not in existing:
                nullable = next(c["type"] for c in columns[table] if c["name"] == ms).startswith("Nullable")
                typ = "Nullable(DateTime)" if nullable else "DateTime"
                lines.append(f"ALTER TABLE lgma.{table} ADD COLUMN {twin} {typ} ALIAS toDateTime(intDiv({ms}, 1000));")
                names.append(twin)
        for name in names:
            doc = describe(table, name, conf, {})
            if not doc:
                missing.append(f"{table}.{name}")
                continue
            lines.append(f"ALTER TABLE lgma.{table} COMMENT COLUMN {name} {sql_string(' '.join(doc.split()))};")
    for stem in entity_tables():
        current = f"{stem}_current"
        view = f"v_{stem}"
        extra = ", ".join(twins.get(current, []))
        lines += ["", f"DROP TABLE IF EXISTS lgma.{view};",
                  f"CREATE VIEW lgma.{view} AS", f"SELECT *, {extra} FROM lgma.{current} FINAL WHERE is_deleted = 0;"]
    if missing:
        raise SystemExit("error: no description for:\n  " + "\n  ".join(missing) + f"\n(add them to {TOML})")
    return "\n".join(lines) + "\n"


def source_of(create: str) -> list[str]:
    return re.findall(r"\blgma\.(\w+)", create.split(" AS ", 1)[1] if " AS " in create else "")


def markdown(server: Server) -> str:
    conf = settings()
    objects = server.objects()
    columns = server.columns()
    comments = {t: {c["name"]: c["comment"] for c in cols if c["comment"]} for t, cols in columns.items()}
    missing = []
    out = ["# Data dictionary: ClickHouse database `lgma`", "",
           "Generated by `python3 infra/tools/dictionary.py markdown` from the live tables, views, column",
           "comments (set from the Avro `doc`s and `infra/clickhouse/dictionary.toml`) and that file's",
           "descriptions; `tests/python/test_data_dictionary.py` fails when this file is stale. Do not edit",
           "by hand: change the schemas' docs or dictionary.toml (and add a comment migration), then regenerate.", "",
           "Conventions: times of events are epoch milliseconds in `*_at` / `*_date` Int64 columns (exact)",
           "with a DateTime twin `<column>_time` (seconds, UTC) for time filters and grains; `la_code` is the",
           "council (`local_authorities`); entity tables come in pairs, `<entity>_history` (every accepted",
           "version) and `<entity>_current` (read it through `v_<entity>`, or with `FINAL` and the filter in",
           "the same query). Analysts use the `lgma_analyst` user (read only).", "",
           "| Object | Kind | What |", "|---|---|---|"]
    body = []
    for obj in objects:
        name = obj["name"]
        desc = conf.get("objects", {}).get(name)
        if not desc:
            missing.append(f"objects.{name}")
            continue
        kind = {"View": "view", "MaterializedView": "materialized view"}.get(obj["engine"], "table")
        out.append(f"| [`{name}`](#{name.replace('_', '_')}) | {kind} | {desc['meaning'].split('. ')[0].rstrip('.')} |")
        body += ["", f"## {name}", "", f"*{kind}*" + (f", engine `{obj['engine']}`" if kind == "table" else ""), "",
                 " ".join(desc["meaning"].split())]
        if desc.get("grain"):
            body += ["", f"**Grain**: {' '.join(desc['grain'].split())}"]
        key = desc.get("key") or (f"`ORDER BY ({obj['sorting_key']})`" if obj.get("sorting_key") else "")
        if obj.get("partition_key") not in (None, "", "tuple()"):  # tuple(): one partition
            key += f"; partitioned by `{obj['partition_key']}`"
        if key:
            body += ["", f"**Key**: {key}"]
        if obj["engine"] == "MaterializedView":
            body += ["", f"**Feeds**: `{obj['create_table_query'].split(' TO ', 1)[1].split()[0]}` from "
                     + ", ".join(f"`{s}`" for s in dict.fromkeys(source_of(obj['create_table_query'])))]
            continue
        sources = {}
        for s in source_of(obj["create_table_query"]):
            for k, v in comments.get(s, {}).items():
                sources.setdefault(k, v)
        body += ["", "| Column | Type | Meaning |", "|---|---|---|"]
        for c in columns.get(name, []):
            doc = c["comment"] or describe(name, c["name"], conf, sources)
            if not doc:
                missing.append(f"{name}.{c['name']}")
                doc = ""
            alias = " (alias)" if c["default_kind"] == "ALIAS" else ""
            body.append(f"| `{c['name']}` | `{c['type']}`{alias} | {' '.join(doc.split()).replace('|', '/')} |")
        query = example(name, obj["engine"], [c["name"] for c in columns.get(name, [])], desc)
        if query:
            body += ["", "```sql", query, "```"]
    if missing:
        raise SystemExit("error: no description for:\n  " + "\n  ".join(missing) + f"\n(add them to {TOML})")
    return "\n".join(out + body) + "\n"


def example(name: str, engine: str, columns: list[str], desc: dict) -> str | None:
    """The object's example query: its own from dictionary.toml, else one of the usual shape."""
    if desc.get("example"):
        return desc["example"].strip()
    if engine == "MaterializedView":
        return None
    stems = entity_tables()
    stem = re.sub(r"_(history|current)$", "", name)
    if stem in stems and name.endswith("_history"):
        return (f"SELECT toStartOfMonth(occurred_at_time) AS month, count() AS versions, uniqExact(entity_id) AS entities\n"
                f"FROM lgma.{name}\nWHERE la_code = 'DC' AND occurred_at_time >= now() - 365 * 86400\n"
                "GROUP BY month ORDER BY month")
    if stem in stems and name.endswith("_current"):
        return (f"SELECT count() AS entities\nFROM lgma.{name} FINAL\n"
                f"WHERE topic = '{stems[stem]}' AND la_code = 'DC' AND is_deleted = 0")
    if "la_code" in columns and "month" in columns:
        return f"SELECT *\nFROM lgma.{name}\nWHERE la_code = 'DC'\nORDER BY month DESC\nLIMIT 12"
    if "la_code" in columns:
        return f"SELECT *\nFROM lgma.{name}\nWHERE la_code = 'DC'\nLIMIT 100"
    return f"SELECT *\nFROM lgma.{name}\nLIMIT 10"


def examples(server: Server) -> dict[str, str]:
    """Every object's example query (the test runs them as the analyst on both engines)."""
    conf = settings().get("objects", {})
    columns = server.columns()
    out = {}
    for obj in server.objects():
        q = example(obj["name"], obj["engine"], [c["name"] for c in columns.get(obj["name"], [])],
                    conf.get(obj["name"], {}))
        if q:
            out[obj["name"]] = q
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["comments", "markdown"])
    parser.add_argument("--url", default=os.environ.get("LGMA_CLICKHOUSE_URL", "http://127.0.0.1:8123"))
    parser.add_argument("--user", default="lgma_admin")
    parser.add_argument("--password-env", default="LGMA_CH_ADMIN_PASSWORD")
    parser.add_argument("--check", type=pathlib.Path, help="compare with this file instead of printing")
    args = parser.parse_args()
    server = Server(args.url, args.user, os.environ.get(args.password_env, "admin-local"))
    text = comments_migration(server) if args.command == "comments" else markdown(server)
    if args.check:
        old = args.check.read_text() if args.check.exists() else ""
        if old != text:
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), text.splitlines(True),
                                                       str(args.check), "generated", n=1))
            print(f"\n{args.check} is stale: python3 infra/tools/dictionary.py {args.command} > {args.check}",
                  file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
