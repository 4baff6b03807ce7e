-- Erasure requests (`lgma-ingest erase`, services/ingest/README.md "Erasure"): who asked, when, why,
-- which key versions and tables, how many rows were deleted. Never the person's identifiers nor
-- their pseudonyms: the audit must not keep what was erased.
CREATE TABLE IF NOT EXISTS lgma.erasure_audit
(
    request_id String,
    requested_by String,
    finished_at DateTime,
    domain String,
    identifiers UInt32,
    key_versions Array(String),
    tables Array(String),
    rows_deleted UInt64,
    links_deleted UInt64,
    reason String
)
ENGINE = MergeTree()
ORDER BY (finished_at, request_id);
