//! `PUT /_matrix/app/v1/transactions/{txnId}`: store, then acknowledge.
//!
//! The envelope is parsed lazily: each event stays raw JSON and is only deserialized by the
//! bridge when it is processed, so one malformed event is logged and skipped there instead
//! of failing the batch (which would block the homeserver's queue forever). The transaction
//! id and its events are stored in one database transaction before `200 {}`; a replayed id
//! is a no-op `200 {}`. Only when the bridge cannot take responsibility (database down,
//! shutting down) is the answer an error, so the homeserver retries.

use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tracing::{debug, info};

use super::AppState;
use super::error::AsError;
use crate::metrics::TxnOutcome;

/// Inbox entries say which container an event came in: a user can send a timeline event
/// of type `m.typing`, so the container, never the type, decides what is ephemeral.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Container {
    Timeline,
    Ephemeral,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    ephemeral: Option<Vec<&'a RawValue>>,
    #[serde(default, borrow, rename = "de.sorunome.msc2409.ephemeral")]
    ephemeral_unstable: Option<Vec<&'a RawValue>>,
}

/// Wraps a raw event with its container for the inbox.
pub(crate) fn inbox_payload(container: Container, raw: &RawValue) -> String {
    let tag = match container {
        Container::Timeline => "t",
        Container::Ephemeral => "e",
    };
    format!("{{\"c\":\"{tag}\",\"event\":{}}}", raw.get())
}

/// Splits an inbox payload back into container and event.
pub(crate) fn parse_inbox_payload(payload: &str) -> Option<(Container, Value)> {
    let v: Value = serde_json::from_str(payload).ok()?;
    let container = match v["c"].as_str()? {
        "t" => Container::Timeline,
        "e" => Container::Ephemeral,
        _ => return None,
    };
    Some((container, v.get("event")?.clone()))
}

pub(super) async fn push_events(State(state): State<AppState>, Path(txn_id): Path<String>, body: Bytes) -> Result<Json<Value>, AsError> {
    let started = Instant::now();
    let result = store_transaction(&state, &txn_id, &body).await;
    let (outcome, timeline, ephemeral) = match &result {
        Ok(counts) => *counts,
        Err(_) => (TxnOutcome::Failed, 0, 0),
    };
    state.metrics.transaction(outcome, timeline, ephemeral, started.elapsed());
    result.map(|_| Json(json!({})))
}

/// Stores a transaction; returns what became of it and its events per container.
async fn store_transaction(state: &AppState, txn_id: &str, body: &[u8]) -> Result<(TxnOutcome, usize, usize), AsError> {
    if state.shutting_down.load(Ordering::SeqCst) {
        return Err(AsError::unavailable("the bridge is shutting down; retry later"));
    }
    let envelope: Envelope<'_> = match serde_json::from_slice(body) {
        Ok(e) => e,
        Err(e) if e.is_syntax() || e.is_eof() => return Err(AsError::not_json(format!("the body is not JSON: {e}"))),
        Err(e) => return Err(AsError::bad_json(format!("a transaction needs an `events` list: {e}"))),
    };
    let mut payloads: Vec<String> = envelope.events.iter().map(|e| inbox_payload(Container::Timeline, e)).collect();
    let ephemeral = envelope.ephemeral.or(envelope.ephemeral_unstable).unwrap_or_default();
    payloads.extend(ephemeral.iter().map(|e| inbox_payload(Container::Ephemeral, e)));

    match state.store.record_transaction(txn_id, &payloads).await {
        Ok(true) => {
            debug!(txn_id, events = payloads.len(), "transaction stored");
            state.inbox.notify_one();
            Ok((TxnOutcome::Stored, envelope.events.len(), ephemeral.len()))
        }
        Ok(false) => {
            info!(txn_id, "transaction replayed; already stored");
            Ok((TxnOutcome::Replayed, envelope.events.len(), ephemeral.len()))
        }
        Err(e) => Err(AsError::unavailable(format!("the bridge database is unavailable ({e}); the homeserver will retry"))),
    }
}
