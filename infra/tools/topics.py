#!/usr/bin/env python3
"""Create the topics declared in infra/kafka/topics.toml, idempotently.

Existing topics are left alone (never deleted: tansu's DeleteTopics on sqlite drops every topic),
but their retention settings are compared with the file and any difference is reported; with
--fix-existing the file's settings are applied to them (AlterConfigs).

Definitions known to lose data are refused before anything is sent to the broker (see
infra/kafka/RETENTION.md): a delete-policy topic needs an explicit, positive `retention.ms`
(-1 makes the local broker delete every record at its next maintenance pass; a missing value
silently means the broker's default, 7 days), and `retention.bytes` is not honoured by the local
broker. `--check` validates the file only.

Tests create their topics with this same script (`--suffix`, `--only`, `--partitions`), so a
setting that loses data fails a test instead of reaching users.

Works against any Kafka: pass --property key=value for SASL/SSL settings of a production cluster.
"""
import argparse
import os
import sys
import tomllib

# A topic must keep its records at least this long (1 day): shorter is a typo or a wipe.
MIN_RETENTION_MS = 86_400_000


class DefinitionError(ValueError):
    """A topic definition that would lose data or cannot be applied."""


def definitions(spec: dict) -> list[dict]:
    """Every topic with the defaults merged in: name, partitions, replication, config (strings)."""
    defaults = spec.get("defaults", {})
    out = []
    for topic in spec.get("topic", []):
        merged = {**defaults, **topic}
        name = merged.pop("name")
        partitions = int(merged.pop("partitions", 1))
        replication = int(merged.pop("replication_factor", 1))
        config = {k: str(v) for k, v in merged.items()}
        policy = {p.strip() for p in config.get("cleanup.policy", "delete").split(",")}
        if "delete" not in policy:
            config.pop("retention.ms", None)  # not consulted by a compact-only topic
        out.append({"name": name, "partitions": partitions, "replication": replication, "config": config})
    return out


def check(topic: dict) -> None:
    """Raises DefinitionError for a definition known to lose records."""
    name, config = topic["name"], topic["config"]
    policy = {p.strip() for p in config.get("cleanup.policy", "delete").split(",")}
    if "delete" in policy:
        raw = config.get("retention.ms")
        if raw is None:
            raise DefinitionError(
                f"{name}: cleanup.policy=delete without retention.ms: the broker's default (7 days) "
                "would apply silently; set it explicitly")
        try:
            retention = int(raw)
        except ValueError:
            raise DefinitionError(f"{name}: retention.ms={raw!r} is not a whole number of milliseconds") from None
        if retention < 0:
            raise DefinitionError(
                f"{name}: retention.ms={retention} means 'keep forever' to Kafka but the local broker (tansu) "
                "deletes EVERY record of such a topic at its next maintenance pass; give an explicit duration "
                "(e.g. 315360000000 for 10 years)")
        if retention < MIN_RETENTION_MS:
            raise DefinitionError(
                f"{name}: retention.ms={retention} keeps records less than a day; records ingest has not read "
                f"in time are lost (minimum {MIN_RETENTION_MS})")
    if "retention.bytes" in config:
        raise DefinitionError(
            f"{name}: retention.bytes is not honoured by the local broker; bound retention by time only")
    if topic["partitions"] < 1:
        raise DefinitionError(f"{name}: partitions must be at least 1")


def read_properties(path: str) -> dict[str, str]:
    """A Java-style client properties file: `key=value` lines, `#` comments."""
    conf = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", "!")):
                key, _, value = line.partition("=")
                conf[key.strip()] = value.strip()
    return conf


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", help="topics TOML file")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--suffix", default="", help="append to every topic name (tests)")
    parser.add_argument("--only", action="append", default=[],
                        help="only this topic (name as defined, without suffix); repeatable (tests)")
    parser.add_argument("--partitions", type=int, help="override every topic's partition count (tests)")
    parser.add_argument("--property", action="append", default=[], help="extra client property k=v")
    parser.add_argument("--command-config", default=os.environ.get("LGMA_KAFKA_CLIENT_PROPERTIES") or None,
                        help="client properties file (key=value lines: security.protocol, sasl.*, ssl.*), "
                             "as Kafka's own tools take it; default $LGMA_KAFKA_CLIENT_PROPERTIES")
    parser.add_argument("--check", action="store_true", help="validate the file only; do not connect")
    parser.add_argument("--fix-existing", action="store_true",
                        help="apply the file's settings to existing topics whose settings differ")
    parser.add_argument("--quiet", action="store_true", help="print only problems")
    args = parser.parse_args()

    with open(args.file, "rb") as f:
        topics = definitions(tomllib.load(f))
    unknown = set(args.only) - {t["name"] for t in topics}
    if unknown:
        print(f"error: --only names topics not in {args.file}: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    if args.only:
        topics = [t for t in topics if t["name"] in args.only]
    problems = []
    for topic in topics:
        try:
            check(topic)
        except DefinitionError as exc:
            problems.append(str(exc))
    if problems:
        for p in problems:
            print(f"error: refusing {args.file}: {p}", file=sys.stderr)
        return 2
    if args.check:
        if not args.quiet:
            print(f"  ok       {len(topics)} topic definitions in {args.file}")
        return 0

    from confluent_kafka.admin import AdminClient, NewTopic  # noqa: PLC0415

    conf = {"bootstrap.servers": args.bootstrap}
    if args.command_config:
        conf.update(read_properties(args.command_config))
    for prop in args.property:
        key, _, value = prop.partition("=")
        conf[key] = value
    admin = AdminClient(conf)
    try:
        existing = set(admin.list_topics(timeout=15).topics)
    except Exception as exc:  # noqa: BLE001 - report any client failure plainly
        print(f"error: cannot reach Kafka at {args.bootstrap}: {exc}", file=sys.stderr)
        return 1

    def say(line: str) -> None:
        if not args.quiet:
            print(line)

    wanted, present = [], []
    for topic in topics:
        name = topic["name"] + args.suffix
        partitions = args.partitions or topic["partitions"]
        if name in existing:
            present.append((name, topic["config"]))
            continue
        wanted.append(NewTopic(name, num_partitions=partitions, replication_factor=topic["replication"],
                               config=topic["config"]))

    failed = 0
    if wanted:
        for name, future in admin.create_topics(wanted, request_timeout=30).items():
            try:
                future.result()
                say(f"  created  {name}")
            except Exception as exc:  # noqa: BLE001
                if "TOPIC_ALREADY_EXISTS" in str(exc):
                    say(f"  exists   {name}")
                else:
                    print(f"  FAILED   {name}: {exc}", file=sys.stderr)
                    failed += 1
    for name, config in present:
        failed += reconcile_existing(admin, name, config, args.fix_existing, say)
    return 1 if failed else 0


def reconcile_existing(admin, name: str, config: dict, fix: bool, say) -> int:
    """Compares an existing topic's settings with its definition; 1 if it may lose records."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource  # noqa: PLC0415

    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    try:
        actual = admin.describe_configs([resource], request_timeout=15)[resource].result()
    except Exception as exc:  # noqa: BLE001 - a broker without DescribeConfigs: say so, go on
        say(f"  exists   {name} (settings not readable: {exc})")
        return 0
    drift = {}
    for key, want in config.items():
        entry = actual.get(key)
        have = entry.value if entry is not None else None
        if have != want:
            drift[key] = (have, want)
    if not drift:
        say(f"  exists   {name}")
        return 0
    described = ", ".join(f"{k}={h!r} (file: {w!r})" for k, (h, w) in sorted(drift.items()))
    if not fix:
        dangerous = "retention.ms" in drift and (drift["retention.ms"][0] or "").startswith("-")
        stream = sys.stderr if dangerous else sys.stdout
        print(f"  DIFFERS  {name}: {described}; run with --fix-existing to apply the file", file=stream)
        return 1 if dangerous else 0
    entries = [ConfigEntry(k, w, incremental_operation=AlterConfigOpType.SET) for k, (_, w) in drift.items()]
    resource = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=entries)
    try:
        admin.incremental_alter_configs([resource], request_timeout=15)[resource].result()
    except Exception as exc:  # noqa: BLE001
        print(f"  FAILED   {name}: could not apply {described}: {exc}", file=sys.stderr)
        return 1
    say(f"  updated  {name}: {described}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
