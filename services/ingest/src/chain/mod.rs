//! The chain, pure: a batch of records in, its rows and messages out — decode -> judge ->
//! transform -> encode for every configured topic, without broker, registry or ClickHouse.
//! [`Chain::process_offline`] runs it alone (tests, benchmarks); `pipeline` feeds it what it
//! fetched (writer schemas, stored versions) and writes what it returns.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use apache_avro::Schema;
use lgma_domain::{LocalAuthorities, StatutoryCalendar};
use rustc_hash::FxHashMap;
use tokio::sync::OnceCell;

use crate::config::{Settings, TopicSettings};
use crate::decode::resolve::Resolution;
use crate::decode::{DecodeFailure, ReaderSchema, Scalar, Text, WriterRef};
use crate::encode::events;
use crate::encode::{Batch, TableRows};
use crate::judge::rules::RuleSet;
use crate::judge::validate::{verdict_of, Verdict};
use crate::judge::versions::{check_version, Before, InBatch, Stored};
use crate::judge::{self, Judged};
use crate::source::RawRecord;
use crate::transform::enrich::{reference_columns, Enricher, ReferenceCells};
use crate::transform::layout::{Layout, Source};
use crate::transform::pseudonymise::{DomainKey, Keys};
use crate::{metrics, transform, Error, Result};

/// A table's row size before its first batch has shown it, in bytes: below every table's real
/// RowBinary row (it only grows), so the first batch grows its buffer and later ones fit.
const FIRST_ROW_BYTES: usize = 128;
/// An `ingest_events` row's size, in bytes (about 450; one reservation per batch).
const EVENT_ROW_BYTES: usize = 512;

/// Everything needed to process one topic, built once at start-up.
#[derive(Debug)]
pub struct TopicPipeline {
    /// The topic names, stamped on every row and message: a reference count per copy.
    pub source_topic: Text,
    pub enriched_topic: Text,
    pub entity: String,
    pub table: String,
    pub schema: ReaderSchema,
    pub rules: RuleSet,
    pub enricher: Enricher,
    pub layout: Layout,
    /// The key domain (`homelessness`, ...): the entity's first segment.
    pub domain: String,
    pub key: DomainKey,
    enriched_schema: Schema,
    /// The enriched topic's schema id: registered by the pipeline, or set offline.
    pub(crate) enriched_id: OnceCell<u32>,
    /// Set once the tables' columns are checked against the layout (`Pipeline::check_columns`).
    pub(crate) columns_checked: OnceCell<()>,
    /// The largest average RowBinary row seen, in bytes: a batch sizes the table's buffer
    /// with it.
    row_bytes: AtomicUsize,
    /// Compiled writer -> reader resolutions by writer schema id (built once per id).
    resolutions: std::sync::RwLock<FxHashMap<u32, Arc<std::result::Result<Resolution, String>>>>,
}

impl TopicPipeline {
    pub fn build(settings: &Settings, topic: &TopicSettings, keys: &Keys) -> Result<Self> {
        let schema = ReaderSchema::load(&settings.schemas_dir, &topic.topic)?;
        let rules = RuleSet::load(&settings.rules_dir, &topic.entity, &schema)?;
        let enricher = Enricher::for_entity(&topic.entity, &schema)?;
        let layout = Layout::new(
            &topic.table,
            &schema,
            reference_columns(),
            enricher.columns(),
        );
        let domain = topic.entity.split('.').next().unwrap_or_default();
        let key = keys.for_domain(domain)?.clone();
        let enriched_schema = Schema::parse(&layout.avro_schema()).map_err(|e| Error::Schema {
            what: format!("{} enriched", topic.topic),
            reason: e.to_string(),
        })?;
        Ok(Self {
            row_bytes: AtomicUsize::new(FIRST_ROW_BYTES),
            source_topic: settings.source_topic(&topic.topic).into(),
            enriched_topic: settings.enriched_topic(&topic.topic).into(),
            entity: topic.entity.clone(),
            table: topic.table.clone(),
            schema,
            rules,
            enricher,
            layout,
            domain: domain.to_string(),
            key,
            enriched_schema,
            enriched_id: OnceCell::new(),
            columns_checked: OnceCell::new(),
            resolutions: std::sync::RwLock::default(),
        })
    }

    /// DDL for this topic's tables (used by `lgma-ingest ddl`).
    pub fn ddl_for(settings: &Settings, topic: &TopicSettings) -> Result<String> {
        let schema = ReaderSchema::load(&settings.schemas_dir, &topic.topic)?;
        let enricher = Enricher::for_entity(&topic.entity, &schema)?;
        let layout = Layout::new(
            &topic.table,
            &schema,
            reference_columns(),
            enricher.columns(),
        );
        Ok(layout.ddl(&settings.clickhouse.database))
    }
}

impl TopicPipeline {
    /// What transform needs of this topic: its enricher, key and layout.
    pub fn plan(&self) -> transform::Plan<'_> {
        transform::Plan {
            enricher: &self.enricher,
            key: &self.key,
            layout: &self.layout,
        }
    }

    /// The compiled resolution of a writer schema into ours, built on first use of the id.
    pub fn resolution(
        &self,
        id: u32,
        writer: &Schema,
    ) -> Arc<std::result::Result<Resolution, String>> {
        if let Ok(cache) = self.resolutions.read() {
            if let Some(r) = cache.get(&id) {
                return r.clone();
            }
        }
        let compiled = Arc::new(Resolution::compile(writer, &self.schema));
        if let Ok(mut cache) = self.resolutions.write() {
            cache.insert(id, compiled.clone());
        }
        compiled
    }

    /// Sets the enriched schema id without a registry (offline use: benchmarks, tests).
    pub fn set_enriched_id(&self, id: u32) {
        let _ = self.enriched_id.set(id);
    }

    /// The enriched topic's Avro schema (generated from the layout).
    pub fn enriched_schema(&self) -> &Schema {
        &self.enriched_schema
    }
}

/// The in-process part of the chain (decode -> validate -> enrich -> pseudonymise -> rows and
/// messages) for every configured topic: no broker, registry or ClickHouse. `pipeline::Pipeline`
/// adds the I/O around it; [`Chain::process_offline`] runs it alone (benchmarks, tests).
pub struct Chain {
    /// By source topic, looked up for every record (Fx: short keys of ours, not from the wire).
    pub topics: FxHashMap<String, TopicPipeline>,
    councils: LocalAuthorities,
    reference: ReferenceCells,
    calendar: StatutoryCalendar,
    dlq_topic: Text,
    pub(crate) publish_enriched: bool,
    enriched_headers: bool,
}

/// Live ingest or a replay: the one place where the two differ, decided once when the mode is
/// made ([`Mode::live`], [`Mode::replay`]); the chain and the pipeline read its fields and never
/// branch on which it is.
#[derive(Debug, Clone)]
pub struct Mode {
    /// Stamped on every row a replay writes (empty live).
    pub replay_id: String,
    /// Publish quarantined records to the DLQ (a DLQ replay does not: they came from it).
    pub to_dlq: bool,
    /// Where the batch's verdicts go: the offset of record, or a replay's own table (a replay
    /// never rewrites the offset of record).
    pub events_table: events::EventsTable,
    /// Version safety from the live memory (seeded from ClickHouse, remembered per batch); a
    /// replay asks ClickHouse for the stored versions instead.
    pub remembers_versions: bool,
    /// Look up which records are quarantined now, to mark the ones this run releases (replay).
    pub marks_released: bool,
    /// Record broker gaps (`LOST` rows) and publish -> queryable latencies (live only).
    pub records_gaps_and_latency: bool,
}

impl Mode {
    /// Live ingest: the offset of record, version memory, gaps and latencies.
    pub fn live() -> Self {
        Self {
            replay_id: String::new(),
            to_dlq: true,
            events_table: events::EventsTable::OFFSET_OF_RECORD,
            remembers_versions: true,
            marks_released: false,
            records_gaps_and_latency: true,
        }
    }

    /// A replay run: its verdicts to `ingest_replay_events`, stored versions from ClickHouse.
    pub fn replay(replay_id: &str, to_dlq: bool) -> Self {
        Self {
            replay_id: replay_id.to_string(),
            to_dlq,
            events_table: events::EventsTable::REPLAY,
            remembers_versions: false,
            marks_released: true,
            records_gaps_and_latency: false,
        }
    }

    pub fn replay_id(&self) -> &str {
        &self.replay_id
    }
}

impl Chain {
    pub fn new(settings: &Settings) -> Result<Self> {
        let keys = Keys::load(Path::new(&settings.keys_file))?;
        let mut topics = FxHashMap::default();
        for topic in &settings.topics {
            let pipeline = TopicPipeline::build(settings, topic, &keys)?;
            topics.insert(pipeline.source_topic.to_string(), pipeline);
        }
        let councils = LocalAuthorities::embedded()?;
        Ok(Self {
            topics,
            reference: ReferenceCells::new(&councils),
            councils,
            calendar: StatutoryCalendar::embedded()?,
            dlq_topic: settings.dlq().into(),
            publish_enriched: settings.publish_enriched,
            enriched_headers: settings.enriched_headers,
        })
    }

    /// Runs a batch through the whole in-process chain — decode (framing, the writer schema from
    /// `writers`, the per-writer compiled resolution) -> validate -> enrich -> pseudonymise ->
    /// entity rows, quarantine rows, `ingest_events` rows, DLQ records and enriched Avro events —
    /// exactly as the service does, but without broker, registry or ClickHouse: nothing is
    /// written or sent, the caller gets the encoded [`Batch`].
    ///
    /// Differences from the service: version safety sees only this batch (no stored versions), a
    /// schema id missing from `writers` is quarantined as unknown, and enriched events carry the
    /// id given to [`TopicPipeline::set_enriched_id`] (0 if none). `ingested_ms` stamps every row.
    pub fn process_offline(
        &self,
        records: &[RawRecord],
        writers: &FxHashMap<u32, Schema>,
        ingested_ms: i64,
    ) -> Result<Batch> {
        let stored = Stored::new();
        let writer = |id: u32| match writers.get(&id) {
            Some(schema) => Ok(WriterRef::Borrowed(schema)),
            None => Err(DecodeFailure::UnknownSchema(id)),
        };
        let info = BatchInfo::offline(ingested_ms);
        Ok(self.process(records, writer, &mut InBatch::new(&stored), info))
    }

    /// Judges and builds each record in turn, version safety from `versions` in record order,
    /// so a record is encoded while its cells are still in the core's cache: what live ingest
    /// runs (its versions from memory) and the offline chain (the batch's own).
    pub fn process<'r, 's>(
        &'r self,
        records: &'r [RawRecord],
        writer: impl Fn(u32) -> std::result::Result<WriterRef<'s>, DecodeFailure>,
        versions: &mut impl Before<'r>,
        info: BatchInfo<'r>,
    ) -> Batch {
        let topics = &self.topics;
        let mut b = Builder::new(
            self,
            records
                .iter()
                .filter_map(|raw| topics.get(raw.topic.as_str())),
            info,
        );
        for raw in records {
            // Not ours: cannot happen live (we consume configured topics only).
            let Some(tp) = topics.get(raw.topic.as_str()) else {
                continue;
            };
            let mut j = self.judge(tp, raw, &writer);
            check_version(&mut j, versions);
            b.add(tp, &mut j);
        }
        b.finish()
    }

    /// The entity-row cells (aligned with each topic's layout) of the records the offline chain
    /// accepts or warns, with their topic: input for the row and Avro encoding micro-benchmarks.
    #[cfg(any(test, feature = "reference"))]
    pub fn entity_cells_offline<'c>(
        &'c self,
        records: &[RawRecord],
        writers: &FxHashMap<u32, Schema>,
        ingested_ms: i64,
    ) -> Vec<(&'c TopicPipeline, Vec<Scalar>)> {
        let mut out = Vec::new();
        let mut scratch = transform::Scratch::default();
        for raw in records {
            let Some(tp) = self.topics.get(raw.topic.as_str()) else {
                continue;
            };
            let j = self.judge_offline(tp, raw, writers);
            let verdict = verdict_of(&j.findings);
            if verdict == Verdict::Quarantine {
                continue;
            }
            let rule_list = Scalar::List(
                j.findings
                    .iter()
                    .map(|f| Scalar::Str(f.rule_id.as_str().into()))
                    .collect(),
            );
            let common = self.common_cells(tp, &j, verdict, rule_list, ingested_ms);
            let row = transform::row_cells(&self.context(), &tp.plan(), &j, &common, &mut scratch);
            out.push((tp, row.to_vec()));
        }
        out
    }

    /// [`Chain::judge`] with writer schemas given by id (offline; a missing id is unknown).
    #[cfg(any(test, feature = "reference"))]
    fn judge_offline<'a>(
        &self,
        tp: &TopicPipeline,
        raw: &'a RawRecord,
        writers: &FxHashMap<u32, Schema>,
    ) -> Judged<'a> {
        let writer = |id: u32| match writers.get(&id) {
            Some(schema) => Ok(WriterRef::Borrowed(schema)),
            None => Err(DecodeFailure::UnknownSchema(id)),
        };
        self.judge(tp, raw, writer)
    }

    /// What every topic's transform shares: the councils' reference cells and the calendar.
    pub fn context(&self) -> transform::Context<'_> {
        transform::Context {
            reference: &self.reference,
            calendar: &self.calendar,
        }
    }

    /// The council reference data the chain judges and enriches with.
    pub fn councils(&self) -> &LocalAuthorities {
        &self.councils
    }

    /// Decode + judge one record (see [`judge::judge`]); `writer` gives the writer schema of an id.
    pub(crate) fn judge<'a, 's>(
        &self,
        tp: &TopicPipeline,
        raw: &'a RawRecord,
        writer: impl Fn(u32) -> std::result::Result<WriterRef<'s>, DecodeFailure>,
    ) -> Judged<'a> {
        let resolution = |id: u32| writer(id).map(|w| tp.resolution(id, w.schema()));
        judge::judge(raw, resolution, &tp.schema, &tp.rules, &self.councils)
    }

    /// Encodes the batch's rows and messages (no I/O) from records judged beforehand (a replay's
    /// path: its stored versions come from ClickHouse for the whole batch). Enriched events need
    /// the topic's enriched schema id set (the live pipeline registers it first).
    pub(crate) fn build<'r>(
        &'r self,
        judged: &mut [(&'r TopicPipeline, Judged<'r>)],
        info: BatchInfo<'r>,
    ) -> Batch {
        let mut b = Builder::new(self, judged.iter().map(|(tp, _)| *tp), info);
        for (tp, j) in judged.iter_mut() {
            b.add(tp, j);
        }
        b.finish()
    }

    /// A record's provenance, envelope and verdict cells, in `layout::common_columns` order.
    fn common_cells(
        &self,
        tp: &TopicPipeline,
        j: &Judged<'_>,
        verdict: Verdict,
        rule_list: Scalar,
        ingested_ms: i64,
    ) -> [Scalar; 18] {
        let env = &j.env;
        [
            Scalar::Str(tp.source_topic.clone()),
            Scalar::Int(i64::from(j.raw.partition)),
            Scalar::Int(j.raw.offset),
            Scalar::Int(i64::from(j.schema_id)),
            Scalar::Str(tp.rules.version.clone()),
            Scalar::Str(tp.key.version.clone()),
            Scalar::Ts(ingested_ms),
            Scalar::Str(env.event_id.clone()),
            Scalar::Str(env.operation.clone()),
            Scalar::Str(env.entity_id.clone()),
            Scalar::Int(env.entity_version),
            Scalar::Str(env.la_code.clone()),
            Scalar::Str(env.source_system.clone()),
            Scalar::Int(env.occurred_at),
            Scalar::Int(env.published_at),
            Scalar::Bool(env.operation == "DELETE"),
            Scalar::Str(verdict.as_str().into()),
            rule_list,
        ]
    }
}

/// What a batch's records share: the mode, the records a replay finds quarantined now (whose
/// release it marks; empty live), and the ingest time and id every row is stamped with.
#[derive(Debug, Clone, Copy)]
pub struct BatchInfo<'r> {
    pub mode: &'r Mode,
    pub previously_quarantined: &'r HashSet<(String, i32, i64)>,
    pub ingested_ms: i64,
    pub batch_id: &'r str,
}

impl BatchInfo<'static> {
    /// A live batch outside the service (the offline chain, the benchmark): nothing quarantined
    /// before, the zero batch id.
    pub fn offline(ingested_ms: i64) -> Self {
        static LIVE: LazyLock<Mode> = LazyLock::new(Mode::live);
        static NONE: LazyLock<HashSet<(String, i32, i64)>> = LazyLock::new(HashSet::new);
        Self {
            mode: &LIVE,
            previously_quarantined: &NONE,
            ingested_ms,
            batch_id: "00000000-0000-0000-0000-000000000000",
        }
    }
}

/// A batch being encoded one judged record at a time ([`Builder::add`]): live ingest builds each
/// record right after judging it, while its cells are still in the core's cache (with 5,000
/// records judged first, ~8 MB of cells had left the cache when the build read them again).
pub(crate) struct Builder<'r> {
    chain: &'r Chain,
    mode: &'r Mode,
    previously_quarantined: &'r HashSet<(String, i32, i64)>,
    batch: Batch,
    /// Per table: its pipeline (for the row size learnt at the end).
    per_table: FxHashMap<&'r str, &'r TopicPipeline>,
    by_verdict: metrics::EventCounts<'r>,
    by_rule: metrics::RuleCounts<'r>,
    /// Borrowed per batch; the outcome's owned keys are made once per partition at the end.
    last_offsets: FxHashMap<(&'r str, i32), i64>,
    scratch: transform::Scratch,
}

impl<'r> Builder<'r> {
    /// A batch for the records of `topics` (one entry per record, in any order).
    pub(crate) fn new(
        chain: &'r Chain,
        topics: impl Iterator<Item = &'r TopicPipeline>,
        info: BatchInfo<'r>,
    ) -> Self {
        let BatchInfo {
            mode,
            previously_quarantined,
            ingested_ms,
            batch_id,
        } = info;
        // Each table's buffer sized once for all its records, by the row size of earlier batches:
        // growing it row by row re-copied the whole buffer at every doubling (a sixth of the
        // chain's CPU, with the page faults of each new copy).
        let mut counts: FxHashMap<&'r str, (&'r TopicPipeline, usize)> = FxHashMap::default();
        let mut records = 0;
        for tp in topics {
            counts.entry(tp.table.as_str()).or_insert((tp, 0)).1 += 1;
            records += 1;
        }
        let mut batch = Batch {
            events: Vec::with_capacity(records * EVENT_ROW_BYTES),
            ingested_ms,
            batch_id: batch_id.to_string(),
            ..Batch::default()
        };
        let mut per_table = FxHashMap::default();
        for (table, (tp, n)) in counts {
            let bytes = n * tp.row_bytes.load(Ordering::Relaxed);
            batch.tables.insert(
                table.to_string(),
                TableRows {
                    columns: tp.layout.insert_columns.clone(),
                    rows: 0,
                    body: Vec::with_capacity(bytes),
                },
            );
            per_table.insert(table, tp);
        }
        Self {
            chain,
            mode,
            previously_quarantined,
            batch,
            per_table,
            by_verdict: Default::default(),
            by_rule: Default::default(),
            last_offsets: FxHashMap::default(),
            scratch: transform::Scratch::default(),
        }
    }

    /// Encodes one judged record (version safety already applied): its `ingest_events` row, its
    /// quarantine row and DLQ record, or its entity row and enriched event.
    pub(crate) fn add(&mut self, tp: &'r TopicPipeline, j: &mut Judged<'r>) {
        let chain = self.chain;
        let raw: &'r RawRecord = j.raw;
        let replay_id = self.mode.replay_id();
        let to_dlq = self.mode.to_dlq;
        let ingested_ms = self.batch.ingested_ms;
        self.batch.outcome.rows += 1;
        let verdict = verdict_of(&j.findings);
        let rule_ids: Vec<&str> = j.findings.iter().map(|f| f.rule_id.as_str()).collect();
        let messages: Vec<&str> = j.findings.iter().map(|f| f.message.as_str()).collect();
        // A label per known council, `other` for anything else: a council code from the
        // wire must not mint unbounded metric series.
        let la_label = match chain.councils.by_code(&j.env.la_code) {
            Some(la) => la.la_code.as_str(),
            None => "other",
        };
        *self
            .by_verdict
            .entry((raw.topic.as_str(), la_label, verdict.as_str()))
            .or_default() += 1;
        if !rule_ids.is_empty() {
            let counts = self.by_rule.entry(raw.topic.as_str()).or_default();
            for rule in &rule_ids {
                match counts.get_mut(*rule) {
                    Some(n) => *n += 1,
                    None => {
                        counts.insert((*rule).to_string(), 1);
                    }
                }
            }
        }
        let outcome = &mut self.batch.outcome;
        match verdict {
            Verdict::Accept => outcome.accepted += 1,
            Verdict::Warn => outcome.warned += 1,
            Verdict::Quarantine => outcome.quarantined += 1,
        }
        self.last_offsets
            .insert((raw.topic.as_str(), raw.partition), raw.offset);
        events::write_event_row(
            &mut self.batch.events,
            &self.mode.events_table,
            &events::EventRow {
                raw: j.raw,
                env: &j.env,
                table: &tp.table,
                verdict: verdict.as_str(),
                rule_ids: &rule_ids,
                schema_id: j.schema_id,
                rules_version: &tp.rules.version,
                key_version: &tp.key.version,
                ingested_s: ingested_ms / 1000,
                batch_id: &self.batch.batch_id,
                replay_id,
            },
        );

        // (Checked for emptiness first: the look-up's key is an owned copy.)
        let released = verdict != Verdict::Quarantine
            && !self.previously_quarantined.is_empty()
            && self.previously_quarantined.contains(&(
                j.raw.topic.to_string(),
                j.raw.partition,
                j.raw.offset,
            ));
        if verdict == Verdict::Quarantine || released {
            let released_reason = released.then(|| {
                format!(
                    "released by replay {replay_id}: {} under rules version {}",
                    verdict.as_str(),
                    tp.rules.version
                )
            });
            let one;
            let (status, reasons): (&str, &[&str]) = match &released_reason {
                Some(reason) => {
                    self.batch.outcome.released += 1;
                    one = [reason.as_str()];
                    ("released", &one)
                }
                None => ("quarantined", &messages),
            };
            events::write_quarantine_row(
                &mut self.batch.quarantine,
                &events::QuarantineRow {
                    j,
                    schema: &tp.schema,
                    ingested_s: ingested_ms / 1000,
                    rule_ids: &rule_ids,
                    reasons,
                    rules_version: &tp.rules.version,
                    dlq_topic: &chain.dlq_topic,
                    replay_id,
                    status,
                },
            );
        }
        if verdict == Verdict::Quarantine {
            if to_dlq {
                self.batch.outgoing.push(events::dlq_record(
                    &chain.dlq_topic,
                    &tp.rules.version,
                    j,
                    &rule_ids,
                    &messages,
                    replay_id,
                ));
            }
            return;
        }

        // Links first: they need the clear identifiers, which the row's cells take over.
        if tp.key.previous().is_some() {
            for col in &tp.layout.columns {
                if let Source::Pseudonym(i) = col.source {
                    if let Some(clear) = j.cells.get(i) {
                        self.batch.links.add(
                            &tp.domain,
                            &col.name,
                            &tp.key,
                            clear,
                            ingested_ms / 1000,
                        );
                    }
                }
            }
        }
        let rule_list = Scalar::List(rule_ids.iter().map(|r| Scalar::Str((*r).into())).collect());
        let common = chain.common_cells(tp, j, verdict, rule_list, ingested_ms);
        let cells =
            transform::row_cells(&chain.context(), &tp.plan(), j, &common, &mut self.scratch);
        // The table's buffer, its name copied once per batch (not per row).
        let rows_out = match self.batch.tables.get_mut(&tp.table) {
            Some(rows_out) => rows_out,
            None => self
                .batch
                .tables
                .entry(tp.table.clone())
                .or_insert_with(|| TableRows {
                    columns: tp.layout.insert_columns.clone(),
                    ..TableRows::default()
                }),
        };
        tp.layout.write_row_binary(&cells, &mut rows_out.body);
        rows_out.rows += 1;
        self.batch.latencies.push(j.env.published_at);
        if chain.publish_enriched {
            let id = tp.enriched_id.get().copied().unwrap_or(0);
            self.batch.outgoing.push(events::enriched_message(
                &tp.enriched_topic,
                &tp.layout,
                id,
                j,
                &cells,
                chain.enriched_headers,
            ));
        }
    }

    /// The batch, with its metrics recorded and each table's row size learnt.
    pub(crate) fn finish(self) -> Batch {
        let mut batch = self.batch;
        metrics::events(&self.by_verdict, &self.by_rule);
        for ((topic, partition), offset) in self.last_offsets {
            batch
                .outcome
                .last_offsets
                .insert((topic.to_string(), partition), offset);
        }
        for (table, tp) in &self.per_table {
            if let Some(rows) = batch.tables.get(*table).filter(|rows| rows.rows > 0) {
                tp.row_bytes
                    .fetch_max(rows.body.len() / rows.rows + 1, Ordering::Relaxed);
            }
        }
        batch
    }
}

#[cfg(any(test, feature = "reference"))]
pub mod offline;
#[cfg(test)]
mod tests;
