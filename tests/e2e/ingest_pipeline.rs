//! Every topic end to end against the real stack: generated council events for all seven topics
//! land once in `ingest_events` and in their entity tables, enriched events reach the enriched
//! topics, and the stack's ops endpoints answer.

use crate::ingest_support;

use std::time::Duration;

use ingest_support::*;
use lgma_sim::Topic;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_seven_topics_land_with_provenance_and_enrichment() -> anyhow::Result<()> {
    let world = World::new(2, 5000).await?;
    let events = valid_events(42, 400);
    let mut per_topic = std::collections::HashMap::new();
    for e in &events {
        world.send(e).await?;
        *per_topic.entry(e.topic).or_insert(0u64) += 1;
    }
    let mut child = world.spawn_ingest(0)?;
    let all = topics_in(&world);
    let n = wait_for_count(
        &format!("SELECT count() AS n FROM lgma.ingest_events WHERE topic IN ({all})"),
        events.len() as u64,
        Duration::from_secs(60),
    )
    .await?;
    let log = world.log(0);
    terminate(&mut child, Duration::from_secs(10));
    assert_eq!(n, events.len() as u64, "ingest log:\n{log}");

    let accepted = count(&format!(
        "SELECT count() AS n FROM lgma.ingest_events WHERE topic IN ({all}) AND verdict != 'QUARANTINE'"
    ))
    .await?;
    assert_eq!(
        accepted,
        events.len() as u64,
        "generator's valid events are all accepted"
    );

    let tables = [
        (Topic::Presentation, "hl_presentation"),
        (Topic::Placement, "hl_placement"),
        (Topic::Exit, "hl_exit"),
        (Topic::DwellingUnit, "housing_dwelling_unit"),
        (Topic::NeedAssessment, "housing_need_assessment"),
        (Topic::PlanningApplication, "planning_application"),
        (Topic::WasteReturn, "waste_return"),
    ];
    for (topic, table) in tables {
        let want = per_topic.get(&topic).copied().unwrap_or(0);
        let got = count(&format!(
            "SELECT count() AS n FROM lgma.{table}_history FINAL WHERE topic = {}",
            quote(&world.topic(topic))
        ))
        .await?;
        assert_eq!(got, want, "{table}: history rows");
        if want > 0 {
            let enriched = count(&format!(
                "SELECT count() AS n FROM lgma.{table}_history WHERE topic = {} \
                 AND nuts3_code IS NOT NULL AND la_population_2022 > 0 AND key_version != '' \
                 AND rules_version != ''",
                quote(&world.topic(topic))
            ))
            .await?;
            assert_eq!(
                enriched, want,
                "{table}: every row carries reference data and versions"
            );
        }
    }
    Ok(())
}
