//! The gateway: XMPP users find the homeserver's public rooms on the component (XEP-0030
//! disco#items, as on a MUC service), join one as a MUC (`#room_example.org@component`),
//! and talk with its Matrix members, who see them as ghosts. The Matrix side is the core's
//! ([`MatrixRooms`]); this module speaks XEP-0045 to the XMPP users.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use mxbridge_core::ids::RemoteUserId;
use mxbridge_core::network::gateway::{GatewayError, GatewayEvent, MatrixRooms, RoomSnapshot};
use ruma::{OwnedRoomId, OwnedUserId, RoomId};
use tokio_xmpp::Stanza;
use tokio_xmpp::jid::{FullJid, Jid};
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::disco::{DiscoInfoResult, DiscoItemsQuery, DiscoItemsResult, Identity, Item};
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::message::{Id, Lang, Message, MessageType};
use tokio_xmpp::parsers::ns;
use tokio_xmpp::parsers::presence::{Presence, Type as PresenceType};
use tokio_xmpp::parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

use crate::network::Shared;
use crate::xep::{NS_MUC_USER, attr};

/// How many public rooms one disco#items answer lists at most (XEP-0059 pages through more).
const LISTED_ROOMS: usize = 100;
/// How many public rooms the homeserver is asked for, to page through.
const FETCHED_ROOMS: u32 = 1000;

/// One Matrix room joined from XMPP.
#[derive(Default)]
pub(crate) struct GatewayRoom {
    /// The room's JID.
    jid: String,
    /// XMPP occupants: full JID → nick.
    occupants: HashMap<String, String>,
    /// Matrix members (not the XMPP occupants' ghosts) → their nick on XMPP.
    matrix_nicks: HashMap<OwnedUserId, String>,
}

impl GatewayRoom {
    fn nick_taken(&self, nick: &str, by_jid: &str) -> bool {
        self.matrix_nicks.values().any(|n| n == nick) || self.occupants.iter().any(|(jid, n)| n == nick && jid != by_jid)
    }

    fn occupant_bare_jids(&self) -> BTreeSet<String> {
        self.occupants.keys().map(|j| bare_of(j).to_owned()).collect()
    }
}

fn bare_of(full: &str) -> &str {
    full.split('/').next().unwrap_or(full)
}

/// A Matrix member's nick: their name made fit for a resource, unique in the room.
fn matrix_nick(user: &ruma::UserId, name: &str, taken: impl Fn(&str) -> bool) -> String {
    let cleaned: String = name.chars().filter(|c| !c.is_control() && *c != '/').collect();
    let mut nick = cleaned.trim().chars().take(64).collect::<String>();
    if nick.is_empty() {
        nick = user.localpart().to_owned();
    }
    if taken(&nick) { format!("{nick} ({user})") } else { nick }
}

/// `<x xmlns='…muc#user'><item affiliation='none' role='participant'/>` plus status codes.
fn muc_user(statuses: &[u16], role: &str, jid: Option<&str>) -> Element {
    let mut item = Element::builder("item", NS_MUC_USER).attr(attr("affiliation"), "none").attr(attr("role"), role);
    if let Some(jid) = jid {
        item = item.attr(attr("jid"), jid);
    }
    let mut x = Element::builder("x", NS_MUC_USER).append(item.build());
    for code in statuses {
        x = x.append(Element::builder("status", NS_MUC_USER).attr(attr("code"), code.to_string()).build());
    }
    x.build()
}

fn occupant_presence(room: &str, nick: &str, to: &str, available: bool, statuses: &[u16], real_jid: Option<&str>) -> Option<Presence> {
    let from: Jid = format!("{room}/{nick}").parse().ok()?;
    let to: Jid = to.parse().ok()?;
    let type_ = if available { PresenceType::None } else { PresenceType::Unavailable };
    let mut presence = Presence::new(type_).with_to(to);
    presence.from = Some(from);
    presence.payloads.push(muc_user(statuses, if available { "participant" } else { "none" }, real_jid));
    Some(presence)
}

fn error_presence(room_occupant: Jid, to: Jid, condition: DefinedCondition, text: &str) -> Presence {
    let mut presence = Presence::new(PresenceType::Error).with_to(to);
    presence.from = Some(room_occupant);
    presence.payloads.push(StanzaError::new(ErrorType::Cancel, condition, "en", text).into());
    presence
}

fn condition_of(e: &GatewayError) -> DefinedCondition {
    match e {
        GatewayError::NotFound(_) => DefinedCondition::ItemNotFound,
        GatewayError::Forbidden(_) => DefinedCondition::Forbidden,
        GatewayError::Homeserver(_) => DefinedCondition::ServiceUnavailable,
    }
}

impl Shared {
    fn rooms_api(&self) -> Option<Arc<dyn MatrixRooms>> {
        self.matrix_rooms.get().cloned()
    }

    fn send_all(&self, stanzas: impl IntoIterator<Item = impl Into<Stanza>>) {
        if let Some(link) = self.link.get() {
            for stanza in stanzas {
                link.send(stanza);
            }
        }
    }

    /// The Matrix room a room JID's node names, if it is joined from XMPP already.
    fn joined_room(&self, room_jid: &str) -> Option<OwnedRoomId> {
        self.gateway_rooms.lock().expect("lock").iter().find(|(_, r)| r.jid == room_jid).map(|(id, _)| id.clone())
    }
}

/// Handles stanzas to room JIDs in the order they came (a join before the first message).
pub(crate) async fn run(mut queue: tokio::sync::mpsc::Receiver<Stanza>, shared: std::sync::Weak<Shared>) {
    while let Some(stanza) = queue.recv().await {
        let Some(shared) = shared.upgrade() else { return };
        match stanza {
            Stanza::Presence(p) => presence(shared, p).await,
            Stanza::Message(m) => message(shared, m).await,
            Stanza::Iq(iq) => answer_iq(shared, iq).await,
        }
    }
}

/// A presence to a room JID: an XMPP user joins or leaves a Matrix room.
pub(crate) async fn presence(shared: Arc<Shared>, p: Presence) {
    let (Some(Ok(from)), Some(Ok(to))) = (p.from.clone().map(Jid::try_into_full), p.to.clone().map(Jid::try_into_full)) else { return };
    let room_jid = to.to_bare().to_string();
    let nick = to.resource().as_str().to_owned();
    match p.type_ {
        PresenceType::None => {
            let hint = crate::vcard::photo_hint(&p.payloads);
            join(&shared, from, to, room_jid, nick, hint).await
        }
        PresenceType::Unavailable => leave(&shared, &from, &room_jid).await,
        _ => {}
    }
}

async fn join(shared: &Arc<Shared>, from: FullJid, to: FullJid, room_jid: String, nick: String, photo: crate::vcard::PhotoHint) {
    let Some(api) = shared.rooms_api() else { return };
    let refuse = |condition, text: &str| shared.send_all([error_presence(to.clone().into(), from.clone().into(), condition, text)]);
    let Some(address) = to.node().and_then(|n| crate::jid::matrix_room_for_node(n.as_str())) else {
        return refuse(DefinedCondition::ItemNotFound, "this address names no Matrix room");
    };
    let room = match api.resolve(&address).await {
        Ok(room) => room,
        Err(e) => return refuse(condition_of(&e), &e.to_string()),
    };
    let full = from.to_string();
    let bare = from.to_bare().to_string();
    let taken = shared.gateway_rooms.lock().expect("lock").get(&room).is_some_and(|r| r.nick_taken(&nick, &full));
    if taken {
        return refuse(DefinedCondition::Conflict, "someone in the room has that nick; choose another");
    }
    // The ghost keeps a name its vCard gave it, in every room.
    let shown = shared.profiles.name_for(&bare, &nick);
    let snapshot = match api.join(&room, &RemoteUserId::new(bare.clone()), &shown).await {
        Ok(s) => s,
        Err(e) => return refuse(condition_of(&e), &e.to_string()),
    };
    let mut stanzas: Vec<Stanza> = Vec::new();
    {
        let mut rooms = shared.gateway_rooms.lock().expect("lock");
        let state = rooms.entry(room.clone()).or_default();
        state.jid = room_jid.clone();
        refresh_matrix_members(state, &snapshot, api.as_ref());
        // Everyone already there, Matrix members and other XMPP users, then the newcomer.
        for nick in state.matrix_nicks.values() {
            stanzas.extend(occupant_presence(&room_jid, nick, &full, true, &[], None).map(Into::into));
        }
        for (jid, other) in state.occupants.iter().filter(|(j, _)| **j != full) {
            stanzas.extend(occupant_presence(&room_jid, other, &full, true, &[], None).map(Into::into));
            stanzas.extend(occupant_presence(&room_jid, &nick, jid, true, &[], None).map(Into::into));
        }
        state.occupants.insert(full.clone(), nick.clone());
    }
    // 110: this is you; 100: the room is not anonymous (Matrix IDs are public).
    stanzas.extend(occupant_presence(&room_jid, &nick, &full, true, &[100, 110], Some(&full)).map(Into::into));
    stanzas.extend(subject(&room_jid, &full, snapshot.topic.as_deref().unwrap_or_default()).map(Into::into));
    tracing::info!(room = %room, jid = %full, "an XMPP user joined a Matrix room through the gateway");
    shared.send_all(stanzas);
    crate::vcard::seen_in_gateway(shared, api, &bare, photo);
}

/// The Matrix members of a snapshot, without the XMPP occupants' own ghosts.
fn refresh_matrix_members(state: &mut GatewayRoom, snapshot: &RoomSnapshot, api: &dyn MatrixRooms) {
    let ghosts: BTreeSet<OwnedUserId> = state.occupant_bare_jids().iter().map(|b| api.ghost_of(&RemoteUserId::new(b.clone()))).collect();
    state.matrix_nicks.clear();
    for (user, name) in &snapshot.members {
        if ghosts.contains(user) {
            continue;
        }
        let nick = matrix_nick(user, name, |n| state.matrix_nicks.values().any(|t| t == n));
        state.matrix_nicks.insert(user.clone(), nick);
    }
}

/// The room's subject; XEP-0045 clients count a join complete when it arrives.
fn subject(room_jid: &str, to: &str, topic: &str) -> Option<Message> {
    let mut message = Message::new_with_type(MessageType::Groupchat, Some(to.parse().ok()?));
    message.from = Some(room_jid.parse().ok()?);
    message.subjects.insert(Lang::default(), topic.to_owned());
    Some(message)
}

async fn leave(shared: &Arc<Shared>, from: &FullJid, room_jid: &str) {
    let full = from.to_string();
    let bare = from.to_bare().to_string();
    let Some(room) = shared.joined_room(room_jid) else { return };
    let (nick, others, last_of_bare) = {
        let mut rooms = shared.gateway_rooms.lock().expect("lock");
        let Some(state) = rooms.get_mut(&room) else { return };
        let Some(nick) = state.occupants.remove(&full) else { return };
        let others: Vec<String> = state.occupants.keys().cloned().collect();
        let last = !others.iter().any(|j| bare_of(j) == bare);
        (nick, others, last)
    };
    let mut stanzas: Vec<Presence> = occupant_presence(room_jid, &nick, &full, false, &[110], Some(&full)).into_iter().collect();
    stanzas.extend(others.iter().filter_map(|jid| occupant_presence(room_jid, &nick, jid, false, &[], None)));
    shared.send_all(stanzas);
    if last_of_bare
        && let Some(api) = shared.rooms_api()
        && let Err(e) = api.leave(&room, &RemoteUserId::new(bare)).await
    {
        tracing::warn!(room = %room, error = %e, "an XMPP user's ghost could not leave a gateway room");
    }
}

/// A groupchat message to a room JID: an occupant speaks in the Matrix room.
pub(crate) async fn message(shared: Arc<Shared>, m: Message) {
    let (Some(Ok(from)), Some(to)) = (m.from.clone().map(Jid::try_into_full), m.to.clone()) else { return };
    if m.type_ != MessageType::Groupchat {
        return;
    }
    let full = from.to_string();
    let room_jid = to.to_bare().to_string();
    let Some(room) = shared.joined_room(&room_jid) else { return not_an_occupant(&shared, &m) };
    let (nick, occupants) = {
        let rooms = shared.gateway_rooms.lock().expect("lock");
        let Some(state) = rooms.get(&room) else { return };
        let Some(nick) = state.occupants.get(&full).cloned() else { return not_an_occupant(&shared, &m) };
        (nick, state.occupants.keys().cloned().collect::<Vec<_>>())
    };
    let Some(body) = m.bodies.get(&Lang::default()).or_else(|| m.bodies.values().next()).cloned() else { return };
    let Some(api) = shared.rooms_api() else { return };
    let content = crate::styling::incoming(&body, &m.payloads);
    match api.send(&room, &RemoteUserId::new(from.to_bare().to_string()), &content).await {
        Ok(_) => {
            // XEP-0045 reflects every message to every occupant, the sender included, with its id.
            let id = m.id.clone();
            let reflected = occupants.iter().filter_map(|to| {
                let mut copy =
                    Message::new_with_type(MessageType::Groupchat, Some(to.parse().ok()?)).with_body(Lang::default(), body.clone());
                copy.from = Some(format!("{room_jid}/{nick}").parse().ok()?);
                copy.id = id.clone();
                Some(copy)
            });
            shared.send_all(reflected.collect::<Vec<_>>());
        }
        Err(e) => {
            tracing::warn!(room = %room, error = %e, "a gateway message did not reach Matrix");
            let mut error = Message::new_with_type(MessageType::Error, Some(from.into()));
            error.from = Some(to);
            error.id = m.id.clone();
            error.payloads.push(StanzaError::new(ErrorType::Wait, condition_of(&e), "en", e.to_string()).into());
            shared.send_all([error]);
        }
    }
}

fn not_an_occupant(shared: &Shared, m: &Message) {
    let (Some(from), Some(to)) = (m.from.clone(), m.to.clone()) else { return };
    let mut error = Message::new_with_type(MessageType::Error, Some(from));
    error.from = Some(to);
    error.id = m.id.clone();
    let text = "you are not in this room: join it first";
    error.payloads.push(StanzaError::new(ErrorType::Modify, DefinedCondition::NotAcceptable, "en", text).into());
    shared.send_all([error]);
}

/// Something happened in a Matrix room joined from XMPP: its XMPP occupants hear of it.
pub(crate) fn matrix_event(shared: &Shared, room: &RoomId, event: GatewayEvent) {
    let Some(api) = shared.rooms_api() else { return };
    let mut rooms = shared.gateway_rooms.lock().expect("lock");
    let Some(state) = rooms.get_mut(room) else { return };
    let ghosts: BTreeSet<OwnedUserId> = state.occupant_bare_jids().iter().map(|b| api.ghost_of(&RemoteUserId::new(b.clone()))).collect();
    let occupants: Vec<String> = state.occupants.keys().cloned().collect();
    let room_jid = state.jid.clone();
    let stanzas: Vec<Stanza> = match event {
        // The occupants' own messages were reflected when they sent them.
        GatewayEvent::Message { sender, .. } if ghosts.contains(&sender) => return,
        GatewayEvent::Message { sender, sender_name, event_id, content } => {
            let nick = match state.matrix_nicks.get(&sender) {
                Some(n) => n.clone(),
                None => matrix_nick(&sender, &sender_name, |n| state.matrix_nicks.values().any(|t| t == n)),
            };
            let body = crate::styling::outgoing(&content);
            let body = match content.media.as_ref().and_then(|m| m.url.clone()) {
                Some(url) => format!("{body} {url}").trim().to_owned(),
                None => body,
            };
            occupants
                .iter()
                .filter_map(|to| {
                    let mut m =
                        Message::new_with_type(MessageType::Groupchat, Some(to.parse().ok()?)).with_body(Lang::default(), body.clone());
                    m.from = Some(format!("{room_jid}/{nick}").parse().ok()?);
                    m.id = Some(Id(event_id.to_string()));
                    Some(m.into())
                })
                .collect()
        }
        GatewayEvent::Member { user, .. } if ghosts.contains(&user) => return,
        GatewayEvent::Member { user, name, joined } => {
            let nick = if joined {
                let nick = matrix_nick(&user, &name, |n| state.matrix_nicks.iter().any(|(u, t)| t == n && *u != user));
                match state.matrix_nicks.insert(user.clone(), nick.clone()) {
                    Some(old) if old == nick => return, // a profile change that keeps the nick
                    _ => nick,
                }
            } else {
                let Some(nick) = state.matrix_nicks.remove(&user) else { return };
                nick
            };
            occupants.iter().filter_map(|to| occupant_presence(&room_jid, &nick, to, joined, &[], None).map(Into::into)).collect()
        }
        GatewayEvent::Topic(topic) => occupants.iter().filter_map(|to| subject(&room_jid, to, &topic).map(Into::into)).collect(),
    };
    drop(rooms);
    shared.send_all(stanzas);
}

/// Whether an IQ is the gateway's: disco#items of the component, disco#info of a room.
pub(crate) fn is_gateway_iq(iq: &Iq, component: &str) -> bool {
    let Iq::Get { to: Some(to), payload, .. } = iq else { return false };
    let to_component = to.node().is_none() && to.domain().as_str() == component;
    let to_room = to.node().is_some_and(|n| crate::jid::is_room_node(n.as_str()));
    (to_component && payload.is("query", ns::DISCO_ITEMS)) || (to_room && payload.is("query", ns::DISCO_INFO))
}

/// Answers a gateway IQ (it asks the homeserver, so it runs aside).
pub(crate) async fn answer_iq(shared: Arc<Shared>, iq: Iq) {
    let Iq::Get { from, to: Some(to), id, payload } = iq else { return };
    let Some(api) = shared.rooms_api() else { return };
    let answer: Result<Element, DefinedCondition> = if payload.is("query", ns::DISCO_ITEMS) {
        let rsm = DiscoItemsQuery::try_from(payload).ok().and_then(|q| q.rsm);
        match api.public_rooms(None, FETCHED_ROOMS).await {
            Ok(rooms) => {
                let items: Vec<Item> = rooms
                    .iter()
                    .filter_map(|r| {
                        let address = r.alias.clone().unwrap_or_else(|| r.room_id.to_string());
                        let node = crate::jid::node_for_matrix_room(&address)?;
                        let jid: Jid = format!("{node}@{}", shared.component).parse().ok()?;
                        Some(Item { jid, node: None, name: Some(r.name.clone().unwrap_or(address)) })
                    })
                    .collect();
                let keys: Vec<String> = items.iter().map(|i| i.jid.to_string()).collect();
                match crate::rsm::page(&keys, rsm.as_ref(), LISTED_ROOMS) {
                    Some((range, set)) => {
                        // The page's `<set>` when asked for, or when the list goes on.
                        let rsm = (rsm.is_some() || range.len() < items.len()).then_some(set);
                        let items = items[range].to_vec();
                        Ok(DiscoItemsResult { node: None, items, rsm }.into())
                    }
                    None => Err(DefinedCondition::ItemNotFound),
                }
            }
            Err(e) => Err(condition_of(&e)),
        }
    } else {
        let address = to.node().and_then(|n| crate::jid::matrix_room_for_node(n.as_str()));
        match address {
            Some(address) => match api.resolve(&address).await {
                Ok(_) => Ok(room_info(&address).into()),
                Err(e) => Err(condition_of(&e)),
            },
            None => Err(DefinedCondition::ItemNotFound),
        }
    };
    let reply = match answer {
        Ok(payload) => Iq::Result { from: Some(to), to: from, id, payload: Some(payload) },
        Err(condition) => {
            let error = StanzaError::new(ErrorType::Cancel, condition, "en", "no such Matrix room");
            Iq::Error { from: Some(to), to: from, id, error, payload: None }
        }
    };
    shared.send_all([reply]);
}

/// A Matrix room described as a public, open, non-anonymous MUC.
fn room_info(address: &str) -> DiscoInfoResult {
    let features = [ns::MUC, "muc_public", "muc_open", "muc_nonanonymous", "muc_unmoderated", "muc_persistent"];
    DiscoInfoResult {
        node: None,
        identities: vec![Identity::new("conference", "text", "en", address)],
        features: features.iter().map(|f| (*f).to_owned()).collect(),
        extensions: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_matrix_nicks_are_clean_and_unique() {
        let alice = ruma::UserId::parse("@alice:hs.test").unwrap();
        assert_eq!(matrix_nick(&alice, "Alice", |_| false), "Alice");
        assert_eq!(matrix_nick(&alice, "Al/i\nce", |_| false), "Alice");
        assert_eq!(matrix_nick(&alice, "  ", |_| false), "alice");
        assert_eq!(matrix_nick(&alice, "Alice", |n| n == "Alice"), "Alice (@alice:hs.test)");
    }

    #[test]
    fn test_only_gateway_iqs_are_taken() {
        let get = |to: &str, payload: Element| Iq::Get { from: None, to: Some(to.parse().unwrap()), id: "q".into(), payload };
        let items = || Element::builder("query", ns::DISCO_ITEMS).build();
        let info = || Element::builder("query", ns::DISCO_INFO).build();
        assert!(is_gateway_iq(&get("matrix.test", items()), "matrix.test"));
        assert!(is_gateway_iq(&get("#rust_hs.test@matrix.test", info()), "matrix.test"));
        assert!(!is_gateway_iq(&get("matrix.test", info()), "matrix.test"), "the component's own disco#info is answered directly");
        assert!(!is_gateway_iq(&get("alice_hs.test@matrix.test", info()), "matrix.test"), "users are not rooms");
    }
}
