-- Landing table of the end-to-end smoke test (tests/tests/smoke_pipeline.rs): raw keyed messages
-- with their Kafka provenance, so a test can compare what it produced with what it reads back.
CREATE TABLE IF NOT EXISTS lgma.smoke_events
(
    topic String,
    partition UInt32,
    offset UInt64,
    key String,
    value String,
    ingested_at DateTime
)
ENGINE = MergeTree()
ORDER BY (topic, partition, offset);
