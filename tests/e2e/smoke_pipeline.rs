//! One event path through the real stack: rdkafka producer (idempotent, acks=all) → tansu →
//! consumer group with manual commits → `clickhouse` crate insert → query back and compare.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use lgma_e2e::{clickhouse, defined_test_topic, kafka_bootstrap, ChUser};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ::clickhouse::Row)]
struct SmokeRow {
    topic: String,
    partition: u32,
    offset: u64,
    key: String,
    value: String,
    ingested_at: u32,
}

const MESSAGES: usize = 500;

#[tokio::test]
async fn produce_consume_insert_query_round_trip() -> Result<()> {
    let topic = defined_test_topic("lgma.planning.application", 3)?;

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka_bootstrap())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()
        .context("producer")?;
    let mut sent = BTreeMap::new();
    for i in 0..MESSAGES {
        let key = format!("entity-{}", i % 37);
        let value = format!("{{\"seq\":{i},\"key\":\"{key}\"}}");
        let delivery = producer
            .send(
                FutureRecord::to(&topic).key(&key).payload(&value),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .context("produce")?;
        sent.insert(
            (delivery.partition as u32, delivery.offset as u64),
            (key, value),
        );
    }
    // Keyed messages: each key lands on exactly one partition.
    let mut key_partitions: BTreeMap<&str, u32> = BTreeMap::new();
    for ((p, _), (k, _)) in &sent {
        if let Some(prev) = key_partitions.insert(k, *p) {
            assert_eq!(prev, *p, "key {k} spread over partitions");
        }
    }

    let consumer: StreamConsumer = lgma_e2e::client_config()
        .set("group.id", format!("{topic}.group"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .context("consumer")?;
    consumer.subscribe(&[&topic])?;

    let ch = clickhouse(ChUser::Writer);
    let mut insert = ch.insert::<SmokeRow>("smoke_events").await?;
    let mut received = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while received < MESSAGES {
        if Instant::now() > deadline {
            bail!("only {received} of {MESSAGES} messages consumed in 60 s");
        }
        let msg = match tokio::time::timeout(Duration::from_secs(5), consumer.recv()).await {
            Ok(m) => m?,
            Err(_) => continue,
        };
        insert
            .write(&SmokeRow {
                topic: msg.topic().to_string(),
                partition: msg.partition() as u32,
                offset: msg.offset() as u64,
                key: String::from_utf8_lossy(msg.key().unwrap_or_default()).into_owned(),
                value: String::from_utf8_lossy(msg.payload().unwrap_or_default()).into_owned(),
                ingested_at: chrono_now(),
            })
            .await?;
        received += 1;
    }
    insert.end().await?;
    consumer.commit_consumer_state(CommitMode::Sync)?;

    let rows = ch
        .query("SELECT ?fields FROM smoke_events WHERE topic = ? ORDER BY partition, offset")
        .bind(&topic)
        .fetch_all::<SmokeRow>()
        .await?;
    assert_eq!(rows.len(), MESSAGES, "rows in ClickHouse");
    for row in &rows {
        let (key, value) = sent
            .get(&(row.partition, row.offset))
            .with_context(|| format!("unexpected row at {}/{}", row.partition, row.offset))?;
        assert_eq!((&row.key, &row.value), (key, value));
    }

    // The read-only dashboard user sees the rows and cannot write.
    let reader = clickhouse(ChUser::Reader);
    let count: u64 = reader
        .query("SELECT count() FROM smoke_events WHERE topic = ?")
        .bind(&topic)
        .fetch_one()
        .await?;
    assert_eq!(count as usize, MESSAGES);
    let denied = reader
        .query("INSERT INTO smoke_events (topic) VALUES ('intruder')")
        .execute()
        .await;
    assert!(denied.is_err(), "read-only user could write");
    Ok(())
}

fn chrono_now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}
