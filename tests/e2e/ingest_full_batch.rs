//! Full batches land: a batch of `batch.max_rows` (5,000) events is one look-up of stored versions
//! plus one write. The look-up lists every key of the batch, which is more SQL than ClickHouse's
//! default `max_query_size` (256 KiB); before that limit was raised per query, such a batch failed
//! and was retried forever (found by the benchmark, never by the small-batch tests).

use crate::ingest_support;

use std::time::Duration;

use futures::future::try_join_all;
use ingest_support::*;
use lgma_sim::Topic;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_5000_event_batch_lands_once() -> anyhow::Result<()> {
    let topic = Topic::NeedAssessment;
    let world = World::with_topics(&[topic], 1, 5000).await?;
    // Long enough that the first batch fills to max_rows before it is flushed.
    world.write_config_full(5000, 10_000, "", "manual")?;
    let events = events_of(topic, 91, 6000);
    for chunk in events.chunks(500) {
        try_join_all(chunk.iter().map(|e| world.send(e))).await?;
    }
    println!("injected: 6000 housing need assessments on one partition, batch.max_rows = 5000");

    let mut child = world.spawn_ingest(0)?;
    let sql = records_sql(&world.topic(topic));
    let landed = wait_for_count(&sql, 6000, Duration::from_secs(120)).await;
    terminate(&mut child, Duration::from_secs(20));
    let landed = landed?;
    let log = world.log(0);
    println!("counted: {landed} offsets of record");
    assert!(
        !log.contains("batch failed"),
        "a batch failed: {}",
        log.lines()
            .filter(|l| l.contains("batch failed"))
            .take(2)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(landed, 6000);
    let distinct = count(&format!(
        "SELECT uniqExact(partition, offset) AS n FROM lgma.ingest_events WHERE topic = {}",
        quote(&world.topic(topic))
    ))
    .await?;
    assert_eq!(distinct, 6000, "no offset recorded twice");
    Ok(())
}
