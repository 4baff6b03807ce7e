//! The Confluent-compatible schema registry client: writer schemas by id (cached), and the
//! registration of the enriched topics' schemas.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use apache_avro::Schema;
use tokio::sync::RwLock;

use super::DecodeFailure;
use crate::{Error, Result};

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
