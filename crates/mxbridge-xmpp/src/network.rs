//! The XMPP network: one component connection, and on it a JID for every Matrix user who
//! uses the bridge (created on demand, no login step).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use mxbridge_core::ids::{LoginId, RemoteChatId};
use mxbridge_core::network::event::EventSink;
use mxbridge_core::network::login::{LoginError, LoginFlow, LoginProcess, NewLogin};
use mxbridge_core::network::{AutoLogins, Network, NetworkClient, NetworkContext, NetworkError, NetworkInfo, StoredLogin};
use mxbridge_core::secret::Secret;
use ruma::UserId;
use tokio::sync::mpsc;

use crate::client::XmppClient;
use crate::config::XmppConfig;
use crate::link::{ComponentLink, LinkOptions};

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
    pub(crate) readers: Mutex<HashMap<String, String>>,
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
}

impl XmppNetwork {
    /// A network from its config section.
    pub fn new(config: XmppConfig) -> Arc<Self> {
        let shared = Arc::new(Shared { component: config.component.clone(), ..Shared::default() });
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
        let (tx, rx) = mpsc::unbounded_channel();
        let opts = LinkOptions { jid: self.config.component.clone(), secret: self.config.secret.clone(), addr: self.config.server.clone() };
        let link = Arc::new(ComponentLink::spawn(opts, tx));
        let _ = self.link.set(link.clone());
        let _ = self.shared.link.set(link);
        tokio::spawn(crate::incoming::route(rx, self.shared.clone()));
        Ok(())
    }

    fn create_login(&self, _user: &UserId, flow: &str) -> Result<Box<dyn LoginProcess>, LoginError> {
        Err(LoginError::UnknownFlow(format!("{flow} (XMPP needs no login: join a room or start a chat)")))
    }

    fn auto_login(&self, user: &UserId) -> Option<NewLogin> {
        let node = crate::jid::node_for_matrix_user(user).ok()?;
        Some(NewLogin {
            id: LoginId::new(format!("xmpp:{user}")),
            remote_name: format!("{node}@{}", self.config.component),
            metadata: serde_json::json!({"nick": user.localpart()}),
            secret: Secret::new(Vec::new()),
        })
    }

    fn load_login(&self, stored: StoredLogin, events: EventSink) -> Result<Arc<dyn NetworkClient>, NetworkError> {
        let node = crate::jid::node_for_matrix_user(&stored.user).map_err(|e| NetworkError::Other(e.to_string()))?;
        let nick = stored.metadata["nick"].as_str().unwrap_or(stored.user.localpart()).to_owned();
        let client = XmppClient::new(format!("{node}@{}", self.config.component), nick, events, self.link()?);
        self.shared.clients.lock().expect("lock").insert(node, client.clone());
        Ok(Arc::new(client))
    }

    /// `#_xmpp_room=40conference.example.org:domain` names the MUC `room@conference.example.org`
    /// (the core's escaping; `_` is its escape character, so bifrost's `room_host` form
    /// cannot be told apart from an escape).
    fn chat_for_alias(&self, suffix: &str) -> Option<RemoteChatId> {
        let (node, domain) = crate::jid::parse_bare(suffix).ok()?;
        Some(RemoteChatId::new(format!("{node}@{domain}")))
    }
}
