//! ClickHouse over HTTP: JSONEachRow inserts and small JSON queries.
//!
//! Rows are schema-driven (columns come from the reader schema), so they are encoded as JSONEachRow
//! rather than through a compile-time `Row` type. One INSERT of fewer than `max_insert_block_size`
//! rows into one partition is one part: all or nothing. Works on ClickHouse 18.16 and current.

use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::config::ClickHouseSettings;
use crate::{Error, Result};

/// Bytes of SQL a look-up may send (see [`ClickHouse::query`]).
const MAX_QUERY_SIZE: &str = "16777216";

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
            .build()
            .map_err(|e| Error::ClickHouse(e.to_string()))?;
        Ok(Self { http, settings })
    }

    pub fn database(&self) -> &str {
        &self.settings.database
    }

    async fn post(&self, params: &[(&str, &str)], body: Vec<u8>) -> Result<String> {
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
    pub async fn insert_json(&self, table: &str, rows: Vec<u8>) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let query = format!("INSERT INTO {table} FORMAT JSONEachRow");
        self.post(
            &[
                ("query", query.as_str()),
                ("input_format_skip_unknown_fields", "1"),
            ],
            rows,
        )
        .await
        .map(|_| ())
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
    use super::quote;

    #[test]
    fn quoting_escapes_quotes_and_backslashes() {
        assert_eq!(quote("a'b\\c"), "'a\\'b\\\\c'");
    }
}
