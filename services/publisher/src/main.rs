//! `lgma-publisher`: register the council schemas, simulate councils, or onboard an export file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand, ValueEnum};
use rand::SeedableRng;

use lgma_publisher::onboard::{jsonl, npad, Mapped};
use lgma_publisher::produce::{require_topics, EventProducer};
use lgma_publisher::registry::RegistryClient;
use lgma_publisher::settings::{Settings, ENV_PREFIX};
use lgma_publisher::stats::Summary;
use lgma_publisher::{Error, Result};
use lgma_sim::encode::Encoder;
use lgma_sim::{GeneratedEvent, Generator, GeneratorConfig, Topic};

#[derive(Parser)]
#[command(
    name = "lgma-publisher",
    version,
    about = "Publishes council change events onto the LGMA topics"
)]
struct Cli {
    /// Settings file (TOML); env vars LGMA_PUBLISHER_* override it (`__` for nesting).
    #[arg(long, global = true, env = "LGMA_PUBLISHER_CONFIG")]
    config: Option<PathBuf>,
    /// Prepended to every topic name (and so to every subject).
    #[arg(long, global = true)]
    topic_prefix: Option<String>,
    /// Appended to every topic name, e.g. a run id so tests do not collide.
    #[arg(long, global = true)]
    topic_suffix: Option<String>,
    /// Log as JSON lines on standard error (the `log_json` setting, env LGMA_PUBLISHER_LOG_JSON).
    #[arg(long, global = true)]
    log_json: bool,
    /// Print the effective settings and exit.
    #[arg(long)]
    print_config: bool,
    /// Check the configuration (unknown keys, bad values) and exit: 0 when usable.
    #[arg(long)]
    check_config: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Register all seven schemas under `<topic>-value` and print their ids.
    Register,
    /// Publish a deterministic, realistic stream for the councils.
    Simulate(SimulateArgs),
    /// Onboard a council export file (NPAD CSV for planning, JSON Lines for the other entities).
    Publish(PublishArgs),
    /// Write generated events as a JSON Lines export of one entity (a format example).
    Sample(SampleArgs),
}

#[derive(Args)]
struct SimulateArgs {
    /// RNG seed: the same seed gives the same stream.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Stop after this many events.
    #[arg(long)]
    count: Option<u64>,
    /// Stop after this many wall-clock seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// Cap on events per second (wall clock); unlimited by default.
    #[arg(long)]
    rate: Option<f64>,
    /// Simulated seconds per wall-clock second (e.g. 86400 = a simulated day per second);
    /// unlimited (as fast as --rate allows) by default.
    #[arg(long)]
    speed_up: Option<f64>,
    /// Fraction of events that deliberately break a rule or are malformed bytes (0..1).
    #[arg(long, default_value_t = 0.0)]
    invalid_ratio: f64,
    /// Comma-separated council codes (default: all 31).
    #[arg(long, value_delimiter = ',')]
    councils: Vec<String>,
    /// Publish a snapshot first, at full speed (neither --rate nor --speed-up nor --duration
    /// applies to it): the dwelling stock, everyone already in emergency accommodation, and
    /// --history-days of activity before --start; then the change stream.
    #[arg(long)]
    snapshot: bool,
    /// Days of history in the snapshot (planning decisions, placements and exits, re-lets).
    #[arg(long, default_value_t = 365)]
    history_days: u32,
    /// Fraction of the national volumes simulated, snapshot and stream alike (1 = ~150k dwellings,
    /// ~14,000 people in emergency accommodation, ~35,000 planning applications a year). Rates and
    /// shares (void rate, Dublin's share, decisions in time) do not depend on it.
    /// Default: 0.05 with --snapshot (the demo's), 1 without.
    #[arg(long)]
    snapshot_scale: Option<f64>,
    /// Simulated start date (YYYY-MM-DD, UTC).
    #[arg(long)]
    start: Option<chrono::NaiveDate>,
    /// Also write the summary as JSON to this file.
    #[arg(long)]
    summary_json: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    NpadCsv,
    Jsonl,
}

#[derive(Args)]
struct PublishArgs {
    /// The export file.
    file: PathBuf,
    /// File format (default: by extension, .csv = npad-csv, .jsonl = jsonl).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Topic (base name) of a JSON Lines file, e.g. lgma.housing.dwelling-unit.
    #[arg(long)]
    topic: Option<String>,
    /// Publish the good rows even if some rows are bad (bad rows are still reported, exit code 2).
    #[arg(long)]
    skip_bad_rows: bool,
    /// Check and map only; publish nothing.
    #[arg(long)]
    dry_run: bool,
    /// `source_system` of the events.
    #[arg(long, default_value = "file-onboarding")]
    source_system: String,
}

#[derive(Args)]
struct SampleArgs {
    /// Topic (base name) to sample.
    #[arg(long)]
    topic: String,
    #[arg(long, default_value_t = 10)]
    count: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// Set once the settings say to log JSON: errors and progress are then log events too.
static LOG_JSON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn log_json() -> bool {
    LOG_JSON.load(std::sync::atomic::Ordering::Relaxed)
}

fn report_error(e: &dyn std::fmt::Display) {
    if log_json() {
        tracing::error!(error = %e, "lgma-publisher failed");
    } else {
        eprintln!("error: {e}");
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            report_error(&e);
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            report_error(&e);
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let mut settings: Settings = lgma_core::config::load(cli.config.as_deref(), ENV_PREFIX)?;
    if let Some(p) = cli.topic_prefix {
        settings.topics.prefix = p;
    }
    if let Some(s) = cli.topic_suffix {
        settings.topics.suffix = s;
    }
    settings.log_json |= cli.log_json;
    LOG_JSON.store(settings.log_json, std::sync::atomic::Ordering::Relaxed);
    lgma_core::telemetry::init_tracing(settings.log_json);
    if cli.check_config {
        let line = lgma_core::config::check_file::<Settings>(
            cli.config.as_deref(),
            lgma_publisher::settings::ENV_PREFIX,
        )?;
        println!("{line}");
        return Ok(ExitCode::SUCCESS);
    }
    if cli.print_config {
        let mut shown = settings.clone();
        shown.kafka = shown.kafka.redacted();
        shown.registry_url = lgma_core::config::split_url_credentials(&shown.registry_url).0;
        println!("{}", lgma_core::config::render(&shown)?);
        return Ok(ExitCode::SUCCESS);
    }
    match cli.command {
        None => Err(Error::Argument("no command given; see --help".into())),
        Some(Command::Register) => {
            let ids =
                RegistryClient::new(&settings.registry_url, settings.registry_ca_file.as_deref())?
                    .register_all(&settings.topics)
                    .await?;
            for topic in Topic::ALL {
                println!("{} id={}", settings.topics.subject(topic), ids[&topic]);
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Simulate(args)) => simulate(&settings, args).await,
        Some(Command::Publish(args)) => publish(&settings, args).await,
        Some(Command::Sample(args)) => sample(args),
    }
}

/// Registers the schemas and checks the topics exist; returns the encoder with the registry's ids.
async fn prepare(settings: &Settings) -> Result<(Encoder, HashMap<Topic, String>)> {
    let ids = RegistryClient::new(&settings.registry_url, settings.registry_ca_file.as_deref())?
        .register_all(&settings.topics)
        .await?;
    let names: HashMap<Topic, String> = Topic::ALL
        .iter()
        .map(|t| (*t, settings.topics.topic(*t)))
        .collect();
    let list: Vec<String> = names.values().cloned().collect();
    require_topics(settings, &list).await?;
    Ok((Encoder::new(&ids)?, names))
}

async fn simulate(settings: &Settings, args: SimulateArgs) -> Result<ExitCode> {
    if !(0.0..=1.0).contains(&args.invalid_ratio) {
        return Err(Error::Argument(
            "--invalid-ratio must be between 0 and 1".into(),
        ));
    }
    let mut config = GeneratorConfig {
        councils: args.councils.clone(),
        invalid_ratio: args.invalid_ratio,
        snapshot: args.snapshot,
        history_days: args.history_days,
        scale: args
            .snapshot_scale
            .unwrap_or(if args.snapshot { 0.05 } else { 1.0 }),
        ..GeneratorConfig::default()
    };
    if let Some(start) = args.start.and_then(|d| d.and_hms_opt(0, 0, 0)) {
        config.start_ms = start.and_utc().timestamp_millis();
    }
    let mut generator = Generator::new(args.seed, config)?;
    let (encoder, names) = prepare(settings).await?;
    let producer = EventProducer::new(settings)?;
    let cancel = lgma_core::shutdown::on_signal();
    let run_started = Instant::now();
    let mut started = run_started;
    let mut sim_start = generator.config().start_ms;
    let mut summary = Summary {
        sim_start_ms: generator.sim_now(),
        ..Summary::default()
    };
    // The snapshot goes out at full speed; pacing and --duration start with the change stream.
    let mut snapshot_events = 0u64;
    let mut streaming = !generator.config().snapshot;
    let progress_every = Duration::from_secs(settings.progress_interval_secs.max(1));
    let mut last_progress = Instant::now();
    let mut last_count = 0u64;
    loop {
        if args.count.is_some_and(|c| summary.events >= c)
            || (streaming
                && args
                    .duration
                    .is_some_and(|d| started.elapsed().as_secs_f64() >= d))
            || cancel.is_cancelled()
        {
            break;
        }
        let event = generator.next_event();
        if !streaming && !generator.in_snapshot() {
            streaming = true;
            eprintln!(
                "snapshot published: {} events in {:.1} s; now the change stream",
                summary.events,
                started.elapsed().as_secs_f64()
            );
            snapshot_events = summary.events;
            started = Instant::now();
            sim_start = generator.config().start_ms;
        }
        if streaming {
            pace(
                &args,
                summary.events - snapshot_events,
                started,
                generator.sim_now() - sim_start,
            )
            .await;
        }
        send(&producer, &encoder, &names, &event).await?;
        summary.record(&event);
        if last_progress.elapsed() >= progress_every {
            let rate = (summary.events - last_count) as f64 / last_progress.elapsed().as_secs_f64();
            let days = (generator.sim_now() - sim_start) as f64 / 86_400_000.0;
            if log_json() {
                tracing::info!(
                    events = summary.events,
                    events_per_second = rate.round(),
                    delivered = producer.delivered(),
                    simulated_days = days,
                    "progress"
                );
            } else {
                eprintln!(
                    "progress: {} events, {:.0} events/s, delivered {}, simulated {:.1} days",
                    summary.events,
                    rate,
                    producer.delivered(),
                    days
                );
            }
            last_progress = Instant::now();
            last_count = summary.events;
        }
    }
    producer.flush(Duration::from_secs(120))?;
    summary.sim_end_ms = generator.sim_now();
    finish(
        summary,
        &producer,
        run_started,
        args.summary_json.as_deref(),
    )
}

/// Sleeps as needed so neither `--rate` nor `--speed-up` is exceeded.
async fn pace(args: &SimulateArgs, events: u64, started: Instant, sim_elapsed_ms: i64) {
    let mut target = 0.0f64;
    if let Some(rate) = args.rate.filter(|r| *r > 0.0) {
        target = target.max(events as f64 / rate);
    }
    if let Some(speed) = args.speed_up.filter(|s| *s > 0.0) {
        target = target.max(sim_elapsed_ms as f64 / 1000.0 / speed);
    }
    let ahead = target - started.elapsed().as_secs_f64();
    if ahead > 0.001 {
        tokio::time::sleep(Duration::from_secs_f64(ahead)).await;
    }
}

async fn send(
    producer: &EventProducer,
    encoder: &Encoder,
    names: &HashMap<Topic, String>,
    event: &GeneratedEvent,
) -> Result<()> {
    let value = encoder.encode(event)?;
    let topic = names
        .get(&event.topic)
        .map(String::as_str)
        .unwrap_or(event.topic.name());
    producer
        .send(topic, &event.key, &value, &event.event.meta())
        .await
}

fn finish(
    mut summary: Summary,
    producer: &EventProducer,
    started: Instant,
    json: Option<&Path>,
) -> Result<ExitCode> {
    summary.delivered = producer.delivered();
    summary.delivery_failures = producer.failed();
    summary.finish(started.elapsed());
    println!("{}", summary.render());
    if let Some(path) = json {
        let text =
            serde_json::to_string_pretty(&summary).map_err(|e| Error::Argument(e.to_string()))?;
        std::fs::write(path, text)?;
    }
    Ok(if summary.delivery_failures > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn publish(settings: &Settings, args: PublishArgs) -> Result<ExitCode> {
    let format = args
        .format
        .unwrap_or(match args.file.extension().and_then(|e| e.to_str()) {
            Some("csv") => Format::NpadCsv,
            _ => Format::Jsonl,
        });
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut rng = rand_chacha::ChaCha20Rng::from_entropy();
    let mapped: Mapped = match format {
        Format::NpadCsv => {
            let bytes = std::fs::read(&args.file)?;
            npad::map(&bytes, &args.source_system, now_ms, &mut rng).map_err(|e| Error::Rows {
                path: args.file.display().to_string(),
                errors: 1,
                first: e.to_string(),
            })?
        }
        Format::Jsonl => {
            let name = args
                .topic
                .as_deref()
                .ok_or_else(|| Error::Argument("--topic is required for JSON Lines".into()))?;
            let topic = Topic::from_name(name)
                .ok_or_else(|| Error::Argument(format!("unknown topic {name}")))?;
            let text = std::fs::read_to_string(&args.file)?;
            jsonl::map(&text, topic, &args.source_system, now_ms, &mut rng)
        }
    };
    let path = args.file.display().to_string();
    for error in &mapped.errors {
        eprintln!("{path}: {error}");
    }
    eprintln!(
        "{path}: {} rows, {} mapped, {} with errors",
        mapped.rows,
        mapped.events.len(),
        mapped.errors.len()
    );
    let publish_rows = mapped.errors.is_empty() || args.skip_bad_rows;
    if args.dry_run || !publish_rows || mapped.events.is_empty() {
        if !publish_rows {
            eprintln!("nothing published: fix the rows above or pass --skip-bad-rows");
        }
        return Ok(if mapped.errors.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        });
    }
    let (encoder, names) = prepare(settings).await?;
    let producer = EventProducer::new(settings)?;
    let started = Instant::now();
    let mut summary = Summary::default();
    for (_, event) in mapped.events {
        let generated = GeneratedEvent {
            topic: event.topic(),
            key: event.entity_id().to_string(),
            event,
            kind: lgma_sim::EventKind::Valid,
        };
        send(&producer, &encoder, &names, &generated).await?;
        summary.record(&generated);
    }
    producer.flush(Duration::from_secs(60))?;
    let code = finish(summary, &producer, started, None)?;
    Ok(if mapped.errors.is_empty() {
        code
    } else {
        ExitCode::from(2)
    })
}

fn sample(args: SampleArgs) -> Result<ExitCode> {
    let topic = Topic::from_name(&args.topic)
        .ok_or_else(|| Error::Argument(format!("unknown topic {}", args.topic)))?;
    let mut generator = Generator::new(args.seed, GeneratorConfig::default())?;
    let mut written = 0;
    while written < args.count {
        let event = generator.next_event();
        if event.topic == topic {
            let line = jsonl::to_line(&event.event).map_err(|e| Error::Argument(e.to_string()))?;
            println!("{line}");
            written += 1;
        }
    }
    Ok(ExitCode::SUCCESS)
}
