//! `lgma-ingest reconcile`: the broker's offsets against the offset of record, per topic and
//! partition (the arithmetic is `lgma_core::reconcile`, shared with lgma-api's `/v1/reconcile`).

use std::time::{Duration, Instant};

use lgma_core::reconcile::{broker_offsets, compare, recorded_sql, RecordedPartition, Report};

use crate::config::Settings;
use crate::sink::ClickHouse;
use crate::{Error, Result};

/// The configured source topics (or `only`, base names as configured).
pub fn topics(settings: &Settings, only: &[String]) -> Vec<String> {
    settings
        .topics
        .iter()
        .filter(|t| only.is_empty() || only.contains(&t.topic))
        .map(|t| settings.source_topic(&t.topic))
        .collect()
}

/// One comparison now.
pub async fn once(settings: &Settings, topics: &[String]) -> Result<Report> {
    let kafka = settings.kafka.clone();
    let names = topics.to_vec();
    let broker = tokio::task::spawn_blocking(move || {
        broker_offsets(&kafka, &names, Duration::from_secs(10))
    })
    .await
    .map_err(|e| Error::Config(format!("broker offsets task: {e}")))??;
    let clickhouse = ClickHouse::new(settings.clickhouse.clone())?;
    let recorded: Vec<RecordedPartition> = clickhouse
        .query(&recorded_sql(clickhouse.database(), topics))
        .await?;
    Ok(compare(&broker, &recorded))
}

/// Compares until nothing is left unread (ingest caught up) or `wait` has passed; `progress` sees
/// each intermediate report.
pub async fn until_caught_up(
    settings: &Settings,
    topics: &[String],
    wait: Duration,
    mut progress: impl FnMut(&Report),
) -> Result<Report> {
    let started = Instant::now();
    loop {
        let report = once(settings, topics).await?;
        if report.total.unread == 0 || started.elapsed() >= wait {
            return Ok(report);
        }
        progress(&report);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
