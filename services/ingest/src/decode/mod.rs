//! Decode: Confluent framing -> writer schema (registry, cached per id) -> resolved into our reader.
//!
//! A registry that is unreachable is a transient error (the batch is retried after backoff); a
//! schema id the registry does not know is a property of the record (quarantine).

use std::sync::Arc;

use apache_avro::Schema;

#[cfg(any(test, feature = "reference"))]
pub mod reference;
pub mod registry;
pub mod resolve;
pub mod schema;

pub use schema::{ReaderSchema, Scalar, Text};

/// The distinct schema ids a batch's framed records name, in first-seen order: the writer
/// schemas the batch needs (records that are not framed are judged without one).
pub fn schema_ids(records: &[crate::source::RawRecord]) -> Vec<u32> {
    let mut ids = Vec::new();
    for raw in records {
        if let Some(Ok(framed)) = raw.value.as_deref().map(lgma_core::framing::decode) {
            if !ids.contains(&framed.schema_id) {
                ids.push(framed.schema_id);
            }
        }
    }
    ids
}

/// Why a record could not be decoded (each maps to a quarantine rule id).
#[derive(Debug, Clone, PartialEq)]
pub enum DecodeFailure {
    Tombstone,
    NotFramed(String),
    UnknownSchema(u32),
    BadSchema(u32, String),
    Body(String),
}

impl DecodeFailure {
    pub fn rule_id(&self) -> &'static str {
        match self {
            DecodeFailure::Tombstone => "envelope.tombstone",
            DecodeFailure::NotFramed(_) => "envelope.not_framed",
            DecodeFailure::UnknownSchema(_) => "envelope.schema_unknown",
            DecodeFailure::BadSchema(..) => "envelope.schema_invalid",
            DecodeFailure::Body(_) => "envelope.decode",
        }
    }
    pub fn message(&self) -> String {
        match self {
            DecodeFailure::Tombstone => {
                "null value (Kafka tombstone): deletes must be DELETE events".into()
            }
            DecodeFailure::NotFramed(e) => format!("not Confluent wire format: {e}"),
            DecodeFailure::UnknownSchema(id) => format!("schema id {id} is not in the registry"),
            DecodeFailure::BadSchema(id, e) => format!("schema id {id} does not parse: {e}"),
            DecodeFailure::Body(e) => {
                format!("Avro body does not decode with the writer schema into ours: {e}")
            }
        }
    }
}

/// A writer schema owned by the registry cache or borrowed from the caller (offline runs).
pub enum WriterRef<'s> {
    Shared(Arc<Schema>),
    Borrowed(&'s Schema),
}

impl WriterRef<'_> {
    pub fn schema(&self) -> &Schema {
        match self {
            WriterRef::Shared(s) => s,
            WriterRef::Borrowed(s) => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::reference::decode_body;
    use crate::decode::schema::tests::{encode, event, old_writer_schema, payload, TEST_SCHEMA};
    use crate::decode::schema::Scalar;

    #[test]
    fn old_writer_without_a_field_resolves_into_reader() {
        let reader = ReaderSchema::parse("t", TEST_SCHEMA).expect("reader");
        // The writer lacks `tags` (reader default []) and has an extra field our schema does not know.
        let writer = old_writer_schema(false);
        let body = encode(&writer, event(Some(payload(true)), false));
        let value = decode_body(&writer, &reader, &body).expect("decodes");
        let (env, cells) = reader.flatten(&value).expect("flattens");
        assert_eq!(env[2], Scalar::Str("E1".into()));
        // Our reader's pii tag applies even though the writer dropped it.
        assert_eq!(
            reader.leaves[0].pii,
            Some(crate::decode::schema::Pii::Identifier)
        );
        assert_eq!(cells[0], Scalar::Str("6433435F".into()));
        assert_eq!(cells[10], Scalar::List(vec![]));
        assert!(!format!("{value:?}").contains("leak"));
        let truncated = decode_body(&writer, &reader, &body[..body.len() / 2]);
        assert!(truncated.is_err(), "{truncated:?}");
    }
}
