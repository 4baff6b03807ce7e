//! Helpers for end-to-end tests against the real local stack (`infra/stack up`).
//!
//! Endpoints come from the same environment variables the stack script exports, so the tests run
//! unchanged against another stack. Topic names are made unique per test because tansu's
//! DeleteTopics on sqlite drops every topic: tests never delete, they create fresh names.

use anyhow::{bail, Context, Result};
use rdkafka::ClientConfig;

pub fn kafka_bootstrap() -> String {
    std::env::var("LGMA_KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

pub fn registry_url() -> String {
    std::env::var("LGMA_REGISTRY_URL").unwrap_or_else(|_| "http://127.0.0.1:8081".into())
}

pub fn clickhouse_url() -> String {
    std::env::var("LGMA_CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into())
}

/// A Kafka client config for the test stack, with the platform's shared client defaults
/// (`lgma_core::kafka::KafkaSettings::client_config`).
pub fn client_config() -> ClientConfig {
    lgma_core::kafka::KafkaSettings {
        bootstrap_servers: kafka_bootstrap(),
        ..Default::default()
    }
    .client_config()
}

/// Which ClickHouse user a test acts as (see infra/clickhouse/users.xml).
#[derive(Debug, Clone, Copy)]
pub enum ChUser {
    Admin,
    Writer,
    Reader,
}

impl ChUser {
    fn name_and_password(self) -> (&'static str, String) {
        let (name, var, default) = match self {
            ChUser::Admin => ("lgma_admin", "LGMA_CH_ADMIN_PASSWORD", "admin-local"),
            ChUser::Writer => ("lgma_writer", "LGMA_CH_WRITER_PASSWORD", "writer-local"),
            ChUser::Reader => ("lgma_reader", "LGMA_CH_READER_PASSWORD", "reader-local"),
        };
        (name, std::env::var(var).unwrap_or_else(|_| default.into()))
    }
}

/// A `clickhouse` crate client set up the way ClickHouse 18.16 needs it (no schema validation:
/// the server lacks RowBinaryWithNamesAndTypes and `describe_include_subcolumns`).
pub fn clickhouse(user: ChUser) -> clickhouse::Client {
    let (name, password) = user.name_and_password();
    clickhouse::Client::default()
        .with_url(clickhouse_url())
        .with_user(name)
        .with_password(password)
        .with_database("lgma")
        .with_validation(false)
}

/// A topic name no other test run has used.
pub fn unique_topic(stem: &str) -> String {
    format!("test.{stem}.{}", uuid::Uuid::new_v4().simple())
}

/// The repository root (topic definitions, migrations, tools).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| ".".into(), std::path::Path::to_path_buf)
}

/// The stack's Python (the venv `infra/stack install` makes), for the stack's own tools.
pub fn stack_python() -> String {
    let tools = std::env::var("LGMA_TOOLS").unwrap_or_else(|_| "/opt/lgma".into());
    format!("{tools}/venv/bin/python")
}

/// Creates topics exactly as the stack does: `names` as defined in `infra/kafka/topics.toml`
/// (retention, cleanup policy and all), `suffix` appended, through the stack's own
/// `infra/tools/topics.py`, so a definition that loses records fails the tests that use it.
/// `partitions` overrides the defined count (fewer partitions start faster on tansu).
pub fn create_defined_topics(names: &[&str], suffix: &str, partitions: Option<i32>) -> Result<()> {
    let root = repo_root();
    let mut cmd = std::process::Command::new(stack_python());
    cmd.arg(root.join("infra/tools/topics.py"))
        .arg("--bootstrap")
        .arg(kafka_bootstrap())
        .arg(format!("--suffix={suffix}")) // a suffix may start with '-'
        .arg("--quiet");
    for name in names {
        cmd.arg("--only").arg(name);
    }
    if let Some(p) = partitions {
        cmd.arg("--partitions").arg(p.to_string());
    }
    cmd.arg(root.join("infra/kafka/topics.toml"));
    let out = cmd.output().context("running infra/tools/topics.py")?;
    if !out.status.success() {
        bail!(
            "infra/tools/topics.py failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// A fresh topic named `<definition>.t<random>`, created from the definition `definition` of
/// `infra/kafka/topics.toml` (its settings), with `partitions` partitions: tests of the broker and
/// of client libraries use the platform's real topic settings too, never client defaults.
pub fn defined_test_topic(definition: &str, partitions: i32) -> Result<String> {
    let suffix = format!(".t{}", uuid::Uuid::new_v4().simple());
    create_defined_topics(&[definition], &suffix, Some(partitions))?;
    Ok(format!("{definition}{suffix}"))
}
