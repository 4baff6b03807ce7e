-- Reference data shared by ingest, summaries and the API: the 31 local authorities (CSO 2022 population)
-- and their regions. Source of truth: schemas/reference/local_authorities.csv.
CREATE TABLE IF NOT EXISTS lgma.local_authorities
(
    la_code String,
    official_name String,
    la_type String,
    homeless_region String,
    nuts3_code String,
    nuts3_name String,
    population_2022 UInt32,
    aliases String
)
ENGINE = MergeTree()
ORDER BY la_code;

-- @load-csv lgma.local_authorities schemas/reference/local_authorities.csv
