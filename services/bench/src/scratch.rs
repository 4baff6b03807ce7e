//! ClickHouse scratch databases: each measurement writes into its own copy of the platform's
//! tables (materialized views included, so inserts cost what they cost in production), created
//! from the committed migrations with `lgma.` renamed, and dropped afterwards. The real `lgma`
//! tables and their summaries are never touched.

use std::path::Path;

use crate::{Error, Result};

#[derive(Clone)]
pub struct ClickHouse {
    client: clickhouse::Client,
}

/// A row seen in an entity history table: which table (index), where it came from, when published.
#[derive(Debug, clickhouse::Row, serde::Deserialize)]
pub struct EntityRowSeen {
    pub t: u32,
    pub partition: i32,
    pub offset: i64,
    pub published_at: i64,
}

/// A row of the latency poll: one ingest batch and the publish times of its events.
#[derive(Debug, clickhouse::Row, serde::Deserialize)]
pub struct BatchSeen {
    pub batch_id: String,
    pub published: Vec<i64>,
}

/// Rewrites `lgma.` qualifiers (not `xlgma.` or `lgma_x.`) to `<db>.`.
pub fn rename_database(sql: &str, db: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 64);
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < sql.len() {
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if boundary && sql[i..].starts_with("lgma.") {
            out.push_str(db);
            out.push('.');
            i += 5;
        } else {
            let c = sql[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Splits a migration file into statements the way `infra/stack migrate` does (`;` at line end),
/// dropping comment lines.
pub fn statements(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("--") {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if line.trim_end().ends_with(';') {
            let stmt = current.trim().trim_end_matches(';').trim().to_string();
            if !stmt.is_empty() {
                out.push(stmt);
            }
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

impl ClickHouse {
    pub fn new(url: &str, user: &str, password: &str) -> Self {
        Self {
            client: clickhouse::Client::default()
                .with_url(url)
                .with_user(user)
                .with_password(password)
                .with_validation(false)
                // As the service inserts: its rows may carry columns a table does not have
                // (e.g. `replay_id`, kept in the quarantine table only).
                .with_setting("input_format_skip_unknown_fields", "1"),
        }
    }

    pub async fn exec(&self, sql: &str) -> Result<()> {
        Ok(self.client.query_raw(sql).execute().await?)
    }

    pub async fn count(&self, sql: &str) -> Result<u64> {
        Ok(self.client.query_raw(sql).fetch_one::<u64>().await?)
    }

    pub async fn ping(&self) -> Result<()> {
        self.count("SELECT toUInt64(1)").await.map(|_| ())
    }

    /// Creates `db` and applies every migration into it.
    pub async fn create_scratch(&self, db: &str, migrations: &Path) -> Result<()> {
        self.exec(&format!("CREATE DATABASE IF NOT EXISTS {db}"))
            .await?;
        let mut files: Vec<_> = std::fs::read_dir(migrations)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file)?;
            for stmt in statements(&rename_database(&text, db)) {
                self.exec(&stmt)
                    .await
                    .map_err(|e| Error::Run(format!("{}: {e}", file.display())))?;
            }
        }
        Ok(())
    }

    pub async fn drop_database(&self, db: &str) -> Result<()> {
        self.exec(&format!("DROP DATABASE IF EXISTS {db}")).await
    }

    /// The entity history tables of a scratch database (where analysts read rows).
    pub async fn history_tables(&self, db: &str) -> Result<Vec<String>> {
        let sql = format!(
            "SELECT name FROM system.tables WHERE database = '{db}' AND endsWith(name, '_history') \
             ORDER BY name"
        );
        Ok(self.client.query_raw(&sql).fetch_all::<String>().await?)
    }

    /// Rows of the entity history `tables` above each (table, partition)'s `watermarks` (highest
    /// offset seen; one slot per partition), published at or after `since_ms`.
    pub async fn new_entity_rows(
        &self,
        db: &str,
        tables: &[String],
        watermarks: &[Vec<i64>],
        since_ms: i64,
    ) -> Result<Vec<EntityRowSeen>> {
        let parts: Vec<String> = tables
            .iter()
            .zip(watermarks)
            .enumerate()
            .map(|(i, (table, marks))| {
                let marks: Vec<String> = marks.iter().map(|m| format!("toInt64({m})")).collect();
                format!(
                    "SELECT toUInt32({i}) AS t, partition, offset, published_at FROM {db}.{table} \
                     WHERE published_at >= {since_ms} \
                     AND offset > arrayElement([{}], partition + 1)",
                    marks.join(", ")
                )
            })
            .collect();
        let sql = parts.join(" UNION ALL ");
        Ok(self
            .client
            .query_raw(&sql)
            .fetch_all::<EntityRowSeen>()
            .await?)
    }

    /// Batches of `ingest_events` not yet in `seen`, with their events' publish times.
    pub async fn new_batches(
        &self,
        db: &str,
        topics: &[String],
        seen: &[String],
    ) -> Result<Vec<BatchSeen>> {
        let quote = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"));
        let topics: Vec<String> = topics.iter().map(|t| quote(t)).collect();
        let mut sql = format!(
            "SELECT batch_id, groupArray(published_at) AS published FROM {db}.ingest_events \
             WHERE topic IN ({})",
            topics.join(", ")
        );
        if !seen.is_empty() {
            let seen: Vec<String> = seen.iter().map(|t| quote(t)).collect();
            sql.push_str(&format!(" AND batch_id NOT IN ({})", seen.join(", ")));
        }
        sql.push_str(" GROUP BY batch_id");
        Ok(self.client.query_raw(&sql).fetch_all::<BatchSeen>().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_only_the_database_qualifier() {
        let sql = "CREATE TABLE lgma.t AS SELECT * FROM lgma.u -- lgma_writer, xlgma.v";
        assert_eq!(
            rename_database(sql, "b1"),
            "CREATE TABLE b1.t AS SELECT * FROM b1.u -- lgma_writer, xlgma.v"
        );
    }

    #[test]
    fn splits_statements_at_line_end_semicolons() {
        let text = "-- c\nCREATE TABLE a (x String);\n\nINSERT INTO a\nSELECT 'a;b';\n";
        assert_eq!(
            statements(text),
            vec!["CREATE TABLE a (x String)", "INSERT INTO a\nSELECT 'a;b'"]
        );
    }
}
