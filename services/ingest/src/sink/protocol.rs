//! The exactly-once write protocol (see README "Exactly once"):
//!
//! 1. quarantine rows, entity history/current rows and, during a key rotation's transition period,
//!    pseudonym links (all idempotent under re-insert),
//! 2. enriched events and DLQ records to Kafka (awaited; at-least-once),
//! 3. LAST, one INSERT into `ingest_events`, the offset of record, into one partition.
//!
//! A crash anywhere before step 3 leaves the offset of record untouched, so the batch is re-read
//! and re-inserted; the rows of steps 1–2 collapse.

use std::time::Instant;

use super::{ClickHouse, Publisher};
use crate::encode::Batch;
use crate::metrics::{self, Phases};
use crate::Result;

/// Writes an encoded batch: the idempotent tables (all INSERTs at once) and the Kafka messages
/// (all in flight together) first, every one of them confirmed; only then the one INSERT into
/// `events_table` (`ingest_events`, the offset of record; a replay's `ingest_replay_events`).
pub async fn write(
    clickhouse: &ClickHouse,
    kafka: &Publisher,
    batch: Batch,
    events_table: &str,
    clock: &mut Phases,
) -> Result<()> {
    let db = clickhouse.database().to_string();
    // 1 + 2. Idempotent tables and Kafka (at-least-once), concurrently, all awaited.
    let mut inserts = Vec::with_capacity(2 + 2 * batch.tables.len());
    inserts.push(insert_timed(
        clickhouse,
        &db,
        "ingest_quarantine".to_string(),
        batch.quarantine,
    ));
    inserts.push(insert_timed(
        clickhouse,
        &db,
        "pseudonym_links".to_string(),
        batch.links.rows,
    ));
    for (table, rows) in batch.tables {
        inserts.push(insert_timed(
            clickhouse,
            &db,
            format!("{table}_history"),
            rows.clone(),
        ));
        inserts.push(insert_timed(
            clickhouse,
            &db,
            format!("{table}_current"),
            rows,
        ));
    }
    let tables = async {
        let t = Instant::now();
        let r = futures::future::try_join_all(inserts).await;
        metrics::phase("tables", t.elapsed().as_secs_f64());
        r
    };
    let publish = async {
        let t = Instant::now();
        let r = kafka.send_all(&batch.outgoing).await;
        metrics::phase("publish", t.elapsed().as_secs_f64());
        r
    };
    tokio::try_join!(tables, publish)?;
    clock.lap("tables+publish");
    // 3. Last: the offset of record as one INSERT into one partition (a replay records its
    //    verdicts in ingest_replay_events instead; the offset of record is never rewritten).
    insert_timed(clickhouse, &db, events_table.to_string(), batch.events).await?;
    clock.lap("events");
    Ok(())
}

/// One INSERT, its wall time recorded per table.
async fn insert_timed(
    clickhouse: &ClickHouse,
    db: &str,
    table: String,
    rows: Vec<u8>,
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let t = Instant::now();
    let bytes = rows.len();
    clickhouse
        .insert_json(&format!("{db}.{table}"), rows)
        .await?;
    let seconds = t.elapsed().as_secs_f64();
    metrics::insert(&table, seconds);
    tracing::debug!(table, bytes, ms = seconds * 1000.0, "insert");
    Ok(())
}
