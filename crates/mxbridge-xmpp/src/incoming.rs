//! Stanzas from the XMPP server, routed to the Matrix user they are addressed to and turned
//! into core events. A MUC sends each occupant a copy, so one client per MUC (its reader)
//! reports what happens there.

use std::collections::BTreeSet;
use std::sync::Arc;

use mxbridge_core::ids::{PortalKey, RemoteChatId, RemoteMessageId};
use mxbridge_core::network::content::{Content, RichText};
use mxbridge_core::network::event::{Membership, RemoteEvent, Sender};
use mxbridge_core::network::{ChatInfo, ChatKind, Role};
use tokio::sync::mpsc;
use tokio_xmpp::Stanza;
use tokio_xmpp::parsers::chatstates::ChatState;
use tokio_xmpp::parsers::message::{Lang, Message, MessageType};
use tokio_xmpp::parsers::message_correct::Replace;
use tokio_xmpp::parsers::oob::Oob;
use tokio_xmpp::parsers::presence::{Presence, Show, Type as PresenceType};
use tokio_xmpp::parsers::reactions::Reactions;
use tokio_xmpp::parsers::stanza_error::{DefinedCondition, StanzaError};

use crate::client::XmppClient;
use crate::network::Shared;
use crate::xep::MucUserInfo;

pub(crate) async fn route(mut incoming: mpsc::Receiver<Stanza>, shared: Arc<Shared>) {
    while let Some(stanza) = incoming.recv().await {
        let stanza = match stanza {
            Stanza::Iq(iq) => {
                let Some(iq) = shared.take_answer(iq) else { continue };
                if crate::search::is_search_iq(&iq, &shared.component) {
                    tokio::spawn(crate::search::answer(shared.clone(), iq));
                    continue;
                }
                if crate::gateway::is_gateway_iq(&iq, &shared.component) {
                    shared.to_gateway(Stanza::Iq(iq)).await;
                    continue;
                }
                if crate::iq::is_user_vcard_get(&iq) {
                    // The homeserver is asked for the profile: answered aside.
                    let (rooms, link) = (shared.matrix_rooms.get().cloned(), shared.link.get().cloned());
                    tokio::spawn(async move {
                        if let (Some(reply), Some(link)) = (crate::iq::answer_vcard(iq, rooms).await, link) {
                            link.send(reply);
                        }
                    });
                    continue;
                }
                if let (Some(reply), Some(link)) = (crate::iq::answer(iq, &shared.component), shared.link.get()) {
                    link.send(reply);
                }
                continue;
            }
            other => other,
        };
        let to = match &stanza {
            Stanza::Message(m) => m.to.clone(),
            Stanza::Presence(p) => p.to.clone(),
            Stanza::Iq(_) => None,
        };
        let Some(node) = to.as_ref().and_then(|j| j.node()).map(|n| n.as_str().to_owned()) else { continue };
        if crate::jid::is_room_node(&node) {
            shared.to_gateway(stanza).await;
            continue;
        }
        let Some(client) = client_for(&shared, &node).await else {
            tracing::debug!(node, "a stanza for no Matrix user the bridge may serve");
            continue;
        };
        match stanza {
            Stanza::Message(m) => message(&shared, &client, m),
            Stanza::Presence(p) => presence(&shared, &client, p),
            Stanza::Iq(_) => {}
        }
    }
}

/// The client of the Matrix user a node names, starting their session when an XMPP user
/// writes to them before they ever used the bridge.
async fn client_for(shared: &Shared, node: &str) -> Option<XmppClient> {
    if let Some(client) = shared.clients.lock().expect("lock").get(node).cloned() {
        return Some(client);
    }
    let user = crate::jid::matrix_user_for_node(node)?;
    if !shared.auto_logins.get()?.ensure(&user, None).await {
        return None;
    }
    shared.clients.lock().expect("lock").get(node).cloned()
}

impl Shared {
    /// Queues a stanza for the gateway, waiting while its queue is full (the router then
    /// stops, and so does reading from the server).
    async fn to_gateway(&self, stanza: Stanza) {
        if let Some(queue) = self.gateway_queue.get() {
            let _ = queue.send(stanza).await;
        }
    }

    /// Whether `client` reports for `muc`: the first to look does, until it leaves.
    fn is_reader(&self, client: &XmppClient, muc: &str) -> bool {
        self.readers.is_reader(muc, client.jid(), |reader| {
            let node = reader.split('@').next().unwrap_or("");
            self.clients.lock().expect("lock").get(node).is_some_and(|c| c.nick_in(muc).is_some())
        })
    }

    /// Whether an occupant nick in a MUC is one of our Matrix users (their doings are
    /// already in Matrix).
    fn is_ours(&self, muc: &str, nick: &str) -> bool {
        self.clients.lock().expect("lock").values().any(|c| c.nick_in(muc).as_deref() == Some(nick))
    }
}

fn body_of(m: &Message) -> Option<String> {
    m.bodies.get(&Lang::default()).or_else(|| m.bodies.values().next()).cloned()
}

/// XEP-0308: the id of the message this one corrects, if it is a correction.
fn corrects(m: &Message) -> Option<String> {
    m.payloads.iter().find_map(|p| Replace::try_from(p.clone()).ok()).map(|r| r.id.0)
}

/// XEP-0085: whether the sender is typing, if the message says.
fn typing(m: &Message) -> Option<bool> {
    m.payloads.iter().find_map(|p| ChatState::try_from(p.clone()).ok()).map(|s| s == ChatState::Composing)
}

fn message(shared: &Arc<Shared>, client: &XmppClient, m: Message) {
    match crate::mam::archived(&m) {
        // Only what the bridge asked for: a MUC's archive is addressed to the user who asked.
        Some(archived) if m.from.as_ref().is_some_and(|f| client.nick_in(&f.to_bare().to_string()).is_some()) => {
            received(shared, client, archived.message, archived.timestamp_ms)
        }
        Some(_) => {}
        None => received(shared, client, m, None),
    }
}

/// A message, live or from an archive (then with the time it was sent).
fn received(shared: &Arc<Shared>, client: &XmppClient, m: Message, timestamp_ms: Option<i64>) {
    let Some(from) = m.from.clone() else { return };
    let bare = from.to_bare().to_string();
    if m.type_ == MessageType::Groupchat
        && let Some(nick) = from.resource()
        && shared.is_ours(&bare, nick.as_str())
    {
        // The echo of a message from Matrix: the MUC's id for it is what others answer to.
        shared.stanza_ids.learn(&bare, &m.payloads);
    } else if m.type_ == MessageType::Groupchat
        && let Some(id) = &m.id
    {
        // Another occupant's message: Matrix answers to it must name the MUC's id too.
        shared.stanza_ids.learn_message(&bare, &id.0, &m.payloads);
    }
    // Retractions carry a fallback body and reactions usually none: both come first.
    if let Some(target) = crate::xep::retracted_id(&m.payloads) {
        return retraction(shared, client, &m, from, target);
    }
    if let Some(reactions) = m.payloads.iter().find_map(|p| Reactions::try_from(p.clone()).ok()) {
        return reacted(shared, client, &m, from, reactions);
    }
    if let Some(up_to) = crate::xep::displayed_id(&m.payloads).map(|id| shared.stanza_ids.resolve(&bare, id)) {
        // XEP-0333: read up to that message. From the archive it is old news.
        if timestamp_ms.is_none()
            && let Some((chat, sender)) = chat_and_sender(shared, client, &m, &from)
        {
            client.inner.events.send(RemoteEvent::Read { chat, sender, up_to: RemoteMessageId::new(up_to) });
        }
        return;
    }
    let Some(body) = body_of(&m) else {
        if let Some(typing) = typing(&m) {
            chat_state(shared, client, &m, from, typing);
        }
        return;
    };
    let correction = corrects(&m);
    let reply_to = crate::xep::replied_id(&m.payloads).map(|id| shared.stanza_ids.resolve(&bare, id));
    let body = if reply_to.is_some() { crate::replies::without_reply_fallback(&body, &m.payloads) } else { body };
    if correction.is_none()
        && let Some(oob) = m.payloads.iter().find_map(|p| Oob::try_from(p.clone()).ok())
    {
        return shared_file(shared, client, &m, from, oob.url, body, timestamp_ms);
    }
    let Some((chat, sender)) = chat_and_sender(shared, client, &m, &from) else { return };
    let content = crate::styling::incoming(&body, &m.payloads);
    client.inner.events.send(text_event(chat.clone(), sender, message_id(&m), content, correction, reply_to, timestamp_ms));
    if matches!(m.type_, MessageType::Chat | MessageType::Normal) {
        // Someone writing directly: their vCard, once (they send no presence to follow).
        crate::vcard::seen(shared, client, chat, &bare, &bare, &bare, crate::vcard::PhotoHint::Unknown);
    }
}

/// The id a message is known by (its `id` attribute), or a fresh one.
fn message_id(m: &Message) -> String {
    m.id.as_ref().map(|i| i.0.clone()).unwrap_or_else(|| format!("xmpp-{}", rand::random::<u64>()))
}

fn chat_state(shared: &Shared, client: &XmppClient, m: &Message, from: tokio_xmpp::jid::Jid, typing: bool) {
    let Some((chat, sender)) = chat_and_sender(shared, client, m, &from) else { return };
    client.inner.events.send(RemoteEvent::Typing { chat, sender, typing });
}

/// A new message, or a correction of an earlier one.
fn text_event(
    chat: PortalKey,
    sender: Sender,
    id: String,
    content: Content,
    corrects: Option<String>,
    reply_to: Option<String>,
    timestamp_ms: Option<i64>,
) -> RemoteEvent {
    match corrects {
        Some(target) => RemoteEvent::Edit { chat, sender, target: RemoteMessageId::new(target), content },
        None => RemoteEvent::Message {
            chat,
            sender,
            id: RemoteMessageId::new(id),
            timestamp_ms,
            content,
            reply_to: reply_to.map(RemoteMessageId::new),
        },
    }
}

/// XEP-0066: a shared file is fetched and sent to Matrix as a file; if that fails, the
/// link goes as text. Fetching runs aside so other stanzas are not held up.
fn shared_file(
    shared: &Shared,
    client: &XmppClient,
    m: &Message,
    from: tokio_xmpp::jid::Jid,
    url: String,
    body: String,
    timestamp_ms: Option<i64>,
) {
    let Some((chat, sender)) = chat_and_sender(shared, client, m, &from) else { return };
    let id = message_id(m);
    let reply_to = crate::xep::replied_id(&m.payloads).map(|id| shared.stanza_ids.resolve(&from.to_bare().to_string(), id));
    let http = shared.http.get_or_init(reqwest::Client::new).clone();
    let events = client.inner.events.clone();
    tokio::spawn(async move {
        let content = match crate::files::fetch(&http, &url).await {
            Ok(media) => Content::file(media, RichText::default()),
            Err(e) => {
                tracing::info!(error = %e, "a shared file goes to Matrix as a link");
                Content::text(body)
            }
        };
        events.send(RemoteEvent::Message {
            chat,
            sender,
            id: RemoteMessageId::new(id),
            timestamp_ms,
            content,
            reply_to: reply_to.map(RemoteMessageId::new),
        });
    });
}

/// XEP-0444: the sender's whole set of reactions on a message; what changed since the last
/// set becomes Matrix reactions added and removed.
fn reacted(shared: &Shared, client: &XmppClient, m: &Message, from: tokio_xmpp::jid::Jid, reactions: Reactions) {
    let Some((chat, sender)) = chat_and_sender(shared, client, m, &from) else { return };
    let now: BTreeSet<String> = reactions.reactions.into_iter().map(|r| r.emoji).collect();
    let before = {
        let mut known = shared.reactions.lock().expect("lock");
        let key = (chat.chat.as_str().to_owned(), sender.id.as_str().to_owned(), reactions.id.clone());
        std::mem::replace(known.entry(key).or_default(), now.clone())
    };
    let target = RemoteMessageId::new(shared.stanza_ids.resolve(chat.chat.as_str(), reactions.id));
    let events = &client.inner.events;
    for key in now.difference(&before) {
        events.send(RemoteEvent::Reaction { chat: chat.clone(), sender: sender.clone(), target: target.clone(), key: key.clone() });
    }
    for key in before.difference(&now) {
        events.send(RemoteEvent::ReactionRemoved { chat: chat.clone(), sender: sender.clone(), target: target.clone(), key: key.clone() });
    }
}

/// The portal and sender of a message, or `None` when another client reports it (MUC
/// reader) or it is one of our own users' (their doings are already in Matrix).
fn chat_and_sender(shared: &Shared, client: &XmppClient, m: &Message, from: &tokio_xmpp::jid::Jid) -> Option<(PortalKey, Sender)> {
    let bare = from.to_bare().to_string();
    match (&m.type_, from.resource()) {
        (MessageType::Groupchat, Some(nick)) => {
            let nick = nick.as_str().to_owned();
            // Only a MUC the user is in speaks as a MUC: anyone else can type `groupchat`.
            if client.nick_in(&bare).is_none() || shared.is_ours(&bare, &nick) || !shared.is_reader(client, &bare) {
                return None;
            }
            let occupant = format!("{bare}/{nick}");
            let name = shared.profiles.name_for(&occupant, &nick);
            Some((PortalKey::shared(RemoteChatId::new(bare.clone())), Sender::named(occupant, name)))
        }
        (MessageType::Groupchat, None) => None, // the room itself
        (MessageType::Chat | MessageType::Normal, _) => {
            let name = shared.profiles.name_for(&bare, &bare);
            Some((PortalKey::owned_by(RemoteChatId::new(bare.clone()), client.inner.events.login()), Sender::named(bare.clone(), name)))
        }
        _ => None, // errors and headlines are not chat
    }
}

/// XEP-0424: a retraction deletes the Matrix copy.
fn retraction(shared: &Shared, client: &XmppClient, m: &Message, from: tokio_xmpp::jid::Jid, target: String) {
    let Some((chat, sender)) = chat_and_sender(shared, client, m, &from) else { return };
    client.inner.events.send(RemoteEvent::Deleted { chat, sender, target: RemoteMessageId::new(target) });
}

fn presence(shared: &Arc<Shared>, client: &XmppClient, p: Presence) {
    let Some(from) = p.from.clone() else { return };
    let Some(nick) = from.resource().map(|r| r.as_str().to_owned()) else { return };
    let muc = from.to_bare().to_string();
    let Some(own_nick) = client.nick_in(&muc) else { return };
    let muc_user = crate::xep::muc_user(&p.payloads);
    let events = &client.inner.events;
    let chat = PortalKey::shared(RemoteChatId::new(muc.clone()));
    if is_our_nick_change(shared, &p, &muc, muc_user.as_ref()) {
        return; // one of our users took another nick: nobody left
    }
    if nick == own_nick {
        return own_presence(shared, client, &p, muc, chat, muc_user);
    }
    if shared.is_ours(&muc, &nick) || !shared.is_reader(client, &muc) {
        return;
    }
    let membership = match p.type_ {
        PresenceType::None => Membership::Join,
        PresenceType::Unavailable => Membership::Leave,
        _ => return,
    };
    let occupant = format!("{muc}/{nick}");
    let sender = Sender::named(occupant.clone(), shared.profiles.name_for(&occupant, &nick));
    events.send(RemoteEvent::Member { chat: chat.clone(), sender: sender.clone(), membership });
    if membership == Membership::Join {
        // XEP-0054/0153: the occupant's vCard, on first sight and when their picture changes.
        crate::vcard::seen(shared, client, chat.clone(), &occupant, &nick, &occupant, crate::vcard::photo_hint(&p.payloads));
        // Availability: away, extended away and do-not-disturb are not available on Matrix.
        let available = matches!(p.show, None | Some(Show::Chat));
        let status = p.statuses.values().next().cloned().filter(|s| !s.is_empty());
        events.send(RemoteEvent::Presence { sender: sender.clone(), available, status });
        if let Some(role) = muc_user.as_ref().and_then(role_of) {
            events.send(RemoteEvent::RoleChanged { chat, sender: Some(sender), role });
        }
    }
}

/// XEP-0045 §7.6: the old nick's unavailable presence (status 303) of a nick change to a
/// nick one of our Matrix users now has in the MUC.
fn is_our_nick_change(shared: &Shared, p: &Presence, muc: &str, muc_user: Option<&MucUserInfo>) -> bool {
    let Some(muc_user) = muc_user.filter(|m| p.type_ == PresenceType::Unavailable && m.statuses.contains(&303)) else { return false };
    muc_user.new_nick.as_deref().is_some_and(|new| shared.is_ours(muc, new))
}

/// The Matrix user's own presence in a MUC: joined, removed, or a join that failed.
fn own_presence(shared: &Shared, client: &XmppClient, p: &Presence, muc: String, chat: PortalKey, muc_user: Option<MucUserInfo>) {
    let events = &client.inner.events;
    match p.type_ {
        PresenceType::None => {
            // In the room: the core makes the portal or invites the user to it.
            let name = muc.split('@').next().map(crate::jid::unescape_node);
            let info = ChatInfo { name, topic: None, avatar: None, kind: ChatKind::Group, members: Vec::new() };
            events.send(RemoteEvent::ChatChanged { chat: chat.clone(), sender: None, info });
            if let Some(role) = muc_user.as_ref().and_then(role_of) {
                events.send(RemoteEvent::RoleChanged { chat, sender: None, role });
            }
            if shared.backfill_messages > 0 && shared.backfilled.lock().expect("lock").insert(muc.clone()) {
                backfill(shared, client, muc);
            }
        }
        PresenceType::Unavailable => {
            let Some(muc_user) = muc_user else { return };
            if muc_user.statuses.contains(&333) {
                // Dropped for a delivery error it blamed on us, not by a moderator: back in.
                client.rejoin(&muc);
                return;
            }
            // 307 kicked, 301 banned, 321 no longer a member, 322 the room became members-only.
            if !muc_user.destroyed && !muc_user.statuses.iter().any(|code| matches!(code, 301 | 307 | 321 | 322)) {
                return; // a nick change, or the MUC going down: self-ping finds out
            }
            let fallback = if muc_user.destroyed { "the XMPP room was destroyed" } else { "removed from the XMPP room" };
            let reason = muc_user.reason.unwrap_or_else(|| fallback.into());
            let by = muc_user.actor.map(|actor| Sender::named(format!("{muc}/{actor}"), actor));
            let client = client.clone();
            let events = events.clone();
            tokio::spawn(async move {
                client.forget_muc(&muc).await;
                events.send(RemoteEvent::Removed { chat, by, reason });
            });
        }
        PresenceType::Error => {
            let Some(error) = p.payloads.iter().find_map(|e| StanzaError::try_from(e.clone()).ok()) else { return };
            let client = client.clone();
            if error.defined_condition == DefinedCondition::Conflict {
                // Someone in the MUC has that nick already: the Matrix user takes another.
                tokio::spawn(async move { client.rejoin_with_another_nick(&muc).await });
                return;
            }
            let why = error.texts.values().next().cloned().unwrap_or_else(|| format!("{:?}", error.defined_condition));
            let events = events.clone();
            tokio::spawn(async move {
                client.forget_muc(&muc).await;
                events.send(RemoteEvent::Removed { chat, by: None, reason: format!("the XMPP room refused the join: {why}") });
            });
        }
        _ => {}
    }
}

/// A MUC role and affiliation as a Matrix role: owners and admins administer, moderators
/// moderate; `None` for everyone else (members keep their default level).
fn role_of(muc_user: &MucUserInfo) -> Option<Role> {
    match (muc_user.affiliation.as_deref(), muc_user.role.as_deref()) {
        (Some("owner" | "admin"), _) => Some(Role::Admin),
        (_, Some("moderator")) => Some(Role::Moderator),
        _ => None,
    }
}

/// Asks the MUC's archive for its last messages as the user; they arrive as MAM results
/// (handled as messages with their time) before the query's answer.
fn backfill(shared: &Shared, client: &XmppClient, muc: String) {
    let (Some(link), Ok(from), Ok(to)) = (shared.link.get().cloned(), client.jid().parse(), muc.parse()) else { return };
    let query = crate::mam::last_messages(&format!("backfill-{}", rand::random::<u32>()), shared.backfill_messages);
    let id = format!("mam-{}", rand::random::<u64>());
    tracing::debug!(muc, "fetching the MUC's last messages");
    // The answer (or an error from a MUC without an archive) needs no handling: the
    // messages come on their own.
    link.send(tokio_xmpp::parsers::iq::Iq::Set { from: Some(from), to: Some(to), id, payload: query });
}
