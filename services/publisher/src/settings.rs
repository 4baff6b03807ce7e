//! Publisher settings: defaults → `infra/config/publisher.toml` → `LGMA_PUBLISHER_*` env vars.

use lgma_core::kafka::KafkaSettings;
use serde::{Deserialize, Serialize};

use lgma_sim::topics::TopicNaming;

pub const ENV_PREFIX: &str = "LGMA_PUBLISHER_";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub kafka: KafkaSettings,
    pub registry_url: String,
    /// PEM file of a private CA that signed an `https://` registry's certificate (besides the web roots).
    pub registry_ca_file: Option<std::path::PathBuf>,
    pub topics: TopicNaming,
    /// Seconds between progress lines on long runs.
    pub progress_interval_secs: u64,
    /// Log (and report progress) as one JSON object per line on standard error, for log
    /// shippers; command output (ids, summaries, samples) stays on standard output.
    pub log_json: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            kafka: KafkaSettings::default(),
            registry_url: "http://127.0.0.1:8081".into(),
            registry_ca_file: None,
            topics: TopicNaming::default(),
            progress_interval_secs: 5,
            log_json: false,
        }
    }
}
