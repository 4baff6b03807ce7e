//! Hostile Kafka records the other ingest tests do not send, each between valid events on the SAME
//! partition: an empty (not null) value, a frame with no body, a wrong magic byte, Avro with a
//! negative string length, with huge declared lengths (2^31 and 2^62 bytes), random bytes after a
//! valid frame, a ~900 KB valid event and ~900 KB of garbage. Each bad one is quarantined with a
//! rule id and a reason (and sent to the DLQ), the valid ones land, ingest keeps running and the
//! partition is never stalled. A duplicate event id (the same event re-sent at a new offset, as a
//! publisher retry would do) is recorded but not accepted twice (`version.duplicate`).

use crate::ingest_support;

use std::collections::HashMap;
use std::time::Duration;

use ingest_support::*;
use lgma_sim::model::ChangeEvent;
use lgma_sim::Topic;

#[derive(serde::Deserialize, Debug)]
struct Verdict {
    offset: i64,
    verdict: String,
    rule_ids: Vec<String>,
}

#[derive(serde::Deserialize, Debug)]
struct QRow {
    offset: i64,
    reasons: Vec<String>,
}

/// Zigzag varint of a long, as Avro writes lengths.
fn avro_long(v: i64) -> Vec<u8> {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    let mut out = Vec::new();
    loop {
        let byte = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// The body with its first field's (event_id's) length replaced by `len`.
fn with_first_length(body: &[u8], len: i64) -> Vec<u8> {
    // event_id is a 36-character UUID: its length is one varint byte (72).
    assert_eq!(body[0], 72, "event_id length prefix");
    let mut out = avro_long(len);
    out.extend_from_slice(&body[1..]);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_records_quarantined_with_reason_and_partition_keeps_going() -> anyhow::Result<()> {
    let topic = Topic::PlanningApplication;
    let world = World::with_topics(&[topic], 1, 500).await?;
    world.write_config_full(500, 200, "", "manual")?;
    let name = world.topic(topic);
    let id = world.encoder.schema_id(topic)?;
    let valid = events_of(topic, 71, 60);
    let template = valid[59].event.clone();
    let body = world.encoder.encode_body(&template)?;
    let framed = |b: &[u8]| lgma_core::framing::encode(id, b);
    let mut garbage = Vec::with_capacity(900_000);
    let mut x = 0x1234_5678_u32;
    while garbage.len() < 900_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        garbage.extend_from_slice(&x.to_le_bytes());
    }
    let mut big = template.clone();
    if let ChangeEvent::PlanningApplication(env) = &mut big {
        env.entity_id = format!("BIG/{}", world.suffix);
        env.event_id = uuid::Uuid::new_v4().to_string();
        env.payload
            .as_mut()
            .expect("payload")
            .development_description = "long ".repeat(180_000);
    }
    let big_bytes = framed(&world.encoder.encode_body(&big)?);

    let mut wrong_magic = framed(&body);
    wrong_magic[0] = 1;
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("empty value", vec![]),
        ("frame without body", framed(&[])),
        ("wrong magic byte", wrong_magic),
        (
            "negative string length",
            framed(&with_first_length(&body, -1)),
        ),
        (
            "declared length 2^31",
            framed(&with_first_length(&body, 1 << 31)),
        ),
        (
            "declared length 2^62",
            framed(&with_first_length(&body, 1 << 62)),
        ),
        ("random bytes after the frame", framed(&garbage[..300])),
        ("900 KB of garbage", framed(&garbage)),
    ];

    let mut valid_offsets = Vec::new();
    let mut bad_offsets: HashMap<i64, &str> = HashMap::new();
    let mut vi = valid.iter();
    for (what, bytes) in &bad {
        let e = vi.next().expect("valid event");
        valid_offsets.push(world.send(e).await?.1);
        let (_, offset) = world.send_raw(&name, "hostile", Some(bytes)).await?;
        println!(
            "injected at offset {offset}: {what} ({} bytes)",
            bytes.len()
        );
        bad_offsets.insert(offset, what);
    }
    let (_, big_offset) = world
        .send_raw(&name, &format!("BIG/{}", world.suffix), Some(&big_bytes))
        .await?;
    println!(
        "injected at offset {big_offset}: a valid event of {} bytes",
        big_bytes.len()
    );
    for e in vi.by_ref().take(10) {
        valid_offsets.push(world.send(e).await?.1);
    }

    let mut child = world.spawn_ingest(0)?;
    let total = (valid_offsets.len() + bad_offsets.len() + 1) as u64;
    let n = wait_for_count(&records_sql(&name), total, Duration::from_secs(60)).await?;
    assert!(child.try_wait()?.is_none(), "ingest survived");
    terminate(&mut child, Duration::from_secs(10));
    assert_eq!(n, total, "log:\n{}", world.log(0));

    let verdicts: HashMap<i64, Verdict> = ch_query::<Verdict>(&format!(
        "SELECT offset, verdict, rule_ids FROM lgma.ingest_events WHERE topic = {}",
        quote(&name)
    ))
    .await?
    .into_iter()
    .map(|v| (v.offset, v))
    .collect();
    let reasons: HashMap<i64, Vec<String>> = ch_query::<QRow>(&format!(
        "SELECT offset, reasons FROM lgma.ingest_quarantine FINAL WHERE topic = {}",
        quote(&name)
    ))
    .await?
    .into_iter()
    .map(|q| (q.offset, q.reasons))
    .collect();
    for (offset, what) in &bad_offsets {
        let v = &verdicts[offset];
        let r = reasons.get(offset).cloned().unwrap_or_default();
        println!("counted: {what}: {} {:?} {:?}", v.verdict, v.rule_ids, r);
        assert_eq!(v.verdict, "QUARANTINE", "{what}");
        assert!(
            !v.rule_ids.is_empty() && !r.is_empty(),
            "{what}: rule and reason"
        );
    }
    for offset in &valid_offsets {
        assert_ne!(
            verdicts[offset].verdict, "QUARANTINE",
            "valid event at {offset}"
        );
    }
    let big_verdict = &verdicts[&big_offset];
    println!(
        "counted: the 900 KB valid event: {} {:?}",
        big_verdict.verdict, big_verdict.rule_ids
    );
    assert!(
        big_verdict.verdict != "QUARANTINE" || !reasons[&big_offset].is_empty(),
        "a large event is stored or quarantined with a reason"
    );
    println!(
        "counted: {} bad records quarantined with rule + reason, {} valid ones on the same partition landed",
        bad_offsets.len(),
        valid_offsets.len()
    );
    Ok(())
}

#[derive(serde::Deserialize, Debug)]
struct Dup {
    rows: u64,
    accepted: u64,
    history: u64,
}

/// A publisher retry: the same event (same id, same entity version) at a new offset is recorded in
/// the offset of record, quarantined as `version.duplicate`, and accepted (history) only once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_event_id_is_not_counted_twice() -> anyhow::Result<()> {
    let topic = Topic::PlanningApplication;
    let world = World::with_topics(&[topic], 1, 500).await?;
    world.write_config_full(500, 200, "", "manual")?;
    let name = world.topic(topic);
    let events = events_of(topic, 73, 20);
    let dup = &events[5];
    let mut sent = 0u64;
    for e in &events {
        world.send(e).await?;
        sent += 1;
    }
    // A publisher retry: the same event (same bytes, same event id) at a new offset.
    let (_, offset) = world.send(dup).await?;
    sent += 1;
    let event_id = dup.event.meta().event_id;
    println!("injected: event {event_id} again at offset {offset}");
    let mut child = world.spawn_ingest(0)?;
    let n = wait_for_count(&records_sql(&name), sent, Duration::from_secs(60)).await?;
    terminate(&mut child, Duration::from_secs(10));
    assert_eq!(n, sent, "every record is recorded in the offset of record");
    let d: Vec<Dup> = ch_query(&format!(
        "SELECT count() AS rows, countIf(verdict != 'QUARANTINE') AS accepted, \
         (SELECT count() FROM lgma.planning_application_history FINAL WHERE topic = {t} AND event_id = {e}) AS history \
         FROM lgma.ingest_events WHERE topic = {t} AND event_id = {e}",
        t = quote(&name),
        e = quote(&event_id)
    ))
    .await?;
    println!("counted for the duplicated event id: {:?}", d[0]);
    assert_eq!(d[0].rows, 2, "both records are in the offset of record");
    assert_eq!(
        (d[0].accepted, d[0].history),
        (1, 1),
        "the duplicate is accepted once and in the history once"
    );
    #[derive(serde::Deserialize, Debug)]
    struct Reason {
        rule_ids: Vec<String>,
        reasons: Vec<String>,
    }
    let q: Vec<Reason> = ch_query(&format!(
        "SELECT rule_ids, reasons FROM lgma.ingest_quarantine FINAL \
         WHERE topic = {} AND offset = {offset}",
        quote(&name)
    ))
    .await?;
    println!("quarantine row of the re-sent record: {q:?}");
    assert_eq!(q.len(), 1, "the re-sent record is quarantined");
    assert_eq!(q[0].rule_ids, vec!["version.duplicate".to_string()]);
    assert!(q[0].reasons[0].contains(&event_id), "{:?}", q[0].reasons);
    Ok(())
}
