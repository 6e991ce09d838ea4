//! A puppeting Telegram network for mxbridge.
//!
//! Each Matrix user logs in to their own Telegram account (phone number, login code, 2FA
//! password; or a QR code). Their chats become portals owned by their login: private chats
//! as DMs, groups with their members as ghosts (`@telegram_<id>:domain`), channels
//! read-only. Messages, formatting (entities ⇄ HTML), replies, edits, deletions,
//! reactions, media, locations, typing and read receipts are bridged; calls are not, and the
//! user is told once per call.
//!
//! The bridge logic (this crate's `client`, `login`, `convert`, `entities`, `flood`) is
//! written once over the crate's own [`backend::TelegramBackend`] trait, which has two
//! implementations, chosen by `network.backend`:
//! - `simulated` ([`sim`]): an in-process, deterministic Telegram for tests and demos;
//! - `real` (`real`): Telegram's servers over MTProto through grammers.

mod avatars;
pub mod backend;
mod client;
pub mod config;
mod convert;
pub mod entities;
pub mod flood;
pub mod ids;
mod login;
pub mod real;
pub mod session;
pub mod sim;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use mxbridge_core::commands::spec::{CommandSpec, HelpSection};
use mxbridge_core::ids::{RemoteChatId, RemoteUserId};
use mxbridge_core::network::event::EventSink;
use mxbridge_core::network::login::{LoginError, LoginFlow, LoginProcess};
use mxbridge_core::network::{CommandCall, CommandError, Network, NetworkClient, NetworkContext, NetworkError, NetworkInfo, StoredLogin};
use ruma::UserId;

pub use client::TelegramClient;
pub use config::{BackendKind, ConfigError, TelegramConfig, ValidConfig};
pub use login::normalise_phone;

use crate::backend::TelegramBackend;
use crate::session::AccountStore;

/// The Telegram network.
pub struct TelegramNetwork {
    config: ValidConfig,
    backend: Arc<dyn TelegramBackend>,
    ctx: OnceLock<NetworkContext>,
    /// Loaded clients by Matrix user, for network commands (`sync`).
    clients: Mutex<HashMap<String, Arc<TelegramClient>>>,
}

impl TelegramNetwork {
    /// The network the config asks for. With the simulated backend the handle on its
    /// remote side comes along (demos and tests drive it).
    pub fn from_config(raw: TelegramConfig) -> Result<(Arc<Self>, Option<sim::SimHandle>), ConfigError> {
        let config = raw.validate()?;
        match config.backend {
            BackendKind::Simulated => {
                let (backend, handle) = sim::SimBackend::new();
                Ok((Self::with_backend(config, backend), Some(handle)))
            }
            BackendKind::Real => {
                let api = config.api.clone().expect("validated: the real backend has API credentials");
                let backend = real::RealBackend::new(api, config.device_model.clone());
                Ok((Self::with_backend(config, backend), None))
            }
        }
    }

    /// The network over any backend.
    pub fn with_backend(config: ValidConfig, backend: Arc<dyn TelegramBackend>) -> Arc<Self> {
        Arc::new(Self { config, backend, ctx: OnceLock::new(), clients: Mutex::default() })
    }

    fn client_of(&self, user: &UserId) -> Option<Arc<TelegramClient>> {
        self.clients.lock().expect("lock").get(user.as_str()).cloned()
    }
}

#[async_trait]
impl Network for TelegramNetwork {
    fn info(&self) -> NetworkInfo {
        let description = match self.config.backend {
            BackendKind::Real => "Telegram, logged in with your own account",
            BackendKind::Simulated => "a simulated Telegram for tests and demos (not the real Telegram)",
        };
        NetworkInfo { id: "telegram".into(), display_name: "Telegram".into(), description: description.into() }
    }

    fn login_flows(&self) -> Vec<LoginFlow> {
        vec![
            LoginFlow { id: "phone".into(), description: "phone number, then the code Telegram sends you".into() },
            LoginFlow { id: "qr".into(), description: "scan a QR code with the Telegram app".into() },
        ]
    }

    fn commands(&self) -> Vec<CommandSpec> {
        vec![
            CommandSpec::new(
                "sync",
                "",
                "Open portals for your recent Telegram chats, and refresh them and your contacts",
                HelpSection::Network,
            )
            .login(),
        ]
    }

    async fn start(&self, ctx: NetworkContext) -> Result<(), NetworkError> {
        let _ = self.ctx.set(ctx);
        Ok(())
    }

    fn create_login(&self, user: &UserId, flow: &str) -> Result<Box<dyn LoginProcess>, LoginError> {
        match flow {
            "phone" => Ok(Box::new(login::PhoneLogin::new(self.backend.phone_login()))),
            "qr" => match self.backend.qr_login(user.as_str()) {
                Some(attempt) => Ok(Box::new(login::QrLogin::new(attempt))),
                None => Err(LoginError::Other("QR login is not available with this Telegram backend; use `login phone`".into())),
            },
            other => Err(LoginError::UnknownFlow(other.to_owned())),
        }
    }

    fn load_login(&self, stored: StoredLogin, events: EventSink) -> Result<Arc<dyn NetworkClient>, NetworkError> {
        let ctx = self.ctx.get();
        let store = AccountStore::new(ctx.map(|c| c.sessions.clone()), stored.id.clone());
        let account = self.backend.restore(stored.secret.expose(), store.clone()).map_err(client::to_network_error)?;
        let client = Arc::new(TelegramClient::new(
            stored.id,
            stored.user.clone(),
            account,
            events,
            ctx.map(|c| c.ghosts.clone()),
            store,
            self.config.clone(),
        ));
        self.clients.lock().expect("lock").insert(stored.user.to_string(), client.clone());
        Ok(client)
    }

    async fn run_command(&self, call: CommandCall<'_>) -> Result<String, CommandError> {
        match call.name {
            "sync" => {
                let client = self.client_of(call.user).ok_or_else(|| CommandError::Failed("you are not logged in: send `login`".into()))?;
                let failed = |e: backend::BackendError| CommandError::Failed(sync_failure(&e));
                let chats = client.inner.sync_chats().await.map_err(failed)?;
                let contacts = client.inner.sync_contacts().await.map_err(failed)?;
                Ok(format!(
                    "Synced {chats} recent chats: you are invited to the ones you were not in yet. Refreshed the names and pictures of {contacts} contacts."
                ))
            }
            _ => Err(CommandError::Unknown),
        }
    }

    fn chat_id(&self, name: &str) -> Option<RemoteChatId> {
        ids::peer_of(&RemoteChatId::new(name)).map(ids::chat_id)
    }

    fn dm_chat_for(&self, user: &RemoteUserId) -> Option<RemoteChatId> {
        ids::telegram_user(user).map(|id| ids::chat_id(backend::Peer::User(id)))
    }

    fn status_room_name(&self, _login: &mxbridge_core::ids::LoginId) -> String {
        "Telegram bridge status".into()
    }
}

/// What `sync` says when Telegram fails: "try again" only where waiting helps.
fn sync_failure(e: &backend::BackendError) -> String {
    use backend::BackendError as E;
    match e {
        E::Unreachable(_) => format!("Sync failed ({e}); the bridge reconnects by itself: try again in a moment."),
        E::FloodWait(seconds) => format!("Sync failed: Telegram asks the bridge to wait {seconds} s; send `sync` again after that."),
        E::Revoked(_) => format!("Sync failed ({e}): send `login` to log in again."),
        E::NotFound(_) | E::Refused(_) | E::Other(_) => {
            format!("Sync failed ({e}). Trying again will not help; check the account in the Telegram app, and report this if it persists.")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use backend::BackendError;

    #[test]
    fn test_only_transient_sync_failures_say_try_again() {
        assert!(sync_failure(&BackendError::Unreachable("down".into())).contains("try again in a moment"));
        assert!(sync_failure(&BackendError::FloodWait(30)).contains("wait 30 s"));
        for lasting in [BackendError::Refused("no".into()), BackendError::Revoked("gone".into()), BackendError::Other("x".into())] {
            let said = sync_failure(&lasting);
            assert!(!said.contains("try again in a moment"), "{said}");
        }
        assert!(sync_failure(&BackendError::Revoked("gone".into())).contains("`login`"));
    }
}
