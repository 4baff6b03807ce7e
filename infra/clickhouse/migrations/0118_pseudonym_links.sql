-- Pseudonym links across a key rotation (services/ingest/README.md, "Key rotation").
-- While a domain's keys name a previous key (the transition period), ingest pseudonymises every
-- identifier under both keys and records the pair here, with the batch's entity rows (before the
-- offset of record). No clear identifier is ever stored. Re-inserts of a re-processed batch
-- collapse on the key; read with FINAL (or DISTINCT on the key columns).
CREATE TABLE IF NOT EXISTS lgma.pseudonym_links
(
    domain String,
    pseudonym_column String,
    old_key_version String,
    old_pseudonym String,
    new_key_version String,
    new_pseudonym String,
    ingested_at DateTime
)
ENGINE = ReplacingMergeTree()
ORDER BY (domain, old_key_version, new_key_version, old_pseudonym, new_pseudonym, pseudonym_column);
