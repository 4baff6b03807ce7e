//! A data subject's erasure request, end to end (issue 14, "Erasure and retention"): one person's
//! presentations and placements land (pseudonymised) among other people's; `lgma-ingest erase`
//! with their clear client id on standard input deletes every row of theirs in every homelessness
//! table (history and current) and nothing else, and writes an audit row holding neither the id
//! nor its pseudonym. The pseudonym is recomputed independently (openssl) to look the rows up.

use crate::ingest_support;
use crate::reliability_support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use ingest_support::*;
use lgma_sim::model::ChangeEvent;
use lgma_sim::Topic;
use reliability_support::{hmac_hex, normalise, EXAMPLE_HL_HEX};

const TABLES: [&str; 4] = [
    "hl_presentation_history",
    "hl_presentation_current",
    "hl_placement_history",
    "hl_placement_current",
];

async fn rows_of(pseudonym: &str) -> Result<u64> {
    let mut total = 0;
    for table in TABLES {
        total += count(&format!(
            "SELECT count() AS n FROM lgma.{table} WHERE client_id_pseudo = {}",
            quote(pseudonym)
        ))
        .await?;
    }
    Ok(total)
}

async fn rows_in(world: &World, topics: &[Topic]) -> Result<u64> {
    let list: Vec<String> = topics.iter().map(|t| quote(&world.topic(*t))).collect();
    let mut total = 0;
    for table in TABLES {
        total += count(&format!(
            "SELECT count() AS n FROM lgma.{table} WHERE topic IN ({})",
            list.join(", ")
        ))
        .await?;
    }
    Ok(total)
}

#[derive(serde::Deserialize, Debug)]
struct Audit {
    rows_deleted: u64,
    identifiers: u32,
    tables: Vec<String>,
    reason: String,
    row: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "deletes rows (mutations) in shared tables: run in the serial phase of infra/stack test"]
async fn erasure_removes_every_row_of_the_person_and_nothing_else() -> Result<()> {
    let topics = [Topic::Presentation, Topic::Placement];
    let world = World::with_topics(&topics, 1, 200).await?;
    let client_id = format!("ERASE-{}", uuid::Uuid::new_v4().simple());
    let mut events = events_of(Topic::Presentation, 31, 20);
    events.extend(events_of(Topic::Placement, 32, 20));
    let mut theirs = 0;
    for (i, e) in events.iter_mut().enumerate() {
        if i % 7 != 0 {
            continue;
        }
        match &mut e.event {
            ChangeEvent::Presentation(env) => {
                if let Some(p) = env.payload.as_mut() {
                    p.client_id = client_id.clone();
                    theirs += 1;
                }
            }
            ChangeEvent::Placement(env) => {
                if let Some(p) = env.payload.as_mut() {
                    p.client_id = client_id.clone();
                    theirs += 1;
                }
            }
            _ => {}
        }
    }
    assert!(theirs >= 4, "the person has events on both topics");
    for e in &events {
        world.send(e).await?;
    }
    let mut ingest = world.spawn_ingest(0)?;
    for t in topics {
        let n = events.iter().filter(|e| e.topic == t).count() as u64;
        let got = wait_for_count(&records_sql(&world.topic(t)), n, Duration::from_secs(90)).await?;
        assert_eq!(got, n, "{t:?} recorded; log:\n{}", world.log(0));
    }
    terminate(&mut ingest, Duration::from_secs(10));

    let pseudonym = hmac_hex(EXAMPLE_HL_HEX, &normalise(&client_id));
    let before_theirs = rows_of(&pseudonym).await?;
    let before_all = rows_in(&world, &topics).await?;
    assert!(
        before_theirs >= theirs,
        "their rows are found by the pseudonym ({before_theirs})"
    );

    let admin_password =
        std::env::var("LGMA_CH_ADMIN_PASSWORD").unwrap_or_else(|_| "admin-local".into());
    let mut child = Command::new(ingest_binary())
        .arg("--config")
        .arg(&world.config)
        .args([
            "erase",
            "--domain",
            "homelessness",
            "--requested-by",
            "dpo-test",
        ])
        .args(["--reason", "DSR-TEST-1, Art. 17"])
        .env(lgma_core::config::DEV_MODE_VAR, "1")
        .env("LGMA_INGEST_CLICKHOUSE__USER", "lgma_admin")
        .env("LGMA_INGEST_CLICKHOUSE__PASSWORD", &admin_password)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawning lgma-ingest erase")?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(format!("{client_id}\n").as_bytes())?;
    let out = child.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    let request_id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    println!("{stderr}");
    assert!(
        !stderr.contains(&client_id) && !stderr.contains(&pseudonym),
        "progress shows neither the id nor the pseudonym"
    );

    assert_eq!(rows_of(&pseudonym).await?, 0, "no row of theirs is left");
    assert_eq!(
        rows_in(&world, &topics).await?,
        before_all - before_theirs,
        "only their rows were deleted"
    );
    let audit: Vec<Audit> = ch_query(&format!(
        "SELECT rows_deleted, identifiers, tables, reason, \
         concat(request_id, requested_by, domain, arrayStringConcat(key_versions, ','), reason) AS row \
         FROM lgma.erasure_audit WHERE request_id = {}",
        quote(&request_id)
    ))
    .await?;
    assert_eq!(audit.len(), 1, "one audit row for {request_id}");
    let a = &audit[0];
    assert_eq!((a.rows_deleted, a.identifiers), (before_theirs, 1));
    assert_eq!(a.reason, "DSR-TEST-1, Art. 17");
    assert!(
        a.tables.iter().any(|t| t == "hl_placement_current"),
        "{a:?}"
    );
    assert!(
        !a.row.contains(&client_id) && !a.row.contains(&pseudonym),
        "the audit keeps neither the id nor the pseudonym"
    );
    Ok(())
}
