//! One linked WhatsApp account: the core's `NetworkClient` over a backend session.
//!
//! The session's events arrive on one channel and are translated in order by one task
//! (the pump); the phone-offline watch runs beside it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use mxbridge_core::ids::{LoginId, PortalKey, RemoteMessageId, RemoteUserId};
use mxbridge_core::network::content::{Content, MessageKind};
use mxbridge_core::network::event::{EventSink, LoginState, RemoteEvent, Sender};
use mxbridge_core::network::{
    ChatInfo, ChatKind, ChatMember, ChatNames, Edits, Location, Locations, Moderation, NetworkClient, NetworkError, OutgoingMessage,
    Reactions, ReadReceipts, Redactions, ResolveIdentifier, Role, SentMessage, Typing, UserInfo,
};
use tokio::sync::mpsc;
use tracing::{debug, info};

use crate::Shared;
use crate::backend::{
    Account, BackendError, BackendEvent, Group, InboundKind, OutgoingWa, WaContactCard, WaLocation, WaMedia, WhatsAppSession,
};
use crate::incoming::Translator;
use crate::jid::{self, Jid};
use crate::markup::{self, WaText};
use crate::vcard;

const DAY_MS: i64 = 24 * 3600 * 1000;
/// How often the phone-offline watch looks at the clock between events.
const PHONE_CHECK_INTERVAL: Duration = Duration::from_secs(3600);
/// Session-store key of the time the phone was last seen.
const PHONE_SEEN_KEY: &str = "whatsapp.phone_seen_ms";

/// A linked account.
pub(crate) struct WhatsAppClient {
    pub(crate) login: LoginId,
    pub(crate) account: Account,
    pub(crate) session: Arc<dyn WhatsAppSession>,
    pub(crate) events: EventSink,
    shared: Arc<Shared>,
    logged_in: AtomicBool,
    /// Names by number: the address book, then push names seen in messages.
    names: Mutex<HashMap<String, String>>,
    /// Each person's current reaction per message: WhatsApp has one per person, and a
    /// removal does not say which emoji it removes.
    reactions: Mutex<HashMap<(String, String, String), String>>,
    /// Who sent recent group messages: a group read receipt must name the sender.
    group_senders: Mutex<RecentSenders>,
    phone_seen_ms: AtomicI64,
    /// The phone-seen time already warned about, so the warning is sent once.
    warned_for_ms: AtomicI64,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// How many group messages' senders are remembered for read receipts.
const REMEMBERED_SENDERS: usize = 2000;

/// The senders of the most recent group messages, by message id, oldest forgotten first.
#[derive(Default)]
struct RecentSenders {
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

    fn sender_of(&self, id: &str) -> Option<String> {
        self.by_id.get(id).cloned()
    }
}

/// A Matrix file as WhatsApp sends it: a WebP picture goes as a sticker (what Matrix
/// stickers are) and OGG/Opus audio as a voice note (what WhatsApp records).
fn outgoing_media(m: &mxbridge_core::network::content::Media) -> WaMedia {
    use mxbridge_core::network::content::MediaKind;
    let mime = m.mime.clone().unwrap_or_else(|| "application/octet-stream".to_owned());
    WaMedia {
        kind: m.kind,
        sticker: m.kind == MediaKind::Image && mime == "image/webp",
        voice: m.kind == MediaKind::Audio && mime.starts_with("audio/ogg"),
        mime,
        name: m.name.clone(),
        data: m.data.clone(),
    }
}

/// A Matrix file that is a single vCard, as the contact card WhatsApp shows for it (Matrix
/// has no contact message; clients share contacts as `.vcf` files).
fn contact_card(m: &mxbridge_core::network::content::Media) -> Option<WaContactCard> {
    if !vcard::is_vcard_file(m.mime.as_deref(), &m.name) {
        return None;
    }
    let card = vcard::parse(&m.data)?;
    Some(WaContactCard { display_name: card.display_name, vcard: card.text })
}

fn to_network_error(e: BackendError) -> NetworkError {
    match e {
        BackendError::NotConnected => NetworkError::NotConnected("WhatsApp is not connected".into()),
        BackendError::NotFound(m) => NetworkError::NotFound(m),
        BackendError::Refused(m) => NetworkError::Refused(m),
        other => NetworkError::Other(other.to_string()),
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
                if m.from_me {
                    // The phone sent something, so it is online.
                    self.phone_seen_ms.fetch_max(m.timestamp_ms, Ordering::SeqCst);
                }
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
            BackendEvent::Call { from } => {
                let who = self.name_of(&from).map(|n| format!("{n} (+{from})")).unwrap_or_else(|| format!("+{from}"));
                self.emit(RemoteEvent::Notice {
                    text: format!("{who} is calling you on WhatsApp. Calls are not bridged: answer on your phone."),
                });
            }
        }
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
    fn group(portal: &PortalKey, refusal: &str) -> Result<Jid, NetworkError> {
        Some(Self::chat(portal)?).filter(Jid::is_group).ok_or_else(|| NetworkError::Refused(refusal.to_owned()))
    }

    fn chat(portal: &PortalKey) -> Result<Jid, NetworkError> {
        jid::chat_of(portal).ok_or_else(|| NetworkError::NotFound(format!("`{}` is not a WhatsApp chat", portal.chat)))
    }

    fn wa_text(&self, content: &Content) -> WaText {
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
    fn spawn_tasks(self: &Arc<Self>, mut rx: mpsc::UnboundedReceiver<BackendEvent>) {
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

    fn stop_tasks(&self) {
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

/// The client as the core sees it: a thin wrapper, because the pump needs an `Arc` of the
/// client itself.
pub(crate) struct ClientHandle(pub(crate) Arc<WhatsAppClient>);

#[async_trait]
impl NetworkClient for ClientHandle {
    async fn connect(&self) {
        if let Some(sessions) = self.0.shared.sessions.get()
            && let Ok(Some(v)) = sessions.get(&self.0.login, PHONE_SEEN_KEY).await
            && let Some(at) = std::str::from_utf8(&v).ok().and_then(|s| s.parse().ok())
        {
            self.0.phone_seen_ms.fetch_max(at, Ordering::SeqCst);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        self.0.spawn_tasks(rx);
        self.0.session.connect(tx).await;
    }

    async fn disconnect(&self) {
        self.0.session.disconnect().await;
        self.0.stop_tasks();
    }

    fn is_logged_in(&self) -> bool {
        self.0.logged_in.load(Ordering::SeqCst)
    }

    async fn logout(&self) {
        self.0.logged_in.store(false, Ordering::SeqCst);
        self.0.session.logout().await;
        self.0.stop_tasks();
    }

    async fn chat_info(&self, chat: &PortalKey) -> Result<ChatInfo, NetworkError> {
        self.0.info_of(&WhatsAppClient::chat(chat)?).await.map_err(to_network_error)
    }

    async fn user_info(&self, user: &RemoteUserId) -> Result<UserInfo, NetworkError> {
        let name = self.0.name_of(user.as_str()).unwrap_or_else(|| format!("+{user}"));
        Ok(UserInfo { display_name: Some(name), avatar: None })
    }

    async fn send(&self, msg: OutgoingMessage) -> Result<SentMessage, NetworkError> {
        let chat = WhatsAppClient::chat(&msg.portal)?;
        let mut text = self.0.wa_text(&msg.content);
        if let Some(name) = &msg.relayed_for {
            text.text = format!("*{name}*: {}", text.text);
        }
        let contact = msg.content.media.as_ref().and_then(contact_card);
        let media = msg.content.media.as_ref().filter(|_| contact.is_none()).map(outgoing_media);
        let outgoing = OutgoingWa { text, reply_to: msg.reply_to.map(|r| r.as_str().to_owned()), media, location: None, contact };
        let sent = self.0.session.send(&chat, outgoing).await.map_err(to_network_error)?;
        Ok(SentMessage { id: RemoteMessageId::new(sent.id), timestamp_ms: Some(sent.timestamp_ms), note: None })
    }

    fn edits(&self) -> Option<&dyn Edits> {
        Some(self)
    }

    fn reactions(&self) -> Option<&dyn Reactions> {
        Some(self)
    }

    fn redactions(&self) -> Option<&dyn Redactions> {
        Some(self)
    }

    fn typing(&self) -> Option<&dyn Typing> {
        Some(self)
    }

    fn read_receipts(&self) -> Option<&dyn ReadReceipts> {
        Some(self)
    }

    fn locations(&self) -> Option<&dyn Locations> {
        Some(self)
    }

    fn start_dm(&self) -> Option<&dyn ResolveIdentifier> {
        Some(self)
    }

    fn chat_names(&self) -> Option<&dyn ChatNames> {
        Some(self)
    }

    fn moderation(&self) -> Option<&dyn Moderation> {
        Some(self)
    }

    fn remote_name(&self) -> Option<String> {
        Some(format!("+{} ({})", self.0.account.number, self.0.account.push_name))
    }
}

#[async_trait]
impl Edits for ClientHandle {
    async fn edit(&self, portal: &PortalKey, target: &RemoteMessageId, content: Content) -> Result<Option<String>, NetworkError> {
        let chat = WhatsAppClient::chat(portal)?;
        self.0.session.edit(&chat, target.as_str(), self.0.wa_text(&content)).await.map_err(to_network_error)?;
        Ok(None)
    }
}

#[async_trait]
impl Reactions for ClientHandle {
    async fn react(&self, portal: &PortalKey, target: &RemoteMessageId, key: &str) -> Result<(), NetworkError> {
        let chat = WhatsAppClient::chat(portal)?;
        self.0.session.react(&chat, target.as_str(), key).await.map_err(to_network_error)
    }

    async fn unreact(&self, portal: &PortalKey, target: &RemoteMessageId, _key: &str) -> Result<(), NetworkError> {
        let chat = WhatsAppClient::chat(portal)?;
        self.0.session.react(&chat, target.as_str(), "").await.map_err(to_network_error)
    }
}

#[async_trait]
impl Redactions for ClientHandle {
    async fn delete(&self, portal: &PortalKey, target: &RemoteMessageId) -> Result<(), NetworkError> {
        let chat = WhatsAppClient::chat(portal)?;
        self.0.session.revoke(&chat, target.as_str()).await.map_err(to_network_error)
    }
}

#[async_trait]
impl Typing for ClientHandle {
    async fn set_typing(&self, portal: &PortalKey, typing: bool) -> Result<(), NetworkError> {
        let chat = WhatsAppClient::chat(portal)?;
        self.0.session.set_typing(&chat, typing).await.map_err(to_network_error)
    }
}

#[async_trait]
impl Locations for ClientHandle {
    async fn send_location(
        &self,
        portal: &PortalKey,
        location: &Location,
        reply_to: Option<&RemoteMessageId>,
    ) -> Result<SentMessage, NetworkError> {
        let chat = WhatsAppClient::chat(portal)?;
        let shared = WaLocation { latitude: location.latitude, longitude: location.longitude, name: location.description.clone() };
        let outgoing = OutgoingWa { location: Some(shared), ..OutgoingWa::new(WaText::default(), reply_to.map(|r| r.as_str().to_owned())) };
        let sent = self.0.session.send(&chat, outgoing).await.map_err(to_network_error)?;
        Ok(SentMessage { id: RemoteMessageId::new(sent.id), timestamp_ms: Some(sent.timestamp_ms), note: None })
    }
}

#[async_trait]
impl ChatNames for ClientHandle {
    async fn set_chat_name(&self, portal: &PortalKey, name: &str) -> Result<(), NetworkError> {
        let chat = WhatsAppClient::chat(portal)?;
        if !chat.is_group() {
            return Err(NetworkError::Unsupported("renaming a chat with one person (only the Matrix room has the new name)".into()));
        }
        self.0.session.set_subject(&chat, name).await.map_err(to_network_error)
    }
}

/// What Matrix moderators do in a group portal, done by the user's WhatsApp account (which
/// must administer the group for WhatsApp to accept it).
#[async_trait]
impl Moderation for ClientHandle {
    async fn set_topic(&self, portal: &PortalKey, topic: &str) -> Result<(), NetworkError> {
        let chat = WhatsAppClient::group(portal, "a chat with one person has no description")?;
        let description = Some(topic.trim()).filter(|t| !t.is_empty());
        self.0.session.set_description(&chat, description).await.map_err(to_network_error)
    }

    async fn kick(&self, portal: &PortalKey, user: &RemoteUserId, _reason: &str) -> Result<(), NetworkError> {
        let chat = WhatsAppClient::group(portal, "nobody can be removed from a chat with one person")?;
        self.0.session.remove_participant(&chat, user.as_str()).await.map_err(to_network_error)
    }

    async fn ban(&self, _portal: &PortalKey, _user: &RemoteUserId, _reason: &str) -> Result<(), NetworkError> {
        Err(NetworkError::Unsupported("bans (WhatsApp only removes people from groups: kick them instead)".into()))
    }
}

#[async_trait]
impl ReadReceipts for ClientHandle {
    async fn mark_read(&self, portal: &PortalKey, up_to: &RemoteMessageId) -> Result<(), NetworkError> {
        let chat = WhatsAppClient::chat(portal)?;
        let sender = if chat.is_group() { self.0.group_senders.lock().expect("lock").sender_of(up_to.as_str()) } else { None };
        self.0.session.mark_read(&chat, sender.as_deref(), &[up_to.as_str().to_owned()]).await.map_err(to_network_error)
    }
}

#[async_trait]
impl ResolveIdentifier for ClientHandle {
    async fn resolve(&self, identifier: &str) -> Result<(PortalKey, ChatInfo), NetworkError> {
        let number = jid::normalize_number(identifier).map_err(|e| NetworkError::NotFound(e.to_string()))?;
        let contact = self.0.session.lookup(&number).await.map_err(to_network_error)?;
        let Some(contact) = contact else {
            return Err(NetworkError::NotFound(format!("+{number} is not on WhatsApp; check the number, with its country code")));
        };
        self.0.names.lock().expect("lock").entry(number.clone()).or_insert(contact.name.clone());
        let chat = Jid::user(&number);
        let info = ChatInfo::direct(jid::user_id(&number), Some(UserInfo { display_name: Some(contact.name), avatar: None }));
        Ok((chat.portal(&self.0.login), info))
    }
}

#[cfg(test)]
mod recent_senders_tests {
    use mxbridge_core::network::content::{Media, MediaKind};

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

    #[test]
    fn test_webp_pictures_go_as_stickers_and_ogg_audio_as_voice_notes() {
        let media = |kind, mime: &str| Media { kind, name: "f".into(), mime: Some(mime.into()), data: vec![1], url: None };
        let sticker = outgoing_media(&media(MediaKind::Image, "image/webp"));
        assert!(sticker.sticker && !sticker.voice);
        assert!(!outgoing_media(&media(MediaKind::Image, "image/png")).sticker);
        let voice = outgoing_media(&media(MediaKind::Audio, "audio/ogg; codecs=opus"));
        assert!(voice.voice && !voice.sticker);
        assert!(!outgoing_media(&media(MediaKind::Audio, "audio/mpeg")).voice, "music stays a music file");
        let unknown = outgoing_media(&Media { mime: None, ..media(MediaKind::File, "") });
        assert_eq!(unknown.mime, "application/octet-stream");
    }
}
