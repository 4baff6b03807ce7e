//! `lgma-ingest`: run the ingest service, or print the ClickHouse DDL generated from the schemas.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use lgma_core::ops::Readiness;
use lgma_ingest::chain::TopicPipeline;
use lgma_ingest::config::Settings;
use lgma_ingest::pipeline::Pipeline;
use lgma_ingest::replay::{ReplayKind, Request, Selection};
use lgma_ingest::sink::kafka::Publisher;
use lgma_ingest::source::consumer::Ingest;

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
    /// Check the configuration without starting: unknown keys, bad values, schemas, rules and keys
    /// load, no example key or local password outside development mode. Exit 0 when usable.
    CheckConfig,
    /// Re-drive quarantined events from the DLQ, or re-ingest a source topic range, exactly once.
    ///
    /// Replayed records keep their original provenance (topic, partition, offset): rows they
    /// already produced collapse (ReplacingMergeTree), the offset of record is not touched, and
    /// each run is audited in lgma.ingest_replay_audit. Only records the live service has already
    /// consumed are replayed. Rules, schemas and keys come from the config (point `rules_dir` at a
    /// fixed rules folder, e.g. LGMA_INGEST_RULES_DIR=...). Progress and a summary go to stderr;
    /// the replay id is printed on stdout.
    Replay {
        #[command(subcommand)]
        what: ReplayCommand,
    },
    /// Erase one person (a data subject's erasure request): every row of the domain's tables whose
    /// pseudonyms are theirs, under every key version, and their pseudonym links; audited in
    /// lgma.erasure_audit without the identifiers or pseudonyms.
    ///
    /// The person's clear identifiers (PPSN, council client id, ...) are read from standard input,
    /// one per line, never from the command line. Run it with the migrator's ClickHouse user
    /// (LGMA_INGEST_CLICKHOUSE__USER / __PASSWORD): it deletes rows. Prints the request id.
    Erase {
        /// Key domain of the identifiers: homelessness, housing, planning or waste.
        #[arg(long)]
        domain: String,
        /// Who asked (audit). Default: $USER.
        #[arg(long)]
        requested_by: Option<String>,
        /// The request's reference and legal basis (audit), e.g. "DSR-2026-114, Art. 17".
        #[arg(long)]
        reason: String,
    },
    /// Account for every published record: per topic and partition, the broker's offsets against
    /// the offset of record — stored, quarantined, lost (recorded gaps, or deleted by the broker
    /// before ingest reached them), still unread, doubled, unaccounted.
    ///
    /// Exit status: 0 when every published record is stored or quarantined exactly once; 1 when
    /// any is lost, doubled or unaccounted; 3 when nothing is lost but some are still unread after
    /// --wait.
    Reconcile {
        /// Source topic (base name as configured); repeatable. Default: every configured topic.
        #[arg(long = "topic")]
        topics: Vec<String>,
        /// Wait up to this many seconds for ingest to read what is still unread.
        #[arg(long, default_value_t = 0)]
        wait: u64,
        /// Print the report as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ReplayCommand {
    /// Re-drive records quarantined in the DLQ topic (after a rules or schema fix). Records that
    /// still fail stay quarantined (a new quarantine row with this run's replay_id; they are not
    /// re-published to the DLQ); records that now pass land once and their quarantine row becomes
    /// status = 'released'. Offsets select by the record's ORIGINAL source offset; times by when it
    /// was quarantined (the DLQ record's timestamp).
    Dlq {
        #[command(flatten)]
        select: ReplayArgs,
    },
    /// Re-ingest a source topic's offset or time range per partition through the normal chain
    /// (e.g. after a schema fix). Rows already stored collapse; records that fail are quarantined
    /// and re-published to the DLQ with an lgma.replay_id header. Offsets are clamped to what the
    /// live service has consumed.
    Range {
        #[command(flatten)]
        select: ReplayArgs,
    },
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// Source topic (base name as configured, e.g. lgma.planning.application); repeatable.
    /// Default: every configured topic (`range` requires at least one).
    #[arg(long = "topic")]
    topics: Vec<String>,
    /// Source partition; repeatable. Default: all.
    #[arg(long = "partition")]
    partitions: Vec<i32>,
    /// First source offset (inclusive).
    #[arg(long)]
    from_offset: Option<i64>,
    /// Last source offset (inclusive).
    #[arg(long)]
    to_offset: Option<i64>,
    /// Start time (inclusive): RFC 3339, YYYY-MM-DD (UTC) or epoch milliseconds.
    #[arg(long, value_parser = lgma_ingest::replay::parse_time)]
    since: Option<i64>,
    /// End time (inclusive), same formats as --since.
    #[arg(long, value_parser = lgma_ingest::replay::parse_time)]
    until: Option<i64>,
    /// Who asked for the replay (audit). Default: $USER.
    #[arg(long)]
    requested_by: Option<String>,
    /// Why (audit), e.g. "rules v3 fixes planning.units.range".
    #[arg(long, default_value = "")]
    reason: String,
}

fn main() -> anyhow::Result<()> {
    bound_allocator_retention();
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command.unwrap_or(Command::Run) {
        Command::CheckConfig => {
            let line = lgma_core::config::check_file::<Settings>(
                cli.config.as_deref(),
                lgma_ingest::config::ENV_PREFIX,
            )?;
            settings.check_secrets(true)?;
            let chain = lgma_ingest::chain::Chain::new(&settings)?;
            println!(
                "{line}; {} topics with their schemas, rules and keys load",
                chain.topics.len()
            );
            Ok(())
        }
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
        Command::Replay { what } => {
            settings.check_secrets(true)?;
            let (kind, args) = match what {
                ReplayCommand::Dlq { select } => (ReplayKind::Dlq, select),
                ReplayCommand::Range { select } => (ReplayKind::Range, select),
            };
            if kind == ReplayKind::Range && args.topics.is_empty() {
                anyhow::bail!("replay range needs at least one --topic");
            }
            let request = Request {
                kind,
                selection: Selection {
                    topics: args.topics,
                    partitions: args.partitions,
                    from_offset: args.from_offset,
                    to_offset: args.to_offset,
                    since_ms: args.since,
                    until_ms: args.until,
                },
                requested_by: args
                    .requested_by
                    .or_else(|| std::env::var("USER").ok())
                    .unwrap_or_else(|| "unknown".into()),
                reason: args.reason,
            };
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(replay(settings, request))
        }
        Command::Erase {
            domain,
            requested_by,
            reason,
        } => {
            settings.check_secrets(true)?;
            let identifiers: Vec<String> = std::io::stdin()
                .lines()
                .map_while(std::result::Result::ok)
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect();
            let request = lgma_ingest::erase::Request {
                domain,
                identifiers,
                requested_by: requested_by
                    .or_else(|| std::env::var("USER").ok())
                    .unwrap_or_else(|| "unknown".into()),
                reason,
            };
            let runtime = tokio::runtime::Runtime::new()?;
            let summary =
                runtime.block_on(lgma_ingest::erase::run(&settings, &request, |line| {
                    eprintln!("erase: {line}")
                }))?;
            eprintln!(
                "erase {}: {} rows deleted in {} tables, {} pseudonym links; audited in lgma.erasure_audit",
                summary.request_id,
                summary.rows_deleted(),
                summary.tables.len(),
                summary.links_deleted
            );
            println!("{}", summary.request_id);
            Ok(())
        }
        Command::Reconcile { topics, wait, json } => {
            settings.check_secrets(false)?;
            let runtime = tokio::runtime::Runtime::new()?;
            let code = runtime.block_on(reconcile(settings, topics, wait, json))?;
            std::process::exit(code);
        }
        Command::Run => {
            // First, so that start-up warnings are logged as JSON too when log_json is set.
            lgma_core::telemetry::init_tracing(settings.log_json);
            settings.check_secrets(true)?;
            // At least two workers even on one core: a partition revocation blocks the polling
            // worker until the batch being written (on another worker) is recorded.
            let workers = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .enable_all()
                .build()?;
            let result = runtime.block_on(run(settings));
            // Batches still being written after a shutdown cut short are abandoned, not awaited.
            runtime.shutdown_background();
            if let Some(e @ lgma_ingest::Error::ShutdownLimit { .. }) =
                result.as_ref().err().and_then(|e| e.downcast_ref())
            {
                tracing::error!(error = %e, "exiting");
                std::process::exit(lgma_core::shutdown::FORCED_EXIT_CODE);
            }
            result
        }
    }
}

async fn replay(settings: Settings, request: Request) -> anyhow::Result<()> {
    // Logs to stderr: stdout carries only the replay id (scripts read it).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let publisher = Publisher::for_settings(&settings)?;
    let pipeline = Pipeline::new(&settings, publisher)?;
    let summary = lgma_ingest::replay::run(&settings, &pipeline, &request).await?;
    for ((topic, partition), p) in &summary.partitions {
        eprintln!(
            "  {topic}[{partition}] offsets {}..={}: {} records, accepted {}, warned {}, quarantined {}, released {}",
            p.from_offset, p.to_offset, p.records, p.accepted, p.warned, p.quarantined, p.released
        );
    }
    let t = summary.total();
    eprintln!(
        "replay {} {}: {} records, accepted {}, warned {}, quarantined {}, released {}",
        summary.replay_id,
        summary.result,
        t.records,
        t.accepted,
        t.warned,
        t.quarantined,
        t.released
    );
    println!("{}", summary.replay_id);
    Ok(())
}

async fn reconcile(
    settings: Settings,
    only: Vec<String>,
    wait: u64,
    json: bool,
) -> anyhow::Result<i32> {
    use lgma_ingest::reconcile;
    let topics = reconcile::topics(&settings, &only);
    if topics.is_empty() {
        anyhow::bail!("no configured topic matches {only:?}");
    }
    let report = reconcile::until_caught_up(
        &settings,
        &topics,
        std::time::Duration::from_secs(wait),
        |r| {
            eprintln!(
                "reconcile: {} records still unread; waiting",
                r.total.unread
            )
        },
    )
    .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    let t = &report.total;
    let code = if !report.nothing_lost_or_doubled() {
        eprintln!(
            "NOT ACCOUNTED FOR: {} lost ({} recorded, {} deleted before ingest reached them), {} doubled, {} unaccounted",
            t.lost + t.lost_unrecorded,
            t.lost,
            t.lost_unrecorded,
            t.doubled,
            t.unaccounted
        );
        1
    } else if !report.all_accounted() {
        eprintln!(
            "nothing lost or doubled so far, but {} records are still unread",
            t.unread
        );
        3
    } else {
        eprintln!(
            "every published record is accounted for: {} published = {} stored + {} quarantined; 0 lost, 0 doubled",
            t.published, t.stored, t.quarantined
        );
        0
    };
    Ok(code)
}

/// glibc's malloc keeps what a batch freed: up to 8 arenas per core, and large buffers (a batch's
/// rows, several MiB) moved from mmap into the arenas once the dynamic mmap threshold has risen
/// past them, with no bound. Two arenas and fixed thresholds bound it (BENCHMARKS.md, "Peak RSS"):
/// buffers up to 8 MiB (a batch's rows and offset-of-record lines, 2-3 MiB each) come from the
/// arenas, which keep at most 16 MiB free at their top for the next batch; larger ones are mapped
/// and unmapped. Before session 16 the threshold was 1 MiB: every batch's buffers were mapped,
/// page-faulted and zeroed anew, 18 % more CPU for the same RSS (`GLIBC_TUNABLES` A/B, 100k runs).
/// An operator's own `GLIBC_TUNABLES` (e.g. `glibc.malloc.arena_max=4`) is left to rule.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn bound_allocator_retention() {
    if std::env::var_os("GLIBC_TUNABLES").is_some() {
        return;
    }
    // SAFETY: mallopt only sets the allocator's parameters; no thread allocates concurrently yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 8 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 16 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn bound_allocator_retention() {}

async fn run(settings: Settings) -> anyhow::Result<()> {
    lgma_core::telemetry::init_tracing(settings.log_json);
    let metrics = lgma_core::telemetry::install_metrics()?;
    lgma_ingest::metrics::describe();
    let readiness = Readiness::default();
    let shutdown = lgma_core::shutdown::on_signal();
    // /ready follows ClickHouse, the broker and the registry (lgma_ingest::ready).
    lgma_core::ops::spawn_probes(
        readiness.clone(),
        lgma_ingest::ready::dependencies(&settings)?,
        std::time::Duration::from_secs(5),
        shutdown.clone(),
    );

    let app: axum::Router = lgma_core::ops::routes(Some(metrics), readiness.clone());
    let listener = tokio::net::TcpListener::bind(&settings.metrics_listen).await?;
    tracing::info!(listen = %settings.metrics_listen, "ops endpoints: /health /ready /metrics");
    let ops_shutdown = shutdown.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { ops_shutdown.cancelled().await })
            .await;
    });

    let publisher = Publisher::for_settings(&settings)?;
    let pipeline = Arc::new(Pipeline::new(&settings, publisher)?);
    tracing::info!(
        topics = pipeline.chain.topics.len(),
        "pipeline built from reader schemas and rules"
    );
    lgma_ingest::metrics::init(&pipeline.chain.topics.keys().cloned().collect::<Vec<_>>());
    // Bounded by the clients' timeouts (10 s registry, 60 s ClickHouse); a signal meanwhile stops.
    tokio::select! {
        () = pipeline.prepare_topics() => {}
        () = shutdown.cancelled() => return Ok(()),
    }
    let ingest = Ingest::new(settings, pipeline)?;
    ingest.run(shutdown, readiness).await?;
    Ok(())
}
