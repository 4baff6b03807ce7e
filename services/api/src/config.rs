//! Settings: defaults, then `infra/config/api.toml`, then `LGMA_API_*` env (`__` nests).
//!
//! Passwords come from the environment in practice (`LGMA_API_CLICKHOUSE__READER_PASSWORD`); the
//! printed form (`--print-config`) redacts them, without touching the values the loader merges.

use std::fmt;
use std::path::{Path, PathBuf};

use lgma_core::kafka::KafkaSettings;
use serde::{Deserialize, Serialize};

use crate::Result;

pub const ENV_PREFIX: &str = "LGMA_API_";

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address the HTTP server binds.
    pub listen: String,
    pub log_json: bool,
    /// TOML file of bearer tokens (sha256 of the token) and their roles; none = anonymous only.
    pub tokens_file: Option<PathBuf>,
    /// Published open-data cells below this count are suppressed (primary suppression).
    pub suppression_threshold: u64,
    /// Larger request bodies get 413 (the API only reads query strings).
    pub max_body_bytes: usize,
    pub default_page_size: u32,
    pub max_page_size: u32,
    pub clickhouse: ClickHouseSettings,
    /// The broker, read only by `/v1/reconcile` (its offsets per partition).
    pub kafka: KafkaSettings,
    /// The council topics `/v1/reconcile` accounts for.
    pub reconcile_topics: Vec<String>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClickHouseSettings {
    pub url: String,
    pub database: String,
    /// Read-only user (readonly profile): every query of the API runs as this user.
    pub reader_user: String,
    pub reader_password: String,
    /// Only used to append to the access audit table: `lgma_audit` (no DDL; on a current server
    /// INSERT on `api_access_audit` only, infra/clickhouse/grants.sql).
    pub writer_user: String,
    pub writer_password: String,
    /// PEM file of a private CA that signed an `https://` ClickHouse's certificate (besides the web roots).
    pub ca_file: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            log_json: false,
            tokens_file: None,
            suppression_threshold: 10,
            max_body_bytes: 64 * 1024,
            default_page_size: 100,
            max_page_size: 1000,
            clickhouse: ClickHouseSettings::default(),
            kafka: KafkaSettings::default(),
            reconcile_topics: lgma_core::reconcile::COUNCIL_TOPICS
                .iter()
                .map(|t| (*t).to_string())
                .collect(),
        }
    }
}

impl Default for ClickHouseSettings {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8123".into(),
            database: "lgma".into(),
            reader_user: "lgma_reader".into(),
            reader_password: "reader-local".into(),
            writer_user: "lgma_audit".into(),
            writer_password: "audit-local".into(),
            ca_file: None,
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("tokens_file", &self.tokens_file)
            .field("suppression_threshold", &self.suppression_threshold)
            .field("clickhouse.url", &self.clickhouse.url)
            .field("clickhouse.reader_user", &self.clickhouse.reader_user)
            .field("clickhouse.writer_user", &self.clickhouse.writer_user)
            .finish_non_exhaustive()
    }
}

impl Settings {
    pub fn load(file: Option<&Path>) -> Result<Self> {
        let s: Self = lgma_core::config::load(file, ENV_PREFIX)?;
        s.check()?;
        Ok(s)
    }

    fn check(&self) -> Result<()> {
        if self.suppression_threshold == 0 {
            return Err(crate::Error::Config(
                "suppression_threshold must be at least 1".into(),
            ));
        }
        if self.default_page_size == 0 || self.default_page_size > self.max_page_size {
            return Err(crate::Error::Config(
                "default_page_size must be between 1 and max_page_size".into(),
            ));
        }
        Ok(())
    }

    /// Refuses the local stack's (public) or empty ClickHouse passwords outside development mode.
    pub fn check_secrets(&self) -> Result<()> {
        use lgma_core::config::{require_secret, LOCAL_PASSWORDS};
        require_secret(
            "clickhouse.reader_password (LGMA_API_CLICKHOUSE__READER_PASSWORD)",
            &self.clickhouse.reader_password,
            &LOCAL_PASSWORDS,
        )?;
        require_secret(
            "clickhouse.writer_password (LGMA_API_CLICKHOUSE__WRITER_PASSWORD)",
            &self.clickhouse.writer_password,
            &LOCAL_PASSWORDS,
        )?;
        Ok(())
    }

    /// A copy safe to print: passwords replaced.
    pub fn redacted(&self) -> Self {
        let mut s = self.clone();
        s.clickhouse.reader_password = "<redacted>".into();
        s.clickhouse.writer_password = "<redacted>".into();
        s.kafka = s.kafka.redacted();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_redaction_hides_passwords() {
        let s = Settings::default();
        s.check().expect("defaults valid");
        let printed = lgma_core::config::render(&s.redacted()).expect("renders");
        assert!(!printed.contains("reader-local"));
        assert!(!printed.contains("audit-local"));
        assert_eq!(s.clickhouse.writer_user, "lgma_audit");
        assert!(!format!("{s:?}").contains("reader-local"));
        assert_eq!(s.suppression_threshold, 10);
        assert_eq!(s.listen, "127.0.0.1:8080");
    }

    #[test]
    fn zero_threshold_rejected() {
        let s = Settings {
            suppression_threshold: 0,
            ..Settings::default()
        };
        assert!(s.check().is_err());
    }
}
