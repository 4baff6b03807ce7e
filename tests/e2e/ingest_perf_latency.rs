//! Exactly once under a steady stream with the service's default batch limits (max_rows 5,000,
//! max_wait_ms 250; fetch.wait.max.ms 100 is the consumer's own), and the publish -> queryable
//! figures of that stream: the events are stamped `published_at` = send time and a poller, a task
//! of its own so that a slow query never delays the sender, sees each batch appear in the offset
//! of record every 50 ms.
//!
//! The latency is printed, not asserted: timing on this shared 2-core machine swings with the
//! host's load (the same binary gave p99 1.0 s on a quiet machine and 8-15 s while the kernel
//! held a core), so a bound here would fail on the machine's weather. Latency against its target
//! is measured by `lgma-bench` (BENCHMARKS.md), as ratios against the limits of the same run.
//! `LGMA_E2E_INGEST_BIN=target/release/lgma-ingest` measures the release build.

use crate::ingest_support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use ingest_support::*;
use lgma_sim::model::ChangeEvent;
use lgma_sim::Topic;
use rdkafka::producer::FutureRecord;

const RATE: u64 = 2_000;
const SECONDS: u64 = 10;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn restamp(event: &mut ChangeEvent, at: i64) {
    match event {
        ChangeEvent::Presentation(e) => e.published_at = at,
        ChangeEvent::Placement(e) => e.published_at = at,
        ChangeEvent::Exit(e) => e.published_at = at,
        ChangeEvent::DwellingUnit(e) => e.published_at = at,
        ChangeEvent::NeedAssessment(e) => e.published_at = at,
        ChangeEvent::PlanningApplication(e) => e.published_at = at,
        ChangeEvent::WasteReturn(e) => e.published_at = at,
    }
}

#[derive(serde::Deserialize)]
struct BatchSeen {
    batch_id: String,
    published: Vec<i64>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a latency measurement: runs alone in the serial phase of infra/stack test"]
async fn steady_stream_lands_exactly_once_and_reports_latency() -> anyhow::Result<()> {
    let world = World::with_topics(&Topic::ALL, 2, 5000).await?;
    world.write_config_full(5000, 250, "", "manual")?;
    let mut child = world.spawn_ingest(0)?;
    let topics = topics_in(&world);
    let count_sql =
        format!("SELECT count() AS n FROM lgma.ingest_events WHERE topic IN ({topics})");

    let mut events = valid_events(77, (RATE * SECONDS + 100) as usize).into_iter();
    let mut send = |n: u64| -> anyhow::Result<Vec<rdkafka::producer::DeliveryFuture>> {
        let now = now_ms();
        let mut out = Vec::new();
        for mut e in events.by_ref().take(n as usize) {
            restamp(&mut e.event, now);
            let bytes = world.encoder.encode(&e)?;
            let topic = world.topic(e.topic);
            let record = FutureRecord::to(&topic).key(&e.key).payload(&bytes);
            out.push(
                world
                    .producer
                    .send_result(record)
                    .map_err(|(e, _)| anyhow::anyhow!("enqueue: {e}"))?,
            );
        }
        Ok(out)
    };
    // Warm-up: the service is positioned and has written a batch.
    for d in send(100)? {
        d.await?.map_err(|(e, _)| anyhow::anyhow!("{e}"))?;
    }
    let warm = wait_for_count(&count_sql, 100, Duration::from_secs(120)).await?;
    assert_eq!(warm, 100, "warm-up landed:\n{}", world.log(0));

    let steady_start = now_ms();
    let total = RATE * SECONDS;
    let poller = tokio::spawn(poll_latencies(topics.clone(), steady_start, total as usize));
    let begun = Instant::now();
    let mut sent = 0;
    let mut deliveries = Vec::new();
    while sent < total {
        let due = ((begun.elapsed().as_secs_f64() * RATE as f64) as u64).min(total);
        if due > sent {
            deliveries.extend(send(due - sent)?);
            sent = due;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for d in deliveries {
        d.await?.map_err(|(e, _)| anyhow::anyhow!("{e}"))?;
    }

    let mut latencies = poller.await??;
    let want = 100 + total;
    let landed = wait_for_count(&count_sql, want, Duration::from_secs(60)).await?;
    let distinct = count(&format!(
        "SELECT uniqExact(topic, partition, offset) AS n FROM lgma.ingest_events WHERE topic IN ({topics})"
    ))
    .await?;
    terminate(&mut child, Duration::from_secs(20));
    assert_eq!(landed, want, "every event recorded once:\n{}", world.log(0));
    assert_eq!(distinct, want, "no position recorded twice");

    assert_eq!(latencies.len(), total as usize, "every steady event seen");
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let (p50, p99, max) = (pct(0.50), pct(0.99), latencies[latencies.len() - 1]);
    println!(
        "publish -> queryable at {RATE}/s for {SECONDS} s ({} events seen, {}): \
         p50 {p50} ms, p99 {p99} ms, max {max} ms",
        latencies.len(),
        ingest_binary().display()
    );
    Ok(())
}

/// Polls the offset of record every 50 ms for batches not yet seen and returns, for each event
/// published after `steady_start`, the time from its publication to the poll that first saw it.
/// Gives up after the stream's length plus two minutes (the caller then reports the shortfall).
async fn poll_latencies(
    topics: String,
    steady_start: i64,
    want: usize,
) -> anyhow::Result<Vec<i64>> {
    let deadline = Instant::now() + Duration::from_secs(SECONDS + 120);
    let mut seen: HashSet<String> = HashSet::new();
    let mut latencies = Vec::with_capacity(want);
    while latencies.len() < want && Instant::now() < deadline {
        let next = Instant::now() + Duration::from_millis(50);
        let mut sql = format!(
            "SELECT batch_id, groupArray(published_at) AS published FROM lgma.ingest_events \
             WHERE topic IN ({topics}) AND ingested_at >= toDateTime({})",
            steady_start / 1000 - 1
        );
        if !seen.is_empty() {
            let list: Vec<String> = seen.iter().map(|b| quote(b)).collect();
            sql.push_str(&format!(" AND batch_id NOT IN ({})", list.join(", ")));
        }
        let rows: Vec<BatchSeen> = ch_query(&(sql + " GROUP BY batch_id")).await?;
        let at = now_ms();
        for b in rows {
            latencies.extend(
                b.published
                    .iter()
                    .filter(|p| **p >= steady_start)
                    .map(|p| at - p),
            );
            seen.insert(b.batch_id);
        }
        tokio::time::sleep_until(next.into()).await;
    }
    Ok(latencies)
}
