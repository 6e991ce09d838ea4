//! One Matrix user's IRC connection (a puppet), with reconnects.
//!
//! The connection runs in its own task: it connects, joins the channels the user is in,
//! turns what arrives into [`RemoteEvent`]s, and reconnects with jittered backoff when the
//! server goes away. Sends while disconnected fail with `NotConnected`, which the core
//! reports to the sender.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use irc::client::Sender as IrcSender;
use irc::proto::{Command, Message, Response};
use mxbridge_core::ids::{LoginId, PortalKey, RemoteChatId, RemoteMessageId, RemoteUserId};
use mxbridge_core::network::content::{Content, MessageKind};
use mxbridge_core::network::event::{EventSink, LoginState, Membership, RemoteEvent, Sender};
use mxbridge_core::network::{
    ChatInfo, ChatKind, ChatMembership, NetworkClient, NetworkError, OutgoingMessage, SentMessage, SessionStore, UserInfo,
};
use mxbridge_core::secret::Secret;
use tokio::sync::Notify;

use crate::config::IrcConfig;
use crate::connection::{self, ConnectOptions, LineKind};
use crate::network::{ACCOUNT_KEY, PASSWORD_KEY, is_channel};
use crate::nick::casefold;
use crate::{format, time};

/// Longest wait between reconnects.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The nicks of every puppet of this bridge (casefolded). Their lines and memberships are
/// Matrix users' own and must not come back into Matrix as ghosts.
#[derive(Clone, Default)]
pub(crate) struct Puppets(Arc<Mutex<HashSet<String>>>);

impl Puppets {
    fn rename(&self, old: &str, new: &str) {
        let mut set = self.0.lock().expect("lock");
        set.remove(&casefold(old));
        set.insert(casefold(new));
    }

    fn contains(&self, nick: &str) -> bool {
        self.0.lock().expect("lock").contains(&casefold(nick))
    }
}

/// A Matrix user's IRC connection.
pub struct IrcClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: IrcConfig,
    nick: Mutex<String>,
    events: EventSink,
    sender: Mutex<Option<IrcSender>>,
    /// Channels to be in, rejoined after every reconnect.
    channels: Mutex<BTreeSet<String>>,
    /// Who is in each channel (casefolded names), so a QUIT or NICK reaches every room.
    members: Mutex<HashMap<String, HashSet<String>>>,
    running: AtomicBool,
    stop: Notify,
    reconnect: Notify,
    sessions: Option<SessionStore>,
    puppets: Puppets,
    sent: AtomicU64,
}

impl IrcClient {
    pub(crate) fn new(config: IrcConfig, nick: String, events: EventSink, sessions: Option<SessionStore>, puppets: Puppets) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                nick: Mutex::new(nick),
                events,
                sender: Mutex::new(None),
                channels: Mutex::new(BTreeSet::new()),
                members: Mutex::new(HashMap::new()),
                running: AtomicBool::new(false),
                stop: Notify::new(),
                reconnect: Notify::new(),
                sessions,
                puppets,
                sent: AtomicU64::new(0),
            }),
        }
    }

    /// The nick in use.
    pub fn nick(&self) -> String {
        self.inner.nick.lock().expect("lock").clone()
    }

    /// Joins a channel now if connected, and after every (re)connect.
    pub fn join(&self, channel: &str) {
        let channel = crate::sanitize::word(channel);
        self.inner.channels.lock().expect("lock").insert(channel.clone());
        if let Some(s) = self.inner.sender.lock().expect("lock").as_ref() {
            let _ = s.send_join(&channel);
        }
    }
}

impl IrcClient {
    /// The login this connection belongs to.
    pub fn login(&self) -> LoginId {
        self.inner.events.login().clone()
    }

    /// Drops the connection and connects again at once (stored credentials are read anew).
    pub fn reconnect(&self) {
        self.inner.reconnect.notify_waiters();
    }

    /// The sender of the current connection, or `NotConnected` between connections.
    fn live_sender(&self) -> Result<IrcSender, NetworkError> {
        self.inner.sender.lock().expect("lock").clone().ok_or_else(|| NetworkError::NotConnected("your IRC connection is not up".into()))
    }

    /// Asks the server for another nick; the change takes effect when it confirms.
    pub fn change_nick(&self, nick: &str) -> Result<(), NetworkError> {
        let sender = self.live_sender()?;
        sender.send(Command::NICK(crate::sanitize::word(nick))).map_err(|e| NetworkError::Other(e.to_string()))
    }
}

impl Inner {
    fn chat_key(&self, target: &str, from: &str) -> PortalKey {
        if is_channel(target) {
            PortalKey::shared(RemoteChatId::new(casefold(target)))
        } else {
            PortalKey::owned_by(RemoteChatId::new(casefold(from)), self.events.login())
        }
    }

    async fn run(self: Arc<Self>) {
        let mut attempt: u32 = 0;
        while self.running.load(Ordering::SeqCst) {
            // Keep the nick the user chose with `nick` across reconnects.
            let nick = self.nick.lock().expect("lock").clone();
            let mut opts = ConnectOptions::new(self.config.server.clone(), self.config.port, nick);
            opts.tls = self.config.tls;
            opts.max_messages_in_burst = self.config.max_messages_in_burst;
            opts.burst_window_secs = self.config.burst_window_secs;
            if let Some(sessions) = &self.sessions {
                let login = self.events.login();
                let read = |key| async move { sessions.get(login, key).await.ok().flatten().and_then(|v| String::from_utf8(v).ok()) };
                opts.password = read(PASSWORD_KEY).await.map(Secret::new);
                opts.account = read(ACCOUNT_KEY).await;
            }
            match connection::connect(&opts).await {
                Ok(mut conn) => {
                    attempt = 0;
                    let previous = std::mem::replace(&mut *self.nick.lock().expect("lock"), conn.nick.clone());
                    self.puppets.rename(&previous, &conn.nick);
                    for channel in self.channels.lock().expect("lock").iter() {
                        let _ = conn.sender.send_join(channel);
                    }
                    *self.sender.lock().expect("lock") = Some(conn.sender.clone());
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
                            _ = self.stop.notified() => {
                                let _ = conn.sender.send_quit("Bridge shutting down");
                                *self.sender.lock().expect("lock") = None;
                                return;
                            }
                        }
                    }
                    *self.sender.lock().expect("lock") = None;
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
                _ = self.stop.notified() => return,
            }
        }
    }

    fn joined(&self, channel: &str, nick: &str) {
        self.members.lock().expect("lock").entry(casefold(channel)).or_default().insert(casefold(nick));
        let chat = PortalKey::shared(RemoteChatId::new(casefold(channel)));
        self.events.send(RemoteEvent::Member { chat, sender: Sender::named(casefold(nick), nick), membership: Membership::Join });
    }

    fn left(&self, channel: &str, nick: &str) {
        if let Some(m) = self.members.lock().expect("lock").get_mut(&casefold(channel)) {
            m.remove(&casefold(nick));
        }
        let chat = PortalKey::shared(RemoteChatId::new(casefold(channel)));
        self.events.send(RemoteEvent::Member { chat, sender: Sender::named(casefold(nick), nick), membership: Membership::Leave });
    }

    fn channels_of(&self, nick: &str) -> Vec<String> {
        let nick = casefold(nick);
        self.members.lock().expect("lock").iter().filter(|(_, m)| m.contains(&nick)).map(|(c, _)| c.clone()).collect()
    }

    fn topic(&self, channel: &str, topic: &str) {
        let chat = PortalKey::shared(RemoteChatId::new(casefold(channel)));
        let info = ChatInfo {
            name: Some(channel.to_owned()),
            topic: Some(topic.to_owned()),
            avatar: None,
            kind: ChatKind::Channel,
            members: Vec::new(),
        };
        self.events.send(RemoteEvent::ChatChanged { chat, sender: None, info });
    }

    fn handle(&self, msg: &Message) {
        let own = self.nick.lock().expect("lock").clone();
        let from = msg.source_nickname().unwrap_or("").to_owned();
        let tag = |name: &str| msg.tags.as_ref().and_then(|tags| tags.iter().find(|t| t.0 == name).and_then(|t| t.1.clone()));
        match &msg.command {
            Command::PRIVMSG(target, text) | Command::NOTICE(target, text) => {
                if from.is_empty() || self.puppets.contains(&from) || from.contains('.') {
                    return; // a puppet's line (ours echoed, or another Matrix user's), or a server notice
                }
                let is_notice = matches!(msg.command, Command::NOTICE(..));
                let (kind, body) = match text.strip_prefix("\x01ACTION ").map(|t| t.trim_end_matches('\x01')) {
                    Some(action) => (MessageKind::Emote, action),
                    None if text.starts_with('\x01') => return, // other CTCP
                    None => (if is_notice { MessageKind::Notice } else { MessageKind::Text }, text.as_str()),
                };
                let id =
                    tag("msgid").unwrap_or_else(|| format!("in-{}-{}", rand::random::<u64>(), self.sent.fetch_add(1, Ordering::Relaxed)));
                self.events.send(RemoteEvent::Message {
                    chat: self.chat_key(target, &from),
                    sender: Sender::named(casefold(&from), from.clone()),
                    id: RemoteMessageId::new(id),
                    timestamp_ms: tag("time").and_then(|t| time::parse_rfc3339_ms(&t)),
                    content: Content { kind, body: format::from_irc(body), media: None },
                    reply_to: None,
                });
            }
            // Other puppets are Matrix users: what they do is already in Matrix.
            _ if casefold(&from) != casefold(&own) && self.puppets.contains(&from) => {}
            Command::JOIN(channel, _, _) => {
                if casefold(&from) == casefold(&own) {
                    let chat = PortalKey::shared(RemoteChatId::new(casefold(channel)));
                    let info =
                        ChatInfo { name: Some(channel.clone()), topic: None, avatar: None, kind: ChatKind::Channel, members: Vec::new() };
                    self.events.send(RemoteEvent::ChatChanged { chat, sender: None, info });
                } else {
                    self.joined(channel, &from);
                }
            }
            Command::PART(channel, _) if casefold(&from) != casefold(&own) => self.left(channel, &from),
            Command::KICK(channel, target, _) if casefold(target) != casefold(&own) => self.left(channel, target),
            Command::QUIT(_) if casefold(&from) != casefold(&own) => {
                for channel in self.channels_of(&from) {
                    self.left(&channel, &from);
                }
            }
            Command::NICK(new) if casefold(&from) == casefold(&own) => {
                self.puppets.rename(&own, new);
                *self.nick.lock().expect("lock") = new.clone();
            }
            Command::NICK(new) => {
                // Ghosts are per nick: the old one leaves, the new one joins.
                for channel in self.channels_of(&from) {
                    self.left(&channel, &from);
                    self.joined(&channel, new);
                }
            }
            Command::TOPIC(channel, Some(topic)) => self.topic(channel, topic),
            Command::Response(Response::RPL_TOPIC, args) if args.len() >= 3 => self.topic(&args[1], &args[2]),
            Command::Response(Response::RPL_NAMREPLY, args) if args.len() >= 4 => {
                for name in args[3].split_whitespace() {
                    let nick = name.trim_start_matches(['~', '&', '@', '%', '+']);
                    if !nick.is_empty() && !self.puppets.contains(nick) {
                        self.joined(&args[2], nick);
                    }
                }
            }
            _ => {}
        }
    }
}

#[async_trait]
impl NetworkClient for IrcClient {
    async fn connect(&self) {
        if !self.inner.running.swap(true, Ordering::SeqCst) {
            tokio::spawn(self.inner.clone().run());
        }
    }

    async fn disconnect(&self) {
        self.inner.running.store(false, Ordering::SeqCst);
        self.inner.stop.notify_waiters();
    }

    fn is_logged_in(&self) -> bool {
        self.inner.sender.lock().expect("lock").is_some()
    }

    async fn logout(&self) {
        self.disconnect().await;
    }

    async fn chat_info(&self, chat: &PortalKey) -> Result<ChatInfo, NetworkError> {
        let name = chat.chat.as_str();
        if is_channel(name) {
            Ok(ChatInfo { name: Some(name.to_owned()), topic: None, avatar: None, kind: ChatKind::Channel, members: Vec::new() })
        } else {
            Ok(ChatInfo::direct(RemoteUserId::new(name), Some(UserInfo { display_name: Some(name.to_owned()), avatar: None })))
        }
    }

    async fn user_info(&self, user: &RemoteUserId) -> Result<UserInfo, NetworkError> {
        Ok(UserInfo { display_name: Some(user.as_str().to_owned()), avatar: None })
    }

    fn chat_membership(&self) -> Option<&dyn ChatMembership> {
        Some(self)
    }

    async fn send(&self, msg: OutgoingMessage) -> Result<SentMessage, NetworkError> {
        let sender = self.live_sender()?;
        let mut text = format::to_irc(&msg.content.body);
        if let Some(media) = &msg.content.media {
            match &media.url {
                Some(url) => text = if text.is_empty() { url.clone() } else { format!("{text} {url}") },
                None => return Err(NetworkError::Unsupported("sending files to IRC".into())),
            }
        }
        if let Some(name) = &msg.relayed_for {
            text = format!("<{}> {text}", crate::sanitize::one_line(name));
        }
        let kind = match msg.content.kind {
            MessageKind::Text => LineKind::Message,
            MessageKind::Notice => LineKind::Notice,
            MessageKind::Emote => LineKind::Action,
        };
        let target = msg.portal.chat.as_str();
        // A channel with +n (the default) drops lines from outsiders: be in it first.
        if is_channel(target) && !self.inner.channels.lock().expect("lock").iter().any(|c| casefold(c) == casefold(target)) {
            self.join(target);
        }
        let lines = connection::send_text(&sender, target, kind, &text).map_err(|e| NetworkError::Other(e.to_string()))?;
        if lines == 0 {
            return Err(NetworkError::Refused("the message is empty after removing what IRC cannot carry".into()));
        }
        let n = self.inner.sent.fetch_add(1, Ordering::Relaxed);
        Ok(SentMessage { id: RemoteMessageId::new(format!("out-{}-{n}", rand::random::<u64>())), timestamp_ms: None })
    }
}

#[async_trait]
impl ChatMembership for IrcClient {
    async fn join(&self, portal: &PortalKey) -> Result<(), NetworkError> {
        if is_channel(portal.chat.as_str()) {
            IrcClient::join(self, portal.chat.as_str());
        }
        Ok(())
    }

    async fn leave(&self, portal: &PortalKey) -> Result<(), NetworkError> {
        let channel = portal.chat.as_str();
        if !is_channel(channel) {
            return Ok(());
        }
        self.inner.channels.lock().expect("lock").retain(|c| casefold(c) != casefold(channel));
        if let Some(s) = self.inner.sender.lock().expect("lock").as_ref() {
            s.send_part(channel).map_err(|e| NetworkError::Other(e.to_string()))?;
        }
        Ok(())
    }
}
