//! Scale-out: two instances in one consumer group split the partitions; a second instance joining
//! and the first leaving (two rebalances) while events flow keep every record exactly once.

use crate::ingest_support;

use std::time::Duration;

use ingest_support::*;
use lgma_sim::Topic;

#[derive(serde::Deserialize)]
struct Totals {
    rows: u64,
    offsets: u64,
    events: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_split_partitions_and_rebalances_keep_exactly_once() -> anyhow::Result<()> {
    let topic = Topic::PlanningApplication;
    let world = World::with_topics(&[topic], 4, 200).await?;
    world.write_config_full(200, 200, "", "group")?;
    let name = world.topic(topic);
    let events = events_of(topic, 17, 1500);
    let world = std::sync::Arc::new(world);
    let producer = world.clone();
    let to_send = events.clone();
    let producing = tokio::spawn(async move {
        for chunk in to_send.chunks(50) {
            for e in chunk {
                producer.send(e).await?;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        anyhow::Ok(())
    });
    let count_sql = records_sql(&name);

    let mut a = world.spawn_ingest(0)?;
    wait_for_count(&count_sql, 100, Duration::from_secs(40)).await?;
    // Same group, its own ops port (the config is read at start-up).
    world.write_config_full(200, 200, "", "group")?;
    let mut b = world.spawn_ingest(1)?;
    wait_for_count(&count_sql, 700, Duration::from_secs(60)).await?;
    terminate(&mut a, Duration::from_secs(15));
    producing.await??;
    let n = wait_for_count(&count_sql, events.len() as u64, Duration::from_secs(60)).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    terminate(&mut b, Duration::from_secs(15));
    assert_eq!(
        n,
        events.len() as u64,
        "A:\n{}\nB:\n{}",
        world.log(0),
        world.log(1)
    );

    let totals: Vec<Totals> = ch_query(&format!(
        "SELECT count() AS rows, uniqExact(partition, offset) AS offsets, uniqExact(event_id) AS events \
         FROM lgma.ingest_events WHERE topic = {}",
        quote(&name)
    ))
    .await?;
    assert_eq!(totals[0].rows, events.len() as u64);
    assert_eq!(totals[0].offsets, events.len() as u64);
    assert_eq!(totals[0].events, events.len() as u64);
    // Both instances wrote batches: the partitions were really split at some point.
    assert!(world.log(0).contains("batch written"));
    assert!(world.log(1).contains("batch written"));
    Ok(())
}
