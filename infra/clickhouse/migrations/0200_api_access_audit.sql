-- lgma-api: every request to an analyst or admin endpoint (allowed or refused), written by the API
-- as lgma_writer before the response is released (the API fails closed if this insert fails).
-- Partitioned by month so retention is a DROP PARTITION.
CREATE TABLE IF NOT EXISTS lgma.api_access_audit
(
    at DateTime,
    request_id String,
    token_name String,
    role String,
    required_role String,
    method String,
    path String,
    query String,
    status UInt16,
    duration_ms UInt32
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(at)
ORDER BY (at, request_id);
