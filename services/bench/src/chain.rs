//! The ingest chain in-process, stage by stage: no broker, no ClickHouse, no registry.
//!
//! The whole-chain figure is the service's own code: `lgma_ingest::chain::Chain::process_offline`
//! on batches of raw records (what `Pipeline::process` runs between the consumer and the writes).
//! The stage figures call the service's public stage pieces in pipeline order — the compiled
//! writer→reader [`Resolution`], `check_envelope` / `check_payload`, the enricher, the
//! pseudonymiser, the table layout's JSONEachRow and Avro writers — so a regression points at the
//! module it lives in. Only the pseudonymise loop over the layout's columns is written here too.

use std::collections::HashMap;

use apache_avro::Schema;
use lgma_domain::{LocalAuthorities, StatutoryCalendar};
use lgma_ingest::chain::{Chain as ServiceChain, TopicPipeline};
use lgma_ingest::config::Settings;
use lgma_ingest::decode::resolve::{Decoded, Resolution};
use lgma_ingest::decode::schema::Scalar;
use lgma_ingest::encode::Batch;
use lgma_ingest::judge::validate::{check_envelope, check_payload, Envelope, Finding};
use lgma_ingest::source::RawRecord;
use lgma_ingest::transform::enrich::reference_cells;
use lgma_ingest::transform::layout::Source;
use lgma_ingest::transform::pseudonymise::Pseudonymiser;
use lgma_sim::encode::Encoder;
use lgma_sim::Topic;

use crate::corpus::Encoded;
use crate::{Error, Result};

/// After decode + validate: what the pipeline calls a judged record.
#[derive(Debug, Clone)]
pub struct Judged {
    pub topic: Topic,
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

pub struct Chain {
    service: ServiceChain,
    writers: HashMap<u32, Schema>,
    resolutions: HashMap<u32, (Topic, Resolution)>,
    councils: LocalAuthorities,
    calendar: StatutoryCalendar,
    pseudonymiser: Pseudonymiser,
    ingested_ms: i64,
}

/// The corpus as the consumer hands it to the pipeline: one partition per topic, offsets in order.
pub fn raw_records(events: &[Encoded]) -> Vec<RawRecord> {
    let mut next: HashMap<Topic, i64> = HashMap::new();
    events
        .iter()
        .map(|e| {
            let offset = next.entry(e.topic).or_default();
            *offset += 1;
            RawRecord {
                topic: e.topic.name().to_string(),
                partition: 0,
                offset: *offset - 1,
                key: Some(e.key.as_bytes().to_vec()),
                value: Some(e.value.clone()),
            }
        })
        .collect()
}

impl Chain {
    /// The service's chain for the seven council topics; writer schemas and their ids are the
    /// encoder's (what the registry would answer for them).
    pub fn new(repo: &std::path::Path, encoder: &Encoder) -> Result<Self> {
        let settings = Settings::in_repo(repo);
        let service = ServiceChain::new(&settings)?;
        let mut writers = HashMap::new();
        let mut resolutions = HashMap::new();
        for topic in Topic::ALL.iter() {
            let id = encoder.schema_id(*topic)?;
            let writer = encoder.schema(*topic)?.clone();
            let tp = service
                .topics
                .get(topic.name())
                .ok_or_else(|| Error::Run(format!("{} not configured", topic.name())))?;
            let resolution = Resolution::compile(&writer, &tp.schema).map_err(Error::Run)?;
            resolutions.insert(id, (*topic, resolution));
            writers.insert(id, writer);
        }
        Ok(Self {
            service,
            writers,
            resolutions,
            councils: LocalAuthorities::embedded().map_err(|e| Error::Run(e.to_string()))?,
            calendar: StatutoryCalendar::embedded().map_err(|e| Error::Run(e.to_string()))?,
            pseudonymiser: Pseudonymiser::new(),
            ingested_ms: chrono::Utc::now().timestamp_millis(),
        })
    }

    fn tp(&self, topic: Topic) -> Result<&TopicPipeline> {
        self.service
            .topics
            .get(topic.name())
            .ok_or_else(|| Error::Run(format!("{} not configured", topic.name())))
    }

    /// Stage 1: framing -> the writer's compiled resolution (built once per schema id) -> cells.
    pub fn decode(&self, event: &Encoded) -> Result<Decoded> {
        let framed = lgma_core::framing::decode(&event.value)
            .map_err(|e| Error::Run(format!("framing: {e}")))?;
        let (_, resolution) = self
            .resolutions
            .get(&framed.schema_id)
            .ok_or_else(|| Error::Run(format!("schema id {}", framed.schema_id)))?;
        resolution
            .decode(framed.body)
            .map_err(|e| Error::Run(e.message()))
    }

    /// Stage 2: envelope checks and the entity's rules (the decoded cells are copied first: the
    /// rules normalise cells in place).
    pub fn validate(&self, topic: Topic, decoded: &Decoded) -> Result<Judged> {
        let tp = self.tp(topic)?;
        let mut env = Envelope::from_scalars(&decoded.envelope);
        let mut cells = decoded.cells.clone();
        let mut findings = check_envelope(&mut env, decoded.has_payload, &self.councils);
        if decoded.has_payload {
            findings.extend(check_payload(&tp.schema, &tp.rules, &mut cells));
        }
        Ok(Judged {
            topic,
            env,
            cells,
            has_payload: decoded.has_payload,
            findings,
        })
    }

    /// Stage 3: council reference data and derived measures (statutory calendar, bands...).
    pub fn enrich(&self, j: &Judged) -> Result<Enriched> {
        let tp = self.tp(j.topic)?;
        let derived = if j.has_payload {
            tp.enricher.derive(&j.env, &j.cells, &self.calendar)
        } else {
            vec![Scalar::Null; tp.enricher.columns().len()]
        };
        Ok(Enriched {
            reference: reference_cells(&self.councils, &j.env.la_code),
            derived,
        })
    }

    /// Stage 4: keyed HMAC of identifiers, age bands, Eircode routing keys (one cell per tagged
    /// column of the layout, as the service computes them).
    pub fn pseudonymise(&self, j: &Judged) -> Result<Vec<Scalar>> {
        let tp = self.tp(j.topic)?;
        let event_day =
            chrono::DateTime::from_timestamp_millis(j.env.occurred_at).map(|t| t.date_naive());
        Ok(tp
            .layout
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
                Source::Grid(i) => Some(
                    j.cells
                        .get(*i)
                        .map_or(Scalar::Null, lgma_ingest::transform::pseudonymise::grid_1km),
                ),
                _ => None,
            })
            .collect())
    }

    /// The entity-row cells of every accepted / warned record, built by the service: the input
    /// of the two encoding stages.
    pub fn entity_cells(&self, records: &[RawRecord]) -> Vec<(&TopicPipeline, Vec<Scalar>)> {
        self.service
            .entity_cells_offline(records, &self.writers, self.ingested_ms)
    }

    /// Stage 5: the entity row as JSONEachRow (the table layout's writer).
    pub fn row(tp: &TopicPipeline, cells: &[Scalar], out: &mut Vec<u8>) {
        tp.layout.write_json_row(cells, out);
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

/// The service's batch size: the whole chain runs on batches of this many records.
pub const BATCH: usize = 5_000;

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
    let records = raw_records(events);
    let decoded: Vec<(Topic, Decoded)> = events
        .iter()
        .map(|e| chain.decode(e).map(|d| (e.topic, d)))
        .collect::<Result<_>>()?;
    let judged: Vec<Judged> = decoded
        .iter()
        .map(|(t, d)| chain.validate(*t, d))
        .collect::<Result<_>>()?;
    let cells = chain.entity_cells(&records);
    let mut buf = Vec::with_capacity(1 << 20);
    let decode = best(&mut || {
        for e in events {
            black_box(chain.decode(e)?);
        }
        Ok(())
    })?;
    let validate = best(&mut || {
        for (t, d) in &decoded {
            black_box(chain.validate(*t, d)?);
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
    let enriched_avro = best(&mut || {
        for (tp, c) in &cells {
            buf.clear();
            Chain::enriched_avro(tp, c, &mut buf);
            black_box(&buf);
        }
        Ok(())
    })?;
    let whole = best(&mut || {
        for batch in records.chunks(BATCH) {
            black_box(chain.process(batch)?);
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
