//! `GET /users/{userId}`, `GET /rooms/{roomAlias}` and `POST /ping`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use ruma::{RoomAliasId, UserId};
use serde_json::{Value, json};

use super::AppState;
use super::error::AsError;

pub(super) async fn query_user(State(state): State<AppState>, Path(user_id): Path<String>) -> Result<Json<Value>, AsError> {
    let Ok(user) = UserId::parse(user_id.as_str()) else {
        return Err(AsError::not_found(format!("`{user_id}` is not a user ID")));
    };
    match state.handler.query_user(&user).await {
        Ok(true) => Ok(Json(json!({}))),
        Ok(false) => Err(AsError::not_found("no such user on this bridge")),
        Err(e) => Err(AsError::not_found(format!("the user could not be created: {e}"))),
    }
}

pub(super) async fn query_alias(State(state): State<AppState>, Path(alias): Path<String>) -> Result<Json<Value>, AsError> {
    let Ok(alias) = RoomAliasId::parse(alias.as_str()) else {
        return Err(AsError::not_found(format!("`{alias}` is not a room alias")));
    };
    match state.handler.query_alias(&alias).await {
        Ok(true) => Ok(Json(json!({}))),
        Ok(false) => Err(AsError::not_found("no such room on this bridge")),
        Err(e) => Err(AsError::not_found(format!("the room could not be created: {e}"))),
    }
}

/// The body is optional and Synapse sends `{"transaction_id": null}`: accept anything.
pub(super) async fn ping(_body: Bytes) -> Json<Value> {
    Json(json!({}))
}
