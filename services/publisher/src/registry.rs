//! Registers our schemas with the registry over the Confluent REST API and caches the ids.
//!
//! `POST /subjects/<subject>/versions` is idempotent: registering an identical schema again returns
//! the existing id, so every run can simply register before producing.

use std::collections::HashMap;

use serde::Deserialize;

use crate::{Error, Result};
use lgma_sim::topics::{Topic, TopicNaming};

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

#[derive(Debug, Clone)]
pub struct RegistryClient {
    base: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct IdResponse {
    id: u32,
}

impl RegistryClient {
    /// `base_url` may carry credentials (`https://user:password@host`): they are sent as basic
    /// auth on every request and kept out of the URL that errors show. An `https://` registry is
    /// trusted through the web roots and `ca_file` (a private CA).
    pub fn new(base_url: &str, ca_file: Option<&std::path::Path>) -> Result<Self> {
        let (clean, headers) = lgma_core::config::url_and_auth_headers(base_url)?;
        let base_url = clean.as_str();
        let http = lgma_core::tls::http_client(ca_file)?
            .timeout(std::time::Duration::from_secs(15))
            .default_headers(headers)
            .build()
            .map_err(|e| Error::Registry {
                url: base_url.into(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            base: base_url.trim_end_matches('/').to_string(),
            http,
        })
    }

    /// Registers `schema` under `subject`; returns its global id.
    pub async fn register(&self, subject: &str, schema: &str) -> Result<u32> {
        let url = format!("{}/subjects/{}/versions", self.base, subject);
        let err = |reason: String| Error::Registry {
            url: url.clone(),
            reason,
        };
        let response = self
            .http
            .post(&url)
            .header("Content-Type", CONTENT_TYPE)
            .json(&serde_json::json!({ "schema": schema }))
            .send()
            .await
            .map_err(|e| err(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(err(format!("HTTP {status}: {body}")));
        }
        let parsed: IdResponse = response.json().await.map_err(|e| err(e.to_string()))?;
        Ok(parsed.id)
    }

    /// Registers all seven topic schemas under `<topic>-value`, returning the id per topic.
    pub async fn register_all(&self, naming: &TopicNaming) -> Result<HashMap<Topic, u32>> {
        let mut ids = HashMap::new();
        for topic in Topic::ALL {
            let id = self
                .register(&naming.subject(topic), topic.schema_json())
                .await?;
            ids.insert(topic, id);
        }
        Ok(ids)
    }
}
