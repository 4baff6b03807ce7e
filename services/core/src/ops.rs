//! The operational endpoints every service exposes: `/health`, `/ready`, `/metrics`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;

/// Set once the service can do its job (e.g. the registry has caught up with its store topic),
/// with an optional detail that `/ready` prints after its verdict: something operators must see
/// (records lost) that is no reason to stop sending work.
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>, Arc<RwLock<String>>);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Release);
    }
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
    /// Replaces the detail line ("" for none).
    pub fn set_detail(&self, detail: String) {
        if let Ok(mut d) = self.1.write() {
            *d = detail;
        }
    }
    pub fn detail(&self) -> String {
        self.1.read().map(|d| d.clone()).unwrap_or_default()
    }
}

#[derive(Clone)]
struct OpsState {
    metrics: Option<PrometheusHandle>,
    readiness: Readiness,
}

/// Routes to merge into a service's own router.
pub fn routes<S>(metrics: Option<PrometheusHandle>, readiness: Readiness) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(ready))
        .route("/metrics", get(render_metrics))
        .with_state(OpsState { metrics, readiness })
}

async fn ready(State(state): State<OpsState>) -> (StatusCode, String) {
    let (status, verdict) = if state.readiness.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    };
    let detail = state.readiness.detail();
    if detail.is_empty() {
        (status, verdict.to_string())
    } else {
        (status, format!("{verdict}\n{detail}\n"))
    }
}

async fn render_metrics(State(state): State<OpsState>) -> (StatusCode, String) {
    match &state.metrics {
        Some(handle) => (StatusCode::OK, handle.render()),
        None => (
            StatusCode::NOT_FOUND,
            "metrics recorder not installed".into(),
        ),
    }
}
