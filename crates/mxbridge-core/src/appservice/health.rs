//! `GET /health`: whether this bridge can do its job, for load balancers and orchestrators.
//!
//! No token (a load balancer has none) and nothing secret in the answer: only whether the
//! database answers now, whether the homeserver answered at the bridge's last check (the
//! bridge checks periodically; errors go to the log, not here, since they may name hosts),
//! and the uptime. `200` when healthy, `503` with the reasons otherwise, including while
//! the bridge shuts down so traffic drains away from it.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;

/// How long the database may take to answer the probe before it counts as unreachable.
const DATABASE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What `/health` knows beyond the database: when the bridge started and what its last
/// homeserver check found. Cheap to clone: clones share the state.
#[derive(Clone)]
pub struct Health {
    started: Instant,
    homeserver: Arc<Mutex<Option<(Instant, bool)>>>,
}

impl Default for Health {
    fn default() -> Self {
        Self { started: Instant::now(), homeserver: Arc::new(Mutex::new(None)) }
    }
}

impl Health {
    /// Records the outcome of a homeserver check made now.
    pub fn homeserver_checked(&self, reachable: bool) {
        *self.homeserver.lock().expect("lock") = Some((Instant::now(), reachable));
    }

    fn last_homeserver_check(&self) -> Option<(Duration, bool)> {
        self.homeserver.lock().expect("lock").map(|(at, ok)| (at.elapsed(), ok))
    }
}

pub(super) async fn health(State(state): State<AppState>) -> Response {
    let database = matches!(tokio::time::timeout(DATABASE_PROBE_TIMEOUT, state.store.ping()).await, Ok(Ok(())));
    let homeserver = state.health.last_homeserver_check();
    let shutting_down = state.shutting_down.load(Ordering::SeqCst);

    let mut reasons = Vec::new();
    if !database {
        reasons.push("the database does not answer".to_owned());
    }
    if let Some((ago, false)) = homeserver {
        reasons.push(format!("the homeserver did not answer at the last check ({} s ago)", ago.as_secs()));
    }
    if shutting_down {
        reasons.push("the bridge is shutting down".to_owned());
    }
    let status = if reasons.is_empty() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "status": if reasons.is_empty() { "ok" } else { "unhealthy" },
        "reasons": reasons,
        "database": {"reachable": database},
        // `reachable: null` until the first check has run.
        "homeserver": {
            "reachable": homeserver.map(|(_, ok)| ok),
            "checked_seconds_ago": homeserver.map(|(ago, _)| ago.as_secs()),
        },
        "uptime_seconds": state.health.started.elapsed().as_secs(),
    });
    (status, Json(body)).into_response()
}
