//! One Matrix user's IRC connection (a puppet): its state and its connect loop.
//!
//! The connection runs in its own task: it waits for a connect slot (bounded across all
//! puppets, so a server restart is not answered with a storm), connects, joins the user's
//! channels, hands what arrives to [`crate::incoming`], and reconnects with jittered backoff
//! when the server goes away. Sends wait for the connection for `send_queue_secs` instead
//! of failing at once. The nick and the channel list are kept in the session store, so
//! they survive a bridge restart.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use irc::proto::Command;
use mxbridge_core::clock::now_ms;
use mxbridge_core::ids::LoginId;
use mxbridge_core::media_links::MediaLinks;
use mxbridge_core::network::event::{EventSink, LoginState, RemoteEvent};
use mxbridge_core::network::{NetworkError, SessionStore};
use mxbridge_core::secret::Secret;
use tokio::sync::{Notify, Semaphore, oneshot, watch};

use crate::config::IrcConfig;
use crate::connection::{self, ConnectOptions, SaslOutcome};
use crate::ids::IdScheme;
use crate::nick::casefold;
use crate::recent::RecentLines;

/// Longest wait between reconnects.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Session-store keys of a puppet.
pub(crate) mod keys {
    /// The stored NickServ/SASL password.
    pub(crate) const PASSWORD: &str = "password";
    /// The account name used with it.
    pub(crate) const ACCOUNT: &str = "account";
    /// The nick last in use.
    pub(crate) const NICK: &str = "nick";
    /// The channels to be in, one per line.
    pub(crate) const CHANNELS: &str = "channels";
    /// Present when the user is exempt from idle disconnects.
    pub(crate) const ALWAYS_ACTIVE: &str = "always_active";
    /// Present when the user's nick should not become a pill.
    pub(crate) const NO_MENTIONS: &str = "no_mentions";
    /// Present when the user picked their nick with `nick`: it then no longer follows their
    /// display name.
    pub(crate) const NICK_CHOSEN: &str = "nick_chosen";
}

/// The nicks of every puppet of this bridge (casefolded) and whose they are. Their lines
/// and memberships are Matrix users' own and must not come back into Matrix as ghosts.
#[derive(Clone, Default)]
pub(crate) struct Puppets(Arc<Mutex<HashMap<String, String>>>);

impl Puppets {
    pub(crate) fn rename(&self, old: &str, new: &str, user: &str) {
        let mut map = self.0.lock().expect("lock");
        if map.get(&casefold(old)).is_some_and(|u| u == user) {
            map.remove(&casefold(old));
        }
        map.insert(casefold(new), user.to_owned());
    }

    pub(crate) fn contains(&self, nick: &str) -> bool {
        self.0.lock().expect("lock").contains_key(&casefold(nick))
    }

    /// The Matrix user behind a puppet nick.
    pub(crate) fn user_of(&self, nick: &str) -> Option<String> {
        self.0.lock().expect("lock").get(&casefold(nick)).cloned()
    }
}

/// A puppet's state could not be stored.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StateNotStored {
    /// The network has not been started, so there is no store yet.
    #[error("the bridge has not finished starting; try again")]
    NotStarted,
    /// The store failed.
    #[error("{0}; try again later")]
    Store(String),
}

/// What all puppets of one network share.
pub(crate) struct Shared {
    pub(crate) config: IrcConfig,
    /// How this network's chats and users are named to the core.
    pub(crate) ids: IdScheme,
    /// The names of all networks of this bridge, this one's among them.
    pub(crate) network_names: Vec<String>,
    pub(crate) sessions: OnceLock<SessionStore>,
    /// Links to files and long texts, when the bridge has a public address.
    pub(crate) links: OnceLock<MediaLinks>,
    pub(crate) puppets: Puppets,
    pub(crate) connect_slots: Semaphore,
    /// Each Matrix user's connection, by user ID.
    pub(crate) clients: Mutex<HashMap<String, IrcClient>>,
    /// Recent channel lines, to quote in replies.
    pub(crate) recent: Mutex<RecentLines>,
    /// Which Matrix user's puppet speaks for each channel (casefolded).
    pub(crate) readers: mxbridge_core::network::ChatReaders,
    /// Matrix users who turned the `mentions` feature off.
    pub(crate) no_mentions: Mutex<HashSet<String>>,
}

impl Shared {
    pub(crate) fn new(config: IrcConfig, ids: IdScheme, network_names: Vec<String>) -> Arc<Self> {
        let slots = config.max_concurrent_connects.max(1);
        Arc::new(Self {
            config,
            ids,
            network_names,
            sessions: OnceLock::new(),
            links: OnceLock::new(),
            puppets: Puppets::default(),
            connect_slots: Semaphore::new(slots),
            clients: Mutex::new(HashMap::new()),
            recent: Mutex::new(RecentLines::new(2_000)),
            readers: Default::default(),
            no_mentions: Mutex::new(HashSet::new()),
        })
    }

    /// The Matrix user a nick in an IRC line should mention, if it is a puppet's nick and
    /// its user wants mentions.
    pub(crate) fn mention_target(&self, nick: &str) -> Option<String> {
        self.puppets.user_of(nick).filter(|user| !self.no_mentions.lock().expect("lock").contains(user))
    }

    /// The connection of a Matrix user, if they have one.
    pub(crate) fn client_of(&self, user: &str) -> Option<IrcClient> {
        self.clients.lock().expect("lock").get(user).cloned()
    }
}

/// The live connection: its sender and what the server agreed to.
#[derive(Clone)]
pub(crate) struct Link {
    pub(crate) sender: crate::pacing::PacedSender,
    pub(crate) caps: Arc<HashSet<String>>,
    pub(crate) sasl: SaslOutcome,
    /// The server's `draft/multiline` limits, when it has the capability.
    pub(crate) multiline: Option<connection::MultilineLimits>,
}

impl Link {
    pub(crate) fn has(&self, cap: &str) -> bool {
        self.caps.contains(cap)
    }
}

/// A line we sent, waiting for the server's echo to learn its msgid.
pub(crate) struct PendingEcho {
    pub(crate) target: String,
    pub(crate) lines_left: usize,
    pub(crate) msgid: Option<String>,
    /// The `label` of the first line (labeled-response): the server's answer to that line
    /// carries it, an error as much as the echo.
    pub(crate) label: Option<String>,
    /// The msgid once every line came back, or why the server refused the message.
    pub(crate) done: Option<oneshot::Sender<Result<Option<String>, String>>>,
}

/// A WHOIS being answered.
pub(crate) struct PendingWhois {
    pub(crate) nick: String,
    pub(crate) lines: Vec<String>,
    pub(crate) done: Option<oneshot::Sender<Vec<String>>>,
}

/// A Matrix user's IRC connection. Cheap to clone.
#[derive(Clone)]
pub struct IrcClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) shared: Arc<Shared>,
    /// The Matrix user this connection is for.
    pub(crate) user: String,
    pub(crate) nick: Mutex<String>,
    pub(crate) events: EventSink,
    pub(crate) link: watch::Sender<Option<Link>>,
    /// Channels to be in, rejoined after every reconnect and bridge restart.
    pub(crate) channels: Mutex<BTreeSet<String>>,
    /// Keys (`+k`) of channels joined with one, by casefolded name, for every rejoin of this
    /// connection's life (kept in memory only: a key is a password).
    pub(crate) channel_keys: Mutex<HashMap<String, String>>,
    /// Who is in each channel (casefolded names), so a QUIT or NICK reaches every room.
    pub(crate) members: Mutex<HashMap<String, HashMap<String, u8>>>,
    running: AtomicBool,
    /// Bumped on every start and stop: a connect loop runs while it holds the current value.
    generation: watch::Sender<u64>,
    stop_reason: Mutex<&'static str>,
    reconnect: Notify,
    restored: tokio::sync::OnceCell<()>,
    persist_lock: tokio::sync::Mutex<()>,
    pub(crate) counter: AtomicU64,
    last_active_ms: AtomicI64,
    pub(crate) always_active: AtomicBool,
    pub(crate) pending_echoes: Mutex<VecDeque<PendingEcho>>,
    pub(crate) pending_quits: Mutex<HashMap<String, (u64, Vec<String>)>>,
    pub(crate) pending_whois: Mutex<Vec<PendingWhois>>,
}

impl Inner {
    /// `JOIN channel [key]`, with the key it was joined with.
    fn join_command(&self, channel: &str) -> Command {
        let key = self.channel_keys.lock().expect("lock").get(&casefold(channel)).cloned();
        Command::JOIN(channel.to_owned(), key, None)
    }
}

impl IrcClient {
    pub(crate) fn new(shared: Arc<Shared>, user: String, nick: String, events: EventSink) -> Self {
        let (link, _) = watch::channel(None);
        Self {
            inner: Arc::new(Inner {
                shared,
                user,
                nick: Mutex::new(nick),
                events,
                link,
                channels: Mutex::new(BTreeSet::new()),
                channel_keys: Mutex::new(HashMap::new()),
                members: Mutex::new(HashMap::new()),
                running: AtomicBool::new(false),
                generation: watch::channel(0).0,
                stop_reason: Mutex::new("Bridge shutting down"),
                reconnect: Notify::new(),
                restored: tokio::sync::OnceCell::new(),
                persist_lock: tokio::sync::Mutex::new(()),
                counter: AtomicU64::new(0),
                last_active_ms: AtomicI64::new(now_ms()),
                always_active: AtomicBool::new(false),
                pending_echoes: Mutex::new(VecDeque::new()),
                pending_quits: Mutex::new(HashMap::new()),
                pending_whois: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The nick in use.
    pub fn nick(&self) -> String {
        self.inner.nick.lock().expect("lock").clone()
    }

    /// The login this connection belongs to.
    pub fn login(&self) -> LoginId {
        self.inner.events.login().clone()
    }

    /// The channels this connection is (or will be) in.
    pub fn channels(&self) -> Vec<String> {
        self.inner.channels.lock().expect("lock").iter().cloned().collect()
    }

    /// Whether the connection is up.
    pub fn is_connected(&self) -> bool {
        self.inner.link.borrow().is_some()
    }

    /// Joins a channel now if connected, and after every (re)connect; starts the
    /// connection if it was idle.
    pub fn join(&self, channel: &str) {
        self.join_with_key(channel, None);
    }

    /// Joins a channel with its key (`+k`), now or as soon as the connection is up, and
    /// again on every reconnect.
    pub fn join_with_key(&self, channel: &str, key: Option<&str>) {
        let channel = crate::sanitize::word(channel);
        if let Some(key) = key {
            self.inner.channel_keys.lock().expect("lock").insert(casefold(&channel), crate::sanitize::word(key));
        }
        let added = {
            let mut channels = self.inner.channels.lock().expect("lock");
            if channels.iter().any(|c| casefold(c) == casefold(&channel)) { false } else { channels.insert(channel.clone()) }
        };
        if let Some(link) = self.inner.link.borrow().as_ref()
            && let Err(e) = link.sender.send(self.inner.join_command(&channel))
        {
            tracing::debug!(error = %e, "a JOIN waits for the next connection");
        }
        if added {
            self.inner.clone().persist();
        }
        self.touch();
        self.ensure_running();
    }

    /// Leaves a channel and forgets it.
    pub fn part(&self, channel: &str, reason: Option<&str>) {
        self.inner.channels.lock().expect("lock").retain(|c| casefold(c) != casefold(channel));
        self.inner.members.lock().expect("lock").remove(&casefold(channel));
        if let Some(link) = self.inner.link.borrow().as_ref() {
            let reason = reason.map(crate::sanitize::one_line);
            let _ = link.sender.send(Command::PART(crate::sanitize::word(channel), reason));
        }
        self.inner.clone().persist();
    }

    /// Forgets a channel the server removed us from (kick), without a PART.
    pub(crate) fn forget_channel(&self, channel: &str) {
        self.inner.channels.lock().expect("lock").retain(|c| casefold(c) != casefold(channel));
        self.inner.members.lock().expect("lock").remove(&casefold(channel));
        self.inner.clone().persist();
    }

    /// Drops the connection and connects again at once (stored credentials are read anew).
    /// Returns once connected (with how SASL went), or `None` after `wait`.
    pub(crate) async fn reconnect(&self, wait: Duration) -> Option<Link> {
        let mut rx = self.inner.link.subscribe();
        rx.borrow_and_update();
        if self.inner.running.load(Ordering::SeqCst) {
            self.inner.reconnect.notify_waiters();
        } else {
            self.ensure_running();
        }
        let fresh = tokio::time::timeout(wait, async {
            loop {
                rx.changed().await.ok()?;
                if let Some(link) = rx.borrow_and_update().clone() {
                    return Some(link);
                }
            }
        });
        fresh.await.ok().flatten()
    }

    /// Quits IRC and forgets every channel; the next message or `join` connects again.
    pub async fn quit(&self) -> Vec<String> {
        let channels: Vec<String> = std::mem::take(&mut *self.inner.channels.lock().expect("lock")).into_iter().collect();
        self.inner.members.lock().expect("lock").clear();
        self.inner.clone().persist();
        self.stop("Leaving").await;
        channels
    }

    /// Asks the server for another nick; the change takes effect when it confirms.
    pub fn change_nick(&self, nick: &str) -> Result<(), NetworkError> {
        self.touch();
        let link = self.live_link()?;
        link.sender.send(Command::NICK(crate::sanitize::word(nick))).map_err(|e| NetworkError::Other(e.to_string()))
    }

    /// The current connection, or `NotConnected` between connections.
    pub(crate) fn live_link(&self) -> Result<Link, NetworkError> {
        self.inner.link.borrow().clone().ok_or_else(|| NetworkError::NotConnected("your IRC connection is not up".into()))
    }

    /// The connection, started if idle and waited for up to `send_queue_secs`: a message
    /// sent during a reconnect is delivered once it is back, not refused.
    pub(crate) async fn wait_link(&self) -> Result<Link, NetworkError> {
        self.ensure_running();
        let mut rx = self.inner.link.subscribe();
        let wait = Duration::from_secs(self.inner.shared.config.send_queue_secs);
        match tokio::time::timeout(wait, rx.wait_for(Option::is_some)).await {
            Ok(Ok(link)) => Ok(link.clone().expect("waited for Some")),
            _ => Err(NetworkError::NotConnected(format!("the IRC connection did not come back within {}s", wait.as_secs()))),
        }
    }

    /// Marks the user as active now (they spoke, joined or ran a command).
    pub(crate) fn touch(&self) {
        self.inner.last_active_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Whether the puppet has been idle longer than the configured timeout.
    pub(crate) fn is_idle(&self, now: i64) -> bool {
        let timeout = self.inner.shared.config.idle_timeout_secs;
        timeout > 0
            && self.inner.running.load(Ordering::SeqCst)
            && !self.inner.always_active.load(Ordering::Relaxed)
            && now - self.inner.last_active_ms.load(Ordering::Relaxed) > (timeout as i64).saturating_mul(1000)
    }

    /// Starts the connect loop if it is not running.
    pub(crate) fn ensure_running(&self) {
        if !self.inner.running.swap(true, Ordering::SeqCst) {
            let mut mine = 0;
            self.inner.generation.send_modify(|g| {
                *g += 1;
                mine = *g;
            });
            tokio::spawn(self.inner.clone().run(mine));
        }
    }

    /// Stops the connect loop, quitting with `reason`.
    pub(crate) async fn stop(&self, reason: &'static str) {
        *self.inner.stop_reason.lock().expect("lock") = reason;
        self.inner.running.store(false, Ordering::SeqCst);
        self.inner.generation.send_modify(|g| *g += 1);
        self.inner.link.send_replace(None);
        self.inner.members.lock().expect("lock").clear();
    }

    /// A fresh id for a line without a server msgid.
    pub(crate) fn local_id(&self, prefix: &str) -> String {
        format!("{prefix}-{}-{}", rand::random::<u64>(), self.inner.counter.fetch_add(1, Ordering::Relaxed))
    }
}

impl Inner {
    pub(crate) async fn read(&self, key: &str) -> Option<String> {
        let sessions = self.shared.sessions.get()?;
        sessions.get(self.events.login(), key).await.ok().flatten().and_then(|v| String::from_utf8(v).ok())
    }

    /// Stores (or with `None` removes) one value of the puppet's state.
    pub(crate) async fn store(&self, key: &str, value: Option<&str>) -> Result<(), StateNotStored> {
        let sessions = self.shared.sessions.get().ok_or(StateNotStored::NotStarted)?;
        let login = self.events.login();
        match value {
            Some(v) => sessions.set(login, key, v.as_bytes()).await,
            None => sessions.delete(login, key).await,
        }
        .map_err(|e| StateNotStored::Store(e.to_string()))
    }

    /// [`Inner::store`] for state the puppet keeps by itself: a failure is only logged (and
    /// before the network started there is no store yet, as in the benchmarks).
    async fn write(&self, key: &str, value: Option<&str>) {
        match self.store(key, value).await {
            Ok(()) | Err(StateNotStored::NotStarted) => {}
            Err(e) => tracing::warn!(login = %self.events.login(), key, error = %e, "could not store puppet state"),
        }
    }

    /// Brings back the nick and channels of before the bridge restarted (once).
    async fn restore(&self) {
        self.restored
            .get_or_init(|| async {
                if let Some(nick) = self.read(keys::NICK).await.filter(|n| !n.is_empty()) {
                    let previous = std::mem::replace(&mut *self.nick.lock().expect("lock"), nick.clone());
                    self.shared.puppets.rename(&previous, &nick, &self.user);
                }
                if let Some(list) = self.read(keys::CHANNELS).await {
                    let mut channels = self.channels.lock().expect("lock");
                    for c in list.lines().filter(|c| crate::network::is_channel(c)) {
                        if !channels.iter().any(|have| casefold(have) == casefold(c)) {
                            channels.insert(c.to_owned());
                        }
                    }
                }
                self.always_active.store(self.read(keys::ALWAYS_ACTIVE).await.is_some(), Ordering::Relaxed);
                if self.read(keys::NO_MENTIONS).await.is_some() {
                    self.shared.no_mentions.lock().expect("lock").insert(self.user.clone());
                }
            })
            .await;
    }

    /// Saves the nick and channel list in the background, in order.
    pub(crate) fn persist(self: Arc<Self>) {
        tokio::spawn(async move {
            let _order = self.persist_lock.lock().await;
            let nick = self.nick.lock().expect("lock").clone();
            let channels: Vec<String> = self.channels.lock().expect("lock").iter().cloned().collect();
            self.write(keys::NICK, Some(&nick)).await;
            self.write(keys::CHANNELS, Some(&channels.join("\n"))).await;
        });
    }

    async fn run(self: Arc<Self>, generation: u64) {
        self.restore().await;
        let mut current = self.generation.subscribe();
        let mut attempt: u32 = 0;
        while *current.borrow() == generation {
            // Keep the nick the user chose with `nick` across reconnects.
            let nick = self.nick.lock().expect("lock").clone();
            let config = &self.shared.config;
            let mut opts = ConnectOptions::new(config.server.clone(), config.port, nick);
            opts.tls = config.tls;
            opts.max_messages_in_burst = config.max_messages_in_burst;
            opts.burst_window_secs = config.burst_window_secs;
            opts.password = self.read(keys::PASSWORD).await.map(Secret::new);
            opts.account = self.read(keys::ACCOUNT).await;
            let connected = {
                let _slot = tokio::select! {
                    slot = self.shared.connect_slots.acquire() => slot,
                    _ = current.wait_for(|g| *g != generation) => return,
                };
                tokio::select! {
                    result = connection::connect(&opts) => result,
                    _ = current.wait_for(|g| *g != generation) => return,
                }
            };
            match connected {
                Ok(mut conn) => {
                    attempt = 0;
                    let previous = std::mem::replace(&mut *self.nick.lock().expect("lock"), conn.nick.clone());
                    self.shared.puppets.rename(&previous, &conn.nick, &self.user);
                    for channel in self.channels.lock().expect("lock").iter() {
                        let _ = conn.sender.send(self.join_command(channel));
                    }
                    let multiline = conn
                        .caps
                        .contains("draft/multiline")
                        .then(|| conn.cap_values.get("draft/multiline").and_then(|v| connection::MultilineLimits::parse(v)))
                        .flatten();
                    let link = Link { sender: conn.sender.clone(), caps: Arc::new(conn.caps.clone()), sasl: conn.sasl, multiline };
                    self.link.send_replace(Some(link));
                    self.events.send(RemoteEvent::LoginState(LoginState::Connected));
                    loop {
                        tokio::select! {
                            msg = conn.incoming.recv() => match msg {
                                Some(msg) => self.handle(&msg),
                                None => break,
                            },
                            _ = self.reconnect.notified() => {
                                let _ = conn.sender.send_quit("Reconnecting");
                                attempt = 0;
                                break;
                            }
                            _ = current.wait_for(|g| *g != generation) => {
                                let reason = *self.stop_reason.lock().expect("lock");
                                let _ = conn.sender.send_quit(reason);
                                self.link.send_replace(None);
                                self.fail_pending();
                                return;
                            }
                        }
                    }
                    self.link.send_replace(None);
                    self.fail_pending();
                    self.members.lock().expect("lock").clear();
                    self.events
                        .send(RemoteEvent::LoginState(LoginState::TransientDisconnect("the IRC server closed the connection".into())));
                }
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "IRC connection failed");
                    if attempt == 0 {
                        self.events.send(RemoteEvent::LoginState(LoginState::TransientDisconnect(e.to_string())));
                    }
                }
            }
            attempt = attempt.saturating_add(1);
            // Jitter spreads reconnects of many puppets after a server restart.
            let base = Duration::from_millis(500) * 2u32.saturating_pow(attempt.min(7));
            let wait = base.min(MAX_BACKOFF).mul_f64(0.5 + rand::random::<f64>() / 2.0);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = current.wait_for(|g| *g != generation) => return,
            }
        }
    }

    /// The connection is gone: whoever waits for an echo or a WHOIS hears it now (their
    /// channel closes).
    fn fail_pending(&self) {
        self.pending_echoes.lock().expect("lock").clear();
        self.pending_whois.lock().expect("lock").clear();
    }

    /// Saves one flag of the user's settings.
    pub(crate) async fn set_flag(&self, key: &str, on: bool) {
        self.write(key, on.then_some("1")).await;
    }
}
