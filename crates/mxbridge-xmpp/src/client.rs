//! One Matrix user on XMPP: the JID `<localpart>_<server>@<component>`, its MUC
//! occupancies, and what it sends. All users share the one component connection.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use mxbridge_core::ids::{PortalKey, RemoteMessageId, RemoteUserId};
use mxbridge_core::network::content::Content;
use mxbridge_core::network::event::EventSink;
use mxbridge_core::network::{
    ChatInfo, ChatKind, ChatMembership, Edits, NetworkClient, NetworkError, OutgoingMessage, Reactions as MatrixReactions, ReadReceipts,
    Redactions, SentMessage, SessionStore, Typing, UserInfo,
};
use tokio_xmpp::jid::Jid;
use tokio_xmpp::parsers::chatstates::ChatState;
use tokio_xmpp::parsers::message::{Id, Lang, Message, MessageType};
use tokio_xmpp::parsers::message_correct::Replace;
use tokio_xmpp::parsers::muc::Muc;
use tokio_xmpp::parsers::muc::muc::History;
use tokio_xmpp::parsers::oob::Oob;
use tokio_xmpp::parsers::presence::{Presence, Type as PresenceType};
use tokio_xmpp::parsers::reactions::{Reaction, Reactions};

use crate::link::ComponentLink;

/// The occupant JID `room@service/nick`.
fn occupant(muc: &str, nick: &str) -> Result<Jid, NetworkError> {
    format!("{muc}/{nick}").parse().map_err(|_| NetworkError::NotFound(format!("{muc} is not a room address")))
}

/// A MUC nick from a Matrix display name: one line, no control characters, within the
/// resource length limit; `None` when nothing usable is left.
pub(crate) fn muc_nick(display_name: Option<&str>) -> Option<String> {
    let cleaned: String = display_name?.chars().filter(|c| !c.is_control()).collect();
    let mut nick = cleaned.trim().to_owned();
    while nick.len() > 64 {
        nick.pop();
    }
    (!nick.is_empty()).then_some(nick)
}

/// The next nick to try after `taken`: `name [m]`, then `name [m]2`, `name [m]3`…
fn alternative_nick(taken: &str) -> String {
    match taken.rfind(" [m]") {
        Some(at) => {
            let (base, tail) = taken.split_at(at + 4);
            let n: u32 = tail.parse().unwrap_or(1);
            format!("{base}{}", n + 1)
        }
        None => format!("{taken} [m]"),
    }
}

/// A Matrix user's presence on XMPP.
#[derive(Clone)]
pub struct XmppClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// The user's bare JID on the component.
    pub(crate) jid: String,
    /// The nick used in MUCs: the display name (it follows changes), else the localpart.
    pub(crate) nick: Mutex<String>,
    pub(crate) events: EventSink,
    pub(crate) link: Arc<ComponentLink>,
    /// MUCs joined (bare JID → our nick there).
    pub(crate) mucs: Mutex<HashMap<String, String>>,
    /// Our reactions per message: XEP-0444 sends the whole set each time.
    reactions: Mutex<HashMap<String, BTreeSet<String>>>,
    /// Keeps the MUCs joined across bridge restarts (`None` before the network started).
    sessions: Option<SessionStore>,
    /// The user's Matrix presence, as shown in every MUC.
    pub(crate) availability: Mutex<crate::presence::Availability>,
    /// The MUCs' ids of recent messages, shared by all users, which answers must name.
    stanza_ids: Arc<crate::replies::StanzaIds>,
}

/// The session-store key of the MUCs a user is in (JSON: MUC → nick).
const MUCS_KEY: &str = "mucs";

impl XmppClient {
    /// A user's client; `stanza_ids` is the network's record of the MUCs' message ids.
    pub(crate) fn new(
        jid: String,
        nick: String,
        events: EventSink,
        link: Arc<ComponentLink>,
        sessions: Option<SessionStore>,
        stanza_ids: Arc<crate::replies::StanzaIds>,
    ) -> Self {
        let inner = Inner {
            jid,
            nick: Mutex::new(nick),
            events,
            link,
            mucs: Mutex::new(HashMap::new()),
            reactions: Mutex::new(HashMap::new()),
            sessions,
            availability: Mutex::default(),
            stanza_ids,
        };
        Self { inner: Arc::new(inner) }
    }

    /// The user's JID on the component.
    pub fn jid(&self) -> &str {
        &self.inner.jid
    }

    fn own_jid(&self) -> Result<Jid, NetworkError> {
        self.inner.jid.parse().map_err(|e| NetworkError::Other(format!("the component JID is invalid ({e})")))
    }

    /// Joins a MUC as the user, with their display name as nick, and remembers it.
    pub async fn join_muc(&self, muc: &str, display_name: Option<&str>) -> Result<(), NetworkError> {
        if self.nick_in(muc).is_some() {
            // Already in (or joining): a second presence would only change the nick.
            return Ok(());
        }
        let nick = muc_nick(display_name).unwrap_or_else(|| self.inner.nick.lock().expect("lock").clone());
        let presence = self.join_presence(muc, &nick)?;
        self.inner.mucs.lock().expect("lock").insert(muc.to_owned(), nick);
        self.inner.link.send(presence);
        self.remember_mucs().await;
        Ok(())
    }

    /// The presence that puts the user in a MUC as `nick` (no history: the room's messages
    /// from now on are what the portal shows).
    fn join_presence(&self, muc: &str, nick: &str) -> Result<Presence, NetworkError> {
        self.occupant_presence(muc, nick, true)
    }

    /// The user's available presence in a MUC, with their Matrix presence as show and
    /// status; `joining` adds the MUC payload that makes it a join.
    pub(crate) fn occupant_presence(&self, muc: &str, nick: &str, joining: bool) -> Result<Presence, NetworkError> {
        let mut presence = Presence::new(PresenceType::None).with_to(occupant(muc, nick)?);
        presence.from = Some(self.own_jid()?);
        self.inner.availability.lock().expect("lock").apply(&mut presence);
        presence.add_payload(crate::caps::user_caps());
        if joining {
            presence.add_payload(Muc {
                password: None,
                history: Some(History { maxchars: None, maxstanzas: Some(0), seconds: None, since: None }),
            });
        }
        Ok(presence)
    }

    /// The join presences for every MUC the user is in (sent again after a reconnect).
    pub(crate) fn join_presences(&self) -> Vec<Presence> {
        self.mucs().iter().filter_map(|(muc, nick)| self.join_presence(muc, nick).ok()).collect()
    }

    /// Leaves a MUC for good (the user left the room).
    pub async fn leave_muc(&self, muc: &str) -> Result<(), NetworkError> {
        let Some(nick) = self.inner.mucs.lock().expect("lock").remove(muc) else { return Ok(()) };
        self.send_unavailable(muc, &nick)?;
        self.remember_mucs().await;
        Ok(())
    }

    fn send_unavailable(&self, muc: &str, nick: &str) -> Result<(), NetworkError> {
        let mut presence = Presence::new(PresenceType::Unavailable).with_to(occupant(muc, nick)?);
        presence.from = Some(self.own_jid()?);
        self.inner.link.send(presence);
        Ok(())
    }

    /// The MUCs the user is in, with their nick there.
    pub(crate) fn mucs(&self) -> Vec<(String, String)> {
        self.inner.mucs.lock().expect("lock").iter().map(|(m, n)| (m.clone(), n.clone())).collect()
    }

    /// Sends the join presence again for a MUC the user is meant to be in.
    pub(crate) fn rejoin(&self, muc: &str) {
        let Some(nick) = self.nick_in(muc) else { return };
        if let Ok(presence) = self.join_presence(muc, &nick) {
            self.inner.link.send(presence);
        }
    }

    /// Forgets a MUC the user was removed from (nothing to tell the MUC).
    pub(crate) async fn forget_muc(&self, muc: &str) {
        if self.inner.mucs.lock().expect("lock").remove(muc).is_some() {
            self.remember_mucs().await;
        }
    }

    /// Joins again under another nick after the MUC refused ours as taken: the display name
    /// with ` [m]`, then numbered.
    pub(crate) async fn rejoin_with_another_nick(&self, muc: &str) {
        let Some(taken) = self.nick_in(muc) else { return };
        let nick = alternative_nick(&taken);
        let Ok(presence) = self.join_presence(muc, &nick) else { return };
        tracing::info!(muc, taken, nick, "a MUC nick was taken; joining under another");
        self.inner.mucs.lock().expect("lock").insert(muc.to_owned(), nick);
        self.inner.link.send(presence);
        self.remember_mucs().await;
    }

    /// Stores the MUCs the user is in; a failure is only logged (the user stays in the
    /// MUCs until the bridge restarts).
    pub(crate) async fn remember_mucs(&self) {
        let Some(sessions) = &self.inner.sessions else { return };
        let json = serde_json::to_vec(&*self.inner.mucs.lock().expect("lock")).expect("a map of strings serialises");
        if let Err(e) = sessions.set(self.inner.events.login(), MUCS_KEY, &json).await {
            tracing::warn!(login = %self.inner.events.login(), error = %e, "could not store the MUCs a user is in");
        }
    }

    /// The MUCs the user was in when the bridge last ran.
    async fn remembered_mucs(&self) -> HashMap<String, String> {
        let Some(sessions) = &self.inner.sessions else { return HashMap::new() };
        match sessions.get(self.inner.events.login(), MUCS_KEY).await {
            Ok(Some(json)) => serde_json::from_slice(&json).unwrap_or_default(),
            Ok(None) => HashMap::new(),
            Err(e) => {
                tracing::warn!(login = %self.inner.events.login(), error = %e, "could not read the MUCs a user was in");
                HashMap::new()
            }
        }
    }

    /// Our nick in a MUC, if we are in it.
    pub(crate) fn nick_in(&self, muc: &str) -> Option<String> {
        self.inner.mucs.lock().expect("lock").get(muc).cloned()
    }
}

#[async_trait]
impl NetworkClient for XmppClient {
    /// Back in the MUCs the user was in before the bridge restarted.
    async fn connect(&self) {
        let remembered = self.remembered_mucs().await;
        let presences: Vec<Presence> = {
            let mut mucs = self.inner.mucs.lock().expect("lock");
            remembered
                .into_iter()
                .filter_map(|(muc, nick)| {
                    if mucs.contains_key(&muc) {
                        return None;
                    }
                    let presence = self.join_presence(&muc, &nick).ok()?;
                    mucs.insert(muc, nick);
                    Some(presence)
                })
                .collect()
        };
        for presence in presences {
            self.inner.link.send(presence);
        }
    }

    /// Out of every MUC for now (bridge shutdown); they are joined again on the next start.
    async fn disconnect(&self) {
        let mucs: Vec<(String, String)> = self.inner.mucs.lock().expect("lock").drain().collect();
        for (muc, nick) in mucs {
            let _ = self.send_unavailable(&muc, &nick);
        }
    }

    fn is_logged_in(&self) -> bool {
        true
    }

    async fn logout(&self) {
        let mucs: Vec<String> = self.inner.mucs.lock().expect("lock").keys().cloned().collect();
        for muc in mucs {
            let _ = self.leave_muc(&muc).await;
        }
    }

    async fn chat_info(&self, chat: &PortalKey) -> Result<ChatInfo, NetworkError> {
        let jid = chat.chat.as_str();
        if chat.receiver.is_empty() {
            let name = jid.split('@').next().map(crate::jid::unescape_node);
            Ok(ChatInfo { name, topic: None, avatar: None, kind: ChatKind::Group, members: Vec::new() })
        } else {
            Ok(ChatInfo::direct(RemoteUserId::new(jid), Some(UserInfo { display_name: Some(jid.to_owned()), avatar: None })))
        }
    }

    async fn user_info(&self, user: &RemoteUserId) -> Result<UserInfo, NetworkError> {
        Ok(UserInfo { display_name: Some(user.as_str().to_owned()), avatar: None })
    }

    mxbridge_core::supports!(chat_membership: ChatMembership, edits: Edits, typing: Typing, redactions: Redactions, reactions: Reactions, read_receipts: ReadReceipts, display_names: DisplayNames);

    async fn send(&self, msg: OutgoingMessage) -> Result<SentMessage, NetworkError> {
        let target = msg.portal.chat.as_str();
        let is_muc = msg.portal.receiver.is_empty();
        if is_muc && self.nick_in(target).is_none() {
            self.join_muc(target, None).await?;
        }
        let mut body = crate::styling::outgoing(&msg.content);
        if let Some(media) = &msg.content.media {
            match &media.url {
                Some(url) => {
                    let caption = msg.content.body.to_plain();
                    body = if caption.is_empty() || caption == media.name { url.clone() } else { format!("{body} {url}") }
                }
                None => return Err(NetworkError::Unsupported("sending files without bridge.public_url".into())),
            }
        }
        if let Some(name) = &msg.relayed_for {
            body = format!("<{name}> {body}");
        }
        let (mut message, id) = self.message(&msg.portal, body)?;
        // XEP-0066: clients show the link as the file itself.
        if let Some(url) = msg.content.media.as_ref().and_then(|m| m.url.clone()) {
            message = message.with_payload(Oob { url, desc: None });
        }
        if let Some(target) = &msg.reply_to {
            // In a MUC an answer names the MUC's id of the message (XEP-0461).
            let target = match message.type_ {
                MessageType::Groupchat => self.inner.stanza_ids.muc_id(msg.portal.chat.as_str(), target.as_str()),
                _ => target.as_str().to_owned(),
            };
            message.payloads.push(crate::xep::reply(&target));
        }
        // XEP-0333: clients tell when they showed it, which becomes a read receipt.
        message.payloads.push(crate::xep::markable());
        self.inner.link.send(message);
        Ok(SentMessage::new(RemoteMessageId::new(id)))
    }

    fn presence(&self) -> Option<&dyn mxbridge_core::network::PresenceUpdates> {
        Some(self)
    }
}

impl XmppClient {
    /// A message from the user to a portal's chat, with a fresh id.
    fn message(&self, portal: &PortalKey, body: String) -> Result<(Message, String), NetworkError> {
        let target = portal.chat.as_str();
        let to: Jid = target.parse().map_err(|_| NetworkError::NotFound(format!("{target} is not an XMPP address")))?;
        let id = format!("mx-{}", rand::random::<u64>());
        let type_ = if portal.receiver.is_empty() { MessageType::Groupchat } else { MessageType::Chat };
        let mut message = Message::new_with_type(type_, Some(to)).with_body(Lang::default(), body);
        message.from = Some(self.own_jid()?);
        message.id = Some(Id(id.clone()));
        // XEP-0359: the same id as origin-id, which corrections and retractions refer to.
        message.payloads.push(crate::xep::origin_id(&id));
        Ok((message, id))
    }
}

/// XEP-0308: a Matrix edit corrects the XMPP message in place.
#[async_trait]
impl Edits for XmppClient {
    async fn edit(&self, portal: &PortalKey, target: &RemoteMessageId, content: Content) -> Result<Option<String>, NetworkError> {
        let (message, _) = self.message(portal, crate::styling::outgoing(&content))?;
        self.inner.link.send(message.with_payload(Replace { id: Id(target.as_str().to_owned()) }));
        Ok(None)
    }
}

#[async_trait]
impl ChatMembership for XmppClient {
    async fn join(&self, portal: &PortalKey, display_name: Option<&str>) -> Result<(), NetworkError> {
        if portal.receiver.is_empty() { self.join_muc(portal.chat.as_str(), display_name).await } else { Ok(()) }
    }

    async fn leave(&self, portal: &PortalKey) -> Result<(), NetworkError> {
        if portal.receiver.is_empty() { self.leave_muc(portal.chat.as_str()).await } else { Ok(()) }
    }
}

/// XEP-0085: Matrix typing ⇄ composing / paused.
#[async_trait]
impl Typing for XmppClient {
    async fn set_typing(&self, portal: &PortalKey, typing: bool) -> Result<(), NetworkError> {
        let (mut message, _) = self.message(portal, String::new())?;
        message.bodies.clear();
        let state = if typing { ChatState::Composing } else { ChatState::Paused };
        self.inner.link.send(message.with_payload(state));
        Ok(())
    }
}

/// XEP-0333: a Matrix read receipt is a `displayed` marker.
#[async_trait]
impl ReadReceipts for XmppClient {
    async fn mark_read(&self, portal: &PortalKey, up_to: &RemoteMessageId) -> Result<(), NetworkError> {
        let (mut message, _) = self.message(portal, String::new())?;
        message.bodies.clear();
        message.payloads.push(crate::xep::displayed(up_to.as_str()));
        self.inner.link.send(message);
        Ok(())
    }
}

/// XEP-0424: a Matrix redaction retracts the XMPP message.
#[async_trait]
impl Redactions for XmppClient {
    async fn delete(&self, portal: &PortalKey, target: &RemoteMessageId) -> Result<(), NetworkError> {
        let fallback = "This person attempted to retract a previous message, but your client does not support it.".to_owned();
        let (mut message, _) = self.message(portal, fallback)?;
        message.payloads.extend(crate::xep::retract(target.as_str()));
        self.inner.link.send(message);
        Ok(())
    }
}

/// XEP-0444: Matrix reactions as the user's whole set of reactions on a message.
#[async_trait]
impl MatrixReactions for XmppClient {
    async fn react(&self, portal: &PortalKey, target: &RemoteMessageId, key: &str) -> Result<(), NetworkError> {
        self.send_reactions(portal, target, |set| {
            set.insert(key.to_owned());
        })
    }

    async fn unreact(&self, portal: &PortalKey, target: &RemoteMessageId, key: &str) -> Result<(), NetworkError> {
        self.send_reactions(portal, target, |set| {
            set.remove(key);
        })
    }
}

impl XmppClient {
    fn send_reactions(
        &self,
        portal: &PortalKey,
        target: &RemoteMessageId,
        change: impl FnOnce(&mut BTreeSet<String>),
    ) -> Result<(), NetworkError> {
        let set = {
            let mut all = self.inner.reactions.lock().expect("lock");
            let set = all.entry(target.as_str().to_owned()).or_default();
            change(set);
            set.clone()
        };
        let (mut message, _) = self.message(portal, String::new())?;
        message.bodies.clear();
        let reactions = Reactions { id: target.as_str().to_owned(), reactions: set.into_iter().map(|emoji| Reaction { emoji }).collect() };
        self.inner.link.send(message.with_payload(reactions));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_taken_nicks_get_a_marker_then_a_number() {
        assert_eq!(alternative_nick("alice"), "alice [m]");
        assert_eq!(alternative_nick("alice [m]"), "alice [m]2");
        assert_eq!(alternative_nick("alice [m]9"), "alice [m]10");
        assert_eq!(muc_nick(Some("  a\nb\u{7}c ")).as_deref(), Some("abc"));
        assert_eq!(muc_nick(Some("\n")), None);
    }
}
