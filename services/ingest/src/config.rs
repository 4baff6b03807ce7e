//! Settings: defaults, then `infra/config/ingest.toml`, then `LGMA_INGEST_*` env (`__` nests).
//!
//! Secrets (the ClickHouse password) are redacted when the settings are printed or logged; the
//! pseudonymisation keys are not settings at all, only the path of the file holding them.

use std::fmt;
use std::path::{Path, PathBuf};

use lgma_core::kafka::KafkaSettings;
use serde::{Deserialize, Serialize};

use crate::Result;

pub const ENV_PREFIX: &str = "LGMA_INGEST_";

/// librdkafka's `compression.type` values ([`Settings::enriched_compression`]).
const COMPRESSIONS: [&str; 5] = ["none", "lz4", "zstd", "gzip", "snappy"];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub kafka: KafkaSettings,
    pub group_id: String,
    /// `group` (subscribe; instances share partitions, rebalances) or `manual` (assign every
    /// partition of the topics to this one instance: no group coordination at all).
    pub assignment: Assignment,
    /// Appended to every topic name (source, enriched and DLQ); tests use a unique suffix per run.
    pub topic_suffix: String,
    pub topics: Vec<TopicSettings>,
    pub dlq_topic: String,
    /// Publish validated events to `<topic>.enriched`; off only for benchmarks.
    pub publish_enriched: bool,
    /// `compression.type` of what ingest publishes (enriched events, DLQ records): one of
    /// librdkafka's `none`, `lz4`, `zstd`, `gzip`, `snappy`. `lz4` unless set: smaller topics on
    /// a production Kafka. The local stack sets `none`: tansu inflates every compressed batch
    /// before it stores it, and without compression the pipeline ran 15 % faster there
    /// (BENCHMARKS.md, session 18). `[kafka.properties]` still wins.
    pub enriched_compression: String,
    /// The enriched events' `event_id` and `la_code` Kafka headers (both are fields of the event
    /// too): on unless set. The local stack turns them off: tansu stores each header with its own
    /// INSERT joined across four tables (the pipeline ran ~60 % faster without; BENCHMARKS.md,
    /// session 19).
    pub enriched_headers: bool,
    pub batch: BatchSettings,
    pub registry_url: String,
    /// PEM file of a private CA that signed an `https://` registry's certificate (besides the web roots).
    pub registry_ca_file: Option<PathBuf>,
    pub clickhouse: ClickHouseSettings,
    /// Directory holding `<topic>.avsc` reader schemas (the `pii` tags of these decide).
    pub schemas_dir: PathBuf,
    /// Directory holding `<entity>.toml` validation rules.
    pub rules_dir: PathBuf,
    /// TOML file with one HMAC key per domain (see infra/config/keys.example.toml).
    pub keys_file: PathBuf,
    pub metrics_listen: String,
    pub log_json: bool,
    /// How long a shutdown (SIGTERM, SIGINT) may spend writing the last batch and waiting for
    /// those in flight before the service exits anyway (code 130), as Vector's
    /// `--graceful-shutdown-limit-secs`. Nothing is lost either way: what was not recorded is
    /// re-read from the offsets of record on restart. A second signal exits at once.
    pub shutdown_limit_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Assignment {
    Group,
    Manual,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TopicSettings {
    /// Base topic name, e.g. `lgma.planning.application`; the reader schema is `<topic>.avsc`.
    pub topic: String,
    /// Rules file stem and entity name, e.g. `planning.application`.
    pub entity: String,
    /// ClickHouse table stem: `<table>_history` and `<table>_current`.
    pub table: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct BatchSettings {
    /// Stays far below ClickHouse's max_insert_block_size (1,048,576) so one INSERT is one block.
    pub max_rows: usize,
    pub max_bytes: usize,
    /// A batch is written at most this long after its first record arrived (the latency floor
    /// at low rates; under a backlog batches fill by `max_rows` first). 250 ms: at most 4 INSERTs
    /// per table and second per instance, which ClickHouse's merges keep up with.
    pub max_wait_ms: u64,
    /// Batches written at once: the next batch's tables and enriched events are written while the
    /// previous one is still being written; offsets of record stay in batch order (`sink::order`).
    /// 1 writes one batch at a time. Unset: 2 on one server, 1 on a cluster (ClickHouse 18.16
    /// takes one quorum INSERT per table at a time).
    pub max_in_flight: Option<usize>,
}

impl Settings {
    /// Batches the consumer writes at once (see [`BatchSettings::max_in_flight`]).
    pub fn max_in_flight(&self) -> usize {
        let default = if self.clickhouse.is_cluster() { 1 } else { 2 };
        self.batch.max_in_flight.unwrap_or(default)
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ClickHouseSettings {
    pub url: String,
    pub user: String,
    /// Never printed: `Settings::redacted` blanks it for `print-config`, Debug hides it.
    pub password: String,
    pub database: String,
    /// PEM file of a private CA that signed an `https://` ClickHouse's certificate (besides the web roots).
    pub ca_file: Option<PathBuf>,
    /// Empty: one server (the default). Otherwise the `remote_servers` cluster whose Distributed
    /// tables ingest writes (`infra/tools/clustered.py`): every INSERT is synchronous and quorum-
    /// acknowledged, and the offset of record is read from every replica (README "On a cluster").
    pub cluster: String,
    /// The cluster listing every replica as its own shard, read for the offset of record and the
    /// stored versions; empty means `<cluster>_all` (the name `infra/cluster` gives it).
    pub replicas_cluster: String,
    /// Replicas that must hold a part before an INSERT is acknowledged (`insert_quorum`).
    pub insert_quorum: u32,
}

impl ClickHouseSettings {
    /// Whether ingest writes to a cluster (see `cluster`).
    pub fn is_cluster(&self) -> bool {
        !self.cluster.is_empty()
    }

    /// The cluster read for what is recorded on every replica.
    pub fn replicas_cluster(&self) -> String {
        if self.replicas_cluster.is_empty() {
            format!("{}_all", self.cluster)
        } else {
            self.replicas_cluster.clone()
        }
    }
}

impl fmt::Debug for ClickHouseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClickHouseSettings")
            .field("url", &self.url)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("database", &self.database)
            .field("ca_file", &self.ca_file)
            .field("cluster", &self.cluster)
            .field("replicas_cluster", &self.replicas_cluster)
            .field("insert_quorum", &self.insert_quorum)
            .finish()
    }
}

impl Default for ClickHouseSettings {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8123".into(),
            user: "lgma_writer".into(),
            password: "writer-local".into(),
            database: "lgma".into(),
            ca_file: None,
            cluster: String::new(),
            replicas_cluster: String::new(),
            insert_quorum: 2,
        }
    }
}

impl Default for BatchSettings {
    fn default() -> Self {
        Self {
            max_rows: 5_000,
            max_bytes: 8 * 1024 * 1024,
            max_wait_ms: 250,
            max_in_flight: None,
        }
    }
}

/// The seven council topics and the tables they land in.
pub fn default_topics() -> Vec<TopicSettings> {
    [
        (
            "lgma.homelessness.presentation",
            "homelessness.presentation",
            "hl_presentation",
        ),
        (
            "lgma.homelessness.placement",
            "homelessness.placement",
            "hl_placement",
        ),
        ("lgma.homelessness.exit", "homelessness.exit", "hl_exit"),
        (
            "lgma.housing.dwelling-unit",
            "housing.dwelling-unit",
            "housing_dwelling_unit",
        ),
        (
            "lgma.housing.need-assessment",
            "housing.need-assessment",
            "housing_need_assessment",
        ),
        (
            "lgma.planning.application",
            "planning.application",
            "planning_application",
        ),
        ("lgma.waste.return", "waste.return", "waste_return"),
    ]
    .into_iter()
    .map(|(topic, entity, table)| TopicSettings {
        topic: topic.into(),
        entity: entity.into(),
        table: table.into(),
    })
    .collect()
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            kafka: KafkaSettings::default(),
            group_id: "lgma-ingest".into(),
            assignment: Assignment::Group,
            topic_suffix: String::new(),
            topics: default_topics(),
            dlq_topic: "lgma.dlq".into(),
            publish_enriched: true,
            enriched_compression: "lz4".into(),
            enriched_headers: true,
            batch: BatchSettings::default(),
            registry_url: "http://127.0.0.1:8081".into(),
            registry_ca_file: None,
            clickhouse: ClickHouseSettings::default(),
            schemas_dir: "schemas".into(),
            rules_dir: "schemas/rules".into(),
            keys_file: "infra/config/keys.example.toml".into(),
            metrics_listen: "127.0.0.1:9181".into(),
            log_json: false,
            shutdown_limit_secs: 30,
        }
    }
}

impl Settings {
    /// The defaults with the schema, rules and example-key paths rooted at a checkout of this
    /// repository (tests, benchmarks).
    pub fn in_repo(repo: &Path) -> Self {
        Self {
            schemas_dir: repo.join("schemas"),
            rules_dir: repo.join("schemas/rules"),
            keys_file: repo.join("infra/config/keys.example.toml"),
            ..Self::default()
        }
    }

    /// Loads settings; relative paths are taken relative to the config file's folder (or the
    /// current folder without a file), so the service can be started from anywhere.
    pub fn load(file: Option<&Path>) -> Result<Self> {
        let mut settings: Settings = lgma_core::config::load(file, ENV_PREFIX)?;
        if let Some(base) = file.and_then(Path::parent) {
            for path in [
                &mut settings.schemas_dir,
                &mut settings.rules_dir,
                &mut settings.keys_file,
            ] {
                if path.is_relative() {
                    *path = base.join(&*path);
                }
            }
        }
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<()> {
        if self.topics.is_empty() {
            return Err(crate::Error::Config("no topics configured".into()));
        }
        if self.batch.max_rows == 0 || self.batch.max_rows > 500_000 {
            return Err(crate::Error::Config(
                "batch.max_rows must be 1..=500000 so one INSERT stays one ClickHouse block".into(),
            ));
        }
        if !COMPRESSIONS.contains(&self.enriched_compression.as_str()) {
            return Err(crate::Error::Config(format!(
                "enriched_compression must be one of {} (got {:?})",
                COMPRESSIONS.join(", "),
                self.enriched_compression
            )));
        }
        if !(1..=8).contains(&self.max_in_flight()) {
            return Err(crate::Error::Config(
                "batch.max_in_flight must be 1..=8 (batches written at once)".into(),
            ));
        }
        if self.clickhouse.is_cluster() && self.max_in_flight() > 1 {
            return Err(crate::Error::Config(
                "batch.max_in_flight must be 1 on a cluster: ClickHouse 18.16 refuses a second \
                 quorum INSERT into a table while one is pending"
                    .into(),
            ));
        }
        if self.clickhouse.is_cluster() && self.clickhouse.insert_quorum < 2 {
            return Err(crate::Error::Config(
                "clickhouse.insert_quorum must be >= 2 on a cluster: an acknowledged offset of \
                 record must survive the loss of a replica"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Refuses publicly known secrets outside development mode (`LGMA_DEV_MODE=1`): the committed
    /// example pseudonymisation keys (with a known key, a PPSN pseudonym is reversed by trying
    /// every PPSN) and the local stack's ClickHouse passwords. `keys` also checks the keys file.
    pub fn check_secrets(&self, keys: bool) -> Result<()> {
        lgma_core::config::require_secret(
            "clickhouse.password (LGMA_INGEST_CLICKHOUSE__PASSWORD)",
            &self.clickhouse.password,
            &lgma_core::config::LOCAL_PASSWORDS,
        )?;
        if keys {
            let domains =
                crate::transform::pseudonymise::Keys::load(&self.keys_file)?.example_key_domains();
            if !domains.is_empty() {
                lgma_core::config::unless_dev_mode(&format!(
                    "the pseudonymisation key of domain(s) {} in {} is a committed example key \
                     (public: its pseudonyms can be reversed by trying every identifier)",
                    domains.join(", "),
                    self.keys_file.display()
                ))?;
            }
        }
        Ok(())
    }

    /// A copy safe to print (the defaults pass through serde, so redaction cannot live there).
    pub fn redacted(&self) -> Self {
        let mut copy = self.clone();
        copy.clickhouse.password = "<redacted>".into();
        copy.kafka = copy.kafka.redacted();
        copy.registry_url = lgma_core::config::split_url_credentials(&copy.registry_url).0;
        copy
    }

    /// The topic actually consumed for a configured base topic.
    pub fn source_topic(&self, base: &str) -> String {
        format!("{base}{}", self.topic_suffix)
    }

    pub fn enriched_topic(&self, base: &str) -> String {
        format!("{base}.enriched{}", self.topic_suffix)
    }

    pub fn dlq(&self) -> String {
        format!("{}{}", self.dlq_topic, self.topic_suffix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_never_printed() {
        let s = Settings::default();
        let debug = format!("{s:?}");
        let rendered = lgma_core::config::render(&s.redacted()).expect("renders");
        assert!(!debug.contains("writer-local"));
        assert!(!rendered.contains("writer-local"));
        assert!(rendered.contains("<redacted>"));
    }

    #[test]
    fn suffix_applies_to_every_topic() {
        let s = Settings {
            topic_suffix: "-t1".into(),
            ..Settings::default()
        };
        assert_eq!(s.source_topic("lgma.waste.return"), "lgma.waste.return-t1");
        assert_eq!(
            s.enriched_topic("lgma.waste.return"),
            "lgma.waste.return.enriched-t1"
        );
        assert_eq!(s.dlq(), "lgma.dlq-t1");
    }

    #[test]
    fn a_cluster_needs_a_quorum_of_two() {
        let mut s = Settings::default();
        assert!(!s.clickhouse.is_cluster());
        s.clickhouse.cluster = "lgma".into();
        assert!(s.check().is_ok());
        assert_eq!(s.clickhouse.replicas_cluster(), "lgma_all");
        s.clickhouse.insert_quorum = 1;
        assert!(s.check().is_err());
    }

    #[test]
    fn batches_overlap_on_one_server_only() {
        let mut s = Settings::default();
        assert_eq!(s.max_in_flight(), 2);
        s.clickhouse.cluster = "lgma".into();
        assert_eq!(s.max_in_flight(), 1);
        assert!(s.check().is_ok());
        s.batch.max_in_flight = Some(2);
        assert!(s.check().is_err(), "two quorum INSERTs per table at once");
        s.clickhouse.cluster.clear();
        assert!(s.check().is_ok());
        s.batch.max_in_flight = Some(0);
        assert!(s.check().is_err());
    }

    /// The enriched output's settings. Compression: lz4 unless configured, none in the local
    /// stack's file; a value librdkafka does not know is refused at start with the allowed ones,
    /// not when the first batch is published. Headers: on unless configured, off in the stack's file.
    #[test]
    fn enriched_output_settings_default_and_are_checked() {
        let mut s = Settings::default();
        assert_eq!(s.enriched_compression, "lz4");
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let stack = Settings::load(Some(&repo.join("infra/config/ingest.toml"))).expect("loads");
        assert_eq!(stack.enriched_compression, "none");
        assert!(s.enriched_headers && !stack.enriched_headers);
        s.enriched_compression = "lz5".into();
        let err = s.check().expect_err("unknown codec").to_string();
        assert!(
            err.contains("enriched_compression") && err.contains("zstd"),
            "{err}"
        );
    }

    #[test]
    fn oversized_batches_rejected() {
        let mut s = Settings::default();
        s.batch.max_rows = 2_000_000;
        assert!(s.check().is_err());
    }
}
