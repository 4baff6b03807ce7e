//! Prometheus metrics (names prefixed `lgma_ingest_`), recorded through the `metrics` facade.

use metrics::{counter, gauge, histogram};

pub fn event(topic: &str, la_code: &str, verdict: &str) {
    counter!("lgma_ingest_events_in_total", "topic" => topic.to_string(), "la_code" => la_code.to_string())
        .increment(1);
    let name = match verdict {
        "ACCEPT" => "lgma_ingest_events_accepted_total",
        "WARN" => "lgma_ingest_events_warned_total",
        _ => "lgma_ingest_events_quarantined_total",
    };
    counter!(name, "topic" => topic.to_string(), "la_code" => la_code.to_string()).increment(1);
}

/// Records the broker no longer held when ingest reached them (recorded as `LOST` rows).
pub fn lost(topic: &str, records: u64) {
    counter!("lgma_ingest_lost_records_total", "topic" => topic.to_string()).increment(records);
    counter!("lgma_ingest_loss_ranges_total", "topic" => topic.to_string()).increment(1);
}

pub fn batch(rows: usize, write_seconds: f64) {
    histogram!("lgma_ingest_batch_rows").record(rows as f64);
    histogram!("lgma_ingest_batch_write_seconds").record(write_seconds);
    counter!("lgma_ingest_batches_total").increment(1);
}

pub fn batch_failed() {
    counter!("lgma_ingest_batch_failures_total").increment(1);
}

pub fn publish_to_queryable(seconds: f64) {
    histogram!("lgma_ingest_publish_to_queryable_seconds").record(seconds);
}

pub fn lag(topic: &str, partition: i32, lag: i64) {
    gauge!("lgma_ingest_consumer_lag", "topic" => topic.to_string(), "partition" => partition.to_string())
        .set(lag as f64);
}

/// Wall time of one phase of a batch (`writers`, `judge`, `lookup`, `build`, `tables`,
/// `insert:<table>`, `publish`, `events`, `commit`, `fill`), so a slow batch points at its wait.
pub fn phase(phase: &'static str, seconds: f64) {
    histogram!("lgma_ingest_batch_phase_seconds", "phase" => phase).record(seconds);
}

/// Wall time of one INSERT, by table stem (`ingest_events`, `planning_application_history`, ...).
pub fn insert(table: &str, seconds: f64) {
    histogram!("lgma_ingest_insert_seconds", "table" => table.to_string()).record(seconds);
}
