//! Never stalls, never loses: at least eight kinds of bad event are quarantined with the right rule
//! while the valid events around them on the SAME partition land; the raw bytes go to the DLQ with
//! the reason in headers; ClickHouse's quarantine rows never repeat a clear PPSN. Version safety:
//! an older version after a newer one never becomes current state; a DELETE is a higher version.

use crate::ingest_support;

use std::collections::HashMap;
use std::time::Duration;

use ingest_support::*;
use lgma_sim::model::ChangeEvent;
use lgma_sim::Topic;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use rdkafka::Message;

#[derive(serde::Deserialize, Debug)]
struct QRow {
    offset: i64,
    rule_ids: Vec<String>,
    reasons: Vec<String>,
    non_personal_fields: String,
}

fn planning(
    e: &mut ChangeEvent,
) -> &mut lgma_sim::model::Envelope<lgma_sim::model::PlanningApplication> {
    match e {
        ChangeEvent::PlanningApplication(env) => env,
        _ => panic!("not planning"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_events_quarantined_with_reason_while_valid_ones_land() -> anyhow::Result<()> {
    let world =
        World::with_topics(&[Topic::PlanningApplication, Topic::Presentation], 1, 5000).await?;
    world.write_config_full(5000, 300, "", "manual")?;
    let pl = world.topic(Topic::PlanningApplication);
    let pr = world.topic(Topic::Presentation);
    let valid = events_of(Topic::PlanningApplication, 11, 40);
    let schema_id = world.encoder.schema_id(Topic::PlanningApplication)?;
    let waste_id = world.encoder.schema_id(Topic::WasteReturn)?;
    let body = |e: &ChangeEvent| world.encoder.encode_body(e).expect("encodes");
    let framed = |id: u32, b: &[u8]| lgma_core::framing::encode(id, b);

    // expected rule id per planning offset
    let mut expect: HashMap<i64, &str> = HashMap::new();
    let mut valid_offsets = Vec::new();
    let mut vi = valid.iter();

    macro_rules! bad {
        ($rule:expr, $value:expr) => {{
            let e = vi.next().expect("enough valid events");
            valid_offsets.push(world.send(e).await?.1);
            let (_, offset) = world.send_raw(&pl, "bad-key", $value).await?;
            expect.insert(offset, $rule);
        }};
    }
    let template = valid[39].event.clone();

    bad!("envelope.tombstone", None);
    bad!("envelope.not_framed", Some(&br#"{"event_id":"x"}"#[..]));
    bad!(
        "envelope.schema_unknown",
        Some(&framed(987_654, &body(&template))[..])
    );
    let b = body(&template);
    bad!(
        "envelope.decode",
        Some(&framed(schema_id, &b[..b.len() / 2])[..])
    );
    // A waste-return schema id on the planning topic: does not resolve into our reader schema.
    let mut waste = events_of(Topic::WasteReturn, 3, 1).remove(0).event;
    waste.set_la_code("DC");
    bad!(
        "envelope.decode",
        Some(&framed(waste_id, &body(&waste))[..])
    );
    let mut e = template.clone();
    e.set_la_code("ZZ");
    bad!("envelope.la_code", Some(&framed(schema_id, &body(&e))[..]));
    let mut e = template.clone();
    planning(&mut e).payload = None; // an UPDATE/CREATE without payload
    bad!(
        "envelope.payload_missing",
        Some(&framed(schema_id, &body(&e))[..])
    );
    let mut e = template.clone();
    planning(&mut e)
        .payload
        .as_mut()
        .expect("payload")
        .development_eircode = Some("B12 3456".into());
    bad!(
        "planning.development_eircode.format",
        Some(&framed(schema_id, &body(&e))[..])
    );
    let mut e = template.clone();
    {
        let p = planning(&mut e).payload.as_mut().expect("payload");
        p.decision_date = Some(p.received_date - 86_400_000);
    }
    bad!(
        "planning.decision_after_received",
        Some(&framed(schema_id, &body(&e))[..])
    );
    let mut e = template.clone();
    planning(&mut e)
        .payload
        .as_mut()
        .expect("payload")
        .num_residential_units = Some(-5);
    bad!(
        "planning.units.range",
        Some(&framed(schema_id, &body(&e))[..])
    );
    for _ in 0..5 {
        let e = vi.next().expect("enough valid events");
        valid_offsets.push(world.send(e).await?.1);
    }

    // Version safety on the same partition: entity V gets v2, v5, then a stale v3, then DELETE v6
    // for entity D after its v1.
    let mut v = template.clone();
    let vid = format!("VERS/{}", world.suffix);
    planning(&mut v).entity_id = vid.clone();
    let with_version = |base: &ChangeEvent, version: i64| {
        let mut x = base.clone();
        let env = planning(&mut x);
        env.entity_version = version;
        env.event_id = uuid::Uuid::new_v4().to_string();
        x
    };
    let v2 = with_version(&v, 2);
    let v5 = with_version(&v, 5);
    let v3 = with_version(&v, 3);
    world
        .send_raw(&pl, &vid, Some(&framed(schema_id, &body(&v2))))
        .await?;
    world
        .send_raw(&pl, &vid, Some(&framed(schema_id, &body(&v5))))
        .await?;
    let (_, stale_offset) = world
        .send_raw(&pl, &vid, Some(&framed(schema_id, &body(&v3))))
        .await?;
    expect.insert(stale_offset, "version.stale");
    let did = format!("DEL/{}", world.suffix);
    let mut d1 = with_version(&v, 1);
    planning(&mut d1).entity_id = did.clone();
    let mut d2 = with_version(&d1, 2);
    planning(&mut d2).payload = None;
    planning(&mut d2).operation = lgma_sim::model::Operation::DELETE;
    world
        .send_raw(&pl, &did, Some(&framed(schema_id, &body(&d1))))
        .await?;
    world
        .send_raw(&pl, &did, Some(&framed(schema_id, &body(&d2))))
        .await?;

    // A bad PPSN on the presentation topic (its check letter is wrong).
    let mut p = events_of(Topic::Presentation, 5, 1).remove(0).event;
    let clear_ppsn = "1234567Q".to_string();
    if let ChangeEvent::Presentation(env) = &mut p {
        env.payload.as_mut().expect("payload").ppsn = Some(clear_ppsn.clone());
    }
    let pid = world.encoder.schema_id(Topic::Presentation)?;
    let (_, ppsn_offset) = world
        .send_raw(&pr, "p-key", Some(&framed(pid, &body(&p))))
        .await?;

    let total = valid_offsets.len() + expect.len() + 4;
    let mut child = world.spawn_ingest(0)?;
    let n = wait_for_count(&records_sql(&pl), total as u64, Duration::from_secs(60)).await?;
    let pn = wait_for_count(&records_sql(&pr), 1, Duration::from_secs(30)).await?;
    terminate(&mut child, Duration::from_secs(10));
    assert_eq!(n, total as u64, "log:\n{}", world.log(0));
    assert_eq!(pn, 1);

    // Every bad event quarantined with its rule; every valid one stored.
    let rows: Vec<QRow> = ch_query(&format!(
        "SELECT offset, rule_ids, reasons, non_personal_fields FROM lgma.ingest_quarantine FINAL WHERE topic = {}",
        quote(&pl)
    ))
    .await?;
    let by_offset: HashMap<i64, &QRow> = rows.iter().map(|r| (r.offset, r)).collect();
    let mut kinds = std::collections::HashSet::new();
    for (offset, rule) in &expect {
        let row = by_offset
            .get(offset)
            .unwrap_or_else(|| panic!("offset {offset} ({rule}) not quarantined; rows: {rows:?}"));
        assert!(
            row.rule_ids.iter().any(|r| r == rule),
            "offset {offset}: {rule} not in {:?}",
            row.rule_ids
        );
        assert!(!row.reasons.is_empty());
        kinds.insert(*rule);
    }
    assert!(kinds.len() >= 9, "distinct kinds: {kinds:?}");
    // Decodable non-personal fields are kept with the quarantine row; personal ones are not.
    let range_row = rows
        .iter()
        .find(|r| r.rule_ids.iter().any(|x| x == "planning.units.range"))
        .expect("range row");
    assert!(range_row
        .non_personal_fields
        .contains("\"num_residential_units\":-5"));
    assert!(!range_row.non_personal_fields.contains("applicant_forename"));
    assert_eq!(
        rows.len(),
        expect.len(),
        "only the bad ones are quarantined"
    );
    let landed = count(&format!(
        "SELECT count() AS n FROM lgma.planning_application_history FINAL WHERE topic = {} AND offset IN ({})",
        quote(&pl),
        valid_offsets.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
    ))
    .await?;
    assert_eq!(
        landed,
        valid_offsets.len() as u64,
        "valid events on the same partition landed"
    );

    // The PPSN rule fired and its message does not repeat the PPSN.
    let ppsn_rows: Vec<QRow> = ch_query(&format!(
        "SELECT offset, rule_ids, reasons, non_personal_fields FROM lgma.ingest_quarantine FINAL WHERE topic = {}",
        quote(&pr)
    ))
    .await?;
    assert_eq!(ppsn_rows.len(), 1);
    assert_eq!(ppsn_rows[0].offset, ppsn_offset);
    assert!(ppsn_rows[0]
        .rule_ids
        .contains(&"presentation.ppsn.check_letter".to_string()));
    let all_text = format!("{:?}", ppsn_rows[0]);
    assert!(
        !all_text.contains("1234567"),
        "clear PPSN leaked: {all_text}"
    );
    assert!(all_text.contains("redacted"));

    // Version safety: current state is v5 for V, the DELETE (v2, is_deleted) for D.
    #[derive(serde::Deserialize)]
    struct Cur {
        entity_id: String,
        entity_version: i64,
        is_deleted: u8,
    }
    let cur: Vec<Cur> = ch_query(&format!(
        "SELECT entity_id, entity_version, is_deleted FROM lgma.planning_application_current FINAL \
         WHERE topic = {} AND entity_id IN ({}, {})",
        quote(&pl),
        quote(&vid),
        quote(&did)
    ))
    .await?;
    let cur: HashMap<String, (i64, u8)> = cur
        .into_iter()
        .map(|c| (c.entity_id, (c.entity_version, c.is_deleted)))
        .collect();
    assert_eq!(
        cur.get(&vid),
        Some(&(5, 0)),
        "stale v3 must not overwrite v5"
    );
    assert_eq!(cur.get(&did), Some(&(2, 1)), "delete is the current state");

    // DLQ: the raw records with the reason in headers.
    let consumer: StreamConsumer = lgma_e2e::client_config()
        .set("group.id", format!("dlq-check{}", world.suffix))
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&[&format!("lgma.dlq{}", world.suffix)])?;
    let mut reasons = Vec::new();
    let want = expect.len() + 1;
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    while reasons.len() < want && std::time::Instant::now() < deadline {
        if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(2), consumer.recv()).await {
            let headers = m.headers().expect("dlq headers");
            let reason = headers
                .iter()
                .find(|h| h.key == "lgma.reason")
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).to_string())
                .expect("lgma.reason header");
            reasons.push(reason);
        }
    }
    assert_eq!(
        reasons.len(),
        want,
        "every quarantined record is in the DLQ"
    );
    assert!(reasons.iter().any(|r| r.contains("envelope.tombstone")));
    assert!(reasons
        .iter()
        .any(|r| r.contains("presentation.ppsn.check_letter")));
    Ok(())
}

/// A council code from the wire never becomes a metric label: events with 40 made-up codes are
/// quarantined (`envelope.la_code`) and counted under `la_code="other"`, so a hostile or broken
/// publisher cannot mint unbounded Prometheus series.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_council_codes_share_one_metric_label() -> anyhow::Result<()> {
    let world = World::with_topics(&[Topic::PlanningApplication], 1, 5000).await?;
    world.write_config_full(5000, 300, "", "manual")?;
    let name = world.topic(Topic::PlanningApplication);
    let mut events = events_of(Topic::PlanningApplication, 31, 60);
    let mut made_up = Vec::new();
    for (i, e) in events.iter_mut().enumerate().take(40) {
        let code = format!("ZZ{i}X{}", world.suffix.replace(['-', '_', '.'], ""));
        planning(&mut e.event).la_code = code.clone();
        made_up.push(code);
    }
    for e in &events {
        world.send(e).await?;
    }
    let mut child = world.spawn_ingest(0)?;
    let sql = format!(
        "SELECT count() AS n FROM lgma.ingest_events WHERE topic = {}",
        quote(&name)
    );
    let n = wait_for_count(&sql, events.len() as u64, Duration::from_secs(60)).await?;
    assert_eq!(n, events.len() as u64, "log:\n{}", world.log(0));
    let metrics = reqwest::Client::new()
        .get(format!("http://{}/metrics", world.ops_address()?))
        .send()
        .await?
        .text()
        .await?;
    terminate(&mut child, Duration::from_secs(10));
    let minted: Vec<&str> = metrics
        .lines()
        .filter(|l| made_up.iter().any(|c| l.contains(c.as_str())))
        .collect();
    assert!(minted.is_empty(), "labels minted from the wire: {minted:?}");
    assert!(
        metrics
            .lines()
            .any(|l| !l.starts_with('#') && l.contains("la_code=\"other\"") && l.contains(&name)),
        "the made-up codes are counted under la_code=\"other\":\n{metrics}"
    );
    Ok(())
}
