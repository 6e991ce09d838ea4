//! A Matrix user starts a DM by inviting a ghost (`@_irc_alice:example.org`): the ghost
//! accepts, and the room becomes the user's DM portal with that remote user.

use std::sync::Arc;

use ruma::UserId;
use tracing::{info, warn};

use super::Bridge;
use super::matrix_events::RoomEvent;
use crate::config::Permission;
use crate::ids::{PortalKey, RemoteUserId};
use crate::store::PortalRow;

impl Bridge {
    pub(crate) async fn ghost_invited(self: &Arc<Self>, ev: &RoomEvent, target: &str) {
        let Ok(ghost) = UserId::parse(target) else { return };
        let Some(remote) = self.remote_id_of_ghost(&ghost) else { return };
        // The bridge invites ghosts itself when it fills portals; and a ghost invited into an
        // existing portal is a remote user who joins by what happens remotely, not by invite.
        if self.is_bridge_user(&ev.sender) || matches!(self.store.portal_by_room(&ev.room_id).await, Ok(Some(_))) {
            return;
        }
        let remote = RemoteUserId::new(remote);
        if let Err(e) = self.ensure_ghost(&remote, None).await {
            warn!(ghost = %ghost, error = %e, "could not set up a ghost that was invited");
            return;
        }
        if let Err(e) = self.matrix.join(&ev.room_id, &ghost).await {
            warn!(ghost = %ghost, room = %ev.room_id, error = %e, "a ghost could not accept an invite");
            return;
        }
        let refuse = |why: String| {
            let ghost = ghost.clone();
            async move {
                let content = serde_json::json!({"msgtype": "m.notice", "body": why});
                let _ = self.matrix.send_event(&ev.room_id, &ghost, "m.room.message", &content, None).await;
                let _ = self.matrix.leave(&ev.room_id, &ghost).await;
            }
        };
        if self.permission(&ev.sender) < Permission::User {
            return refuse("You do not have permission to use this bridge. Ask the bridge admin to add you to bridge.permissions.".into())
                .await;
        }
        let Some(chat) = self.network.dm_chat_for(&remote) else {
            return refuse(format!("{} cannot start a direct chat with {remote}.", self.info.display_name)).await;
        };
        let _ = self.ensure_auto_login(&ev.sender, Some(&chat)).await;
        let Some((login, _)) = self.logins_of(&ev.sender).into_iter().find(|(id, _)| self.network.login_serves(id, &chat)) else {
            let bot = &self.config.bot_user_id;
            return refuse(format!(
                "You are not logged in to {}: send `login` to {bot} in a direct message, then invite me again.",
                self.info.display_name
            ))
            .await;
        };
        let key = PortalKey::owned_by(chat, &login);
        let _creating = self.lock_creation(&key).await;
        if let Ok(Some(PortalRow { room_id: Some(existing), .. })) = self.store.portal(key.chat.as_str(), &key.receiver).await
            && existing != ev.room_id
        {
            let _ = self.matrix.invite(&existing, &ghost, &ev.sender, true).await;
            return refuse(format!("We already have a chat: https://matrix.to/#/{existing} (I invited you there again).")).await;
        }
        let row = PortalRow {
            remote_id: key.chat.as_str().to_owned(),
            receiver: key.receiver.clone(),
            room_id: Some(ev.room_id.clone()),
            name: None,
            topic: None,
            avatar_url: None,
            kind: "dm".to_owned(),
            plumbed: false,
            relay_login: None,
            created_ms: crate::clock::now_ms(),
        };
        match self.store.upsert_portal(&row).await {
            Ok(()) => {
                self.joined.lock().expect("lock").insert((ev.room_id.clone(), ghost.clone()));
                info!(portal = %key, room = %ev.room_id, "a user started a DM with a ghost");
            }
            Err(e) => refuse(format!("The bridge could not store this chat ({e}); try again later.")).await,
        }
    }
}
