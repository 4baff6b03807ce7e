//! `lgma-api`: serve the query API, open data and the dashboard.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use lgma_api::auth::Tokens;
use lgma_api::config::Settings;
use lgma_core::ops::Readiness;

#[derive(Parser)]
#[command(
    name = "lgma-api",
    version,
    about = "Query API over the LGMA ClickHouse model: summaries, open data with small-number suppression, quality, dashboard"
)]
struct Cli {
    /// TOML config file (env LGMA_API_* overrides, `__` nests: LGMA_API_CLICKHOUSE__READER_PASSWORD).
    #[arg(long, env = "LGMA_API_CONFIG")]
    config: Option<PathBuf>,
    /// Print the effective settings (passwords redacted) and exit.
    #[arg(long)]
    print_config: bool,
    /// Check the configuration (unknown keys, bad values, tokens file, no local password outside
    /// development mode) and exit: 0 when usable.
    #[arg(long)]
    check_config: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref())?;
    if cli.print_config {
        print!("{}", lgma_core::config::render(&settings.redacted())?);
        return Ok(());
    }
    // First, so that start-up warnings are logged as JSON too when log_json is set.
    if !cli.check_config {
        lgma_core::telemetry::init_tracing(settings.log_json);
    }
    settings.check_secrets()?;
    if cli.check_config {
        let line = lgma_core::config::check_file::<Settings>(
            cli.config.as_deref(),
            lgma_api::config::ENV_PREFIX,
        )?;
        if let Some(path) = &settings.tokens_file {
            Tokens::load(path)?;
        }
        println!("{line}; tokens file loads");
        return Ok(());
    }
    tokio::runtime::Runtime::new()?.block_on(run(settings))
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    lgma_core::telemetry::init_tracing(settings.log_json);
    let metrics = lgma_core::telemetry::install_metrics()?;
    let tokens = match &settings.tokens_file {
        Some(path) => Tokens::load(path)?,
        None => Tokens::default(),
    };
    if tokens.is_empty() {
        tracing::warn!("no tokens configured: only public endpoints are usable");
    }
    let readiness = Readiness::default();
    let shutdown = lgma_core::shutdown::on_signal();
    let listen = settings.listen.clone();
    let state = lgma_api::app::state(settings, tokens, readiness.clone())?;

    // Ready once started and ClickHouse answers as the reader; probed every 5 s so /ready follows
    // outages. The broker (read only by /v1/reconcile) is shown but optional.
    lgma_api::app::describe_metrics();
    readiness.set(true);
    let db = state.db.clone();
    let mut broker = lgma_core::ops::broker_probe(&state.settings.kafka)?;
    broker.required = false;
    broker.without = "only /v1/reconcile fails";
    lgma_core::ops::spawn_probes(
        readiness.clone(),
        vec![
            lgma_core::ops::Dependency::required("clickhouse", move || {
                let db = db.clone();
                async move {
                    if db.ping().await {
                        Ok(())
                    } else {
                        Err("SELECT 1 as the reader failed".to_string())
                    }
                }
            }),
            broker,
        ],
        Duration::from_secs(5),
        shutdown.clone(),
    );

    let app = lgma_api::app::router(state, Some(metrics));
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!(listen = %listen, "lgma-api listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await?;
    tracing::info!("lgma-api stopped");
    Ok(())
}
