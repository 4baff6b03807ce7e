//! Prometheus metrics (names prefixed `lgma_ingest_`), recorded through the `metrics` facade.
//!
//! Prometheus conventions: what varies is a label with bounded values — `verdict` (`ACCEPT`,
//! `WARN`, `QUARANTINE`, as in `lgma.ingest_events`), `rule` (the rule ids of `schemas/rules/` and
//! the fixed `envelope.*` / `offset.*` ids, never text from the wire), `la_code` (the 31 councils
//! or `other`), `topic` (the configured topics); base units in names; HELP on every metric
//! ([`describe`]).

use std::time::Instant;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};

/// HELP text for every metric of this module; call once after installing the recorder.
pub fn describe() {
    describe_counter!(
        "lgma_ingest_events_total",
        "Kafka records judged, by topic, council (la_code; unknown codes as other) and verdict (ACCEPT, WARN, QUARANTINE)"
    );
    describe_counter!(
        "lgma_ingest_rule_findings_total",
        "Validation findings by topic and rule id (a record can break several rules; quarantined and warned alike)"
    );
    describe_gauge!(
        "lgma_ingest_last_event_timestamp_seconds",
        "Unix time at which live ingest last judged a record of the topic (freshness)"
    );
    describe_counter!(
        "lgma_ingest_lost_records_total",
        "Records the broker no longer held when ingest reached them (recorded as LOST rows in lgma.ingest_events)"
    );
    describe_counter!(
        "lgma_ingest_loss_ranges_total",
        "Missing offset ranges recorded as loss, by topic"
    );
    describe_histogram!("lgma_ingest_batch_rows", "Rows (records) per written batch");
    describe_histogram!(
        "lgma_ingest_batch_write_seconds",
        "Wall time to write one batch (ClickHouse tables, enriched topics, offset of record)"
    );
    describe_counter!("lgma_ingest_batches_total", "Batches written");
    describe_counter!(
        "lgma_ingest_batch_failures_total",
        "Batches that failed (re-read from the offsets of record after a backoff; on a cluster some partitions of one may be recorded)"
    );
    describe_counter!(
        "lgma_ingest_record_retries_total",
        "Offset-of-record INSERTs sent again unchanged after an error (cluster mode: the replicated tables drop a copy that had landed)"
    );
    describe_gauge!(
        "lgma_ingest_last_batch_timestamp_seconds",
        "Unix time of the last batch written"
    );
    describe_histogram!(
        "lgma_ingest_publish_to_queryable_seconds",
        "Time from an event's publication (its published_at) to its rows being queryable: its batch's table INSERTs acknowledged (the enriched events and the offset of record may still be in flight)"
    );
    describe_gauge!(
        "lgma_ingest_consumer_lag_records",
        "Records published to the partition and not yet consumed (librdkafka statistics, every 5 s)"
    );
    describe_histogram!(
        "lgma_ingest_batch_phase_seconds",
        "Wall time of one phase of a batch (label phase: fill, writers, lookup, build (judged and encoded in one pass; a replay judges first: judge), tables, publish, events, wait_previous, commit, ...)"
    );
    describe_histogram!(
        "lgma_ingest_insert_seconds",
        "Wall time of one ClickHouse INSERT, by table"
    );
}

/// Registers the per-topic counters at zero, so `increase()` and alerts see a series from the
/// start (a loss counter that appears only with the first loss hides the first increase).
pub fn init(topics: &[String]) {
    for topic in topics {
        counter!("lgma_ingest_lost_records_total", "topic" => topic.clone()).absolute(0);
        counter!("lgma_ingest_loss_ranges_total", "topic" => topic.clone()).absolute(0);
    }
    counter!("lgma_ingest_batches_total").absolute(0);
    counter!("lgma_ingest_batch_failures_total").absolute(0);
    counter!("lgma_ingest_record_retries_total").absolute(0);
    // Histograms too (empty until the first batch), so latency alerts have a series to evaluate.
    let _ = histogram!("lgma_ingest_publish_to_queryable_seconds");
    let _ = histogram!("lgma_ingest_batch_write_seconds");
    let _ = histogram!("lgma_ingest_batch_rows");
}

/// A batch's events by (topic, council label, verdict) and its rule findings by (topic, rule),
/// counted by the chain: one counter update per distinct label set per batch instead of one
/// label lookup (and its label strings) per event.
pub fn events(by_verdict: &EventCounts<'_>, by_rule: &RuleCounts<'_>) {
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    let mut topics: Vec<&str> = Vec::new();
    for ((topic, la_code, verdict), n) in by_verdict {
        counter!("lgma_ingest_events_total", "topic" => topic.to_string(), "la_code" => la_code.to_string(), "verdict" => *verdict)
            .increment(*n);
        if !topics.contains(topic) {
            topics.push(topic);
        }
    }
    for (topic, rules) in by_rule {
        for (rule, n) in rules {
            counter!("lgma_ingest_rule_findings_total", "topic" => topic.to_string(), "rule" => rule.clone())
                .increment(*n);
        }
    }
    for topic in topics {
        gauge!("lgma_ingest_last_event_timestamp_seconds", "topic" => topic.to_string()).set(now);
    }
}

/// Events per (topic, council label, verdict) of one batch.
pub type EventCounts<'a> = rustc_hash::FxHashMap<(&'a str, &'a str, &'static str), u64>;
/// Rule findings per topic and rule id of one batch.
pub type RuleCounts<'a> = rustc_hash::FxHashMap<&'a str, rustc_hash::FxHashMap<String, u64>>;

/// Records the broker no longer held when ingest reached them (recorded as `LOST` rows).
pub fn lost(topic: &str, records: u64) {
    counter!("lgma_ingest_lost_records_total", "topic" => topic.to_string()).increment(records);
    counter!("lgma_ingest_loss_ranges_total", "topic" => topic.to_string()).increment(1);
}

pub fn batch(rows: usize, write_seconds: f64) {
    histogram!("lgma_ingest_batch_rows").record(rows as f64);
    histogram!("lgma_ingest_batch_write_seconds").record(write_seconds);
    counter!("lgma_ingest_batches_total").increment(1);
    gauge!("lgma_ingest_last_batch_timestamp_seconds")
        .set(chrono::Utc::now().timestamp_millis() as f64 / 1000.0);
}

pub fn batch_failed() {
    counter!("lgma_ingest_batch_failures_total").increment(1);
}

/// An offset-of-record INSERT sent again unchanged (cluster mode, see `sink::protocol`).
pub fn record_retried() {
    counter!("lgma_ingest_record_retries_total").increment(1);
}

/// One observation per row of a written batch: from each row's `published_at` to the moment
/// its tables acknowledged it (`queryable_ms`). The handle is resolved once per batch.
pub fn publish_to_queryable(published_ms: &[i64], queryable_ms: i64) {
    let histogram = histogram!("lgma_ingest_publish_to_queryable_seconds");
    for published in published_ms {
        histogram.record((queryable_ms - published).max(0) as f64 / 1000.0);
    }
}

pub fn lag(topic: &str, partition: i32, lag: i64) {
    gauge!("lgma_ingest_consumer_lag_records", "topic" => topic.to_string(), "partition" => partition.to_string())
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

/// Wall time per phase of one batch: a Prometheus histogram per phase and one debug line.
pub struct Phases {
    started: Instant,
    last: Instant,
    laps: Vec<(&'static str, f64)>,
}

impl Phases {
    pub fn start() -> Self {
        let now = Instant::now();
        Self {
            started: now,
            last: now,
            laps: Vec::new(),
        }
    }

    /// Ends the current phase.
    pub fn lap(&mut self, phase: &'static str) {
        let now = Instant::now();
        let seconds = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self::phase(phase, seconds);
        self.laps.push((phase, seconds));
    }

    /// A phase that ran alongside others (the tables and the publishing, within one lap): its
    /// histogram and its place in the log line, without ending the current lap.
    pub fn note(&mut self, phase: &'static str, seconds: f64) {
        self::phase(phase, seconds);
        self.laps.push((phase, seconds));
    }

    /// One debug line: the phases, and how old the batch's newest and oldest events (by their
    /// `published_at`) were when the batch started to be prepared (`ingested_ms`). The ages are
    /// the part of the latency before ingest had the batch: the broker's acknowledgement, the
    /// fetch and the batch filling.
    pub fn log(&self, rows: usize, published_ms: &[i64], ingested_ms: i64) {
        let laps: Vec<String> = self
            .laps
            .iter()
            .map(|(p, s)| format!("{p}={:.1}", s * 1000.0))
            .collect();
        let age = |published: Option<&i64>| published.map_or(-1, |p| ingested_ms - p);
        tracing::debug!(
            rows,
            total_ms = self.started.elapsed().as_secs_f64() * 1000.0,
            phases_ms = %laps.join(" "),
            newest_age_ms = age(published_ms.iter().max()),
            oldest_age_ms = age(published_ms.iter().min()),
            "batch timings"
        );
    }
}
