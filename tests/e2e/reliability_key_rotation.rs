//! Pseudonymisation key rotation: ingest runs with the homelessness key `dev-hl-1`, is stopped and
//! restarted with a keys file whose homelessness key is a fresh `rot-hl-2`, while presentations keep
//! coming — including new versions of entities (same client, same PPSN) seen before the rotation.
//! Proves: every row says which key made its pseudonyms (ingest_events, history, current), old and
//! new rows are distinguishable, the same person gets different pseudonyms across versions and
//! the same one within a version, each pseudonym is HMAC-SHA256(key of its version, normalised id)
//! (so whoever holds both keys can build the old→new link; analysts cannot), the key material is in
//! no log line, and nothing is lost or doubled across the restart.

use crate::ingest_support;
use crate::reliability_support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ingest_support::*;
use lgma_sim::model::ChangeEvent;
use lgma_sim::{GeneratedEvent, Topic};
use reliability_support::*;

const OLD_VERSION: &str = EXAMPLE_HL_VERSION;
const OLD_HEX: &str = EXAMPLE_HL_HEX;

fn client_and_ppsn(e: &ChangeEvent) -> (String, Option<String>) {
    match e {
        ChangeEvent::Presentation(env) => {
            let p = env.payload.as_ref().expect("payload");
            (p.client_id.clone(), p.ppsn.clone())
        }
        _ => panic!("not a presentation"),
    }
}

#[derive(serde::Deserialize)]
struct HistoryRow {
    entity_id: String,
    entity_version: i64,
    key_version: String,
    client_id_pseudo: Option<String>,
    ppsn_pseudo: Option<String>,
}

#[derive(serde::Deserialize, Debug)]
struct ByKey {
    key_version: String,
    rows: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_key_rows_stay_distinguishable_and_nothing_is_lost() -> anyhow::Result<()> {
    let started = Instant::now();
    let topic = Topic::Presentation;
    let world = Arc::new(World::with_topics(&[topic], 2, 200).await?);
    world.write_config_full(200, 200, "", "manual")?;
    let name = world.topic(topic);
    // One generator sequence (entity versions stay in order), split at the rotation; after it, new
    // presentations plus (last) a new version of 40 entities seen before.
    let mut before = events_of(topic, 51, 560);
    let mut after = before.split_off(300);
    let relinked = new_versions(&before[..40], 100);
    after.extend(relinked.iter().cloned());
    let all: Vec<GeneratedEvent> = before.iter().chain(after.iter()).cloned().collect();
    let ids = event_ids(&all);
    let count_sql = records_sql(&name);

    // Phase 1: the old key.
    let mut child = world.spawn_ingest(0)?;
    let mut delivered = stream(
        world.clone(),
        before.clone(),
        50,
        Duration::from_millis(100),
    )
    .await??;
    let n = wait_for_count(&count_sql, delivered.len() as u64, Duration::from_secs(60)).await?;
    assert_eq!(n, delivered.len() as u64, "log:\n{}", world.log(0));
    terminate(&mut child, Duration::from_secs(10));

    // Rotation: a new keys file, homelessness key replaced by a fresh random one.
    let new_version = format!("rot-hl-{}", &world.suffix[2..8]);
    let new_hex = random_key_hex();
    let keys = homelessness_keys_file(&world, "keys-rotated.toml", &new_version, &new_hex, "")?;
    world.write_config_full(200, 200, "", "manual")?;
    set_keys_file(&world, &keys)?;
    println!("injected: restart with homelessness key {OLD_VERSION} → {new_version}");

    let mut child = world.spawn_ingest(1)?;
    delivered.extend(stream(world.clone(), after.clone(), 50, Duration::from_millis(100)).await??);
    let n = wait_for_count(&count_sql, delivered.len() as u64, Duration::from_secs(60)).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    terminate(&mut child, Duration::from_secs(10));
    assert_eq!(n, delivered.len() as u64, "log:\n{}", world.log(1));

    // Every row names its key version; the counts split exactly at the restart.
    let by_key: Vec<ByKey> = ch_query(&format!(
        "SELECT key_version, count() AS rows FROM lgma.ingest_events WHERE topic = {} GROUP BY key_version ORDER BY key_version",
        quote(&name)
    ))
    .await?;
    println!("counted in ingest_events by key_version: {by_key:?}");
    let by_key: HashMap<String, u64> = by_key
        .into_iter()
        .map(|k| (k.key_version, k.rows))
        .collect();
    assert_eq!(by_key.len(), 2);
    assert_eq!(by_key[OLD_VERSION], before.len() as u64);
    assert_eq!(by_key[&new_version], after.len() as u64);

    let rows: Vec<HistoryRow> = ch_query(&format!(
        "SELECT entity_id, entity_version, key_version, client_id_pseudo, ppsn_pseudo \
         FROM lgma.hl_presentation_history FINAL WHERE topic = {}",
        quote(&name)
    ))
    .await?;
    assert_eq!(rows.len(), all.len());
    let by_entity: HashMap<(String, i64), &HistoryRow> = rows
        .iter()
        .map(|r| ((r.entity_id.clone(), r.entity_version), r))
        .collect();

    // The same client before and after: different pseudonyms, each the HMAC of its version's key.
    let mut checked_ppsn = 0;
    let mut old_pseudonyms = HashSet::new();
    let mut new_pseudonyms = HashSet::new();
    for (old, new) in before.iter().take(40).zip(relinked.iter()) {
        let o = by_entity[&(
            old.event.entity_id().to_string(),
            old.event.meta().entity_version,
        )];
        let n = by_entity[&(
            new.event.entity_id().to_string(),
            new.event.meta().entity_version,
        )];
        assert_eq!(
            (o.key_version.as_str(), n.key_version.as_str()),
            (OLD_VERSION, new_version.as_str())
        );
        let (client, ppsn) = client_and_ppsn(&old.event);
        let (o_client, n_client) = (
            o.client_id_pseudo.clone().expect("client pseudonym"),
            n.client_id_pseudo.clone().expect("client pseudonym"),
        );
        assert_ne!(o_client, n_client, "a rotated key gives a new pseudonym");
        assert_eq!(o_client, hmac_hex(OLD_HEX, &normalise(&client)));
        assert_eq!(n_client, hmac_hex(&new_hex, &normalise(&client)));
        old_pseudonyms.insert(o_client);
        new_pseudonyms.insert(n_client);
        if let (Some(ppsn), Some(op), Some(np)) = (ppsn, &o.ppsn_pseudo, &n.ppsn_pseudo) {
            assert_eq!(op, &hmac_hex(OLD_HEX, &normalise(&ppsn)));
            assert_eq!(np, &hmac_hex(&new_hex, &normalise(&ppsn)));
            checked_ppsn += 1;
        }
    }
    assert!(
        old_pseudonyms.is_disjoint(&new_pseudonyms),
        "no pseudonym is shared across key versions"
    );
    // Within one key version the same client keeps one pseudonym (joins inside a version work).
    let new_rows_of_client: HashMap<&str, HashSet<&str>> = rows
        .iter()
        .filter(|r| r.key_version == new_version)
        .fold(HashMap::new(), |mut m, r| {
            m.entry(r.entity_id.as_str())
                .or_default()
                .insert(r.client_id_pseudo.as_deref().unwrap_or_default());
            m
        });
    assert!(new_rows_of_client.values().all(|s| s.len() == 1));
    println!(
        "counted: 40 entities re-published after the rotation: 40 old/new pseudonym pairs differ, {} \
         client + {checked_ppsn} PPSN pseudonyms recomputed with each version's key",
        old_pseudonyms.len()
    );

    // Current state follows the newest version, hence the new key.
    let current_new = count(&format!(
        "SELECT count() AS n FROM lgma.hl_presentation_current FINAL WHERE topic = {} AND key_version = {} \
         AND entity_id IN ({})",
        quote(&name),
        quote(&new_version),
        relinked
            .iter()
            .map(|g| quote(g.event.entity_id()))
            .collect::<Vec<_>>()
            .join(",")
    ))
    .await?;
    assert_eq!(current_new, 40);

    // The key material is in no log of either run.
    let ascii_old = String::from_utf8(hex_decode(OLD_HEX)).expect("ascii key");
    for n in 0..2 {
        let log = world.log(n);
        assert!(!log.is_empty());
        for secret in [OLD_HEX, new_hex.as_str(), ascii_old.as_str()] {
            assert!(
                !log.to_lowercase().contains(&secret.to_lowercase()),
                "key material in ingest-{n}.log"
            );
        }
    }
    assert_exactly_once(
        "key rotation",
        &name,
        "hl_presentation_history",
        &delivered,
        &ids,
    )
    .await?;
    println!("run time {:?}", started.elapsed());
    Ok(())
}

fn hex_decode(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}
