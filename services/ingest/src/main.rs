//! `lgma-ingest`: run the ingest service, or print the ClickHouse DDL generated from the schemas.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use lgma_core::ops::Readiness;
use lgma_ingest::config::Settings;
use lgma_ingest::consumer::Ingest;
use lgma_ingest::pipeline::{Pipeline, TopicPipeline};
use lgma_ingest::publish::Publisher;

#[derive(Parser)]
#[command(
    name = "lgma-ingest",
    version,
    about = "Council change events from Kafka -> validated, enriched, pseudonymised rows in ClickHouse, exactly once"
)]
struct Cli {
    /// TOML config file (env LGMA_INGEST_* overrides, `__` nests: LGMA_INGEST_CLICKHOUSE__URL).
    #[arg(long, global = true, env = "LGMA_INGEST_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Consume, validate, enrich, pseudonymise and write (the default).
    Run,
    /// Print the CREATE TABLE statements generated from the reader schemas.
    Ddl {
        /// Only this table stem (e.g. planning_application).
        #[arg(long)]
        table: Option<String>,
    },
    /// Print the effective settings (secrets redacted).
    PrintConfig,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command.unwrap_or(Command::Run) {
        Command::PrintConfig => {
            print!("{}", lgma_core::config::render(&settings.redacted())?);
            Ok(())
        }
        Command::Ddl { table } => {
            for topic in &settings.topics {
                if table.as_deref().is_some_and(|t| t != topic.table) {
                    continue;
                }
                println!("{}", TopicPipeline::ddl_for(&settings, topic)?);
            }
            Ok(())
        }
        Command::Run => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(run(settings))
        }
    }
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    lgma_core::telemetry::init_tracing(settings.log_json);
    let metrics = lgma_core::telemetry::install_metrics()?;
    let readiness = Readiness::default();
    let shutdown = lgma_core::shutdown::on_signal();

    let app: axum::Router = lgma_core::ops::routes(Some(metrics), readiness.clone());
    let listener = tokio::net::TcpListener::bind(&settings.metrics_listen).await?;
    tracing::info!(listen = %settings.metrics_listen, "ops endpoints: /health /ready /metrics");
    let ops_shutdown = shutdown.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { ops_shutdown.cancelled().await })
            .await;
    });

    let publisher = Publisher::new(&settings.kafka)?;
    let pipeline = Arc::new(Pipeline::new(&settings, publisher)?);
    tracing::info!(
        topics = pipeline.chain.topics.len(),
        "pipeline built from reader schemas and rules"
    );
    let ingest = Ingest::new(settings, pipeline)?;
    ingest.run(shutdown, readiness).await?;
    Ok(())
}
