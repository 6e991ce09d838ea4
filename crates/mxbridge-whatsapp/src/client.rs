//! One linked WhatsApp account over a backend session: what it knows (names, reactions,
//! group senders, when the phone was seen) and how WhatsApp's events become the core's.
//! What the core calls on it is in `handle`.
//!
//! The session's events arrive on one channel and are translated in order by one task
//! (the pump); the phone-offline watch runs beside it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mxbridge_core::ids::{LoginId, PortalKey, RemoteMessageId};
use mxbridge_core::network::content::{Content, MessageKind};
use mxbridge_core::network::event::{EventSink, HistoryMessage, LoginState, RemoteEvent, Sender};
use mxbridge_core::network::{ChatInfo, ChatKind, ChatMember, NetworkError, Role, UserInfo};
use tokio::sync::mpsc;
use tracing::{debug, info};

use crate::Shared;
use crate::backend::{Account, BackendError, BackendEvent, Group, InboundKind, InboundMessage, WhatsAppSession};
use crate::incoming::Translator;
use crate::jid::{self, Jid};
use crate::markup::{self, WaText};

const DAY_MS: i64 = 24 * 3600 * 1000;
/// How often the phone-offline watch looks at the clock between events.
const PHONE_CHECK_INTERVAL: Duration = Duration::from_secs(3600);
/// Session-store key of the time the phone was last seen.
pub(crate) const PHONE_SEEN_KEY: &str = "whatsapp.phone_seen_ms";

/// A linked account.
pub(crate) struct WhatsAppClient {
    pub(crate) login: LoginId,
    pub(crate) account: Account,
    pub(crate) session: Arc<dyn WhatsAppSession>,
    pub(crate) events: EventSink,
    pub(crate) shared: Arc<Shared>,
    pub(crate) logged_in: AtomicBool,
    /// Names by number: the address book, then push names seen in messages.
    pub(crate) names: Mutex<HashMap<String, String>>,
    /// Each person's current reaction per message: WhatsApp has one per person, and a
    /// removal does not say which emoji it removes.
    reactions: Mutex<HashMap<(String, String, String), String>>,
    /// Who sent recent group messages: a group read receipt must name the sender.
    pub(crate) group_senders: Mutex<RecentSenders>,
    pub(crate) phone_seen_ms: AtomicI64,
    /// The history sync's messages of recent chats whose portals are being made, until the
    /// core asks for them (backfill), by chat.
    history: Mutex<HashMap<Jid, Vec<InboundMessage>>>,
    /// The phone-seen time already warned about, so the warning is sent once.
    warned_for_ms: AtomicI64,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// How many group messages' senders are remembered for read receipts.
const REMEMBERED_SENDERS: usize = 2000;

/// The senders of the most recent group messages, by message id, oldest forgotten first.
#[derive(Default)]
pub(crate) struct RecentSenders {
    order: std::collections::VecDeque<String>,
    by_id: HashMap<String, String>,
}

impl RecentSenders {
    fn remember(&mut self, id: &str, sender: &str) {
        if self.by_id.insert(id.to_owned(), sender.to_owned()).is_none() {
            self.order.push_back(id.to_owned());
        }
        while self.order.len() > REMEMBERED_SENDERS {
            if let Some(old) = self.order.pop_front() {
                self.by_id.remove(&old);
            }
        }
    }

    pub(crate) fn sender_of(&self, id: &str) -> Option<String> {
        self.by_id.get(id).cloned()
    }
}

impl WhatsAppClient {
    pub(crate) fn new(login: LoginId, account: Account, session: Arc<dyn WhatsAppSession>, events: EventSink, shared: Arc<Shared>) -> Self {
        Self {
            login,
            account,
            session,
            events,
            shared,
            logged_in: AtomicBool::new(true),
            names: Mutex::default(),
            reactions: Mutex::default(),
            group_senders: Mutex::default(),
            phone_seen_ms: AtomicI64::new(0),
            history: Mutex::default(),
            warned_for_ms: AtomicI64::new(0),
            tasks: Mutex::default(),
        }
    }

    pub(crate) fn name_of(&self, number: &str) -> Option<String> {
        self.names
            .lock()
            .expect("lock")
            .get(number)
            .cloned()
            .or_else(|| (number == self.account.number).then(|| self.account.push_name.clone()))
    }

    fn translator<'a>(&'a self, name_of: &'a dyn Fn(&str) -> Option<String>) -> Translator<'a> {
        Translator { login: &self.login, own_number: &self.account.number, ghosts: self.shared.ghosts.get(), name_of }
    }

    fn emit(&self, event: RemoteEvent) {
        self.events.send(event);
    }

    /// Handles one backend event, in order.
    async fn handle(self: &Arc<Self>, event: BackendEvent) {
        let name_of = |n: &str| self.name_of(n);
        match event {
            BackendEvent::Connected => {
                self.refresh_names().await;
                self.emit(RemoteEvent::LoginState(LoginState::Connected));
            }
            BackendEvent::Disconnected(why) => self.emit(RemoteEvent::LoginState(LoginState::TransientDisconnect(why))),
            BackendEvent::LoggedOut(why) => {
                self.logged_in.store(false, Ordering::SeqCst);
                // The device is gone on WhatsApp's side; its keys are of no use any more.
                self.session.delete_session().await;
                self.emit(RemoteEvent::LoginState(LoginState::LoggedOut(why)));
            }
            BackendEvent::PhoneSeen(at) => {
                self.phone_seen_ms.store(at, Ordering::SeqCst);
                if let Some(sessions) = self.shared.sessions.get() {
                    let _ = sessions.set(&self.login, PHONE_SEEN_KEY, at.to_string().as_bytes()).await;
                }
                self.check_phone(crate::now_ms());
            }
            BackendEvent::RecentChats(chats) => {
                let since = crate::now_ms() - i64::from(self.shared.config.initial_chat_days) * DAY_MS;
                for chat in chats.into_iter().filter(|c| c.last_activity_ms >= since) {
                    self.keep_history(&chat.jid, chat.messages);
                    match self.chat_details(&chat.jid).await {
                        Ok((info, role)) => self.announce_chat(&chat.jid, None, info, role),
                        Err(e) => debug!(chat = %chat.jid, error = %e, "could not read a recent chat"),
                    }
                }
            }
            BackendEvent::Contacts(contacts) => {
                let mut names = self.names.lock().expect("lock");
                for c in contacts {
                    names.insert(c.number, c.name);
                }
            }
            BackendEvent::Message(m) => {
                if let Some(push) = m.push_name.clone().filter(|_| !m.from_me) {
                    self.names.lock().expect("lock").entry(m.sender.clone()).or_insert(push);
                }
                if m.chat.is_group() && !m.from_me {
                    self.group_senders.lock().expect("lock").remember(&m.id, &m.sender);
                }
                // A message of the account's own (from_me) says nothing about the phone: it may
                // come from another linked device, or be the bridge's own echo. Only the backend's
                // PhoneSeen (the primary device's own activity) moves the 14-day clock.
                let key = (m.chat.to_string(), m.sender.clone());
                let reaction = match &m.kind {
                    InboundKind::Reaction { target, emoji } => Some((target.clone(), emoji.clone())),
                    _ => None,
                };
                let translator = self.translator(&name_of);
                if let Some((target, emoji)) = reaction {
                    let previous = {
                        let mut map = self.reactions.lock().expect("lock");
                        let slot = (key.0.clone(), key.1.clone(), target.clone());
                        if emoji.is_empty() { map.remove(&slot) } else { map.insert(slot, emoji.clone()) }
                    };
                    if let Some(previous) = previous.filter(|p| *p != emoji) {
                        self.emit(RemoteEvent::ReactionRemoved {
                            chat: m.chat.portal(&self.login),
                            sender: translator.sender(&m.sender, None),
                            target: RemoteMessageId::new(target.clone()),
                            key: previous,
                        });
                    }
                    if emoji.is_empty() {
                        return;
                    }
                }
                let event = translator.message(m);
                self.emit(event);
            }
            BackendEvent::Receipt { chat, reader, ids } => {
                if let Some(e) = self.translator(&name_of).receipt(&chat, &reader, &ids) {
                    self.emit(e);
                }
            }
            BackendEvent::Typing { chat, sender, typing } => self.emit(self.translator(&name_of).typing(&chat, &sender, typing)),
            BackendEvent::GroupMembers { group, joined, left, by } => {
                for e in self.translator(&name_of).members(&group, &joined, &left, by.as_deref()) {
                    self.emit(e);
                }
                // Added to a group: its portal is made (or brought up to date) and the user invited.
                if joined.contains(&self.account.number) {
                    match self.chat_details(&group).await {
                        Ok((info, role)) => self.announce_chat(&group, None, info, role),
                        Err(e) => debug!(chat = %group, error = %e, "could not read a group the account was added to"),
                    }
                }
            }
            BackendEvent::GroupAdmins { group, promoted, demoted } => {
                for e in self.translator(&name_of).admins(&group, &promoted, &demoted) {
                    self.emit(e);
                }
            }
            BackendEvent::GroupTopic { group, topic, by } => {
                let (mut info, role) = self.chat_details(&group).await.unwrap_or_else(|e| {
                    debug!(chat = %group, error = %e, "could not read a group with a new description");
                    (ChatInfo { name: None, topic: None, avatar: None, kind: ChatKind::Group, members: Vec::new() }, Role::Member)
                });
                info.topic = Some(topic.unwrap_or_default());
                let sender = by.filter(|n| *n != self.account.number).map(|n| self.translator(&name_of).sender(&n, None));
                self.announce_chat(&group, sender, info, role);
            }
            BackendEvent::GroupSubject { group, subject, by } => {
                let (mut info, role) = self.chat_details(&group).await.unwrap_or_else(|e| {
                    debug!(chat = %group, error = %e, "could not read a renamed group");
                    (ChatInfo { name: None, topic: None, avatar: None, kind: ChatKind::Group, members: Vec::new() }, Role::Member)
                });
                info.name = Some(subject);
                // The account's own renames (from the phone, or echoed from Matrix) are the bot's.
                let sender = by.filter(|n| *n != self.account.number).map(|n| self.translator(&name_of).sender(&n, None));
                self.announce_chat(&group, sender, info, role);
            }
            BackendEvent::Call { from, missed } => {
                let who = self.name_of(&from).map(|n| format!("{n} (+{from})")).unwrap_or_else(|| format!("+{from}"));
                let text = if missed {
                    format!("{who} called you on WhatsApp while the bridge was offline. Calls are not bridged: call back from your phone.")
                } else {
                    format!("{who} is calling you on WhatsApp. Calls are not bridged: answer on your phone.")
                };
                self.emit(RemoteEvent::Notice { text });
            }
        }
    }

    /// Keeps a recent chat's synced messages for its portal's history, learning the push
    /// names and group senders they carry as live messages would.
    fn keep_history(&self, chat: &Jid, mut messages: Vec<InboundMessage>) {
        // A sync does not always name the account in its own messages.
        for m in messages.iter_mut().filter(|m| m.from_me) {
            m.sender = self.account.number.clone();
        }
        for m in messages.iter().filter(|m| !m.from_me) {
            if let Some(push) = m.push_name.clone() {
                self.names.lock().expect("lock").entry(m.sender.clone()).or_insert(push);
            }
            if m.chat.is_group() {
                self.group_senders.lock().expect("lock").remember(&m.id, &m.sender);
            }
        }
        if !messages.is_empty() {
            self.history.lock().expect("lock").insert(chat.clone(), messages);
        }
    }

    /// A chat's last `limit` synced messages, oldest first, as the core's history; given
    /// once (the portal that asks is new).
    pub(crate) fn take_history(&self, chat: &Jid, limit: usize) -> Vec<HistoryMessage> {
        let messages = self.history.lock().expect("lock").remove(chat).unwrap_or_default();
        let name_of = |n: &str| self.name_of(n);
        let translator = self.translator(&name_of);
        let history: Vec<HistoryMessage> = messages.into_iter().filter_map(|m| HistoryMessage::from_event(translator.message(m))).collect();
        let skip = history.len().saturating_sub(limit);
        history.into_iter().skip(skip).collect()
    }

    /// Warns once when the phone has been offline for the configured number of days.
    fn check_phone(&self, now_ms: i64) {
        let seen = self.phone_seen_ms.load(Ordering::SeqCst);
        if seen == 0 {
            return;
        }
        let days = (now_ms - seen) / DAY_MS;
        if days < i64::from(self.shared.config.phone_offline_warning_days) || self.warned_for_ms.swap(seen, Ordering::SeqCst) == seen {
            return;
        }
        info!(login = %self.login, days, "the phone has been offline for days");
        self.emit(RemoteEvent::Notice {
            text: format!(
                "Your phone has not been online for {days} days. WhatsApp unlinks the bridge after 14 days: open WhatsApp on your phone, with an internet connection, to keep it linked."
            ),
        });
    }

    async fn refresh_names(&self) {
        if let Ok(contacts) = self.session.contacts().await {
            let mut names = self.names.lock().expect("lock");
            for c in contacts {
                names.insert(c.number, c.name);
            }
        }
    }

    fn group_info(&self, group: Group) -> ChatInfo {
        let members = group
            .participants
            .into_iter()
            .filter(|p| p.number != self.account.number)
            .map(|p| ChatMember {
                info: Some(UserInfo {
                    display_name: Some(self.name_of(&p.number).unwrap_or_else(|| format!("+{}", p.number))),
                    avatar: None,
                }),
                id: jid::user_id(&p.number),
                role: if p.admin { Role::Admin } else { Role::Member },
            })
            .collect();
        ChatInfo { name: Some(group.subject), topic: group.topic, avatar: None, kind: ChatKind::Group, members }
    }

    /// A chat's info, and the account's role in it (a group's admins are admins).
    pub(crate) async fn chat_details(&self, chat: &Jid) -> Result<(ChatInfo, Role), BackendError> {
        if !chat.is_group() {
            return Ok((self.info_of(chat).await?, Role::Member));
        }
        let group = self.session.group(chat).await?;
        let admin = group.participants.iter().any(|p| p.number == self.account.number && p.admin);
        Ok((self.group_info(group), if admin { Role::Admin } else { Role::Member }))
    }

    /// Tells the core about a chat: its portal is created, or its name and topic brought
    /// up to date. In a group the account administers the user gets the matching power in
    /// the room, so they can rename it from Matrix too.
    pub(crate) fn announce_chat(&self, chat: &Jid, sender: Option<Sender>, info: ChatInfo, role: Role) {
        let portal = chat.portal(&self.login);
        self.emit(RemoteEvent::ChatChanged { chat: portal.clone(), sender, info });
        if role != Role::Member {
            self.emit(RemoteEvent::RoleChanged { chat: portal, sender: None, role });
        }
    }

    pub(crate) async fn info_of(&self, chat: &Jid) -> Result<ChatInfo, BackendError> {
        if chat.is_group() {
            return Ok(self.group_info(self.session.group(chat).await?));
        }
        let name = self.name_of(&chat.user).unwrap_or_else(|| format!("+{}", chat.user));
        Ok(ChatInfo::direct(jid::user_id(&chat.user), Some(UserInfo { display_name: Some(name), avatar: None })))
    }

    /// The group of a portal; `refusal` says why a DM cannot do what was asked.
    pub(crate) fn group(portal: &PortalKey, refusal: &str) -> Result<Jid, NetworkError> {
        Some(Self::chat(portal)?).filter(Jid::is_group).ok_or_else(|| NetworkError::Refused(refusal.to_owned()))
    }

    pub(crate) fn chat(portal: &PortalKey) -> Result<Jid, NetworkError> {
        jid::chat_of(portal).ok_or_else(|| NetworkError::NotFound(format!("`{}` is not a WhatsApp chat", portal.chat)))
    }

    pub(crate) fn wa_text(&self, content: &Content) -> WaText {
        let ghosts = self.shared.ghosts.get();
        let number_of = |user: &str| {
            ghosts.and_then(|g| g.remote_of(user)).map(|r| r.as_str().to_owned()).filter(|n| n.chars().all(|c| c.is_ascii_digit()))
        };
        let mut text = markup::to_whatsapp(&content.body, &number_of);
        if content.kind == MessageKind::Emote {
            text.text = format!("_* {}_", text.text);
        }
        text
    }

    /// Starts the pump and the phone watch for a fresh connection.
    pub(crate) fn spawn_tasks(self: &Arc<Self>, mut rx: mpsc::UnboundedReceiver<BackendEvent>) {
        let me = self.clone();
        let pump = tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                me.handle(event).await;
            }
        });
        let me = Arc::downgrade(self);
        let watch = tokio::spawn(async move {
            loop {
                tokio::time::sleep(PHONE_CHECK_INTERVAL).await;
                let Some(me) = me.upgrade() else { return };
                me.check_phone(crate::now_ms());
            }
        });
        let mut tasks = self.tasks.lock().expect("lock");
        for old in tasks.drain(..) {
            old.abort();
        }
        tasks.extend([pump, watch]);
    }

    pub(crate) fn stop_tasks(&self) {
        for task in self.tasks.lock().expect("lock").drain(..) {
            task.abort();
        }
    }

    /// Drops the local session without telling WhatsApp (`delete-session`).
    pub(crate) async fn delete_session(&self) {
        self.session.delete_session().await;
        self.stop_tasks();
        self.logged_in.store(false, Ordering::SeqCst);
        self.emit(RemoteEvent::LoginState(LoginState::LoggedOut(
            "you deleted the session; remove the device from WhatsApp → Linked devices on your phone too".into(),
        )));
    }
}

#[cfg(test)]
mod phone_clock_tests {
    use mxbridge_core::ids::LoginId;

    use super::*;
    use crate::backend::{InboundMessage, WhatsAppBackend};
    use crate::config::{SimConfig, WhatsAppConfig};
    use crate::sim::SimBackend;

    #[tokio::test]
    async fn test_only_the_phone_itself_moves_the_offline_clock() {
        let (backend, _world) = SimBackend::new(SimConfig::default());
        let account = Account { number: "447700900001".into(), push_name: "Me".into() };
        let session = backend.open(&account, &serde_json::to_vec(&account).unwrap()).unwrap();
        let (tx, _rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared { config: WhatsAppConfig::default(), ghosts: Default::default(), sessions: Default::default() });
        let login = LoginId::new("wa-login");
        let client = Arc::new(WhatsAppClient::new(login.clone(), account.clone(), session, EventSink::new(login, tx), shared));

        // Sent by the account from another linked device (or echoed back to the bridge).
        let own = InboundMessage {
            chat: Jid::user("447700900002"),
            sender: account.number.clone(),
            push_name: None,
            id: "3EB0OWN".into(),
            timestamp_ms: 1_700_000_000_000,
            from_me: true,
            kind: InboundKind::Text { text: WaText { text: "hi".into(), mentions: Vec::new() }, reply_to: None },
        };
        client.handle(BackendEvent::Message(own)).await;
        assert_eq!(client.phone_seen_ms.load(Ordering::SeqCst), 0, "a message of the account's own is not proof the phone is online");

        client.handle(BackendEvent::PhoneSeen(1_700_000_500_000)).await;
        assert_eq!(client.phone_seen_ms.load(Ordering::SeqCst), 1_700_000_500_000);
    }
}

#[cfg(test)]
mod recent_senders_tests {
    use super::*;

    #[test]
    fn test_group_senders_are_remembered_up_to_a_bound() {
        let mut senders = RecentSenders::default();
        for i in 0..REMEMBERED_SENDERS + 3 {
            senders.remember(&format!("id{i}"), &format!("44{i}"));
        }
        senders.remember("id5", "445");
        assert_eq!(senders.by_id.len(), REMEMBERED_SENDERS);
        assert_eq!(senders.order.len(), REMEMBERED_SENDERS, "a repeated id is kept once");
        assert_eq!(senders.sender_of("id0"), None, "the oldest are forgotten");
        assert_eq!(
            senders.sender_of(&format!("id{}", REMEMBERED_SENDERS + 2)).as_deref(),
            Some(format!("44{}", REMEMBERED_SENDERS + 2).as_str())
        );
    }
}
