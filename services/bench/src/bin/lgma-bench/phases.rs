//! The measurements of `lgma-bench` that run against the stack: raw insert limit, the pipeline
//! with 1 and 2 instances, latency, the Python baseline and the back-fill (see BENCHMARKS.md).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lgma_bench::chain::{self, Chain};
use lgma_bench::corpus::{self, Encoded};
use lgma_bench::ingest::{self, Instance};
use lgma_bench::kafka::{self, TopicSet};
use lgma_bench::report::{
    BackfillStats, FormatStats, InsertStats, LatencyStats, PipelineStats, PythonStats, Spread,
};
use lgma_bench::scratch::ClickHouse;
use lgma_bench::{Error, Result};
use lgma_ingest::chain::TopicPipeline;
use lgma_ingest::encode::events::EventsTable;
use lgma_ingest::encode::reference::JsonRows;
use lgma_ingest::metrics::Phases;
use lgma_ingest::sink::order::Line;
use lgma_ingest::sink::{protocol, ClickHouse as ClickHouseSink, Publisher};
use lgma_publisher::produce::EventProducer;

use crate::{say, Ctx};

/// The raw write limit: the service's own write of a batch (`sink::protocol::write`: its
/// ClickHouse client, RowBinary entity rows over uncompressed HTTP, every table of a batch at
/// once, then the offset of record; `batch.max_in_flight` batches overlapped, as the consumer
/// writes them), on distinct rows: the corpus is run through the chain first, in the service's
/// batch shape, [`WRITE_WINDOW_BATCHES`] batches at a time, and every batch is written once.
/// `publish`: the batch's enriched events and DLQ records are sent to the broker too (acks=all,
/// concurrently with the inserts), as the pipeline does when it publishes.
/// `label` names its scratch database (one per call).
pub(crate) async fn raw_write(
    ctx: &mut Ctx,
    set: &TopicSet,
    encoder: &lgma_sim::encode::Encoder,
    corpus: &[Encoded],
    publish: bool,
    label: &str,
) -> Result<InsertStats> {
    let db = ctx.scratch_db(label).await?;
    let settings = ingest::settings(&ctx.repo, &ctx.target(set, &db, label))?;
    let chain = Chain::for_settings(&settings, encoder)?;
    let batch = settings.batch.max_rows.max(1);
    let clickhouse = Arc::new(ClickHouseSink::new(settings.clickhouse.clone())?);
    let publisher = Arc::new(Publisher::for_settings(&settings)?);
    let lines = |b: &[u8]| b.iter().filter(|c| **c == b'\n').count() as u64;
    let (mut rows, mut messages, mut secs) = (0u64, 0u64, 0f64);
    let mut next = std::collections::HashMap::new();
    let mut line = Line::default();
    // Window by window: a 1M corpus's rows and enriched events held at once took ~2 GB (and the
    // host's memory with it, next to a broker on tmpfs). Each window is run through the chain off
    // the clock, then written on it, and drained before the next. The drain costs one batch's
    // overlap per window against one unbroken stream of writes: this limit can only come out
    // slower, never faster.
    for window in corpus.chunks(batch * WRITE_WINDOW_BATCHES) {
        let mut batches = Vec::new();
        for chunk in chain::raw_records_from(window, &set.suffix, &mut next).chunks(batch) {
            let mut out = chain.process(chunk)?;
            if !publish {
                out.outgoing.clear();
            }
            batches.push(out);
        }
        for b in &batches {
            rows += b.tables.values().map(|t| 2 * t.rows as u64).sum::<u64>();
            rows += lines(&b.events) + lines(&b.quarantine) + lines(&b.links.rows);
            messages += b.outgoing.len() as u64;
        }
        // As the consumer writes: up to `batch.max_in_flight` batches at once, offsets of record
        // in batch order.
        let mut in_flight = std::collections::VecDeque::new();
        let started = Instant::now();
        for b in batches {
            if in_flight.len() >= settings.max_in_flight() {
                if let Some(oldest) = in_flight.pop_front() {
                    joined(oldest).await?;
                }
            }
            let (clickhouse, publisher, turn) =
                (clickhouse.clone(), publisher.clone(), line.take_turn());
            in_flight.push_back(tokio::spawn(async move {
                let mut clock = Phases::start();
                protocol::write(
                    &clickhouse,
                    &publisher,
                    b,
                    &EventsTable::OFFSET_OF_RECORD,
                    &mut clock,
                    turn,
                )
                .await
            }));
        }
        while let Some(write) = in_flight.pop_front() {
            joined(write).await?;
        }
        secs += started.elapsed().as_secs_f64();
    }
    let events = corpus.len() as u64;
    let stored = ctx
        .ch
        .count(&format!("SELECT count() FROM {db}.ingest_events"))
        .await?;
    if stored != events {
        return Err(Error::Run(format!(
            "raw write: {stored} offset-of-record rows stored, {events} written"
        )));
    }
    Ok(InsertStats {
        events,
        rows,
        messages,
        secs,
        batch,
    })
}

/// Batches the raw write runs through the chain before writing them (200,000 events at the
/// service's 5,000-row batches).
const WRITE_WINDOW_BATCHES: usize = 40;

/// One INSERT's rows of one table, both ways.
struct Bodies {
    table: String,
    columns: std::sync::Arc<str>,
    binary: bytes::Bytes,
    json: bytes::Bytes,
}

/// Events whose entity rows the format comparison inserts (enough for every table's rows, small
/// enough to keep their cells in memory).
const FORMAT_EVENTS: usize = 100_000;

/// The entity rows of the corpus's first [`FORMAT_EVENTS`] events, in the service's batch size
/// per table, inserted into a scratch database's `_history` and `_current` tables (their views
/// included) as RowBinary and as JSONEachRow, one INSERT at a time, in three alternating rounds:
/// wall time and the ClickHouse server's CPU of each format's best round. Same client, same rows.
pub(crate) async fn insert_formats(
    ctx: &mut Ctx,
    set: &TopicSet,
    encoder: &lgma_sim::encode::Encoder,
    corpus: &[Encoded],
) -> Result<FormatStats> {
    let db = ctx.scratch_db("fmt").await?;
    let settings = ingest::settings(&ctx.repo, &ctx.target(set, &db, "fmt"))?;
    let chain = Chain::for_settings(&settings, encoder)?;
    let records = chain::raw_records(&corpus[..corpus.len().min(FORMAT_EVENTS)], &set.suffix);
    let cells = chain.entity_cells(&records);
    let batch = settings.batch.max_rows.max(1);
    // Per table: its pipeline and its rows (indexes into `cells`) in batches of the service's size.
    let mut tables: std::collections::BTreeMap<&str, (&TopicPipeline, Vec<Vec<usize>>)> =
        Default::default();
    for (i, (tp, _)) in cells.iter().enumerate() {
        let (_, batches) = tables.entry(tp.table.as_str()).or_insert((*tp, Vec::new()));
        match batches.last_mut() {
            Some(last) if last.len() < batch => last.push(i),
            _ => batches.push(vec![i]),
        }
    }
    let mut bodies = Vec::new();
    for (table, (tp, batches)) in &tables {
        let json = JsonRows::new(&tp.layout);
        for rows in batches {
            let (mut binary, mut lines) = (Vec::new(), Vec::new());
            for i in rows {
                tp.layout.write_row_binary(&cells[*i].1, &mut binary);
                json.write(&tp.layout, &cells[*i].1, &mut lines);
            }
            bodies.push(Bodies {
                table: table.to_string(),
                columns: tp.layout.insert_columns.clone(),
                binary: binary.into(),
                json: lines.into(),
            });
        }
    }
    let clickhouse = ClickHouseSink::new(settings.clickhouse.clone())?;
    let server = lgma_bench::procfs::stack_pid("clickhouse/clickhouse.pid");
    let cpu = || server.and_then(lgma_bench::procfs::cpu_seconds);
    let mut best = ((f64::MAX, None::<f64>), (f64::MAX, None::<f64>));
    for _ in 0..3 {
        for binary in [true, false] {
            let (t, c) = (Instant::now(), cpu());
            for b in &bodies {
                for suffix in ["history", "current"] {
                    let target = format!("{db}.{}_{suffix}", b.table);
                    if binary {
                        clickhouse
                            .insert_row_binary(&target, &b.columns, b.binary.clone())
                            .await?;
                    } else {
                        clickhouse.insert_json(&target, b.json.clone()).await?;
                    }
                }
            }
            let secs = t.elapsed().as_secs_f64();
            let used = c.zip(cpu()).map(|(a, b)| b - a);
            let slot = if binary { &mut best.0 } else { &mut best.1 };
            if secs < slot.0 {
                *slot = (secs, used);
            }
        }
    }
    let total = |pick: fn(&Bodies) -> usize| bodies.iter().map(pick).sum::<usize>() as u64;
    Ok(FormatStats {
        rows: cells.len() as u64,
        bytes: (total(|b| b.binary.len()), total(|b| b.json.len())),
        secs: (best.0 .0, best.1 .0),
        server_cpu: (best.0 .1, best.1 .1),
    })
}

/// The answer of a spawned batch write.
async fn joined(
    write: tokio::task::JoinHandle<lgma_ingest::Result<protocol::Written>>,
) -> Result<()> {
    write.await.map_err(|e| Error::Run(e.to_string()))??;
    Ok(())
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
pub(crate) async fn pipeline(
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
pub(crate) async fn latency(ctx: &mut Ctx) -> Result<LatencyStats> {
    let set = ctx.topic_set("-lat");
    let encoder = set.prepare().await?;
    let db = ctx.scratch_db("lat").await?;
    let mut procs = ctx.spawn(&set, &db, "lat", 1)?;
    let producer = EventProducer::timing_acks(&set.settings)?;
    let names = set.names();
    // Valid events only: an undecodable one has no `published_at` to measure from.
    let mut generator = corpus::generator(ctx.cli.seed + 1, 0.0)?;
    let now_ms = || chrono::Utc::now().timestamp_millis();
    let mut send = |count: u64| -> Vec<Encoded> {
        (0..count)
            .filter_map(|_| {
                let mut g = generator.next_event();
                corpus::restamp(&mut g.event, now_ms());
                corpus::encode(&encoder, g).ok()
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
    producer.take_ack_ms(); // the warm-up's

    let steady_start = now_ms();
    let broker_store_bytes = lgma_bench::broker_store_bytes();
    // Two clocks stop for each event: when its row is in its entity table (queryable: the
    // target's figure) and when its batch's offset of record is written (after the enriched
    // events are acknowledged: an upper bound).
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::default();
    let queryable: Arc<Mutex<Vec<f64>>> = Arc::default();
    let tables = ctx.ch.history_tables(&db).await?;
    let stop = tokio_util_stop();
    let poller = {
        let (ch, db, topics, latencies, queryable, stop) = (
            ctx.ch.clone(),
            db.clone(),
            set.source_topics(),
            latencies.clone(),
            queryable.clone(),
            stop.clone(),
        );
        let partitions = usize::try_from(ctx.cli.partitions).unwrap_or(1).max(1);
        tokio::spawn(async move {
            let mut seen: Vec<String> = Vec::new();
            let mut marks = vec![vec![-1i64; partitions]; tables.len()];
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                let tick = Instant::now();
                let rows = ch
                    .new_entity_rows(&db, &tables, &marks, steady_start)
                    .await?;
                let at = chrono::Utc::now().timestamp_millis();
                {
                    let mut q = queryable
                        .lock()
                        .map_err(|_| Error::Run("poisoned".into()))?;
                    for r in rows {
                        let slot = marks
                            .get_mut(r.t as usize)
                            .and_then(|m| m.get_mut(usize::try_from(r.partition).ok()?));
                        if let Some(mark) = slot {
                            *mark = (*mark).max(r.offset);
                        }
                        q.push((at - r.published_at) as f64);
                    }
                }
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
    let acked: Vec<f64> = producer
        .take_ack_ms()
        .into_iter()
        .map(|ms| ms as f64)
        .collect();
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
    let taken = |v: &Arc<Mutex<Vec<f64>>>| -> Result<Vec<f64>> {
        Ok(std::mem::take(
            &mut *v.lock().map_err(|_| Error::Run("poisoned".into()))?,
        ))
    };
    let (l, q) = (taken(&latencies)?, taken(&queryable)?);
    Ok(LatencyStats {
        events: l.len() as u64,
        rate: ctx.cli.latency_rate,
        achieved_rate: achieved,
        queryable: Spread::of(q),
        recorded: Spread::of(l),
        acked: (!acked.is_empty()).then(|| Spread::of(acked)),
        peak_rss: rss,
        broker_store_bytes,
    })
}

fn tokio_util_stop() -> Arc<std::sync::atomic::AtomicBool> {
    Arc::new(std::sync::atomic::AtomicBool::new(false))
}

/// The hand-written consumer a user would write instead, on the same topics.
pub(crate) async fn python(ctx: &mut Ctx, set: &TopicSet) -> Result<PythonStats> {
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
pub(crate) async fn backfill(ctx: &mut Ctx) -> Result<BackfillStats> {
    let set = ctx.topic_set("-bf");
    let encoder = set.prepare().await?;
    let days = ctx.cli.backfill_days;
    let events = corpus::simulated_days(days, ctx.cli.seed + 2, ctx.cli.invalid_ratio, &encoder)?;
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
