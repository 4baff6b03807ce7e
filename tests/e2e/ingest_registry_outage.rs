//! Registry down while ingest runs (a TCP fault proxy in front of the SHARED registry, which keeps
//! running for everyone else): writer schemas already cached keep ingest going; a record whose
//! schema id is not cached yet is not quarantined but waits (its partition blocked, the batch
//! retried with backoff) and lands once the registry is back; an id the registry positively
//! answers 404 for is quarantined as `envelope.schema_unknown`.

use crate::ingest_support;

use std::time::Duration;

use ingest_support::*;
use lgma_e2e::registry_url;
use lgma_publisher::registry::RegistryClient;
use lgma_sim::Topic;

#[derive(serde::Deserialize)]
struct QRow {
    offset: i64,
    rule_ids: Vec<String>,
}

#[derive(serde::Deserialize)]
struct Totals {
    rows: u64,
    offsets: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_outage_blocks_uncached_ids_and_quarantines_only_404s() -> anyhow::Result<()> {
    let topic = Topic::PlanningApplication;
    let world = World::with_topics(&[topic], 1, 100).await?;
    let proxy = FaultProxy::start(&registry_url()).await?;
    *world.registry_override.lock().expect("lock") = Some(proxy.url.clone());
    world.write_config_full(100, 200, "", "manual")?;
    let name = world.topic(topic);
    let q = quote(&name);
    let events = events_of(topic, 41, 140);
    let events_sql = format!("SELECT count() AS n FROM lgma.ingest_events WHERE topic = {q}");

    // Up: schema A is fetched and cached.
    for e in &events[..50] {
        world.send(e).await?;
    }
    let mut child = world.spawn_ingest(0)?;
    assert_eq!(
        wait_for_count(&events_sql, 50, Duration::from_secs(60)).await?,
        50,
        "log:\n{}",
        world.log(0)
    );

    // Down: cached schema A keeps ingest going.
    proxy.set_up(false);
    for e in &events[50..100] {
        world.send(e).await?;
    }
    assert_eq!(
        wait_for_count(&events_sql, 100, Duration::from_secs(60)).await?,
        100,
        "cached writer schemas keep ingest going; log:\n{}",
        world.log(0)
    );

    // Still down: a new writer version B (registered directly, behind ingest's back) is not
    // cached, an unknown id follows, then more A events on the same partition.
    let mut text: serde_json::Value = serde_json::from_str(topic.schema_json())?;
    text["fields"].as_array_mut().expect("fields").push(
        serde_json::json!({"name": "outage_note", "type": ["null", "string"], "default": null}),
    );
    let id_b = RegistryClient::new(&registry_url(), None)?
        .register(&world.naming.subject(topic), &text.to_string())
        .await?;
    let id_a = world.encoder.schema_id(topic)?;
    assert_ne!(id_a, id_b);
    for e in &events[100..120] {
        let mut body = world.encoder.encode_body(&e.event)?;
        body.push(0); // outage_note = null (union branch 0)
        world
            .send_raw(
                &name,
                &e.key,
                Some(&lgma_core::framing::encode(id_b, &body)),
            )
            .await?;
    }
    let unknown =
        lgma_core::framing::encode(987_655, &world.encoder.encode_body(&events[0].event)?);
    let (_, unknown_offset) = world.send_raw(&name, "unknown-id", Some(&unknown)).await?;
    for e in &events[120..] {
        world.send(e).await?;
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(count(&events_sql).await?, 100, "the partition waits");
    assert_eq!(
        count(&format!(
            "SELECT count() AS n FROM lgma.ingest_quarantine WHERE topic = {q}"
        ))
        .await?,
        0,
        "nothing quarantined while the registry cannot answer"
    );
    assert!(child.try_wait()?.is_none(), "the service keeps running");
    assert!(
        world.log(0).contains("schema registry"),
        "the outage was noticed; log:\n{}",
        world.log(0)
    );

    // Back: B lands, the 404 id is quarantined, everything after it lands, exactly once.
    proxy.set_up(true);
    let total = events.len() as u64 + 1;
    let n = wait_for_count(&events_sql, total, Duration::from_secs(90)).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    terminate(&mut child, Duration::from_secs(10));
    assert_eq!(n, total, "log:\n{}", world.log(0));
    let totals: Vec<Totals> = ch_query(&format!(
        "SELECT count() AS rows, uniqExact(partition, offset) AS offsets \
         FROM lgma.ingest_events WHERE topic = {q}"
    ))
    .await?;
    assert_eq!((totals[0].rows, totals[0].offsets), (total, total));
    let quarantined: Vec<QRow> = ch_query(&format!(
        "SELECT offset, rule_ids FROM lgma.ingest_quarantine FINAL WHERE topic = {q}"
    ))
    .await?;
    assert_eq!(quarantined.len(), 1);
    assert_eq!(quarantined[0].offset, unknown_offset);
    assert_eq!(
        quarantined[0].rule_ids,
        vec!["envelope.schema_unknown".to_string()]
    );
    let landed_b = count(&format!(
        "SELECT count() AS n FROM lgma.planning_application_history FINAL \
         WHERE topic = {q} AND schema_id = {id_b}"
    ))
    .await?;
    assert_eq!(landed_b, 20, "the uncached writer's events landed once");
    let history = count(&format!(
        "SELECT count() AS n FROM lgma.planning_application_history FINAL WHERE topic = {q}"
    ))
    .await?;
    assert_eq!(history, events.len() as u64);
    Ok(())
}

/// Every topic's enriched schema is registered when ingest starts, before any record arrives: a
/// topic's first record no longer holds its whole batch for the registration's round trip (3-8 s
/// on the local broker, which was the latency run's p99). With the registry down at start, ingest
/// starts all the same, says so, and registers with the topic's first batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enriched_schemas_are_registered_at_start_or_with_the_first_batch() -> anyhow::Result<()> {
    let topics = [Topic::PlanningApplication, Topic::Exit];
    let world = World::with_topics(&topics, 1, 100).await?;
    let http = reqwest::Client::new();
    // Whether `<topic>.enriched<suffix>-value` is in the (shared, real) registry.
    let registered = |suffix: String, topic: Topic| {
        let url = format!(
            "{}/subjects/{}.enriched{suffix}-value/versions",
            registry_url(),
            topic.name(),
        );
        let http = http.clone();
        async move {
            let response = http.get(url).send().await?;
            anyhow::Ok(response.status().is_success())
        }
    };
    let wait_registered = |suffix: String, topic: Topic| async move {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            if registered(suffix.clone(), topic).await? {
                return anyhow::Ok(true);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        anyhow::Ok(false)
    };

    // Registry up: both subjects exist before anything is published.
    world.write_config_full(100, 200, "", "manual")?;
    let mut child = world.spawn_ingest(0)?;
    for topic in topics {
        assert!(
            wait_registered(world.suffix.clone(), topic).await?,
            "{topic:?}'s enriched schema registered at start; log:\n{}",
            world.log(0)
        );
    }
    terminate(&mut child, Duration::from_secs(10));

    // Registry down at start (a second world: new subjects): ingest runs, says so, and the first
    // batch registers once the registry is back.
    let world = World::with_topics(&[Topic::Exit], 1, 100).await?;
    assert!(!registered(world.suffix.clone(), Topic::Exit).await?);
    let proxy = FaultProxy::start(&registry_url()).await?;
    proxy.set_up(false);
    *world.registry_override.lock().expect("lock") = Some(proxy.url.clone());
    world.write_config_full(100, 200, "", "manual")?;
    let mut child = world.spawn_ingest(0)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !world.log(0).contains("topic not ready at start") && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        world.log(0).contains("topic not ready at start"),
        "log:\n{}",
        world.log(0)
    );
    assert!(child.try_wait()?.is_none(), "the service keeps running");
    proxy.set_up(true);
    let topic = Topic::Exit;
    for e in &events_of(topic, 43, 5) {
        world.send(e).await?;
    }
    let sql = format!(
        "SELECT count() AS n FROM lgma.ingest_events WHERE topic = {}",
        quote(&world.topic(topic))
    );
    let n = wait_for_count(&sql, 5, Duration::from_secs(90)).await?;
    terminate(&mut child, Duration::from_secs(10));
    assert_eq!(n, 5, "log:\n{}", world.log(0));
    assert!(
        registered(world.suffix.clone(), topic).await?,
        "registered with the first batch"
    );
    Ok(())
}
