//! The HTTP surface, driven through the router without a socket.

use std::sync::Mutex;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use tower::ServiceExt;

use super::*;
use crate::secret::SecretCipher;

const TOKEN: &str = "hs-token-for-tests-0123456789";

#[derive(Default)]
struct FakeHandler {
    users: Mutex<Vec<String>>,
    aliases: Mutex<Vec<String>>,
}

#[async_trait]
impl AppserviceHandler for FakeHandler {
    async fn query_user(&self, user: &UserId) -> Result<bool, QueryError> {
        self.users.lock().unwrap().push(user.to_string());
        Ok(user.localpart().starts_with("_net_"))
    }
    async fn query_alias(&self, alias: &RoomAliasId) -> Result<bool, QueryError> {
        self.aliases.lock().unwrap().push(alias.to_string());
        Ok(alias.alias().starts_with("_net_"))
    }
    fn protocol(&self, protocol: &str) -> Option<Value> {
        (protocol == "net")
            .then(|| serde_json::json!({"user_fields": [], "location_fields": [], "icon": "", "field_types": {}, "instances": []}))
    }
    async fn thirdparty_lookup(&self, _kind: LookupKind, _protocol: Option<&str>, _fields: &[(String, String)]) -> Vec<Value> {
        Vec::new()
    }
}

pub(super) struct Harness {
    pub(super) state: AppState,
    handler: Arc<FakeHandler>,
    store: Store,
}

pub(super) async fn harness() -> Harness {
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let store = Store::connect("sqlite::memory:", SecretCipher::from_base64_key(&key).unwrap()).await.unwrap();
    let handler = Arc::new(FakeHandler::default());
    let state = AppState::new(Secret::new(TOKEN.to_owned()), store.clone(), handler.clone(), Arc::new(Notify::new()));
    Harness { state, handler, store }
}

async fn call(state: &AppState, method: &str, uri: &str, auth: Option<&str>, body: &str) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = auth {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = router(state.clone()).oneshot(req.body(Body::from(body.to_owned())).unwrap()).await.unwrap();
    let status = resp.status();
    let ctype = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    assert_eq!(ctype.as_deref(), Some("application/json"), "every answer is JSON ({uri})");
    (status, serde_json::from_slice(&bytes).unwrap())
}

const TXN: &str = r#"{"events": [
  {"type": "m.room.message", "room_id": "!r:hs", "sender": "@a:hs", "event_id": "$1", "origin_server_ts": 1, "content": {"msgtype": "m.text", "body": "hi"}},
  {"type": 5},
  {"type": "m.typing", "room_id": "!r:hs", "sender": "@a:hs", "event_id": "$2", "origin_server_ts": 2, "content": {}}
], "ephemeral": [{"type": "m.typing", "room_id": "!r:hs", "content": {"user_ids": ["@a:hs"]}}], "some.future.key": 1}"#;

#[tokio::test]
async fn test_missing_token_is_401() {
    let h = harness().await;
    let (status, body) = call(&h.state, "PUT", "/_matrix/app/v1/transactions/1", None, TXN).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["errcode"], "M_MISSING_TOKEN");
    assert!(h.store.inbox_pending(10).await.unwrap().is_empty(), "nothing stored without auth");
}

#[tokio::test]
async fn test_wrong_token_is_403() {
    let h = harness().await;
    let (status, body) = call(&h.state, "PUT", "/_matrix/app/v1/transactions/1", Some("wrong"), TXN).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["errcode"], "M_FORBIDDEN");
    let (status, _) = call(&h.state, "GET", "/_matrix/app/v1/users/@_net_a:hs", Some("wrong"), "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(h.handler.users.lock().unwrap().is_empty(), "handler not reached");
}

#[tokio::test]
async fn test_header_and_query_token_must_both_match() {
    let h = harness().await;
    let uri = "/_matrix/app/v1/ping?access_token=wrong";
    let (status, _) = call(&h.state, "POST", uri, Some(TOKEN), "{}").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let uri = format!("/_matrix/app/v1/ping?access_token={TOKEN}");
    let (status, _) = call(&h.state, "POST", &uri, None, "{}").await;
    assert_eq!(status, StatusCode::OK, "legacy query token alone is accepted");
    let (status, _) = call(&h.state, "POST", &uri, Some("wrong"), "{}").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn test_transaction_is_stored_lazily_and_replay_is_noop() {
    let h = harness().await;
    let (status, body) = call(&h.state, "PUT", "/_matrix/app/v1/transactions/42", Some(TOKEN), TXN).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, serde_json::json!({}));
    let pending = h.store.inbox_pending(10).await.unwrap();
    assert_eq!(pending.len(), 4, "3 timeline events (one malformed, kept for the worker to skip) + 1 ephemeral");
    let parsed: Vec<_> = pending.iter().map(|i| transactions::parse_inbox_payload(&i.payload).unwrap()).collect();
    use transactions::Container::*;
    assert_eq!(parsed.iter().map(|p| p.0).collect::<Vec<_>>(), vec![Timeline, Timeline, Timeline, Ephemeral]);
    assert_eq!(parsed[2].1["type"], "m.typing", "a timeline m.typing stays a timeline event");

    let (status, _) = call(&h.state, "PUT", "/_matrix/app/v1/transactions/42", Some(TOKEN), TXN).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.store.inbox_pending(10).await.unwrap().len(), 4, "replay adds nothing");
}

#[tokio::test]
async fn test_bad_bodies_get_matrix_errors() {
    let h = harness().await;
    let (status, body) = call(&h.state, "PUT", "/_matrix/app/v1/transactions/1", Some(TOKEN), "{not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errcode"], "M_NOT_JSON");
    let (status, body) = call(&h.state, "PUT", "/_matrix/app/v1/transactions/1", Some(TOKEN), r#"{"ephemeral": []}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errcode"], "M_BAD_JSON");
}

#[tokio::test]
async fn test_shutting_down_asks_for_retry() {
    let h = harness().await;
    h.state.begin_shutdown();
    let (status, _) = call(&h.state, "PUT", "/_matrix/app/v1/transactions/9", Some(TOKEN), TXN).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(h.store.inbox_pending(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn test_unknown_route_and_wrong_method() {
    let h = harness().await;
    let (status, body) = call(&h.state, "GET", "/_matrix/app/v1/nonsense", Some(TOKEN), "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["errcode"], "M_UNRECOGNIZED");
    let (status, body) = call(&h.state, "GET", "/_matrix/app/v1/transactions/1", Some(TOKEN), "").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["errcode"], "M_UNRECOGNIZED");
}

#[tokio::test]
async fn test_user_query_accepts_unencoded_slash_and_percent_encoding() {
    let h = harness().await;
    let (status, _) = call(&h.state, "GET", "/_matrix/app/v1/users/@_net_a/b:hs", Some(TOKEN), "").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&h.state, "GET", "/_matrix/app/v1/users/%40_net_c%3Ahs", Some(TOKEN), "").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(&h.state, "GET", "/_matrix/app/v1/users/@someone:hs", Some(TOKEN), "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["errcode"], "M_NOT_FOUND");
    assert_eq!(*h.handler.users.lock().unwrap(), vec!["@_net_a/b:hs", "@_net_c:hs", "@someone:hs"]);
}

#[tokio::test]
async fn test_alias_query() {
    let h = harness().await;
    let (status, _) = call(&h.state, "GET", "/_matrix/app/v1/rooms/%23_net_chat:hs", Some(TOKEN), "").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&h.state, "GET", "/_matrix/app/v1/rooms/%23other:hs", Some(TOKEN), "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(*h.handler.aliases.lock().unwrap(), vec!["#_net_chat:hs", "#other:hs"]);
}

#[tokio::test]
async fn test_ping_accepts_null_transaction_id() {
    let h = harness().await;
    let (status, body) = call(&h.state, "POST", "/_matrix/app/v1/ping", Some(TOKEN), r#"{"transaction_id": null}"#).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, serde_json::json!({}));
}

#[tokio::test]
async fn test_thirdparty_protocol() {
    let h = harness().await;
    let (status, body) = call(&h.state, "GET", "/_matrix/app/v1/thirdparty/protocol/net", Some(TOKEN), "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["instances"].is_array());
    let (status, _) = call(&h.state, "GET", "/_matrix/app/v1/thirdparty/protocol/other", Some(TOKEN), "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&h.state, "GET", "/_matrix/app/v1/thirdparty/user/net?username=x", Some(TOKEN), "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn test_health_needs_no_token_and_reports_ok() {
    let h = harness().await;
    h.state.health.homeserver_checked(true);
    let (status, body) = call(&h.state, "GET", "/health", None, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"]["reachable"], true);
    assert_eq!(body["homeserver"]["reachable"], true);
    assert_eq!(body["homeserver"]["checked_seconds_ago"], 0);
    assert!(body["uptime_seconds"].is_u64(), "{body}");
    assert_eq!(body["reasons"], serde_json::json!([]));
    assert!(!body.to_string().contains(TOKEN), "no secrets: {body}");
}

#[tokio::test]
async fn test_health_before_the_first_homeserver_check_is_ok() {
    let h = harness().await;
    let (status, body) = call(&h.state, "GET", "/health", None, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["homeserver"]["reachable"], Value::Null);
}

#[tokio::test]
async fn test_health_is_503_with_the_reason_when_the_homeserver_was_unreachable() {
    let h = harness().await;
    h.state.health.homeserver_checked(false);
    let (status, body) = call(&h.state, "GET", "/health", None, "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["homeserver"]["reachable"], false);
    assert!(body["reasons"][0].as_str().unwrap().contains("homeserver"), "{body}");
    h.state.health.homeserver_checked(true);
    let (status, _) = call(&h.state, "GET", "/health", None, "").await;
    assert_eq!(status, StatusCode::OK, "healthy again after a good check");
}

#[tokio::test]
async fn test_health_is_503_when_the_database_is_unreachable() {
    let h = harness().await;
    h.store.close().await;
    let (status, body) = call(&h.state, "GET", "/health", None, "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["database"]["reachable"], false);
    assert_eq!(body["reasons"], serde_json::json!(["the database does not answer"]));
}

#[tokio::test]
async fn test_health_is_503_while_shutting_down() {
    let h = harness().await;
    h.state.begin_shutdown();
    let (status, body) = call(&h.state, "GET", "/health", None, "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["reasons"], serde_json::json!(["the bridge is shutting down"]));
}

#[tokio::test]
async fn test_transactions_are_counted_and_timed() {
    let h = harness().await;
    let metrics = crate::metrics::Metrics::new("net");
    let state = h.state.clone().with_metrics(metrics.clone());
    call(&state, "PUT", "/_matrix/app/v1/transactions/7", Some(TOKEN), TXN).await;
    call(&state, "PUT", "/_matrix/app/v1/transactions/7", Some(TOKEN), TXN).await;
    call(&state, "PUT", "/_matrix/app/v1/transactions/8", Some(TOKEN), "not json").await;
    call(&state, "PUT", "/_matrix/app/v1/transactions/9", Some("wrong"), TXN).await;
    let text = metrics.render(&crate::metrics::BridgeSample::default());
    let value = |series: &str| text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse::<f64>().ok());
    assert_eq!(value("mxbridge_transactions_total{outcome=\"stored\"}"), Some(1.0));
    assert_eq!(value("mxbridge_transactions_total{outcome=\"replayed\"}"), Some(1.0));
    assert_eq!(value("mxbridge_transactions_total{outcome=\"failed\"}"), Some(1.0), "bad JSON; a refused token never reaches the handler");
    assert_eq!(value("mxbridge_transaction_events_total{container=\"timeline\"}"), Some(3.0));
    assert_eq!(value("mxbridge_transaction_events_total{container=\"ephemeral\"}"), Some(1.0));
    assert_eq!(value("mxbridge_transaction_duration_seconds_count"), Some(3.0));
}
