//! Schema evolution while ingest runs: events stream with planning schema v1; midway the publisher
//! registers `schemas/v2/lgma.planning.application.avsc` (adds `num_student_bed_spaces`, BACKWARD
//! compatible) and from then on publishes every other event with v2 (old publishers keep v1). The
//! running ingest fetches the new writer schema by id, resolves it into our reader schema, and both
//! versions land: counted per schema id, none quarantined, exactly once overall.

use crate::ingest_support;
use crate::reliability_support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;
use ingest_support::*;
use lgma_publisher::registry::RegistryClient;
use lgma_sim::topics::PLANNING_V2_JSON;
use lgma_sim::{GeneratedEvent, Topic};
use reliability_support::*;

/// The event as a v2 record: resolved into v2 (the new field takes its default), then the new
/// field set, so the bytes carry something v1 does not know.
fn encode_v2(schema: &Schema, e: &GeneratedEvent, beds: i32) -> anyhow::Result<Vec<u8>> {
    let mut value = e.event.to_value()?.resolve(schema)?;
    let Value::Record(fields) = &mut value else {
        anyhow::bail!("not a record")
    };
    let (_, payload) = fields
        .iter_mut()
        .find(|(n, _)| n == "payload")
        .ok_or_else(|| anyhow::anyhow!("no payload"))?;
    if let Value::Union(_, inner) = payload {
        if let Value::Record(p) = inner.as_mut() {
            let (_, field) = p
                .iter_mut()
                .find(|(n, _)| n == "num_student_bed_spaces")
                .ok_or_else(|| anyhow::anyhow!("v2 field missing after resolve"))?;
            *field = Value::Union(1, Box::new(Value::Int(beds)));
        }
    }
    Ok(GenericDatumWriter::builder(schema)
        .build()?
        .write_value_to_vec(value)?)
}

#[derive(serde::Deserialize, Debug)]
struct BySchema {
    schema_id: u32,
    rows: u64,
    quarantined: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_registered_and_published_while_ingest_runs_both_versions_land() -> anyhow::Result<()> {
    let started = Instant::now();
    let topic = Topic::PlanningApplication;
    let world = World::with_topics(&[topic], 2, 200).await?;
    world.write_config_full(200, 200, "", "manual")?;
    let name = world.topic(topic);
    let events = events_of(topic, 43, 1200);
    let ids = event_ids(&events);
    let v1_id = world.encoder.schema_id(topic)?;
    let v2_schema = Schema::parse_str(PLANNING_V2_JSON)?;
    let count_sql = records_sql(&name);

    let mut child = world.spawn_ingest(0)?;
    let mut delivered = Vec::with_capacity(events.len());
    let mut v2_id = None;
    let mut sent_v2 = 0u64;
    for (chunk_no, chunk) in events.chunks(50).enumerate() {
        if chunk_no == 8 {
            // Ingest has been decoding v1 for a while: now the new version appears.
            let landed = count(&count_sql).await?;
            let id = RegistryClient::new(&lgma_e2e::registry_url(), None)?
                .register(&world.naming.subject(topic), PLANNING_V2_JSON)
                .await?;
            anyhow::ensure!(id != v1_id, "v2 got a new schema id");
            println!(
                "injected: v2 registered as schema id {id} (v1 is {v1_id}) after {} events sent, {landed} landed",
                delivered.len()
            );
            v2_id = Some(id);
        }
        for (i, e) in chunk.iter().enumerate() {
            let bytes = match v2_id {
                Some(id) if i % 2 == 1 => {
                    sent_v2 += 1;
                    lgma_core::framing::encode(id, &encode_v2(&v2_schema, e, 200 + i as i32)?)
                }
                _ => world.encoder.encode(e)?,
            };
            delivered.push(world.send_raw(&name, &e.key, Some(&bytes)).await?);
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let v2_id = v2_id.expect("registered");
    let n = wait_for_count(&count_sql, delivered.len() as u64, Duration::from_secs(60)).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    terminate(&mut child, Duration::from_secs(10));
    assert_eq!(n, delivered.len() as u64, "log:\n{}", world.log(0));

    let by_schema: HashMap<u32, BySchema> = ch_query::<BySchema>(&format!(
        "SELECT schema_id, count() AS rows, countIf(verdict = 'QUARANTINE') AS quarantined \
         FROM lgma.ingest_events WHERE topic = {} GROUP BY schema_id",
        quote(&name)
    ))
    .await?
    .into_iter()
    .map(|r| (r.schema_id, r))
    .collect();
    println!("counted per schema id: {by_schema:?} (sent {sent_v2} with v2)");
    let v1 = &by_schema[&v1_id];
    let v2 = &by_schema[&v2_id];
    assert_eq!(by_schema.len(), 2, "only the two versions");
    assert_eq!(v2.rows, sent_v2, "every v2 event recorded under its id");
    assert_eq!(v1.rows, delivered.len() as u64 - sent_v2);
    assert_eq!(
        (v1.quarantined, v2.quarantined),
        (0, 0),
        "both versions decode"
    );
    let log = world.log(0);
    assert!(!log.contains("envelope.schema_unknown") && !log.contains("envelope.decode"));
    assert_exactly_once(
        "schema v2",
        &name,
        "planning_application_history",
        &delivered,
        &ids,
    )
    .await?;
    println!("run time {:?}", started.elapsed());
    Ok(())
}
