//! ClickHouse down: consumption pauses (nothing is lost or written twice), the service retries with
//! backoff and resumes without loss when ClickHouse is back — also when it goes away mid-stream.
//! The outage is a TCP proxy in front of the shared ClickHouse that drops connections (or holds them
//! unanswered: a shutdown while an INSERT hangs is bounded by `shutdown_limit_secs`).

use crate::ingest_support;

use std::time::Duration;

use ingest_support::*;
use lgma_sim::Topic;

#[derive(serde::Deserialize)]
struct Totals {
    rows: u64,
    offsets: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_outage_pauses_then_resumes_without_loss() -> anyhow::Result<()> {
    let topic = Topic::PlanningApplication;
    let world = World::with_topics(&[topic], 2, 100).await?;
    let proxy = FaultProxy::start(&lgma_e2e::clickhouse_url()).await?;
    *world.clickhouse_override.lock().expect("lock") = Some(proxy.url.clone());
    world.write_config_full(100, 200, "", "manual")?;
    let name = world.topic(topic);
    let events = events_of(topic, 23, 600);
    let count_sql = records_sql(&name);

    // Down from the start: nothing can be positioned, nothing is written.
    proxy.set_up(false);
    for e in &events[..200] {
        world.send(e).await?;
    }
    let mut child = world.spawn_ingest(0)?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(count(&count_sql).await?, 0);
    assert!(
        child.try_wait()?.is_none(),
        "the service keeps running while ClickHouse is down"
    );
    proxy.set_up(true);
    assert_eq!(
        wait_for_count(&count_sql, 200, Duration::from_secs(60)).await?,
        200
    );

    // Down again mid-stream while events keep arriving.
    proxy.set_up(false);
    for e in &events[200..] {
        world.send(e).await?;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    proxy.set_up(true);
    let n = wait_for_count(&count_sql, events.len() as u64, Duration::from_secs(60)).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    terminate(&mut child, Duration::from_secs(10));
    let log = world.log(0);
    assert_eq!(n, events.len() as u64, "log:\n{log}");
    assert!(
        log.contains("ClickHouse down?") || log.contains("batch failed"),
        "outage was noticed"
    );

    let totals: Vec<Totals> = ch_query(&format!(
        "SELECT count() AS rows, uniqExact(partition, offset) AS offsets FROM lgma.ingest_events WHERE topic = {}",
        quote(&name)
    ))
    .await?;
    assert_eq!(totals[0].rows, events.len() as u64);
    assert_eq!(totals[0].offsets, events.len() as u64);
    Ok(())
}

/// SIGTERM while a batch's INSERT hangs (ClickHouse accepts but never answers): the service gives
/// up after `shutdown_limit_secs` (not the HTTP client's 60 s or the retries after it), exits with
/// 130, and a restart records every event exactly once; a second signal exits at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_while_clickhouse_hangs_is_bounded_then_resumes_exactly_once() -> anyhow::Result<()>
{
    let topic = Topic::PlanningApplication;
    let world = World::with_topics(&[topic], 1, 100).await?;
    let proxy = FaultProxy::start(&lgma_e2e::clickhouse_url()).await?;
    *world.clickhouse_override.lock().expect("lock") = Some(proxy.url.clone());
    world.write_config_full(100, 200, "", "manual")?;
    // A top-level setting goes before the config's first table.
    let limit = 4;
    let config = std::fs::read_to_string(&world.config)?;
    std::fs::write(
        &world.config,
        format!("shutdown_limit_secs = {limit}\n{config}"),
    )?;
    let name = world.topic(topic);
    let events = events_of(topic, 31, 200);
    let count_sql = records_sql(&name);

    let mut child = world.spawn_ingest(0)?;
    for e in &events[..100] {
        world.send(e).await?;
    }
    assert_eq!(
        wait_for_count(&count_sql, 100, Duration::from_secs(60)).await?,
        100
    );

    // ClickHouse hangs; the next batch's INSERT waits on it.
    proxy.set_stalled(true);
    for e in &events[100..] {
        world.send(e).await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        child.try_wait()?.is_none(),
        "still running before the signal"
    );
    let signalled = std::time::Instant::now();
    signal_pid(child.id(), "TERM")?;
    let status = exit_within(&mut child, signalled, Duration::from_secs(limit + 10))
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no exit {} s after SIGTERM with a {limit} s limit; log:\n{}",
                signalled.elapsed().as_secs(),
                world.log(0)
            )
        })?;
    let took = signalled.elapsed();
    let log = world.log(0);
    assert_eq!(status.code(), Some(130), "log:\n{log}");
    assert!(
        took >= Duration::from_secs(limit - 1),
        "exited after {took:?}: the limit was not what stopped it; log:\n{log}"
    );
    assert!(log.contains("shutdown cut short"), "log:\n{log}");
    assert!(
        count(&count_sql).await? < 200,
        "the hung batch was not recorded"
    );

    proxy.set_stalled(false);
    let mut child = world.spawn_ingest(1)?;
    assert_eq!(
        wait_for_count(&count_sql, 200, Duration::from_secs(60)).await?,
        200
    );

    // A second signal does not wait for the limit.
    proxy.set_stalled(true);
    let more = events_of(topic, 32, 50);
    for e in &more {
        world.send(e).await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let signalled = std::time::Instant::now();
    for _ in 0..2 {
        signal_pid(child.id(), "TERM")?;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let status = exit_within(&mut child, signalled, Duration::from_secs(limit - 1))
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "still running {:?} after two signals; log:\n{}",
                signalled.elapsed(),
                world.log(1)
            )
        })?;
    assert_eq!(status.code(), Some(130), "log:\n{}", world.log(1));
    assert!(world.log(1).contains("second shutdown signal"));

    proxy.set_stalled(false);
    let _child = world.spawn_ingest(2)?;
    assert_eq!(
        wait_for_count(&count_sql, 250, Duration::from_secs(60)).await?,
        250
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let totals: Vec<Totals> = ch_query(&format!(
        "SELECT count() AS rows, uniqExact(partition, offset) AS offsets FROM lgma.ingest_events WHERE topic = {}",
        quote(&name)
    ))
    .await?;
    assert_eq!((totals[0].rows, totals[0].offsets), (250, 250));
    Ok(())
}

/// The child's exit status once it exits, or `None` if it is still running `within` after `since`.
async fn exit_within(
    child: &mut ChildGuard,
    since: std::time::Instant,
    within: Duration,
) -> anyhow::Result<Option<std::process::ExitStatus>> {
    while since.elapsed() < within {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(child.try_wait()?)
}
