//! No clear personal data in ClickHouse: publish generated presentations and need assessments
//! (clear PPSNs, names, dates of birth, addresses, health notes), some of them quarantined, then
//! scan every String/Array(String) value of every lgma table row of this run for those values
//! (and for the health and disability grounds of `main_need`, stored only as their group).
//! The enriched topic bytes are scanned too.

use crate::ingest_support;

use std::collections::HashSet;
use std::time::Duration;

use ingest_support::*;
use lgma_sim::model::ChangeEvent;
use lgma_sim::Topic;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use rdkafka::Message;

#[derive(serde::Deserialize)]
struct Table {
    tbl: String,
}

fn clear_values(e: &ChangeEvent, out: &mut HashSet<String>) {
    let day = chrono_day;
    match e {
        ChangeEvent::Presentation(env) => {
            if let Some(p) = &env.payload {
                out.extend(p.ppsn.clone());
                out.insert(p.client_id.clone());
                out.insert(p.household_id.clone());
                if let (Some(f), Some(s)) = (&p.forename, &p.surname) {
                    out.insert(format!("{f} {s}"));
                }
                out.extend(p.date_of_birth.map(day));
                out.extend(p.last_address.clone());
                out.extend(p.health_notes.clone());
                out.extend(p.caseworker_notes.clone());
            }
        }
        ChangeEvent::NeedAssessment(env) => {
            if let Some(p) = &env.payload {
                out.extend(p.ppsn.clone());
                out.insert(p.applicant_id.clone());
                if let (Some(f), Some(s)) = (&p.forename, &p.surname) {
                    out.insert(format!("{f} {s}"));
                }
                out.extend(p.date_of_birth.map(day));
                out.extend(p.current_address.clone());
                out.extend(p.disability_details.clone());
                // Special-category need grounds are stored as one group (schemas/README.md).
                let need = p.main_need.as_str();
                if need.ends_with("_DISABILITY") || need == "MEDICAL_GROUNDS" {
                    out.insert(need.to_string());
                }
            }
        }
        _ => {}
    }
}

fn chrono_day(days: i32) -> String {
    // yyyy-mm-dd without a date library: civil-from-days (Howard Hinnant); works before 1970.
    let z = i64::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_clear_ppsn_name_or_birth_date_in_any_clickhouse_string() -> anyhow::Result<()> {
    let topics = [Topic::Presentation, Topic::NeedAssessment];
    let world = World::with_topics(&topics, 1, 5000).await?;
    world.write_config_full(5000, 300, "", "manual")?;
    let mut clear = HashSet::new();
    let mut sent = 0u64;
    for topic in topics {
        for (i, e) in events_of(topic, 21, 60).into_iter().enumerate() {
            let mut e = e;
            if i % 10 == 0 {
                // Quarantined events carry clear data too: an unknown council.
                e.event.set_la_code("ZZ");
            }
            clear_values(&e.event, &mut clear);
            world.send(&e).await?;
            sent += 1;
        }
    }
    clear.retain(|v| v.len() >= 6); // ignore tiny values that would match by accident
    assert!(
        clear.iter().any(|v| v.len() == 8 || v.len() == 9),
        "some PPSNs are in the sample"
    );
    assert!(
        clear
            .iter()
            .any(|v| v.ends_with("_DISABILITY") || v == "MEDICAL_GROUNDS"),
        "some health or disability grounds are in the sample"
    );

    let mut child = world.spawn_ingest(0)?;
    let all = topics_in(&world);
    let n = wait_for_count(
        &format!("SELECT count() AS n FROM lgma.ingest_events WHERE topic IN ({all})"),
        sent,
        Duration::from_secs(60),
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    terminate(&mut child, Duration::from_secs(10));
    assert_eq!(n, sent, "log:\n{}", world.log(0));

    // Every table in lgma that has a `topic` column: all string values of this run's rows.
    let tables: Vec<Table> = ch_query(
        "SELECT DISTINCT table AS tbl FROM system.columns WHERE database = 'lgma' AND name = 'topic'",
    )
    .await?;
    assert!(tables.len() >= 4);
    let mut scanned = 0usize;
    for t in tables {
        let rows: Vec<serde_json::Value> = ch_query(&format!(
            "SELECT * FROM lgma.{} WHERE topic IN ({all})",
            t.tbl
        ))
        .await?;
        for row in rows {
            let mut values = Vec::new();
            strings(&row, &mut values);
            for v in values {
                scanned += 1;
                for c in &clear {
                    assert!(
                        !v.contains(c.as_str()),
                        "lgma.{}: clear value {c:?} found in {v:?}",
                        t.tbl
                    );
                }
            }
        }
    }
    assert!(scanned > 1000, "scanned {scanned} strings");

    // The enriched topics carry no clear values either.
    let consumer: StreamConsumer = lgma_e2e::client_config()
        .set("group.id", format!("pii-check{}", world.suffix))
        .set("auto.offset.reset", "earliest")
        .create()?;
    let enriched: Vec<String> = topics
        .iter()
        .map(|t| format!("{}.enriched{}", t.name(), world.suffix))
        .collect();
    consumer.subscribe(&enriched.iter().map(String::as_str).collect::<Vec<_>>())?;
    let mut seen = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline && seen < 100 {
        if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(2), consumer.recv()).await {
            let bytes = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
            for c in &clear {
                assert!(!bytes.contains(c.as_str()), "enriched topic carries {c:?}");
            }
            // The service's default: the event's id and council as headers, nothing else.
            let headers: Vec<(String, String)> = m.headers().map_or(Vec::new(), |h| {
                h.iter()
                    .map(|h| {
                        let v = String::from_utf8_lossy(h.value.unwrap_or_default());
                        (h.key.to_string(), v.to_string())
                    })
                    .collect()
            });
            let names: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(names, ["event_id", "la_code"], "enriched headers");
            assert!(
                headers
                    .iter()
                    .all(|(_, v)| clear.iter().all(|c| !v.contains(c.as_str()))),
                "{headers:?}"
            );
            seen += 1;
        }
    }
    assert!(seen >= 100, "read {seen} enriched events");
    Ok(())
}
