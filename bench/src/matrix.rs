//! A minimal Matrix user over the client-server API, for the latency benchmark: register,
//! create a DM, join, send, and a /sync long-poll loop that timestamps what arrives.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// What the sync loop saw, stamped when its response arrived.
#[derive(Debug)]
pub enum Synced {
    /// An invite to a room.
    Invite(String),
    /// A timeline event in a joined room.
    Event { at: Instant, room: String, event: Value },
}

/// A registered user.
pub struct MatrixUser {
    /// Full user id.
    pub user_id: String,
    token: String,
    base: String,
    http: reqwest::Client,
    txn: u64,
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().tcp_nodelay(true).timeout(Duration::from_secs(90)).build()?)
}

async fn call(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> anyhow::Result<(u16, Value)> {
    let mut req = http.request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let value = resp.json::<Value>().await.unwrap_or(Value::Null);
    Ok((status, value))
}

impl MatrixUser {
    /// Registers `localpart` with the dummy flow (the bench Synapse allows registration).
    pub async fn register(base: &str, localpart: &str) -> anyhow::Result<Self> {
        let http = client()?;
        let url = format!("{base}/_matrix/client/v3/register");
        let mut body = json!({"username": localpart, "password": "bench-password-1", "inhibit_login": false});
        let (status, resp) = call(&http, Method::POST, &url, None, Some(&body)).await?;
        let resp = if status == 401 {
            body["auth"] = json!({"type": "m.login.dummy", "session": resp["session"]});
            let (status, resp) = call(&http, Method::POST, &url, None, Some(&body)).await?;
            anyhow::ensure!(status == 200, "register {localpart}: {status} {resp}");
            resp
        } else {
            anyhow::ensure!(status == 200, "register {localpart}: {status} {resp}");
            resp
        };
        Ok(Self {
            user_id: resp["user_id"].as_str().context("user_id")?.to_owned(),
            token: resp["access_token"].as_str().context("access_token")?.to_owned(),
            base: base.to_owned(),
            http,
            txn: 0,
        })
    }

    async fn request(&self, method: Method, path: &str, body: Value) -> anyhow::Result<Value> {
        let (status, resp) = call(&self.http, method, &format!("{}{path}", self.base), Some(&self.token), Some(&body)).await?;
        if status != 200 {
            bail!("{path}: {status} {resp}");
        }
        Ok(resp)
    }

    /// Creates a direct chat with `other`.
    pub async fn create_dm(&self, other: &str) -> anyhow::Result<String> {
        let body = json!({"is_direct": true, "invite": [other], "preset": "trusted_private_chat"});
        let resp = self.request(Method::POST, "/_matrix/client/v3/createRoom", body).await?;
        Ok(resp["room_id"].as_str().context("room_id")?.to_owned())
    }

    /// Joins a room by id or alias.
    pub async fn join(&self, room: &str) -> anyhow::Result<String> {
        let resp = self.request(Method::POST, &format!("/_matrix/client/v3/join/{}", enc(room)), json!({})).await?;
        Ok(resp["room_id"].as_str().context("room_id")?.to_owned())
    }

    /// Sends a text message; returns when the homeserver accepted it.
    pub async fn send_text(&mut self, room: &str, body: &str) -> anyhow::Result<()> {
        self.txn += 1;
        let path = format!("/_matrix/client/v3/rooms/{}/send/m.room.message/bench{}-{}", enc(room), std::process::id(), self.txn);
        self.request(Method::PUT, &path, json!({"msgtype": "m.text", "body": body})).await?;
        Ok(())
    }

    /// Starts the /sync long-poll loop. The first (initial) sync only sets the position, so
    /// only what happens from now on is reported.
    pub async fn start_sync(&self) -> anyhow::Result<mpsc::UnboundedReceiver<Synced>> {
        let http = client()?;
        let base = self.base.clone();
        let token = self.token.clone();
        let filter = json!({
            "room": {"timeline": {"limit": 1000}, "state": {"lazy_load_members": true}, "ephemeral": {"types": []}},
            "presence": {"types": []},
            "account_data": {"types": []}
        })
        .to_string();
        let url = move |since: Option<&str>, timeout: u32| {
            let mut u = format!("{base}/_matrix/client/v3/sync?timeout={timeout}&filter={}", enc(&filter));
            if let Some(s) = since {
                u.push_str(&format!("&since={}", enc(s)));
            }
            u
        };
        let (status, first) = call(&http, Method::GET, &url(None, 0), Some(&token), None).await?;
        anyhow::ensure!(status == 200, "initial sync: {status}");
        let mut since = first["next_batch"].as_str().context("next_batch")?.to_owned();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let Ok((200, resp)) = call(&http, Method::GET, &url(Some(&since), 30_000), Some(&token), None).await else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                };
                let at = Instant::now();
                if let Some(invites) = resp["rooms"]["invite"].as_object() {
                    for room in invites.keys() {
                        let _ = tx.send(Synced::Invite(room.clone()));
                    }
                }
                if let Some(joined) = resp["rooms"]["join"].as_object() {
                    for (room, data) in joined {
                        for event in data["timeline"]["events"].as_array().into_iter().flatten() {
                            let _ = tx.send(Synced::Event { at, room: room.clone(), event: event.clone() });
                        }
                    }
                }
                if let Some(next) = resp["next_batch"].as_str() {
                    since = next.to_owned();
                }
                if tx.is_closed() {
                    return;
                }
            }
        });
        Ok(rx)
    }
}
