//! The I/O around the chain, and only that: fetch what the chain needs (writer schemas from the
//! registry, stored entity versions from ClickHouse, the enriched schema ids), call the pure
//! [`Chain`], and write what it returns with the exactly-once protocol (`sink::protocol`). Live
//! ingest or a replay ([`Mode`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use apache_avro::Schema;
use rustc_hash::FxHashMap;

use crate::chain::{BatchInfo, Chain, Mode, TopicPipeline};
use crate::config::Settings;
use crate::decode;
use crate::decode::registry::Registry;
use crate::decode::{DecodeFailure, WriterRef};
use crate::encode::events::{self, EventsTable};
use crate::encode::{Batch, BatchOutcome};
use crate::judge::versions::{apply_version_safety, is_candidate, Stored, VersionCache};
use crate::judge::Judged;
use crate::metrics::{self, Phases};
use crate::sink::order::Turn;
use crate::sink::{protocol, quote, ClickHouse, Publisher};
use crate::source::{Gap, RawRecord};
use crate::{Error, Result};

/// The whole ingest chain plus its I/O: registry, ClickHouse, Kafka producer.
pub struct Pipeline {
    pub chain: Chain,
    registry: Registry,
    clickhouse: ClickHouse,
    publisher: Publisher,
    /// Live version safety's memory (see `versions`); replays ask ClickHouse instead.
    versions: std::sync::Mutex<VersionCache>,
    /// Whether the offset of record's and the replay events' columns were checked (in that
    /// order; see `check_events_table`), each once before its first rows.
    events_checked: [tokio::sync::OnceCell<()>; 2],
}

/// A batch judged and encoded, ready for [`Pipeline::write`].
pub struct Prepared {
    batch: Batch,
    mode: Mode,
    clock: Phases,
    started: Instant,
}

impl Prepared {
    /// Adds one `LOST` row per missing range to the batch's offset-of-record INSERT, so a gap is
    /// recorded exactly once, with the record that revealed it (live ingest only).
    pub fn record_gaps(&mut self, chain: &Chain, gaps: Vec<Gap>) {
        if !self.mode.records_gaps_and_latency {
            return;
        }
        let batch = &mut self.batch;
        for gap in gaps {
            let tp = chain.topics.get(&gap.topic);
            events::write_gap_row(
                &mut batch.events,
                &self.mode.events_table,
                &gap,
                tp.map_or("", |t| t.table.as_str()),
                tp.map_or("", |t| t.rules.version.as_str()),
                batch.ingested_ms / 1000,
                &batch.batch_id,
            );
            let last = batch
                .outcome
                .last_offsets
                .entry((gap.topic.clone(), gap.partition))
                .or_insert(gap.last);
            *last = (*last).max(gap.last);
            batch.outcome.gaps.push(gap);
        }
    }
}

/// How often live ingest merges versions a replay accepted (see `versions`).
const REPLAY_POLL_SECONDS: i64 = 5;

/// Writer schemas by id as the batch sees them (`Err`: the registry says the id is unusable).
type Writers = FxHashMap<u32, std::result::Result<Arc<Schema>, DecodeFailure>>;

impl Pipeline {
    pub fn new(settings: &Settings, publisher: Publisher) -> Result<Self> {
        Ok(Self {
            chain: Chain::new(settings)?,
            registry: Registry::new(&settings.registry_url, settings.registry_ca_file.as_deref())?,
            clickhouse: ClickHouse::new(settings.clickhouse.clone())?,
            publisher,
            versions: std::sync::Mutex::default(),
            events_checked: Default::default(),
        })
    }

    /// Forgets the remembered entity versions: after a failed batch or a rebalance, the next
    /// batch re-seeds them from ClickHouse (the offset of record), see `versions`.
    pub fn forget_versions(&self) {
        if let Ok(mut cache) = self.versions.lock() {
            cache.clear();
        }
    }

    pub fn clickhouse(&self) -> &ClickHouse {
        &self.clickhouse
    }

    fn db(&self) -> &str {
        self.clickhouse.database()
    }

    /// The writer schema of every framed record's id (registry, cached). A registry that cannot be
    /// reached is an error (the batch waits and retries); an id it does not know is a verdict.
    async fn writers(&self, records: &[RawRecord]) -> Result<Writers> {
        let mut writers = Writers::default();
        for id in decode::schema_ids(records) {
            writers.insert(id, self.registry.writer_schema(id).await?);
        }
        Ok(writers)
    }

    /// Accepted versions already stored for the batch's entities (offset of record and replays).
    async fn stored_versions(&self, judged: &[(&TopicPipeline, Judged<'_>)]) -> Result<Stored> {
        let mut wanted: HashMap<&str, Vec<String>> = HashMap::new();
        for (tp, j) in judged {
            if is_candidate(j) {
                wanted
                    .entry(tp.source_topic.as_str())
                    .or_default()
                    .push(format!(
                        "({}, {})",
                        quote(&j.env.la_code),
                        quote(&j.env.entity_id)
                    ));
            }
        }
        #[derive(serde::Deserialize)]
        struct Row {
            partition: i32,
            offset: i64,
            la_code: String,
            entity_id: String,
            v: i64,
        }
        let mut stored = Stored::new();
        for (topic, keys) in wanted {
            let filter = format!(
                "topic = {} AND (la_code, entity_id) IN ({})",
                quote(topic),
                keys.join(", ")
            );
            let sql = accepted_versions_sql(&self.clickhouse, "partition, offset", &filter);
            let rows: Vec<Row> = self.clickhouse.query(&sql).await?;
            for r in rows {
                stored.add(
                    topic,
                    r.la_code.into(),
                    r.entity_id.into(),
                    (r.partition, r.offset),
                    r.v,
                );
            }
        }
        Ok(stored)
    }

    /// Which of the batch's records are quarantined now (replay: to mark the ones it releases).
    async fn quarantined_now(&self, records: &[RawRecord]) -> Result<HashSet<(String, i32, i64)>> {
        let mut by_topic: HashMap<&str, Vec<String>> = HashMap::new();
        for r in records {
            by_topic
                .entry(r.topic.as_str())
                .or_default()
                .push(format!("({}, {})", r.partition, r.offset));
        }
        #[derive(serde::Deserialize)]
        struct Row {
            partition: i32,
            offset: i64,
        }
        let mut out = HashSet::new();
        for (topic, list) in by_topic {
            let sql = format!(
                "SELECT partition, offset FROM {}.ingest_quarantine FINAL \
                 WHERE topic = {} AND status = 'quarantined' AND (partition, offset) IN ({})",
                self.db(),
                quote(topic),
                list.join(", ")
            );
            for r in self.clickhouse.query::<Row>(&sql).await? {
                out.insert((topic.to_string(), r.partition, r.offset));
            }
        }
        Ok(out)
    }

    /// Processes and writes one batch, live or as a replay (see [`Mode`]). Records keep their
    /// original provenance; a replay must pass them in (topic, partition, offset) order.
    pub async fn process_as(&self, records: &[RawRecord], mode: &Mode) -> Result<BatchOutcome> {
        let prepared = self.prepare(records, mode).await?;
        self.write(prepared, Turn::alone()).await
    }

    /// Decodes, judges (version safety included) and encodes a batch; writes nothing. A live batch's
    /// accepted versions are remembered at once, so the next batch can be prepared while this one
    /// is written; if the write fails the caller must [`Pipeline::forget_versions`].
    pub async fn prepare(&self, records: &[RawRecord], mode: &Mode) -> Result<Prepared> {
        let started = Instant::now();
        let mut clock = Phases::start();
        let ingested_ms = chrono::Utc::now().timestamp_millis();
        let batch_id = uuid::Uuid::new_v4().to_string();

        let writers = self.writers(records).await?;
        clock.lap("writers");
        let writer = |id: u32| match writers.get(&id) {
            Some(Ok(schema)) => Ok(WriterRef::Shared(schema.clone())),
            Some(Err(failure)) => Err(failure.clone()),
            // Not framed (no id): judge reports that before asking.
            None => Err(DecodeFailure::UnknownSchema(id)),
        };
        // Once per topic, before its first rows: its tables checked, its enriched schema's id
        // (done at start by `prepare_topics`; here only what that could not do).
        let mut unready: Vec<&TopicPipeline> = Vec::new();
        for raw in records {
            if let Some(tp) = self.chain.topics.get(raw.topic.as_str()) {
                if !self.topic_ready(tp) && !unready.iter().any(|t| std::ptr::eq(*t, tp)) {
                    unready.push(tp);
                }
            }
        }
        for tp in unready {
            self.prepare_topic(tp).await?;
        }
        let previously_quarantined = if mode.marks_released {
            self.quarantined_now(records).await?
        } else {
            HashSet::new()
        };
        let info = BatchInfo {
            mode,
            previously_quarantined: &previously_quarantined,
            ingested_ms,
            batch_id: &batch_id,
        };
        let batch = if mode.remembers_versions {
            // Live: versions from memory, so each record is judged and built in one pass.
            self.seed_versions(records).await?;
            clock.lap("lookup");
            let mut versions = self
                .versions
                .lock()
                .map_err(|_| Error::Config("version cache poisoned".into()))?;
            self.chain.process(records, writer, &mut *versions, info)
        } else {
            // A replay: every record judged first, for the stored versions of the batch's
            // entities in ClickHouse.
            let mut judged = Vec::with_capacity(records.len());
            for raw in records {
                let Some(tp) = self.chain.topics.get(raw.topic.as_str()) else {
                    continue; // not ours (cannot happen: we read configured topics only)
                };
                judged.push((tp, self.chain.judge(tp, raw, writer)));
            }
            clock.lap("judge");
            let stored = self.stored_versions(&judged).await?;
            clock.lap("lookup");
            apply_version_safety(judged.iter_mut().map(|(_, j)| j), &stored);
            self.chain.build(&mut judged, info)
        };
        clock.lap("build");
        Ok(Prepared {
            batch,
            mode: mode.clone(),
            clock,
            started,
        })
    }

    /// Writes a prepared batch with the exactly-once protocol ([`protocol::write`]), recording its
    /// offsets when `turn` comes.
    pub async fn write(&self, prepared: Prepared, turn: Turn) -> Result<BatchOutcome> {
        let Prepared {
            mut batch,
            mode,
            mut clock,
            started,
        } = prepared;
        clock.lap("queued"); // prepared -> write started (waiting for a free writer)
        let events_table = mode.events_table;
        let outcome = std::mem::take(&mut batch.outcome);
        let latencies = std::mem::take(&mut batch.latencies);
        let ingested_ms = batch.ingested_ms;
        self.check_events_table(&events_table).await?;
        let written = protocol::write(
            &self.clickhouse,
            &self.publisher,
            batch,
            &events_table,
            &mut clock,
            turn,
        )
        .await?;

        // To the moment the rows were queryable (the tables acknowledged), not to the end of the
        // write: the enriched events' acknowledgements and the offset of record come after it.
        if mode.records_gaps_and_latency {
            metrics::publish_to_queryable(&latencies, written.queryable_ms);
        }
        clock.log(outcome.rows, &latencies, ingested_ms);
        metrics::batch(outcome.rows, started.elapsed().as_secs_f64());
        for gap in &outcome.gaps {
            metrics::lost(&gap.topic, gap.records());
        }
        Ok(outcome)
    }

    /// Live version safety's memory made ready for a batch: seeds the batch's partitions not seen
    /// yet from ClickHouse (one query per topic) and merges versions a replay released since the
    /// last poll.
    async fn seed_versions(&self, records: &[RawRecord]) -> Result<()> {
        let mut unseeded: HashMap<&str, Vec<i32>> = HashMap::new();
        let replay_due;
        {
            let cache = self
                .versions
                .lock()
                .map_err(|_| Error::Config("version cache poisoned".into()))?;
            for raw in records {
                if !cache.is_seeded(&raw.topic, raw.partition) {
                    let list = unseeded.entry(raw.topic.as_str()).or_default();
                    if !list.contains(&raw.partition) {
                        list.push(raw.partition);
                    }
                }
            }
            let now = chrono::Utc::now().timestamp();
            replay_due = cache
                .replay_polled
                .is_none_or(|t| now - t >= REPLAY_POLL_SECONDS);
        }
        #[derive(serde::Deserialize)]
        struct Row {
            #[serde(default)]
            topic: String,
            partition: i32,
            la_code: String,
            entity_id: String,
            v: i64,
        }
        let db = self.db();
        for (topic, partitions) in unseeded {
            let list: Vec<String> = partitions.iter().map(i32::to_string).collect();
            let filter = format!(
                "topic = {} AND partition IN ({})",
                quote(topic),
                list.join(", ")
            );
            let sql = format!(
                "SELECT partition, la_code, entity_id, max(v) AS v FROM ({}) \
                 GROUP BY partition, la_code, entity_id",
                accepted_versions_sql(&self.clickhouse, "partition", &filter)
            );
            let rows: Vec<Row> = self.clickhouse.query(&sql).await?;
            let mut cache = self
                .versions
                .lock()
                .map_err(|_| Error::Config("version cache poisoned".into()))?;
            for p in &partitions {
                cache.seed(topic, *p);
            }
            for r in rows {
                cache.raise(topic, r.partition, &r.la_code, &r.entity_id, r.v);
            }
            tracing::debug!(topic, partitions = ?partitions, entities = cache.len(), "seeded entity versions");
        }
        if replay_due {
            // Versions a concurrent `replay` accepted (records below our position): a small table.
            let now = chrono::Utc::now().timestamp();
            let since = self
                .versions
                .lock()
                .ok()
                .and_then(|c| c.replay_polled)
                .map_or(0, |t| t - REPLAY_POLL_SECONDS * 10);
            let sql = format!(
                "SELECT topic, partition, la_code, entity_id, max(entity_version) AS v \
                 FROM {db}.ingest_replay_events FINAL \
                 WHERE ingested_at >= toDateTime({since}) AND verdict != 'QUARANTINE' \
                 GROUP BY topic, partition, la_code, entity_id"
            );
            let rows: Vec<Row> = self.clickhouse.query(&sql).await?;
            let mut cache = self
                .versions
                .lock()
                .map_err(|_| Error::Config("version cache poisoned".into()))?;
            for r in rows {
                cache.raise(&r.topic, r.partition, &r.la_code, &r.entity_id, r.v);
            }
            cache.replay_polled = Some(now);
        }
        Ok(())
    }

    /// Checks every topic's tables and registers its enriched schema before the first batch, all
    /// topics at once. Done lazily, the first record of a topic held its whole batch, and every
    /// partition behind it, for the registration's round trip through the broker (3-8 s on the
    /// local tansu: the latency run's p99 was that stall). A topic that fails here is only
    /// logged: its first batch tries again and fails with the same error, retried as any write.
    pub async fn prepare_topics(&self) {
        let topics = self
            .chain
            .topics
            .values()
            .filter(|tp| !self.topic_ready(tp));
        let results = futures::future::join_all(
            topics.map(|tp| async move { (tp, self.prepare_topic(tp).await) }),
        )
        .await;
        for (tp, result) in results {
            if let Err(e) = result {
                tracing::warn!(topic = %tp.source_topic, error = %e, "topic not ready at start; its first batch will try again");
            }
        }
    }

    fn topic_ready(&self, tp: &TopicPipeline) -> bool {
        tp.columns_checked.initialized()
            && (!self.chain.publish_enriched || tp.enriched_id.initialized())
    }

    async fn prepare_topic(&self, tp: &TopicPipeline) -> Result<()> {
        self.check_columns(tp).await?;
        if self.chain.publish_enriched {
            self.register_enriched(tp).await?;
        }
        Ok(())
    }

    /// Checks once per topic that its `<table>_history` and `<table>_current` have every column of
    /// the layout, with its type, before the first rows go in: RowBinary carries no types, so a
    /// table not migrated or changed by hand would take the bytes as something else. A mismatch
    /// fails the batch (retried like any failed write) with every difference named.
    async fn check_columns(&self, tp: &TopicPipeline) -> Result<()> {
        let tables = [
            format!("{}_history", tp.table),
            format!("{}_current", tp.table),
        ];
        self.check_tables_once(
            &tp.columns_checked,
            &tables,
            |found| {
                tables
                    .iter()
                    .flat_map(|t| tp.layout.mismatches(t, found.get(t)))
                    .collect()
            },
            |problems| {
                format!(
                    "the tables of {} (database {}) do not match what lgma-ingest writes: {problems}; \
                     apply the migrations (infra/clickhouse/migrations; `lgma-ingest ddl` prints \
                     the tables it expects)",
                    tp.source_topic,
                    self.clickhouse.database(),
                )
            },
        )
        .await
    }

    /// Checks once that the events table has every column the batch's RowBinary rows carry, with
    /// its type (RowBinary carries none); a mismatch fails the batch with every difference named.
    async fn check_events_table(&self, table: &EventsTable) -> Result<()> {
        self.check_tables_once(
            &self.events_checked[usize::from(table.is_replay())],
            &[table.name.to_string()],
            |found| table.mismatches(found.get(table.name)),
            |problems| {
                format!(
                    "{}.{} does not match what lgma-ingest writes: {problems}; apply the \
                     migrations (infra/clickhouse/migrations)",
                    self.clickhouse.database(),
                    table.name,
                )
            },
        )
        .await
    }

    /// Reads `tables`' column types from `system.columns` once (`checked` holds the success) and
    /// fails, with `refusal` of every problem `problems` finds, when they do not take our rows.
    async fn check_tables_once(
        &self,
        checked: &tokio::sync::OnceCell<()>,
        tables: &[String],
        problems: impl Fn(&HashMap<String, HashMap<String, String>>) -> Vec<String>,
        refusal: impl Fn(String) -> String,
    ) -> Result<()> {
        checked
            .get_or_try_init(|| async {
                let found = self.clickhouse.column_types(tables).await?;
                let problems = problems(&found);
                if problems.is_empty() {
                    return Ok(());
                }
                Err(Error::ClickHouse(refusal(problems.join("; "))))
            })
            .await
            .map(|_| ())
    }

    /// Registers the enriched topic's schema once (idempotent in the registry) for its id.
    async fn register_enriched(&self, tp: &TopicPipeline) -> Result<u32> {
        tp.enriched_id
            .get_or_try_init(|| async {
                let text = tp.layout.avro_schema().to_string();
                self.registry
                    .register(&format!("{}-value", tp.enriched_topic), &text)
                    .await
            })
            .await
            .copied()
    }
}

/// The accepted (not quarantined) entity versions recorded where `filter` holds, in the offset of
/// record and in replays' verdicts: `<columns>, la_code, entity_id, v` per row (on a cluster from
/// every replica, see [`ClickHouse::recorded`]: a version may come twice, callers take the max).
fn accepted_versions_sql(clickhouse: &ClickHouse, columns: &str, filter: &str) -> String {
    let select = |table: &str| {
        format!(
            "SELECT {columns}, la_code, entity_id, entity_version AS v FROM {table} \
             WHERE {filter} AND verdict != 'QUARANTINE'"
        )
    };
    format!(
        "{} UNION ALL {}",
        select(&clickhouse.recorded("ingest_events")),
        select(&format!(
            "{} FINAL",
            clickhouse.recorded("ingest_replay_events")
        ))
    )
}
