//! The Client-Server API as the bridge bot and as ghosts.
//!
//! Every call carries the as_token in the `Authorization` header and, for ghosts, the
//! `user_id` query parameter (identity assertion). Calls are retried with backoff on 429
//! (honouring `retry_after_ms` / `Retry-After`) and on 5xx or connection failures.
//! Transaction ids are unique across all ghosts: Synapse keys its appservice transaction
//! cache by path and appservice, not by the masqueraded user.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, RoomAliasId, RoomId, UserId};
use serde_json::{Value, json};
use tracing::{debug, warn};

use crate::secret::Secret;

pub use super::media::Downloaded;
pub use super::rooms::CreateRoom;

/// How many times a call is tried before giving up.
const MAX_ATTEMPTS: u32 = 6;
/// Longest wait between tries.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A homeserver call failed.
#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    /// The homeserver answered with an error.
    #[error("the homeserver refused ({status} {errcode}): {message}")]
    Http {
        /// HTTP status.
        status: u16,
        /// Matrix errcode.
        errcode: String,
        /// Human-readable error.
        message: String,
    },
    /// The homeserver could not be reached.
    #[error("the homeserver could not be reached: {0}")]
    Transport(String),
    /// The answer was not what the API promises.
    #[error("the homeserver sent an unexpected answer: {0}")]
    Decode(String),
}

impl MatrixError {
    /// The Matrix errcode, if the homeserver sent one.
    pub fn errcode(&self) -> Option<&str> {
        match self {
            Self::Http { errcode, .. } => Some(errcode),
            _ => None,
        }
    }
}

/// Result of a homeserver call.
pub type MatrixResult<T> = Result<T, MatrixError>;

/// Everything but RFC 3986's unreserved characters is encoded in path segments and query values.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

pub(super) fn enc(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// The connection to the homeserver, shared by the bot and all ghosts.
#[derive(Clone)]
pub struct Matrix {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) http: reqwest::Client,
    pub(super) base: String,
    pub(super) as_token: Secret<String>,
    bot: OwnedUserId,
    txn_prefix: String,
    txn_counter: AtomicU64,
}

impl Matrix {
    /// A client for the homeserver at `base` (no trailing slash), acting as `bot` by default.
    pub fn new(base: &str, as_token: Secret<String>, bot: OwnedUserId) -> Self {
        // Networks may pull in rustls with several providers; pick one so building a TLS
        // client never panics. An error only means another part of the process chose first.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(90))
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            .build()
            .expect("the HTTP client builds with static settings");
        let start = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        Self {
            inner: Arc::new(Inner {
                http,
                base: base.trim_end_matches('/').to_owned(),
                as_token,
                bot,
                txn_prefix: format!("mxb{start:x}"),
                txn_counter: AtomicU64::new(0),
            }),
        }
    }

    /// The bridge bot's user ID.
    pub fn bot(&self) -> &UserId {
        &self.inner.bot
    }

    pub(super) fn next_txn_id(&self) -> String {
        let n = self.inner.txn_counter.fetch_add(1, Ordering::Relaxed);
        format!("{}.{n}", self.inner.txn_prefix)
    }

    /// One call, retried on rate limits and server errors. `path` starts with `/_matrix`;
    /// `query` must already be encoded.
    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        as_user: Option<&UserId>,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> MatrixResult<Value> {
        let mut url = format!("{}{path}", self.inner.base);
        let mut params: Vec<(&str, String)> = query.to_vec();
        if let Some(user) = as_user.filter(|u| *u != self.inner.bot) {
            params.push(("user_id", user.as_str().to_owned()));
        }
        for (i, (k, v)) in params.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(k);
            url.push('=');
            url.push_str(&enc(v));
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = self.inner.http.request(method.clone(), &url).bearer_auth(self.inner.as_token.expose());
            if let Some(b) = body {
                req = req.json(b);
            }
            let wait = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let text = resp.text().await.map_err(|e| MatrixError::Transport(e.to_string()))?;
                    let json: Value =
                        if text.is_empty() { json!({}) } else { serde_json::from_str(&text).unwrap_or(json!({"error": text})) };
                    if status.is_success() {
                        return Ok(json);
                    }
                    let err = MatrixError::Http {
                        status: status.as_u16(),
                        errcode: json["errcode"].as_str().unwrap_or("M_UNKNOWN").to_owned(),
                        message: json["error"].as_str().unwrap_or("").chars().take(300).collect(),
                    };
                    let wait = if status.as_u16() == 429 {
                        let ms = json["retry_after_ms"].as_u64().map(Duration::from_millis);
                        retry_after.or(ms).unwrap_or_else(|| backoff(attempt)).min(MAX_BACKOFF)
                    } else if status.is_server_error() {
                        backoff(attempt)
                    } else {
                        debug!(%method, path, status = status.as_u16(), errcode = err.errcode(), "homeserver refused a call");
                        return Err(err);
                    };
                    if attempt >= MAX_ATTEMPTS {
                        return Err(err);
                    }
                    wait
                }
                Err(e) => {
                    let err = MatrixError::Transport(e.without_url().to_string());
                    if attempt >= MAX_ATTEMPTS {
                        return Err(err);
                    }
                    backoff(attempt)
                }
            };
            warn!(%method, path, attempt, wait_ms = wait.as_millis() as u64, "homeserver call will be retried");
            tokio::time::sleep(wait).await;
        }
    }

    /// Registers a ghost. Already registered counts as success.
    pub async fn ensure_registered(&self, user: &UserId) -> MatrixResult<()> {
        let body = json!({"type": "m.login.application_service", "username": user.localpart(), "inhibit_login": true});
        match self.call(Method::POST, "/_matrix/client/v3/register", None, &[], Some(&body)).await {
            Ok(_) => Ok(()),
            Err(e) if e.errcode() == Some("M_USER_IN_USE") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Sets a user's display name.
    pub async fn set_display_name(&self, user: &UserId, name: &str) -> MatrixResult<()> {
        let path = format!("/_matrix/client/v3/profile/{}/displayname", enc(user.as_str()));
        self.call(Method::PUT, &path, Some(user), &[], Some(&json!({"displayname": name}))).await.map(drop)
    }

    /// Sets a user's presence (`online`, `unavailable`, `offline`) with an optional status.
    pub async fn set_presence(&self, user: &UserId, presence: &str, status: Option<&str>) -> MatrixResult<()> {
        let path = format!("/_matrix/client/v3/presence/{}/status", enc(user.as_str()));
        let mut body = json!({"presence": presence});
        if let Some(status) = status {
            body["status_msg"] = json!(status);
        }
        self.call(Method::PUT, &path, Some(user), &[], Some(&body)).await.map(drop)
    }

    /// A user's display name, if set.
    pub async fn display_name(&self, user: &UserId) -> MatrixResult<Option<String>> {
        let path = format!("/_matrix/client/v3/profile/{}/displayname", enc(user.as_str()));
        match self.call(Method::GET, &path, None, &[], None).await {
            Ok(v) => Ok(v["displayname"].as_str().map(str::to_owned)),
            Err(e) if e.errcode() == Some("M_NOT_FOUND") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A user's display name and avatar URL, each if set.
    pub async fn profile(&self, user: &UserId) -> MatrixResult<(Option<String>, Option<String>)> {
        let path = format!("/_matrix/client/v3/profile/{}", enc(user.as_str()));
        match self.call(Method::GET, &path, None, &[], None).await {
            Ok(v) => Ok((v["displayname"].as_str().map(str::to_owned), v["avatar_url"].as_str().map(str::to_owned))),
            Err(e) if e.errcode() == Some("M_NOT_FOUND") => Ok((None, None)),
            Err(e) => Err(e),
        }
    }

    /// Sets a user's avatar.
    pub async fn set_avatar_url(&self, user: &UserId, url: &str) -> MatrixResult<()> {
        let path = format!("/_matrix/client/v3/profile/{}/avatar_url", enc(user.as_str()));
        self.call(Method::PUT, &path, Some(user), &[], Some(&json!({"avatar_url": url}))).await.map(drop)
    }

    /// Joins a room as a user.
    pub async fn join(&self, room: &RoomId, user: &UserId) -> MatrixResult<()> {
        let path = format!("/_matrix/client/v3/rooms/{}/join", enc(room.as_str()));
        self.call(Method::POST, &path, Some(user), &[], Some(&json!({}))).await.map(drop)
    }

    /// Invites `user` as `by`. Already joined or invited counts as success.
    ///
    /// A direct invite is the member event itself with `is_direct` (the `/invite` endpoint
    /// takes no such field, and clients record a DM only from it); homeservers treat a
    /// membership sent as state like the same `/invite`.
    pub async fn invite(&self, room: &RoomId, by: &UserId, user: &UserId, is_direct: bool) -> MatrixResult<()> {
        let (method, path, body) = if is_direct {
            let path = format!("/_matrix/client/v3/rooms/{}/state/m.room.member/{}", enc(room.as_str()), enc(user.as_str()));
            (Method::PUT, path, json!({"membership": "invite", "is_direct": true}))
        } else {
            (Method::POST, format!("/_matrix/client/v3/rooms/{}/invite", enc(room.as_str())), json!({"user_id": user}))
        };
        match self.call(method, &path, Some(by), &[], Some(&body)).await {
            Ok(_) => Ok(()),
            Err(MatrixError::Http { status: 403, message, .. }) if message.contains("already in the room") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Leaves a room as a user.
    pub async fn leave(&self, room: &RoomId, user: &UserId) -> MatrixResult<()> {
        let path = format!("/_matrix/client/v3/rooms/{}/leave", enc(room.as_str()));
        self.call(Method::POST, &path, Some(user), &[], Some(&json!({}))).await.map(drop)
    }

    /// Kicks a user (as the bot).
    pub async fn kick(&self, room: &RoomId, user: &UserId, reason: &str) -> MatrixResult<()> {
        let path = format!("/_matrix/client/v3/rooms/{}/kick", enc(room.as_str()));
        self.call(Method::POST, &path, None, &[], Some(&json!({"user_id": user, "reason": reason}))).await.map(drop)
    }

    /// Sends a message-like event as `user`, with a remote timestamp when given.
    pub async fn send_event(
        &self,
        room: &RoomId,
        user: &UserId,
        event_type: &str,
        content: &Value,
        ts: Option<i64>,
    ) -> MatrixResult<OwnedEventId> {
        let path = format!("/_matrix/client/v3/rooms/{}/send/{}/{}", enc(room.as_str()), enc(event_type), enc(&self.next_txn_id()));
        let query: Vec<(&str, String)> = ts.map(|t| ("ts", t.to_string())).into_iter().collect();
        let v = self.call(Method::PUT, &path, Some(user), &query, Some(content)).await?;
        parse_id(&v["event_id"])
    }

    /// Sends a state event as `user`.
    pub async fn send_state(
        &self,
        room: &RoomId,
        user: &UserId,
        event_type: &str,
        state_key: &str,
        content: &Value,
    ) -> MatrixResult<OwnedEventId> {
        let path = format!("/_matrix/client/v3/rooms/{}/state/{}/{}", enc(room.as_str()), enc(event_type), enc(state_key));
        let v = self.call(Method::PUT, &path, Some(user), &[], Some(content)).await?;
        parse_id(&v["event_id"])
    }

    /// Reads a state event's content.
    pub async fn get_state(&self, room: &RoomId, event_type: &str, state_key: &str) -> MatrixResult<Option<Value>> {
        let path = format!("/_matrix/client/v3/rooms/{}/state/{}/{}", enc(room.as_str()), enc(event_type), enc(state_key));
        match self.call(Method::GET, &path, None, &[], None).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.errcode() == Some("M_NOT_FOUND") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A room's state event as a whole (`sender` too, not just the content), as the bot sees it.
    pub async fn get_state_event(&self, room: &RoomId, event_type: &str, state_key: &str) -> MatrixResult<Option<Value>> {
        let path = format!("/_matrix/client/v3/rooms/{}/state/{}/{}", enc(room.as_str()), enc(event_type), enc(state_key));
        match self.call(Method::GET, &path, None, &[("format", "event".to_owned())], None).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.errcode() == Some("M_NOT_FOUND") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The joined members of a room, as the bot sees them.
    pub async fn joined_members(&self, room: &RoomId) -> MatrixResult<Vec<OwnedUserId>> {
        let path = format!("/_matrix/client/v3/rooms/{}/joined_members", enc(room.as_str()));
        let v = self.call(Method::GET, &path, None, &[], None).await?;
        Ok(v["joined"].as_object().map(|m| m.keys().filter_map(|k| UserId::parse(k.as_str()).ok()).collect()).unwrap_or_default())
    }

    /// The joined members of a room with their display names, as `user` (a member) sees them.
    pub async fn members_with_names(&self, room: &RoomId, user: &UserId) -> MatrixResult<Vec<(OwnedUserId, Option<String>)>> {
        let path = format!("/_matrix/client/v3/rooms/{}/joined_members", enc(room.as_str()));
        let v = self.call(Method::GET, &path, Some(user), &[], None).await?;
        let Some(joined) = v["joined"].as_object() else { return Ok(Vec::new()) };
        Ok(joined
            .iter()
            .filter_map(|(id, m)| Some((UserId::parse(id.as_str()).ok()?, m["display_name"].as_str().map(str::to_owned))))
            .collect())
    }

    /// Reads a state event's content as `user`.
    pub async fn get_state_as(&self, room: &RoomId, user: &UserId, event_type: &str, state_key: &str) -> MatrixResult<Option<Value>> {
        let path = format!("/_matrix/client/v3/rooms/{}/state/{}/{}", enc(room.as_str()), enc(event_type), enc(state_key));
        match self.call(Method::GET, &path, Some(user), &[], None).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.errcode() == Some("M_NOT_FOUND") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A page of the public room directory, filtered by `term` when given.
    pub async fn public_rooms(&self, term: Option<&str>, limit: u32) -> MatrixResult<Vec<Value>> {
        let mut body = json!({"limit": limit});
        if let Some(t) = term {
            body["filter"] = json!({"generic_search_term": t});
        }
        let v = self.call(Method::POST, "/_matrix/client/v3/publicRooms", None, &[], Some(&body)).await?;
        Ok(v["chunk"].as_array().cloned().unwrap_or_default())
    }

    /// Redacts an event as `user`.
    pub async fn redact(&self, room: &RoomId, user: &UserId, event: &ruma::EventId, reason: Option<&str>) -> MatrixResult<()> {
        let path = format!("/_matrix/client/v3/rooms/{}/redact/{}/{}", enc(room.as_str()), enc(event.as_str()), enc(&self.next_txn_id()));
        let body = reason.map(|r| json!({"reason": r})).unwrap_or_else(|| json!({}));
        self.call(Method::PUT, &path, Some(user), &[], Some(&body)).await.map(drop)
    }

    /// Sets typing for `user`.
    pub async fn set_typing(&self, room: &RoomId, user: &UserId, typing: bool) -> MatrixResult<()> {
        let path = format!("/_matrix/client/v3/rooms/{}/typing/{}", enc(room.as_str()), enc(user.as_str()));
        let body = if typing { json!({"typing": true, "timeout": 30000}) } else { json!({"typing": false}) };
        self.call(Method::PUT, &path, Some(user), &[], Some(&body)).await.map(drop)
    }

    /// Sends a read receipt for `user`.
    pub async fn send_receipt(&self, room: &RoomId, user: &UserId, event: &ruma::EventId) -> MatrixResult<()> {
        let path = format!("/_matrix/client/v3/rooms/{}/receipt/m.read/{}", enc(room.as_str()), enc(event.as_str()));
        self.call(Method::POST, &path, Some(user), &[], Some(&json!({}))).await.map(drop)
    }

    /// Points an alias at a room (as the bot). An alias that already exists counts as done.
    pub async fn set_alias(&self, alias: &RoomAliasId, room: &RoomId) -> MatrixResult<()> {
        let path = format!("/_matrix/client/v3/directory/room/{}", enc(alias.as_str()));
        match self.call(Method::PUT, &path, None, &[], Some(&json!({"room_id": room}))).await {
            Ok(_) => Ok(()),
            Err(e) if e.errcode() == Some("M_UNKNOWN") && matches!(&e, MatrixError::Http { status: 409, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Resolves an alias to a room id.
    pub async fn resolve_alias(&self, alias: &RoomAliasId) -> MatrixResult<Option<OwnedRoomId>> {
        let path = format!("/_matrix/client/v3/directory/room/{}", enc(alias.as_str()));
        match self.call(Method::GET, &path, None, &[], None).await {
            Ok(v) => parse_id(&v["room_id"]).map(Some),
            Err(e) if e.errcode() == Some("M_NOT_FOUND") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Pings the homeserver's view of this appservice, so it retries queued transactions
    /// at once (Synapse does on a successful ping).
    pub async fn ping_appservice(&self, appservice_id: &str) -> MatrixResult<u64> {
        let path = format!("/_matrix/client/v1/appservice/{}/ping", enc(appservice_id));
        let v = self.call(Method::POST, &path, None, &[], Some(&json!({}))).await?;
        Ok(v["duration_ms"].as_u64().unwrap_or(0))
    }

    /// Whether the homeserver answers at all (`/versions`).
    pub async fn versions(&self) -> MatrixResult<Vec<String>> {
        let v = self.call(Method::GET, "/_matrix/client/versions", None, &[], None).await?;
        Ok(v["versions"].as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect()).unwrap_or_default())
    }
}

pub(super) fn parse_id<T: for<'a> TryFrom<&'a str>>(v: &Value) -> MatrixResult<T> {
    let s = v.as_str().ok_or_else(|| MatrixError::Decode("an id is missing".into()))?;
    T::try_from(s).map_err(|_| MatrixError::Decode(format!("`{s}` is not a valid id")))
}

fn backoff(attempt: u32) -> Duration {
    (Duration::from_millis(250) * 2u32.saturating_pow(attempt.saturating_sub(1))).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use axum::Router;
    use axum::extract::{Request, State};
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};

    use super::*;

    #[test]
    fn test_backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(20), MAX_BACKOFF);
    }

    #[test]
    fn test_txn_ids_are_unique() {
        let m = Matrix::new("http://127.0.0.1:1", Secret::new("t".into()), UserId::parse("@bot:x").unwrap());
        assert_ne!(m.next_txn_id(), m.next_txn_id());
    }

    /// Method, URI and `Authorization` header of one request.
    type Seen = (String, String, Option<String>);

    /// A homeserver that answers from a script and records what it was asked.
    #[derive(Clone, Default)]
    struct Script {
        answers: Arc<Mutex<Vec<(u16, Value)>>>,
        seen: Arc<Mutex<Vec<Seen>>>,
    }

    async fn answer(State(script): State<Script>, req: Request) -> Response {
        let auth = req.headers().get("authorization").map(|v| v.to_str().unwrap().to_owned());
        script.seen.lock().unwrap().push((req.method().to_string(), req.uri().to_string(), auth));
        let (status, body) = {
            let mut answers = script.answers.lock().unwrap();
            if answers.is_empty() { (200, json!({})) } else { answers.remove(0) }
        };
        (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
    }

    async fn homeserver(answers: Vec<(u16, Value)>) -> (Matrix, Script) {
        let script = Script { answers: Arc::new(Mutex::new(answers)), ..Default::default() };
        let app = Router::new().fallback(answer).with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (Matrix::new(&base, Secret::new("as-token".into()), UserId::parse("@bot:hs").unwrap()), script)
    }

    #[tokio::test]
    async fn test_rate_limit_is_retried_after_the_given_delay() {
        let (m, script) =
            homeserver(vec![(429, json!({"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 20})), (200, json!({"event_id": "$e"}))]).await;
        let ghost = UserId::parse("@_net_a:hs").unwrap();
        let room = ruma::RoomId::parse("!r:hs").unwrap();
        let event = m.send_event(&room, &ghost, "m.room.message", &json!({"body": "x"}), Some(1234)).await.unwrap();
        assert_eq!(event.as_str(), "$e");
        let seen = script.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "one retry");
        let (method, uri, auth) = &seen[1];
        assert_eq!(method, "PUT");
        assert!(uri.contains("user_id=%40_net_a%3Ahs"), "masquerades as the ghost: {uri}");
        assert!(uri.contains("ts=1234"), "keeps the remote timestamp: {uri}");
        assert_eq!(auth.as_deref(), Some("Bearer as-token"));
        assert_eq!(seen[0].1.split('?').next(), seen[1].1.split('?').next(), "the retry reuses the transaction id");
    }

    #[tokio::test]
    async fn test_server_errors_are_retried_and_client_errors_are_not() {
        let (m, script) = homeserver(vec![(502, json!({})), (200, json!({"room_id": "!new:hs"}))]).await;
        assert_eq!(m.create_room(&CreateRoom::default()).await.unwrap().as_str(), "!new:hs");
        assert_eq!(script.seen.lock().unwrap().len(), 2);

        let (m, script) = homeserver(vec![(403, json!({"errcode": "M_FORBIDDEN", "error": "no"}))]).await;
        let err = m.join(&ruma::RoomId::parse("!r:hs").unwrap(), &UserId::parse("@_net_a:hs").unwrap()).await.unwrap_err();
        assert_eq!(err.errcode(), Some("M_FORBIDDEN"));
        assert_eq!(script.seen.lock().unwrap().len(), 1, "a refusal is not retried");
    }

    #[test]
    fn test_power_levels_raise_users_and_make_read_only_rooms() {
        assert_eq!(CreateRoom::default().power_levels(), json!({}), "the homeserver's defaults");
        let admin = UserId::parse("@_net_a:hs").unwrap();
        let opts = CreateRoom { power_users: vec![(admin, 95)], events_default: Some(50), ..CreateRoom::default() };
        assert_eq!(opts.power_levels(), json!({"users": {"@_net_a:hs": 95}, "events_default": 50}));
    }

    #[tokio::test]
    async fn test_registering_an_existing_ghost_succeeds() {
        let (m, script) = homeserver(vec![(400, json!({"errcode": "M_USER_IN_USE", "error": "User ID already taken."}))]).await;
        m.ensure_registered(&UserId::parse("@_net_a:hs").unwrap()).await.unwrap();
        let seen = script.seen.lock().unwrap().clone();
        assert!(seen[0].1.starts_with("/_matrix/client/v3/register"), "{:?}", seen[0]);
        assert!(!seen[0].1.contains("user_id="), "registration is done as the appservice itself");
    }
}
