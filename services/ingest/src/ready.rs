//! What `/ready` probes for `lgma-ingest run`: ClickHouse and the broker (required: without them
//! no batch can be written or read) and the schema registry (optional: ingest keeps going on the
//! writer schemas it has cached; records with an uncached schema id wait).

use std::time::Duration;

use lgma_core::ops::Dependency;

use crate::config::Settings;
use crate::sink::ClickHouse;
use crate::{Error, Result};

pub fn dependencies(settings: &Settings) -> Result<Vec<Dependency>> {
    let clickhouse = ClickHouse::new(settings.clickhouse.clone())?;
    let (registry_url, headers) = lgma_core::config::url_and_auth_headers(&settings.registry_url)?;
    // The same TLS trust as ingest's registry client (web roots + registry_ca_file).
    let http = lgma_core::tls::http_client(settings.registry_ca_file.as_deref())?
        .default_headers(headers)
        .timeout(Duration::from_secs(3))
        .build()
        .map_err(|e| Error::Config(format!("registry probe client: {e}")))?;
    let subjects = format!("{}/subjects", registry_url.trim_end_matches('/'));
    Ok(vec![
        Dependency::required("clickhouse", move || {
            let clickhouse = clickhouse.clone();
            async move { clickhouse.ping().await.map_err(|e| e.to_string()) }
        }),
        lgma_core::ops::broker_probe(&settings.kafka)?,
        Dependency::optional(
            "registry",
            "ingest goes on with cached writer schemas; records of an uncached schema id wait",
            move || {
                let request = http.get(&subjects);
                async move {
                    let response = request.send().await.map_err(|e| e.to_string())?;
                    if response.status().is_success() {
                        Ok(())
                    } else {
                        Err(format!("GET /subjects answered {}", response.status()))
                    }
                }
            },
        ),
    ])
}
