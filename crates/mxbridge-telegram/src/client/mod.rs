//! One logged-in Telegram account as the core sees it: Matrix actions become backend calls
//! (through the flood gate), and backend updates become [`RemoteEvent`]s.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use mxbridge_core::ids::{LoginId, PortalKey, RemoteMessageId, RemoteUserId};
use mxbridge_core::network::content::Content;
use mxbridge_core::network::event::{EventSink, LoginState, RemoteEvent, Sender};
use mxbridge_core::network::{
    ChatInfo, ChatKind, ChatMember, Edits, GhostIds, Location, Locations, NetworkClient, NetworkError, OutgoingMessage, Reactions,
    ReadReceipts, Redactions, Role, SentMessage, Typing, UserInfo,
};
use ruma::OwnedUserId;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::avatars::Avatars;
use crate::backend::{BackendError, Connection, Peer, TelegramAccount, TgChat, TgChatKind, TgUpdate, TgUser};
use crate::config::ValidConfig;
use crate::convert::{MentionMap, to_content, to_outgoing};
use crate::flood::FloodGate;
use crate::ids;
use crate::session::{AccountStore, INITIAL_SYNC_DONE};

mod backfill;
mod people;

/// A logged-in account.
pub struct TelegramClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    login: LoginId,
    owner: OwnedUserId,
    account: Arc<dyn TelegramAccount>,
    events: EventSink,
    ghosts: Option<GhostIds>,
    store: AccountStore,
    config: ValidConfig,
    flood: FloodGate,
    connected: AtomicBool,
    /// Messages the bridge sent, whose echoes from Telegram are skipped.
    sent: Mutex<HashSet<(Peer, i64)>>,
    /// Calls the user was already told about.
    calls_told: Mutex<HashSet<i64>>,
    /// Profile pictures given to ghosts.
    avatars: Avatars,
    /// Telegram user ids by lowercased `@username`, learnt from contacts, members and
    /// senders, so that `@username` mentions become pills (`None`: no such user).
    usernames: Mutex<HashMap<String, Option<i64>>>,
    pump: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

pub(crate) fn to_network_error(e: BackendError) -> NetworkError {
    match e {
        BackendError::Unreachable(why) => NetworkError::NotConnected(why),
        BackendError::Revoked(why) => NetworkError::NotConnected(format!("{why}; send `login` to log in again")),
        BackendError::NotFound(what) => NetworkError::NotFound(what),
        BackendError::Refused(why) => NetworkError::Refused(why),
        e @ BackendError::FloodWait(_) => NetworkError::Refused(format!("{e}; send it again later")),
        BackendError::Other(why) => NetworkError::Other(why),
    }
}

/// What the user is told when Telegram did not confirm a logout: the bridge's session may
/// still be active, and only the user can end it now.
fn unconfirmed_logout_notice(e: &BackendError, device_model: &str) -> String {
    format!(
        "Telegram did not confirm the logout ({e}), so the bridge's session may still be active on your account. End it in the Telegram app: Settings → Devices, then the session named \"{device_model}\" → Terminate."
    )
}

/// What the user is told when Telegram makes the bridge wait.
fn flood_wait_notice(seconds: u64) -> String {
    let how_long = if seconds < 120 { format!("{seconds} seconds") } else { format!("{} minutes", seconds.div_ceil(60)) };
    format!(
        "Telegram asked the bridge to wait {how_long} before sending more (flood control). Your messages are queued and go out, in order, after the wait: no need to send them again."
    )
}

fn peer_of(portal: &PortalKey) -> Result<Peer, NetworkError> {
    ids::peer_of(&portal.chat).ok_or_else(|| NetworkError::NotFound(format!("`{}` is not a Telegram chat", portal.chat)))
}

fn message_of(id: &RemoteMessageId) -> Result<i64, NetworkError> {
    ids::telegram_message(id).ok_or_else(|| NetworkError::Unsupported("this message cannot be changed on Telegram".into()))
}

fn user_info(user: &TgUser) -> UserInfo {
    UserInfo { display_name: Some(user.name.clone()), avatar: None }
}

fn sender(user: &TgUser, is_self: bool) -> Sender {
    // Some updates name a user only by id (an empty name): the ghost keeps the name it has.
    let info = (!user.name.is_empty()).then(|| user_info(user));
    Sender { id: ids::user_id(user.id), info, is_self }
}

impl TelegramClient {
    pub(crate) fn new(
        login: LoginId,
        owner: OwnedUserId,
        account: Arc<dyn TelegramAccount>,
        events: EventSink,
        ghosts: Option<GhostIds>,
        store: AccountStore,
        config: ValidConfig,
    ) -> Self {
        let flood = FloodGate::new(config.flood).with_notice({
            let events = events.clone();
            Arc::new(move |seconds| {
                events.send(RemoteEvent::Notice { text: flood_wait_notice(seconds) });
            })
        });
        Self {
            inner: Arc::new(Inner {
                login,
                owner,
                account,
                events,
                ghosts,
                store,
                config,
                flood,
                connected: AtomicBool::new(false),
                sent: Mutex::default(),
                calls_told: Mutex::default(),
                avatars: Avatars::default(),
                usernames: Mutex::default(),
                pump: Mutex::default(),
            }),
        }
    }
}

impl Inner {
    fn portal(&self, peer: Peer) -> PortalKey {
        PortalKey::owned_by(ids::chat_id(peer), &self.login)
    }

    fn matrix_id_of(&self, telegram_id: i64) -> Option<String> {
        if telegram_id == self.account.me().id {
            return Some(self.owner.to_string());
        }
        self.ghosts.as_ref().map(|g| g.user_id(&ids::user_id(telegram_id)).to_string())
    }

    fn telegram_id_of(&self, matrix_id: &str) -> Option<i64> {
        if matrix_id == self.owner.as_str() {
            return Some(self.account.me().id);
        }
        ids::telegram_user(&self.ghosts.as_ref()?.remote_of(matrix_id)?)
    }

    fn chat_info(&self, chat: &TgChat) -> ChatInfo {
        let me = self.account.me().id;
        let members: Vec<ChatMember> = chat
            .members
            .iter()
            .filter(|m| m.user.id != me)
            .map(|m| ChatMember {
                id: ids::user_id(m.user.id),
                info: Some(user_info(&m.user)),
                role: if m.admin { Role::Admin } else { Role::Member },
            })
            .collect();
        match chat.kind {
            TgChatKind::Private => {
                let Peer::User(other) = chat.peer else { unreachable!("private chats are with users") };
                let info = members.first().and_then(|m| m.info.clone());
                ChatInfo::direct(ids::user_id(other), info)
            }
            TgChatKind::Group | TgChatKind::Channel => ChatInfo {
                name: Some(chat.title.clone()),
                topic: chat.about.clone(),
                avatar: None,
                // Only a channel's admins post in it: its portal is read-only for the user.
                kind: if chat.kind == TgChatKind::Channel { ChatKind::Broadcast } else { ChatKind::Group },
                members,
            },
        }
    }

    /// The account's own role where it matters: an admin of a broadcast channel may post in
    /// its otherwise read-only portal, and loses that when no longer an admin.
    fn own_role(&self, chat: &TgChat) -> Option<Role> {
        let me = self.account.me().id;
        let admin = chat.members.iter().any(|m| m.user.id == me && m.admin);
        (chat.kind == TgChatKind::Channel).then_some(if admin { Role::Admin } else { Role::Member })
    }

    /// Opens portals for the recent chats (newest first, within the configured age).
    pub(crate) async fn sync_chats(self: &Arc<Self>) -> Result<usize, BackendError> {
        let dialogs = self.flood.run("dialogs", || self.account.dialogs(self.config.recent_chats)).await?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
        let oldest = self.config.max_chat_age.map(|age| now - age.as_secs() as i64);
        let mut opened = 0;
        for dialog in dialogs.into_iter().take(self.config.recent_chats) {
            if oldest.is_some_and(|o| dialog.last_message_at < o) {
                continue;
            }
            // Telegram's chat list does not carry a group's members: they are asked for, so
            // that the group's portal opens with them as ghosts.
            let peer = dialog.chat.peer;
            let chat = match dialog.chat.kind {
                TgChatKind::Group => self.flood.run("chat", || self.account.chat(peer)).await.unwrap_or_else(|e| {
                    warn!(login = %self.login, chat = ?peer, error = %e, "could not list a group's members");
                    dialog.chat
                }),
                TgChatKind::Private | TgChatKind::Channel => dialog.chat,
            };
            let info = self.chat_info(&chat);
            for member in &chat.members {
                self.learn(&member.user);
                self.refresh_avatar(&member.user);
            }
            self.events.send(RemoteEvent::ChatChanged { chat: self.portal(peer), sender: None, info });
            if let Some(role) = self.own_role(&chat) {
                self.events.send(RemoteEvent::RoleChanged { chat: self.portal(peer), sender: None, role });
            }
            opened += 1;
        }
        Ok(opened)
    }

    async fn handle(self: &Arc<Self>, mut update: TgUpdate) {
        if let TgUpdate::NewMessage(m) | TgUpdate::Edited(m) = &mut update {
            self.learn(&m.sender);
            self.resolve_mentions(&mut m.text).await;
        }
        let mentions_to_matrix = |id: i64| self.matrix_id_of(id);
        let mentions_to_telegram = |u: &str| self.telegram_id_of(u);
        let mentions = MentionMap { to_matrix: &mentions_to_matrix, to_telegram: &mentions_to_telegram };
        let event = match update {
            TgUpdate::Connection(Connection::Connected) => {
                self.connected.store(true, Ordering::SeqCst);
                self.events.send(RemoteEvent::LoginState(LoginState::Connected));
                if !matches!(self.store.get(INITIAL_SYNC_DONE).await, Ok(Some(_))) {
                    match self.sync_chats().await {
                        Ok(n) => {
                            info!(login = %self.login, chats = n, "opened portals for the recent chats");
                            let _ = self.store.set(INITIAL_SYNC_DONE, b"1").await;
                        }
                        Err(e) => warn!(login = %self.login, error = %e, "could not list the recent chats"),
                    }
                    if let Err(e) = self.sync_contacts().await {
                        warn!(login = %self.login, error = %e, "could not list the contacts");
                    }
                }
                return;
            }
            TgUpdate::Connection(Connection::Reconnecting(why)) => {
                self.connected.store(false, Ordering::SeqCst);
                RemoteEvent::LoginState(LoginState::TransientDisconnect(why))
            }
            TgUpdate::Connection(Connection::Revoked(why)) => {
                self.connected.store(false, Ordering::SeqCst);
                RemoteEvent::LoginState(LoginState::LoggedOut(why))
            }
            TgUpdate::NewMessage(m) => {
                if m.outgoing && self.sent.lock().expect("lock").remove(&(m.peer, m.id)) {
                    return; // the echo of what the bridge sent
                }
                self.refresh_avatar(&m.sender);
                RemoteEvent::Message {
                    chat: self.portal(m.peer),
                    sender: sender(&m.sender, m.outgoing),
                    id: ids::message_id(m.id),
                    timestamp_ms: Some(m.date * 1000),
                    content: to_content(&m, &mentions),
                    reply_to: m.reply_to.map(ids::message_id),
                }
            }
            TgUpdate::Edited(m) => RemoteEvent::Edit {
                chat: self.portal(m.peer),
                sender: sender(&m.sender, m.outgoing),
                target: ids::message_id(m.id),
                content: to_content(&m, &mentions),
            },
            TgUpdate::Deleted { peer, ids: deleted } => {
                // Telegram does not say who deleted: the bot redacts.
                for id in deleted {
                    self.events.send(RemoteEvent::Deleted {
                        chat: self.portal(peer),
                        sender: Sender::user(RemoteUserId::new("")),
                        target: ids::message_id(id),
                    });
                }
                return;
            }
            TgUpdate::Reaction { peer, id, user, emoji, previous } => {
                let is_self = user.id == self.account.me().id;
                if let Some(old) = previous {
                    self.events.send(RemoteEvent::ReactionRemoved {
                        chat: self.portal(peer),
                        sender: sender(&user, is_self),
                        target: ids::message_id(id),
                        key: old,
                    });
                }
                let Some(key) = emoji else { return };
                RemoteEvent::Reaction { chat: self.portal(peer), sender: sender(&user, is_self), target: ids::message_id(id), key }
            }
            TgUpdate::Typing { peer, user, typing } => {
                RemoteEvent::Typing { chat: self.portal(peer), sender: sender(&user, false), typing }
            }
            TgUpdate::Read { peer, user, up_to } => {
                RemoteEvent::Read { chat: self.portal(peer), sender: sender(&user, false), up_to: ids::message_id(up_to) }
            }
            TgUpdate::IncomingCall { call_id, from, video } => {
                if !self.calls_told.lock().expect("lock").insert(call_id) {
                    return;
                }
                let kind = if video { "video" } else { "voice" };
                let who = if from.name.is_empty() { "Someone" } else { from.name.as_str() };
                RemoteEvent::Message {
                    chat: self.portal(Peer::User(from.id)),
                    sender: sender(&from, false),
                    id: RemoteMessageId::new(format!("call-{call_id}")),
                    timestamp_ms: None,
                    content: Content::notice(format!(
                        "📞 {who} is calling you ({kind} call). Calls are not bridged: answer in the Telegram app."
                    )),
                    reply_to: None,
                }
            }
        };
        self.events.send(event);
    }

    fn mentions_out(&self, content: &Content, relayed_for: Option<&str>) -> crate::backend::TgOutgoing {
        let to_matrix = |id: i64| self.matrix_id_of(id);
        let to_telegram = |u: &str| self.telegram_id_of(u);
        to_outgoing(content, relayed_for, &MentionMap { to_matrix: &to_matrix, to_telegram: &to_telegram })
    }
}

#[async_trait]
impl NetworkClient for TelegramClient {
    async fn connect(&self) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let inner = self.inner.clone();
        let pump = tokio::spawn(async move {
            while let Some(update) = rx.recv().await {
                inner.handle(update).await;
            }
        });
        if let Some(old) = self.inner.pump.lock().expect("lock").replace(pump) {
            old.abort();
        }
        self.inner.account.connect(tx).await;
    }

    async fn disconnect(&self) {
        self.inner.connected.store(false, Ordering::SeqCst);
        self.inner.account.disconnect().await;
    }

    fn is_logged_in(&self) -> bool {
        self.inner.connected.load(Ordering::SeqCst)
    }

    async fn logout(&self) {
        self.inner.connected.store(false, Ordering::SeqCst);
        if let Err(e) = self.inner.account.log_out().await {
            // Sent before the core forgets the login, so it reaches the owner's management room.
            self.inner.events.send(RemoteEvent::Notice { text: unconfirmed_logout_notice(&e, &self.inner.config.device_model) });
        }
        let _ = self.inner.store.delete(INITIAL_SYNC_DONE).await;
        if let Some(pump) = self.inner.pump.lock().expect("lock").take() {
            pump.abort();
        }
    }

    async fn chat_info(&self, chat: &PortalKey) -> Result<ChatInfo, NetworkError> {
        let peer = peer_of(chat)?;
        let info = self.inner.flood.run("chat", || self.inner.account.chat(peer)).await.map_err(to_network_error)?;
        for member in &info.members {
            self.inner.learn(&member.user);
            self.inner.refresh_avatar(&member.user);
        }
        // The core asks when it creates a portal, also for a chat whose first message just
        // arrived: the user's own rights follow on the chat's queue, right after the room
        // exists, as for the portals opened at login (an admin may post in a channel).
        if let Some(role) = self.inner.own_role(&info) {
            self.inner.events.send(RemoteEvent::RoleChanged { chat: chat.clone(), sender: None, role });
        }
        Ok(self.inner.chat_info(&info))
    }

    async fn user_info(&self, user: &RemoteUserId) -> Result<UserInfo, NetworkError> {
        let id = ids::telegram_user(user).ok_or_else(|| NetworkError::NotFound(format!("`{user}` is not a Telegram user id")))?;
        let user = self.inner.flood.run("user", || self.inner.account.user(id)).await.map_err(to_network_error)?;
        Ok(user_info(&user))
    }

    async fn send(&self, msg: OutgoingMessage) -> Result<SentMessage, NetworkError> {
        let peer = peer_of(&msg.portal)?;
        let mut out = self.inner.mentions_out(&msg.content, msg.relayed_for.as_deref());
        out.reply_to = msg.reply_to.as_ref().and_then(ids::telegram_message);
        let id = self.inner.flood.run("send", || self.inner.account.send(peer, out.clone())).await.map_err(to_network_error)?;
        self.inner.sent.lock().expect("lock").insert((peer, id));
        Ok(SentMessage::new(ids::message_id(id)))
    }

    mxbridge_core::supports!(edits: Edits, reactions: Reactions, redactions: Redactions, typing: Typing, read_receipts: ReadReceipts, locations: Locations, start_dm: ResolveIdentifier, backfill: Backfill);
}

#[async_trait]
impl Edits for TelegramClient {
    async fn edit(&self, portal: &PortalKey, target: &RemoteMessageId, content: Content) -> Result<Option<String>, NetworkError> {
        let (peer, id) = (peer_of(portal)?, message_of(target)?);
        let text = self.inner.mentions_out(&content, None).text;
        self.inner.flood.run("edit", || self.inner.account.edit(peer, id, text.clone())).await.map_err(to_network_error)?;
        Ok(None)
    }
}

#[async_trait]
impl Reactions for TelegramClient {
    async fn react(&self, portal: &PortalKey, target: &RemoteMessageId, key: &str) -> Result<(), NetworkError> {
        let (peer, id) = (peer_of(portal)?, message_of(target)?);
        self.inner.flood.run("react", || self.inner.account.react(peer, id, Some(key))).await.map_err(to_network_error)
    }

    async fn unreact(&self, portal: &PortalKey, target: &RemoteMessageId, _key: &str) -> Result<(), NetworkError> {
        // An account has one reaction per message here, so removing means clearing it.
        let (peer, id) = (peer_of(portal)?, message_of(target)?);
        self.inner.flood.run("unreact", || self.inner.account.react(peer, id, None)).await.map_err(to_network_error)
    }
}

#[async_trait]
impl Redactions for TelegramClient {
    async fn delete(&self, portal: &PortalKey, target: &RemoteMessageId) -> Result<(), NetworkError> {
        let (peer, id) = (peer_of(portal)?, message_of(target)?);
        let ids = [id];
        self.inner.flood.run("delete", || self.inner.account.delete(peer, &ids)).await.map_err(to_network_error)
    }
}

#[async_trait]
impl Typing for TelegramClient {
    async fn set_typing(&self, portal: &PortalKey, typing: bool) -> Result<(), NetworkError> {
        let peer = peer_of(portal)?;
        self.inner.account.set_typing(peer, typing).await.map_err(to_network_error)
    }
}

#[async_trait]
impl Locations for TelegramClient {
    async fn send_location(
        &self,
        portal: &PortalKey,
        location: &Location,
        reply_to: Option<&RemoteMessageId>,
    ) -> Result<SentMessage, NetworkError> {
        // Telegram's map pins carry no text: the description (mostly a client's generated
        // "Location at …") is left out.
        let peer = peer_of(portal)?;
        let out = crate::backend::TgOutgoing {
            reply_to: reply_to.and_then(ids::telegram_message),
            location: Some((location.latitude, location.longitude)),
            ..Default::default()
        };
        let id = self.inner.flood.run("send location", || self.inner.account.send(peer, out.clone())).await.map_err(to_network_error)?;
        self.inner.sent.lock().expect("lock").insert((peer, id));
        Ok(SentMessage::new(ids::message_id(id)))
    }
}

#[async_trait]
impl ReadReceipts for TelegramClient {
    async fn mark_read(&self, portal: &PortalKey, up_to: &RemoteMessageId) -> Result<(), NetworkError> {
        let (peer, id) = (peer_of(portal)?, message_of(up_to)?);
        self.inner.flood.run("mark read", || self.inner.account.mark_read(peer, id)).await.map_err(to_network_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_the_flood_wait_notice_says_how_long_in_minutes() {
        assert!(flood_wait_notice(3600).contains("wait 60 minutes"), "{}", flood_wait_notice(3600));
        assert!(flood_wait_notice(301).contains("wait 6 minutes"));
        assert!(flood_wait_notice(90).contains("wait 90 seconds"));
        assert!(flood_wait_notice(90).contains("no need to send them again"));
    }

    #[test]
    fn test_a_user_named_only_by_id_keeps_the_ghosts_name() {
        let named = TgUser { id: 5, name: "Alice".into(), username: None, phone: None, photo: None };
        assert_eq!(sender(&named, false).info.and_then(|i| i.display_name).as_deref(), Some("Alice"));
        let by_id = TgUser { name: String::new(), ..named };
        let s = sender(&by_id, false);
        assert_eq!((s.id, s.info), (ids::user_id(5), None), "no name to give the ghost");
    }
}
