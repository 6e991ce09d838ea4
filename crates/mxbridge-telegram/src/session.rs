//! Per-account state the bridge keeps besides the login's secret: whether the first chat
//! sync ran, and (for the real backend) the access-hash cache. It lives in the core's
//! session store, which encrypts values at rest.

use mxbridge_core::ids::LoginId;
use mxbridge_core::network::{SessionStore, SessionStoreError};

/// The session store of one account, with this crate's keys.
#[derive(Clone)]
pub struct AccountStore {
    sessions: Option<SessionStore>,
    login: LoginId,
}

/// Set once the chats of a new login were synced, so a restart does not invite again.
pub(crate) const INITIAL_SYNC_DONE: &str = "telegram.initial_sync_done";

impl AccountStore {
    /// The store of `login`; `None` keeps nothing (before the bridge started the network).
    pub fn new(sessions: Option<SessionStore>, login: LoginId) -> Self {
        Self { sessions, login }
    }

    /// Reads a value.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, SessionStoreError> {
        match &self.sessions {
            Some(s) => s.get(&self.login, key).await,
            None => Ok(None),
        }
    }

    /// Writes a value.
    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), SessionStoreError> {
        match &self.sessions {
            Some(s) => s.set(&self.login, key, value).await,
            None => Ok(()),
        }
    }

    /// Deletes a value.
    pub async fn delete(&self, key: &str) -> Result<(), SessionStoreError> {
        match &self.sessions {
            Some(s) => s.delete(&self.login, key).await,
            None => Ok(()),
        }
    }
}
