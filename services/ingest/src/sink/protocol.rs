//! The exactly-once write protocol (see README "Exactly once"):
//!
//! 1. quarantine rows, entity history/current rows and, during a key rotation's transition period,
//!    pseudonym links (all idempotent under re-insert),
//! 2. enriched events and DLQ records to Kafka (awaited; at-least-once),
//! 3. LAST, one INSERT into `ingest_events`, the offset of record, into one partition, in batch
//!    order: after the batch started before this one recorded ([`Turn`]), so steps 1–2 of the next
//!    batch may overlap this one's.
//!
//! A crash anywhere before step 3 leaves the offset of record untouched, so the batch is re-read
//! and re-inserted; the rows of steps 1–2 collapse.
//!
//! On a cluster (`clickhouse.cluster`) a failed step 3 has an unknown outcome: a shard may have
//! stored its part although the answer was an error (a quorum that timed out completes later, a
//! shard that stalled commits what it had received). So the SAME bytes are sent again until they
//! are acknowledged: each shard's part is the same block again, which replicated de-duplication
//! drops if it had landed (README "On a cluster").

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::order::Turn;
use super::{ClickHouse, Publisher};
use crate::encode::events::EventsTable;
use crate::encode::Batch;
use crate::metrics::{self, Phases};
use crate::Result;

/// What a written batch reports.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    /// Unix ms when every table INSERT was acknowledged: the batch's rows were queryable from then
    /// on, whatever the enriched events and the offset of record took after (`publish_to_queryable`
    /// is measured to here).
    pub queryable_ms: i64,
}

/// Writes an encoded batch: the idempotent tables (all INSERTs at once) and the Kafka messages
/// (all in flight together) first, every one of them confirmed; only then the one INSERT into
/// `events_table` (`ingest_events`, the offset of record; a replay's `ingest_replay_events`).
pub async fn write(
    clickhouse: &ClickHouse,
    kafka: &Publisher,
    batch: Batch,
    events_table: &EventsTable,
    clock: &mut Phases,
    mut turn: Turn,
) -> Result<Written> {
    let db = clickhouse.database().to_string();
    // 1 + 2. Idempotent tables and Kafka (at-least-once), concurrently, all awaited.
    let mut inserts = Vec::with_capacity(2 + 2 * batch.tables.len());
    inserts.push(insert_timed(
        clickhouse,
        &db,
        "ingest_quarantine".to_string(),
        Rows::Json(batch.quarantine.into()),
    ));
    inserts.push(insert_timed(
        clickhouse,
        &db,
        "pseudonym_links".to_string(),
        Rows::Json(batch.links.rows.into()),
    ));
    for (table, rows) in batch.tables {
        let body = Bytes::from(rows.body);
        for suffix in ["history", "current"] {
            inserts.push(insert_timed(
                clickhouse,
                &db,
                format!("{table}_{suffix}"),
                Rows::Binary {
                    columns: rows.columns.clone(),
                    body: body.clone(),
                },
            ));
        }
    }
    let tables = async {
        let t = Instant::now();
        futures::future::try_join_all(inserts).await?;
        Ok::<_, crate::Error>((chrono::Utc::now().timestamp_millis(), t.elapsed()))
    };
    let publish = async {
        let t = Instant::now();
        kafka.send_all(&batch.outgoing).await?;
        Ok::<_, crate::Error>(t.elapsed())
    };
    let ((queryable_ms, tables_took), publish_took) = tokio::try_join!(tables, publish)?;
    clock.note("tables", tables_took.as_secs_f64());
    clock.note("publish", publish_took.as_secs_f64());
    clock.lap("tables+publish");
    turn.wait().await?;
    clock.lap("turn");
    // 3. Last: the offset of record as one INSERT into one partition (a replay records its
    //    verdicts in ingest_replay_events instead; the offset of record is never rewritten).
    let events = Rows::Binary {
        columns: Arc::from(events_table.columns),
        body: batch.events.into(),
    };
    if clickhouse.is_cluster() {
        record_until_acknowledged(clickhouse, &db, events_table.name, events).await?;
    } else {
        insert_timed(clickhouse, &db, events_table.name.to_string(), events).await?;
    }
    clock.lap("events");
    turn.recorded();
    Ok(Written { queryable_ms })
}

/// How long the offset of record's INSERT is sent again before the batch is given up (the
/// consumer then re-reads the offsets of record from every replica and starts over).
const RECORD_RETRY_BUDGET: Duration = Duration::from_secs(180);

/// Cluster mode's step 3: the identical INSERT again, with backoff, until acknowledged.
async fn record_until_acknowledged(
    clickhouse: &ClickHouse,
    db: &str,
    table: &str,
    rows: Rows,
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

/// What one INSERT sends: JSONEachRow lines, or rows in RowBinary in the order of `columns`
/// (entity rows, see `encode::row`; the offset of record, see `encode::events`).
#[derive(Clone)]
enum Rows {
    Json(Bytes),
    Binary { columns: Arc<str>, body: Bytes },
}

impl Rows {
    fn body(&self) -> &Bytes {
        match self {
            Rows::Json(body) | Rows::Binary { body, .. } => body,
        }
    }
}

/// One INSERT, its wall time recorded per table.
async fn insert_timed(clickhouse: &ClickHouse, db: &str, table: String, rows: Rows) -> Result<()> {
    let bytes = rows.body().len();
    if bytes == 0 {
        return Ok(());
    }
    let t = Instant::now();
    let target = format!("{db}.{table}");
    match rows {
        Rows::Json(body) => clickhouse.insert_json(&target, body).await?,
        Rows::Binary { columns, body } => {
            clickhouse
                .insert_row_binary(&target, &columns, body)
                .await?
        }
    }
    let seconds = t.elapsed().as_secs_f64();
    metrics::insert(&table, seconds);
    tracing::debug!(table, bytes, ms = seconds * 1000.0, "insert");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use axum::extract::{Query, State};
    use axum::http::StatusCode;

    use super::*;
    use crate::config::ClickHouseSettings;
    use crate::sink::order::{Line, Turn};
    use crate::Error;

    /// A ClickHouse that logs each INSERT as "<table> <first body line>", holds `slow` INSERTs for
    /// 300 ms and refuses `fail` ones.
    #[derive(Clone, Default)]
    struct Fake {
        log: Arc<Mutex<Vec<String>>>,
        slow: &'static str,
        fail: &'static str,
    }

    async fn insert(
        State(fake): State<Fake>,
        Query(params): Query<HashMap<String, String>>,
        body: String,
    ) -> StatusCode {
        let query = params.get("query").cloned().unwrap_or_default();
        let table = query.split_whitespace().nth(2).unwrap_or_default();
        let entry = format!("{table} {}", body.lines().next().unwrap_or_default());
        if entry == fake.slow {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let refused = entry == fake.fail;
        if let Ok(mut log) = fake.log.lock() {
            log.push(entry);
        }
        if refused {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::OK
        }
    }

    async fn serve(fake: Fake) -> ClickHouse {
        let app = axum::Router::new()
            .route("/", axum::routing::post(insert))
            .with_state(fake);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        ClickHouse::new(ClickHouseSettings {
            url,
            database: "t".into(),
            ..Default::default()
        })
        .expect("client")
    }

    fn batch(n: u8) -> Batch {
        let mut batch = Batch {
            events: format!("{{\"batch\":{n}}}\n").into_bytes(),
            ..Default::default()
        };
        batch.tables.insert(
            "people".into(),
            crate::encode::TableRows {
                columns: "(`row`)".into(),
                rows: 1,
                body: format!("{{\"row\":{n}}}\n").into_bytes(),
            },
        );
        batch
    }

    /// Writes batches 1 and 2 overlapped, as the consumer does; returns their answers and the log.
    async fn overlapped(fake: Fake) -> (Result<Written>, Result<Written>, Vec<String>) {
        let clickhouse = Arc::new(serve(fake.clone()).await);
        let kafka = Arc::new(Publisher::new(&Default::default(), "lz4").expect("producer"));
        let mut line = Line::default();
        let mut writes = Vec::new();
        for n in [1, 2] {
            let (clickhouse, kafka, turn) = (clickhouse.clone(), kafka.clone(), line.take_turn());
            writes.push(tokio::spawn(async move {
                let mut clock = Phases::start();
                write(
                    &clickhouse,
                    &kafka,
                    batch(n),
                    &EventsTable::OFFSET_OF_RECORD,
                    &mut clock,
                    turn,
                )
                .await
            }));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let second = writes.pop().expect("2").await.expect("join");
        let first = writes.pop().expect("1").await.expect("join");
        let log = fake.log.lock().expect("log").clone();
        (first, second, log)
    }

    #[tokio::test]
    async fn overlapped_batches_record_in_order() {
        let fake = Fake {
            slow: "t.people_history {\"row\":1}",
            ..Default::default()
        };
        let (first, second, log) = overlapped(fake).await;
        assert!(first.is_ok() && second.is_ok(), "{first:?} {second:?}");
        let at = |entry: &str| log.iter().position(|e| e == entry).expect(entry);
        // Batch 2's tables were written while batch 1's were still being written...
        assert!(at("t.people_history {\"row\":2}") < at("t.people_history {\"row\":1}"));
        // ...but its offset of record only after batch 1's.
        assert!(at("t.ingest_events {\"batch\":1}") < at("t.ingest_events {\"batch\":2}"));
    }

    #[tokio::test]
    async fn rows_count_as_queryable_when_the_tables_are_acknowledged() {
        let fake = Fake {
            slow: "t.ingest_events {\"batch\":1}",
            ..Default::default()
        };
        let clickhouse = serve(fake).await;
        let kafka = Publisher::new(&Default::default(), "lz4").expect("producer");
        let mut clock = Phases::start();
        let written = write(
            &clickhouse,
            &kafka,
            batch(1),
            &EventsTable::OFFSET_OF_RECORD,
            &mut clock,
            Turn::alone(),
        )
        .await
        .expect("written");
        let done_ms = chrono::Utc::now().timestamp_millis();
        // The 300 ms the offset of record took are not part of publish -> queryable.
        assert!(
            done_ms - written.queryable_ms >= 250,
            "{written:?} at {done_ms}"
        );
    }

    #[tokio::test]
    async fn a_batch_after_a_failed_one_does_not_record() {
        let fake = Fake {
            slow: "t.people_history {\"row\":1}",
            fail: "t.ingest_events {\"batch\":1}",
            ..Default::default()
        };
        let (first, second, log) = overlapped(fake).await;
        assert!(matches!(first, Err(Error::ClickHouse(_))), "{first:?}");
        assert!(matches!(second, Err(Error::OutOfTurn)), "{second:?}");
        assert!(log.contains(&"t.people_history {\"row\":2}".to_string()));
        assert!(
            !log.iter()
                .any(|e| e.starts_with("t.ingest_events {\"batch\":2}")),
            "batch 2 recorded after batch 1 failed: {log:?}"
        );
    }
}
