//! What the live service runs per record around the pure chain, for the in-process figure to be
//! the service's and not a flattering subset (issue 17): the consumer's copy of each fetched
//! record, the framing header read to find the batch's writer schemas, the version memory, and
//! the metrics recorded after a batch is written — with the service's Prometheus recorder
//! installed, as `lgma-ingest run` installs it.
//!
//! lgma-ingest's own public functions do the work where they are public (`VersionCache` as the
//! chain's version memory, `metrics::*`, `Phases`, `framing::decode`). The framing pass is the
//! service's `decode::schema_ids`. One step is private to the service and mirrored here line for
//! line: the consumer's copy (`source::consumer::owned`, which takes librdkafka's message).

use std::sync::Arc;

use apache_avro::Schema;
use lgma_ingest::decode;
use lgma_ingest::encode::Batch;
use lgma_ingest::judge::versions::VersionCache;
use lgma_ingest::metrics::{self, Phases};
use lgma_ingest::source::{Copier, RawRecord};
use rustc_hash::FxHashMap;

/// Installs the service's metrics recorder (`lgma-ingest run` does the same at start-up), so the
/// chain's metric updates cost what they cost live instead of being no-ops. Once per process.
pub fn install_recorder(topics: &[String]) -> crate::Result<()> {
    let _handle = lgma_core::telemetry::install_metrics()
        .map_err(|e| crate::Error::Run(format!("metrics recorder: {e}")))?;
    metrics::describe();
    metrics::init(topics);
    Ok(())
}

/// The consumer's copy of a fetched record out of librdkafka's buffer, as `source::consumer` makes
/// it (`RawRecord::copied`): the key and the payload into the copier's chunk, the topic name
/// shared.
pub fn consumer_copy(copier: &mut Copier, fetched: &RawRecord) -> RawRecord {
    RawRecord::copied(
        copier,
        &fetched.topic,
        fetched.partition,
        fetched.offset,
        fetched.key.as_deref(),
        fetched.value.as_deref(),
    )
}

/// `Pipeline::writers` without its registry: the batch's schema ids (`decode::schema_ids`, the
/// service's own framing pass), each looked up in the registry client's cache (an `Arc` each).
pub fn writer_schemas(
    records: &[RawRecord],
    cached: &FxHashMap<u32, Arc<Schema>>,
) -> FxHashMap<u32, Arc<Schema>> {
    decode::schema_ids(records)
        .into_iter()
        .filter_map(|id| Some((id, cached.get(&id)?.clone())))
        .collect()
}

/// `Pipeline::seed_versions` without ClickHouse: each partition of the batch not seen yet is
/// marked seeded with nothing stored (live, one query per topic seeds it, once per partition).
pub fn seed_versions(records: &[RawRecord], cache: &mut VersionCache) {
    for r in records {
        if !cache.is_seeded(&r.topic, r.partition) {
            cache.seed(&r.topic, r.partition);
        }
    }
}

/// The metrics `Pipeline::write` and `sink::protocol::write` record around a written batch: the
/// phase laps, one insert timing per table, one publish -> queryable observation per row, the
/// batch histograms. (The I/O itself is the raw write limit's, not the chain's.)
pub fn write_metrics(batch: &Batch, mut clock: Phases) {
    clock.lap("queued");
    metrics::insert("ingest_quarantine", 0.0);
    for table in batch.tables.keys() {
        metrics::insert(&format!("{table}_history"), 0.0);
        metrics::insert(&format!("{table}_current"), 0.0);
    }
    clock.note("tables", 0.0);
    clock.note("publish", 0.0);
    clock.lap("tables+publish");
    metrics::insert("ingest_events", 0.0);
    clock.lap("events");
    let now_ms = chrono::Utc::now().timestamp_millis();
    metrics::publish_to_queryable(&batch.latencies, now_ms);
    clock.log(batch.outcome.rows, &batch.latencies, batch.ingested_ms);
    metrics::batch(batch.outcome.rows, 0.0);
}

#[cfg(test)]
mod tests {
    use lgma_sim::encode::Encoder;

    use super::*;
    use crate::chain::{raw_records, Chain};
    use crate::corpus;

    /// The demo's corpus through the service's chain: the broken events are quarantined, the
    /// copy is what was fetched, and the version memory remembers what a batch accepted: the
    /// same records again are all duplicates, and a fresh memory judges them as the first time.
    #[test]
    fn live_parts_on_the_demo_corpus() -> crate::Result<()> {
        let encoder = Encoder::offline()?;
        let events = corpus::generate(4_000, 7, corpus::DEMO_INVALID_RATIO, &encoder)?;
        let chain = Chain::new(&crate::repo_root(), &encoder)?;
        let records = raw_records(&events, "");

        let copy = consumer_copy(&mut Copier::default(), &records[0]);
        assert_eq!(
            (&copy.topic, copy.offset, &copy.key, &copy.value),
            (
                &records[0].topic,
                records[0].offset,
                &records[0].key,
                &records[0].value
            )
        );

        let mut versions = VersionCache::default();
        let batch = chain.process_live(&records, &mut versions)?;
        let out = &batch.outcome;
        assert_eq!(out.rows, records.len());
        // 2 % broken (each breaks a quarantining rule or is malformed): ~80 of 4,000.
        assert!(
            (40..=160).contains(&out.quarantined),
            "quarantined {}",
            out.quarantined
        );
        assert!(!versions.is_empty(), "the accepted versions are remembered");

        // The same records again with that memory: every one accepted the first time is now a
        // duplicate of what is remembered (version.duplicate), so all are quarantined.
        let again = chain.process_live(&records, &mut versions)?;
        assert_eq!(
            (again.outcome.accepted, again.outcome.warned),
            (0, 0),
            "with the memory, no record is accepted twice"
        );
        assert_eq!(again.outcome.quarantined, records.len());
        // A fresh memory judges them as the first time.
        let fresh = chain.process_live(&records, &mut VersionCache::default())?;
        assert_eq!(
            (
                fresh.outcome.accepted,
                fresh.outcome.warned,
                fresh.outcome.quarantined
            ),
            (out.accepted, out.warned, out.quarantined)
        );
        Ok(())
    }
}
