//! A simulated chat network, in-process, for the demo stack and the core's end-to-end tests.
//!
//! It behaves like a small real network through the same traits every network implements:
//! two login flows (a user name then a code, where a wrong code asks again; and a QR code
//! that refreshes until it is "scanned"), DMs with any name (`pm alice`), group chats
//! reachable by alias, and a contact named `echo` that answers every message. A
//! [`DemoHandle`] lets tests act as the remote side: inject messages, edits, reactions and
//! deletions, finish a QR login, and read what the bridge sent to the network.
//!
//! Nothing here talks to a real server: a test that passes on it proves the core, not a
//! network.

mod client;
mod login;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use mxbridge_core::commands::spec::{CommandSpec, HelpSection};
use mxbridge_core::ids::{LoginId, RemoteChatId, RemoteMessageId, RemoteUserId};
use mxbridge_core::media_links::MediaLinkError;
use mxbridge_core::network::content::Content;
use mxbridge_core::network::event::{EventSink, RemoteEvent};
use mxbridge_core::network::login::{LoginError, LoginFlow, LoginProcess};
use mxbridge_core::network::{CommandCall, CommandError, Network, NetworkClient, NetworkContext, NetworkError, NetworkInfo, StoredLogin};
use ruma::UserId;
use serde::Deserialize;

pub use client::DemoClient;

/// The code the password flow accepts.
pub const LOGIN_CODE: &str = "123456";

/// The `network:` section of the config.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoConfig {
    /// Seconds between QR code refreshes.
    #[serde(default = "default_qr_refresh")]
    pub qr_refresh_seconds: u64,
    /// How many QR codes are shown before the login times out.
    #[serde(default = "default_qr_codes")]
    pub qr_codes: u32,
}

fn default_qr_refresh() -> u64 {
    20
}

fn default_qr_codes() -> u32 {
    5
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self { qr_refresh_seconds: default_qr_refresh(), qr_codes: default_qr_codes() }
    }
}

/// Something the bridge did on the simulated network.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// A message was sent.
    Sent {
        /// By which login.
        login: LoginId,
        /// To which chat.
        chat: RemoteChatId,
        /// Its new remote id.
        id: RemoteMessageId,
        /// What.
        content: Content,
        /// Replying to.
        reply_to: Option<RemoteMessageId>,
        /// Relayed for this Matrix display name.
        relayed_for: Option<String>,
    },
    /// A message was edited.
    Edited {
        /// Which message.
        target: RemoteMessageId,
        /// New content.
        content: Content,
    },
    /// A reaction was added.
    Reacted {
        /// To which message.
        target: RemoteMessageId,
        /// Which key.
        key: String,
    },
    /// A reaction was removed.
    Unreacted {
        /// From which message.
        target: RemoteMessageId,
        /// Which key.
        key: String,
    },
    /// A message was deleted.
    Deleted {
        /// Which message.
        target: RemoteMessageId,
    },
    /// Typing changed.
    Typing {
        /// In which chat.
        chat: RemoteChatId,
        /// Typing or not.
        typing: bool,
    },
}

pub(crate) struct Shared {
    /// Makes message ids unique across restarts, as the id contract requires: a counter
    /// alone would start again at 1 and collide with ids stored before the restart.
    id_prefix: String,
    pub(crate) actions: Mutex<Vec<Action>>,
    pub(crate) sinks: Mutex<HashMap<LoginId, EventSink>>,
    /// QR logins waiting to be scanned, by Matrix user: the scan fires this.
    pub(crate) pending_scans: Mutex<HashMap<String, tokio::sync::mpsc::UnboundedSender<String>>>,
    pub(crate) next_id: Mutex<u64>,
    /// What the bridge handed the network at start, and the runtime it runs on.
    started: Mutex<Option<(NetworkContext, tokio::runtime::Handle)>>,
}

impl Default for Shared {
    fn default() -> Self {
        let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        Self {
            id_prefix: format!("m{started:x}"),
            actions: Mutex::default(),
            sinks: Mutex::default(),
            pending_scans: Mutex::default(),
            next_id: Mutex::default(),
            started: Mutex::default(),
        }
    }
}

impl Shared {
    pub(crate) fn next_message_id(&self) -> RemoteMessageId {
        let mut n = self.next_id.lock().expect("lock");
        *n += 1;
        RemoteMessageId::new(format!("{}.{n}", self.id_prefix))
    }

    pub(crate) fn record(&self, action: Action) {
        self.actions.lock().expect("lock").push(action);
    }
}

/// The demo network.
pub struct DemoNetwork {
    config: DemoConfig,
    shared: Arc<Shared>,
}

/// The remote side of the demo network, for tests and demos.
#[derive(Clone)]
pub struct DemoHandle {
    shared: Arc<Shared>,
}

impl DemoNetwork {
    /// The network and a handle on its remote side.
    pub fn new(config: DemoConfig) -> (Arc<Self>, DemoHandle) {
        let shared = Arc::new(Shared::default());
        (Arc::new(Self { config, shared: shared.clone() }), DemoHandle { shared })
    }
}

impl DemoHandle {
    /// Everything the bridge did on the network so far.
    pub fn actions(&self) -> Vec<Action> {
        self.shared.actions.lock().expect("lock").clone()
    }

    /// Reports a remote event as the given login's network would. False if that login is
    /// not connected.
    pub fn inject(&self, login: &LoginId, event: RemoteEvent) -> bool {
        let sink = self.shared.sinks.lock().expect("lock").get(login).cloned();
        sink.is_some_and(|s| s.send(event))
    }

    /// A fresh remote message id.
    pub fn new_message_id(&self) -> RemoteMessageId {
        self.shared.next_message_id()
    }

    /// Completes a QR login of a Matrix user as if the code was scanned with `account`.
    /// False if no QR login of that user is waiting.
    pub fn scan_qr(&self, matrix_user: &str, account: &str) -> bool {
        let tx = self.shared.pending_scans.lock().expect("lock").remove(matrix_user);
        tx.is_some_and(|tx| tx.send(account.to_owned()).is_ok())
    }

    /// Publishes a file through the core's media links, as a network does with what it
    /// cannot carry itself. `None` until the bridge has started the network.
    ///
    /// It runs on the bridge's runtime: the bridge's HTTP client keeps connections that
    /// belong to the runtime that opened them, and a test's runtime ends with the test.
    pub async fn publish(&self, data: Vec<u8>, mime: &str, filename: &str) -> Option<Result<String, MediaLinkError>> {
        let (ctx, runtime) = self.shared.started.lock().expect("lock").clone()?;
        let (mime, filename) = (mime.to_owned(), filename.to_owned());
        let task = runtime.spawn(async move { ctx.links.publish(data, &mime, &filename).await });
        Some(task.await.expect("the publish task does not panic"))
    }

    /// Whether the bridge has media links on (`bridge.public_url`); `None` before start.
    pub fn links_enabled(&self) -> Option<bool> {
        self.shared.started.lock().expect("lock").as_ref().map(|(ctx, _)| ctx.links.enabled())
    }

    /// Whether a QR login of this user waits for a scan.
    pub fn qr_waiting(&self, matrix_user: &str) -> bool {
        self.shared.pending_scans.lock().expect("lock").contains_key(matrix_user)
    }
}

/// Chat ids of DMs are `dm:<name>`; group chats are `group:<name>`.
pub fn dm_chat(name: &str) -> RemoteChatId {
    RemoteChatId::new(format!("dm:{name}"))
}

/// The remote user a DM chat is with.
pub(crate) fn dm_partner(chat: &RemoteChatId) -> Option<RemoteUserId> {
    chat.as_str().strip_prefix("dm:").map(RemoteUserId::from)
}

#[async_trait]
impl Network for DemoNetwork {
    fn info(&self) -> NetworkInfo {
        NetworkInfo { id: "demo".into(), display_name: "Demo".into(), description: "a simulated network for demos and tests".into() }
    }

    fn login_flows(&self) -> Vec<LoginFlow> {
        vec![
            LoginFlow { id: "password".into(), description: format!("user name, then a code (the demo code is {LOGIN_CODE})") },
            LoginFlow { id: "qr".into(), description: "scan a QR code (tests scan it through the demo handle)".into() },
        ]
    }

    fn commands(&self) -> Vec<CommandSpec> {
        vec![
            CommandSpec::new("list-contacts", "", "List the contacts of your demo account", HelpSection::Network)
                .aliases(&["contacts"])
                .login(),
        ]
    }

    async fn start(&self, ctx: NetworkContext) -> Result<(), NetworkError> {
        *self.shared.started.lock().expect("lock") = Some((ctx, tokio::runtime::Handle::current()));
        Ok(())
    }

    fn create_login(&self, user: &UserId, flow: &str) -> Result<Box<dyn LoginProcess>, LoginError> {
        match flow {
            "password" => Ok(Box::new(login::PasswordLogin::default())),
            "qr" => Ok(Box::new(login::QrLogin::new(
                user.to_string(),
                self.shared.clone(),
                Duration::from_secs(self.config.qr_refresh_seconds),
                self.config.qr_codes,
            ))),
            other => Err(LoginError::UnknownFlow(other.to_owned())),
        }
    }

    fn load_login(&self, stored: StoredLogin, events: EventSink) -> Result<Arc<dyn NetworkClient>, NetworkError> {
        if stored.secret.expose().as_slice() != LOGIN_CODE.as_bytes() && !stored.secret.expose().starts_with(b"qr:") {
            return Err(NetworkError::Refused("the stored session is not valid".into()));
        }
        self.shared.sinks.lock().expect("lock").insert(stored.id.clone(), events.clone());
        Ok(Arc::new(DemoClient::new(stored, events, self.shared.clone())))
    }

    async fn run_command(&self, call: CommandCall<'_>) -> Result<String, CommandError> {
        match call.name {
            "list-contacts" => {
                if call.client.is_none() {
                    return Err(CommandError::Failed("you are not logged in: send `login`".into()));
                }
                Ok("Your contacts: `echo` (answers every message). Any other name works with `pm <name>`.".into())
            }
            _ => Err(CommandError::Unknown),
        }
    }

    fn chat_for_alias(&self, suffix: &str) -> Option<RemoteChatId> {
        suffix.strip_prefix("group:").filter(|s| !s.is_empty()).map(|_| RemoteChatId::new(suffix))
    }
}
