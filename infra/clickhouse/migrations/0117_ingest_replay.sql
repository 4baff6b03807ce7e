-- lgma-ingest replay (services/ingest/README.md, "Replay"). The offset of record (ingest_events)
-- is never rewritten by a replay: a replay's verdicts go to ingest_replay_events, and the quarantine
-- row of a record a replay accepts is superseded by one with status 'released'.

-- Quarantine rows: which replay wrote them ('' = live ingest) and whether the record is still
-- quarantined. ReplacingMergeTree keyed by provenance keeps the latest attempt: read with FINAL,
-- "quarantined now" is FINAL WHERE status = 'quarantined'.
ALTER TABLE lgma.ingest_quarantine ADD COLUMN replay_id String DEFAULT '';
ALTER TABLE lgma.ingest_quarantine ADD COLUMN status String DEFAULT 'quarantined';

-- The verdict of every replayed record, keyed by its ORIGINAL provenance; the latest replay wins
-- (version = ingested_at, the replay batch time). Version safety reads it with ingest_events.
CREATE TABLE IF NOT EXISTS lgma.ingest_replay_events
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
    batch_id String,
    replay_id String
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (topic, partition, offset);

-- Audit: the mode (dlq | range), the selection as given on the command line, more counts.
ALTER TABLE lgma.ingest_replay_audit ADD COLUMN mode String DEFAULT '';
ALTER TABLE lgma.ingest_replay_audit ADD COLUMN selection String DEFAULT '';
ALTER TABLE lgma.ingest_replay_audit ADD COLUMN warned UInt64 DEFAULT 0;
ALTER TABLE lgma.ingest_replay_audit ADD COLUMN released UInt64 DEFAULT 0;
ALTER TABLE lgma.ingest_replay_audit ADD COLUMN finished_at DateTime DEFAULT now();
