//! `GET /v1/reconcile`: every published council record accounted for, per topic and partition —
//! the broker's offsets against the offset of record (`lgma_core::reconcile` does the arithmetic,
//! the same as `lgma-ingest reconcile`).

use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lgma_core::reconcile::{broker_offsets, compare, recorded_sql, RecordedPartition};
use serde_json::{json, Value};

use crate::params::Raw;
use crate::state::AppState;
use crate::{Error, Result};

pub async fn handle(State(state): State<AppState>, raw: Raw) -> Result<Response> {
    raw.validate(&[], &state.councils, state.paging())?;
    let topics = state.settings.reconcile_topics.clone();
    let kafka = state.settings.kafka.clone();
    let names = topics.clone();
    let broker = tokio::task::spawn_blocking(move || {
        broker_offsets(&kafka, &names, Duration::from_secs(10))
    })
    .await
    .map_err(|e| Error::Kafka(e.to_string()))?
    .map_err(|e| Error::Kafka(e.to_string()))?;
    let database = state.settings.clickhouse.database.clone();
    let table = state
        .db
        .table(state.db.reader.query(&recorded_sql(&database, &topics)))
        .await?;
    let recorded = table
        .rows
        .into_iter()
        .map(|row| serde_json::from_value::<RecordedPartition>(Value::Object(row)))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Shape(e.to_string()))?;
    let report = compare(&broker, &recorded);
    Ok(Json(json!({
        "all_accounted": report.all_accounted(),
        "nothing_lost_or_doubled": report.nothing_lost_or_doubled(),
        "total": report.total,
        "partitions": report.lines,
    }))
    .into_response())
}
