//! Registry settings: defaults, then `--config` TOML, then `LGMA_REGISTRY_*` environment variables.

use std::path::PathBuf;

use lgma_core::kafka::KafkaSettings;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Address the HTTP API listens on.
    pub listen: String,
    /// JSON logs for log shippers; plain text otherwise.
    pub json_logs: bool,
    pub kafka: KafkaSettings,
    pub store: StoreSettings,
    pub http: HttpSettings,
    pub auth: AuthSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreSettings {
    /// The compacted topic holding every schema, config and mode record (Confluent's `_schemas`).
    pub topic: String,
    /// Create the topic (1 partition, compacted) when it does not exist.
    pub create_topic: bool,
    /// How long to wait for the broker at start before giving up with a non-zero exit.
    pub startup_timeout_secs: u64,
    /// How long a write waits to see its own record in the log before failing with 50002.
    pub write_timeout_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpSettings {
    /// Largest accepted request body; bigger bodies get 413.
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AuthSettings {
    /// TOML file of users (`[[users]] name, password_sha256, role = "read" | "write" | "admin"`,
    /// `subjects = ["prefix.", ...]` for `write`). Required unless `allow_anonymous`.
    pub users_file: Option<PathBuf>,
    /// Local development only: without a users file, serve everyone with full rights (a loud
    /// warning is logged). Off by default: without a users file the registry refuses to start.
    /// Ignored when `users_file` is set.
    pub allow_anonymous: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8081".into(),
            json_logs: false,
            kafka: KafkaSettings::default(),
            store: StoreSettings::default(),
            http: HttpSettings::default(),
            auth: AuthSettings::default(),
        }
    }
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            topic: "_schemas".into(),
            create_topic: true,
            startup_timeout_secs: 30,
            write_timeout_secs: 15,
        }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 2 * 1024 * 1024,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(relative: &str) -> Settings {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
        toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// Production has auth on; only the local development config allows anonymous access.
    #[test]
    fn production_example_has_auth_on_and_local_config_is_anonymous() {
        let production = read("../../infra/deploy/registry.toml.example");
        assert!(production.auth.users_file.is_some());
        assert!(!production.auth.allow_anonymous);
        let local = read("../../infra/config/registry.toml");
        assert!(local.auth.allow_anonymous);
        assert!(local.auth.users_file.is_none());
        assert!(!Settings::default().auth.allow_anonymous);
    }
}
