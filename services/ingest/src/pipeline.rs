//! One batch through the chain: decode -> validate -> enrich -> pseudonymise -> rows, then the
//! write protocol that makes it exactly-once (see README "Exactly once"):
//!
//! 1. quarantine rows and entity history/current rows (idempotent under re-insert),
//! 2. enriched events and DLQ records to Kafka (awaited; at-least-once),
//! 3. LAST, one INSERT into `ingest_events`, the offset of record, into one partition.
//!
//! A crash anywhere before step 3 leaves the offset of record untouched, so the batch is re-read
//! and re-inserted; the rows of steps 1–2 collapse.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use apache_avro::types::Value;
use apache_avro::Schema;
use lgma_core::reference::{LocalAuthorities, StatutoryCalendar};
use tokio::sync::OnceCell;

use crate::config::{Settings, TopicSettings};
use crate::decode::{decode_body, DecodeFailure, Registry};
use crate::enrich::{reference_cells, Enricher};
use crate::pseudonymise::{DomainKey, Keys, Pseudonymiser};
use crate::publish::{Outgoing, Publisher};
use crate::row::{avro_cell, write_json_row, Layout, Source};
use crate::rules::RuleSet;
use crate::schema::{Pii, ReaderSchema, Scalar};
use crate::sink::{quote, ClickHouse};
use crate::validate::{check_envelope, check_payload, verdict_of, Envelope, Finding, Verdict};
use crate::{metrics, Error, Result};

/// One consumed Kafka record, owned (the batch outlives the consumer's borrow).
#[derive(Debug, Clone)]
pub struct RawRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

impl RawRecord {
    pub fn size(&self) -> usize {
        self.key.as_ref().map_or(0, Vec::len) + self.value.as_ref().map_or(0, Vec::len) + 64
    }
}

/// Everything needed to process one topic, built once at start-up.
#[derive(Debug)]
pub struct TopicPipeline {
    pub source_topic: String,
    pub enriched_topic: String,
    pub entity: String,
    pub table: String,
    pub schema: ReaderSchema,
    pub rules: RuleSet,
    pub enricher: Enricher,
    pub layout: Layout,
    pub key: DomainKey,
    enriched_schema: Schema,
    enriched_id: OnceCell<u32>,
}

impl TopicPipeline {
    pub fn build(settings: &Settings, topic: &TopicSettings, keys: &Keys) -> Result<Self> {
        let schema = ReaderSchema::load(&settings.schemas_dir, &topic.topic)?;
        let rules = RuleSet::load(&settings.rules_dir, &topic.entity, &schema)?;
        let enricher = Enricher::for_entity(&topic.entity, &schema)?;
        let layout = Layout::new(&topic.table, &schema, enricher.columns());
        let domain = topic.entity.split('.').next().unwrap_or_default();
        let key = keys.for_domain(domain)?.clone();
        let enriched_schema = Schema::parse(&layout.avro_schema()).map_err(|e| Error::Schema {
            what: format!("{} enriched", topic.topic),
            reason: e.to_string(),
        })?;
        Ok(Self {
            source_topic: settings.source_topic(&topic.topic),
            enriched_topic: settings.enriched_topic(&topic.topic),
            entity: topic.entity.clone(),
            table: topic.table.clone(),
            schema,
            rules,
            enricher,
            layout,
            key,
            enriched_schema,
            enriched_id: OnceCell::new(),
        })
    }

    /// DDL for this topic's tables (used by `lgma-ingest ddl`).
    pub fn ddl_for(settings: &Settings, topic: &TopicSettings) -> Result<String> {
        let schema = ReaderSchema::load(&settings.schemas_dir, &topic.topic)?;
        let enricher = Enricher::for_entity(&topic.entity, &schema)?;
        let layout = Layout::new(&topic.table, &schema, enricher.columns());
        Ok(layout.ddl(&settings.clickhouse.database))
    }
}

/// The whole ingest chain for every configured topic.
pub struct Pipeline {
    pub topics: HashMap<String, TopicPipeline>,
    registry: Registry,
    clickhouse: ClickHouse,
    publisher: Publisher,
    councils: LocalAuthorities,
    calendar: StatutoryCalendar,
    pseudonymiser: Pseudonymiser,
    dlq_topic: String,
    publish_enriched: bool,
}

/// One record after decoding and judging.
struct Judged<'a> {
    raw: &'a RawRecord,
    schema_id: u32,
    env: Envelope,
    cells: Vec<Scalar>,
    has_payload: bool,
    findings: Vec<Finding>,
    decoded: bool,
    /// Detail for the DLQ header only (may quote data; never stored in ClickHouse).
    dlq_detail: Option<String>,
}

/// What a processed batch wrote, for the caller's bookkeeping.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    pub rows: usize,
    pub accepted: usize,
    pub warned: usize,
    pub quarantined: usize,
    /// Highest offset written per (topic, partition).
    pub last_offsets: HashMap<(String, i32), i64>,
}

impl Pipeline {
    pub fn new(settings: &Settings, publisher: Publisher) -> Result<Self> {
        let keys = Keys::load(Path::new(&settings.keys_file))?;
        let mut topics = HashMap::new();
        for topic in &settings.topics {
            let pipeline = TopicPipeline::build(settings, topic, &keys)?;
            topics.insert(pipeline.source_topic.clone(), pipeline);
        }
        Ok(Self {
            topics,
            registry: Registry::new(&settings.registry_url)?,
            clickhouse: ClickHouse::new(settings.clickhouse.clone())?,
            publisher,
            councils: LocalAuthorities::embedded()?,
            calendar: StatutoryCalendar::embedded()?,
            pseudonymiser: Pseudonymiser::new(),
            dlq_topic: settings.dlq(),
            publish_enriched: settings.publish_enriched,
        })
    }

    pub fn clickhouse(&self) -> &ClickHouse {
        &self.clickhouse
    }

    fn db(&self) -> &str {
        self.clickhouse.database()
    }

    /// Decode + validate one record (no I/O except a registry lookup on a cache miss).
    async fn judge<'a>(&self, tp: &TopicPipeline, raw: &'a RawRecord) -> Result<Judged<'a>> {
        let mut judged = Judged {
            raw,
            schema_id: 0,
            env: Envelope::default(),
            cells: Vec::new(),
            has_payload: false,
            findings: Vec::new(),
            decoded: false,
            dlq_detail: None,
        };
        let fail = |judged: &mut Judged<'a>, failure: DecodeFailure, detail: Option<String>| {
            judged
                .findings
                .push(Finding::quarantine(failure.rule_id(), failure.message()));
            judged.dlq_detail = detail;
        };
        let bytes = match raw.value.as_deref() {
            None | Some([]) => {
                fail(&mut judged, DecodeFailure::Tombstone, None);
                return Ok(judged);
            }
            Some(b) => b,
        };
        let framed = match lgma_core::framing::decode(bytes) {
            Ok(f) => f,
            Err(e) => {
                fail(&mut judged, DecodeFailure::NotFramed(e.to_string()), None);
                return Ok(judged);
            }
        };
        judged.schema_id = framed.schema_id;
        let writer = match self.registry.writer_schema(framed.schema_id).await? {
            Ok(w) => w,
            Err(failure) => {
                fail(&mut judged, failure, None);
                return Ok(judged);
            }
        };
        let value = match decode_body(&writer, &tp.schema, framed.body) {
            Ok(v) => v,
            Err(DecodeFailure::Body(detail)) => {
                // The library's message can quote decoded values: DLQ header only.
                fail(
                    &mut judged,
                    DecodeFailure::Body("see DLQ header lgma.detail".into()),
                    Some(detail),
                );
                return Ok(judged);
            }
            Err(failure) => {
                fail(&mut judged, failure, None);
                return Ok(judged);
            }
        };
        let (env_cells, cells) = match tp.schema.flatten(&value) {
            Ok(x) => x,
            Err(e) => {
                fail(&mut judged, DecodeFailure::Body(e), None);
                return Ok(judged);
            }
        };
        judged.decoded = true;
        judged.env = Envelope::from_scalars(&env_cells);
        judged.has_payload = ReaderSchema::has_payload(&value);
        judged.cells = cells;
        judged.findings = check_envelope(&mut judged.env, judged.has_payload, &self.councils);
        if judged.has_payload {
            let payload_findings = check_payload(&tp.schema, &tp.rules, &mut judged.cells);
            judged.findings.extend(payload_findings);
        }
        Ok(judged)
    }

    /// Highest stored entity_version per (la_code, entity_id), from the offset of record only,
    /// so a re-processed batch sees exactly what its first attempt saw.
    async fn stored_versions(
        &self,
        topic: &str,
        keys: &[(String, String)],
    ) -> Result<HashMap<(String, String), i64>> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let list: Vec<String> = keys
            .iter()
            .map(|(la, id)| format!("({}, {})", quote(la), quote(id)))
            .collect();
        #[derive(serde::Deserialize)]
        struct Row {
            la_code: String,
            entity_id: String,
            v: i64,
        }
        let sql = format!(
            "SELECT la_code, entity_id, max(entity_version) AS v FROM {}.ingest_events \
             WHERE topic = {} AND verdict != 'QUARANTINE' AND (la_code, entity_id) IN ({}) \
             GROUP BY la_code, entity_id",
            self.db(),
            quote(topic),
            list.join(", ")
        );
        let rows: Vec<Row> = self.clickhouse.query(&sql).await?;
        Ok(rows
            .into_iter()
            .map(|r| ((r.la_code, r.entity_id), r.v))
            .collect())
    }

    /// Processes and writes one batch. Any error means nothing was recorded: the caller re-seeks.
    pub async fn process(&self, records: &[RawRecord]) -> Result<BatchOutcome> {
        let started = Instant::now();
        let ingested_ms = chrono::Utc::now().timestamp_millis();
        let batch_id = uuid::Uuid::new_v4().to_string();

        // Decode and validate.
        let mut judged = Vec::with_capacity(records.len());
        for raw in records {
            let Some(tp) = self.topics.get(&raw.topic) else {
                continue; // not ours (cannot happen: we subscribe to configured topics only)
            };
            judged.push((tp, self.judge(tp, raw).await?));
        }

        // Version safety: never let an older version through, against stored and in-batch state.
        let mut wanted: HashMap<&str, Vec<(String, String)>> = HashMap::new();
        for (tp, j) in &judged {
            if j.decoded && verdict_of(&j.findings) != Verdict::Quarantine {
                wanted
                    .entry(tp.source_topic.as_str())
                    .or_default()
                    .push((j.env.la_code.clone(), j.env.entity_id.clone()));
            }
        }
        let mut latest: HashMap<(String, String, String), i64> = HashMap::new();
        for (topic, keys) in wanted {
            for ((la, id), v) in self.stored_versions(topic, &keys).await? {
                latest.insert((topic.to_string(), la, id), v);
            }
        }
        for (tp, j) in &mut judged {
            if !j.decoded || verdict_of(&j.findings) == Verdict::Quarantine {
                continue;
            }
            let key = (
                tp.source_topic.clone(),
                j.env.la_code.clone(),
                j.env.entity_id.clone(),
            );
            match latest.get(&key) {
                Some(stored) if j.env.entity_version < *stored => {
                    j.findings.push(Finding::quarantine(
                        "version.stale",
                        format!(
                            "field `entity_version` value {} is older than stored version {} (rule version.stale)",
                            j.env.entity_version, stored
                        ),
                    ));
                }
                _ => {
                    latest.insert(key, j.env.entity_version);
                }
            }
        }

        // Build rows.
        let mut outcome = BatchOutcome::default();
        let mut events = Vec::with_capacity(records.len() * 256);
        let mut quarantine = Vec::new();
        let mut tables: HashMap<&str, Vec<u8>> = HashMap::new();
        let mut outgoing = Vec::new();
        let mut latencies = Vec::new();
        for (tp, j) in &judged {
            let verdict = verdict_of(&j.findings);
            let rule_ids: Vec<&str> = j.findings.iter().map(|f| f.rule_id.as_str()).collect();
            metrics::event(&j.raw.topic, &j.env.la_code, verdict.as_str());
            match verdict {
                Verdict::Accept => outcome.accepted += 1,
                Verdict::Warn => outcome.warned += 1,
                Verdict::Quarantine => outcome.quarantined += 1,
            }
            outcome
                .last_offsets
                .insert((j.raw.topic.clone(), j.raw.partition), j.raw.offset);
            serde_json::to_writer(
                &mut events,
                &serde_json::json!({
                    "topic": j.raw.topic, "partition": j.raw.partition, "offset": j.raw.offset,
                    "event_id": j.env.event_id, "entity_table": tp.table,
                    "entity_id": j.env.entity_id, "entity_version": j.env.entity_version,
                    "operation": j.env.operation, "la_code": j.env.la_code,
                    "verdict": verdict.as_str(), "rule_ids": rule_ids,
                    "schema_id": j.schema_id, "rules_version": tp.rules.version,
                    "key_version": tp.key.version, "occurred_at": j.env.occurred_at,
                    "published_at": j.env.published_at, "ingested_at": ingested_ms / 1000,
                    "batch_id": batch_id,
                }),
            )
            .map_err(|e| Error::ClickHouse(e.to_string()))?;
            events.push(b'\n');

            if verdict == Verdict::Quarantine {
                let messages: Vec<&str> = j.findings.iter().map(|f| f.message.as_str()).collect();
                serde_json::to_writer(
                    &mut quarantine,
                    &serde_json::json!({
                        "topic": j.raw.topic, "partition": j.raw.partition, "offset": j.raw.offset,
                        "ingested_at": ingested_ms / 1000, "schema_id": j.schema_id,
                        "decoded": u8::from(j.decoded),
                        "event_id": j.env.event_id, "operation": j.env.operation,
                        "entity_id": j.env.entity_id, "entity_version": j.env.entity_version,
                        "la_code": j.env.la_code, "source_system": j.env.source_system,
                        "occurred_at": j.env.occurred_at, "published_at": j.env.published_at,
                        "rule_ids": rule_ids, "reasons": messages,
                        "rules_version": tp.rules.version,
                        "non_personal_fields": non_personal_json(&tp.schema, &j.cells),
                        "dlq_topic": self.dlq_topic,
                    }),
                )
                .map_err(|e| Error::ClickHouse(e.to_string()))?;
                quarantine.push(b'\n');
                let mut headers = vec![
                    ("lgma.reason".to_string(), rule_ids.join(",")),
                    ("lgma.message".to_string(), messages.join(" | ")),
                    ("lgma.source.topic".to_string(), j.raw.topic.clone()),
                    (
                        "lgma.source.partition".to_string(),
                        j.raw.partition.to_string(),
                    ),
                    ("lgma.source.offset".to_string(), j.raw.offset.to_string()),
                    ("lgma.rules_version".to_string(), tp.rules.version.clone()),
                ];
                if let Some(detail) = &j.dlq_detail {
                    headers.push(("lgma.detail".to_string(), detail.clone()));
                }
                outgoing.push(Outgoing {
                    topic: self.dlq_topic.clone(),
                    key: j.raw.key.clone(),
                    value: j.raw.value.clone(),
                    headers,
                });
                continue;
            }

            let cells = self.row_cells(tp, j, verdict, &rule_ids, ingested_ms);
            write_json_row(
                &tp.layout.columns,
                &cells,
                tables.entry(tp.table.as_str()).or_default(),
            );
            latencies.push(j.env.published_at);
            if self.publish_enriched {
                outgoing.push(self.enriched_message(tp, j, &cells).await?);
            }
        }

        let prepared_ms = started.elapsed().as_millis() as u64;
        // 1. Idempotent tables first.
        let db = self.db().to_string();
        self.clickhouse
            .insert_json(&format!("{db}.ingest_quarantine"), quarantine)
            .await?;
        for (table, rows) in tables {
            self.clickhouse
                .insert_json(&format!("{db}.{table}_history"), rows.clone())
                .await?;
            self.clickhouse
                .insert_json(&format!("{db}.{table}_current"), rows)
                .await?;
        }
        let tables_ms = started.elapsed().as_millis() as u64;
        // 2. Kafka (at-least-once), awaited.
        self.publisher.send_all(&outgoing).await?;
        let published_ms = started.elapsed().as_millis() as u64;
        // 3. The offset of record, last, as one INSERT into one partition.
        self.clickhouse
            .insert_json(&format!("{db}.ingest_events"), events)
            .await?;

        let now_ms = chrono::Utc::now().timestamp_millis();
        for published in latencies {
            metrics::publish_to_queryable(((now_ms - published).max(0) as f64) / 1000.0);
        }
        outcome.rows = judged.len();
        tracing::debug!(
            prepared_ms,
            tables_ms,
            published_ms,
            total_ms = started.elapsed().as_millis() as u64,
            "batch timings"
        );
        metrics::batch(outcome.rows, started.elapsed().as_secs_f64());
        Ok(outcome)
    }

    fn row_cells(
        &self,
        tp: &TopicPipeline,
        j: &Judged<'_>,
        verdict: Verdict,
        rule_ids: &[&str],
        ingested_ms: i64,
    ) -> Vec<Scalar> {
        let env = &j.env;
        let event_day =
            chrono::DateTime::from_timestamp_millis(env.occurred_at).map(|t| t.date_naive());
        let reference = reference_cells(&self.councils, &env.la_code);
        let derived = if j.has_payload {
            tp.enricher.derive(env, &j.cells, &self.calendar)
        } else {
            vec![Scalar::Null; tp.enricher.columns().len()]
        };
        let common = [
            Scalar::Str(j.raw.topic.clone()),
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
            Scalar::List(rule_ids.iter().map(|r| Scalar::Str((*r).into())).collect()),
        ];
        tp.layout
            .columns
            .iter()
            .map(|col| match &col.source {
                Source::Common(i) => common[*i].clone(),
                Source::Leaf(i) => j.cells.get(*i).cloned().unwrap_or(Scalar::Null),
                Source::Pseudonym(i) => j
                    .cells
                    .get(*i)
                    .map_or(Scalar::Null, |c| self.pseudonymiser.identifier(&tp.key, c)),
                Source::AgeBand(i) => j.cells.get(*i).map_or(Scalar::Null, |c| {
                    self.pseudonymiser.age_band_at(c, event_day)
                }),
                Source::RoutingKey(i) => j
                    .cells
                    .get(*i)
                    .map_or(Scalar::Null, |c| self.pseudonymiser.routing_key(c)),
                Source::Reference(i) => reference.get(*i).cloned().unwrap_or(Scalar::Null),
                Source::Derived(i) => derived.get(*i).cloned().unwrap_or(Scalar::Null),
            })
            .collect()
    }

    async fn enriched_message(
        &self,
        tp: &TopicPipeline,
        j: &Judged<'_>,
        cells: &[Scalar],
    ) -> Result<Outgoing> {
        let id = tp
            .enriched_id
            .get_or_try_init(|| async {
                let text = tp.layout.avro_schema().to_string();
                self.registry
                    .register(&format!("{}-value", tp.enriched_topic), &text)
                    .await
            })
            .await?;
        let record = Value::Record(
            tp.layout
                .columns
                .iter()
                .zip(cells)
                .map(|(c, v)| (c.name.clone(), avro_cell(&c.ty, v)))
                .collect(),
        );
        let body = apache_avro::writer::datum::GenericDatumWriter::builder(&tp.enriched_schema)
            .build()
            .and_then(|w| w.write_value_to_vec(record))
            .map_err(|e| Error::Avro(e.to_string()))?;
        Ok(Outgoing {
            topic: tp.enriched_topic.clone(),
            key: Some(j.env.entity_id.clone().into_bytes()),
            value: Some(lgma_core::framing::encode(*id, &body)),
            headers: vec![
                ("event_id".into(), j.env.event_id.clone()),
                ("la_code".into(), j.env.la_code.clone()),
            ],
        })
    }
}

/// The decodable non-personal payload fields of a quarantined event, as a JSON object string.
fn non_personal_json(schema: &ReaderSchema, cells: &[Scalar]) -> String {
    let mut map = serde_json::Map::new();
    for (leaf, cell) in schema.leaves.iter().zip(cells) {
        if leaf.pii.is_some() || cell.is_null() {
            continue;
        }
        let v = match cell {
            Scalar::Str(s) => serde_json::json!(s),
            Scalar::Int(i) | Scalar::Ts(i) => serde_json::json!(i),
            Scalar::Float(f) => serde_json::json!(f),
            Scalar::Bool(b) => serde_json::json!(b),
            Scalar::Date(d) => serde_json::json!(d),
            _ => continue,
        };
        map.insert(leaf.name.clone(), v);
    }
    serde_json::Value::Object(map).to_string()
}

/// Whether any leaf of the schema carries a given tag (used by tests and docs).
pub fn has_pii(schema: &ReaderSchema, pii: Pii) -> bool {
    schema.leaves.iter().any(|l| l.pii == Some(pii))
}

pub type SharedPipeline = Arc<Pipeline>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::default_topics;
    use std::path::PathBuf;

    fn repo() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    fn settings() -> Settings {
        Settings {
            schemas_dir: repo().join("schemas"),
            rules_dir: repo().join("schemas/rules"),
            keys_file: repo().join("infra/config/keys.example.toml"),
            ..Settings::default()
        }
    }

    #[test]
    fn every_topic_builds_from_the_committed_schemas_rules_and_example_keys() {
        let settings = settings();
        let keys = Keys::load(&settings.keys_file).expect("example keys");
        for topic in default_topics() {
            let tp = TopicPipeline::build(&settings, &topic, &keys)
                .unwrap_or_else(|e| panic!("{}: {e}", topic.topic));
            assert!(!tp.rules.rules.is_empty(), "{} has rules", topic.entity);
        }
    }

    /// The committed migrations must create every column the layout writes (schema drift check).
    #[test]
    fn migrations_cover_every_generated_column() {
        let settings = settings();
        let mut migrations = String::new();
        let dir = repo().join("infra/clickhouse/migrations");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("migrations dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("01") && n.ends_with(".sql"))
            })
            .collect();
        files.sort();
        for f in files {
            migrations.push_str(&std::fs::read_to_string(f).expect("readable"));
        }
        for topic in default_topics() {
            let ddl = TopicPipeline::ddl_for(&settings, &topic).expect("ddl");
            for line in ddl.lines().filter(|l| l.trim_start().starts_with('`')) {
                assert!(
                    migrations.contains(line.trim_end_matches(',')),
                    "{}: no migration creates column {line}; run `lgma-ingest ddl` into a new 01xx migration",
                    topic.table
                );
            }
            assert!(migrations.contains(&format!("lgma.{}_history", topic.table)));
            assert!(migrations.contains(&format!("lgma.{}_current", topic.table)));
        }
    }
}
