//! A small Matrix client for tests: a real user on the test Synapse, over the plain
//! client-server API with JSON values, so a test states exactly what it sends and checks.
//!
//! Every timeline event the user syncs is kept, per room, and each wait scans that buffer
//! before syncing again: an event that arrived in an earlier sync, or while the test was
//! busy waiting for something else, is never missed. An event a wait returned is consumed
//! and not returned again, so two waits for "a notice from the bot" see two notices.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

mod reads;

use super::env;
use super::wait::{TimedOut, wait_until};

/// How many events one sync may return per room. Synapse's default of 10 would make a sync
/// after a burst of events "limited" and leave a gap; the gap is also filled from
/// `/messages`, but a high limit makes that rare.
const SYNC_TIMELINE_LIMIT: u32 = 100;
/// Server-side long-poll of each sync in a wait.
const SYNC_POLL: Duration = Duration::from_millis(1000);
/// At most this many `/messages` pages are fetched to fill one gap.
const BACKFILL_PAGES: usize = 10;
const PASSWORD: &str = "test-password-1";

/// A registered test user with its own sync position and event buffer.
pub(crate) struct TestUser {
    /// The full user id, e.g. `@alice_1a2b3c4d:localhost`.
    pub(crate) user_id: String,
    token: String,
    http: reqwest::Client,
    base: String,
    since: Option<String>,
    /// Timeline events per room, oldest first.
    timeline: HashMap<String, Vec<Value>>,
    /// Ids of the events in `timeline`, so that overlapping syncs and backfills add each once.
    known: HashSet<String>,
    /// Events a wait has returned.
    consumed: HashSet<String>,
    /// Invites not yet returned by a wait: room id and its stripped invite state.
    invites: Vec<(String, Value)>,
    txn: u64,
}

/// A wait ran out of time. Its `Debug` lists what was there, for the failure message.
pub(crate) struct NotSeen {
    what: String,
    seen: Vec<String>,
}

impl fmt::Debug for NotSeen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The newest lines are the ones that tell what went wrong; a long history is cut.
        const SHOWN: usize = 40;
        writeln!(f, "no matching {} arrived in time; {} seen", self.what, self.seen.len())?;
        if self.seen.len() > SHOWN {
            writeln!(f, "  ... {} older ones not shown", self.seen.len() - SHOWN)?;
        }
        for line in &self.seen[self.seen.len().saturating_sub(SHOWN)..] {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

/// Percent-encodes one path segment or query value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One request with a JSON answer. A 429 is retried after the delay the server asks for:
/// the test stack raises every rate limit, but a limit this Synapse adds later must not
/// turn into a flaky test.
async fn send_json(http: &reqwest::Client, method: Method, url: &str, token: Option<&str>, body: Option<&Value>) -> (StatusCode, Value) {
    for _ in 0..20 {
        let mut req = http.request(method.clone(), url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = resp.status();
        let value: Value = resp.json().await.unwrap_or(Value::Null);
        if status != StatusCode::TOO_MANY_REQUESTS {
            return (status, value);
        }
        let retry_ms = value["retry_after_ms"].as_u64().unwrap_or(100).min(5_000);
        tokio::time::sleep(Duration::from_millis(retry_ms)).await;
    }
    panic!("{method} {url}: still rate limited after 20 tries");
}

/// One line describing an event, for failure messages.
fn describe(ev: &Value) -> String {
    format!("{} {} {} {}", ev["event_id"].as_str().unwrap_or("?"), ev["sender"].as_str().unwrap_or("?"), ev["type"], ev["content"])
}

impl TestUser {
    /// The user's localpart (`alice_1a2b3c4d` of `@alice_1a2b3c4d:localhost`), which the
    /// bridges use as the user's nick.
    pub(crate) fn localpart(&self) -> String {
        self.user_id.trim_start_matches('@').split(':').next().unwrap_or_default().to_owned()
    }

    /// Registers a new user `<prefix>_<random>` (the prefix is lowercased) with a password
    /// and an access token.
    pub(crate) async fn register(prefix: &str) -> Self {
        let localpart = format!("{}_{:08x}", prefix.to_lowercase(), rand::random::<u32>());
        match Self::try_register(&localpart).await {
            Ok(user) => user,
            Err((status, resp)) => panic!("registering {localpart} failed with {status}: {resp}"),
        }
    }

    /// The user with exactly this localpart, for ids a fixture config names (an admin, say):
    /// registered on the first call, logged in again on later runs against the same
    /// Synapse.
    pub(crate) async fn register_or_login(localpart: &str) -> Self {
        match Self::try_register(localpart).await {
            Ok(user) => user,
            Err((_, resp)) if resp["errcode"] == "M_USER_IN_USE" => {
                let base = env::homeserver();
                let http = Self::http();
                let body = json!({
                    "type": "m.login.password", "identifier": {"type": "m.id.user", "user": localpart},
                    "password": PASSWORD, "initial_device_display_name": "e2e test",
                });
                let (status, resp) = send_json(&http, Method::POST, &format!("{base}/_matrix/client/v3/login"), None, Some(&body)).await;
                assert!(status.is_success(), "logging in {localpart} failed with {status}: {resp}");
                Self::start(http, base, &resp).await
            }
            Err((status, resp)) => panic!("registering {localpart} failed with {status}: {resp}"),
        }
    }

    fn http() -> reqwest::Client {
        super::init();
        reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("an HTTP client")
    }

    async fn try_register(localpart: &str) -> Result<Self, (StatusCode, Value)> {
        let base = env::homeserver();
        let http = Self::http();
        let url = format!("{base}/_matrix/client/v3/register");
        let mut body = json!({"username": localpart, "password": PASSWORD, "initial_device_display_name": "e2e test"});
        // User-interactive auth: the first call answers 401 with the flows and a session,
        // the second completes the dummy stage in that session.
        let (mut status, mut resp) = send_json(&http, Method::POST, &url, None, Some(&body)).await;
        if status == StatusCode::UNAUTHORIZED {
            let offered = resp["flows"].as_array().into_iter().flatten().any(|f| f["stages"] == json!(["m.login.dummy"]));
            assert!(offered, "the homeserver offers no m.login.dummy registration: {resp}");
            body["auth"] = json!({"type": "m.login.dummy", "session": resp["session"]});
            (status, resp) = send_json(&http, Method::POST, &url, None, Some(&body)).await;
        }
        if !status.is_success() {
            return Err((status, resp));
        }
        Ok(Self::start(http, base, &resp).await)
    }

    /// A client for the `user_id` and `access_token` of a register or login answer.
    async fn start(http: reqwest::Client, base: String, resp: &Value) -> Self {
        let mut user = Self {
            user_id: resp["user_id"].as_str().expect("user_id").to_owned(),
            token: resp["access_token"].as_str().expect("access_token").to_owned(),
            http,
            base,
            since: None,
            timeline: HashMap::new(),
            known: HashSet::new(),
            consumed: HashSet::new(),
            invites: Vec::new(),
            txn: 0,
        };
        // From here on every sync is incremental: the waits see what happens after this.
        user.sync(Duration::ZERO).await;
        user
    }

    /// A request that may fail: status and body.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        send_json(&self.http, method, &format!("{}{path}", self.base), Some(&self.token), body.as_ref()).await
    }

    /// A request that must succeed.
    async fn request(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method.clone(), path, body).await;
        assert!(status.is_success(), "{} {method} {path} failed with {status}: {v}", self.user_id);
        v
    }

    fn room_path(room: &str, rest: &str) -> String {
        format!("/_matrix/client/v3/rooms/{}/{rest}", enc(room))
    }

    /// Creates a room from a raw `createRoom` body; returns its id.
    pub(crate) async fn create_room_with(&self, body: Value) -> String {
        let v = self.request(Method::POST, "/_matrix/client/v3/createRoom", Some(body)).await;
        v["room_id"].as_str().expect("room_id").to_owned()
    }

    /// A DM with `other`, as clients create one: direct, trusted private chat, unencrypted.
    pub(crate) async fn create_dm(&self, other: &str) -> String {
        self.create_room_with(json!({"is_direct": true, "invite": [other], "preset": "trusted_private_chat"})).await
    }

    /// A DM with `other`, encrypted from the start (as most clients create DMs by default).
    pub(crate) async fn create_dm_encrypted(&self, other: &str) -> String {
        self.create_room_with(json!({
            "is_direct": true, "invite": [other], "preset": "trusted_private_chat",
            "initial_state": [{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}],
        }))
        .await
    }

    /// A named private room (not direct) inviting `invite`.
    pub(crate) async fn create_room(&self, name: &str, invite: &[String]) -> String {
        self.create_room_with(json!({"name": name, "invite": invite, "preset": "private_chat"})).await
    }

    /// Joins a room by id or alias; returns the room id.
    pub(crate) async fn join(&self, room_id_or_alias: &str) -> String {
        let v = self.request(Method::POST, &format!("/_matrix/client/v3/join/{}", enc(room_id_or_alias)), Some(json!({}))).await;
        v["room_id"].as_str().expect("room_id").to_owned()
    }

    /// Tries to join a room by id or alias: the room id, or the homeserver's status and error.
    pub(crate) async fn try_join(&self, room_id_or_alias: &str) -> Result<String, (StatusCode, Value)> {
        let (status, v) = self.call(Method::POST, &format!("/_matrix/client/v3/join/{}", enc(room_id_or_alias)), Some(json!({}))).await;
        if status.is_success() { Ok(v["room_id"].as_str().expect("room_id").to_owned()) } else { Err((status, v)) }
    }

    /// Invites `user_id` to `room`.
    pub(crate) async fn invite(&self, room: &str, user_id: &str) {
        self.request(Method::POST, &Self::room_path(room, "invite"), Some(json!({"user_id": user_id}))).await;
    }

    /// Sets a state event; returns its event id.
    pub(crate) async fn put_state(&self, room: &str, event_type: &str, state_key: &str, content: Value) -> String {
        let path = Self::room_path(room, &format!("state/{}/{}", enc(event_type), enc(state_key)));
        let v = self.request(Method::PUT, &path, Some(content)).await;
        v["event_id"].as_str().expect("event_id").to_owned()
    }

    /// Bans `user_id` from `room`.
    pub(crate) async fn request_ban(&self, room: &str, user_id: &str, reason: &str) {
        self.request(Method::POST, &Self::room_path(room, "ban"), Some(json!({"user_id": user_id, "reason": reason}))).await;
    }

    /// Unbans `user_id` in `room`.
    pub(crate) async fn unban(&self, room: &str, user_id: &str) {
        self.request(Method::POST, &Self::room_path(room, "unban"), Some(json!({"user_id": user_id}))).await;
    }

    /// Waits until `user_id` has `level` in the room's power levels.
    pub(crate) async fn wait_power_level(&self, room: &str, user_id: &str, level: i64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let levels = self.get_state(room, "m.room.power_levels", "").await;
            let now = levels["users"][user_id].as_i64().unwrap_or_else(|| levels["users_default"].as_i64().unwrap_or(0));
            if now == level {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{user_id} should have power level {level}, has {now}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the homeserver has `user_id` with `presence` (and `status`, when given).
    pub(crate) async fn wait_for_presence(
        &self,
        user_id: &str,
        presence: &str,
        status: Option<&str>,
        timeout: Duration,
    ) -> Result<(), TimedOut> {
        let path = format!("/_matrix/client/v3/presence/{}/status", enc(user_id));
        wait_until(timeout, Duration::from_millis(200), || {
            let path = path.clone();
            async move {
                let now = self.request(Method::GET, &path, None).await;
                (now["presence"] == presence && status.is_none_or(|s| now["status_msg"] == s)).then_some(())
            }
        })
        .await
    }

    /// Starts or stops typing in `room`.
    /// Sends a public read receipt for `event_id`.
    pub(crate) async fn send_receipt(&self, room: &str, event_id: &str) {
        self.request(Method::POST, &Self::room_path(room, &format!("receipt/m.read/{}", enc(event_id))), Some(json!({}))).await;
    }

    pub(crate) async fn set_typing(&self, room: &str, typing: bool) {
        let path = Self::room_path(room, &format!("typing/{}", enc(&self.user_id)));
        self.request(Method::PUT, &path, Some(json!({"typing": typing, "timeout": 30_000}))).await;
    }

    /// Kicks `user_id` from `room`.
    pub(crate) async fn kick(&self, room: &str, user_id: &str, reason: &str) {
        self.request(Method::POST, &Self::room_path(room, "kick"), Some(json!({"user_id": user_id, "reason": reason}))).await;
    }

    /// Leaves `room`.
    pub(crate) async fn leave(&self, room: &str) {
        self.request(Method::POST, &Self::room_path(room, "leave"), Some(json!({}))).await;
    }

    fn next_txn(&mut self) -> String {
        self.txn += 1;
        format!("t{:08x}-{}", rand::random::<u32>(), self.txn)
    }

    /// Sends any message-like event (notice, emote, formatted text, reply, edit with
    /// `m.new_content`, ...); returns its event id.
    pub(crate) async fn send_content(&mut self, room: &str, event_type: &str, content: Value) -> String {
        let path = Self::room_path(room, &format!("send/{}/{}", enc(event_type), self.next_txn()));
        let v = self.request(Method::PUT, &path, Some(content)).await;
        v["event_id"].as_str().expect("event_id").to_owned()
    }

    /// Sends a plain `m.text` message; returns its event id.
    pub(crate) async fn send_text(&mut self, room: &str, body: &str) -> String {
        self.send_content(room, "m.room.message", json!({"msgtype": "m.text", "body": body})).await
    }

    /// Sends a plain `m.text` message that the homeserver may refuse: its status and body.
    pub(crate) async fn try_send_text(&mut self, room: &str, body: &str) -> (u16, Value) {
        let path = Self::room_path(room, &format!("send/m.room.message/{}", self.next_txn()));
        let (status, v) = self.call(Method::PUT, &path, Some(json!({"msgtype": "m.text", "body": body}))).await;
        (status.as_u16(), v)
    }

    /// Reacts to `event_id` with `key`; returns the reaction's event id.
    pub(crate) async fn react(&mut self, room: &str, event_id: &str, key: &str) -> String {
        self.send_content(room, "m.reaction", json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}})).await
    }

    /// Redacts `event_id`; returns the redaction's event id.
    pub(crate) async fn redact(&mut self, room: &str, event_id: &str) -> String {
        let path = Self::room_path(room, &format!("redact/{}/{}", enc(event_id), self.next_txn()));
        let v = self.request(Method::PUT, &path, Some(json!({}))).await;
        v["event_id"].as_str().expect("event_id").to_owned()
    }

    /// A state event's content; fails the test if there is none.
    pub(crate) async fn get_state(&self, room: &str, event_type: &str, state_key: &str) -> Value {
        self.request(Method::GET, &Self::room_path(room, &format!("state/{}/{}", enc(event_type), enc(state_key))), None).await
    }

    /// The user ids of the room's joined members, sorted.
    pub(crate) async fn joined_members(&self, room: &str) -> Vec<String> {
        let v = self.request(Method::GET, &Self::room_path(room, "joined_members"), None).await;
        let mut ids: Vec<String> = v["joined"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
        ids.sort();
        ids
    }

    /// The room an alias points to, `None` if it points nowhere. For an alias in an
    /// appservice's namespace Synapse asks the appservice first.
    pub(crate) async fn resolve_alias(&self, alias: &str) -> Option<String> {
        let (status, v) = self.call(Method::GET, &format!("/_matrix/client/v3/directory/room/{}", enc(alias)), None).await;
        if status == StatusCode::NOT_FOUND {
            return None;
        }
        assert!(status.is_success(), "resolving {alias} failed with {status}: {v}");
        v["room_id"].as_str().map(str::to_owned)
    }

    /// A user's global display name, `None` if they have none (or no profile).
    pub(crate) async fn display_name(&self, user_id: &str) -> Option<String> {
        let (status, v) = self.call(Method::GET, &format!("/_matrix/client/v3/profile/{}/displayname", enc(user_id)), None).await;
        if status.is_success() { v["displayname"].as_str().map(str::to_owned) } else { None }
    }

    /// Sets a field of the user's own profile (`displayname`, `avatar_url`).
    pub(crate) async fn set_profile(&self, field: &str, value: &str) {
        let path = format!("/_matrix/client/v3/profile/{}/{field}", enc(&self.user_id));
        self.request(Method::PUT, &path, Some(json!({ field: value }))).await;
    }

    /// Sets the user's own presence (`online`, `unavailable`, `offline`) and status message.
    pub(crate) async fn set_presence(&self, presence: &str, status: Option<&str>) {
        let path = format!("/_matrix/client/v3/presence/{}/status", enc(&self.user_id));
        let mut body = json!({"presence": presence});
        if let Some(status) = status {
            body["status_msg"] = json!(status);
        }
        self.request(Method::PUT, &path, Some(body)).await;
    }

    /// A user's avatar URL, `None` if they have none (or no profile).
    pub(crate) async fn avatar_url(&self, user_id: &str) -> Option<String> {
        let (status, v) = self.call(Method::GET, &format!("/_matrix/client/v3/profile/{}/avatar_url", enc(user_id)), None).await;
        if status.is_success() { v["avatar_url"].as_str().filter(|u| !u.is_empty()).map(str::to_owned) } else { None }
    }

    /// Uploads `data` to the media repository; returns its `mxc://` URI.
    pub(crate) async fn upload(&self, data: Vec<u8>, content_type: &str) -> String {
        let url = format!("{}/_matrix/media/v3/upload", self.base);
        let resp = self
            .http
            .post(&url)
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(data)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "upload failed with {status}: {v}");
        v["content_uri"].as_str().expect("content_uri").to_owned()
    }

    /// Downloads an `mxc://` URI through the authenticated media API (Synapse serves new
    /// media only there).
    pub(crate) async fn download(&self, mxc: &str) -> Vec<u8> {
        let (server, media_id) =
            mxc.strip_prefix("mxc://").and_then(|r| r.split_once('/')).unwrap_or_else(|| panic!("not an mxc URI: {mxc}"));
        let url = format!("{}/_matrix/client/v1/media/download/{}/{}", self.base, enc(server), enc(media_id));
        let resp = self.http.get(&url).bearer_auth(&self.token).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = resp.status();
        let body = resp.bytes().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert!(status.is_success(), "download of {mxc} failed with {status}: {}", String::from_utf8_lossy(&body));
        body.to_vec()
    }

    /// One `/sync`, long-polling up to `poll` on the server. The buffer and the sync token
    /// change only after every request of this sync is answered, so a sync cancelled by a
    /// wait's timeout leaves no gap: the next one starts from the same token.
    async fn sync(&mut self, poll: Duration) {
        let filter = json!({"room": {"timeline": {"limit": SYNC_TIMELINE_LIMIT}}}).to_string();
        let mut path = format!("/_matrix/client/v3/sync?timeout={}&filter={}", poll.as_millis(), enc(&filter));
        if let Some(s) = &self.since {
            path.push_str(&format!("&since={}", enc(s)));
        }
        let v = self.request(Method::GET, &path, None).await;

        let mut batches: Vec<(String, Vec<Value>)> = Vec::new();
        // Rooms the user has left (or was kicked from) still deliver the events up to the leave.
        for section in ["join", "leave"] {
            let Some(rooms) = v["rooms"][section].as_object() else { continue };
            for (room, data) in rooms {
                let mut events = data["timeline"]["events"].as_array().cloned().unwrap_or_default();
                if data["timeline"]["limited"] == true
                    && let Some(from) = data["timeline"]["prev_batch"].as_str()
                {
                    let mut older = self.backfill(room, from).await;
                    older.append(&mut events);
                    events = older;
                }
                // Typing and receipts come as ephemeral events, without ids: each is new.
                for ephemeral in data["ephemeral"]["events"].as_array().cloned().unwrap_or_default() {
                    let mut ev = ephemeral;
                    ev["event_id"] = json!(format!("ephemeral-{}", rand::random::<u64>()));
                    events.push(ev);
                }
                batches.push((room.clone(), events));
            }
        }

        self.since = v["next_batch"].as_str().map(str::to_owned);
        for (room, events) in batches {
            // Joined or left: an invite to this room is no longer pending.
            self.invites.retain(|(r, _)| *r != room);
            let buf = self.timeline.entry(room).or_default();
            for ev in events {
                let Some(id) = ev["event_id"].as_str() else { continue };
                if self.known.insert(id.to_owned()) {
                    buf.push(ev);
                }
            }
        }
        if let Some(rooms) = v["rooms"]["invite"].as_object() {
            for (room, data) in rooms {
                let state = data["invite_state"]["events"].clone();
                match self.invites.iter_mut().find(|(r, _)| r == room) {
                    Some(pending) => pending.1 = state,
                    None => self.invites.push((room.clone(), state)),
                }
            }
        }
    }

    /// The events before a limited sync's timeline, back to the newest one already
    /// known, oldest first.
    async fn backfill(&self, room: &str, from: &str) -> Vec<Value> {
        let mut older = Vec::new();
        let mut from = from.to_owned();
        'pages: for _ in 0..BACKFILL_PAGES {
            let path = Self::room_path(room, &format!("messages?dir=b&limit=100&from={}", enc(&from)));
            // History the user may no longer see (after a kick, say) ends the gap filling,
            // not the test.
            let (status, v) = self.call(Method::GET, &path, None).await;
            if !status.is_success() {
                break;
            }
            let chunk = v["chunk"].as_array().cloned().unwrap_or_default();
            if chunk.is_empty() {
                break;
            }
            for ev in chunk {
                if ev["event_id"].as_str().is_some_and(|id| self.known.contains(id)) {
                    break 'pages;
                }
                older.push(ev);
            }
            match v["end"].as_str() {
                Some(end) => from = end.to_owned(),
                None => break,
            }
        }
        older.reverse();
        older
    }

    /// The first unconsumed buffered event in `room` that matches, now consumed.
    fn take_event(&mut self, room: &str, matches: &impl Fn(&Value) -> bool) -> Option<Value> {
        let consumed = &self.consumed;
        let ev = self
            .timeline
            .get(room)?
            .iter()
            .find(|ev| ev["event_id"].as_str().is_some_and(|id| !consumed.contains(id)) && matches(ev))?
            .clone();
        self.consumed.insert(ev["event_id"].as_str()?.to_owned());
        Some(ev)
    }

    /// Waits for a timeline event in `room` that `matches` and no earlier wait returned,
    /// including events that arrived before this call. Returns the whole event (`type`,
    /// `sender`, `content`, `event_id`, ...), or `Err` after `timeout`.
    pub(crate) async fn wait_for_event(
        &mut self,
        room: &str,
        timeout: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Result<Value, NotSeen> {
        let found = tokio::time::timeout(timeout, async {
            loop {
                if let Some(ev) = self.take_event(room, &matches) {
                    return ev;
                }
                self.sync(SYNC_POLL).await;
            }
        })
        .await;
        found.map_err(|_| NotSeen {
            what: format!("event in {room} for {}", self.user_id),
            seen: self.timeline.get(room).map(|evs| evs.iter().map(describe).collect()).unwrap_or_default(),
        })
    }

    /// Waits until this user's own membership in `room` becomes `membership` (`join`,
    /// `leave` after a leave or a kick, `ban`); returns that member event.
    pub(crate) async fn wait_for_membership(&mut self, room: &str, membership: &str, timeout: Duration) -> Result<Value, NotSeen> {
        let me = self.user_id.clone();
        self.wait_for_event(room, timeout, |ev| {
            ev["type"] == "m.room.member" && ev["state_key"] == me.as_str() && ev["content"]["membership"] == membership
        })
        .await
    }

    /// Waits for an invite that `matches(room_id, stripped_invite_state)` and no earlier
    /// wait returned; returns the room id, or `Err` after `timeout`.
    pub(crate) async fn wait_for_invite(&mut self, timeout: Duration, matches: impl Fn(&str, &Value) -> bool) -> Result<String, NotSeen> {
        let found = tokio::time::timeout(timeout, async {
            loop {
                if let Some(pos) = self.invites.iter().position(|(room, state)| matches(room, state)) {
                    return self.invites.remove(pos).0;
                }
                self.sync(SYNC_POLL).await;
            }
        })
        .await;
        found.map_err(|_| NotSeen {
            what: format!("invite for {}", self.user_id),
            seen: self.invites.iter().map(|(room, state)| format!("{room} {state}")).collect(),
        })
    }
}
