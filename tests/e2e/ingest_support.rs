//! Shared set-up for the ingest end-to-end tests: unique topics, registered schemas, a config
//! file, the `lgma-ingest` binary as a child process, a producer and ClickHouse queries.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use lgma_e2e::{clickhouse_url, create_defined_topics, kafka_bootstrap, registry_url};
use lgma_publisher::registry::RegistryClient;
use lgma_sim::encode::Encoder;
use lgma_sim::model::ChangeEvent;
use lgma_sim::topics::TopicNaming;
use lgma_sim::{GeneratedEvent, Generator, GeneratorConfig, Topic};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use serde::de::DeserializeOwned;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The debug build, or the binary named by `LGMA_E2E_INGEST_BIN` (relative to the repository),
/// e.g. `target/release/lgma-ingest` to measure the release build.
pub fn ingest_binary() -> PathBuf {
    let bin = repo().join(
        std::env::var("LGMA_E2E_INGEST_BIN").unwrap_or_else(|_| "target/debug/lgma-ingest".into()),
    );
    assert!(
        bin.exists(),
        "{} missing: run `cargo build -p lgma-ingest` (or `infra/stack build`) first",
        bin.display()
    );
    bin
}

/// One isolated test world: its own topics (suffix), consumer group and config file.
pub struct World {
    pub suffix: String,
    pub naming: TopicNaming,
    pub encoder: Encoder,
    pub producer: FutureProducer,
    pub config: PathBuf,
    pub dir: PathBuf,
    pub topics: Vec<Topic>,
    /// ClickHouse URL written into the config instead of the stack's (e.g. a fault proxy).
    pub clickhouse_override: std::sync::Mutex<Option<String>>,
    /// Registry URL written into the config instead of the stack's (e.g. a fault proxy).
    pub registry_override: std::sync::Mutex<Option<String>>,
    /// Rules folder written into the config instead of `schemas/rules`.
    pub rules_override: std::sync::Mutex<Option<PathBuf>>,
}

/// A TCP proxy in front of a shared service (ClickHouse, the registry) that can be switched off
/// and on, to simulate an outage without touching the shared server. Switching it off refuses new
/// connections AND cuts the open ones (kept-alive HTTP connections must not outlive the outage).
/// Stalling it cuts the open ones and then accepts connections that never answer (a server that
/// hangs rather than refuses: requests wait for their client's timeout).
pub struct FaultProxy {
    pub url: String,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    stalled: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cut: std::sync::Arc<tokio::sync::Notify>,
}

impl FaultProxy {
    pub async fn start(target: &str) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let stalled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cut = std::sync::Arc::new(tokio::sync::Notify::new());
        let flag = up.clone();
        let stall = stalled.clone();
        let cut_all = cut.clone();
        let target = target
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !flag.load(std::sync::atomic::Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let cut = cut_all.clone();
                if stall.load(std::sync::atomic::Ordering::SeqCst) {
                    tokio::spawn(async move {
                        cut.notified().await;
                        drop(inbound);
                    });
                    continue;
                }
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                            _ = cut.notified() => {}
                        }
                    }
                });
            }
        });
        Ok(Self {
            url,
            up,
            stalled,
            cut,
        })
    }

    pub fn set_stalled(&self, stalled: bool) {
        self.stalled
            .store(stalled, std::sync::atomic::Ordering::SeqCst);
        self.cut.notify_waiters();
    }

    pub fn set_up(&self, up: bool) {
        self.up.store(up, std::sync::atomic::Ordering::SeqCst);
        if !up {
            self.cut.notify_waiters();
        }
    }
}

/// The ingest config's `[[topics]]` entry for a topic.
pub fn table_of(topic: Topic) -> (&'static str, &'static str) {
    match topic {
        Topic::Presentation => ("homelessness.presentation", "hl_presentation"),
        Topic::Placement => ("homelessness.placement", "hl_placement"),
        Topic::Exit => ("homelessness.exit", "hl_exit"),
        Topic::DwellingUnit => ("housing.dwelling-unit", "housing_dwelling_unit"),
        Topic::NeedAssessment => ("housing.need-assessment", "housing_need_assessment"),
        Topic::PlanningApplication => ("planning.application", "planning_application"),
        Topic::WasteReturn => ("waste.return", "waste_return"),
    }
}

impl World {
    /// All seven topics (each with `partitions`), their enriched topics and a DLQ.
    pub async fn new(partitions: i32, max_rows: usize) -> Result<Self> {
        Self::with_topics(&Topic::ALL, partitions, max_rows).await
    }

    /// Only `topics` are consumed (fewer partitions = faster group start-up on tansu).
    pub async fn with_topics(topics: &[Topic], partitions: i32, max_rows: usize) -> Result<Self> {
        let suffix = format!("-t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let naming = TopicNaming {
            prefix: String::new(),
            suffix: suffix.clone(),
        };
        // From infra/kafka/topics.toml with its settings (retention...), suffixed names.
        let sources: Vec<&str> = topics.iter().map(|t| t.name()).collect();
        create_defined_topics(&sources, &suffix, Some(partitions))?;
        let enriched: Vec<String> = sources.iter().map(|t| format!("{t}.enriched")).collect();
        let mut others: Vec<&str> = enriched.iter().map(String::as_str).collect();
        others.push("lgma.dlq");
        create_defined_topics(&others, &suffix, Some(1))?;
        let registry = RegistryClient::new(&registry_url(), None)?;
        // The registry may be restarting (other suites restart it): retry for a while.
        let mut attempt = 0;
        let ids = loop {
            match registry.register_all(&naming).await {
                Ok(ids) => break ids,
                Err(e) if attempt < 30 => {
                    attempt += 1;
                    eprintln!("registry not ready ({e}); retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        let encoder = Encoder::new(&ids)?;
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", kafka_bootstrap())
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .create()?;
        let dir = std::env::temp_dir().join(format!("lgma-ingest-test{suffix}"));
        std::fs::create_dir_all(&dir)?;
        let config = dir.join("ingest.toml");
        let world = Self {
            suffix,
            naming,
            encoder,
            producer,
            config,
            dir,
            topics: topics.to_vec(),
            clickhouse_override: std::sync::Mutex::new(None),
            registry_override: std::sync::Mutex::new(None),
            rules_override: std::sync::Mutex::new(None),
        };
        world.write_config(max_rows, 300)?;
        Ok(world)
    }

    pub fn write_config(&self, max_rows: usize, max_wait_ms: u64) -> Result<()> {
        self.write_config_group(max_rows, max_wait_ms, "")
    }

    /// Same, with a consumer-group suffix: positions come from ClickHouse, not from the group's
    /// committed offsets, so a fresh group must resume exactly where the last one stopped.
    pub fn write_config_group(&self, max_rows: usize, max_wait_ms: u64, group: &str) -> Result<()> {
        self.write_config_full(max_rows, max_wait_ms, group, "group")
    }

    /// `assignment` is `group` or `manual` (see infra/config/ingest.toml).
    pub fn write_config_full(
        &self,
        max_rows: usize,
        max_wait_ms: u64,
        group: &str,
        assignment: &str,
    ) -> Result<()> {
        let root = repo();
        let port = free_port()?;
        let ch = self
            .clickhouse_override
            .lock()
            .ok()
            .and_then(|o| o.clone())
            .unwrap_or_else(clickhouse_url);
        let registry = self
            .registry_override
            .lock()
            .ok()
            .and_then(|o| o.clone())
            .unwrap_or_else(registry_url);
        let rules = self
            .rules_override
            .lock()
            .ok()
            .and_then(|o| o.clone())
            .unwrap_or_else(|| root.join("schemas/rules"));
        let mut text = format!(
            r#"group_id = "ingest-test{suffix}{group}"
assignment = "{assignment}"
topic_suffix = "{suffix}"
registry_url = "{registry}"
schemas_dir = "{root}/schemas"
rules_dir = "{rules}"
keys_file = "{root}/infra/config/keys.example.toml"
metrics_listen = "127.0.0.1:{port}"
[kafka]
bootstrap_servers = "{kafka}"
[batch]
max_rows = {max_rows}
max_wait_ms = {max_wait_ms}
[clickhouse]
url = "{ch}"
"#,
            suffix = self.suffix,
            root = root.display(),
            rules = rules.display(),
            kafka = kafka_bootstrap(),
        );
        for topic in &self.topics {
            let (entity, table) = table_of(*topic);
            text.push_str(&format!(
                "[[topics]]\ntopic = \"{}\"\nentity = \"{entity}\"\ntable = \"{table}\"\n",
                topic.name()
            ));
        }
        std::fs::write(&self.config, text)?;
        Ok(())
    }

    pub fn topic(&self, topic: Topic) -> String {
        self.naming.topic(topic)
    }

    /// The ops address (`metrics_listen`) written into this world's config.
    pub fn ops_address(&self) -> Result<String> {
        let text = std::fs::read_to_string(&self.config)?;
        text.lines()
            .find_map(|l| l.strip_prefix("metrics_listen = "))
            .map(|v| v.trim_matches('"').to_string())
            .ok_or_else(|| anyhow::anyhow!("no metrics_listen in the test config"))
    }

    /// Starts `lgma-ingest run` with this world's config; its log goes to `<dir>/ingest-<n>.log`.
    /// Starts instance `n` on the world's config; it is killed when the guard is dropped.
    pub fn spawn_ingest(&self, n: usize) -> Result<ChildGuard> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("ingest-{n}.log")))?;
        let child = Command::new(ingest_binary())
            .arg("run")
            .arg("--config")
            .arg(&self.config)
            .env(
                "RUST_LOG",
                "info,lgma_ingest=debug,librdkafka=warn,rdkafka=warn",
            )
            // The test configs use the committed example keys and the local stack's passwords.
            .env(lgma_core::config::DEV_MODE_VAR, "1")
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .context("spawning lgma-ingest")?;
        Ok(ChildGuard(child))
    }

    pub fn log(&self, n: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("ingest-{n}.log"))).unwrap_or_default()
    }

    /// Produces framed bytes (or a tombstone with `None`) and waits for the broker's ack.
    pub async fn send_raw(
        &self,
        topic: &str,
        key: &str,
        value: Option<&[u8]>,
    ) -> Result<(i32, i64)> {
        let mut record: FutureRecord<'_, str, [u8]> = FutureRecord::to(topic).key(key);
        if let Some(v) = value {
            record = record.payload(v);
        }
        self.producer
            .send(record, Duration::from_secs(30))
            .await
            .map(|d| (d.partition, d.offset))
            .map_err(|(e, _)| anyhow::anyhow!("produce to {topic}: {e}"))
    }

    pub async fn send(&self, event: &GeneratedEvent) -> Result<(i32, i64)> {
        let bytes = self.encoder.encode(event)?;
        self.send_raw(&self.topic(event.topic), &event.key, Some(&bytes))
            .await
    }
}

/// Valid events from the seeded generator (all topics), deterministic for a seed.
pub fn valid_events(seed: u64, n: usize) -> Vec<GeneratedEvent> {
    let mut generator = Generator::new(seed, GeneratorConfig::default()).expect("generator");
    (0..n).map(|_| generator.next_event()).collect()
}

/// Valid generated events of one topic only.
pub fn events_of(topic: Topic, seed: u64, n: usize) -> Vec<GeneratedEvent> {
    let mut generator = Generator::new(seed, GeneratorConfig::default()).expect("generator");
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let e = generator.next_event();
        if e.topic == topic {
            out.push(e);
        }
    }
    out
}

/// Copies the committed rules into `<dir>/<name>` and applies `edit` to one entity's file
/// (e.g. a stricter rule and another version), for tests that change rules between runs.
pub fn rules_copy(
    world: &World,
    name: &str,
    entity: &str,
    edit: impl Fn(&str) -> String,
) -> Result<PathBuf> {
    let dir = world.dir.join(name);
    std::fs::create_dir_all(&dir)?;
    for entry in std::fs::read_dir(repo().join("schemas/rules"))? {
        let path = entry?.path();
        let file = path.file_name().context("file name")?.to_owned();
        let text = std::fs::read_to_string(&path)?;
        let text = if file.to_string_lossy() == format!("{entity}.toml") {
            edit(&text)
        } else {
            text
        };
        std::fs::write(dir.join(file), text)?;
    }
    Ok(dir)
}

/// Runs `lgma-ingest replay <args>` with this world's config to completion; returns
/// (success, stdout, stderr).
pub fn run_replay(world: &World, args: &[&str]) -> Result<(bool, String, String)> {
    let output = Command::new(ingest_binary())
        .arg("--config")
        .arg(&world.config)
        .arg("replay")
        .args(args)
        .env("RUST_LOG", "info,librdkafka=warn,rdkafka=warn")
        .env(lgma_core::config::DEV_MODE_VAR, "1")
        .output()
        .context("running lgma-ingest replay")?;
    Ok((
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    ))
}

pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Runs a query as the admin user and parses JSONEachRow output.
pub async fn ch_query<T: DeserializeOwned>(sql: &str) -> Result<Vec<T>> {
    let password = std::env::var("LGMA_CH_ADMIN_PASSWORD").unwrap_or_else(|_| "admin-local".into());
    let response = reqwest::Client::new()
        .post(clickhouse_url())
        .basic_auth("lgma_admin", Some(password))
        .query(&[("output_format_json_quote_64bit_integers", "0")])
        .body(format!("{sql} FORMAT JSONEachRow"))
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        bail!("clickhouse: {status}: {text}");
    }
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).with_context(|| format!("row {l}")))
        .collect()
}

#[derive(serde::Deserialize, Debug)]
pub struct Count {
    pub n: u64,
}

pub async fn count(sql: &str) -> Result<u64> {
    Ok(ch_query::<Count>(sql).await?.first().map_or(0, |c| c.n))
}

/// Polls `sql` (returning `n`) until it reaches `want` or the deadline passes; returns the last value.
pub async fn wait_for_count(sql: &str, want: u64, timeout: Duration) -> Result<u64> {
    let deadline = Instant::now() + timeout;
    loop {
        let n = count(sql).await?;
        if n >= want || Instant::now() > deadline {
            return Ok(n);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Counts a topic's records in the offset of record (`lgma.ingest_events`), whatever the verdict.
pub fn records_sql(topic_name: &str) -> String {
    format!(
        "SELECT count() AS n FROM lgma.ingest_events WHERE topic = {}",
        quote(topic_name)
    )
}

/// Copies of `events` as later versions (`entity_version + bump`, new event ids) of the same
/// entities: the same people seen again.
pub fn new_versions(events: &[GeneratedEvent], bump: i64) -> Vec<GeneratedEvent> {
    events
        .iter()
        .map(|g| {
            let mut g = g.clone();
            if let ChangeEvent::Presentation(env) = &mut g.event {
                env.event_id = uuid::Uuid::new_v4().to_string();
                env.entity_version += bump;
            }
            g
        })
        .collect()
}

pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Stops a child with SIGKILL (what a crash looks like) and reaps it.
/// An ingest child process that is SIGKILLed when dropped, so a failing test (an early `?` or a
/// panic) leaves no instance running against the shared stack.
pub struct ChildGuard(pub Child);

impl std::ops::Deref for ChildGuard {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for ChildGuard {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            kill9(&mut self.0);
        }
    }
}

pub fn kill9(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Sends signal `name` (`KILL`, `STOP`, `CONT`...) to a process by id.
pub fn signal_pid(pid: u32, name: &str) -> Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()?;
    if !status.success() {
        bail!("kill -{name} {pid}: {status}");
    }
    Ok(())
}

/// Stops a child with SIGTERM and waits up to `timeout` for a clean exit.
pub fn terminate(child: &mut Child, timeout: Duration) {
    let _ = signal_pid(child.id(), "TERM");
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    kill9(child);
}

pub fn topics_in(world: &World) -> String {
    world
        .topics
        .iter()
        .map(|t| quote(&world.topic(*t)))
        .collect::<Vec<_>>()
        .join(", ")
}
