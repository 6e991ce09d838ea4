//! The Application Service API the homeserver calls (`/_matrix/app/v1/...`).
//!
//! Transactions are written to the database inbox before `200 {}` is answered, so an
//! acknowledged event is never lost; the bridge processes the inbox afterwards. Queries
//! are answered by an [`AppserviceHandler`] (the bridge), which keeps this layer testable
//! without a homeserver.

mod auth;
pub mod error;
mod health;
mod health_probe;
mod media;
mod queries;
mod thirdparty;
mod transactions;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use axum::Router;
use axum::routing::{get, post, put};
use ruma::{RoomAliasId, UserId};
use serde_json::Value;
use tokio::sync::Notify;

use crate::media_links::MediaLinks;
use crate::metrics::Metrics;
use crate::secret::Secret;
use crate::store::Store;
use error::AsError;

/// Largest transaction body accepted. Synapse sends at most 100 events of at most 64 KiB.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Why a query could not be answered.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

/// What the bridge answers to the homeserver's queries.
#[async_trait]
pub trait AppserviceHandler: Send + Sync + 'static {
    /// The homeserver asks whether a user in our namespace exists. Create the ghost and
    /// return true, or return false for 404.
    async fn query_user(&self, user: &UserId) -> Result<bool, QueryError>;
    /// The homeserver asks for an alias in our namespace. Create the portal with that
    /// alias and return true, or return false for 404.
    async fn query_alias(&self, alias: &RoomAliasId) -> Result<bool, QueryError>;
    /// Third-party protocol metadata, or `None` for 404.
    fn protocol(&self, protocol: &str) -> Option<Value>;
    /// Third-party lookups (`user` / `location`, with the query fields); an empty list
    /// answers 404.
    async fn thirdparty_lookup(&self, kind: thirdparty::LookupKind, protocol: Option<&str>, fields: &[(String, String)]) -> Vec<Value>;
}

pub use health::Health;
pub use health_probe::{HealthProbeError, probe_health};
pub use thirdparty::LookupKind;
pub(crate) use transactions::{Container as TxnContainer, parse_inbox_payload};

/// Shared state of the HTTP layer.
#[derive(Clone)]
pub struct AppState {
    pub(crate) hs_token: Secret<String>,
    pub(crate) store: Store,
    pub(crate) handler: Arc<dyn AppserviceHandler>,
    pub(crate) inbox: Arc<Notify>,
    pub(crate) shutting_down: Arc<AtomicBool>,
    pub(crate) links: MediaLinks,
    pub(crate) metrics: Metrics,
    pub(crate) health: Health,
}

impl AppState {
    /// State for the router: `inbox` is notified after each new transaction is stored.
    pub fn new(hs_token: Secret<String>, store: Store, handler: Arc<dyn AppserviceHandler>, inbox: Arc<Notify>) -> Self {
        Self {
            hs_token,
            store,
            handler,
            inbox,
            shutting_down: Arc::new(AtomicBool::new(false)),
            links: MediaLinks::disabled(),
            metrics: Metrics::new("none"),
            health: Health::default(),
        }
    }

    /// Counts transactions into these metrics (the bridge's); without, into a private set.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Serves the media links these make; without, every link answers 404.
    pub fn with_media_links(mut self, links: MediaLinks) -> Self {
        self.links = links;
        self
    }

    /// Answers `/health` with the homeserver checks recorded in `health` (the bridge's).
    pub fn with_health(mut self, health: Health) -> Self {
        self.health = health;
        self
    }

    /// From now on transactions get 503 so the homeserver keeps them for the next start.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }
}

/// The appservice router. Every `/_matrix/app` route needs the hs_token; media links are
/// public and checked by their signature instead, and `/health` is public and tells nothing
/// secret. Unknown routes answer 404 and known routes with a wrong method 405, both
/// `M_UNRECOGNIZED`. Path parameters use catch-all segments because Synapse leaves `/`
/// unencoded in user IDs and aliases.
pub fn router(state: AppState) -> Router {
    let authed = Router::new()
        .route("/_matrix/app/v1/transactions/{*txn_id}", put(transactions::push_events))
        .route("/_matrix/app/v1/users/{*user_id}", get(queries::query_user))
        .route("/_matrix/app/v1/rooms/{*alias}", get(queries::query_alias))
        .route("/_matrix/app/v1/ping", post(queries::ping))
        .route("/_matrix/app/v1/thirdparty/protocol/{*protocol}", get(thirdparty::protocol))
        .route("/_matrix/app/v1/thirdparty/user", get(thirdparty::user_reverse))
        .route("/_matrix/app/v1/thirdparty/user/{*protocol}", get(thirdparty::user))
        .route("/_matrix/app/v1/thirdparty/location", get(thirdparty::location_reverse))
        .route("/_matrix/app/v1/thirdparty/location/{*protocol}", get(thirdparty::location))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_hs_token))
        // Added after the auth layer, which covers only the routes before it.
        .route("/_mxbridge/media/{*link}", get(media::serve))
        .route("/health", get(health::health))
        .method_not_allowed_fallback(|| async { AsError::unrecognized(true) });
    authed.fallback(|| async { AsError::unrecognized(false) }).layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES)).with_state(state)
}

#[cfg(test)]
mod media_tests;
#[cfg(test)]
mod tests;
