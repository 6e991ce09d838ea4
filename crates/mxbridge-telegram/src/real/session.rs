//! The grammers session, kept by the bridge: the authorisation (home DC and its keys) is
//! the login's secret, which the core stores encrypted; the access-hash cache and the
//! update state change as the account runs and go to the core's session store (encrypted
//! too), flushed every few seconds and at disconnect. Nothing is in a SQLite file of
//! grammers' own (its `sqlite-storage` clashes with sqlx at link time).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use grammers_session::types::{ChannelState, DcOption, PeerId, PeerInfo, UpdateState, UpdatesState};
use grammers_session::{BoxFuture, Session, SessionData};
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::backend::{BackendError, TgUser};
use crate::session::AccountStore;

const PEERS_KEY: &str = "telegram.session.peers";
const UPDATES_KEY: &str = "telegram.session.updates";
const DCS_KEY: &str = "telegram.session.dcs";

/// The account's own user, kept with the session so `me` needs no call.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct PersistedUser {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) phone: Option<String>,
    pub(crate) username: Option<String>,
}

impl PersistedUser {
    pub(crate) fn to_user(&self) -> TgUser {
        TgUser { id: self.id, name: self.name.clone(), username: self.username.clone(), phone: self.phone.clone(), photo: None }
    }
}

/// What the login's secret holds.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct PersistedSession {
    pub(crate) home_dc: i32,
    pub(crate) dc_options: Vec<DcOption>,
    pub(crate) me: PersistedUser,
}

/// The DC options hold the authorisation keys: a debug print (a log line, a panic message)
/// names the DCs and whether each has a key, never the key.
impl std::fmt::Debug for PersistedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dcs: Vec<String> = self
            .dc_options
            .iter()
            .map(|dc| format!("dc {}{}", dc.id, if dc.auth_key.is_some() { " (auth key redacted)" } else { "" }))
            .collect();
        f.debug_struct("PersistedSession").field("home_dc", &self.home_dc).field("dc_options", &dcs).field("me", &self.me).finish()
    }
}

impl PersistedSession {
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, BackendError> {
        serde_json::from_slice(bytes).map_err(|e| BackendError::Revoked(format!("the stored Telegram session cannot be read ({e})")))
    }

    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a session serialises")
    }
}

/// Why the session store failed.
#[derive(Debug, thiserror::Error)]
#[error("the Telegram session store failed: {0}")]
pub(crate) struct SessionError(String);

/// The live session grammers reads and writes.
pub(crate) struct StoredSession {
    data: Mutex<SessionData>,
    store: AccountStore,
    dirty: AtomicBool,
}

impl StoredSession {
    /// A session with nothing authorised yet (a login in progress).
    pub(crate) fn fresh(store: AccountStore) -> Self {
        Self { data: Mutex::new(SessionData::default()), store, dirty: AtomicBool::new(false) }
    }

    /// A session from what a login stored.
    pub(crate) fn restored(persisted: &PersistedSession, store: AccountStore) -> Self {
        let mut data = SessionData { home_dc: persisted.home_dc, ..SessionData::default() };
        for dc in &persisted.dc_options {
            data.dc_options.insert(dc.id, dc.clone());
        }
        Self { data: Mutex::new(data), store, dirty: AtomicBool::new(false) }
    }

    fn data(&self) -> Result<std::sync::MutexGuard<'_, SessionData>, SessionError> {
        self.data.lock().map_err(|_| SessionError("the session lock is poisoned".into()))
    }

    /// The authorisation part, for the login's secret.
    pub(crate) fn export(&self, me: PersistedUser) -> Result<PersistedSession, SessionError> {
        let data = self.data()?;
        let mut dc_options: Vec<DcOption> = data.dc_options.values().cloned().collect();
        dc_options.sort_by_key(|d| d.id);
        Ok(PersistedSession { home_dc: data.home_dc, dc_options, me })
    }

    /// Reads the access-hash cache, the update state and newer DC keys from the store.
    pub(crate) async fn load_cache(&self) -> Result<(), SessionError> {
        let read = |key: &'static str| async move { self.store.get(key).await.map_err(|e| SessionError(e.to_string())) };
        let peers: Option<Vec<PeerInfo>> = read(PEERS_KEY).await?.and_then(|b| serde_json::from_slice(&b).ok());
        let updates: Option<UpdatesState> = read(UPDATES_KEY).await?.and_then(|b| serde_json::from_slice(&b).ok());
        let dcs: Option<(i32, Vec<DcOption>)> = read(DCS_KEY).await?.and_then(|b| serde_json::from_slice(&b).ok());
        let mut data = self.data()?;
        for peer in peers.unwrap_or_default() {
            data.peer_infos.insert(peer.id(), peer);
        }
        if let Some(updates) = updates {
            data.updates_state = updates;
        }
        if let Some((home, dcs)) = dcs {
            data.home_dc = home;
            for dc in dcs {
                data.dc_options.insert(dc.id, dc);
            }
        }
        Ok(())
    }

    /// Writes the cache and the update state when they changed.
    pub(crate) async fn flush(&self) -> Result<(), SessionError> {
        if !self.dirty.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let (peers, updates) = {
            let data = self.data()?;
            let peers: Vec<PeerInfo> = data.peer_infos.values().cloned().collect();
            (serde_json::to_vec(&peers), serde_json::to_vec(&data.updates_state))
        };
        let encode = |r: Result<Vec<u8>, serde_json::Error>| r.map_err(|e| SessionError(e.to_string()));
        self.store.set(PEERS_KEY, &encode(peers)?).await.map_err(|e| SessionError(e.to_string()))?;
        self.store.set(UPDATES_KEY, &encode(updates)?).await.map_err(|e| SessionError(e.to_string()))?;
        Ok(())
    }

    async fn save_dcs(&self) -> Result<(), SessionError> {
        let bytes = {
            let data = self.data()?;
            let dcs: Vec<DcOption> = data.dc_options.values().cloned().collect();
            serde_json::to_vec(&(data.home_dc, dcs)).map_err(|e| SessionError(e.to_string()))?
        };
        self.store.set(DCS_KEY, &bytes).await.map_err(|e| SessionError(e.to_string()))
    }

    /// Forgets what the store holds for this account (logout).
    pub(crate) async fn forget(&self) {
        for key in [PEERS_KEY, UPDATES_KEY, DCS_KEY] {
            if let Err(e) = self.store.delete(key).await {
                warn!(error = %e, "could not delete a Telegram session key");
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn peer_count(&self) -> usize {
        self.data.lock().expect("lock").peer_infos.len()
    }
}

impl Session for StoredSession {
    type Error = SessionError;

    fn home_dc_id(&self) -> Result<i32, SessionError> {
        Ok(self.data()?.home_dc)
    }

    fn set_home_dc_id(&self, dc_id: i32) -> BoxFuture<'_, Result<(), SessionError>> {
        Box::pin(async move {
            self.data()?.home_dc = dc_id;
            // The home DC changes during login or on migration: rare, and needed on restart.
            self.save_dcs().await
        })
    }

    fn dc_option(&self, dc_id: i32) -> Result<Option<DcOption>, SessionError> {
        Ok(self.data()?.dc_options.get(&dc_id).cloned())
    }

    fn set_dc_option(&self, dc_option: &DcOption) -> BoxFuture<'_, Result<(), SessionError>> {
        let dc_option = dc_option.clone();
        Box::pin(async move {
            self.data()?.dc_options.insert(dc_option.id, dc_option);
            self.save_dcs().await
        })
    }

    fn peer(&self, peer: PeerId) -> BoxFuture<'_, Result<Option<PeerInfo>, SessionError>> {
        Box::pin(async move { Ok(self.data()?.peer_infos.get(&peer).cloned()) })
    }

    fn cache_peer(&self, peer: PeerInfo) -> BoxFuture<'_, Result<(), SessionError>> {
        Box::pin(async move {
            let mut data = self.data()?;
            let entry = data.peer_infos.entry(peer.id()).or_insert_with(|| peer.clone());
            entry.extend_info(&peer);
            self.dirty.store(true, Ordering::SeqCst);
            Ok(())
        })
    }

    fn updates_state(&self) -> BoxFuture<'_, Result<UpdatesState, SessionError>> {
        Box::pin(async move { Ok(self.data()?.updates_state.clone()) })
    }

    fn set_update_state(&self, update: UpdateState) -> BoxFuture<'_, Result<(), SessionError>> {
        Box::pin(async move {
            let mut data = self.data()?;
            let state = &mut data.updates_state;
            match update {
                UpdateState::All(all) => *state = all,
                UpdateState::Primary { pts, date, seq } => {
                    state.pts = pts;
                    state.date = date;
                    state.seq = seq;
                }
                UpdateState::Secondary { qts } => state.qts = qts,
                UpdateState::Channel { id, pts } => {
                    state.channels.retain(|c| c.id != id);
                    state.channels.push(ChannelState { id, pts });
                }
            }
            self.dirty.store(true, Ordering::SeqCst);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use mxbridge_core::ids::LoginId;
    use mxbridge_core::secret::SecretCipher;

    use super::*;

    fn me() -> PersistedUser {
        PersistedUser { id: 42, name: "Alice".into(), phone: Some("+4412345678".into()), username: None }
    }

    #[tokio::test]
    async fn test_the_authorisation_survives_export_and_restore() {
        let store = AccountStore::new(None, LoginId::new("telegram:42"));
        let session = StoredSession::fresh(store.clone());
        session.set_home_dc_id(4).await.unwrap();
        let mut dc = session.dc_option(4).unwrap().expect("known DCs are built in");
        dc.auth_key = Some([7u8; 256]);
        session.set_dc_option(&dc).await.unwrap();
        session.cache_peer(PeerInfo::User { id: 1002, auth: None, bot: Some(false), is_self: Some(false) }).await.unwrap();
        session.set_update_state(UpdateState::Primary { pts: 10, date: 20, seq: 30 }).await.unwrap();

        let bytes = session.export(me()).unwrap().to_bytes();
        let restored = StoredSession::restored(&PersistedSession::from_bytes(&bytes).unwrap(), store);
        assert_eq!(restored.home_dc_id().unwrap(), 4);
        assert_eq!(restored.dc_option(4).unwrap().and_then(|d| d.auth_key), Some([7u8; 256]));
        assert_eq!(PersistedSession::from_bytes(&bytes).unwrap().me, me());
        assert_eq!(restored.peer_count(), 0, "the peer cache is not in the secret: it lives in the session store");
        assert!(matches!(PersistedSession::from_bytes(b"{not json"), Err(BackendError::Revoked(_))));
    }

    #[tokio::test]
    async fn test_the_access_hash_cache_survives_a_restart_encrypted_in_the_core_store() {
        use grammers_session::types::PeerAuth;
        use mxbridge_core::network::SessionStore;
        use mxbridge_core::store::Store;

        let path = std::env::temp_dir().join(format!("mxbridge-tg-cache-{}.db", rand::random::<u64>()));
        let url = format!("sqlite://{}", path.display());
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let store = Store::connect(&url, SecretCipher::from_base64_key(key).unwrap()).await.unwrap();
        let account = AccountStore::new(Some(SessionStore::for_tools(store)), LoginId::new("telegram:42"));
        let session = StoredSession::fresh(account.clone());
        session
            .cache_peer(PeerInfo::User { id: 1002, auth: Some(PeerAuth::from_hash(777)), bot: Some(false), is_self: None })
            .await
            .unwrap();
        session.flush().await.unwrap();

        // A restart: the secret restores the authorisation, the store the access hashes.
        let persisted = session.export(me()).unwrap();
        let restored = StoredSession::restored(&persisted, account);
        assert_eq!(restored.peer_count(), 0);
        restored.load_cache().await.unwrap();
        let peer = restored.peer(PeerId::user_unchecked(1002)).await.unwrap().expect("the cached user");
        assert_eq!(peer.auth().map(PeerAuth::hash), Some(777));

        // At rest the values are sealed with the bridge's key: another key reads nothing.
        let other =
            Store::connect(&url, SecretCipher::from_base64_key("HxwdHh8AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRo=").unwrap()).await.unwrap();
        assert!(other.kv_get("telegram:42", PEERS_KEY).await.is_err(), "the cache is encrypted");
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    #[test]
    fn test_the_debug_output_does_not_show_the_auth_key() {
        let session = StoredSession::fresh(AccountStore::new(None, LoginId::new("telegram:42")));
        session.data.lock().unwrap().dc_options.get_mut(&2).unwrap().auth_key = Some([0xAB; 256]);
        let persisted = session.export(me()).unwrap();
        let shown = format!("{persisted:?}");
        assert!(shown.contains("dc 2 (auth key redacted)"), "{shown}");
        // The key's bytes in every form Debug could print them: decimal (derived Debug of
        // an array) and hex.
        assert!(!shown.contains("171, 171"), "{shown}");
        assert!(!shown.to_lowercase().contains("abab"), "{shown}");
        assert!(format!("{:?}", persisted.dc_options).contains("171, 171"), "the raw options do hold the key");
    }

    #[test]
    fn test_the_stored_secret_is_encrypted_by_the_core() {
        let session = StoredSession::fresh(AccountStore::new(None, LoginId::new("telegram:42")));
        session.data.lock().unwrap().dc_options.get_mut(&2).unwrap().auth_key = Some([0xAB; 256]);
        let bytes = session.export(me()).unwrap().to_bytes();
        let key_hex = "ab".repeat(256);
        assert!(String::from_utf8_lossy(&bytes).contains(&key_hex), "the plain session holds the key");
        let cipher = SecretCipher::from_base64_key("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
        let sealed = cipher.encrypt(&bytes);
        assert!(!String::from_utf8_lossy(&sealed).contains(&key_hex[..32]), "what the database gets does not");
        assert_eq!(cipher.decrypt(&sealed).unwrap(), bytes);
    }
}
