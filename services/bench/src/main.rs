//! `lgma-bench`: one run measures the in-process stage costs, the broker's and the database's raw
//! limits, the ingest pipeline (1 and 2 instances), publish->queryable latency, memory, a Python
//! baseline and a back-fill, on the same realistic events, and prints the table (BENCHMARKS.md).
//!
//! Everything runs on unique topics and in scratch ClickHouse databases that are dropped at the
//! end, so the platform's own tables and summaries are untouched.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use lgma_bench::chain::{self, Chain};
use lgma_bench::corpus::{self, Encoded};
use lgma_bench::ingest::{self, Instance, Target};
use lgma_bench::kafka::{self, TopicSet};
use lgma_bench::report::{
    quantile, BackfillStats, Figures, InsertStats, LatencyStats, PipelineStats, PythonStats,
};
use lgma_bench::scratch::ClickHouse;
use lgma_bench::{Error, Result};
use lgma_publisher::produce::EventProducer;
use lgma_sim::{Generator, GeneratorConfig};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "lgma-bench",
    version,
    about = "Benchmark the ingest pipeline against the broker's and ClickHouse's raw limits on the running local stack"
)]
struct Cli {
    /// Events for the raw limits and the pipeline runs.
    #[arg(long, default_value_t = 300_000)]
    events: u64,
    /// Skip the Python baseline.
    #[arg(long)]
    skip_python: bool,
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
    /// Events per raw-insert batch (the ingest config's batch.max_rows is 5000).
    #[arg(long, default_value_t = 5_000)]
    insert_batch: usize,
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
    /// Keep the scratch databases (default: dropped at the end).
    #[arg(long)]
    keep: bool,
    /// Also write the table to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, env = "LGMA_KAFKA_BOOTSTRAP", default_value = "127.0.0.1:9092")]
    bootstrap: String,
    #[arg(
        long,
        env = "LGMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    registry: String,
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
}

fn say(msg: impl AsRef<str>) {
    eprintln!("[bench] {}", msg.as_ref());
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
        say(format!("run took {:.0} s", started.elapsed().as_secs_f64()));
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
    }
}

async fn run(ctx: &mut Ctx, figures: &mut Figures) -> Result<()> {
    figures.machine = machine();
    let n = ctx.cli.events as usize;

    let set = ctx.topic_set("");
    let encoder = set.prepare().await?;
    say(format!("generating {n} events (seed {})", ctx.cli.seed));
    let corpus = corpus::generate(n, ctx.cli.seed, &encoder)?;
    figures.events = n as u64;
    figures.mix = corpus::mix(&corpus)
        .iter()
        .map(|(t, c)| format!("{} {}", t.name().trim_start_matches("lgma."), c))
        .collect::<Vec<_>>()
        .join(", ");

    say("stage costs, in-process");
    let chain = Chain::new(&ctx.repo, &encoder)?;
    let sample = &corpus[..ctx.cli.stage_sample.min(n)];
    figures.stages = Some(tokio::task::block_in_place(|| {
        chain::measure(&chain, sample, 3)
    })?);

    say(format!("publishing {n} events to {} topics", set.suffix));
    let secs = kafka::publish(&set, &corpus).await?;
    say(format!("published in {secs:.1} s"));
    figures.publish_secs = Some(secs);

    say("raw consume limit");
    let (bootstrap, topics) = (ctx.cli.bootstrap.clone(), set.source_topics());
    figures.raw_consume = Some(
        tokio::task::spawn_blocking(move || kafka::raw_consume(&bootstrap, &topics, n as u64))
            .await
            .map_err(|e| Error::Run(e.to_string()))??,
    );

    say("raw insert limit");
    let db = ctx.scratch_db("raw").await?;
    figures.raw_insert = Some(raw_insert(ctx, &chain, &corpus, &db).await?);
    drop(corpus);

    for instances in [1usize, 2] {
        say(format!("pipeline, {instances} instance(s)"));
        let label = format!("p{instances}");
        let db = ctx.scratch_db(&label).await?;
        let stats = pipeline(ctx, &set, &db, &label, instances, n as u64).await?;
        if instances == 1 {
            figures.pipeline1 = Some(stats);
        } else {
            figures.pipeline2 = Some(stats);
        }
    }

    say(format!(
        "latency at {} events/s for {} s",
        ctx.cli.latency_rate, ctx.cli.latency_secs
    ));
    figures.latency = Some(latency(ctx).await?);

    if !ctx.cli.skip_python {
        say(format!(
            "Python baseline on {} events",
            ctx.cli.python_events.min(n as u64)
        ));
        figures.python = Some(python(ctx, &set).await?);
    }

    if ctx.cli.backfill_days > 0 {
        say(format!(
            "back-fill of {} simulated days",
            ctx.cli.backfill_days
        ));
        figures.backfill = Some(backfill(ctx).await?);
    }
    Ok(())
}

/// nproc, CPU model, memory and date, for the table's header.
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

/// Inserts the pipeline's own rows (history, current, offset of record) for `events` events in
/// the pipeline's batch shape, with no processing in the timed loop: rows are built beforehand
/// for a sample of up to 50k events and that sample is inserted repeatedly.
async fn raw_insert(ctx: &Ctx, chain: &Chain, corpus: &[Encoded], db: &str) -> Result<InsertStats> {
    let batch = ctx.cli.insert_batch.max(1);
    let sample = corpus.len().min(50_000);
    let mut batches = Vec::new();
    for chunk in chain::raw_records(&corpus[..sample]).chunks(batch) {
        batches.push((chunk.len(), chain.process(chunk)?));
    }
    let lines = |b: &[u8]| bytecount(b) as u64;
    let total = corpus.len() as u64;
    let (mut events, mut rows) = (0u64, 0u64);
    let started = Instant::now();
    'outer: loop {
        for (len, out) in &batches {
            if events >= total {
                break 'outer;
            }
            for (table, bytes) in &out.tables {
                ctx.ch
                    .insert_json(&format!("{db}.{table}_history"), bytes)
                    .await?;
                ctx.ch
                    .insert_json(&format!("{db}.{table}_current"), bytes)
                    .await?;
                rows += 2 * lines(bytes);
            }
            ctx.ch
                .insert_json(&format!("{db}.ingest_events"), &out.events)
                .await?;
            rows += lines(&out.events);
            events += *len as u64;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let stored = ctx
        .ch
        .count(&format!("SELECT count() FROM {db}.ingest_events"))
        .await?;
    if stored != events {
        return Err(Error::Run(format!(
            "raw insert: {stored} offset-of-record rows stored, {events} inserted"
        )));
    }
    Ok(InsertStats {
        events,
        rows,
        secs,
        batch,
    })
}

fn bytecount(b: &[u8]) -> usize {
    b.iter().filter(|c| **c == b'\n').count()
}

/// Waits until `expected` records of `db` are recorded; returns (first row seen, rows then,
/// all rows seen). Fails if an instance dies or nothing moves for 120 s.
async fn wait_recorded(
    ch: &ClickHouse,
    db: &str,
    expected: u64,
    procs: &mut [Instance],
) -> Result<(Instant, u64, Instant)> {
    let sql = format!("SELECT count() FROM {db}.ingest_events");
    let mut first: Option<(Instant, u64)> = None;
    let mut last_change = (Instant::now(), 0u64);
    let mut last_log = Instant::now();
    loop {
        for p in procs.iter_mut() {
            p.check_alive()?;
        }
        let count = ch.count(&sql).await?;
        let now = Instant::now();
        if count > 0 && first.is_none() {
            first = Some((now, count));
        }
        if count >= expected {
            let (t0, c0) = first.unwrap_or((now, count));
            return Ok((t0, c0, now));
        }
        if count != last_change.1 {
            last_change = (now, count);
        } else if now.duration_since(last_change.0) > Duration::from_secs(120) {
            return Err(Error::Run(format!(
                "stalled at {count} of {expected} records for 120 s; see {}",
                procs
                    .first()
                    .map_or(String::new(), |p| p.log.display().to_string())
            )));
        }
        if last_log.elapsed() > Duration::from_secs(10) {
            say(format!("  {count} of {expected} recorded"));
            last_log = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `instances` ingest processes from the start of `set` until all `expected` records are
/// in `db`'s offset of record.
async fn pipeline(
    ctx: &Ctx,
    set: &TopicSet,
    db: &str,
    label: &str,
    instances: usize,
    expected: u64,
) -> Result<PipelineStats> {
    let started = Instant::now();
    let mut procs = ctx.spawn(set, db, label, instances)?;
    let waited = wait_recorded(&ctx.ch, db, expected, &mut procs).await;
    let mut cpu = 0.0;
    let mut rss = 0;
    for p in procs {
        let u = p.stop()?;
        cpu += u.cpu_secs;
        rss = rss.max(u.peak_rss);
    }
    let (t0, c0, done) = waited?;
    let steady = done.duration_since(t0).as_secs_f64();
    // Extrapolate the steady rate (first row -> last row) to all `expected` events.
    let secs = if expected > c0 && steady > 0.0 {
        steady * expected as f64 / (expected - c0) as f64
    } else {
        done.duration_since(started).as_secs_f64()
    };
    let stats = PipelineStats {
        instances,
        events: expected,
        secs,
        wall_secs: done.duration_since(started).as_secs_f64(),
        cpu_secs: cpu,
        peak_rss: rss,
    };
    say(format!(
        "  {:.0} events/s, {:.1} CPU s",
        expected as f64 / secs,
        cpu
    ));
    Ok(stats)
}

/// A steady stream at `--latency-rate` with `published_at` = send time; a poller every 50 ms
/// sees which events became queryable in the offset of record.
async fn latency(ctx: &mut Ctx) -> Result<LatencyStats> {
    let set = ctx.topic_set("-lat");
    let encoder = set.prepare().await?;
    let db = ctx.scratch_db("lat").await?;
    let mut procs = ctx.spawn(&set, &db, "lat", 1)?;
    let producer = EventProducer::new(&set.settings)?;
    let names = set.names();
    let mut generator = Generator::new(ctx.cli.seed + 1, GeneratorConfig::default())?;
    let now_ms = || chrono::Utc::now().timestamp_millis();
    let mut send = |count: u64| -> Vec<Encoded> {
        (0..count)
            .filter_map(|_| {
                let mut g = generator.next_event();
                corpus::restamp(&mut g.event, now_ms());
                corpus::encode(&encoder, &g.event, g.key).ok()
            })
            .collect()
    };

    // Warm-up: the instance joins the group and records a first batch.
    let warm = 200u64;
    for e in send(warm) {
        producer
            .send(&names[&e.topic], &e.key, &e.value, &e.meta)
            .await?;
    }
    producer.flush(Duration::from_secs(30))?;
    wait_recorded(&ctx.ch, &db, warm, &mut procs).await?;

    let steady_start = now_ms();
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::default();
    let stop = tokio_util_stop();
    let poller = {
        let (ch, db, topics, latencies, stop) = (
            ctx.ch.clone(),
            db.clone(),
            set.source_topics(),
            latencies.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let mut seen: Vec<String> = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                let tick = Instant::now();
                let batches = ch.new_batches(&db, &topics, &seen).await?;
                let at = chrono::Utc::now().timestamp_millis();
                {
                    let mut l = latencies
                        .lock()
                        .map_err(|_| Error::Run("poisoned".into()))?;
                    for b in batches {
                        for p in b.published.iter().filter(|p| **p >= steady_start) {
                            l.push((at - p) as f64);
                        }
                        seen.push(b.batch_id);
                    }
                }
                tokio::time::sleep(Duration::from_millis(50).saturating_sub(tick.elapsed())).await;
            }
            Ok::<_, Error>(())
        })
    };

    let total = (ctx.cli.latency_rate * ctx.cli.latency_secs as f64) as u64;
    let begun = Instant::now();
    let mut sent = 0u64;
    while sent < total {
        let due = ((begun.elapsed().as_secs_f64() * ctx.cli.latency_rate) as u64).min(total);
        if due > sent {
            for e in send(due - sent) {
                producer
                    .send(&names[&e.topic], &e.key, &e.value, &e.meta)
                    .await?;
            }
            sent = due;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let achieved = sent as f64 / begun.elapsed().as_secs_f64();
    producer.flush(Duration::from_secs(30))?;
    let deadline = Instant::now() + Duration::from_secs(120);
    let result = loop {
        let seen = latencies.lock().map(|l| l.len() as u64).unwrap_or(0);
        if seen >= total {
            break Ok(());
        }
        if Instant::now() > deadline || procs.iter_mut().any(|p| p.check_alive().is_err()) {
            break Err(Error::Run(format!(
                "latency: {seen} of {total} events queryable after 120 s"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    stop.store(true, std::sync::atomic::Ordering::Release);
    let polled = poller.await.map_err(|e| Error::Run(e.to_string()))?;
    let mut rss = 0;
    for p in procs {
        rss = rss.max(p.stop()?.peak_rss);
    }
    result?;
    polled?;
    let mut l = latencies
        .lock()
        .map_err(|_| Error::Run("poisoned".into()))?
        .clone();
    l.sort_by(f64::total_cmp);
    Ok(LatencyStats {
        events: l.len() as u64,
        rate: ctx.cli.latency_rate,
        achieved_rate: achieved,
        p50_ms: quantile(&l, 0.50),
        p99_ms: quantile(&l, 0.99),
        max_ms: quantile(&l, 1.0),
        peak_rss: rss,
    })
}

fn tokio_util_stop() -> Arc<std::sync::atomic::AtomicBool> {
    Arc::new(std::sync::atomic::AtomicBool::new(false))
}

/// The hand-written consumer a user would write instead, on the same topics.
async fn python(ctx: &mut Ctx, set: &TopicSet) -> Result<PythonStats> {
    let db = format!("lgma_bench_{}_py", ctx.run_id);
    ctx.scratch.push(db.clone());
    ctx.ch
        .exec(&format!("CREATE DATABASE IF NOT EXISTS {db}"))
        .await?;
    let script = ctx.repo.join("services/bench/python/baseline_consumer.py");
    let max = ctx.cli.python_events.min(ctx.cli.events);
    let output = tokio::process::Command::new(&ctx.cli.python)
        .arg(&script)
        .args(["--bootstrap", &ctx.cli.bootstrap])
        .args(["--registry", &ctx.cli.registry])
        .args(["--clickhouse-url", &ctx.cli.clickhouse])
        .args(["--user", "lgma_admin"])
        .args(["--database", &db])
        .args(["--topics", &set.source_topics().join(",")])
        .args(["--max-events", &max.to_string()])
        .arg(format!("--topic-suffix={}", set.suffix))
        .args(["--group", &format!("lgma-bench-{}-py", ctx.run_id)])
        .args([
            "--references",
            &ctx.repo
                .join("schemas/reference/local_authorities.csv")
                .display()
                .to_string(),
        ])
        .env("LGMA_CH_ADMIN_PASSWORD", &ctx.cli.ch_admin_password)
        .output()
        .await
        .map_err(|e| Error::Run(format!("cannot run {}: {e}", ctx.cli.python.display())))?;
    // `output()` captures stderr (it overrides any redirection): keep it as the log.
    std::fs::write(ctx.work.join("python.log"), &output.stderr)?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or_default();
        return Err(Error::Run(format!(
            "Python baseline failed ({}): {last}; see {}",
            output.status,
            ctx.work.join("python.log").display()
        )));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().last().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(line)
        .map_err(|e| Error::Run(format!("Python baseline output {line:?}: {e}")))?;
    let events = v["events"].as_u64().unwrap_or(0);
    let secs = v["secs"].as_f64().unwrap_or(0.0);
    let stored = ctx
        .ch
        .count(&format!("SELECT count() FROM {db}.py_events"))
        .await?;
    if events != max || stored != max {
        return Err(Error::Run(format!(
            "Python baseline: consumed {events}, stored {stored}, expected {max}"
        )));
    }
    let stats = PythonStats {
        events,
        secs,
        cpu_secs: v["cpu_secs"].as_f64().unwrap_or(0.0),
    };
    say(format!("  {:.0} events/s", events as f64 / secs.max(1e-9)));
    Ok(stats)
}

/// A year (or `--backfill-days`) of every council's events, published first, then ingested
/// from the start of the topics by one instance.
async fn backfill(ctx: &mut Ctx) -> Result<BackfillStats> {
    let set = ctx.topic_set("-bf");
    let encoder = set.prepare().await?;
    let days = ctx.cli.backfill_days;
    let events = corpus::simulated_days(days, ctx.cli.seed + 2, &encoder)?;
    let count = events.len() as u64;
    say(format!(
        "  {count} events in {days} simulated days; publishing"
    ));
    let publish_secs = kafka::publish(&set, &events).await?;
    drop(events);
    let db = ctx.scratch_db("bf").await?;
    let p = pipeline(ctx, &set, &db, "bf", 1, count).await?;
    Ok(BackfillStats {
        days,
        events: count,
        publish_secs,
        secs: p.secs,
        wall_secs: p.wall_secs,
    })
}
