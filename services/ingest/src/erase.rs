//! `lgma-ingest erase`: a data subject's erasure request (GDPR Art. 17).
//!
//! Given clear identifiers of one person (a PPSN, a council client id...) for one key domain, it
//! computes their pseudonyms under every key the domain has (current and, during a rotation, the
//! previous one), follows `pseudonym_links` to the pseudonyms of older key versions, deletes every
//! row of the domain's entity tables (history and current) whose pseudonym columns hold one of
//! them, and the links themselves; then records the request in `lgma.erasure_audit` — who, when,
//! why, which key versions and tables, how many rows — with neither the identifiers nor their
//! pseudonyms. The clear identifiers are read from standard input, never from the command line
//! (process lists, shell history).
//!
//! Not erased here (services/ingest/README.md, "Erasure"): the raw council topics and the DLQ (90
//! days' retention, infra/kafka/RETENTION.md), the enriched topics (pseudonymised, delete policy),
//! and quarantine rows (they hold no identifier, pseudonymised or not).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::config::Settings;
use crate::sink::{quote, ClickHouse};
use crate::transform::layout::Source;
use crate::{Error, Result};

/// One erasure request.
#[derive(Debug, Clone)]
pub struct Request {
    pub domain: String,
    /// Clear identifiers of the person (normalised like ingest does before hashing).
    pub identifiers: Vec<String>,
    pub requested_by: String,
    pub reason: String,
}

/// What an erasure did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub request_id: String,
    pub key_versions: Vec<String>,
    /// (table, rows deleted).
    pub tables: Vec<(String, u64)>,
    pub links_deleted: u64,
}

impl Summary {
    pub fn rows_deleted(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

#[derive(serde::Deserialize)]
struct Count {
    n: u64,
}

#[derive(serde::Deserialize)]
struct Link {
    old_pseudonym: String,
    new_pseudonym: String,
    old_key_version: String,
}

/// Runs the request; `progress` gets one line per step (no identifier, no pseudonym).
pub async fn run(
    settings: &Settings,
    request: &Request,
    mut progress: impl FnMut(&str),
) -> Result<Summary> {
    if request.identifiers.is_empty() {
        return Err(Error::Config(
            "no identifier given on standard input".into(),
        ));
    }
    let chain = crate::chain::Chain::new(settings)?;
    // The domain's key as the chain loaded it (keys file and environment overrides).
    let key = chain
        .topics
        .values()
        .find(|t| t.domain == request.domain)
        .map(|t| &t.key)
        .ok_or_else(|| {
            Error::Config(format!(
                "no configured topic of domain `{}` (homelessness, housing, planning, waste)",
                request.domain
            ))
        })?;
    let mut summary = Summary {
        request_id: uuid::Uuid::new_v4().to_string(),
        ..Summary::default()
    };
    let mut pseudonyms: BTreeSet<String> = BTreeSet::new();
    for k in std::iter::once(key).chain(key.previous()) {
        summary.key_versions.push(k.version.to_string());
        for id in &request.identifiers {
            pseudonyms.insert(k.pseudonym(id).to_string());
        }
    }
    let clickhouse = ClickHouse::new(settings.clickhouse.clone())?;
    let db = clickhouse.database().to_string();
    // Older key versions: follow the recorded links backwards until nothing new appears.
    loop {
        let list = in_list(&pseudonyms);
        let links: Vec<Link> = clickhouse
            .query(&format!(
                "SELECT DISTINCT old_pseudonym, new_pseudonym, old_key_version FROM {db}.pseudonym_links \
                 WHERE domain = {} AND (old_pseudonym IN ({list}) OR new_pseudonym IN ({list}))",
                quote(&request.domain)
            ))
            .await?;
        let before = pseudonyms.len();
        for l in links {
            pseudonyms.insert(l.old_pseudonym);
            pseudonyms.insert(l.new_pseudonym);
            if !summary.key_versions.contains(&l.old_key_version) {
                summary.key_versions.push(l.old_key_version);
            }
        }
        if pseudonyms.len() == before {
            break;
        }
    }
    progress(&format!(
        "{} identifier(s) -> {} pseudonym(s) under key versions {}",
        request.identifiers.len(),
        pseudonyms.len(),
        summary.key_versions.join(", ")
    ));
    let list = in_list(&pseudonyms);

    let mut tables: Vec<(String, Vec<String>)> = Vec::new();
    for tp in chain.topics.values().filter(|t| t.domain == request.domain) {
        let columns: Vec<String> = tp
            .layout
            .columns
            .iter()
            .filter(|c| matches!(c.source, Source::Pseudonym(_)))
            .map(|c| c.name.clone())
            .collect();
        if columns.is_empty() {
            continue;
        }
        for suffix in ["history", "current"] {
            let table = format!("{}_{suffix}", tp.table);
            if !tables.iter().any(|(t, _)| *t == table) {
                tables.push((table, columns.clone()));
            }
        }
    }
    tables.sort();
    for (table, columns) in &tables {
        let filter = columns
            .iter()
            .map(|c| format!("{c} IN ({list})"))
            .collect::<Vec<_>>()
            .join(" OR ");
        let n = count(&clickhouse, &format!("{db}.{table}"), &filter).await?;
        if n > 0 {
            delete(&clickhouse, &db, table, &filter).await?;
        }
        progress(&format!("{table}: {n} rows deleted"));
        summary.tables.push((table.clone(), n));
    }
    let link_filter = format!(
        "domain = {} AND (old_pseudonym IN ({list}) OR new_pseudonym IN ({list}))",
        quote(&request.domain)
    );
    summary.links_deleted =
        count(&clickhouse, &format!("{db}.pseudonym_links"), &link_filter).await?;
    if summary.links_deleted > 0 {
        delete(&clickhouse, &db, "pseudonym_links", &link_filter).await?;
    }
    progress(&format!(
        "pseudonym_links: {} rows deleted",
        summary.links_deleted
    ));
    audit(&clickhouse, &db, request, &summary).await?;
    Ok(summary)
}

fn in_list(values: &BTreeSet<String>) -> String {
    values
        .iter()
        .map(|v| quote(v))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn count(clickhouse: &ClickHouse, table: &str, filter: &str) -> Result<u64> {
    let rows: Vec<Count> = clickhouse
        .query(&format!("SELECT count() AS n FROM {table} WHERE {filter}"))
        .await?;
    Ok(rows.first().map_or(0, |c| c.n))
}

/// `ALTER TABLE ... DELETE` (a mutation), then waits until no matching row is left.
async fn delete(clickhouse: &ClickHouse, db: &str, table: &str, filter: &str) -> Result<()> {
    clickhouse
        .execute(&format!("ALTER TABLE {db}.{table} DELETE WHERE {filter}"))
        .await?;
    let started = Instant::now();
    while count(clickhouse, &format!("{db}.{table}"), filter).await? > 0 {
        if started.elapsed() > Duration::from_secs(300) {
            return Err(Error::ClickHouse(format!(
                "{table}: the delete mutation has not finished after 300 s (see system.mutations)"
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

async fn audit(clickhouse: &ClickHouse, db: &str, request: &Request, s: &Summary) -> Result<()> {
    let now = chrono::Utc::now().timestamp();
    let row = serde_json::json!({
        "request_id": s.request_id,
        "requested_by": request.requested_by,
        "finished_at": now,
        "domain": request.domain,
        "identifiers": request.identifiers.len(),
        "key_versions": s.key_versions,
        "tables": s.tables.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        "rows_deleted": s.rows_deleted(),
        "links_deleted": s.links_deleted,
        "reason": request.reason,
    });
    clickhouse
        .insert_json(
            &format!("{db}.erasure_audit"),
            format!("{row}\n").into_bytes(),
        )
        .await
}
