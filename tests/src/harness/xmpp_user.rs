//! Real XMPP users for end-to-end tests: each [`XmppUser`] is one `tests/xmpp/driver.py`
//! process (slixmpp, a real client library) logged in to the test Prosody, talked to with
//! JSON lines. See the driver's docstring for the protocol.
//!
//! The server also takes XEP-0114 components (at [`env::xmpp_component`], secret
//! [`env::xmpp_component_secret`]): `matrix.localhost` for the bridge, `matrix2.localhost`
//! and `matrix3.localhost` for tests that run more bridges at once, `matrix4.localhost` for the mappings test (one connection per
//! domain: Prosody refuses a second), `smoke1/2.localhost` for the stack smoke tests.
//!
//! Everything the user receives is kept in order until a test waits for it, so an event that
//! arrives while a command is still running is not lost.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::harness::env;

/// The XMPP domain of the test users (Prosody's virtual host, see `scripts/start-prosody.sh`).
pub(crate) const XMPP_DOMAIN: &str = "localhost";
/// The MUC service of the test server.
pub(crate) const MUC_DOMAIN: &str = "conference.localhost";

/// Bounds every single wait: the driver starts in about a second, the server answers in
/// milliseconds.
pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// One stanza the user received, or a command's answer.
#[derive(Debug, Clone)]
pub(crate) struct XmppEvent {
    /// `message`, `presence`, `iq`, or the driver's own `ok`, `error`, `disconnected`.
    pub(crate) event: String,
    pub(crate) from: String,
    pub(crate) to: String,
    /// The stanza's `type` attribute, empty when absent (an available presence, a normal message).
    pub(crate) kind: String,
    pub(crate) id: String,
    pub(crate) body: Option<String>,
    pub(crate) subject: Option<String>,
    /// It carries a XEP-0203 delay: room history, an offline or archived copy.
    pub(crate) delayed: bool,
    /// The whole stanza as received, for what the fields above leave out.
    pub(crate) xml: String,
    pub(crate) json: Value,
}

impl XmppEvent {
    fn from_json(json: Value) -> XmppEvent {
        let s = |key: &str| json.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        let opt = |key: &str| json.get(key).and_then(Value::as_str).map(str::to_owned);
        XmppEvent {
            event: s("event"),
            from: s("from"),
            to: s("to"),
            kind: s("type"),
            id: s("id"),
            body: opt("body"),
            subject: opt("subject"),
            delayed: json.get("delayed").and_then(Value::as_bool).unwrap_or(false),
            xml: s("xml"),
            json,
        }
    }

    /// A live (not history) message with a body.
    pub(crate) fn is_live_message(&self) -> bool {
        self.event == "message" && self.body.is_some() && !self.delayed
    }
}

/// One XMPP user played by the driver. The process is killed when this is dropped.
pub(crate) struct XmppUser {
    /// The bare JID, e.g. `alice1a2b3c4d@localhost`.
    pub(crate) jid: String,
    /// The full JID the server bound, with its resource.
    pub(crate) full_jid: String,
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Received and not yet consumed by a wait.
    pending: VecDeque<XmppEvent>,
    /// The last lines read, for failure messages.
    recent: VecDeque<String>,
    stderr: Arc<Mutex<String>>,
    next_req: u64,
}

impl XmppUser {
    /// A new user with a fresh name starting with PREFIX, registered in-band, online.
    pub(crate) async fn new_random(prefix: &str) -> XmppUser {
        let localpart = format!("{prefix}{:08x}", rand::random::<u32>());
        XmppUser::login(&localpart, "xmpp-test-pw", true).await
    }

    /// Logs in as LOCALPART@localhost, registering the account in-band first when REGISTER
    /// (an existing account is then not an error); returns once the user is online.
    pub(crate) async fn login(localpart: &str, password: &str, register: bool) -> XmppUser {
        XmppUser::login_on(&env::xmpp_c2s(), localpart, password, register).await
    }

    /// [`XmppUser::login`] on another server than the shared one (`host:port` of its clients).
    pub(crate) async fn login_on(server: &str, localpart: &str, password: &str, register: bool) -> XmppUser {
        let jid = format!("{localpart}@{XMPP_DOMAIN}");
        let mut user = XmppUser::spawn_on(server, &jid, password, register);
        let ready = user.next_event("ready").await;
        if ready.event != "ready" {
            let stderr = user.stderr.lock().map(|s| s.clone()).unwrap_or_default();
            panic!("{jid} did not come online: {}\ndriver stderr:\n{stderr}", ready.json);
        }
        user.full_jid = ready.json["jid"].as_str().unwrap_or_default().to_owned();
        user
    }

    /// Starts the driver without waiting for it: for tests about failed logins.
    pub(crate) fn spawn(jid: &str, password: &str, register: bool) -> XmppUser {
        XmppUser::spawn_on(&env::xmpp_c2s(), jid, password, register)
    }

    fn spawn_on(server: &str, jid: &str, password: &str, register: bool) -> XmppUser {
        let command = env::xmpp_driver();
        let (program, script) = command.split_first().expect("MXBRIDGE_TEST_XMPP_DRIVER is empty");
        let mut cmd = Command::new(program);
        cmd.args(script).args(["--jid", jid, "--password", password, "--server", server]);
        if register {
            cmd.arg("--register");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting the XMPP driver {command:?}: {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        // Collected, not inherited: slixmpp's warnings belong in a failure message, not in
        // the output of passing tests.
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("piped stderr");
        let sink = Arc::clone(&stderr);
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf).await {
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
        XmppUser {
            jid: jid.to_owned(),
            full_jid: String::new(),
            child,
            stdin,
            stdout,
            pending: VecDeque::new(),
            recent: VecDeque::new(),
            stderr,
            next_req: 0,
        }
    }

    /// Reads the driver's next line; a closed stdout becomes a `disconnected` event.
    async fn read_event(&mut self) -> XmppEvent {
        let line = self.stdout.next_line().await.unwrap_or_else(|e| panic!("{}: reading the driver: {e}", self.jid));
        let Some(line) = line else {
            return XmppEvent::from_json(json!({"event": "disconnected"}));
        };
        if self.recent.len() == 30 {
            self.recent.pop_front();
        }
        self.recent.push_back(line.clone());
        let json: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{}: driver printed a non-JSON line {line:?}: {e}", self.jid));
        XmppEvent::from_json(json)
    }

    /// The next event, whatever it is (pending ones first), for at most [`WAIT`].
    async fn next_event(&mut self, what: &str) -> XmppEvent {
        if let Some(e) = self.pending.pop_front() {
            return e;
        }
        match tokio::time::timeout(WAIT, self.read_event()).await {
            Ok(e) => e,
            Err(_) => self.fail(&format!("no {what} within {WAIT:?}")),
        }
    }

    fn fail(&self, why: &str) -> ! {
        let recent = self.recent.iter().map(|l| format!("\n  {l}")).collect::<String>();
        let stderr = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
        panic!("{}: {why}; last driver lines:{recent}\ndriver stderr:\n{stderr}", self.jid)
    }

    /// Waits for the first received event that matches, for at most [`WAIT`]; the events
    /// before it are consumed. Fails if the driver ends first.
    pub(crate) async fn wait_for(&mut self, what: &str, mut matches: impl FnMut(&XmppEvent) -> bool) -> XmppEvent {
        let found = tokio::time::timeout(WAIT, async {
            loop {
                let e = match self.pending.pop_front() {
                    Some(e) => e,
                    None => self.read_event().await,
                };
                if matches(&e) {
                    return Ok(e);
                }
                if e.event == "disconnected" {
                    return Err(());
                }
            }
        })
        .await;
        match found {
            Ok(Ok(e)) => e,
            Ok(Err(())) => self.fail(&format!("the driver ended while waiting for {what}")),
            Err(_) => self.fail(&format!("no {what} within {WAIT:?}")),
        }
    }

    /// Sends a command and waits for its answer; the events that arrive meanwhile stay
    /// pending for later waits. Returns the answer (`ok` or `error`).
    pub(crate) async fn command(&mut self, mut cmd: Value) -> XmppEvent {
        self.next_req += 1;
        let req = self.next_req;
        cmd["req"] = json!(req);
        let line = format!("{cmd}\n");
        if let Err(e) = self.stdin.write_all(line.as_bytes()).await {
            self.fail(&format!("sending {cmd}: {e}"));
        }
        let mut skipped = VecDeque::new();
        let answer = tokio::time::timeout(WAIT, async {
            loop {
                let e = self.read_event().await;
                if matches!(e.event.as_str(), "ok" | "error") && e.json["req"] == json!(req) {
                    return Some(e);
                }
                if e.event == "disconnected" {
                    return None;
                }
                skipped.push_back(e);
            }
        })
        .await;
        self.pending.extend(skipped);
        match answer {
            Ok(Some(e)) => e,
            Ok(None) => self.fail(&format!("the driver ended before answering {cmd}")),
            Err(_) => self.fail(&format!("no answer to {cmd} within {WAIT:?}")),
        }
    }

    /// Like [`command`](Self::command), failing the test on an `error` answer.
    async fn command_ok(&mut self, cmd: Value) -> XmppEvent {
        let answer = self.command(cmd.clone()).await;
        if answer.event != "ok" {
            self.fail(&format!("{cmd} failed: {}", answer.json));
        }
        answer
    }

    /// Joins ROOM (a bare room JID) as NICK without history; returns once joined.
    pub(crate) async fn join(&mut self, room: &str, nick: &str) {
        self.command_ok(json!({"op": "join", "room": room, "nick": nick})).await;
    }

    /// Joins asking for up to HISTORY earlier messages (they arrive with `delayed` set).
    pub(crate) async fn join_with_history(&mut self, room: &str, nick: &str, history: u32) {
        self.command_ok(json!({"op": "join", "room": room, "nick": nick, "history": history})).await;
    }

    pub(crate) async fn leave(&mut self, room: &str, nick: &str) {
        self.command_ok(json!({"op": "leave", "room": room, "nick": nick})).await;
    }

    /// Sends a message of TYPE (`chat`, `groupchat`, `normal`...); returns its stanza id.
    pub(crate) async fn send(&mut self, to: &str, kind: &str, body: &str) -> String {
        let answer = self.command_ok(json!({"op": "send", "to": to, "type": kind, "body": body})).await;
        answer.json["id"].as_str().unwrap_or_default().to_owned()
    }

    /// Sets the subject (topic) of ROOM.
    pub(crate) async fn set_subject(&mut self, room: &str, subject: &str) {
        self.command_ok(json!({"op": "send", "to": room, "type": "groupchat", "subject": subject})).await;
    }

    /// Sends any stanza as it is, for what the driver has no command for.
    pub(crate) async fn send_raw(&mut self, xml: &str) {
        self.command_ok(json!({"op": "raw", "xml": xml})).await;
    }

    /// Logs out cleanly and waits for the driver to exit.
    pub(crate) async fn quit(mut self) {
        let _ = self.stdin.write_all(b"{\"op\":\"quit\"}\n").await;
        if tokio::time::timeout(WAIT, self.child.wait()).await.is_err() {
            self.fail("the driver did not exit after quit");
        }
    }
}

/// The id the MUC gave a message (its XEP-0359 stanza-id `by` the MUC), from its XML.
/// A MUC no test used before: its room name (`<prefix><random>`) and its JID on the test
/// server's MUC service.
pub(crate) fn fresh_muc(prefix: &str) -> (String, String) {
    let room = format!("{prefix}{}", rand::random::<u32>());
    let muc = format!("{room}@{MUC_DOMAIN}");
    (room, muc)
}

pub(crate) fn muc_stanza_id(xml: &str, muc: &str) -> String {
    let marker = format!("by=\"{muc}\"");
    let at = xml.find(&marker).unwrap_or_else(|| panic!("the MUC gives its id: {xml}"));
    let tag_start = xml[..at].rfind('<').unwrap();
    let tag = &xml[tag_start..tag_start + xml[tag_start..].find('>').unwrap()];
    tag.split(" id=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or_else(|| panic!("no id in {tag}")).to_owned()
}
