//! The ingest chain in-process, stage by stage: no broker, no ClickHouse, no registry.
//!
//! Built only from `lgma-ingest`'s public pieces, in the order `Pipeline::process` runs them, so
//! the stage costs point at the module a regression lives in. Where the service's own glue is
//! private (`Pipeline::judge`, `row_cells`), this module mirrors it line for line; keep the two in
//! step (see BENCHMARKS.md, "Gaps").

use std::collections::HashMap;

use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;
use lgma_core::reference::{LocalAuthorities, StatutoryCalendar};
use lgma_ingest::config::Settings;
use lgma_ingest::decode::decode_body;
use lgma_ingest::enrich::reference_cells;
use lgma_ingest::pipeline::TopicPipeline;
use lgma_ingest::pseudonymise::{Keys, Pseudonymiser};
use lgma_ingest::row::{avro_cell, write_json_row, Source};
use lgma_ingest::schema::{ReaderSchema, Scalar};
use lgma_ingest::validate::{
    check_envelope, check_payload, verdict_of, Envelope, Finding, Verdict,
};
use lgma_publisher::encode::Encoder;
use lgma_publisher::Topic;

use crate::corpus::Encoded;
use crate::{Error, Result};

/// After decode + validate: what the pipeline calls a judged record.
#[derive(Debug, Clone)]
pub struct Judged {
    pub topic: Topic,
    pub schema_id: u32,
    pub env: Envelope,
    pub cells: Vec<Scalar>,
    pub has_payload: bool,
    pub findings: Vec<Finding>,
}

/// Enrichment output: council reference cells and the entity's derived measures.
#[derive(Debug, Clone)]
pub struct Enriched {
    pub reference: Vec<Scalar>,
    pub derived: Vec<Scalar>,
}

/// Where each event's output goes: JSONEachRow per entity table, the offset-of-record rows, and
/// the enriched Avro messages' bytes.
#[derive(Debug, Default)]
pub struct Output {
    pub tables: HashMap<String, Vec<u8>>,
    pub events: Vec<u8>,
    pub enriched_bytes: usize,
    pub quarantined: usize,
}

impl Output {
    pub fn clear(&mut self) {
        self.tables.values_mut().for_each(Vec::clear);
        self.events.clear();
        self.enriched_bytes = 0;
        self.quarantined = 0;
    }
}

pub struct Chain {
    topics: HashMap<Topic, TopicPipeline>,
    writers: HashMap<u32, Schema>,
    enriched: HashMap<Topic, Schema>,
    councils: LocalAuthorities,
    calendar: StatutoryCalendar,
    pseudonymiser: Pseudonymiser,
    ingested_ms: i64,
}

/// Settings whose schema, rules and key paths point into the repository.
pub fn settings_in(repo: &std::path::Path) -> Settings {
    Settings {
        schemas_dir: repo.join("schemas"),
        rules_dir: repo.join("schemas/rules"),
        keys_file: repo.join("infra/config/keys.example.toml"),
        ..Settings::default()
    }
}

impl Chain {
    /// The chain for the seven council topics; writer schemas and their ids are the encoder's
    /// (what the registry would answer for them).
    pub fn new(repo: &std::path::Path, encoder: &Encoder) -> Result<Self> {
        let settings = settings_in(repo);
        let keys = Keys::load(&settings.keys_file)?;
        let mut topics = HashMap::new();
        let mut writers = HashMap::new();
        let mut enriched = HashMap::new();
        for topic in Topic::ALL.iter() {
            let config = settings
                .topics
                .iter()
                .find(|t| t.topic == topic.name())
                .ok_or_else(|| Error::Run(format!("{} not configured", topic.name())))?;
            let tp = TopicPipeline::build(&settings, config, &keys)?;
            let schema = Schema::parse(&tp.layout.avro_schema())
                .map_err(|e| Error::Run(format!("enriched schema: {e}")))?;
            enriched.insert(*topic, schema);
            topics.insert(*topic, tp);
            writers.insert(encoder.schema_id(*topic)?, encoder.schema(*topic)?.clone());
        }
        Ok(Self {
            topics,
            writers,
            enriched,
            councils: LocalAuthorities::embedded().map_err(|e| Error::Run(e.to_string()))?,
            calendar: StatutoryCalendar::embedded().map_err(|e| Error::Run(e.to_string()))?,
            pseudonymiser: Pseudonymiser::new(),
            ingested_ms: chrono::Utc::now().timestamp_millis(),
        })
    }

    fn tp(&self, topic: Topic) -> &TopicPipeline {
        // Every Topic is inserted in `new`.
        &self.topics[&topic]
    }

    /// Stage 1: framing -> writer schema (cached) -> resolved into our reader schema.
    pub fn decode(&self, event: &Encoded) -> Result<(u32, Value)> {
        let framed = lgma_core::framing::decode(&event.value)
            .map_err(|e| Error::Run(format!("framing: {e}")))?;
        let writer = self
            .writers
            .get(&framed.schema_id)
            .ok_or_else(|| Error::Run(format!("schema id {}", framed.schema_id)))?;
        let value = decode_body(writer, &self.tp(event.topic).schema, framed.body)
            .map_err(|e| Error::Run(e.message()))?;
        Ok((framed.schema_id, value))
    }

    /// Stage 2: flatten, envelope checks, the entity's rules.
    pub fn validate(&self, topic: Topic, schema_id: u32, value: &Value) -> Result<Judged> {
        let tp = self.tp(topic);
        let (env_cells, mut cells) = tp.schema.flatten(value).map_err(Error::Run)?;
        let mut env = Envelope::from_scalars(&env_cells);
        let has_payload = ReaderSchema::has_payload(value);
        let mut findings = check_envelope(&mut env, has_payload, &self.councils);
        if has_payload {
            findings.extend(check_payload(&tp.schema, &tp.rules, &mut cells));
        }
        Ok(Judged {
            topic,
            schema_id,
            env,
            cells,
            has_payload,
            findings,
        })
    }

    /// Stage 3: council reference data and derived measures (statutory calendar, bands...).
    pub fn enrich(&self, j: &Judged) -> Enriched {
        let tp = self.tp(j.topic);
        let derived = if j.has_payload {
            tp.enricher.derive(&j.env, &j.cells, &self.calendar)
        } else {
            vec![Scalar::Null; tp.enricher.columns().len()]
        };
        Enriched {
            reference: reference_cells(&self.councils, &j.env.la_code),
            derived,
        }
    }

    /// Stage 4: keyed HMAC of identifiers, age bands, Eircode routing keys (column -> cell).
    pub fn pseudonymise(&self, j: &Judged) -> Vec<Scalar> {
        let tp = self.tp(j.topic);
        let event_day =
            chrono::DateTime::from_timestamp_millis(j.env.occurred_at).map(|t| t.date_naive());
        tp.layout
            .columns
            .iter()
            .filter_map(|col| match &col.source {
                Source::Pseudonym(i) => Some(
                    j.cells
                        .get(*i)
                        .map_or(Scalar::Null, |c| self.pseudonymiser.identifier(&tp.key, c)),
                ),
                Source::AgeBand(i) => Some(j.cells.get(*i).map_or(Scalar::Null, |c| {
                    self.pseudonymiser.age_band_at(c, event_day)
                })),
                Source::RoutingKey(i) => Some(
                    j.cells
                        .get(*i)
                        .map_or(Scalar::Null, |c| self.pseudonymiser.routing_key(c)),
                ),
                _ => None,
            })
            .collect()
    }

    /// Stage 5: the entity row's cells in table order (as `Pipeline::row_cells`).
    pub fn cells(&self, j: &Judged, e: &Enriched, pseudo: Vec<Scalar>) -> Vec<Scalar> {
        let tp = self.tp(j.topic);
        let env = &j.env;
        let verdict = verdict_of(&j.findings);
        let rule_ids: Vec<Scalar> = j
            .findings
            .iter()
            .map(|f| Scalar::Str(f.rule_id.clone()))
            .collect();
        let common = [
            Scalar::Str(tp.source_topic.clone()),
            Scalar::Int(0),
            Scalar::Int(0),
            Scalar::Int(i64::from(j.schema_id)),
            Scalar::Str(tp.rules.version.clone()),
            Scalar::Str(tp.key.version.clone()),
            Scalar::Ts(self.ingested_ms),
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
            Scalar::List(rule_ids),
        ];
        let mut pseudo = pseudo.into_iter();
        tp.layout
            .columns
            .iter()
            .map(|col| match &col.source {
                Source::Common(i) => common[*i].clone(),
                Source::Leaf(i) => j.cells.get(*i).cloned().unwrap_or(Scalar::Null),
                Source::Pseudonym(_) | Source::AgeBand(_) | Source::RoutingKey(_) => {
                    pseudo.next().unwrap_or(Scalar::Null)
                }
                Source::Reference(i) => e.reference.get(*i).cloned().unwrap_or(Scalar::Null),
                Source::Derived(i) => e.derived.get(*i).cloned().unwrap_or(Scalar::Null),
            })
            .collect()
    }

    /// Stage 5 (encode): the entity row as JSONEachRow plus the offset-of-record row.
    pub fn row(&self, j: &Judged, cells: &[Scalar], out: &mut Output) -> Result<()> {
        let tp = self.tp(j.topic);
        self.event_row(j, out)?;
        if verdict_of(&j.findings) == Verdict::Quarantine {
            out.quarantined += 1;
            return Ok(());
        }
        let buf = match out.tables.get_mut(&tp.table) {
            Some(b) => b,
            None => out.tables.entry(tp.table.clone()).or_default(),
        };
        write_json_row(&tp.layout.columns, cells, buf);
        Ok(())
    }

    /// The `ingest_events` row, encoded as the pipeline does (serde_json `json!`).
    fn event_row(&self, j: &Judged, out: &mut Output) -> Result<()> {
        let tp = self.tp(j.topic);
        let rule_ids: Vec<&str> = j.findings.iter().map(|f| f.rule_id.as_str()).collect();
        let env = &j.env;
        serde_json::to_writer(
            &mut out.events,
            &serde_json::json!({
                "topic": tp.source_topic, "partition": 0, "offset": 0,
                "event_id": env.event_id, "entity_table": tp.table,
                "entity_id": env.entity_id, "entity_version": env.entity_version,
                "operation": env.operation, "la_code": env.la_code,
                "verdict": verdict_of(&j.findings).as_str(), "rule_ids": rule_ids,
                "schema_id": j.schema_id, "rules_version": tp.rules.version,
                "key_version": tp.key.version, "occurred_at": env.occurred_at,
                "published_at": env.published_at, "ingested_at": self.ingested_ms / 1000,
                "batch_id": "00000000-0000-0000-0000-000000000000",
            }),
        )
        .map_err(|e| Error::Run(e.to_string()))?;
        out.events.push(b'\n');
        Ok(())
    }

    /// Stage 6: the enriched event as Avro (what goes to `<topic>.enriched`).
    pub fn enriched_avro(&self, j: &Judged, cells: &[Scalar]) -> Result<Vec<u8>> {
        let tp = self.tp(j.topic);
        let schema = &self.enriched[&j.topic];
        let record = Value::Record(
            tp.layout
                .columns
                .iter()
                .zip(cells)
                .map(|(c, v)| (c.name.clone(), avro_cell(&c.ty, v)))
                .collect(),
        );
        GenericDatumWriter::builder(schema)
            .build()
            .and_then(|w| w.write_value_to_vec(record))
            .map_err(|e| Error::Run(format!("enriched avro: {e}")))
    }

    /// The whole chain for one event.
    pub fn process(&self, event: &Encoded, out: &mut Output) -> Result<()> {
        let (schema_id, value) = self.decode(event)?;
        let j = self.validate(event.topic, schema_id, &value)?;
        if verdict_of(&j.findings) == Verdict::Quarantine {
            return self.row(&j, &[], out);
        }
        let e = self.enrich(&j);
        let pseudo = self.pseudonymise(&j);
        let cells = self.cells(&j, &e, pseudo);
        self.row(&j, &cells, out)?;
        out.enriched_bytes += self.enriched_avro(&j, &cells)?.len();
        Ok(())
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
    pub enriched_avro: f64,
    pub chain: f64,
    pub events: usize,
}

impl StageCosts {
    pub fn chain_events_per_sec(&self) -> f64 {
        if self.chain > 0.0 {
            1e9 / self.chain
        } else {
            0.0
        }
    }
}

/// Times each stage over `events` (inputs of a stage are prepared before its clock starts),
/// repeating each loop `rounds` times and keeping the fastest round (least disturbed by the
/// other processes on the machine).
pub fn measure(chain: &Chain, events: &[Encoded], rounds: usize) -> Result<StageCosts> {
    use std::hint::black_box;
    use std::time::Instant;
    let n = events.len().max(1) as f64;
    let best = |f: &mut dyn FnMut() -> Result<()>| -> Result<f64> {
        let mut best = f64::MAX;
        for _ in 0..rounds.max(1) {
            let t = Instant::now();
            f()?;
            best = best.min(t.elapsed().as_nanos() as f64 / n);
        }
        Ok(best)
    };
    let decoded: Vec<(Topic, u32, Value)> = events
        .iter()
        .map(|e| chain.decode(e).map(|(id, v)| (e.topic, id, v)))
        .collect::<Result<_>>()?;
    let judged: Vec<Judged> = decoded
        .iter()
        .map(|(t, id, v)| chain.validate(*t, *id, v))
        .collect::<Result<_>>()?;
    let enriched: Vec<Enriched> = judged.iter().map(|j| chain.enrich(j)).collect();
    let pseudo: Vec<Vec<Scalar>> = judged.iter().map(|j| chain.pseudonymise(j)).collect();
    let cells: Vec<Vec<Scalar>> = judged
        .iter()
        .zip(&enriched)
        .zip(&pseudo)
        .map(|((j, e), p)| chain.cells(j, e, p.clone()))
        .collect();
    let mut out = Output::default();
    let decode = best(&mut || {
        for e in events {
            black_box(chain.decode(e)?);
        }
        Ok(())
    })?;
    let validate = best(&mut || {
        for (t, id, v) in &decoded {
            black_box(chain.validate(*t, *id, v)?);
        }
        Ok(())
    })?;
    let enrich = best(&mut || {
        for j in &judged {
            black_box(chain.enrich(j));
        }
        Ok(())
    })?;
    let pseudonymise = best(&mut || {
        for j in &judged {
            black_box(chain.pseudonymise(j));
        }
        Ok(())
    })?;
    let row = best(&mut || {
        out.clear();
        for ((j, e), p) in judged.iter().zip(&enriched).zip(&pseudo) {
            let c = chain.cells(j, e, p.clone());
            chain.row(j, &c, &mut out)?;
        }
        Ok(())
    })?;
    let enriched_avro = best(&mut || {
        for (j, c) in judged.iter().zip(&cells) {
            black_box(chain.enriched_avro(j, c)?);
        }
        Ok(())
    })?;
    let whole = best(&mut || {
        out.clear();
        for e in events {
            chain.process(e, &mut out)?;
        }
        Ok(())
    })?;
    Ok(StageCosts {
        decode,
        validate,
        enrich,
        pseudonymise,
        row,
        enriched_avro,
        chain: whole,
        events: events.len(),
    })
}
