//! Ghosts: the Matrix users that stand for remote users.

use ruma::{OwnedUserId, RoomId, UserId};
use sha2::{Digest, Sha256};
use tracing::warn;

use super::Bridge;
use crate::ids::RemoteUserId;
use crate::matrix::intent::MatrixError;
use crate::network::UserInfo;
use crate::network::content::Media;
use crate::store::GhostRow;

/// The key/value namespace (in place of a login id) of the SHA-256 of each ghost's avatar,
/// keyed by the remote user's id.
const GHOST_AVATAR_NAMESPACE: &str = "core.ghost_avatar";

impl Bridge {
    /// The ghost's user ID for a remote user (no I/O).
    pub(crate) fn ghost_user_id(&self, remote: &RemoteUserId) -> OwnedUserId {
        let lp = self.config.username_template.localpart(remote.as_str(), self.config.domain.as_str());
        UserId::parse(format!("@{lp}:{}", self.config.domain)).expect("escaped localparts always make valid user IDs")
    }

    /// The remote user a ghost of this bridge stands for (no I/O); `None` for other users.
    pub(crate) fn remote_id_of_ghost(&self, user: &UserId) -> Option<String> {
        if user.server_name() != self.config.domain {
            return None;
        }
        self.config.username_template.remote_id(user.localpart())
    }

    /// Makes sure the ghost exists with the given profile; returns its user ID.
    pub(crate) async fn ensure_ghost(&self, remote: &RemoteUserId, info: Option<&UserInfo>) -> Result<OwnedUserId, MatrixError> {
        let user_id = self.ghost_user_id(remote);
        let existing = self.store.ghost(remote.as_str()).await.ok().flatten();
        let mut row = existing.clone().unwrap_or(GhostRow {
            remote_id: remote.as_str().to_owned(),
            user_id: user_id.clone(),
            display_name: None,
            avatar_url: None,
            registered: false,
        });
        if !row.registered {
            self.matrix.ensure_registered(&user_id).await?;
            row.registered = true;
        }
        let wanted_name =
            info.and_then(|i| i.display_name.clone()).or_else(|| (row.display_name.is_none()).then(|| remote.as_str().to_owned()));
        if let Some(name) = wanted_name.filter(|n| row.display_name.as_deref() != Some(n.as_str())) {
            let shown = self.network.ghost_display_name(remote, &name);
            match self.matrix.set_display_name(&user_id, &shown).await {
                Ok(()) => row.display_name = Some(name),
                Err(e) => warn!(ghost = %user_id, error = %e, "could not set a ghost's display name"),
            }
        }
        if let Some(avatar) =
            info.and_then(|i| i.avatar.clone()).filter(|a| a.starts_with("mxc://") && row.avatar_url.as_deref() != Some(a.as_str()))
        {
            match self.matrix.set_avatar_url(&user_id, &avatar).await {
                Ok(()) => row.avatar_url = Some(avatar),
                Err(e) => warn!(ghost = %user_id, error = %e, "could not set a ghost's avatar"),
            }
        }
        if existing.as_ref() != Some(&row)
            && let Err(e) = self.store.upsert_ghost(&row).await
        {
            warn!(error = %e, "could not store a ghost");
        }
        Ok(user_id)
    }

    /// Gives a ghost a picture as avatar: uploaded to the media repository and set, unless
    /// the ghost already has these very bytes (their SHA-256 is kept per ghost, so a network
    /// that reports the same picture again after a restart uploads nothing).
    pub(crate) async fn set_ghost_avatar_from_bytes(&self, remote: &RemoteUserId, ghost: &UserId, picture: &Media) {
        let digest = hex::encode(Sha256::digest(&picture.data));
        if matches!(self.store.kv_get(GHOST_AVATAR_NAMESPACE, remote.as_str()).await, Ok(Some(known)) if known == digest.as_bytes()) {
            return;
        }
        let mime = picture.mime.as_deref().unwrap_or("application/octet-stream");
        let mxc = match self.matrix.upload(picture.data.clone(), mime, &picture.name).await {
            Ok(mxc) => mxc.to_string(),
            Err(e) => return warn!(ghost = %ghost, error = %e, "could not upload a ghost's avatar"),
        };
        if !self.put_ghost_avatar(remote, ghost, Some(mxc)).await {
            return;
        }
        if let Err(e) = self.store.kv_set(GHOST_AVATAR_NAMESPACE, remote.as_str(), digest.as_bytes()).await {
            warn!(ghost = %ghost, error = %e, "could not remember a ghost's avatar");
        }
    }

    /// Takes away the avatar the bridge gave a ghost from picture bytes; a ghost whose
    /// avatar the bridge did not set keeps it.
    pub(crate) async fn remove_ghost_avatar(&self, remote: &RemoteUserId, ghost: &UserId) {
        if !matches!(self.store.kv_get(GHOST_AVATAR_NAMESPACE, remote.as_str()).await, Ok(Some(_))) {
            return;
        }
        if !self.put_ghost_avatar(remote, ghost, None).await {
            return;
        }
        if let Err(e) = self.store.kv_delete(GHOST_AVATAR_NAMESPACE, remote.as_str()).await {
            warn!(ghost = %ghost, error = %e, "could not forget a ghost's avatar");
        }
    }

    /// Sets a ghost's avatar (`None` clears it) on the homeserver and in its stored row;
    /// false when the homeserver refused, and nothing was stored.
    async fn put_ghost_avatar(&self, remote: &RemoteUserId, ghost: &UserId, mxc: Option<String>) -> bool {
        if let Err(e) = self.matrix.set_avatar_url(ghost, mxc.as_deref().unwrap_or("")).await {
            warn!(ghost = %ghost, error = %e, "could not set a ghost's avatar");
            return false;
        }
        if let Ok(Some(mut row)) = self.store.ghost(remote.as_str()).await {
            row.avatar_url = mxc;
            if let Err(e) = self.store.upsert_ghost(&row).await {
                warn!(error = %e, "could not store a ghost");
            }
        }
        true
    }

    /// Makes sure a ghost is in a room: the bot invites it, then it joins.
    pub(crate) async fn ensure_joined(&self, room: &RoomId, user: &UserId) -> Result<(), MatrixError> {
        let key = (room.to_owned(), user.to_owned());
        if self.joined.lock().expect("lock").contains(&key) {
            return Ok(());
        }
        if self.matrix.join(room, user).await.is_err() {
            self.matrix.invite(room, &self.config.bot_user_id, user, false).await?;
            self.matrix.join(room, user).await?;
        }
        self.joined.lock().expect("lock").insert(key);
        Ok(())
    }

    /// Forgets that a ghost is in a room (after it left or was kicked).
    pub(crate) fn forget_joined(&self, room: &RoomId, user: &UserId) {
        self.joined.lock().expect("lock").remove(&(room.to_owned(), user.to_owned()));
    }
}
