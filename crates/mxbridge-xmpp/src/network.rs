//! The XMPP network: one component connection, and on it a JID for every Matrix user who
//! uses the bridge (created on demand, no login step).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use mxbridge_core::ids::{LoginId, RemoteChatId};
use mxbridge_core::network::event::EventSink;
use mxbridge_core::network::event::{LoginState, RemoteEvent};
use mxbridge_core::network::login::{LoginError, LoginFlow, LoginProcess, NewLogin};
use mxbridge_core::network::{
    AutoLogins, ChatInfo, ChatKind, Network, NetworkClient, NetworkContext, NetworkError, NetworkInfo, SessionStore, StoredLogin,
};
use mxbridge_core::secret::Secret;
use ruma::UserId;
use tokio::sync::mpsc;
use tokio_xmpp::jid::Jid;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::disco::{DiscoInfoQuery, DiscoInfoResult};
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::stanza_error::DefinedCondition;

use crate::client::XmppClient;
use crate::config::XmppConfig;
use crate::link::{ComponentLink, Greeting, LinkOptions, LinkState};

/// The XMPP network.
pub struct XmppNetwork {
    pub(crate) config: XmppConfig,
    link: OnceLock<Arc<ComponentLink>>,
    pub(crate) shared: Arc<Shared>,
}

/// What the router of incoming stanzas shares with the network.
#[derive(Default)]
pub(crate) struct Shared {
    /// Each Matrix user's client, by the node of their JID.
    pub(crate) clients: Mutex<HashMap<String, XmppClient>>,
    /// Which Matrix user's client speaks for each MUC (a MUC sends every occupant a copy).
    pub(crate) readers: mxbridge_core::network::ChatReaders,
    /// Each remote user's last set of reactions per message (chat, sender, message).
    pub(crate) reactions: Mutex<HashMap<(String, String, String), std::collections::BTreeSet<String>>>,
    /// Fetches files XMPP users share; made on first use, after the core set up TLS.
    pub(crate) http: OnceLock<reqwest::Client>,
    /// Starts a Matrix user's session when an XMPP user writes to them first.
    pub(crate) auto_logins: OnceLock<Arc<dyn AutoLogins>>,
    /// The component connection, for answers to IQs.
    pub(crate) link: OnceLock<Arc<ComponentLink>>,
    /// The component's JID.
    pub(crate) component: String,
    /// Where each user's MUCs are kept across bridge restarts.
    pub(crate) sessions: OnceLock<SessionStore>,
    /// MUCs whose archive was fetched in this run (XEP-0313).
    pub(crate) backfilled: Mutex<std::collections::HashSet<String>>,
    /// How many archived messages to fetch for a MUC; 0 for none.
    pub(crate) backfill_messages: u32,
    /// The Matrix side of gateway rooms.
    pub(crate) matrix_rooms: OnceLock<Arc<dyn mxbridge_core::network::gateway::MatrixRooms>>,
    /// Matrix rooms joined by XMPP users through the gateway.
    pub(crate) gateway_rooms: Mutex<HashMap<ruma::OwnedRoomId, crate::gateway::GatewayRoom>>,
    /// Stanzas for gateway rooms, handled one after another in order.
    pub(crate) gateway_queue: OnceLock<mpsc::Sender<tokio_xmpp::Stanza>>,
    /// The MUCs' ids of the bridge's own messages (what XMPP clients answer to).
    pub(crate) stanza_ids: Arc<crate::replies::StanzaIds>,
    /// XMPP users' vCards, by ghost and by photo hash.
    pub(crate) profiles: crate::vcard::Profiles,
    /// IQs sent by the bridge that wait for their answer, by id.
    pub(crate) pending_iqs: Mutex<HashMap<String, tokio::sync::oneshot::Sender<Iq>>>,
}

impl XmppNetwork {
    /// A network from its config section.
    pub fn new(config: XmppConfig) -> Arc<Self> {
        let shared =
            Arc::new(Shared { component: config.component.clone(), backfill_messages: config.backfill_messages, ..Shared::default() });
        Arc::new(Self { config, link: OnceLock::new(), shared })
    }

    fn link(&self) -> Result<Arc<ComponentLink>, NetworkError> {
        self.link.get().cloned().ok_or_else(|| NetworkError::NotConnected("the XMPP component is not started yet".into()))
    }
}

#[async_trait]
impl Network for XmppNetwork {
    fn info(&self) -> NetworkInfo {
        NetworkInfo {
            id: "xmpp".into(),
            display_name: "XMPP".into(),
            description: format!("XMPP, as the component {}", self.config.component),
        }
    }

    fn login_flows(&self) -> Vec<LoginFlow> {
        Vec::new()
    }

    async fn start(&self, ctx: NetworkContext) -> Result<(), NetworkError> {
        let _ = self.shared.auto_logins.set(ctx.auto_logins);
        let _ = self.shared.sessions.set(ctx.sessions);
        let _ = self.shared.matrix_rooms.set(ctx.rooms);
        let (gateway_tx, gateway_rx) = mpsc::channel(ROUTER_QUEUE);
        let _ = self.shared.gateway_queue.set(gateway_tx);
        tokio::spawn(crate::gateway::run(gateway_rx, Arc::downgrade(&self.shared)));
        let (tx, rx) = mpsc::channel(ROUTER_QUEUE);
        let opts = LinkOptions { jid: self.config.component.clone(), secret: self.config.secret.clone(), addr: self.config.server.clone() };
        let shared = Arc::downgrade(&self.shared);
        // After a server restart every MUC has forgotten us: each user joins again.
        let greeting: Greeting = Arc::new(move || shared.upgrade().map(|s| s.all_muc_presences()).unwrap_or_default());
        let link = Arc::new(ComponentLink::spawn(opts, tx, greeting));
        let _ = self.link.set(link.clone());
        let _ = self.shared.link.set(link.clone());
        tokio::spawn(crate::incoming::route(rx, self.shared.clone()));
        tokio::spawn(report_link_states(link.state(), Arc::downgrade(&self.shared)));
        if self.config.self_ping_secs > 0 {
            tokio::spawn(crate::self_ping::run(Arc::downgrade(&self.shared), std::time::Duration::from_secs(self.config.self_ping_secs)));
        }
        Ok(())
    }

    async fn gateway_event(&self, room: &ruma::RoomId, event: mxbridge_core::network::gateway::GatewayEvent) {
        crate::gateway::matrix_event(&self.shared, room, event);
    }

    async fn stop(&self) {
        if let Some(link) = self.link.get() {
            link.close(std::time::Duration::from_secs(5)).await;
        }
    }

    fn create_login(&self, _user: &UserId, flow: &str) -> Result<Box<dyn LoginProcess>, LoginError> {
        Err(LoginError::UnknownFlow(format!("{flow} (XMPP needs no login: join a room or start a chat)")))
    }

    /// The JID is made from the user ID (`alice_example.org@component`); the MUC nick is the
    /// display name, else the localpart.
    fn auto_login(&self, user: &UserId, _chat: Option<&RemoteChatId>, display_name: Option<&str>) -> Option<NewLogin> {
        let node = crate::jid::node_for_matrix_user(user).ok()?;
        let nick = crate::client::muc_nick(display_name).unwrap_or_else(|| user.localpart().to_owned());
        Some(NewLogin {
            id: LoginId::new(format!("xmpp:{user}")),
            remote_name: format!("{node}@{}", self.config.component),
            metadata: serde_json::json!({"nick": nick}),
            secret: Secret::new(Vec::new()),
        })
    }

    fn load_login(&self, stored: StoredLogin, events: EventSink) -> Result<Arc<dyn NetworkClient>, NetworkError> {
        let node = crate::jid::node_for_matrix_user(&stored.user).map_err(|e| NetworkError::Other(e.to_string()))?;
        let nick = stored.metadata["nick"].as_str().unwrap_or(stored.user.localpart()).to_owned();
        let sessions = self.shared.sessions.get().cloned();
        let jid = format!("{node}@{}", self.config.component);
        let client = XmppClient::new(jid, nick, events, self.link()?, sessions, self.shared.stanza_ids.clone());
        self.shared.clients.lock().expect("lock").insert(node, client.clone());
        Ok(Arc::new(client))
    }

    /// `#_xmpp_room=40conference.example.org:domain` (the core's escaping of the JID) and
    /// `#_xmpp_room_conference.example.org:domain` both name the MUC `room@conference.example.org`.
    /// The core hands over the suffix unescaped, where `_c` became `C`: without an `@` it is
    /// escaped back to the raw text and split as [`crate::jid::muc_for_underscore_alias`] says.
    fn chat_for_alias(&self, suffix: &str) -> Option<RemoteChatId> {
        if suffix.contains('@') {
            let (node, domain) = crate::jid::parse_bare(suffix).ok()?;
            return Some(RemoteChatId::new(format!("{node}@{domain}")));
        }
        crate::jid::muc_for_underscore_alias(&mxbridge_core::matrix::ghost_id::escape(suffix)).map(RemoteChatId::new)
    }

    /// Asks the MUC service about the room (XEP-0030) as the component: an alias only
    /// exists for a room that exists and is a MUC.
    async fn lookup_chat(&self, chat: &RemoteChatId) -> Result<Option<ChatInfo>, NetworkError> {
        let room: Jid = chat.as_str().parse().map_err(|_| NetworkError::NotFound(format!("{chat} is not an XMPP address")))?;
        let component: Jid =
            self.config.component.parse().map_err(|e| NetworkError::Other(format!("the component JID is invalid ({e})")))?;
        let query = DiscoInfoQuery { node: None };
        match self.shared.request(component, room, query.into()).await? {
            Iq::Result { payload: Some(payload), .. } => {
                let info =
                    DiscoInfoResult::try_from(payload).map_err(|e| NetworkError::Other(format!("a malformed disco#info answer ({e})")))?;
                let Some(identity) = info.identities.iter().find(|i| i.category == "conference") else {
                    return Err(NetworkError::NotFound(format!("{chat} is not a group chat")));
                };
                let name = identity
                    .name
                    .clone()
                    .filter(|n| !n.is_empty())
                    .or_else(|| chat.as_str().split('@').next().map(crate::jid::unescape_node));
                Ok(Some(ChatInfo { name, topic: None, avatar: None, kind: ChatKind::Group, members: Vec::new() }))
            }
            Iq::Error { error, .. }
                if matches!(error.defined_condition, DefinedCondition::ItemNotFound | DefinedCondition::RemoteServerNotFound) =>
            {
                Err(NetworkError::NotFound(format!("there is no group chat {chat}")))
            }
            Iq::Error { error, .. } => {
                Err(NetworkError::Other(format!("the MUC service refused to describe {chat}: {:?}", error.defined_condition)))
            }
            _ => Err(NetworkError::Other(format!("an empty disco#info answer about {chat}"))),
        }
    }
}

/// How many stanzas from the server may wait for the router (and for the gateway) before
/// the link stops reading.
const ROUTER_QUEUE: usize = 1024;

/// How long the bridge waits for the answer to an IQ it sent.
const IQ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

impl Shared {
    /// Sends a get IQ and waits for its answer (a result, or the error the server or peer
    /// returned).
    pub(crate) async fn request(&self, from: Jid, to: Jid, payload: Element) -> Result<Iq, NetworkError> {
        self.request_iq(|id| Iq::Get { from: Some(from), to: Some(to), id, payload }).await
    }

    /// Sends the IQ `build` makes with the given id and waits for its answer.
    pub(crate) async fn request_iq(&self, build: impl FnOnce(String) -> Iq) -> Result<Iq, NetworkError> {
        let link = self.link.get().ok_or_else(|| NetworkError::NotConnected("the XMPP component is not started yet".into()))?;
        let id = format!("mxq-{}", rand::random::<u64>());
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.pending_iqs.lock().expect("lock").insert(id.clone(), tx);
        link.send(build(id.clone()));
        let answer = tokio::time::timeout(IQ_TIMEOUT, rx).await;
        self.pending_iqs.lock().expect("lock").remove(&id);
        match answer {
            Ok(Ok(iq)) => Ok(iq),
            _ => Err(NetworkError::NotConnected("the XMPP server did not answer in time".into())),
        }
    }

    /// Hands an answer to the request waiting for it; other IQs are given back.
    pub(crate) fn take_answer(&self, iq: Iq) -> Option<Iq> {
        let id = match &iq {
            Iq::Result { id, .. } | Iq::Error { id, .. } => id,
            Iq::Get { .. } | Iq::Set { .. } => return Some(iq),
        };
        let waiting = self.pending_iqs.lock().expect("lock").remove(id);
        match waiting {
            Some(tx) => {
                let _ = tx.send(iq);
                None
            }
            None => Some(iq),
        }
    }

    /// Every user's join presence for every MUC they are in.
    fn all_muc_presences(&self) -> Vec<tokio_xmpp::Stanza> {
        let clients: Vec<XmppClient> = self.clients.lock().expect("lock").values().cloned().collect();
        clients.iter().flat_map(|c| c.join_presences()).map(Into::into).collect()
    }
}

/// Tells every user when the component connection is lost and when it is back (the core
/// waits a while before it bothers them with a short outage).
async fn report_link_states(mut states: tokio::sync::watch::Receiver<LinkState>, shared: std::sync::Weak<Shared>) {
    let mut was_down = false;
    while states.changed().await.is_ok() {
        let state = states.borrow_and_update().clone();
        let report = match state {
            LinkState::Down(why) => {
                was_down = true;
                LoginState::TransientDisconnect(format!("the XMPP server connection was lost ({why}); reconnecting"))
            }
            LinkState::Up if was_down => {
                was_down = false;
                LoginState::Connected
            }
            _ => continue,
        };
        let Some(shared) = shared.upgrade() else { return };
        let clients: Vec<XmppClient> = shared.clients.lock().expect("lock").values().cloned().collect();
        for client in clients {
            client.inner.events.send(RemoteEvent::LoginState(report.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use mxbridge_core::matrix::ghost_id::unescape;

    use super::*;

    #[test]
    fn test_both_alias_forms_name_the_muc() {
        let config: XmppConfig =
            serde_json::from_value(serde_json::json!({"component": "matrix.test", "server": "127.0.0.1:5347", "secret": "s"})).unwrap();
        let network = XmppNetwork::new(config);
        // What the core hands over: the alias localpart after the prefix, unescaped.
        let chat = |raw: &str| network.chat_for_alias(&unescape(raw).expect("a valid escape")).map(|c| c.as_str().to_owned());
        assert_eq!(chat("exampleroom_conference.xmpp.example.com").as_deref(), Some("exampleroom@conference.xmpp.example.com"));
        assert_eq!(chat("exampleroom=40conference.xmpp.example.com").as_deref(), Some("exampleroom@conference.xmpp.example.com"));
        assert_eq!(chat("my_old_room_conference.localhost").as_deref(), Some("my_old_room@conference.localhost"));
        assert_eq!(chat("my__room=40conference.localhost").as_deref(), Some("my_room@conference.localhost"), "the escaped form of `_`");
        assert_eq!(chat("room_localhost"), None, "a host needs a dot");
    }
}
