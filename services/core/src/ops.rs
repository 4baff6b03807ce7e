//! The operational endpoints every service exposes: `/health`, `/ready`, `/metrics`, and the
//! dependency probes behind `/ready`.
//!
//! `/ready` answers 200 when the service has started (its own flag) and every *required*
//! dependency answered its last probe; 503 otherwise. The body names every dependency with its
//! state, so an operator sees which one is down; an *optional* dependency that is down is shown
//! but keeps the service ready (e.g. ingest keeps going on cached schemas while the registry is
//! unreachable). Each probe also sets `lgma_dependency_up{dependency}` (1 or 0).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

use crate::kafka::KafkaSettings;

/// The last probe of one dependency.
#[derive(Clone, Debug)]
struct DependencyState {
    required: bool,
    /// `None` until the first probe finished.
    result: Option<Result<(), String>>,
    /// What the service does without it (shown when it is down).
    without: &'static str,
}

/// Set once the service can do its job (e.g. the registry has caught up with its store topic),
/// with an optional detail that `/ready` prints after its verdict: something operators must see
/// (records lost) that is no reason to stop sending work; and the state of each dependency.
#[derive(Clone, Default)]
pub struct Readiness {
    started: Arc<AtomicBool>,
    detail: Arc<RwLock<String>>,
    dependencies: Arc<RwLock<BTreeMap<&'static str, DependencyState>>>,
}

impl Readiness {
    /// The service's own readiness (started, caught up), independent of its dependencies.
    pub fn set(&self, ready: bool) {
        self.started.store(ready, Ordering::Release);
    }
    /// Started, and every required dependency answered its last probe.
    pub fn is_ready(&self) -> bool {
        self.started.load(Ordering::Acquire)
            && self.dependencies.read().is_ok_and(|deps| {
                deps.values()
                    .all(|d| !d.required || matches!(d.result, Some(Ok(()))))
            })
    }
    /// Replaces the detail line ("" for none).
    pub fn set_detail(&self, detail: String) {
        if let Ok(mut d) = self.detail.write() {
            *d = detail;
        }
    }
    pub fn detail(&self) -> String {
        self.detail.read().map(|d| d.clone()).unwrap_or_default()
    }

    /// Records the outcome of one probe of `name` (and the `lgma_dependency_up` gauge).
    pub fn set_dependency(
        &self,
        name: &'static str,
        required: bool,
        without: &'static str,
        result: Result<(), String>,
    ) {
        metrics::gauge!("lgma_dependency_up", "dependency" => name).set(if result.is_ok() {
            1.0
        } else {
            0.0
        });
        if let Ok(mut deps) = self.dependencies.write() {
            deps.insert(
                name,
                DependencyState {
                    required,
                    result: Some(result),
                    without,
                },
            );
        }
    }

    /// One line per dependency: `clickhouse: ok`, `broker: DOWN (required): <error>`, ...
    pub fn dependency_lines(&self) -> Vec<String> {
        let Ok(deps) = self.dependencies.read() else {
            return Vec::new();
        };
        deps.iter()
            .map(|(name, d)| match (&d.result, d.required) {
                (Some(Ok(())), _) => format!("{name}: ok"),
                (None, _) => format!("{name}: not probed yet"),
                (Some(Err(e)), true) => format!("{name}: DOWN (required): {e}"),
                (Some(Err(e)), false) => {
                    format!("{name}: DOWN (optional: {}): {e}", d.without)
                }
            })
            .collect()
    }
}

/// A probe: resolves to `Ok(())` when the dependency answered.
pub type ProbeFn =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// One dependency of a service and how to probe it.
pub struct Dependency {
    /// `clickhouse`, `broker`, `registry` (the `dependency` label of `lgma_dependency_up`).
    pub name: &'static str,
    /// Down makes `/ready` answer 503.
    pub required: bool,
    /// For an optional dependency: what the service does without it (shown on `/ready`).
    pub without: &'static str,
    pub probe: ProbeFn,
}

impl Dependency {
    pub fn required<F, Fut>(name: &'static str, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self {
            name,
            required: true,
            without: "",
            probe: Arc::new(move || Box::pin(probe())),
        }
    }

    pub fn optional<F, Fut>(name: &'static str, without: &'static str, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self {
            name,
            required: false,
            without,
            probe: Arc::new(move || Box::pin(probe())),
        }
    }
}

/// How long one probe may take before its dependency counts as down.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(4);

/// Probes every dependency now and then every `every` until `shutdown`, recording each result in
/// `readiness`. Each dependency has its own loop (a slow one does not delay the others); a probe
/// slower than [`PROBE_TIMEOUT`] counts as down.
pub fn spawn_probes(
    readiness: Readiness,
    dependencies: Vec<Dependency>,
    every: Duration,
    shutdown: CancellationToken,
) {
    // Known before their first probe: a required dependency not probed yet keeps /ready at 503.
    if let Ok(mut deps) = readiness.dependencies.write() {
        for d in &dependencies {
            deps.entry(d.name).or_insert(DependencyState {
                required: d.required,
                result: None,
                without: d.without,
            });
        }
    }
    for d in dependencies {
        let readiness = readiness.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            loop {
                let result = probe_twice(&d.probe).await;
                if let Err(e) = &result {
                    tracing::warn!(dependency = d.name, required = d.required, error = %e, "dependency unreachable");
                }
                readiness.set_dependency(d.name, d.required, d.without, result);
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(every) => {}
                }
            }
        });
    }
}

/// One probe bounded by [`PROBE_TIMEOUT`], tried once more at once when it fails: one lost
/// request, or a process paused past the timeout (the timer fires on resume), does not flap
/// `/ready`.
async fn probe_twice(probe: &ProbeFn) -> Result<(), String> {
    let mut result = Ok(());
    for _ in 0..2 {
        result = match tokio::time::timeout(PROBE_TIMEOUT, probe()).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
        };
        if result.is_ok() {
            break;
        }
    }
    result
}

/// A probe of the Kafka brokers: a metadata request on one long-lived client (so a probe costs
/// one request, not a connection), bounded by [`PROBE_TIMEOUT`].
pub fn broker_probe(settings: &KafkaSettings) -> crate::Result<Dependency> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let client: BaseConsumer = settings
        .client_config()
        .create()
        .map_err(|e| crate::Error::Config(format!("kafka client for the broker probe: {e}")))?;
    let client = Arc::new(client);
    Ok(Dependency::required("broker", move || {
        let client = client.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                client
                    .fetch_metadata(None, PROBE_TIMEOUT - Duration::from_millis(500))
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| e.to_string())?
        }
    }))
}

/// HTTP request metrics for a service's router: `<prefix>_http_requests_total{method,route,status}`
/// and `<prefix>_http_request_duration_seconds{method,route}`. `route` is the matched route
/// template (`/v1/current/{entity}`), `unmatched` for anything else, and `method` one of the
/// standard methods or `other`, so no label value comes from the wire. Apply with
/// `Router::layer(axum::middleware::from_fn(move |r, n| http_metrics(PREFIX, r, n)))`, after
/// the routes (so the matched route is known).
pub async fn http_metrics(
    prefix: &'static str,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = bounded_method(req.method());
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(format!("{prefix}_http_requests_total"), "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(format!("{prefix}_http_request_duration_seconds"), "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// HELP text for [`http_metrics`]' two metrics.
pub fn describe_http_metrics(prefix: &'static str, service: &str) {
    metrics::describe_counter!(
        format!("{prefix}_http_requests_total"),
        format!("HTTP requests answered by {service}, by method, route template (unmatched for unknown paths) and status code")
    );
    metrics::describe_histogram!(
        format!("{prefix}_http_request_duration_seconds"),
        format!("Time {service} took to answer an HTTP request, by method and route template")
    );
}

fn bounded_method(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
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
    let mut lines = vec![verdict.to_string()];
    if !state.readiness.started.load(Ordering::Acquire) {
        lines.push("service: starting".into());
    }
    lines.extend(state.readiness.dependency_lines());
    let detail = state.readiness.detail();
    if !detail.is_empty() {
        lines.push(detail);
    }
    if lines.len() == 1 {
        return (status, verdict.to_string());
    }
    (status, lines.join("\n") + "\n")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_needs_the_service_and_every_required_dependency() {
        let r = Readiness::default();
        assert!(!r.is_ready());
        r.set(true);
        assert!(r.is_ready(), "no dependencies registered yet");
        r.set_dependency("clickhouse", true, "", Err("refused".into()));
        r.set_dependency("registry", false, "cached schemas", Err("refused".into()));
        assert!(!r.is_ready());
        r.set_dependency("clickhouse", true, "", Ok(()));
        assert!(r.is_ready(), "an optional dependency down keeps it ready");
        if let Ok(mut deps) = r.dependencies.write() {
            deps.insert(
                "broker",
                DependencyState {
                    required: true,
                    result: None,
                    without: "",
                },
            );
        }
        assert!(!r.is_ready(), "a required dependency not probed yet");
        r.set_dependency("broker", true, "", Ok(()));
        let lines = r.dependency_lines();
        assert_eq!(lines[0], "broker: ok");
        assert_eq!(lines[1], "clickhouse: ok");
        assert_eq!(
            lines[2],
            "registry: DOWN (optional: cached schemas): refused"
        );
    }
}
