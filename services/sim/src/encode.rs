//! Avro encoding against our schemas plus the Confluent wire framing, and the deliberate damage
//! for the malformed-bytes kinds.

use std::collections::HashMap;
use std::sync::Arc;

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;
use lgma_core::framing;

use crate::generator::{EventKind, GeneratedEvent, InvalidKind};
use crate::model::{ChangeEvent, Meta};
use crate::topics::Topic;
use crate::{Error, Result};

/// A topic's schema, its registry id, and a writer/reader built once (schema resolution is costly).
struct Entry {
    schema: &'static Schema,
    id: u32,
    writer: GenericDatumWriter<'static>,
    reader: GenericDatumReader<'static>,
}

/// Parsed schemas and their registry ids, per topic.
#[derive(Clone)]
pub struct Encoder {
    schemas: Arc<HashMap<Topic, Entry>>,
}

impl Encoder {
    /// With the ids the registry gave each topic's schema.
    pub fn new(ids: &HashMap<Topic, u32>) -> Result<Self> {
        let mut schemas = HashMap::new();
        for topic in Topic::ALL {
            let id = ids.get(&topic).copied().ok_or_else(|| Error::Schema {
                topic: topic.name().into(),
                reason: "no schema id (not registered)".into(),
            })?;
            // Leaked once per encoder (seven schemas per process) so the writer can borrow it.
            let schema: &'static Schema = Box::leak(Box::new(topic.schema()?));
            let err = |e: apache_avro::Error| Error::Schema {
                topic: topic.name().into(),
                reason: e.to_string(),
            };
            let writer = GenericDatumWriter::builder(schema).build().map_err(err)?;
            let reader = GenericDatumReader::builder(schema).build().map_err(err)?;
            schemas.insert(
                topic,
                Entry {
                    schema,
                    id,
                    writer,
                    reader,
                },
            );
        }
        Ok(Self {
            schemas: Arc::new(schemas),
        })
    }

    /// Schema ids 1..=7 in topic order: for tests and benchmarks that never talk to a registry.
    pub fn offline() -> Result<Self> {
        let ids = Topic::ALL
            .iter()
            .enumerate()
            .map(|(i, t)| (*t, i as u32 + 1))
            .collect();
        Self::new(&ids)
    }

    pub fn schema(&self, topic: Topic) -> Result<&Schema> {
        self.entry(topic).map(|e| e.schema)
    }

    pub fn schema_id(&self, topic: Topic) -> Result<u32> {
        self.entry(topic).map(|e| e.id)
    }

    fn entry(&self, topic: Topic) -> Result<&Entry> {
        self.schemas.get(&topic).ok_or_else(|| Error::Schema {
            topic: topic.name().into(),
            reason: "unknown topic".into(),
        })
    }

    /// The Avro body (no framing), validated against the topic's schema.
    pub fn encode_body(&self, event: &ChangeEvent) -> Result<Vec<u8>> {
        let topic = event.topic();
        let entry = self.entry(topic)?;
        let err = |e: apache_avro::Error| Error::Encode {
            topic: topic.name().into(),
            reason: e.to_string(),
        };
        let value = event.to_value()?.resolve(entry.schema).map_err(err)?;
        entry.writer.write_value_to_vec(value).map_err(err)
    }

    /// The Kafka value: Confluent-framed Avro, or the deliberately malformed bytes of that kind.
    pub fn encode(&self, generated: &GeneratedEvent) -> Result<Vec<u8>> {
        match generated.kind {
            EventKind::Invalid(InvalidKind::NotFramed) => generated.event.to_json(),
            EventKind::Invalid(InvalidKind::TruncatedAvro) => {
                let body = self.encode_body(&generated.event)?;
                let cut = body.len() / 2;
                Ok(framing::encode(
                    self.schema_id(generated.topic)?,
                    &body[..cut],
                ))
            }
            _ => {
                let body = self.encode_body(&generated.event)?;
                Ok(framing::encode(self.schema_id(generated.topic)?, &body))
            }
        }
    }

    /// Decodes a framed value of `topic` (used by tests and by `publish --dry-run` checks).
    pub fn decode(&self, topic: Topic, bytes: &[u8]) -> Result<ChangeEvent> {
        let framed = framing::decode(bytes)?;
        let entry = self.entry(topic)?;
        let mut body = framed.body;
        let value = entry
            .reader
            .read_value(&mut body)
            .map_err(|e| Error::Encode {
                topic: topic.name().into(),
                reason: e.to_string(),
            })?;
        if !body.is_empty() {
            return Err(Error::Encode {
                topic: topic.name().into(),
                reason: format!("{} trailing bytes after the datum", body.len()),
            });
        }
        ChangeEvent::from_value(topic, &value)
    }
}

/// Kafka headers carrying the envelope ids, so brokers' tools can route without decoding.
pub fn headers(meta: &Meta) -> [(&'static str, String); 4] {
    [
        ("event_id", meta.event_id.clone()),
        ("la_code", meta.la_code.clone()),
        ("entity_version", meta.entity_version.to_string()),
        ("operation", meta.operation.as_str().to_string()),
    ]
}
