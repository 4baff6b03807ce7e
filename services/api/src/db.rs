//! ClickHouse access: a read-only client for every query, a writer client for the audit only.
//!
//! Results are fetched as ClickHouse's `JSON` format, which carries column names and types, so one
//! code path serves every endpoint (JSON or CSV out) without a struct per query. The reader runs
//! under a `readonly` profile that forbids changing settings, so 64-bit integers arrive quoted;
//! they are turned back into numbers here using the column types.
//!
//! Nulls: a float that is not a number (0/0, x/0) is `null` in JSON and an empty CSV cell, like
//! SQL NULL. ClickHouse writes nan/inf as `null` by default, but as `"nan"`/`"inf"` strings when a
//! server sets `output_format_json_quote_denormals`; those are turned into `null` here too, so
//! the API's output does not depend on a server setting.

use clickhouse::Client;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::config::ClickHouseSettings;
use crate::{Error, Result};

#[derive(Clone)]
pub struct Db {
    pub reader: Client,
    pub writer: Client,
}

impl Db {
    /// Both clients share one HTTP connection pool that speaks `http://` and `https://` (web roots
    /// plus `clickhouse.ca_file`).
    pub fn new(s: &ClickHouseSettings) -> Result<Self> {
        let tls = lgma_core::tls::client_config(s.ca_file.as_deref())?;
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.enforce_http(false);
        http.set_keepalive(Some(std::time::Duration::from_secs(60)));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(std::sync::Arc::unwrap_or_clone(tls))
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let pool =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                // ClickHouse closes idle connections after 3 s.
                .pool_idle_timeout(std::time::Duration::from_secs(2))
                .build(connector);
        let base = |user: &str, password: &str| {
            Client::with_http_client(pool.clone())
                .with_url(&s.url)
                .with_user(user)
                .with_password(password)
                .with_database(&s.database)
                // ClickHouse 18.16 lacks RowBinaryWithNamesAndTypes (infra/clickhouse/COMPATIBILITY.md).
                .with_validation(false)
        };
        Ok(Self {
            reader: base(&s.reader_user, &s.reader_password),
            writer: base(&s.writer_user, &s.writer_password),
        })
    }

    /// Runs a prepared (already `.bind()`-ed) query and returns its rows.
    pub async fn table(&self, query: clickhouse::query::Query) -> Result<Table> {
        let started = std::time::Instant::now();
        let bytes = match query.fetch_bytes("JSON") {
            Ok(mut cursor) => cursor.collect().await,
            Err(e) => Err(e),
        };
        let outcome = if bytes.is_ok() { "ok" } else { "error" };
        metrics::histogram!("lgma_api_clickhouse_query_duration_seconds", "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        Table::from_json(&bytes?)
    }

    /// `SELECT 1` as the reader: readiness.
    pub async fn ping(&self) -> bool {
        self.reader
            .query("SELECT 1")
            .fetch_one::<u8>()
            .await
            .is_ok()
    }
}

/// A result set: column names and types, rows as JSON objects in column order.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub columns: Vec<(String, String)>,
    pub rows: Vec<Map<String, Value>>,
    /// ClickHouse's count of rows before LIMIT (exact for the single-server queries used here).
    pub rows_before_limit: Option<u64>,
}

#[derive(Deserialize)]
struct JsonFormat {
    meta: Vec<Meta>,
    data: Vec<Map<String, Value>>,
    rows_before_limit_at_least: Option<u64>,
}

#[derive(Deserialize)]
struct Meta {
    name: String,
    #[serde(rename = "type")]
    ty: String,
}

impl Table {
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let parsed: JsonFormat =
            serde_json::from_slice(bytes).map_err(|e| Error::Shape(e.to_string()))?;
        let columns: Vec<(String, String)> =
            parsed.meta.into_iter().map(|m| (m.name, m.ty)).collect();
        let mut rows = parsed.data;
        for row in &mut rows {
            for (name, ty) in &columns {
                if let Some(v) = row.get_mut(name) {
                    if is_64bit_int(ty) {
                        unquote_int(v);
                    } else if is_float(ty) && v.is_string() {
                        // "nan", "inf", "-inf", "+inf": not a figure.
                        *v = Value::Null;
                    }
                }
            }
        }
        Ok(Table {
            columns,
            rows,
            rows_before_limit: parsed.rows_before_limit_at_least,
        })
    }

    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|(n, _)| n.as_str()).collect()
    }
}

fn is_64bit_int(ty: &str) -> bool {
    let inner = ty
        .strip_prefix("Nullable(")
        .and_then(|t| t.strip_suffix(')'))
        .unwrap_or(ty);
    matches!(inner, "Int64" | "UInt64")
}

fn is_float(ty: &str) -> bool {
    let inner = ty
        .strip_prefix("Nullable(")
        .and_then(|t| t.strip_suffix(')'))
        .unwrap_or(ty);
    matches!(inner, "Float32" | "Float64")
}

fn unquote_int(v: &mut Value) {
    if let Value::String(s) = v {
        if let Ok(n) = s.parse::<i64>() {
            *v = Value::from(n);
        } else if let Ok(n) = s.parse::<u64>() {
            *v = Value::from(n);
        }
    }
}

/// A number from a cell (counts may arrive as numbers or, for wide types, numeric strings).
pub fn as_u64(v: Option<&Value>) -> u64 {
    match v {
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().map(|f| f.max(0.0) as u64))
            .unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_format_with_quoted_64bit_ints() {
        let body = br#"{"meta":[{"name":"la_code","type":"String"},{"name":"n","type":"UInt64"},
            {"name":"m","type":"Nullable(Int64)"},{"name":"r","type":"Float64"}],
            "data":[{"la_code":"DC","n":"12","m":null,"r":0.5}],"rows":1,"rows_before_limit_at_least":7}"#;
        let t = Table::from_json(body).expect("parses");
        assert_eq!(t.names(), vec!["la_code", "n", "m", "r"]);
        assert_eq!(t.rows[0]["n"], Value::from(12));
        assert_eq!(t.rows[0]["m"], Value::Null);
        assert_eq!(t.rows_before_limit, Some(7));
        assert_eq!(as_u64(t.rows[0].get("n")), 12);
    }

    #[test]
    fn non_finite_floats_are_null_whatever_the_server_quoting() {
        let body = br#"{"meta":[{"name":"a","type":"Float64"},{"name":"b","type":"Nullable(Float64)"},
            {"name":"c","type":"Float32"},{"name":"d","type":"Float64"},{"name":"s","type":"String"}],
            "data":[{"a":"nan","b":"-inf","c":null,"d":1.5,"s":"nan"}],"rows":1}"#;
        let t = Table::from_json(body).expect("parses");
        let r = &t.rows[0];
        assert_eq!(
            (&r["a"], &r["b"], &r["c"]),
            (&Value::Null, &Value::Null, &Value::Null)
        );
        assert_eq!(r["d"], Value::from(1.5));
        assert_eq!(r["s"], Value::from("nan"), "strings are data, not numbers");
    }
}
