//! Replay, exactly once: events quarantined under a too-strict rules file are re-driven from the
//! DLQ with the fixed rules and land once with their ORIGINAL provenance; events that still fail
//! stay quarantined (a new quarantine row carrying the replay id); the offset of record is not
//! touched; every run is audited; a second replay and a range re-ingest change nothing visible
//! through FINAL.

use crate::ingest_support;

use std::time::Duration;

use ingest_support::*;
use lgma_sim::model::ChangeEvent;
use lgma_sim::{GeneratedEvent, Topic};

#[derive(serde::Deserialize, Debug)]
struct Audit {
    requested_by: String,
    source_topic: String,
    partition: i32,
    records: u64,
    accepted: u64,
    warned: u64,
    quarantined: u64,
    released: u64,
    result: String,
    mode: String,
    reason: String,
}

#[derive(serde::Deserialize, Debug)]
struct QRow {
    offset: i64,
    rule_ids: Vec<String>,
    replay_id: String,
    status: String,
    rules_version: String,
}

#[derive(serde::Deserialize, Debug)]
struct Totals {
    rows: u64,
    offsets: u64,
}

async fn audit(replay_id: &str) -> anyhow::Result<Vec<Audit>> {
    ch_query(&format!(
        "SELECT requested_by, source_topic, partition, records, accepted, warned, quarantined, \
         released, result, mode, reason FROM lgma.ingest_replay_audit WHERE replay_id = {}",
        quote(replay_id)
    ))
    .await
}

fn sum(rows: &[Audit], f: impl Fn(&Audit) -> u64) -> u64 {
    rows.iter().map(f).sum()
}

/// A planning topic of `partitions` partitions under a too-strict rules file (units > 1
/// quarantined), with 120 valid events published and the world's config written for it.
async fn strict_world(partitions: i32) -> anyhow::Result<(World, Vec<GeneratedEvent>)> {
    let topic = Topic::PlanningApplication;
    let world = World::with_topics(&[topic], partitions, 5000).await?;
    let strict = rules_copy(&world, "rules-strict", "planning.application", |text| {
        text.replace("max = 5000", "max = 1")
            .replace("version = \"", "version = \"strict-")
    })?;
    *world.rules_override.lock().expect("lock") = Some(strict);
    world.write_config_full(5000, 300, "", "manual")?;
    let events = events_of(topic, 31, 120);
    for e in &events {
        world.send(e).await?;
    }
    Ok((world, events))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_replay_after_a_rules_fix_lands_once_and_is_audited() -> anyhow::Result<()> {
    let topic = Topic::PlanningApplication;
    // Valid events, plus two that no rules fix can save: a bad Eircode and a tombstone.
    let (world, events) = strict_world(2).await?;
    let name = world.topic(topic);
    let q = quote(&name);
    let schema_id = world.encoder.schema_id(topic)?;
    let mut bad = events[0].event.clone();
    if let ChangeEvent::PlanningApplication(env) = &mut bad {
        env.entity_id = format!("BAD/{}", world.suffix);
        env.payload.as_mut().expect("payload").development_eircode = Some("B12 3456".into());
    }
    let bad_bytes = lgma_core::framing::encode(schema_id, &world.encoder.encode_body(&bad)?);
    let (bad_p, bad_offset) = world.send_raw(&name, "bad-key", Some(&bad_bytes)).await?;
    let (tomb_p, tomb_offset) = world.send_raw(&name, "tomb-key", None).await?;
    let total = events.len() as u64 + 2;

    // Live ingest under the strict rules (units > 1 quarantined).
    let mut child = world.spawn_ingest(0)?;
    let events_sql = format!("SELECT count() AS n FROM lgma.ingest_events WHERE topic = {q}");
    let n = wait_for_count(&events_sql, total, Duration::from_secs(60)).await?;
    terminate(&mut child, Duration::from_secs(10));
    assert_eq!(n, total, "log:\n{}", world.log(0));
    let strict_q = count(&format!(
        "SELECT count() AS n FROM lgma.ingest_quarantine FINAL WHERE topic = {q} \
         AND has(rule_ids, 'planning.units.range')"
    ))
    .await?;
    assert!(
        strict_q > 0 && strict_q < events.len() as u64,
        "the strict rule quarantines some valid events: {strict_q}"
    );
    let history_sql = format!(
        "SELECT count() AS rows, uniqExact(partition, offset) AS offsets \
         FROM lgma.planning_application_history FINAL WHERE topic = {q}"
    );
    let before: Vec<Totals> = ch_query(&history_sql).await?;
    assert_eq!(before[0].rows, events.len() as u64 - strict_q);

    // The fix: the committed rules. Replay the DLQ.
    *world.rules_override.lock().expect("lock") = None;
    world.write_config_full(5000, 300, "", "manual")?;
    let (ok, stdout, stderr) = run_replay(
        &world,
        &[
            "dlq",
            "--topic",
            topic.name(),
            "--requested-by",
            "e2e-test",
            "--reason",
            "rules fix",
        ],
    )?;
    assert!(ok, "replay failed:\n{stderr}");
    let replay_id = stdout.trim().to_string();
    assert_eq!(
        replay_id.len(),
        36,
        "replay id on stdout: {stdout}\n{stderr}"
    );
    assert!(stderr.contains("done"), "summary printed:\n{stderr}");

    // Landed exactly once, with the original provenance and the fixed rules version.
    let after: Vec<Totals> = ch_query(&history_sql).await?;
    assert_eq!(after[0].rows, events.len() as u64, "{stderr}");
    assert_eq!(after[0].offsets, events.len() as u64);
    let strict_versions = count(&format!(
        "SELECT count() AS n FROM lgma.planning_application_history FINAL WHERE topic = {q} \
         AND rules_version LIKE 'strict-%'"
    ))
    .await?;
    assert_eq!(strict_versions, events.len() as u64 - strict_q);
    let current = count(&format!(
        "SELECT count() AS n FROM lgma.planning_application_current FINAL WHERE topic = {q}"
    ))
    .await?;
    let entities: std::collections::HashSet<_> = events.iter().map(|e| e.key.clone()).collect();
    assert_eq!(current, entities.len() as u64, "one current row per entity");
    // The offset of record is untouched.
    assert_eq!(count(&events_sql).await?, total);

    // Still-failing records stay quarantined, distinguishable by the replay id; the released
    // ones are marked.
    let rows: Vec<QRow> = ch_query(&format!(
        "SELECT offset, rule_ids, replay_id, status, rules_version FROM lgma.ingest_quarantine \
         FINAL WHERE topic = {q} ORDER BY partition, offset"
    ))
    .await?;
    let still: Vec<&QRow> = rows.iter().filter(|r| r.status == "quarantined").collect();
    assert_eq!(still.len(), 2, "{rows:?}");
    assert!(still.iter().all(|r| r.replay_id == replay_id));
    assert!(still.iter().any(|r| r.offset == bad_offset
        && r.rule_ids
            .contains(&"planning.development_eircode.format".to_string())));
    assert!(
        still
            .iter()
            .any(|r| r.offset == tomb_offset
                && r.rule_ids.contains(&"envelope.tombstone".to_string()))
    );
    let released = rows.iter().filter(|r| r.status == "released").count() as u64;
    assert_eq!(released, strict_q);
    assert!(rows
        .iter()
        .filter(|r| r.status == "released")
        .all(|r| !r.rules_version.starts_with("strict-")));
    let _ = (bad_p, tomb_p);

    // Audited.
    let a = audit(&replay_id).await?;
    assert!(!a.is_empty());
    assert!(a.iter().all(|r| r.requested_by == "e2e-test"
        && r.result == "ok"
        && r.mode == "dlq"
        && r.reason == "rules fix"
        && r.source_topic == name
        && r.partition >= 0));
    assert_eq!(sum(&a, |r| r.records), strict_q + 2);
    assert_eq!(sum(&a, |r| r.accepted + r.warned), strict_q);
    assert_eq!(sum(&a, |r| r.quarantined), 2);
    assert_eq!(sum(&a, |r| r.released), strict_q);

    // A second replay changes nothing visible.
    let (ok, stdout2, stderr2) = run_replay(&world, &["dlq", "--topic", topic.name()])?;
    assert!(ok, "second replay failed:\n{stderr2}");
    let again: Vec<Totals> = ch_query(&history_sql).await?;
    assert_eq!(again[0].rows, events.len() as u64);
    assert_eq!(again[0].offsets, events.len() as u64);
    assert_eq!(
        count(&format!(
            "SELECT count() AS n FROM lgma.planning_application_current FINAL WHERE topic = {q}"
        ))
        .await?,
        current
    );
    assert_eq!(count(&events_sql).await?, total);
    let still_now = count(&format!(
        "SELECT count() AS n FROM lgma.ingest_quarantine FINAL WHERE topic = {q} \
         AND status = 'quarantined'"
    ))
    .await?;
    assert_eq!(still_now, 2);
    let a2 = audit(stdout2.trim()).await?;
    assert_eq!(sum(&a2, |r| r.records), strict_q + 2);
    assert_eq!(sum(&a2, |r| r.released), 0, "nothing left to release");
    assert_eq!(sum(&a2, |r| r.quarantined), 2);

    // A range re-ingest of everything: again nothing changes through FINAL, the offset of record
    // stays as it was.
    let (ok, stdout3, stderr3) = run_replay(
        &world,
        &["range", "--topic", topic.name(), "--from-offset", "0"],
    )?;
    assert!(ok, "range replay failed:\n{stderr3}");
    let ranged: Vec<Totals> = ch_query(&history_sql).await?;
    assert_eq!(ranged[0].rows, events.len() as u64);
    assert_eq!(ranged[0].offsets, events.len() as u64);
    assert_eq!(count(&events_sql).await?, total);
    let a3 = audit(stdout3.trim()).await?;
    assert!(a3.iter().all(|r| r.mode == "range" && r.result == "ok"));
    assert_eq!(sum(&a3, |r| r.records), total);
    assert_eq!(sum(&a3, |r| r.quarantined), 2);
    let replayed = count(&format!(
        "SELECT count() AS n FROM lgma.ingest_replay_events FINAL WHERE topic = {q}"
    ))
    .await?;
    assert_eq!(replayed, total, "one replay verdict per provenance");
    Ok(())
}

/// The DLQ is a copy anyone with write access to it could forge: a replay writes only copies
/// byte-identical to the source record their headers name. A forged copy (the provenance of a
/// quarantined record, another payload) is refused, counted in the audit row, and lands nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_dlq_copy_is_refused_and_audited() -> anyhow::Result<()> {
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::FutureRecord;

    let topic = Topic::PlanningApplication;
    let (world, events) = strict_world(1).await?;
    let name = world.topic(topic);
    let q = quote(&name);
    let mut child = world.spawn_ingest(0)?;
    let events_sql = format!("SELECT count() AS n FROM lgma.ingest_events WHERE topic = {q}");
    let n = wait_for_count(&events_sql, events.len() as u64, Duration::from_secs(60)).await?;
    terminate(&mut child, Duration::from_secs(10));
    assert_eq!(n, events.len() as u64, "log:\n{}", world.log(0));

    #[derive(serde::Deserialize, Debug)]
    struct Quarantined {
        partition: i32,
        offset: i64,
    }
    let quarantined: Vec<Quarantined> = ch_query(&format!(
        "SELECT partition, offset FROM lgma.ingest_quarantine FINAL WHERE topic = {q} \
         AND status = 'quarantined' ORDER BY offset"
    ))
    .await?;
    assert!(quarantined.len() >= 2, "{quarantined:?}");
    let victim = &quarantined[0];

    // The forgery: the victim's provenance headers, the bytes of another (valid) event with a
    // different entity, published to the DLQ after the genuine copy (the latest copy wins).
    let mut forged = events[0].event.clone();
    if let ChangeEvent::PlanningApplication(env) = &mut forged {
        env.entity_id = format!("FORGED/{}", world.suffix);
    }
    let schema_id = world.encoder.schema_id(topic)?;
    let forged_bytes = lgma_core::framing::encode(schema_id, &world.encoder.encode_body(&forged)?);
    let (partition, offset) = (victim.partition.to_string(), victim.offset.to_string());
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: "lgma.source.topic",
            value: Some(name.as_str()),
        })
        .insert(Header {
            key: "lgma.source.partition",
            value: Some(partition.as_str()),
        })
        .insert(Header {
            key: "lgma.source.offset",
            value: Some(offset.as_str()),
        });
    let dlq = format!("lgma.dlq{}", world.suffix);
    world
        .producer
        .send(
            FutureRecord::to(&dlq)
                .key("forged")
                .payload(&forged_bytes)
                .headers(headers),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| anyhow::anyhow!("produce to {dlq}: {e}"))?;

    // The fix, then the replay.
    *world.rules_override.lock().expect("lock") = None;
    world.write_config_full(5000, 300, "", "manual")?;
    let (ok, stdout, stderr) = run_replay(
        &world,
        &[
            "dlq",
            "--topic",
            topic.name(),
            "--requested-by",
            "e2e-forgery",
        ],
    )?;
    assert!(ok, "replay failed:\n{stderr}");
    assert!(stderr.contains("refused 1 DLQ copies"), "{stderr}");
    let a = audit(stdout.trim()).await?;
    assert!(
        a.iter().all(|r| r.result.contains("1 DLQ copies refused")),
        "{a:?}"
    );
    assert_eq!(
        sum(&a, |r| r.records),
        quarantined.len() as u64 - 1,
        "every genuine copy replayed, the forged one not"
    );
    // Nothing of the forgery landed; the victim stays quarantined under the strict rules.
    let forged_rows = count(&format!(
        "SELECT count() AS n FROM lgma.planning_application_history FINAL WHERE topic = {q} \
         AND entity_id LIKE 'FORGED/%'"
    ))
    .await?;
    assert_eq!(forged_rows, 0);
    let victim_rows = count(&format!(
        "SELECT count() AS n FROM lgma.planning_application_history FINAL WHERE topic = {q} \
         AND partition = {} AND offset = {}",
        victim.partition, victim.offset
    ))
    .await?;
    assert_eq!(
        victim_rows, 0,
        "the victim was not replayed from forged bytes"
    );
    Ok(())
}
