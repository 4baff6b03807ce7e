//! The offset of record: what ClickHouse says was last written per (topic, partition).
//!
//! `ingest_events` holds one row per consumed Kafka record and is written last in every batch, as
//! one INSERT into one partition; so `max(offset) + 1` is exactly where to resume. Kafka's committed
//! offsets are only a hint (lag metrics, tooling). On a cluster it is read from every replica
//! ([`ClickHouse::recorded`]).

use std::collections::HashMap;

use crate::sink::{quote, ClickHouse};
use crate::Result;

/// Next offset to consume per (topic, partition); partitions never written are absent.
pub async fn next_offsets(
    clickhouse: &ClickHouse,
    topics: &[String],
) -> Result<HashMap<(String, i32), i64>> {
    if topics.is_empty() {
        return Ok(HashMap::new());
    }
    #[derive(serde::Deserialize)]
    struct Row {
        topic: String,
        partition: i32,
        max_offset: i64,
    }
    let list: Vec<String> = topics.iter().map(|t| quote(t)).collect();
    let sql = format!(
        "SELECT topic, partition, max(offset) AS max_offset FROM {} \
         WHERE topic IN ({}) GROUP BY topic, partition",
        clickhouse.recorded("ingest_events"),
        list.join(", ")
    );
    let rows: Vec<Row> = clickhouse.query(&sql).await?;
    Ok(rows
        .into_iter()
        .map(|r| ((r.topic, r.partition), r.max_offset + 1))
        .collect())
}
