//! The exactly-once write protocol (see README "Exactly once"):
//!
//! 1. quarantine rows, entity history/current rows and, during a key rotation's transition period,
//!    pseudonym links (all idempotent under re-insert),
//! 2. enriched events and DLQ records to Kafka (awaited; at-least-once),
//! 3. LAST, one INSERT into `ingest_events`, the offset of record, into one partition.
//!
//! A crash anywhere before step 3 leaves the offset of record untouched, so the batch is re-read
//! and re-inserted; the rows of steps 1–2 collapse.
//!
//! On a cluster (`clickhouse.cluster`) a failed step 3 has an unknown outcome: a shard may have
//! stored its part although the answer was an error (a quorum that timed out completes later, a
//! shard that stalled commits what it had received). So the SAME bytes are sent again until they
//! are acknowledged: each shard's part is the same block again, which replicated de-duplication
//! drops if it had landed (README "On a cluster").

use std::time::{Duration, Instant};

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
    if clickhouse.is_cluster() {
        record_until_acknowledged(clickhouse, &db, events_table, batch.events).await?;
    } else {
        insert_timed(clickhouse, &db, events_table.to_string(), batch.events).await?;
    }
    clock.lap("events");
    Ok(())
}

/// How long the offset of record's INSERT is sent again before the batch is given up (the
/// consumer then re-reads the offsets of record from every replica and starts over).
const RECORD_RETRY_BUDGET: Duration = Duration::from_secs(180);

/// Cluster mode's step 3: the identical INSERT again, with backoff, until acknowledged.
async fn record_until_acknowledged(
    clickhouse: &ClickHouse,
    db: &str,
    table: &str,
    rows: Vec<u8>,
) -> Result<()> {
    let started = Instant::now();
    let mut backoff = Duration::from_millis(250);
    let mut retries = 0u32;
    loop {
        match insert_timed(clickhouse, db, table.to_string(), rows.clone()).await {
            Ok(()) if retries > 0 => {
                // A block whose quorum timed out was never pushed to the materialized views, and
                // its de-duplicated copy is not either (ClickHouse 18.16).
                tracing::warn!(
                    table,
                    retries,
                    "offset of record acknowledged after re-sending; \
                    the views fed by it may miss this batch: run `infra/cluster refill-views`"
                );
                return Ok(());
            }
            Ok(()) => return Ok(()),
            Err(e) if started.elapsed() < RECORD_RETRY_BUDGET => {
                tracing::warn!(table, error = %e, retry_in_ms = backoff.as_millis() as u64,
                    "offset of record not acknowledged; sending the same rows again");
                metrics::record_retried();
                retries += 1;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
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
