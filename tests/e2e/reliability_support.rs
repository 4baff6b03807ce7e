//! Shared by the reliability tests (tests/RELIABILITY.md): a background producer that records every
//! delivered position, the exact-count check (by topic/partition/offset and by event id), ingest
//! spawned with extra environment, and a guard that brings a stopped shared service back.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use lgma_sim::GeneratedEvent;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

use crate::ingest_support::{ch_query, quote, repo, signal_pid, wait_for_count, ChildGuard, World};

/// How many events `stream` had to send again after a failed delivery (process-wide).
pub static RESENDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// While set, `stream` holds between chunks; when cleared it continues with a new producer.
pub static PAUSE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Produces `events` in chunks with a pause between chunks (a steady stream), returning the
/// (partition, offset) of every delivered record, in send order. A chunk is enqueued at once and
/// then awaited, so the pace is set by `pause`, not by one broker round trip per event.
///
/// A failed delivery is handled the way a publisher must: the event is sent again, through a NEW
/// producer (after a tansu restart the old idempotent producer's sequence is refused for good with
/// "Unknown broker error"). Re-sends are counted in `RESENDS`.
pub fn stream(
    world: Arc<World>,
    events: Vec<GeneratedEvent>,
    chunk: usize,
    pause: Duration,
) -> tokio::task::JoinHandle<Result<Vec<(i32, i64)>>> {
    tokio::spawn(async move {
        let mut producer = world.producer.clone();
        let mut delivered = Vec::with_capacity(events.len());
        for part in events.chunks(chunk) {
            if PAUSE.load(std::sync::atomic::Ordering::SeqCst) {
                while PAUSE.load(std::sync::atomic::Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                // Producer ids handed out before a broker restart are not reused after it.
                producer = new_producer()?;
            }
            let mut pending = Vec::with_capacity(part.len());
            for e in part {
                let bytes = world.encoder.encode(e)?;
                let topic = world.topic(e.topic);
                let record = FutureRecord::to(&topic).key(&e.key).payload(&bytes);
                match producer.send_result(record) {
                    Ok(future) => pending.push(Some(future)),
                    Err(_) => pending.push(None),
                }
            }
            for (future, e) in pending.into_iter().zip(part) {
                let first = match future {
                    Some(f) => f.await.ok().and_then(|r| r.ok()),
                    None => None,
                };
                if let Some(d) = first {
                    delivered.push((d.partition, d.offset));
                    continue;
                }
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    producer = new_producer()?;
                    let bytes = world.encoder.encode(e)?;
                    let topic = world.topic(e.topic);
                    let record = FutureRecord::to(&topic).key(&e.key).payload(&bytes);
                    match producer.send(record, Duration::from_secs(30)).await {
                        Ok(d) => {
                            eprintln!(
                                "re-sent event {} through a new producer after a failed delivery (attempt {attempt})",
                                e.event.meta().event_id
                            );
                            RESENDS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            delivered.push((d.partition, d.offset));
                            break;
                        }
                        Err((err, _)) if attempt < 20 => {
                            eprintln!("re-send failed ({err}); retrying")
                        }
                        Err((err, _)) => {
                            anyhow::bail!("re-send of {}: {err}", e.event.meta().event_id)
                        }
                    }
                }
            }
            tokio::time::sleep(pause).await;
        }
        Ok(delivered)
    })
}

/// A producer configured like the test world's (idempotent, acks=all).
pub fn new_producer() -> Result<FutureProducer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", lgma_e2e::kafka_bootstrap())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .create()?)
}

#[derive(serde::Deserialize, Debug)]
pub struct Totals {
    pub rows: u64,
    pub offsets: u64,
    pub events: u64,
}

#[derive(serde::Deserialize)]
struct Position {
    partition: i32,
    offset: i64,
    event_id: String,
}

/// The exact-count check every fault ends with: the offset of record holds each delivered
/// (partition, offset) exactly once, nothing else, and each event id once; the entity history
/// (FINAL) holds each event once. Prints what it counted.
pub async fn assert_exactly_once(
    label: &str,
    topic: &str,
    history_table: &str,
    delivered: &[(i32, i64)],
    event_ids: &HashSet<String>,
) -> Result<()> {
    let t: Vec<Totals> = ch_query(&format!(
        "SELECT count() AS rows, uniqExact(partition, offset) AS offsets, uniqExact(event_id) AS events \
         FROM lgma.ingest_events WHERE topic = {}",
        quote(topic)
    ))
    .await?;
    let t = &t[0];
    let stored: Vec<Position> = ch_query(&format!(
        "SELECT partition, offset, event_id FROM lgma.ingest_events WHERE topic = {}",
        quote(topic)
    ))
    .await?;
    let stored_positions: HashSet<(i32, i64)> =
        stored.iter().map(|p| (p.partition, p.offset)).collect();
    let produced: HashSet<(i32, i64)> = delivered.iter().copied().collect();
    let lost = produced.difference(&stored_positions).count();
    let extra = stored_positions.difference(&produced).count();
    let doubled_positions = t.rows - t.offsets;
    let stored_ids: HashSet<&str> = stored.iter().map(|p| p.event_id.as_str()).collect();
    let lost_ids = event_ids
        .iter()
        .filter(|id| !stored_ids.contains(id.as_str()))
        .count();
    let history = crate::ingest_support::count(&format!(
        "SELECT count() AS n FROM lgma.{history_table} FINAL WHERE topic = {}",
        quote(topic)
    ))
    .await?;
    let quarantined = crate::ingest_support::count(&format!(
        "SELECT count() AS n FROM lgma.ingest_events WHERE topic = {} AND verdict = 'QUARANTINE'",
        quote(topic)
    ))
    .await?;
    let resends = RESENDS.load(std::sync::atomic::Ordering::SeqCst) as u64;
    println!(
        "[{label}] counted: produced {} records ({} event ids, {resends} re-sent after a failed delivery); \
         offset of record rows {}, distinct (partition, offset) {}, distinct event ids {}, history FINAL \
         {history}, quarantined {quarantined}; lost {lost} (by position) / {lost_ids} (by event id), \
         doubled {doubled_positions}, unexpected {extra}",
        delivered.len(),
        event_ids.len(),
        t.rows,
        t.offsets,
        t.events,
    );
    ensure!(lost == 0 && lost_ids == 0, "[{label}] lost records");
    ensure!(extra == 0, "[{label}] positions that were never produced");
    ensure!(
        doubled_positions == 0,
        "[{label}] a (partition, offset) twice"
    );
    ensure!(
        t.events == t.rows && t.rows == delivered.len() as u64,
        "[{label}] an event id twice or a wrong row count"
    );
    // A re-sent event arrives after later versions of its entity, so it may be (rightly) stale.
    ensure!(
        quarantined <= resends,
        "[{label}] {quarantined} quarantined (valid events only were produced)"
    );
    ensure!(
        history + quarantined == delivered.len() as u64,
        "[{label}] history FINAL {history} + quarantined {quarantined} != produced {}",
        delivered.len()
    );
    Ok(())
}

pub fn event_ids(events: &[GeneratedEvent]) -> HashSet<String> {
    events.iter().map(|e| e.event.meta().event_id).collect()
}

/// The example keys file's homelessness key (infra/config/keys.example.toml).
pub const EXAMPLE_HL_VERSION: &str = "dev-hl-1";
pub const EXAMPLE_HL_HEX: &str =
    "6c676d612d6465762d686f6d656c6573736e6573732d6b65792d6e6f742d7365637265742d3031";

/// A fresh random 256-bit key, as hex.
pub fn random_key_hex() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Writes `name` in the world's folder: the example keys file with its homelessness key replaced by
/// `version` / `hex`, and `extra` lines (e.g. `previous_key_*`) right after that key.
pub fn homelessness_keys_file(
    world: &World,
    name: &str,
    version: &str,
    hex: &str,
    extra: &str,
) -> Result<PathBuf> {
    let example = std::fs::read_to_string(repo().join("infra/config/keys.example.toml"))?;
    let text = example
        .replace(
            &format!("key_version = \"{EXAMPLE_HL_VERSION}\""),
            &format!("key_version = \"{version}\""),
        )
        .replace(
            &format!("key_hex = \"{EXAMPLE_HL_HEX}\""),
            &format!("key_hex = \"{hex}\"\n{extra}"),
        );
    ensure!(text.contains(hex), "homelessness key replaced");
    let path = world.dir.join(name);
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Replaces the keys file the config points at.
pub fn set_keys_file(world: &World, keys: &std::path::Path) -> Result<()> {
    let config = std::fs::read_to_string(&world.config)?;
    let example = repo().join("infra/config/keys.example.toml");
    let replaced = config.replace(
        &format!("keys_file = \"{}\"", example.display()),
        &format!("keys_file = \"{}\"", keys.display()),
    );
    ensure!(replaced != config, "keys_file line not found in the config");
    std::fs::write(&world.config, replaced)?;
    Ok(())
}

pub fn stack_script() -> PathBuf {
    repo().join("infra/stack")
}

/// Runs `infra/stack <args>`; its output goes to the test's output.
pub fn stack(args: &[&str]) -> Result<()> {
    let status = Command::new("bash")
        .arg(stack_script())
        .args(args)
        .status()
        .context("running infra/stack")?;
    ensure!(status.success(), "infra/stack {args:?}: {status}");
    Ok(())
}

/// The PID the stack recorded for a service (`.data/<svc>/<svc>.pid`).
pub fn stack_pid(service: &str) -> Result<u32> {
    let data = std::env::var("LGMA_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join(".data"));
    let text = std::fs::read_to_string(data.join(service).join(format!("{service}.pid")))
        .with_context(|| format!("{service} pid file"))?;
    text.trim().parse().context("pid")
}

/// SIGKILL a process by id (a crash, no shutdown path).
pub fn kill9_pid(pid: u32) -> Result<()> {
    signal_pid(pid, "KILL")
}

/// Polls `f` until it returns true or `timeout` passes; returns how long it took.
pub async fn wait_until<F, Fut>(timeout: Duration, mut f: F) -> Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !f().await {
        ensure!(start.elapsed() < timeout, "not reached within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(start.elapsed())
}

/// Two ingest instances in one consumer group, both writing: instance 0 first, until `count_sql`
/// counts 100 records; then instance 1 with the same config (its own ops port), until it has
/// written a batch. Returns both and how long instance 1 took to write.
pub async fn two_writing_instances(
    world: &Arc<World>,
    count_sql: &str,
) -> Result<(ChildGuard, ChildGuard, Duration)> {
    world.write_config_full(200, 200, "", "group")?;
    let a = world.spawn_ingest(0)?;
    wait_for_count(count_sql, 100, Duration::from_secs(40)).await?;
    world.write_config_full(200, 200, "", "group")?;
    let b = world.spawn_ingest(1)?;
    let w = world.clone();
    let joined = wait_until(Duration::from_secs(60), || {
        let w = w.clone();
        async move { w.log(1).contains("batch written") }
    })
    .await
    .map_err(|e| {
        anyhow::anyhow!(
            "instance 1 never wrote a batch ({e})\nA:\n{}\nB:\n{}",
            world.log(0),
            world.log(1)
        )
    })?;
    Ok((a, b, joined))
}

/// HMAC-SHA256 with the system `openssl` (keeps the e2e crate's dependencies unchanged): what a
/// key holder computes independently of the service.
pub fn hmac_hex(key_hex: &str, text: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-mac", "HMAC", "-macopt"])
        .arg(format!("hexkey:{key_hex}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("openssl output");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .to_string()
}

/// An identifier as ingest normalises it before pseudonymising (no whitespace, upper case).
pub fn normalise(id: &str) -> String {
    id.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase()
}
