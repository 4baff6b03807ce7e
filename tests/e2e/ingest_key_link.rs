//! Linking a person across a pseudonymisation key rotation (services/ingest/README.md, "Key
//! rotation"). Ingest runs with a homelessness key v1, then restarts with a keys file whose key is
//! v2 and whose `previous_key_*` is v1 (the transition period), while new versions of entities seen
//! before (same client, household, PPSN) and new presentations arrive.
//! Proves: no link rows without a previous key; during the transition `lgma.pseudonym_links` holds
//! exactly one row per identifier value and column, mapping HMAC(v1, id) to HMAC(v2, id) (both
//! recomputed here with `openssl` from the published clear identifiers); the analysts' join from a
//! v1 row reaches the same person's v2 row; no clear identifier and no key material is stored or
//! logged; every record is in the offset of record exactly once.

use crate::ingest_support;
use crate::reliability_support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ingest_support::*;
use lgma_sim::model::ChangeEvent;
use lgma_sim::{GeneratedEvent, Topic};
use reliability_support::*;

/// (pseudonym column, clear identifier) of every identifier of a presentation.
fn identifiers(e: &ChangeEvent) -> Vec<(&'static str, String)> {
    let ChangeEvent::Presentation(env) = e else {
        panic!("not a presentation")
    };
    let p = env.payload.as_ref().expect("payload");
    let mut out = vec![
        ("client_id_pseudo", p.client_id.clone()),
        ("household_id_pseudo", p.household_id.clone()),
    ];
    if let Some(ppsn) = &p.ppsn {
        out.push(("ppsn_pseudo", ppsn.clone()));
    }
    out
}

#[derive(serde::Deserialize, Debug, Clone)]
struct Link {
    domain: String,
    pseudonym_column: String,
    old_key_version: String,
    old_pseudonym: String,
    new_key_version: String,
    new_pseudonym: String,
}

#[derive(serde::Deserialize)]
struct HistoryRow {
    entity_id: String,
    entity_version: i64,
    key_version: String,
    client_id_pseudo: Option<String>,
}

#[derive(serde::Deserialize)]
struct Joined {
    entity_id: String,
    new_pseudonym: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transition_links_each_person_old_to_new_pseudonym_once() -> anyhow::Result<()> {
    let started = Instant::now();
    let topic = Topic::Presentation;
    let world = Arc::new(World::with_topics(&[topic], 2, 200).await?);
    let name = world.topic(topic);
    let v1 = format!("link-hl-1{}", world.suffix);
    let v2 = format!("link-hl-2{}", world.suffix);
    let (hex1, hex2) = (random_key_hex(), random_key_hex());
    let links_filter = format!(
        "domain = 'homelessness' AND (old_key_version = {v1q} \
         OR new_key_version = {v1q} OR new_key_version = {v2q})",
        v1q = quote(&v1),
        v2q = quote(&v2)
    );

    let mut before = events_of(topic, 77, 200);
    let mut after = before.split_off(150);
    after.truncate(30);
    // The same people again after the rotation: new versions of 40 entities seen before.
    let relinked = new_versions(&before[..40], 100);
    after.extend(relinked.iter().cloned());
    let all: Vec<GeneratedEvent> = before.iter().chain(after.iter()).cloned().collect();
    let ids = event_ids(&all);
    let count_sql = records_sql(&name);

    // Phase 1: key v1 only — no transition, no links.
    world.write_config_full(200, 200, "", "manual")?;
    set_keys_file(
        &world,
        &homelessness_keys_file(&world, "keys-v1.toml", &v1, &hex1, "")?,
    )?;
    let mut child = world.spawn_ingest(0)?;
    let mut delivered =
        stream(world.clone(), before.clone(), 50, Duration::from_millis(50)).await??;
    let n = wait_for_count(&count_sql, delivered.len() as u64, Duration::from_secs(60)).await?;
    assert_eq!(n, delivered.len() as u64, "log:\n{}", world.log(0));
    terminate(&mut child, Duration::from_secs(10));
    let links_before = count(&format!(
        "SELECT count() AS n FROM lgma.pseudonym_links WHERE {links_filter}"
    ))
    .await?;
    assert_eq!(links_before, 0, "no previous key, no link rows");

    // Phase 2: key v2 with previous key v1 (the transition period).
    let transition = homelessness_keys_file(
        &world,
        "keys-v2-transition.toml",
        &v2,
        &hex2,
        &format!("previous_key_version = \"{v1}\"\nprevious_key_hex = \"{hex1}\""),
    )?;
    world.write_config_full(200, 200, "", "manual")?;
    set_keys_file(&world, &transition)?;
    println!("injected: restart with homelessness key {v1} → {v2}, previous key {v1} kept");
    let mut child = world.spawn_ingest(1)?;
    delivered.extend(stream(world.clone(), after.clone(), 50, Duration::from_millis(50)).await??);
    let n = wait_for_count(&count_sql, delivered.len() as u64, Duration::from_secs(60)).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    terminate(&mut child, Duration::from_secs(10));
    assert_eq!(n, delivered.len() as u64, "log:\n{}", world.log(1));

    // Expected: one link per (column, identifier value) seen after the rotation, recomputed here.
    let mut expected: HashMap<(String, String), String> = HashMap::new();
    let mut clear_values = HashSet::new();
    for e in &after {
        for (column, clear) in identifiers(&e.event) {
            let norm = normalise(&clear);
            let old = hmac_hex(&hex1, &norm);
            let new = hmac_hex(&hex2, &norm);
            expected.insert((column.to_string(), old), new);
            clear_values.insert(clear);
        }
    }
    let links: Vec<Link> = ch_query(&format!(
        "SELECT domain, pseudonym_column, old_key_version, old_pseudonym, new_key_version, \
         new_pseudonym FROM lgma.pseudonym_links FINAL WHERE {links_filter}"
    ))
    .await?;
    let mut got: HashMap<(String, String), String> = HashMap::new();
    for l in &links {
        assert_eq!(
            (
                l.domain.as_str(),
                l.old_key_version.as_str(),
                l.new_key_version.as_str()
            ),
            ("homelessness", v1.as_str(), v2.as_str()),
            "{l:?}"
        );
        let before = got.insert(
            (l.pseudonym_column.clone(), l.old_pseudonym.clone()),
            l.new_pseudonym.clone(),
        );
        assert!(before.is_none(), "one link per person per column: {l:?}");
    }
    assert_eq!(got.len(), expected.len());
    assert_eq!(got, expected, "links are HMAC(v1, id) → HMAC(v2, id)");
    let by_column = links
        .iter()
        .fold(HashMap::<&str, usize>::new(), |mut m, l| {
            *m.entry(l.pseudonym_column.as_str()).or_default() += 1;
            m
        });
    println!(
        "counted: {} link rows for {} presentations after the rotation, by column {by_column:?}",
        links.len(),
        after.len()
    );

    // No clear identifier, no key material anywhere in the link table's rows of this test.
    let dump = serde_json::to_string(
        &links
            .iter()
            .map(|l| {
                format!(
                    "{} {} {} {}",
                    l.pseudonym_column, l.old_key_version, l.old_pseudonym, l.new_pseudonym
                )
            })
            .collect::<Vec<_>>(),
    )?;
    for clear in &clear_values {
        assert!(!dump.contains(clear.as_str()) && !dump.contains(&normalise(clear)));
    }
    assert!(!dump.contains(&hex1) && !dump.contains(&hex2));

    // The analysts' join: from a person's v1 row through the link to the same person's v2 row.
    let relinked_ids: Vec<String> = relinked
        .iter()
        .map(|g| quote(g.event.entity_id()))
        .collect();
    let joined: Vec<Joined> = ch_query(&format!(
        "SELECT a.entity_id AS entity_id, l.new_pseudonym AS new_pseudonym \
         FROM lgma.hl_presentation_history AS a \
         INNER JOIN (SELECT old_key_version, old_pseudonym, new_pseudonym \
                     FROM lgma.pseudonym_links FINAL \
                     WHERE domain = 'homelessness' AND pseudonym_column = 'client_id_pseudo' \
                       AND new_key_version = {v2q}) AS l \
           ON l.old_pseudonym = a.client_id_pseudo AND l.old_key_version = a.key_version \
         WHERE a.topic = {topic} AND a.key_version = {v1q} AND a.entity_id IN ({ids})",
        v1q = quote(&v1),
        v2q = quote(&v2),
        topic = quote(&name),
        ids = relinked_ids.join(",")
    ))
    .await?;
    let history: Vec<HistoryRow> = ch_query(&format!(
        "SELECT entity_id, entity_version, key_version, client_id_pseudo \
         FROM lgma.hl_presentation_history FINAL WHERE topic = {} AND key_version = {}",
        quote(&name),
        quote(&v2)
    ))
    .await?;
    let new_row: HashMap<(String, i64), &HistoryRow> = history
        .iter()
        .map(|r| ((r.entity_id.clone(), r.entity_version), r))
        .collect();
    let joined: HashMap<&str, &str> = joined
        .iter()
        .map(|j| (j.entity_id.as_str(), j.new_pseudonym.as_str()))
        .collect();
    assert_eq!(
        joined.len(),
        relinked.len(),
        "every v1 row of a re-seen person links"
    );
    for g in &relinked {
        let row = new_row[&(
            g.event.entity_id().to_string(),
            g.event.meta().entity_version,
        )];
        assert_eq!(row.key_version, v2);
        assert_eq!(
            Some(joined[g.event.entity_id()]),
            row.client_id_pseudo.as_deref(),
            "the link reaches the same person's v2 pseudonym"
        );
    }
    println!(
        "counted: {} v1 rows joined through pseudonym_links to their v2 rows",
        joined.len()
    );

    // Key material in no log line of either run.
    for n in 0..2 {
        let log = world.log(n).to_lowercase();
        assert!(!log.is_empty());
        assert!(
            !log.contains(&hex1) && !log.contains(&hex2),
            "key in ingest-{n}.log"
        );
    }
    assert_exactly_once(
        "key link",
        &name,
        "hl_presentation_history",
        &delivered,
        &ids,
    )
    .await?;
    println!("run time {:?}", started.elapsed());
    Ok(())
}
