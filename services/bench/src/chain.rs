//! The ingest chain in-process, stage by stage: no broker, no ClickHouse, no registry.
//!
//! Every figure is the service's own code. The whole chain is
//! `lgma_ingest::chain::Chain::process_offline` on batches of raw records (what the pipeline runs
//! between the consumer and the writes); the stages are the service's stage functions in
//! pipeline order — `judge::decode` (framing, the compiled writer→reader resolution),
//! `judge::validate`, `transform::enrich`, `transform::pseudonymise`, the table layout's
//! RowBinary and Avro writers — so a regression points at the module it lives in. The figure
//! the targets are about is the live one: the whole chain plus what the service runs around it
//! per record (the consumer's copy, the writer-schema pass, the version memory, the metrics;
//! see [`crate::live`]).

use std::collections::HashMap;
use std::sync::Arc;

use apache_avro::Schema;
use lgma_ingest::chain::{offline, BatchInfo, Chain as ServiceChain, TopicPipeline};
use lgma_ingest::config::Settings;
use lgma_ingest::decode::{DecodeFailure, Scalar, WriterRef};
use lgma_ingest::encode::reference::JsonRows;
use lgma_ingest::encode::Batch;
use lgma_ingest::judge::versions::VersionCache;
use lgma_ingest::judge::{self, Judged};
use lgma_ingest::metrics::Phases;
use lgma_ingest::source::{Copier, RawRecord};
use lgma_ingest::transform::{self, Enriched};
use lgma_sim::encode::Encoder;
use lgma_sim::Topic;
use rustc_hash::FxHashMap;

use crate::alloc_count;
use crate::corpus::Encoded;
use crate::live;
use crate::{Error, Result};

pub struct Chain {
    service: ServiceChain,
    writers: FxHashMap<u32, Schema>,
    /// The same schemas as the registry client's cache hands them to a batch.
    cached: FxHashMap<u32, Arc<Schema>>,
    ingested_ms: i64,
    /// The consumer's copier (topic names, byte chunks), kept across batches as the consumer
    /// keeps it.
    copier: std::sync::Mutex<Copier>,
}

/// The corpus as the consumer hands it to the pipeline: one partition per topic (named with
/// `suffix`, as the chain's settings name it), offsets in order.
pub fn raw_records(events: &[Encoded], suffix: &str) -> Vec<RawRecord> {
    raw_records_from(events, suffix, &mut HashMap::new())
}

/// [`raw_records`] of a slice of the corpus that follows the slices before it: each topic's
/// offsets go on from `next`.
pub fn raw_records_from(
    events: &[Encoded],
    suffix: &str,
    next: &mut HashMap<Topic, i64>,
) -> Vec<RawRecord> {
    events
        .iter()
        .map(|e| {
            let offset = next.entry(e.topic).or_default();
            *offset += 1;
            RawRecord {
                topic: format!("{}{suffix}", e.topic.name()).into(),
                partition: 0,
                offset: *offset - 1,
                key: Some(e.key.clone().into_bytes().into()),
                value: Some(e.value.clone().into()),
            }
        })
        .collect()
}

impl Chain {
    /// The service's chain for the seven council topics; writer schemas and their ids are the
    /// encoder's (what the registry would answer for them).
    pub fn new(repo: &std::path::Path, encoder: &Encoder) -> Result<Self> {
        Self::for_settings(&Settings::in_repo(repo), encoder)
    }

    /// The chain of given settings (the raw write limit: the run's topic names).
    pub fn for_settings(settings: &Settings, encoder: &Encoder) -> Result<Self> {
        let writers = offline::writers(encoder)?;
        Ok(Self {
            service: offline::chain(settings, 0)?,
            cached: writers
                .iter()
                .map(|(id, s)| (*id, Arc::new(s.clone())))
                .collect(),
            writers,
            ingested_ms: chrono::Utc::now().timestamp_millis(),
            copier: Default::default(),
        })
    }

    /// The source topics the chain is configured for.
    pub fn topics(&self) -> Vec<String> {
        self.service.topics.keys().cloned().collect()
    }

    fn tp(&self, topic: &str) -> Result<&TopicPipeline> {
        self.service
            .topics
            .get(topic)
            .ok_or_else(|| Error::Run(format!("{topic} not configured")))
    }

    /// Stage 1: framing -> the writer's compiled resolution (built once per schema id) -> cells.
    pub fn decode<'a>(&self, raw: &'a RawRecord) -> Result<Judged<'a>> {
        let tp = self.tp(&raw.topic)?;
        let resolution = |id: u32| match self.writers.get(&id) {
            Some(writer) => Ok(tp.resolution(id, writer)),
            None => Err(DecodeFailure::UnknownSchema(id)),
        };
        Ok(judge::decode(raw, resolution))
    }

    /// Stage 2: envelope checks and the entity's rules (the decoded record is copied first: the
    /// rules normalise cells in place).
    pub fn validate<'a>(&self, decoded: &Judged<'a>) -> Result<Judged<'a>> {
        let tp = self.tp(&decoded.raw.topic)?;
        let mut judged = decoded.clone();
        judge::validate(&mut judged, &tp.schema, &tp.rules, self.service.councils());
        Ok(judged)
    }

    /// Stage 3: council reference data and derived measures (statutory calendar, bands...).
    pub fn enrich(&self, j: &Judged<'_>) -> Result<Enriched> {
        let tp = self.tp(&j.raw.topic)?;
        Ok(transform::enrich(&self.service.context(), &tp.plan(), j))
    }

    /// Stage 4: keyed HMAC of identifiers, age bands, Eircode routing keys, grids.
    pub fn pseudonymise(&self, j: &Judged<'_>) -> Result<Vec<Scalar>> {
        let tp = self.tp(&j.raw.topic)?;
        Ok(transform::pseudonymise(&tp.plan(), j))
    }

    /// The entity-row cells of every accepted / warned record, built by the service: the input
    /// of the two encoding stages.
    pub fn entity_cells(&self, records: &[RawRecord]) -> Vec<(&TopicPipeline, Vec<Scalar>)> {
        self.service
            .entity_cells_offline(records, &self.writers, self.ingested_ms)
    }

    /// Stage 5: the entity row as RowBinary (the table layout's writer, what the service sends).
    pub fn row(tp: &TopicPipeline, cells: &[Scalar], out: &mut Vec<u8>) {
        tp.layout.write_row_binary(cells, out);
    }

    /// Stage 6: the enriched event as Avro (what goes to `<topic>.enriched`).
    pub fn enriched_avro(tp: &TopicPipeline, cells: &[Scalar], out: &mut Vec<u8>) {
        tp.layout.write_avro(cells, out);
    }

    /// The whole chain, the service's code: one batch of raw records in, every row and message
    /// the batch would write out.
    pub fn process(&self, records: &[RawRecord]) -> Result<Batch> {
        Ok(self
            .service
            .process_offline(records, &self.writers, self.ingested_ms)?)
    }

    /// One batch as the live service runs it in-process: the consumer's copy of every fetched
    /// record, the writer-schema pass, the version memory's partitions marked seeded (live, from
    /// ClickHouse once per partition), the service's one-pass chain with its version memory
    /// (`ServiceChain::process`, as `Pipeline::prepare` calls it), the metrics of the written
    /// batch.
    pub fn process_live(
        &self,
        fetched: &[RawRecord],
        versions: &mut VersionCache,
    ) -> Result<Batch> {
        let mut clock = Phases::start();
        let records: Vec<RawRecord> = {
            let mut copier = self
                .copier
                .lock()
                .map_err(|_| Error::Run("the consumer's copier".into()))?;
            fetched
                .iter()
                .map(|r| live::consumer_copy(&mut copier, r))
                .collect()
        };
        let writers = live::writer_schemas(&records, &self.cached);
        clock.lap("writers");
        live::seed_versions(&records, versions);
        clock.lap("lookup");
        let writer = |id: u32| match writers.get(&id) {
            Some(schema) => Ok(WriterRef::Shared(schema.clone())),
            None => Err(DecodeFailure::UnknownSchema(id)),
        };
        let info = BatchInfo::offline(self.ingested_ms);
        let batch = self.service.process(&records, writer, versions, info);
        clock.lap("build");
        live::write_metrics(&batch, clock);
        Ok(batch)
    }
}

/// Nanoseconds per event of each stage and of the whole chain, single-threaded.
#[derive(Debug, Clone, Default)]
pub struct StageCosts {
    pub decode: f64,
    pub validate: f64,
    pub enrich: f64,
    pub pseudonymise: f64,
    pub row: f64,
    /// The same rows as JSONEachRow (`encode::reference::JsonRows`), ns/event.
    pub row_json: f64,
    /// Bytes per row: RowBinary, JSONEachRow.
    pub row_bytes: (f64, f64),
    pub enriched_avro: f64,
    pub chain: f64,
    /// [`Chain::process_live`] (copy, writer-schema pass, the one-pass chain with the version
    /// memory, metrics), ns/event.
    pub live_batch: f64,
    pub events: usize,
    /// Events the chain accepted or warned (rows written).
    pub accepted: usize,
    /// Heap allocations of one whole-chain round per accepted event (None: no counting
    /// allocator installed, see [`alloc_count`]).
    pub allocs_per_accepted: Option<f64>,
    /// The same for the live figure (process_live), per accepted event and per
    /// event.
    pub live_allocs_per_accepted: Option<f64>,
    pub live_allocs_per_event: Option<f64>,
}

fn per_sec(ns: f64) -> f64 {
    if ns > 0.0 {
        1e9 / ns
    } else {
        0.0
    }
}

impl StageCosts {
    /// What the live service runs per record in-process, ns/event: the target's figure.
    pub fn live_chain(&self) -> f64 {
        self.live_batch
    }

    pub fn live_events_per_sec(&self) -> f64 {
        per_sec(self.live_chain())
    }

    /// `process_offline` alone (the figure before issue 17's item 4).
    pub fn chain_events_per_sec(&self) -> f64 {
        per_sec(self.chain)
    }
}

/// The service's batch size: the whole chain runs on batches of this many records.
pub const BATCH: usize = 5_000;

/// Times each stage over `events` (inputs of a stage are prepared before its clock starts),
/// repeating each loop `rounds` times and keeping the fastest round (least disturbed by the
/// other processes on the machine).
pub fn measure(chain: &Chain, events: &[Encoded], rounds: usize) -> Result<StageCosts> {
    use std::hint::black_box;
    let n = events.len().max(1) as f64;
    // CPU time of this thread, not wall time: the figure is per core, and other processes on a
    // shared machine then slow it only through caches, not through time slices.
    let once = |f: &mut dyn FnMut() -> Result<()>| -> Result<f64> {
        let t = thread_cpu_ns();
        f()?;
        Ok((thread_cpu_ns() - t) as f64 / n)
    };
    let best = |f: &mut dyn FnMut() -> Result<()>| -> Result<f64> {
        let mut best = f64::MAX;
        for _ in 0..rounds.max(1) {
            best = best.min(once(f)?);
        }
        Ok(best)
    };
    let records = raw_records(events, "");
    let decoded: Vec<Judged<'_>> = records
        .iter()
        .map(|r| chain.decode(r))
        .collect::<Result<_>>()?;
    let judged: Vec<Judged<'_>> = decoded
        .iter()
        .map(|d| chain.validate(d))
        .collect::<Result<_>>()?;
    let cells = chain.entity_cells(&records);
    let mut buf = Vec::with_capacity(1 << 20);
    let decode = best(&mut || {
        for r in &records {
            black_box(chain.decode(r)?);
        }
        Ok(())
    })?;
    let validate = best(&mut || {
        for d in &decoded {
            black_box(chain.validate(d)?);
        }
        Ok(())
    })?;
    let enrich = best(&mut || {
        for j in &judged {
            black_box(chain.enrich(j)?);
        }
        Ok(())
    })?;
    let pseudonymise = best(&mut || {
        for j in &judged {
            black_box(chain.pseudonymise(j)?);
        }
        Ok(())
    })?;
    let row = best(&mut || {
        buf.clear();
        for (tp, c) in &cells {
            Chain::row(tp, c, &mut buf);
        }
        black_box(&buf);
        Ok(())
    })?;
    let row_bytes = buf.len();
    // The same rows as JSONEachRow, the format the service wrote before RowBinary (reference).
    let json: HashMap<&str, JsonRows> = cells
        .iter()
        .map(|(tp, _)| (tp.table.as_str(), JsonRows::new(&tp.layout)))
        .collect();
    let row_json = best(&mut || {
        buf.clear();
        for (tp, c) in &cells {
            if let Some(rows) = json.get(tp.table.as_str()) {
                rows.write(&tp.layout, c, &mut buf);
            }
        }
        black_box(&buf);
        Ok(())
    })?;
    let row_json_bytes = buf.len();
    let enriched_avro = best(&mut || {
        for (tp, c) in &cells {
            buf.clear();
            Chain::enriched_avro(tp, c, &mut buf);
            black_box(&buf);
        }
        Ok(())
    })?;
    // The chain alone and as live, in alternating rounds: on a shared machine the load drifts
    // between rounds, and the two are compared.
    let (mut whole, mut live_batch) = (f64::MAX, f64::MAX);
    for _ in 0..rounds.max(1) {
        whole = whole.min(once(&mut || {
            for batch in records.chunks(BATCH) {
                black_box(chain.process(batch)?);
            }
            Ok(())
        })?);
        // From an empty version memory each round (a fresh start: partitions seeded with nothing
        // stored), so each round sees the same hits and misses.
        live_batch = live_batch.min(once(&mut || {
            let mut versions = VersionCache::default();
            for batch in records.chunks(BATCH) {
                black_box(chain.process_live(batch, &mut versions)?);
            }
            Ok(())
        })?);
    }
    // One more round of each, counted: allocations per event.
    let mut accepted = 0;
    let before = alloc_count::allocations();
    for batch in records.chunks(BATCH) {
        let out = chain.process(batch)?;
        accepted += out.outcome.accepted + out.outcome.warned;
    }
    let allocs = alloc_count::allocations() - before;
    let before = alloc_count::allocations();
    let mut versions = VersionCache::default();
    for batch in records.chunks(BATCH) {
        black_box(chain.process_live(batch, &mut versions)?);
    }
    let live_allocs = (alloc_count::allocations() - before) as f64;
    let counted = alloc_count::installed();
    Ok(StageCosts {
        decode,
        validate,
        enrich,
        pseudonymise,
        row,
        row_json,
        row_bytes: (
            row_bytes as f64 / cells.len().max(1) as f64,
            row_json_bytes as f64 / cells.len().max(1) as f64,
        ),
        enriched_avro,
        chain: whole,
        live_batch,
        events: events.len(),
        accepted,
        allocs_per_accepted: (counted && accepted > 0).then(|| allocs as f64 / accepted as f64),
        live_allocs_per_accepted: (counted && accepted > 0).then(|| live_allocs / accepted as f64),
        live_allocs_per_event: (counted && !events.is_empty())
            .then(|| live_allocs / events.len() as f64),
    })
}

/// CPU time consumed by the calling thread, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid, exclusively borrowed `ts`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use lgma_sim::encode::Encoder;

    use super::*;
    use crate::corpus;

    /// The raw write runs the corpus window by window: the windows' records must be the whole
    /// corpus's, offsets included (a window restarting at 0 would write every offset of record
    /// twice under the same provenance).
    #[test]
    fn windows_continue_each_topics_offsets() -> Result<()> {
        let encoder = Encoder::offline()?;
        let events = corpus::generate(1_000, 3, 0.0, &encoder)?;
        let whole = raw_records(&events, "-x");
        let mut next = HashMap::new();
        let windows: Vec<RawRecord> = events
            .chunks(130)
            .flat_map(|w| raw_records_from(w, "-x", &mut next))
            .collect();
        let key = |r: &RawRecord| (r.topic.to_string(), r.partition, r.offset, r.value.clone());
        assert_eq!(
            windows.iter().map(key).collect::<Vec<_>>(),
            whole.iter().map(key).collect::<Vec<_>>()
        );
        Ok(())
    }
}
