//! A puppeting WhatsApp bridge for mxbridge.
//!
//! The bridge logic — JIDs ⇄ ghosts and portals ([`jid`]), WhatsApp markup ⇄ rich text
//! ([`markup`]), events ([`incoming`](crate)), commands, login flows and the phone-offline
//! warning — is written once above the [`backend::WhatsAppBackend`] trait. Two backends
//! implement it: [`sim`], a deterministic simulated network for tests and demos
//! (`backend: simulated`), and `real` (feature `real`), the multi-device protocol through
//! whatsapp-rust. Tests on the simulated backend are named `*_sim`: they prove the bridge,
//! not the protocol.

pub mod backend;
mod client;
mod commands;
pub mod config;
mod handle;
mod incoming;
pub mod jid;
mod login;
pub mod markup;
#[cfg(feature = "real")]
pub mod real;
pub mod sim;
mod vcard;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use mxbridge_core::commands::spec::CommandSpec;
use mxbridge_core::ids::{RemoteChatId, RemoteUserId};
use mxbridge_core::network::event::EventSink;
use mxbridge_core::network::login::{LoginError, LoginFlow, LoginProcess};
use mxbridge_core::network::{
    CommandCall, CommandError, GhostIds, Network, NetworkClient, NetworkContext, NetworkError, NetworkInfo, SessionStore, StoredLogin,
};
use ruma::{OwnedUserId, UserId};

use crate::backend::{Account, WhatsAppBackend};
use crate::client::WhatsAppClient;
pub use crate::config::{BackendKind, ConfigError, SimConfig, WhatsAppConfig};
use crate::handle::ClientHandle;
pub use crate::sim::{SimAction, SimBackend, SimHandle};

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// What the network and its clients share.
pub(crate) struct Shared {
    pub(crate) config: WhatsAppConfig,
    pub(crate) ghosts: OnceLock<GhostIds>,
    pub(crate) sessions: OnceLock<SessionStore>,
}

/// The WhatsApp network.
pub struct WhatsAppNetwork {
    shared: Arc<Shared>,
    backend: Arc<dyn WhatsAppBackend>,
    /// Each Matrix user's client, for the network's own commands.
    clients: Mutex<HashMap<OwnedUserId, Arc<WhatsAppClient>>>,
}

/// The network could not be built from its config.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A setting is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `backend: real` in a build without the real backend.
    #[error(
        "config key `network.backend`: this build has no real WhatsApp backend (fix: build with the `real` feature, or use `backend: simulated`)"
    )]
    NoRealBackend,
}

impl WhatsAppNetwork {
    /// The network with the backend its config names. A simulated network's handle is
    /// returned too.
    pub fn from_config(config: WhatsAppConfig) -> Result<(Arc<Self>, Option<SimHandle>), BuildError> {
        config.validate()?;
        match config.backend {
            BackendKind::Simulated => {
                let (backend, handle) = SimBackend::new(config.simulated.clone());
                Ok((Self::with_backend(config, Arc::new(backend)), Some(handle)))
            }
            #[cfg(feature = "real")]
            BackendKind::Real => {
                let backend = real::RealBackend::new(config.data_directory.clone(), config.device_name.clone());
                Ok((Self::with_backend(config, Arc::new(backend)), None))
            }
            #[cfg(not(feature = "real"))]
            BackendKind::Real => Err(BuildError::NoRealBackend),
        }
    }

    /// The network over any backend.
    pub fn with_backend(config: WhatsAppConfig, backend: Arc<dyn WhatsAppBackend>) -> Arc<Self> {
        let shared = Arc::new(Shared { config, ghosts: OnceLock::new(), sessions: OnceLock::new() });
        Arc::new(Self { shared, backend, clients: Mutex::default() })
    }
}

#[async_trait]
impl Network for WhatsAppNetwork {
    fn info(&self) -> NetworkInfo {
        NetworkInfo {
            id: "whatsapp".into(),
            display_name: "WhatsApp".into(),
            description: "WhatsApp, as a linked device of your phone".into(),
        }
    }

    fn login_flows(&self) -> Vec<LoginFlow> {
        vec![
            LoginFlow { id: "qr".into(), description: "scan a QR code with WhatsApp on your phone".into() },
            LoginFlow {
                id: "phone".into(),
                description: "type a pairing code in WhatsApp on your phone (`login phone +4412345678`)".into(),
            },
        ]
    }

    fn commands(&self) -> Vec<CommandSpec> {
        commands::specs()
    }

    async fn start(&self, ctx: NetworkContext) -> Result<(), NetworkError> {
        let _ = self.shared.ghosts.set(ctx.ghosts);
        let _ = self.shared.sessions.set(ctx.sessions);
        Ok(())
    }

    fn create_login(&self, user: &UserId, flow: &str) -> Result<Box<dyn LoginProcess>, LoginError> {
        let by_phone = match flow {
            "qr" => false,
            "phone" => true,
            other => return Err(LoginError::UnknownFlow(other.to_owned())),
        };
        Ok(Box::new(login::WhatsAppLogin::new(self.backend.clone(), user.to_string(), self.shared.config.device_name.clone(), by_phone)))
    }

    fn load_login(&self, stored: StoredLogin, events: EventSink) -> Result<Arc<dyn NetworkClient>, NetworkError> {
        let account: Account = serde_json::from_value(stored.metadata.clone())
            .map_err(|e| NetworkError::Other(format!("the stored WhatsApp login is not readable ({e}): send `login` again")))?;
        let session = self
            .backend
            .open(&account, stored.secret.expose())
            .map_err(|e| NetworkError::Other(format!("{e}: send `login` to link the bridge again")))?;
        let client = Arc::new(WhatsAppClient::new(stored.id, account, session, events, self.shared.clone()));
        self.clients.lock().expect("lock").insert(stored.user, client.clone());
        Ok(Arc::new(ClientHandle(client)))
    }

    async fn run_command(&self, call: CommandCall<'_>) -> Result<String, CommandError> {
        let client = self.clients.lock().expect("lock").get(call.user).cloned();
        let client = client
            .filter(|_| call.client.as_ref().is_some_and(|c| c.is_logged_in()))
            .ok_or_else(|| CommandError::Failed("you are not logged in to WhatsApp: send `login`".into()))?;
        commands::run(&call, &client, self.shared.config.contacts_page_size).await
    }

    fn chat_id(&self, name: &str) -> Option<RemoteChatId> {
        if let Some(group) = jid::parse_group(name) {
            return Some(group.chat_id());
        }
        jid::normalize_number(name).ok().map(|n| jid::Jid::user(&n).chat_id())
    }

    fn dm_chat_for(&self, user: &RemoteUserId) -> Option<RemoteChatId> {
        user.as_str().chars().all(|c| c.is_ascii_digit()).then(|| jid::Jid::user(user.as_str()).chat_id())
    }

    fn ghost_display_name(&self, _remote: &RemoteUserId, name: &str) -> String {
        self.shared.config.display_name(name)
    }
}
