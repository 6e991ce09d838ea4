//! `/thirdparty/...`: protocol metadata and lookups, answered by the bridge.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::Value;

use super::AppState;
use super::error::AsError;

/// Which kind of third-party lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupKind {
    /// Remote users (`/thirdparty/user`).
    User,
    /// Remote chats (`/thirdparty/location`).
    Location,
}

pub(super) async fn protocol(State(state): State<AppState>, Path(protocol): Path<String>) -> Result<Json<Value>, AsError> {
    state.handler.protocol(&protocol).map(Json).ok_or_else(|| AsError::not_found(format!("no protocol `{protocol}` on this bridge")))
}

async fn lookup(state: &AppState, kind: LookupKind, protocol: Option<&str>, query: Vec<(String, String)>) -> Result<Json<Value>, AsError> {
    let found = state.handler.thirdparty_lookup(kind, protocol, &query).await;
    if found.is_empty() {
        return Err(AsError::not_found("nothing matched"));
    }
    Ok(Json(Value::Array(found)))
}

fn without_token(query: Vec<(String, String)>) -> Vec<(String, String)> {
    query.into_iter().filter(|(k, _)| k != "access_token").collect()
}

pub(super) async fn user(
    State(state): State<AppState>,
    Path(protocol): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, AsError> {
    lookup(&state, LookupKind::User, Some(&protocol), without_token(q)).await
}

pub(super) async fn location(
    State(state): State<AppState>,
    Path(protocol): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, AsError> {
    lookup(&state, LookupKind::Location, Some(&protocol), without_token(q)).await
}

pub(super) async fn user_reverse(State(state): State<AppState>, Query(q): Query<Vec<(String, String)>>) -> Result<Json<Value>, AsError> {
    lookup(&state, LookupKind::User, None, without_token(q)).await
}

pub(super) async fn location_reverse(
    State(state): State<AppState>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, AsError> {
    lookup(&state, LookupKind::Location, None, without_token(q)).await
}
