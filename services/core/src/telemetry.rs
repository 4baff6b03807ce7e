//! Tracing and Prometheus metrics, set up identically in every service.
//!
//! Logs go to standard error (standard output stays for a command's own output, e.g. a replay id
//! or `reconcile --json`), as text or, with a service's `log_json` / `json_logs` setting, one JSON
//! object per line.
//!
//! Metric names follow Prometheus conventions: `lgma_<service>_` prefix, base units in the name
//! (`_seconds`, `_bytes`, `_records`), `_total` for counters, what varies (verdict, rule, topic,
//! council, route, status) as labels with bounded values, and HELP text on every metric (each
//! service describes its metrics at start).

use std::time::Duration;

use metrics::describe_gauge;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{fmt, EnvFilter};

use crate::{Error, Result};

/// Installs the tracing subscriber. `RUST_LOG` overrides the default `info`; `json` suits log shippers.
pub fn init_tracing(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_writer(std::io::stderr);
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// How often histograms are drained into their buckets, scraped or not.
const UPKEEP: Duration = Duration::from_secs(5);

/// Drains the recorder's histograms every `period`, on the current tokio runtime (none: nothing;
/// returns whether it runs). `install_recorder` leaves this to its caller: until a scrape or an
/// upkeep drains them, a histogram keeps every observation raw, so without a Prometheus scraping
/// (the demo, a benchmark, a scraper that is down) memory grew by 8 bytes per observation —
/// ingest records one publish -> queryable observation per row, 8 MB per million events.
pub fn spawn_upkeep(handle: &PrometheusHandle, period: Duration) -> bool {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return false;
    };
    let handle = handle.clone();
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    });
    true
}

/// Installs the global Prometheus recorder and returns the handle `/metrics` renders from, with
/// the HELP text of the metrics every service shares.
pub fn install_metrics() -> Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets(&[
            0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ])
        .map_err(|e| Error::Telemetry(e.to_string()))?
        .install_recorder()
        .map_err(|e| Error::Telemetry(e.to_string()))?;
    spawn_upkeep(&handle, UPKEEP);
    describe_gauge!(
        "lgma_dependency_up",
        "1 when the dependency (label dependency: clickhouse, broker, registry) answered the service's last readiness probe, else 0"
    );
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Upkeep runs on the service's runtime, and a caller without one (lgma-bench's chain-only
    /// mode) gets none rather than a panic.
    #[test]
    fn upkeep_runs_where_there_is_a_runtime() {
        let handle = PrometheusBuilder::new().build_recorder().handle();
        assert!(!spawn_upkeep(&handle, Duration::from_millis(10)));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        assert!(runtime.block_on(async { spawn_upkeep(&handle, Duration::from_millis(10)) }));
    }
}
