//! Decode: Confluent framing -> writer schema (registry, cached per id) -> resolved into our reader.
//!
//! A registry that is unreachable is a transient error (the batch is retried after backoff); a
//! schema id the registry does not know is a property of the record (quarantine).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;
use apache_avro::Schema;
use tokio::sync::RwLock;

use crate::schema::ReaderSchema;
use crate::{Error, Result};

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

/// Writer schemas by id, fetched once from the Confluent-compatible registry.
#[derive(Debug, Clone)]
pub struct Registry {
    http: reqwest::Client,
    url: String,
    cache: Arc<RwLock<HashMap<u32, Arc<Schema>>>>,
}

#[derive(serde::Deserialize)]
struct SchemaResponse {
    schema: String,
}

#[derive(serde::Deserialize)]
struct IdResponse {
    id: u32,
}

impl Registry {
    /// `url` may carry credentials (`https://user:password@host`): they are sent as basic auth on
    /// every request and kept out of the URL that errors and logs show. An `https://` registry is
    /// trusted through the web roots and `ca_file` (a private CA).
    pub fn new(url: &str, ca_file: Option<&std::path::Path>) -> Result<Self> {
        let (url, headers) = lgma_core::config::url_and_auth_headers(url)?;
        let http = lgma_core::tls::http_client(ca_file)?
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .default_headers(headers)
            .build()
            .map_err(|e| Error::Registry(e.to_string()))?;
        Ok(Self {
            http,
            url: url.trim_end_matches('/').to_string(),
            cache: Arc::default(),
        })
    }

    /// The writer schema of `id`; `Ok(Err(..))` when the registry answers that it has no such id.
    pub async fn writer_schema(
        &self,
        id: u32,
    ) -> Result<std::result::Result<Arc<Schema>, DecodeFailure>> {
        if let Some(schema) = self.cache.read().await.get(&id) {
            return Ok(Ok(schema.clone()));
        }
        let response = self
            .http
            .get(format!("{}/schemas/ids/{id}", self.url))
            .send()
            .await
            .map_err(|e| Error::Registry(format!("GET /schemas/ids/{id}: {e}")))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(Err(DecodeFailure::UnknownSchema(id)));
        }
        if !status.is_success() {
            return Err(Error::Registry(format!(
                "GET /schemas/ids/{id}: HTTP {status}"
            )));
        }
        let body: SchemaResponse = response
            .json()
            .await
            .map_err(|e| Error::Registry(format!("GET /schemas/ids/{id}: {e}")))?;
        let schema = match Schema::parse_str(&body.schema) {
            Ok(s) => Arc::new(s),
            Err(e) => return Ok(Err(DecodeFailure::BadSchema(id, e.to_string()))),
        };
        self.cache.write().await.insert(id, schema.clone());
        Ok(Ok(schema))
    }

    /// Registers `schema` under `subject` (idempotent in a Confluent registry) and returns its id.
    pub async fn register(&self, subject: &str, schema: &str) -> Result<u32> {
        let response = self
            .http
            .post(format!("{}/subjects/{subject}/versions", self.url))
            .header("Content-Type", "application/vnd.schemaregistry.v1+json")
            .json(&serde_json::json!({ "schema": schema }))
            .send()
            .await
            .map_err(|e| Error::Registry(format!("register {subject}: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            return Err(Error::Registry(format!(
                "register {subject}: HTTP {status}: {text}"
            )));
        }
        let body: IdResponse = response
            .json()
            .await
            .map_err(|e| Error::Registry(format!("register {subject}: {e}")))?;
        Ok(body.id)
    }
}

/// Decodes one Avro body written with `writer` into our reader schema.
pub fn decode_body(
    writer: &Schema,
    reader: &ReaderSchema,
    body: &[u8],
) -> std::result::Result<Value, DecodeFailure> {
    let datum_reader = GenericDatumReader::builder(writer)
        .reader_schema(&reader.schema)
        .build()
        .map_err(|e| DecodeFailure::Body(e.to_string()))?;
    let mut cursor = body;
    let value = datum_reader
        .read_value(&mut cursor)
        .map_err(|e| DecodeFailure::Body(e.to_string()))?;
    if !cursor.is_empty() {
        return Err(DecodeFailure::Body(format!(
            "{} trailing bytes after the record",
            cursor.len()
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::tests::{encode, event, old_writer_schema, payload, TEST_SCHEMA};
    use crate::schema::Scalar;

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
        assert_eq!(reader.leaves[0].pii, Some(crate::schema::Pii::Identifier));
        assert_eq!(cells[0], Scalar::Str("6433435F".into()));
        assert_eq!(cells[10], Scalar::List(vec![]));
        assert!(!format!("{value:?}").contains("leak"));
        let truncated = decode_body(&writer, &reader, &body[..body.len() / 2]);
        assert!(truncated.is_err(), "{truncated:?}");
    }
}
