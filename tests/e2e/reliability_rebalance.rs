//! Two ingest instances in one consumer group, one SIGKILLed, then restarted (2 → 1 → 2) while
//! events stream: the survivor takes over the dead member's partitions, the restarted instance gets
//! some back, and every record lands exactly once (by topic/partition/offset and by event id).

use crate::ingest_support;
use crate::reliability_support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ingest_support::*;
use lgma_sim::Topic;
use reliability_support::*;

#[derive(serde::Deserialize)]
struct PartitionMax {
    partition: i32,
    top: i64,
}

async fn max_offsets(topic: &str) -> anyhow::Result<HashMap<i32, i64>> {
    Ok(ch_query::<PartitionMax>(&format!(
        "SELECT partition, max(offset) AS top FROM lgma.ingest_events WHERE topic = {} GROUP BY partition",
        quote(topic)
    ))
    .await?
    .into_iter()
    .map(|p| (p.partition, p.top))
    .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_one_sigkilled_then_restarted_keep_exactly_once() -> anyhow::Result<()> {
    let started = Instant::now();
    let topic = Topic::PlanningApplication;
    let partitions = 4;
    let world = Arc::new(World::with_topics(&[topic], partitions, 200).await?);
    let name = world.topic(topic);
    let events = events_of(topic, 41, 3200);
    let ids = event_ids(&events);
    let producing = stream(
        world.clone(),
        events.clone(),
        30,
        Duration::from_millis(300),
    );
    let count_sql = records_sql(&name);

    let (mut a, mut b, joined) = two_writing_instances(&world, &count_sql).await?;
    println!("injected: B joined the group and wrote after {joined:?} (2 instances)");

    let at_kill = max_offsets(&name).await?;
    kill9(&mut b);
    let killed = Instant::now();
    println!("injected: SIGKILL of instance B at {at_kill:?} (1 instance left)");
    // Longer than the session timeout (10 s) plus a rebalance: a Kafka coordinator would now have
    // moved B's partitions to A. tansu 0.6 keeps the dead member in the group: A is re-assigned only
    // its own half, B's partitions stall until an instance joins (see tests/RELIABILITY.md).
    tokio::time::sleep(Duration::from_secs(20)).await;
    let after = max_offsets(&name).await?;
    let advanced: Vec<i32> = (0..partitions)
        .filter(|p| after.get(p).copied().unwrap_or(-1) > at_kill.get(p).copied().unwrap_or(-1))
        .collect();
    println!(
        "counted: 20 s after the kill A advanced partitions {advanced:?} of {partitions} ({} stalled \
         with the dead member)",
        partitions as usize - advanced.len()
    );
    assert!(
        advanced.len() >= 2,
        "the survivor keeps writing its partitions"
    );

    println!(
        "producer still streaming at the restart: {}",
        !producing.is_finished()
    );
    world.write_config_full(200, 200, "", "group")?;
    let mut b2 = world.spawn_ingest(2)?;
    let at_restart = max_offsets(&name).await?;
    let stalled: Vec<i32> = (0..partitions).filter(|p| !advanced.contains(p)).collect();
    let healed = wait_until(Duration::from_secs(60), || {
        let name = name.clone();
        let at_restart = at_restart.clone();
        let stalled = stalled.clone();
        async move {
            let now = max_offsets(&name).await.unwrap_or_default();
            stalled.iter().all(|p| {
                now.get(p).copied().unwrap_or(-1) > at_restart.get(p).copied().unwrap_or(-1)
            })
        }
    })
    .await?;
    println!(
        "injected: B restarted {:?} after the kill; the stalled partitions {stalled:?} advanced {healed:?} later \
         (2 instances again)",
        killed.elapsed() - healed
    );
    // B's replacement takes part in the group again (it may be assigned just after A healed the
    // stalled partitions, when the dead member finally leaves).
    let w = world.clone();
    let assigned = wait_until(Duration::from_secs(30), || {
        let w = w.clone();
        async move { w.log(2).contains("partitions assigned") }
    })
    .await?;
    println!("counted: the restarted instance was assigned partitions {assigned:?} after the heal");
    let delivered = producing.await??;
    let n = wait_for_count(&count_sql, delivered.len() as u64, Duration::from_secs(90)).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    terminate(&mut a, Duration::from_secs(15));
    terminate(&mut b2, Duration::from_secs(15));
    assert_eq!(
        n,
        delivered.len() as u64,
        "A:\n{}\nB2:\n{}",
        world.log(0),
        world.log(2)
    );
    assert_exactly_once(
        "2→1→2",
        &name,
        "planning_application_history",
        &delivered,
        &ids,
    )
    .await?;
    println!("run time {:?}", started.elapsed());
    Ok(())
}
