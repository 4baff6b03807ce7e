//! What the live service runs per record around the pure chain, for the in-process figure to be
//! the service's and not a flattering subset (issue 17): the consumer's copy of each fetched
//! record, the framing header read to find the batch's writer schemas, the version memory, and
//! the metrics recorded after a batch is written — with the service's Prometheus recorder
//! installed, as `lgma-ingest run` installs it.
//!
//! lgma-ingest's own public functions do the work where they are public (`VersionCache`'s
//! `remembered` / `remember`, `metrics::*`, `Phases`, `framing::decode`). The framing pass is the
//! service's `decode::schema_ids`. One step is private to the service and mirrored here line for
//! line: the consumer's copy (`source::consumer::owned`, which takes librdkafka's message).

use std::sync::Arc;

use apache_avro::Schema;
use lgma_ingest::decode;
use lgma_ingest::encode::Batch;
use lgma_ingest::judge::versions::{is_candidate, Stored, VersionCache};
use lgma_ingest::judge::Judged;
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

/// `Pipeline::remembered_versions` (its in-memory part: partitions already seeded) and
/// `Pipeline::remember_versions` for one batch of judged records: what is remembered for the
/// batch's entities, then the batch's accepted versions raised. Returns the stored versions the
/// service hands to `apply_version_safety`.
pub fn version_memory(judged: &[Judged<'_>], cache: &mut VersionCache) -> Stored {
    for j in judged.iter().filter(|j| is_candidate(j)) {
        if !cache.is_seeded(&j.raw.topic, j.raw.partition) {
            // Live: one ClickHouse query per topic seeds the partition (once per partition).
            cache.seed(&j.raw.topic, j.raw.partition);
        }
    }
    let stored = cache.remembered(judged);
    cache.remember(judged);
    stored
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
    /// copy is what was fetched, and the version memory hands a later batch the versions an
    /// earlier one accepted (and nothing for entities it has not seen).
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

        let batch = chain.process_live(&records)?;
        let out = &batch.outcome;
        assert_eq!(out.rows, records.len());
        // 2 % broken (each breaks a quarantining rule or is malformed): ~80 of 4,000.
        assert!(
            (40..=160).contains(&out.quarantined),
            "quarantined {}",
            out.quarantined
        );

        let judged: Vec<Judged<'_>> = records
            .iter()
            .map(|r| chain.decode(r).and_then(|d| chain.validate(&d)))
            .collect::<crate::Result<_>>()?;
        let (first, second) = judged.split_at(judged.len() / 2);
        let mut cache = VersionCache::default();
        // From an empty memory, a batch is handed nothing (its own versions come after).
        assert!(version_memory(first, &mut cache).is_empty());
        let stored = version_memory(second, &mut cache);
        let accepted = |j: &&Judged<'_>| is_candidate(j);
        let seen_before = second
            .iter()
            .filter(accepted)
            .filter(|j| {
                first.iter().filter(accepted).any(|f| {
                    f.raw.topic == j.raw.topic
                        && f.env.la_code == j.env.la_code
                        && f.env.entity_id == j.env.entity_id
                })
            })
            .count();
        assert!(seen_before > 0, "the corpus updates entities across halves");
        for ((topic, la, id), versions) in stored.iter() {
            let earlier = first
                .iter()
                .filter(accepted)
                .filter(|f| f.raw.topic == topic && &f.env.la_code == la && &f.env.entity_id == id)
                .map(|f| f.env.entity_version)
                .max();
            assert_eq!(versions.first().map(|v| v.2), earlier, "{topic} {la} {id}");
        }
        assert!(!stored.is_empty());
        Ok(())
    }
}
