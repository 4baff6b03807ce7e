//! ClickHouse over HTTP: RowBinary and JSONEachRow inserts and small JSON queries.
//!
//! Rows are schema-driven (columns come from the reader schema), so they are encoded by the
//! table layout (`encode::row`) rather than through a compile-time `Row` type. One INSERT of
//! fewer than `max_insert_block_size` rows into one partition is one part: all or nothing. Works
//! on ClickHouse 18.16 and current.

use std::collections::HashMap;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::config::ClickHouseSettings;
use crate::{Error, Result};

/// Bytes of SQL a look-up may send (see [`ClickHouse::query`]).
const MAX_QUERY_SIZE: &str = "16777216";

/// How long a quorum INSERT waits for its replicas (ms) and a synchronous Distributed INSERT for
/// its shards (s, and per connection to a shard), all below the client's 60 s timeout: the server
/// answers (with an error) before the client gives up, so an outcome is rarely unknown.
const QUORUM_TIMEOUT_MS: &str = "20000";
const DISTRIBUTED_TIMEOUT_S: &str = "40";
const SHARD_IO_TIMEOUT_S: &str = "30";

#[derive(Clone)]
pub struct ClickHouse {
    http: reqwest::Client,
    settings: ClickHouseSettings,
}

impl std::fmt::Debug for ClickHouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouse")
            .field("settings", &self.settings)
            .finish()
    }
}

/// Quotes a string literal for client-side binding (ClickHouse 18.16 has no server-side params).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

impl ClickHouse {
    pub fn new(settings: ClickHouseSettings) -> Result<Self> {
        let http = lgma_core::tls::http_client(settings.ca_file.as_deref())?
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(3))
            // ClickHouse closes an idle keep-alive connection after `keep_alive_timeout` (3 s in
            // 18.16 and in our config): an INSERT sent on one it is closing fails ("error sending
            // request"; seen in lgma-bench's raw write), so the pool lets them go first.
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| Error::ClickHouse(e.to_string()))?;
        Ok(Self { http, settings })
    }

    pub fn database(&self) -> &str {
        &self.settings.database
    }

    /// Whether this writes to a cluster's Distributed tables (`clickhouse.cluster`).
    pub fn is_cluster(&self) -> bool {
        self.settings.is_cluster()
    }

    /// Where to read what is recorded in `table` (`ingest_events`, `ingest_replay_events`): the
    /// table itself on one server; on a cluster, its shard-local table on EVERY replica (the
    /// `cluster()` table function over the replicas cluster, which fails while any replica is
    /// unreachable). A quorum INSERT that failed can have left its part on one replica only, where
    /// it becomes visible everywhere once the quorum is reached; reading one replica per shard (a
    /// Distributed SELECT), or only quorum-confirmed parts (`select_sequential_consistency`), would
    /// miss it and let the batch be recorded twice. Callers aggregate with `max`, so the copies a
    /// part has on several replicas count once.
    pub fn recorded(&self, table: &str) -> String {
        let db = &self.settings.database;
        if self.is_cluster() {
            format!(
                "cluster({}, {db}, {table}_local)",
                quote(&self.settings.replicas_cluster())
            )
        } else {
            format!("{db}.{table}")
        }
    }

    async fn post(
        &self,
        params: &[(&str, &str)],
        body: impl Into<reqwest::Body>,
    ) -> Result<String> {
        let response = self
            .http
            .post(&self.settings.url)
            .basic_auth(&self.settings.user, Some(&self.settings.password))
            .query(&[("database", self.settings.database.as_str())])
            .query(params)
            .body(body)
            .send()
            .await
            .map_err(|e| Error::ClickHouse(format!("request failed: {e}")))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| Error::ClickHouse(format!("reading response: {e}")))?;
        if !status.is_success() {
            let first = text.lines().next().unwrap_or_default();
            return Err(Error::ClickHouse(format!("HTTP {status}: {first}")));
        }
        Ok(text)
    }

    /// One INSERT of JSONEachRow lines into `table` (database-qualified by the caller or not).
    /// `Bytes`: the same rows sent to two tables, or sent again, are not copied.
    pub async fn insert_json(&self, table: &str, rows: impl Into<bytes::Bytes>) -> Result<()> {
        self.insert(
            &format!("INSERT INTO {table} FORMAT JSONEachRow"),
            rows.into(),
        )
        .await
    }

    /// One INSERT of RowBinary rows into `table`, each row in the order of `columns` (`(`a`,
    /// `b`)`; the table's other columns take their defaults). The caller has checked the
    /// table's column types ([`ClickHouse::column_types`]): RowBinary carries none.
    pub async fn insert_row_binary(
        &self,
        table: &str,
        columns: &str,
        rows: impl Into<bytes::Bytes>,
    ) -> Result<()> {
        let query = format!("INSERT INTO {table} {columns} FORMAT RowBinary");
        self.insert(&query, rows.into()).await
    }

    /// The column types of `tables` in this database, by table and column (`Nullable(String)`,
    /// as `system.columns` spells them); a missing table has no entry.
    pub async fn column_types(
        &self,
        tables: &[String],
    ) -> Result<HashMap<String, HashMap<String, String>>> {
        #[derive(serde::Deserialize)]
        struct Row {
            table: String,
            name: String,
            #[serde(rename = "type")]
            ty: String,
        }
        let names: Vec<String> = tables.iter().map(|t| quote(t)).collect();
        let rows: Vec<Row> = self
            .query(&format!(
                "SELECT table, name, type FROM system.columns WHERE database = {} AND table IN ({})",
                quote(&self.settings.database),
                names.join(", ")
            ))
            .await?;
        let mut types: HashMap<String, HashMap<String, String>> = HashMap::new();
        for row in rows {
            types.entry(row.table).or_default().insert(row.name, row.ty);
        }
        Ok(types)
    }

    async fn insert(&self, query: &str, rows: bytes::Bytes) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let quorum = self.settings.insert_quorum.to_string();
        let mut params = vec![("query", query), ("input_format_skip_unknown_fields", "1")];
        if self.is_cluster() {
            // Through the Distributed table, synchronously: acknowledged only once every shard's
            // part is on `insert_quorum` replicas (18.16 passes the settings on to the shards).
            params.extend([
                ("insert_distributed_sync", "1"),
                ("insert_distributed_timeout", DISTRIBUTED_TIMEOUT_S),
                ("insert_quorum", quorum.as_str()),
                ("insert_quorum_timeout", QUORUM_TIMEOUT_MS),
                ("receive_timeout", SHARD_IO_TIMEOUT_S),
                ("send_timeout", SHARD_IO_TIMEOUT_S),
            ]);
        }
        self.post(&params, rows).await.map(|_| ())
    }

    /// Runs a SELECT and parses `FORMAT JSONEachRow` output (64-bit integers unquoted).
    ///
    /// The batch's version and quarantine look-ups put every key of a batch in an `IN (...)` list:
    /// a full 5,000-event batch is ~300 KB of SQL, over ClickHouse's default `max_query_size`
    /// (256 KiB), which would fail the batch forever. The limit is raised per query.
    pub async fn query<T: DeserializeOwned>(&self, sql: &str) -> Result<Vec<T>> {
        let text = self
            .post(
                &[
                    ("output_format_json_quote_64bit_integers", "0"),
                    ("max_query_size", MAX_QUERY_SIZE),
                ],
                format!("{sql} FORMAT JSONEachRow").into_bytes(),
            )
            .await?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .map_err(|e| Error::ClickHouse(format!("unexpected row {l:?}: {e}")))
            })
            .collect()
    }

    /// `SELECT 1`: whether the server answers (the `/ready` probe, see `ready`).
    pub async fn ping(&self) -> Result<()> {
        self.query::<serde_json::Value>("SELECT 1 AS ok")
            .await
            .map(|_| ())
    }

    /// Runs a statement that returns nothing (an `ALTER TABLE ... DELETE` of an erasure).
    pub async fn execute(&self, sql: &str) -> Result<()> {
        self.post(
            &[("max_query_size", MAX_QUERY_SIZE)],
            sql.as_bytes().to_vec(),
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::{quote, ClickHouse};
    use crate::config::ClickHouseSettings;

    #[test]
    fn records_are_read_from_every_replica_on_a_cluster() -> crate::Result<()> {
        let one = ClickHouse::new(ClickHouseSettings::default())?;
        assert_eq!(one.recorded("ingest_events"), "lgma.ingest_events");
        let cluster = ClickHouse::new(ClickHouseSettings {
            cluster: "lgma".into(),
            ..ClickHouseSettings::default()
        })?;
        assert_eq!(
            cluster.recorded("ingest_events"),
            "cluster('lgma_all', lgma, ingest_events_local)"
        );
        Ok(())
    }

    #[test]
    fn quoting_escapes_quotes_and_backslashes() {
        assert_eq!(quote("a'b\\c"), "'a\\'b\\\\c'");
    }
}
