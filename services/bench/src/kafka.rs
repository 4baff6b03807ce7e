//! The broker side: topics, schemas, producing the corpus, and the raw consume limit.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use lgma_core::kafka::KafkaSettings;
use lgma_publisher::produce::{require_topics, EventProducer};
use lgma_publisher::registry::RegistryClient;
use lgma_publisher::settings::Settings as PublisherSettings;
use lgma_sim::encode::Encoder;
use lgma_sim::topics::TopicNaming;
use lgma_sim::Topic;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::corpus::Encoded;
use crate::{Error, Result};

/// One set of uniquely named topics (source, enriched, DLQ) for one measurement.
#[derive(Debug, Clone)]
pub struct TopicSet {
    pub suffix: String,
    pub settings: PublisherSettings,
    /// Partitions of each source topic (the definitions' count is overridden for measurements).
    pub partitions: i32,
}

impl TopicSet {
    pub fn new(bootstrap: &str, registry: &str, suffix: &str, partitions: i32) -> Self {
        let settings = PublisherSettings {
            kafka: KafkaSettings {
                bootstrap_servers: bootstrap.into(),
                ..KafkaSettings::default()
            },
            registry_url: registry.into(),
            topics: TopicNaming {
                prefix: String::new(),
                suffix: suffix.into(),
            },
            ..PublisherSettings::default()
        };
        Self {
            suffix: suffix.into(),
            settings,
            partitions,
        }
    }

    pub fn names(&self) -> HashMap<Topic, String> {
        Topic::ALL
            .iter()
            .map(|t| (*t, self.settings.topics.topic(*t)))
            .collect()
    }

    pub fn source_topics(&self) -> Vec<String> {
        Topic::ALL
            .iter()
            .map(|t| self.settings.topics.topic(*t))
            .collect()
    }

    /// Registers the seven schemas (base subjects) and creates every topic the
    /// pipeline reads or writes (tansu cannot auto-create); returns the encoder with the ids.
    pub async fn prepare(&self) -> Result<Encoder> {
        let registry = RegistryClient::new(&self.settings.registry_url, None)?;
        // The shared local stack's registry may be restarted by a disruptive test: retry a little.
        let mut attempt = 0;
        let ids = loop {
            // Under the base subjects (`<topic>-value`): ids are global, so the suffixed topics
            // carry the same ids, and runs do not add 7 subjects each to the registry.
            match registry.register_all(&TopicNaming::default()).await {
                Ok(ids) => break ids,
                Err(e) if attempt < 5 => {
                    attempt += 1;
                    eprintln!("[bench] registry: {e}; retrying");
                    tokio::time::sleep(Duration::from_secs(3)).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        let mut all = self.source_topics();
        let mut others = Vec::new();
        for t in Topic::ALL {
            all.push(format!("{}.enriched{}", t.name(), self.suffix));
            others.push(format!("{}.enriched", t.name()));
        }
        all.push(format!("lgma.dlq{}", self.suffix));
        others.push("lgma.dlq".into());
        let sources: Vec<String> = Topic::ALL.iter().map(|t| t.name().to_string()).collect();
        self.create_defined(&sources, self.partitions).await?;
        self.create_defined(&others, 1).await?;
        require_topics(&self.settings, &all).await?;
        Ok(Encoder::new(&ids)?)
    }
}

impl TopicSet {
    /// Creates `names` (as defined in `infra/kafka/topics.toml`, with this set's suffix and the
    /// file's settings) through the stack's own `infra/tools/topics.py`, as tests do.
    async fn create_defined(&self, names: &[String], partitions: i32) -> Result<()> {
        let repo = crate::repo_root();
        let tools = std::env::var("LGMA_TOOLS").unwrap_or_else(|_| "/opt/lgma".into());
        let mut cmd = tokio::process::Command::new(format!("{tools}/venv/bin/python"));
        cmd.arg(repo.join("infra/tools/topics.py"))
            .args([
                "--quiet",
                "--bootstrap",
                &self.settings.kafka.bootstrap_servers,
            ])
            // `--suffix=` in one word: the suffix starts with `-`, which argparse would take for
            // an option.
            .arg(format!("--suffix={}", self.suffix))
            .args(["--partitions", &partitions.to_string()]);
        for name in names {
            cmd.args(["--only", name]);
        }
        let out = cmd
            .arg(repo.join("infra/kafka/topics.toml"))
            .output()
            .await?;
        if !out.status.success() {
            return Err(Error::Run(format!(
                "infra/tools/topics.py: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(())
    }
}

/// Produces `events` as fast as the broker acknowledges them; returns wall seconds to the last ack.
pub async fn publish(set: &TopicSet, events: &[Encoded]) -> Result<f64> {
    let names = set.names();
    let producer = EventProducer::new(&set.settings)?;
    let started = Instant::now();
    for e in events {
        producer
            .send(&names[&e.topic], &e.key, &e.value, &e.meta)
            .await?;
    }
    producer.flush(Duration::from_secs(300))?;
    if producer.failed() > 0 {
        return Err(Error::Run(format!(
            "{} of {} deliveries failed",
            producer.failed(),
            events.len()
        )));
    }
    Ok(started.elapsed().as_secs_f64())
}

/// What a raw consume pass saw.
#[derive(Debug, Clone, Copy)]
pub struct ConsumeStats {
    pub events: u64,
    pub bytes: u64,
    /// From the first record to the last (group join excluded, as for the pipeline).
    pub secs: f64,
}

/// Consumes `topics` from the beginning with no processing until `expected` records arrived.
/// Same fetch settings as the ingest service (prefetch bound); partitions are assigned
/// explicitly from the beginning (no group coordination: this is the broker's read limit).
pub fn raw_consume(bootstrap: &str, topics: &[String], expected: u64) -> Result<ConsumeStats> {
    let group = format!("lgma-bench-raw-{}", uuid::Uuid::new_v4().simple());
    let consumer: BaseConsumer = KafkaSettings {
        bootstrap_servers: bootstrap.into(),
        ..KafkaSettings::default()
    }
    .client_config_with(&[
        ("group.id", &group),
        ("enable.auto.commit", "false"),
        ("auto.offset.reset", "earliest"),
        // The service's own prefetch bound.
        (
            "queued.max.messages.kbytes",
            lgma_ingest::source::consumer::PREFETCH_KBYTES,
        ),
    ])
    .create()?;
    let mut assignment = TopicPartitionList::new();
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        for t in metadata.topics() {
            for p in t.partitions() {
                assignment.add_partition_offset(topic, p.id(), Offset::Beginning)?;
            }
        }
    }
    consumer.assign(&assignment)?;
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut first: Option<Instant> = None;
    let (mut events, mut bytes) = (0u64, 0u64);
    let mut last = Instant::now();
    while events < expected {
        if Instant::now() > deadline {
            return Err(Error::Run(format!(
                "raw consume: {events} of {expected} records after 600 s"
            )));
        }
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                first.get_or_insert_with(Instant::now);
                events += 1;
                bytes += (m.payload_len() + m.key().map_or(0, <[u8]>::len)) as u64;
                last = Instant::now();
            }
            Some(Err(e)) => return Err(e.into()),
            None => {}
        }
    }
    let secs = first.map_or(0.0, |f| last.duration_since(f).as_secs_f64());
    Ok(ConsumeStats {
        events,
        bytes,
        secs,
    })
}
