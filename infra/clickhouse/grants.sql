-- Users, settings profiles and grants of the LGMA platform on a CURRENT ClickHouse (production; SQL
-- access control, settings constraints). The local stack's ClickHouse 18.16 has none of these and
-- uses infra/clickhouse/users.xml instead; what it can and cannot enforce is in
-- infra/clickhouse/COMPATIBILITY.md ("Users and privileges"). Same users, same passwords' roles.
--
-- Applied by the operator as an access-management user (not by infra/tools/migrate.py: lgma_admin
-- does not manage users), after the migrations created the tables:
--     clickhouse-client --multiquery < grants.sql      (placeholders rendered first, see below)
-- @*_SHA256@ are the hex SHA-256 of each password (`printf %s "$PW" | sha256sum`), rendered by the
-- operator like infra/stack renders users.xml; no password is committed. Narrow `HOST ANY` to the
-- services' network. Tables added by a later migration need a GRANT here too: a user sees nothing it
-- was not granted. tests/python/test_sql_current_engine.py parse-checks every statement on a
-- current engine (chdb); tests/python/test_clickhouse_users.py proves the effect on a server.
--
-- The server's own `default` user must not exist or must have a password and no network access
-- (remove it from the server's users.xml or set <password_sha256_hex> and <networks> there).

-- Settings profiles: limits that a query cannot lift (MAX / CONST constraints). ------------------

-- lgma_admin: migrations.
CREATE SETTINGS PROFILE IF NOT EXISTS lgma_admin_profile SETTINGS
    max_memory_usage = 4000000000;

-- lgma_writer (ingest) and lgma_audit: no DDL, ever; ingest raises max_query_size per query
-- (services/ingest/src/sink.rs: 16 MiB for a batch's IN lists) and asks for unquoted 64-bit ints.
CREATE SETTINGS PROFILE IF NOT EXISTS lgma_writer_profile SETTINGS
    allow_ddl = 0 CONST,
    max_memory_usage = 4000000000 MAX 4000000000,
    max_execution_time = 120 MAX 120,
    max_query_size = 262144 MAX 16777216;

-- lgma_reader (the API) and lgma_analyst (analysts, dashboards, Grafana): read only, bounded.
-- Grafana's ClickHouse data source sends max_execution_time with every query (clickhouse-go):
-- CHANGEABLE_IN_READONLY lets it, MAX 30 keeps the bound. Nothing else can be changed.
CREATE SETTINGS PROFILE IF NOT EXISTS lgma_readonly_profile SETTINGS
    readonly = 1 CONST,
    allow_ddl = 0 CONST,
    max_memory_usage = 1000000000 CONST,
    max_read_buffer_size = 65536 CONST,
    max_execution_time = 30 MAX 30 CHANGEABLE_IN_READONLY,
    max_result_rows = 1000000 CONST,
    result_overflow_mode = 'throw' CONST;

-- Users. ----------------------------------------------------------------------------------------

CREATE USER IF NOT EXISTS lgma_admin IDENTIFIED WITH sha256_hash BY '@ADMIN_SHA256@'
    HOST ANY SETTINGS PROFILE lgma_admin_profile DEFAULT DATABASE lgma;
CREATE USER IF NOT EXISTS lgma_writer IDENTIFIED WITH sha256_hash BY '@WRITER_SHA256@'
    HOST ANY SETTINGS PROFILE lgma_writer_profile DEFAULT DATABASE lgma;
CREATE USER IF NOT EXISTS lgma_audit IDENTIFIED WITH sha256_hash BY '@AUDIT_SHA256@'
    HOST ANY SETTINGS PROFILE lgma_writer_profile DEFAULT DATABASE lgma;
CREATE USER IF NOT EXISTS lgma_reader IDENTIFIED WITH sha256_hash BY '@READER_SHA256@'
    HOST ANY SETTINGS PROFILE lgma_readonly_profile DEFAULT DATABASE lgma;
CREATE USER IF NOT EXISTS lgma_analyst IDENTIFIED WITH sha256_hash BY '@ANALYST_SHA256@'
    HOST ANY SETTINGS PROFILE lgma_readonly_profile DEFAULT DATABASE lgma;

-- lgma_admin: DDL and data in lgma only (migrations, -- @load-csv, partition drops for retention);
-- CLUSTER for the ON CLUSTER variant of the migrations (infra/tools/clustered.py).
GRANT ALL ON lgma.* TO lgma_admin;
GRANT CLUSTER ON *.* TO lgma_admin;

-- lgma_writer: what services/ingest sends at run time, nothing more. Reads: offsets and versions
-- (ingest_events, ingest_replay_events), quarantine look-ups; writes: the offset of record, the
-- quarantine, replay verdicts and audit, pseudonym links, each entity's history and current state.
-- Materialized views fed by ingest_events (sum_quality_*, ingest_losses, sum_hl_*, sum_planning_*)
-- run with their definer's rights (SQL SECURITY DEFINER, the default for new MVs): no grant here.
GRANT SELECT, INSERT ON lgma.ingest_events TO lgma_writer;
GRANT SELECT, INSERT ON lgma.ingest_quarantine TO lgma_writer;
GRANT SELECT, INSERT ON lgma.ingest_replay_events TO lgma_writer;
GRANT INSERT ON lgma.ingest_replay_audit TO lgma_writer;
GRANT INSERT ON lgma.pseudonym_links TO lgma_writer;
GRANT INSERT ON lgma.hl_presentation_history TO lgma_writer;
GRANT INSERT ON lgma.hl_presentation_current TO lgma_writer;
GRANT INSERT ON lgma.hl_placement_history TO lgma_writer;
GRANT INSERT ON lgma.hl_placement_current TO lgma_writer;
GRANT INSERT ON lgma.hl_exit_history TO lgma_writer;
GRANT INSERT ON lgma.hl_exit_current TO lgma_writer;
GRANT INSERT ON lgma.housing_dwelling_unit_history TO lgma_writer;
GRANT INSERT ON lgma.housing_dwelling_unit_current TO lgma_writer;
GRANT INSERT ON lgma.housing_need_assessment_history TO lgma_writer;
GRANT INSERT ON lgma.housing_need_assessment_current TO lgma_writer;
GRANT INSERT ON lgma.planning_application_history TO lgma_writer;
GRANT INSERT ON lgma.planning_application_current TO lgma_writer;
GRANT INSERT ON lgma.waste_return_history TO lgma_writer;
GRANT INSERT ON lgma.waste_return_current TO lgma_writer;

-- lgma_audit: lgma-api appends one row per analyst/admin request; it reads nothing.
GRANT INSERT ON lgma.api_access_audit TO lgma_audit;

-- lgma_reader: the API reads every table and view of lgma, the quarantine and the audits included
-- (its admin endpoints); never writes (readonly = 1 CONST).
GRANT SELECT ON lgma.* TO lgma_reader;

-- lgma_analyst: everything in lgma EXCEPT the tables with raw quarantine reasons, audit trails and
-- links between pseudonyms (a partial revoke: new tables are visible unless revoked here too).
GRANT SELECT ON lgma.* TO lgma_analyst;
REVOKE SELECT ON lgma.ingest_quarantine FROM lgma_analyst;
REVOKE SELECT ON lgma.api_access_audit FROM lgma_analyst;
REVOKE SELECT ON lgma.ingest_replay_audit FROM lgma_analyst;
REVOKE SELECT ON lgma.ingest_replay_events FROM lgma_analyst;
REVOKE SELECT ON lgma.pseudonym_links FROM lgma_analyst;
REVOKE SELECT ON lgma.schema_migrations FROM lgma_analyst;
