#!/usr/bin/env python3
"""Create the topics declared in infra/kafka/topics.toml, idempotently.

Existing topics are left alone (never deleted: tansu's DeleteTopics on sqlite drops every topic).
Works against any Kafka: pass --property key=value for SASL/SSL settings of a production cluster.
"""
import argparse
import sys
import tomllib

from confluent_kafka.admin import AdminClient, NewTopic


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file", help="topics TOML file")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--suffix", default="", help="append to every topic name (tests)")
    parser.add_argument("--property", action="append", default=[], help="extra client property k=v")
    args = parser.parse_args()

    with open(args.file, "rb") as f:
        spec = tomllib.load(f)
    defaults = spec.get("defaults", {})
    conf = {"bootstrap.servers": args.bootstrap}
    for prop in args.property:
        key, _, value = prop.partition("=")
        conf[key] = value
    admin = AdminClient(conf)
    try:
        existing = set(admin.list_topics(timeout=15).topics)
    except Exception as exc:  # noqa: BLE001 - report any client failure plainly
        print(f"error: cannot reach Kafka at {args.bootstrap}: {exc}", file=sys.stderr)
        return 1

    wanted = []
    for topic in spec.get("topic", []):
        merged = {**defaults, **topic}
        name = merged.pop("name") + args.suffix
        partitions = int(merged.pop("partitions", 1))
        replication = int(merged.pop("replication_factor", 1))
        config = {k: str(v) for k, v in merged.items()}
        if name in existing:
            print(f"  exists   {name}")
            continue
        wanted.append(NewTopic(name, num_partitions=partitions, replication_factor=replication, config=config))

    failed = 0
    if wanted:
        for name, future in admin.create_topics(wanted, request_timeout=30).items():
            try:
                future.result()
                print(f"  created  {name}")
            except Exception as exc:  # noqa: BLE001
                if "TOPIC_ALREADY_EXISTS" in str(exc):
                    print(f"  exists   {name}")
                else:
                    print(f"  FAILED   {name}: {exc}", file=sys.stderr)
                    failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
