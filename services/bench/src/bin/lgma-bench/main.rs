//! `lgma-bench`: one run measures the in-process stage costs, the broker's and the database's raw
//! limits, the ingest pipeline (1 and 2 instances), publish->queryable latency, memory, a Python
//! baseline and a back-fill, on the same realistic events, and prints the table (BENCHMARKS.md).
//!
//! Everything runs on unique topics and in scratch ClickHouse databases that are dropped at the
//! end, so the platform's own tables and summaries are untouched.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use lgma_bench::chain::{self, Chain};
use lgma_bench::corpus;
use lgma_bench::ingest::{self, Instance, Target};
use lgma_bench::kafka::{self, ConsumeStats, TopicSet};
use lgma_bench::procfs::Reading;
use lgma_bench::report::Figures;
use lgma_bench::scratch::ClickHouse;
use lgma_bench::{Error, Result};

mod phases;
use phases::{backfill, insert_formats, latency, pipeline, python, raw_write};

/// Counts heap allocations, for the in-process chain's allocations per accepted event.
#[global_allocator]
static ALLOCATOR: lgma_bench::alloc_count::Counting = lgma_bench::alloc_count::Counting;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "lgma-bench",
    version,
    about = "Benchmark the ingest pipeline against the broker's and ClickHouse's raw limits on the running local stack",
    long_about = "Benchmark the ingest pipeline against the broker's and ClickHouse's raw limits on the running \
local stack (see BENCHMARKS.md). One run, on the same generated events (with --invalid-ratio of them broken): \
the in-process chain as the live service runs it per record (consumer copy, version memory, metrics; \
allocations per event), the raw consume limit, the raw write limit through the service's own write \
(tables only, and with the enriched topics when the pipeline publishes), the real lgma-ingest with 1 and 2 \
instances (rate, CPU, peak RSS), publish -> queryable latency, a Python baseline (the table says what it \
skips) and a back-fill; then ratios and issue 17's targets, met or missed. Writes only to unique topics \
and scratch databases (dropped at the end; on a tmpfs stack as the next phase starts). --chain-only needs no stack."
)]
struct Cli {
    /// Events for the raw limits and the pipeline runs.
    #[arg(long, default_value_t = 300_000)]
    events: u64,
    /// Share of deliberately broken events (a rule broken or malformed bytes) in every corpus
    /// but the latency run's; default: the demo's (`LGMA_DEMO_INVALID` in infra/demo.sh).
    #[arg(long, default_value_t = corpus::DEMO_INVALID_RATIO)]
    invalid_ratio: f64,
    /// Skip the Python baseline.
    #[arg(long)]
    skip_python: bool,
    /// Measure only the in-process chain (stage costs; no stack needed) and print its table.
    #[arg(long)]
    chain_only: bool,
    /// Events the Python baseline consumes (it is slow; its rate is what counts).
    #[arg(long, default_value_t = 60_000)]
    python_events: u64,
    /// Steady publish rate of the latency run, events/s.
    #[arg(long, default_value_t = 2_000.0)]
    latency_rate: f64,
    /// Length of the latency run, seconds.
    #[arg(long, default_value_t = 30)]
    latency_secs: u64,
    /// Simulated days of the back-fill run (all councils); 0 skips it.
    #[arg(long, default_value_t = 365)]
    backfill_days: u32,
    /// Events the in-process stage costs are measured on.
    #[arg(long, default_value_t = 20_000)]
    stage_sample: usize,
    /// Generator seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Partitions per topic.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// The ingest binary (build it with `cargo build --release -p lgma-ingest`).
    #[arg(long)]
    ingest_bin: Option<PathBuf>,
    /// Python interpreter with confluent-kafka, fastavro and requests.
    #[arg(long, default_value = "/opt/lgma/venv/bin/python")]
    python: PathBuf,
    /// Keep the scratch databases (default: dropped at the end; on a tmpfs stack as the next phase
    /// starts).
    #[arg(long)]
    keep: bool,
    /// Also write the table to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Kafka bootstrap servers of the stack.
    #[arg(long, env = "LGMA_KAFKA_BOOTSTRAP", default_value = "127.0.0.1:9092")]
    bootstrap: String,
    /// Schema registry of the stack.
    #[arg(
        long,
        env = "LGMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    registry: String,
    /// ClickHouse HTTP endpoint of the stack.
    #[arg(
        long,
        env = "LGMA_CLICKHOUSE_URL",
        default_value = "http://127.0.0.1:8123"
    )]
    clickhouse: String,
    /// ClickHouse admin password (scratch databases need DDL rights).
    #[arg(
        long,
        env = "LGMA_CH_ADMIN_PASSWORD",
        default_value = "admin-local",
        hide_env_values = true,
        hide_default_value = true
    )]
    ch_admin_password: String,
}

/// What every phase shares.
struct Ctx {
    cli: Cli,
    repo: PathBuf,
    work: PathBuf,
    run_id: String,
    bin: PathBuf,
    ch: ClickHouse,
    scratch: Vec<String>,
    /// Whether `release_finished` dropped scratch databases during the run.
    dropped_during_run: bool,
}

fn say(msg: impl AsRef<str>) {
    eprintln!("[bench] {}", msg.as_ref());
}

/// `--chain-only`: the in-process stage costs on `--stage-sample` events, nothing else.
fn chain_only(cli: &Cli) -> Result<Figures> {
    let encoder = lgma_sim::encode::Encoder::offline()?;
    let corpus = corpus::generate(cli.stage_sample, cli.seed, cli.invalid_ratio, &encoder)?;
    let chain = Chain::new(&lgma_bench::repo_root(), &encoder)?;
    lgma_bench::live::install_recorder(&chain.topics())?;
    Ok(Figures {
        machine: format!("{}; {}", machine(), broker_storage()),
        events: corpus.len() as u64,
        stages: Some(chain::measure(&chain, &corpus, 5)?),
        ..Figures::default()
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.chain_only {
        return match chain_only(&cli) {
            Ok(figures) => {
                println!("{}", figures.render());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let mut figures = Figures::default();
        let mut ctx = match Ctx::new(cli).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        let started = Instant::now();
        // SIGINT / SIGTERM end the run early: its ingest instances are dropped (and so killed,
        // see `Instance`'s Drop) and the scratch databases are still dropped.
        let shutdown = lgma_core::shutdown::on_signal();
        let result = tokio::select! {
            r = run(&mut ctx, &mut figures) => r,
            _ = shutdown.cancelled() => Err(Error::Run("interrupted by a signal".into())),
        };
        ctx.cleanup().await;
        let table = figures.render();
        println!("{table}");
        // The bench's own memory: it holds the corpus beside a broker and ClickHouse on tmpfs.
        let own = lgma_bench::procfs::peak_rss_bytes(std::process::id()).unwrap_or(0);
        say(format!(
            "run took {:.0} s; lgma-bench peak RSS {:.0} MB",
            started.elapsed().as_secs_f64(),
            own as f64 / 1e6
        ));
        if let Some(path) = &ctx.cli.out {
            if let Err(e) = std::fs::write(path, &table) {
                eprintln!("error: writing {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: the run failed: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

impl Ctx {
    async fn new(cli: Cli) -> Result<Self> {
        let repo = lgma_bench::repo_root().canonicalize()?;
        let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
        let work = repo.join(".data/bench").join(&run_id);
        std::fs::create_dir_all(&work)?;
        let bin = cli
            .ingest_bin
            .clone()
            .unwrap_or_else(|| repo.join("target/release/lgma-ingest"));
        if !bin.is_file() {
            return Err(Error::Run(format!(
                "{} not found: run `cargo build --release -p lgma-ingest` (or bash infra/bench.sh)",
                bin.display()
            )));
        }
        let ch = ClickHouse::new(&cli.clickhouse, "lgma_admin", &cli.ch_admin_password);
        ch.ping().await.map_err(|e| {
            Error::Run(format!(
                "ClickHouse at {} not usable ({e}): run `bash infra/stack up && bash infra/stack migrate`",
                cli.clickhouse
            ))
        })?;
        reqwest::get(format!("{}/subjects", cli.registry))
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| {
                Error::Run(format!(
                    "registry at {} not reachable ({e}): run `bash infra/stack up`",
                    cli.registry
                ))
            })?;
        say(format!(
            "run {run_id}: logs and configs in {}",
            work.display()
        ));
        Ok(Self {
            cli,
            repo,
            work,
            run_id,
            bin,
            ch,
            scratch: Vec::new(),
            dropped_during_run: false,
        })
    }

    fn topic_set(&self, label: &str) -> TopicSet {
        TopicSet::new(
            &self.cli.bootstrap,
            &self.cli.registry,
            &format!("-bench-{}{label}", self.run_id),
            self.cli.partitions,
        )
    }

    async fn scratch_db(&mut self, label: &str) -> Result<String> {
        self.release_finished().await;
        let db = format!("lgma_bench_{}_{label}", self.run_id);
        self.scratch.push(db.clone());
        self.ch
            .create_scratch(&db, &self.repo.join("infra/clickhouse/migrations"))
            .await?;
        Ok(db)
    }

    fn target(&self, set: &TopicSet, db: &str, label: &str) -> Target {
        Target {
            bootstrap: self.cli.bootstrap.clone(),
            registry: self.cli.registry.clone(),
            clickhouse_url: self.cli.clickhouse.clone(),
            clickhouse_user: "lgma_admin".into(),
            clickhouse_password: self.cli.ch_admin_password.clone(),
            database: db.into(),
            topic_suffix: set.suffix.clone(),
            group_id: format!("lgma-bench-{}-{label}", self.run_id),
        }
    }

    /// Starts `instances` ingest processes on `set`, writing into `db`.
    fn spawn(
        &self,
        set: &TopicSet,
        db: &str,
        label: &str,
        instances: usize,
    ) -> Result<Vec<Instance>> {
        let target = self.target(set, db, label);
        let config = self.work.join(format!("ingest-{label}.toml"));
        ingest::write_config(&self.repo, &target, &config)?;
        (0..instances)
            .map(|i| {
                Instance::spawn(
                    &self.bin,
                    &config,
                    &target.clickhouse_password,
                    self.work.join(format!("ingest-{label}-{i}.log")),
                )
            })
            .collect()
    }

    /// Phases run one after the other and each makes its scratch database when it starts, so the
    /// ones made before are finished. When the stack's data is in memory (tmpfs) they are dropped
    /// now: a 1M run's phases kept 15 GB there until the end, and the host ran out of memory in
    /// the latency phase (BENCHMARKS.md, session 24). On disk they stay until the end: there a
    /// drop slows ClickHouse for minutes after it (session 15), which would slow the next phase.
    async fn release_finished(&mut self) {
        if self.cli.keep || !lgma_bench::stack_data_in_memory() {
            return;
        }
        for db in std::mem::take(&mut self.scratch) {
            match self.ch.drop_database(&db).await {
                Ok(()) => self.dropped_during_run = true,
                Err(e) => {
                    say(format!("could not drop {db}: {e}"));
                    self.scratch.push(db);
                }
            }
        }
    }

    async fn cleanup(&self) {
        if self.cli.keep {
            say(format!(
                "kept scratch databases: {}",
                self.scratch.join(", ")
            ));
            return;
        }
        for db in &self.scratch {
            if let Err(e) = self.ch.drop_database(db).await {
                say(format!("could not drop {db}: {e}"));
            }
        }
        if !self.scratch.is_empty() || self.dropped_during_run {
            // Its mtime tells the next run when these deletions happened (see `after_drops`).
            let marker = dropped_marker();
            if let Some(dir) = marker.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = std::fs::write(marker, b"");
        }
    }
}

/// Touched when a run has dropped its scratch databases.
fn dropped_marker() -> PathBuf {
    lgma_bench::stack_data().join("bench").join("dropped-at")
}

/// ext4 without a journal (this development host) walks past every inode deleted in the last
/// 1-6 minutes to create a file, and ClickHouse 18.16 creates ~1,500 per batch: a run started
/// within this window of the previous one's drops measures the file system (BENCHMARKS.md,
/// session 15).
const FILE_SYSTEM_WINDOW: Duration = Duration::from_secs(360);

/// When the previous run dropped its scratch databases, for the report's header; warns when it
/// is within [`FILE_SYSTEM_WINDOW`].
fn after_drops() -> String {
    let since = std::fs::metadata(dropped_marker())
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok());
    match since {
        Some(ago) if ago < FILE_SYSTEM_WINDOW => {
            say(format!(
                "the previous run dropped its databases {} s ago: ClickHouse may pay for those \
                 deletions for up to {} s more (see the kernel column of the host table)",
                ago.as_secs(),
                (FILE_SYSTEM_WINDOW - ago).as_secs()
            ));
            format!(
                "the previous run's drops {} s before this run (within {} s: figures may be file-system-bound)",
                ago.as_secs(),
                FILE_SYSTEM_WINDOW.as_secs()
            )
        }
        Some(ago) => format!(
            "the previous run's drops {} s before this run",
            ago.as_secs()
        ),
        None => "no earlier run's drops on record".into(),
    }
}

async fn run(ctx: &mut Ctx, figures: &mut Figures) -> Result<()> {
    figures.machine = format!("{}; {}; {}", machine(), broker_storage(), after_drops());
    let n = ctx.cli.events as usize;

    let set = ctx.topic_set("");
    let encoder = set.prepare().await?;
    say(format!("generating {n} events (seed {})", ctx.cli.seed));
    let corpus = corpus::generate(n, ctx.cli.seed, ctx.cli.invalid_ratio, &encoder)?;
    figures.events = n as u64;
    figures.mix = corpus::mix(&corpus)
        .iter()
        .map(|(t, c)| format!("{} {}", t.name().trim_start_matches("lgma."), c))
        .collect::<Vec<_>>()
        .join(", ");

    say("stage costs, in-process");
    let mark = Reading::now();
    let chain = Chain::new(&ctx.repo, &encoder)?;
    lgma_bench::live::install_recorder(&chain.topics())?;
    let sample = &corpus[..ctx.cli.stage_sample.min(n)];
    figures.stages = Some(tokio::task::block_in_place(|| {
        chain::measure(&chain, sample, 5)
    })?);
    host_during(figures, "stage costs (in-process)", mark);

    say(format!("publishing {n} events to {} topics", set.suffix));
    let mark = Reading::now();
    let secs = kafka::publish(&set, &corpus).await?;
    say(format!("published in {secs:.1} s"));
    figures.publish_secs = Some(secs);
    host_during(figures, "publishing the corpus", mark);

    say("raw consume limit");
    let mark = Reading::now();
    figures.raw_consume = Some(raw_consume(ctx, &set, n as u64).await?);
    host_during(figures, "raw consume", mark);

    say("raw insert limit (the service's write, tables only)");
    let mark = Reading::now();
    figures.raw_insert = Some(raw_write(ctx, &set, &encoder, &corpus, false, "raw").await?);
    host_during(figures, "raw write, tables only", mark);
    figures.publishes = ingest::settings(&ctx.repo, &ctx.target(&set, "", ""))?.publish_enriched;
    if figures.publishes {
        say("raw write limit (the service's write, tables + enriched topics and DLQ)");
        let mark = Reading::now();
        figures.raw_write = Some(raw_write(ctx, &set, &encoder, &corpus, true, "rawpub").await?);
        host_during(figures, "raw write with publishing", mark);
    }
    say("entity rows on the server: RowBinary vs JSONEachRow");
    let mark = Reading::now();
    figures.formats = Some(insert_formats(ctx, &set, &encoder, &corpus).await?);
    host_during(figures, "RowBinary vs JSONEachRow", mark);

    for instances in [1usize, 2] {
        say(format!("pipeline, {instances} instance(s)"));
        let label = format!("p{instances}");
        let db = ctx.scratch_db(&label).await?;
        let mark = Reading::now();
        let stats = match pipeline(ctx, &set, &db, &label, instances, n as u64).await {
            Ok(stats) => stats,
            // Two instances share tansu's group coordinator, which can stall them both (a
            // heartbeat unanswered under a large store; tests/RELIABILITY.md): the report says
            // so, and the phases after it still run.
            Err(e) if instances == 2 => {
                say(format!("  2 instances did not finish: {e}"));
                host_during(figures, "pipeline, 2 instances (did not finish)", mark);
                figures.pipeline2_failed = Some(e.to_string());
                continue;
            }
            Err(e) => return Err(e),
        };
        host_during(figures, &format!("pipeline, {instances} instance(s)"), mark);
        if instances == 1 {
            figures.pipeline1 = Some(stats);
            // The raw stages again, on the store the pipeline left (see `raw_consume_after`).
            say("raw consume and raw write limits again, after the pipeline");
            let mark = Reading::now();
            figures.raw_consume_after = Some(raw_consume(ctx, &set, n as u64).await?);
            let publish = figures.publishes;
            figures.raw_write_after =
                Some(raw_write(ctx, &set, &encoder, &corpus, publish, "rawafter").await?);
            host_during(figures, "raw stages after the pipeline", mark);
        } else {
            figures.pipeline2 = Some(stats);
        }
    }
    drop(corpus);

    say(format!(
        "latency at {} events/s for {} s",
        ctx.cli.latency_rate, ctx.cli.latency_secs
    ));
    let mark = Reading::now();
    figures.latency = Some(latency(ctx).await?);
    host_during(figures, "latency run", mark);

    if !ctx.cli.skip_python {
        say(format!(
            "Python baseline on {} events",
            ctx.cli.python_events.min(n as u64)
        ));
        let mark = Reading::now();
        figures.python = Some(python(ctx, &set).await?);
        host_during(figures, "Python baseline", mark);
    }

    if ctx.cli.backfill_days > 0 {
        say(format!(
            "back-fill of {} simulated days",
            ctx.cli.backfill_days
        ));
        let mark = Reading::now();
        figures.backfill = Some(backfill(ctx).await?);
        host_during(figures, "back-fill", mark);
    }
    Ok(())
}

/// The raw consume limit of `set`'s source topics (`kafka::raw_consume`, a blocking client, on a
/// blocking thread).
async fn raw_consume(ctx: &Ctx, set: &TopicSet, events: u64) -> Result<ConsumeStats> {
    let (bootstrap, topics) = (ctx.cli.bootstrap.clone(), set.source_topics());
    tokio::task::spawn_blocking(move || kafka::raw_consume(&bootstrap, &topics, events))
        .await
        .map_err(|e| Error::Run(e.to_string()))?
}

/// Records what the host's CPUs and the stack's servers did since `mark` under `phase` (nothing
/// where /proc/stat is unreadable): a phase slowed by the host, or by a server working harder
/// than usual, shows instead of passing for our figure.
fn host_during(figures: &mut Figures, phase: &str, mark: Reading) {
    if let Some(share) = Reading::now().since(&mark) {
        figures.host.push((phase.to_string(), share));
    }
}

/// nproc, CPU model, memory and date, for the table's header.
/// The local broker's storage before the run: tansu on sqlite slows down as it grows, and it
/// grows with every run (its DeleteTopics drops every topic, so runs never delete theirs), so a
/// figure is only comparable with runs on a similar size.
fn broker_storage() -> String {
    format!(
        "local broker storage at start {:.2} GB ({}; in memory if `tansu-memory`)",
        lgma_bench::broker_store_bytes() as f64 / 1e9,
        lgma_bench::broker_dir().display()
    )
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU".to_string(), |m| m.trim().to_string());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gb = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{cores} cores ({model}), {mem_gb:.1} GiB RAM; {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    )
}
