//! ClickHouse down: consumption pauses (nothing is lost or written twice), the service retries with
//! backoff and resumes without loss when ClickHouse is back — also when it goes away mid-stream.
//! The outage is a TCP proxy in front of the shared ClickHouse that drops connections.

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
