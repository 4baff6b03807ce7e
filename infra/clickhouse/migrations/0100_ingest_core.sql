-- lgma-ingest: the offset of record, the quarantine and the replay audit (see services/ingest/README.md).

-- The OFFSET OF RECORD: one row per consumed Kafka record (any verdict). Written LAST in every batch
-- as ONE INSERT whose rows all share `ingested_at` (the batch time), hence one partition and one part:
-- the batch is recorded entirely or not at all. On partition assignment the consumer seeks to
-- max(offset) + 1 per (topic, partition). Plain MergeTree: exactly-once means no duplicates to collapse.
CREATE TABLE IF NOT EXISTS lgma.ingest_events
(
    topic String,
    partition Int32,
    offset Int64,
    event_id String,
    entity_table String,
    entity_id String,
    entity_version Int64,
    operation String,
    la_code String,
    verdict String,
    rule_ids Array(String),
    schema_id UInt32,
    rules_version String,
    key_version String,
    occurred_at Int64,
    published_at Int64,
    ingested_at DateTime,
    batch_id String
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(ingested_at)
ORDER BY (topic, partition, offset);

-- Quarantined events: provenance, rule ids, reasons (never clear personal values) and the decodable
-- non-personal fields. Raw bytes go ONLY to the restricted DLQ topic. Keyed by provenance so a batch
-- re-inserted after a crash collapses (read with FINAL).
CREATE TABLE IF NOT EXISTS lgma.ingest_quarantine
(
    topic String,
    partition Int32,
    offset Int64,
    ingested_at DateTime,
    schema_id UInt32,
    decoded UInt8,
    event_id String,
    operation String,
    entity_id String,
    entity_version Int64,
    la_code String,
    source_system String,
    occurred_at Int64,
    published_at Int64,
    rule_ids Array(String),
    reasons Array(String),
    rules_version String,
    non_personal_fields String,
    dlq_topic String
)
ENGINE = ReplacingMergeTree()
ORDER BY (topic, partition, offset);

-- Replays of quarantined events or offset ranges: who, when, what, result.
CREATE TABLE IF NOT EXISTS lgma.ingest_replay_audit
(
    replay_id String,
    requested_by String,
    requested_at DateTime,
    source_topic String,
    partition Int32,
    from_offset Int64,
    to_offset Int64,
    reason String,
    records UInt64,
    accepted UInt64,
    quarantined UInt64,
    result String
)
ENGINE = MergeTree()
ORDER BY (requested_at, replay_id);
