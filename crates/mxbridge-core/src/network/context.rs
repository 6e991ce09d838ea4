//! What a network is given: at start ([`NetworkContext`]: session store, media links,
//! automatic logins, the Matrix side of gateway rooms, ghost IDs) and per login
//! ([`StoredLogin`]).

use std::sync::Arc;

use async_trait::async_trait;
use ruma::{OwnedServerName, OwnedUserId, UserId};

use super::gateway;
use crate::ids::{LoginId, RemoteChatId, RemoteUserId};
use crate::matrix::ghost_id::Template;
use crate::media_links::MediaLinks;
use crate::secret::Secret;
use crate::store::Store;

/// A login as stored in the database, handed to [`Network::load_login`](super::Network::load_login).
#[derive(Clone, Debug)]
pub struct StoredLogin {
    /// The remote account.
    pub id: LoginId,
    /// The Matrix user it belongs to.
    pub user: OwnedUserId,
    /// Human-readable account name.
    pub remote_name: String,
    /// Non-secret data the network stored at login.
    pub metadata: serde_json::Value,
    /// Secret data the network stored at login (decrypted).
    pub secret: Secret<Vec<u8>>,
}

/// A per-login key/value store, encrypted at rest, for networks that must persist session
/// state as they run (Signal keys, update state).
#[derive(Clone)]
pub struct SessionStore {
    store: Store,
}

/// A session store operation failed.
#[derive(Debug, thiserror::Error)]
#[error("the session store failed: {0}")]
pub struct SessionStoreError(String);

impl SessionStore {
    pub(crate) fn new(store: Store) -> Self {
        Self { store }
    }

    /// A session store on a database of the caller's, for tools and tests that run a
    /// network outside the bridge (`mxbridge-bench`); the bridge makes its own.
    pub fn for_tools(store: Store) -> Self {
        Self::new(store)
    }

    /// Reads a value.
    pub async fn get(&self, login: &LoginId, key: &str) -> Result<Option<Vec<u8>>, SessionStoreError> {
        self.store.kv_get(login.as_str(), key).await.map_err(|e| SessionStoreError(e.to_string()))
    }

    /// Writes a value.
    pub async fn set(&self, login: &LoginId, key: &str, value: &[u8]) -> Result<(), SessionStoreError> {
        self.store.kv_set(login.as_str(), key, value).await.map_err(|e| SessionStoreError(e.to_string()))
    }

    /// Deletes a value.
    pub async fn delete(&self, login: &LoginId, key: &str) -> Result<(), SessionStoreError> {
        self.store.kv_delete(login.as_str(), key).await.map_err(|e| SessionStoreError(e.to_string()))
    }
}

/// What a network gets when the bridge starts.
#[derive(Clone)]
pub struct NetworkContext {
    /// Persistent per-login state.
    pub sessions: SessionStore,
    /// Public links to files, for what the network cannot carry itself (see
    /// [`MediaLinks::publish`]); [`MediaLinks::enabled`] is false when `bridge.public_url`
    /// is not set.
    pub links: MediaLinks,
    /// Starts the automatic login of a Matrix user the network is contacted for (an XMPP
    /// user writes to `alice_example.org@component` before Alice ever used the bridge).
    pub auto_logins: Arc<dyn AutoLogins>,
    /// The Matrix side of gateway rooms (remote users joining Matrix rooms from their own
    /// network).
    pub rooms: Arc<dyn gateway::MatrixRooms>,
    /// The Matrix IDs of ghosts, for networks that turn remote mentions into pills and pills
    /// back into remote mentions.
    pub ghosts: GhostIds,
}

/// Maps remote users to their ghosts' Matrix IDs and back, with no I/O.
#[derive(Clone, Debug)]
pub struct GhostIds {
    template: Template,
    domain: OwnedServerName,
}

impl GhostIds {
    pub fn new(template: Template, domain: OwnedServerName) -> Self {
        Self { template, domain }
    }

    /// The ghost of a remote user.
    pub fn user_id(&self, remote: &RemoteUserId) -> OwnedUserId {
        let localpart = self.template.localpart(remote.as_str(), self.domain.as_str());
        UserId::parse(format!("@{localpart}:{}", self.domain)).expect("escaped localparts always make valid user IDs")
    }

    /// The remote user a Matrix user stands for, when it is one of this bridge's ghosts.
    pub fn remote_of(&self, user: &str) -> Option<RemoteUserId> {
        let user = UserId::parse(user).ok()?;
        if user.server_name() != self.domain {
            return None;
        }
        self.template.remote_id(user.localpart()).map(RemoteUserId::new)
    }
}

/// Creates automatic logins on the network's behalf.
#[async_trait]
pub trait AutoLogins: Send + Sync {
    /// Makes sure the Matrix user has their automatic login for `chat` (see
    /// [`Network::auto_login`](super::Network::auto_login)), if they may use the bridge; true when they have one
    /// afterwards.
    async fn ensure(&self, user: &UserId, chat: Option<&RemoteChatId>) -> bool;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_ghost_ids_round_trip_and_reject_others() {
        let ids = GhostIds::new(Template::parse("telegram_{{.}}").unwrap(), "example.org".try_into().unwrap());
        let ghost = ids.user_id(&RemoteUserId::new("1002"));
        assert_eq!(ghost.as_str(), "@telegram_1002:example.org");
        assert_eq!(ids.remote_of(ghost.as_str()), Some(RemoteUserId::new("1002")));
        assert_eq!(ids.remote_of("@telegram_1002:other.org"), None, "another server's user");
        assert_eq!(ids.remote_of("@alice:example.org"), None, "a real Matrix user");
        assert_eq!(ids.remote_of("not an id"), None);
    }
}
