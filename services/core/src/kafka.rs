//! Kafka client settings shared by every service.
//!
//! Locally this is just `127.0.0.1:9092` (tansu); in production `properties` carries whatever the
//! cluster needs (`security.protocol = "SASL_SSL"`, `sasl.mechanism`, `sasl.username`,
//! `sasl.password = "${file:...}"`, `ssl.ca.location`), so pointing at a real cluster is config only.
//! librdkafka is built with OpenSSL: TLS, SASL PLAIN, SCRAM-SHA-256/512 and OAUTHBEARER work.
//!
//! From the environment, a property's dots are written as underscores (no librdkafka property has
//! one): `LGMA_INGEST_KAFKA__PROPERTIES__SECURITY_PROTOCOL=SASL_SSL` sets `security.protocol`.

use std::collections::BTreeMap;

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct KafkaSettings {
    pub bootstrap_servers: String,
    /// Extra librdkafka properties, passed through verbatim. Numbers and booleans are taken as
    /// librdkafka takes them, as text: `fetch.wait.max.ms = 100` in a file, or
    /// `..._FETCH_WAIT_MAX_MS=100` from the environment (which arrives as a number).
    #[serde(deserialize_with = "properties_as_text")]
    pub properties: BTreeMap<String, String>,
}

fn properties_as_text<'de, D>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        Plain(String),
        Bool(bool),
        Int(i64),
        Float(f64),
    }
    let map = BTreeMap::<String, Text>::deserialize(deserializer)?;
    Ok(map
        .into_iter()
        .map(|(key, value)| {
            let text = match value {
                Text::Plain(s) => s,
                Text::Bool(b) => b.to_string(),
                Text::Int(i) => i.to_string(),
                Text::Float(f) => f.to_string(),
            };
            (key, text)
        })
        .collect())
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            bootstrap_servers: "127.0.0.1:9092".into(),
            properties: BTreeMap::new(),
        }
    }
}

/// Debug output (logs, panics) shows secret-looking properties redacted.
impl std::fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = self.redacted();
        f.debug_struct("KafkaSettings")
            .field("bootstrap_servers", &shown.bootstrap_servers)
            .field("properties", &shown.properties)
            .finish()
    }
}

impl KafkaSettings {
    /// A copy safe to print: secret-looking properties (`sasl.password`, `ssl.key.password`,
    /// `sasl.jaas.config`, ...) replaced.
    pub fn redacted(&self) -> Self {
        let mut copy = self.clone();
        for (key, value) in copy.properties.iter_mut() {
            if crate::config::is_secret_property(key) {
                *value = "<redacted>".into();
            }
        }
        copy
    }

    /// A client config with the bootstrap servers and pass-through properties set.
    ///
    /// librdkafka's fetch defaults are fine once the local broker has its header index
    /// (`infra/kafka/tansu-indexes.sql`); without it tansu 0.6 spends milliseconds per fetched
    /// record and large fetches look like a stalled broker.
    pub fn client_config(&self) -> ClientConfig {
        self.client_config_with(&[])
    }

    /// Bootstrap servers, then a service's own `overrides`, then `[kafka.properties]` (the
    /// operator's properties always win).
    pub fn client_config_with(&self, overrides: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        self.finish(config, overrides)
    }

    fn finish(&self, mut config: ClientConfig, overrides: &[(&str, &str)]) -> ClientConfig {
        for (key, value) in overrides {
            config.set(*key, *value);
        }
        // Dotted names (from files) first, then the environment's `_` spellings, so that the
        // environment wins when both name the same property, as it does for every other setting.
        let (dotted, from_env): (Vec<_>, Vec<_>) =
            self.properties.iter().partition(|(k, _)| !k.contains('_'));
        for (key, value) in dotted.into_iter().chain(from_env) {
            config.set(key.replace('_', "."), value);
        }
        config
    }

    /// Producer defaults every publisher of ours uses: idempotent, acks=all (tansu has no
    /// transactions, so idempotence is the strongest producer guarantee available).
    pub fn producer_config(&self) -> ClientConfig {
        self.producer_config_with(&[])
    }

    /// The producer defaults, then a service's own `overrides`, then `[kafka.properties]`: the
    /// operator's properties always win, whatever the service chose.
    pub fn producer_config_with(&self, overrides: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap_servers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", "lz4")
            .set("linger.ms", "5")
            // A slow broker (tansu on sqlite under load) must not make the client time out and
            // resend: resends surface as DuplicateSequenceNumber and epoch bumps, the path on which
            // tansu 0.6 was seen to crash its storage task. Wait long instead of retrying early.
            .set("request.timeout.ms", "120000")
            .set("message.timeout.ms", "300000");
        self.finish(config, overrides)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_properties_win_over_service_overrides_which_win_over_defaults() {
        let mut settings = KafkaSettings::default();
        settings.properties.insert("linger.ms".into(), "50".into());
        let config = settings.producer_config_with(&[("linger.ms", "0"), ("acks", "1")]);
        assert_eq!(config.get("linger.ms"), Some("50"));
        assert_eq!(config.get("acks"), Some("1"));
        assert_eq!(config.get("compression.type"), Some("lz4"));
        let config = settings.client_config_with(&[("linger.ms", "1"), ("group.id", "g")]);
        assert_eq!(config.get("linger.ms"), Some("50"));
        assert_eq!(config.get("group.id"), Some("g"));
        assert_eq!(config.get("bootstrap.servers"), Some("127.0.0.1:9092"));
    }

    /// Numbers and booleans are librdkafka values too: from a file, and from the environment,
    /// where `..._FETCH_WAIT_MAX_MS=100` arrives as a number (it used to stop the service).
    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature, test only
    fn numeric_and_boolean_properties_are_taken_as_text() {
        #[derive(Default, Serialize, Deserialize)]
        #[serde(default)]
        struct Service {
            kafka: KafkaSettings,
        }
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "s.toml",
                "[kafka.properties]\n\"fetch.wait.max.ms\" = 100\n\"enable.partition.eof\" = false\n",
            )?;
            jail.set_env("LGMA_KTEST_KAFKA__PROPERTIES__LINGER_MS", "20");
            let s: Service =
                crate::config::load(Some(std::path::Path::new("s.toml")), "LGMA_KTEST_")
                    .expect("loads");
            let config = s.kafka.client_config();
            assert_eq!(config.get("fetch.wait.max.ms"), Some("100"));
            assert_eq!(config.get("enable.partition.eof"), Some("false"));
            assert_eq!(config.get("linger.ms"), Some("20"));
            Ok(())
        });
    }

    #[test]
    fn properties_from_the_environment_get_their_dots_back() {
        let mut settings = KafkaSettings::default();
        settings
            .properties
            .insert("security_protocol".into(), "SASL_SSL".into());
        settings
            .properties
            .insert("sasl.mechanism".into(), "SCRAM-SHA-512".into());
        settings
            .properties
            .insert("ssl.ca.location".into(), "/etc/lgma/ca.pem".into());
        settings
            .properties
            .insert("ssl_ca_location".into(), "/from/env.pem".into());
        let config = settings.client_config();
        assert_eq!(config.get("ssl.ca.location"), Some("/from/env.pem"));
        assert_eq!(config.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(config.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
    }

    /// librdkafka accepts the settings the platform documents for a managed cluster (it refuses
    /// unknown or unsupported ones when a client is created, e.g. SSL without the `ssl` feature).
    #[test]
    fn sasl_ssl_and_scram_are_supported_by_the_built_librdkafka() {
        use rdkafka::producer::BaseProducer;
        let mut settings = KafkaSettings::default();
        for (k, v) in [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "ingest"),
            ("sasl.password", "x"),
        ] {
            settings.properties.insert(k.into(), v.into());
        }
        let producer: std::result::Result<BaseProducer, _> = settings.producer_config().create();
        assert!(producer.is_ok(), "{:?}", producer.err());
        settings
            .properties
            .insert("sasl.mechanism".into(), "OAUTHBEARER".into());
        let producer: std::result::Result<BaseProducer, _> = settings.producer_config().create();
        assert!(producer.is_ok(), "{:?}", producer.err());
    }
}
