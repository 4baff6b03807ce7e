//! Wiring: open the store, build the router, serve until shutdown.

use std::sync::Arc;

use lgma_core::ops::Readiness;
use tokio_util::sync::CancellationToken;

use crate::api::{router, AppState};
use crate::auth::Users;
use crate::config::{AuthSettings, Settings};
use crate::error::{Error, Result};
use crate::service::Registry;
use crate::store::Store;

/// Runs the registry until `shutdown` is cancelled. The listener binds first, so `/health`
/// answers (and `/ready` says 503) while the store topic replays.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> Result<()> {
    let metrics = match lgma_core::telemetry::install_metrics() {
        Ok(handle) => Some(handle),
        Err(e) => {
            tracing::warn!(error = %e, "metrics recorder not installed");
            None
        }
    };
    describe_metrics();
    let users = load_users(&settings.auth)?;
    let readiness = Readiness::default();
    // The broker shows on /ready and in lgma_dependency_up; optional once the store is loaded:
    // reads are served from memory, registrations fail until it is back.
    let mut broker = lgma_core::ops::broker_probe(&settings.kafka)?;
    broker.required = false;
    broker.without = "schemas are served from memory; registrations fail until it is back";
    lgma_core::ops::spawn_probes(
        readiness.clone(),
        vec![broker],
        std::time::Duration::from_secs(5),
        shutdown.clone(),
    );
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {}: {e}", settings.listen)))?;
    tracing::info!(listen = %settings.listen, auth = users.is_some(), "registry listening");

    // Until the store is open, API routes answer 503; ops routes work from the start.
    let ops = lgma_core::ops::routes::<()>(metrics, readiness.clone());
    let api_slot: Arc<tokio::sync::OnceCell<Router>> = Arc::new(tokio::sync::OnceCell::new());
    let dispatch = {
        let slot = api_slot.clone();
        axum::Router::new().fallback(move |req: axum::extract::Request| {
            let slot = slot.clone();
            async move {
                use tower::ServiceExt;
                match slot.get() {
                    Some(router) => router
                        .clone()
                        .oneshot(req)
                        .await
                        .unwrap_or_else(|e| match e {}),
                    None => axum::response::IntoResponse::into_response(Error::NotReady),
                }
            }
        })
    };
    let app = ops.merge(dispatch);
    let server_shutdown = shutdown.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { server_shutdown.cancelled().await })
            .await
    });

    let store = tokio::select! {
        s = Store::open(&settings.kafka, &settings.store, shutdown.clone()) => s?,
        _ = shutdown.cancelled() => return Ok(()),
    };
    let registry = Arc::new(Registry { store });
    let state = AppState {
        registry,
        max_body_bytes: settings.http.max_body_bytes,
        users,
    };
    let _ = api_slot.set(router(state));
    readiness.set(true);
    tracing::info!("registry ready");

    server
        .await
        .map_err(|e| Error::Store(format!("server task: {e}")))?
        .map_err(Error::Io)?;
    tracing::info!("registry stopped");
    Ok(())
}

type Router = axum::Router;

/// HELP text for every metric of the registry.
fn describe_metrics() {
    lgma_core::ops::describe_http_metrics("lgma_registry", "the schema registry");
    metrics::describe_counter!(
        "lgma_registry_store_writes_total",
        "Records the registry wrote to its store topic and read back"
    );
    metrics::describe_counter!(
        "lgma_registry_store_rejected_records_total",
        "Store records not applied (lost a race with another instance, or invalid)"
    );
    metrics::describe_gauge!(
        "lgma_registry_store_applied_offset",
        "Offset of the last store-topic record applied"
    );
    metrics::describe_counter!(
        "lgma_registry_schemas_registered_total",
        "New schema versions registered"
    );
    metrics::describe_counter!(
        "lgma_registry_registration_retries_total",
        "Registrations retried after losing an id race with another instance"
    );
    // Present from the start (at 0), so rate() and alerts see them before the first event.
    for name in [
        "lgma_registry_store_writes_total",
        "lgma_registry_store_rejected_records_total",
        "lgma_registry_schemas_registered_total",
        "lgma_registry_registration_retries_total",
    ] {
        metrics::counter!(name).absolute(0);
    }
}

/// The users file, or `None` for anonymous access, which needs `auth.allow_anonymous` (local
/// development only): a registry without auth lets any client overwrite any council's subjects.
pub fn load_users(auth: &AuthSettings) -> Result<Option<Arc<Users>>> {
    match (&auth.users_file, auth.allow_anonymous) {
        (Some(path), allow_anonymous) => {
            if allow_anonymous {
                tracing::warn!("auth.allow_anonymous is ignored: auth.users_file is set");
            }
            Ok(Some(Arc::new(Users::load(path)?)))
        }
        (None, true) => {
            tracing::warn!(
                "AUTH IS OFF (auth.allow_anonymous = true): anyone who can reach this registry \
                 may register, delete and reconfigure every subject. Local development only; \
                 production sets auth.users_file"
            );
            Ok(None)
        }
        (None, false) => Err(Error::Config(
            "no users file: set auth.users_file (env LGMA_REGISTRY_AUTH__USERS_FILE) to a TOML \
             file of [[users]] (see services/registry/README.md, Security), or, for local \
             development only, auth.allow_anonymous = true (env \
             LGMA_REGISTRY_AUTH__ALLOW_ANONYMOUS=true)"
                .into(),
        )),
    }
}
