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
    describe_gauge!(
        "lgma_dependency_up",
        "1 when the dependency (label dependency: clickhouse, broker, registry) answered the service's last readiness probe, else 0"
    );
    Ok(handle)
}
