//! A small Matrix client for tests: a real user on the test Synapse.
//!
//! It keeps every timeline event it has synced, per room, and each wait scans that buffer
//! before syncing again, so an event that arrived in an earlier sync is never missed. An
//! event a wait returned is consumed and not returned again.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{Value, json};

use super::env::homeserver;

/// A registered test user.
pub(crate) struct TestUser {
    pub(crate) user_id: String,
    token: String,
    http: reqwest::Client,
    base: String,
    since: Option<String>,
    timeline: HashMap<String, Vec<Value>>,
    invites: Vec<(String, Value)>,
    consumed: HashSet<String>,
    txn: u64,
}

/// A wait ran out of time; carries what was seen, for the failure message.
#[derive(Debug)]
pub(crate) struct NotSeen(#[allow(dead_code)] pub(crate) Vec<String>);

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl TestUser {
    /// Registers `<prefix><random>` with open registration.
    pub(crate) async fn register(prefix: &str) -> Self {
        super::init();
        let base = homeserver();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let username = format!("{prefix}{}", rand::random::<u32>());
        let body = json!({"username": username, "password": "test-password-1", "auth": {"type": "m.login.dummy"}, "inhibit_login": false});
        let resp: Value = http.post(format!("{base}/_matrix/client/v3/register")).json(&body).send().await.unwrap().json().await.unwrap();
        let token = resp["access_token"].as_str().unwrap_or_else(|| panic!("registration failed: {resp}")).to_owned();
        let user_id = resp["user_id"].as_str().unwrap().to_owned();
        let mut user = Self {
            user_id,
            token,
            http,
            base,
            since: None,
            timeline: HashMap::new(),
            invites: Vec::new(),
            consumed: HashSet::new(),
            txn: 0,
        };
        user.sync(0).await;
        user
    }

    async fn request(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method.clone(), format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(json!({}));
        assert!(status.is_success(), "{method} {path} failed with {status}: {v}");
        v
    }

    async fn try_get(&self, path: &str) -> Option<Value> {
        let resp = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await.unwrap();
        if resp.status().is_success() { Some(resp.json().await.unwrap()) } else { None }
    }

    async fn create(&self, body: Value) -> String {
        let v = self.request(reqwest::Method::POST, "/_matrix/client/v3/createRoom", Some(body)).await;
        v["room_id"].as_str().unwrap().to_owned()
    }

    /// A DM with `other` (marked direct, trusted private chat).
    pub(crate) async fn create_dm(&self, other: &str) -> String {
        self.create(json!({"is_direct": true, "invite": [other], "preset": "trusted_private_chat"})).await
    }

    /// A DM with `other`, encrypted from the start (as clients create DMs by default).
    pub(crate) async fn create_dm_encrypted(&self, other: &str) -> String {
        self.create(json!({
            "is_direct": true, "invite": [other], "preset": "trusted_private_chat",
            "initial_state": [{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}],
        }))
        .await
    }

    /// A named, non-direct room inviting `invite`.
    pub(crate) async fn create_room(&self, name: &str, invite: &[String]) -> String {
        self.create(json!({"name": name, "invite": invite, "preset": "private_chat"})).await
    }

    /// Joins a room by id or alias; returns the room id.
    pub(crate) async fn join(&self, room: &str) -> String {
        let v = self.request(reqwest::Method::POST, &format!("/_matrix/client/v3/join/{}", enc(room)), Some(json!({}))).await;
        v["room_id"].as_str().unwrap().to_owned()
    }

    /// Sends any message-like event; returns its event id.
    pub(crate) async fn send_content(&mut self, room: &str, event_type: &str, content: Value) -> String {
        self.txn += 1;
        let path = format!("/_matrix/client/v3/rooms/{}/send/{}/t{}-{}", enc(room), enc(event_type), rand::random::<u32>(), self.txn);
        let v = self.request(reqwest::Method::PUT, &path, Some(content)).await;
        v["event_id"].as_str().unwrap().to_owned()
    }

    /// Sends plain text.
    pub(crate) async fn send_text(&mut self, room: &str, body: &str) -> String {
        self.send_content(room, "m.room.message", json!({"msgtype": "m.text", "body": body})).await
    }

    /// Reacts to an event.
    pub(crate) async fn react(&mut self, room: &str, event_id: &str, key: &str) -> String {
        self.send_content(room, "m.reaction", json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}})).await
    }

    /// Redacts an event.
    pub(crate) async fn redact(&mut self, room: &str, event_id: &str) -> String {
        self.txn += 1;
        let path = format!("/_matrix/client/v3/rooms/{}/redact/{}/r{}-{}", enc(room), enc(event_id), rand::random::<u32>(), self.txn);
        let v = self.request(reqwest::Method::PUT, &path, Some(json!({}))).await;
        v["event_id"].as_str().unwrap().to_owned()
    }

    /// A state event's content.
    pub(crate) async fn get_state(&self, room: &str, event_type: &str, state_key: &str) -> Value {
        self.request(
            reqwest::Method::GET,
            &format!("/_matrix/client/v3/rooms/{}/state/{}/{}", enc(room), enc(event_type), enc(state_key)),
            None,
        )
        .await
    }

    /// A user's display name, `None` if they have no profile.
    pub(crate) async fn display_name(&self, user_id: &str) -> Option<String> {
        self.try_get(&format!("/_matrix/client/v3/profile/{}/displayname", enc(user_id)))
            .await
            .and_then(|v| v["displayname"].as_str().map(str::to_owned))
    }

    async fn sync(&mut self, timeout_ms: u64) {
        let mut path = format!("/_matrix/client/v3/sync?timeout={timeout_ms}");
        if let Some(s) = &self.since {
            path.push_str(&format!("&since={}", enc(s)));
        }
        let v = self.request(reqwest::Method::GET, &path, None).await;
        self.since = v["next_batch"].as_str().map(str::to_owned);
        if let Some(rooms) = v["rooms"]["join"].as_object() {
            for (room, data) in rooms {
                let buf = self.timeline.entry(room.clone()).or_default();
                buf.extend(data["timeline"]["events"].as_array().cloned().unwrap_or_default());
            }
        }
        if let Some(rooms) = v["rooms"]["invite"].as_object() {
            for (room, data) in rooms {
                self.invites.push((room.clone(), data["invite_state"]["events"].clone()));
            }
        }
    }

    /// Waits for an unconsumed timeline event in `room` that matches.
    pub(crate) async fn wait_for_event(
        &mut self,
        room: &str,
        timeout: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Result<Value, NotSeen> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(ev) = self.timeline.get(room).and_then(|evs| {
                evs.iter().find(|ev| ev["event_id"].as_str().is_some_and(|id| !self.consumed.contains(id)) && matches(ev)).cloned()
            }) {
                self.consumed.insert(ev["event_id"].as_str().unwrap().to_owned());
                return Ok(ev);
            }
            if tokio::time::Instant::now() >= deadline {
                let seen = self
                    .timeline
                    .get(room)
                    .map(|evs| evs.iter().map(|e| format!("{} {} {}", e["sender"], e["type"], e["content"])).collect())
                    .unwrap_or_default();
                return Err(NotSeen(seen));
            }
            self.sync(1000).await;
        }
    }

    /// Waits for an invite not seen before; returns the room id.
    pub(crate) async fn wait_for_invite(&mut self, timeout: Duration, matches: impl Fn(&str, &Value) -> bool) -> Result<String, NotSeen> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(pos) = self.invites.iter().position(|(room, state)| !self.consumed.contains(room) && matches(room, state)) {
                let room = self.invites.remove(pos).0;
                self.consumed.insert(room.clone());
                return Ok(room);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(NotSeen(self.invites.iter().map(|(r, _)| r.clone()).collect()));
            }
            self.sync(1000).await;
        }
    }
}
