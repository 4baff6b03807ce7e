//! `lgma-registry`: Confluent-compatible Avro schema registry for the LGMA platform.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use lgma_registry::config::Settings;

/// Confluent-compatible Avro schema registry backed by a compacted Kafka topic.
///
/// Settings come from defaults, then --config TOML, then LGMA_REGISTRY_* environment variables
/// (`__` nests: LGMA_REGISTRY_KAFKA__BOOTSTRAP_SERVERS=host:9092).
#[derive(Parser, Debug)]
#[command(name = "lgma-registry", version)]
struct Cli {
    /// TOML config file (see infra/config/registry.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Listen address, overriding the config (default 127.0.0.1:8081).
    #[arg(long)]
    listen: Option<String>,
    /// Store topic, overriding the config (default _schemas).
    #[arg(long)]
    topic: Option<String>,
    /// Print the effective configuration and exit.
    #[arg(long)]
    print_config: bool,
    /// Check the configuration (unknown keys, bad values) and exit: 0 when usable.
    #[arg(long)]
    check_config: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut settings: Settings =
        match lgma_core::config::load(cli.config.as_deref(), "LGMA_REGISTRY_") {
            Ok(s) => s,
            Err(e) => {
                eprintln!("lgma-registry: {e}");
                return ExitCode::from(2);
            }
        };
    if let Some(listen) = cli.listen {
        settings.listen = listen;
    }
    if let Some(topic) = cli.topic {
        settings.store.topic = topic;
    }
    if cli.check_config {
        return match lgma_core::config::check_file::<Settings>(
            cli.config.as_deref(),
            "LGMA_REGISTRY_",
        ) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("lgma-registry: {e}");
                ExitCode::from(2)
            }
        };
    }
    if cli.print_config {
        let mut shown = settings.clone();
        shown.kafka = shown.kafka.redacted();
        return match lgma_core::config::render(&shown) {
            Ok(text) => {
                println!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("lgma-registry: {e}");
                ExitCode::from(2)
            }
        };
    }
    lgma_core::telemetry::init_tracing(settings.json_logs);
    let shutdown = lgma_core::shutdown::on_signal();
    match lgma_registry::server::run(settings, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "registry failed");
            eprintln!("lgma-registry: {e}");
            ExitCode::FAILURE
        }
    }
}
