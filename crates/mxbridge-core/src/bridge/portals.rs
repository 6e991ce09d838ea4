//! Portals: one remote chat ⇄ one Matrix room, created on demand.

use std::sync::Arc;

use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use tracing::{info, warn};

use super::Bridge;
use crate::clock::now_ms;
use crate::ids::{LoginId, PortalKey};
use crate::matrix::intent::{CreateRoom, MatrixError};
use crate::network::{ChatInfo, ChatKind, Role};
use crate::store::PortalRow;

/// Power level of remote moderators and admins (100 stays with the bot).
pub(crate) fn power_level(role: Role) -> i64 {
    match role {
        Role::Member => 0,
        Role::Voiced => 1,
        Role::Moderator => 50,
        Role::Admin => 95,
    }
}

/// The `users_default` of an `m.room.power_levels` content.
fn users_default(levels: &serde_json::Value) -> i64 {
    levels["users_default"].as_i64().unwrap_or(0)
}

/// A user's level in an `m.room.power_levels` content.
fn level_in(levels: &serde_json::Value, user: &UserId) -> i64 {
    levels["users"][user.as_str()].as_i64().unwrap_or_else(|| users_default(levels))
}

/// Why a portal could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PortalError {
    #[error("the homeserver refused: {0}")]
    Matrix(#[from] MatrixError),
    #[error("the database failed: {0}")]
    Store(#[from] crate::store::StoreError),
}

impl Bridge {
    /// Returns the portal's room, creating the room when there is none. `invitee` is the
    /// Matrix user who should be in it (the login's owner); `None` creates a public room
    /// that anyone can join (alias queries).
    pub(crate) async fn ensure_portal(
        self: &Arc<Self>,
        key: &PortalKey,
        info: &ChatInfo,
        invitee: Option<&UserId>,
        with_alias: bool,
    ) -> Result<(PortalRow, bool), PortalError> {
        let _creating = self.lock_creation(key).await;
        if let Some(row) = self.store.portal(key.chat.as_str(), &key.receiver).await?
            && let Some(room) = &row.room_id
        {
            if let Some(user) = invitee {
                self.reinvite(room, info, user).await;
            }
            return Ok((row, false));
        }
        let mut member_ghosts: Vec<(OwnedUserId, i64)> = Vec::new();
        for m in &info.members {
            match self.ensure_ghost(&m.id, m.info.as_ref()).await {
                Ok(uid) => member_ghosts.push((uid, power_level(m.role))),
                Err(e) => warn!(member = %m.id, error = %e, "could not create a ghost for a member"),
            }
        }
        let row = |room: &OwnedRoomId| PortalRow {
            remote_id: key.chat.as_str().to_owned(),
            receiver: key.receiver.clone(),
            room_id: Some(room.clone()),
            name: info.name.clone(),
            topic: info.topic.clone(),
            avatar_url: info.avatar.clone(),
            kind: info.kind.as_db().to_owned(),
            plumbed: false,
            relay_login: None,
            created_ms: now_ms(),
        };
        if let ChatKind::Direct(other) = &info.kind {
            let person = match self.ghost_user_id(other) {
                ghost if member_ghosts.iter().any(|(g, _)| *g == ghost) => ghost,
                _ => self.ensure_ghost(other, None).await?,
            };
            let room = self.create_dm_room(&person, info).await?;
            info!(portal = %key, room = %room, ghost = %person, "created a DM portal room");
            let row = row(&room);
            self.store.upsert_portal(&row).await?;
            for (ghost, _) in member_ghosts.iter().filter(|(g, _)| *g != person) {
                if let Err(e) = self.ensure_joined(&room, ghost).await {
                    warn!(ghost = %ghost, error = %e, "a ghost could not join its portal");
                }
            }
            if let Some(user) = invitee {
                self.invite_to_dm(&room, &person, user).await;
            }
            return Ok((row, true));
        }
        let mut invite: Vec<OwnedUserId> = invitee.map(|u| vec![u.to_owned()]).unwrap_or_default();
        invite.extend(member_ghosts.iter().map(|(u, _)| u.clone()));
        let opts = CreateRoom {
            name: info.name.clone(),
            topic: info.topic.clone(),
            invite,
            alias_localpart: if with_alias { self.alias_localpart(key.chat.as_str()) } else { None },
            power_users: member_ghosts.iter().filter(|(_, pl)| *pl > 0).cloned().collect(),
            avatar: info.avatar.as_deref().filter(|a| a.starts_with("mxc://")).map(Into::into),
            public: invitee.is_none(),
            events_default: matches!(info.kind, ChatKind::Broadcast).then(|| power_level(Role::Moderator)),
            ..CreateRoom::default()
        };
        let room = self.matrix.create_room(&opts).await?;
        info!(portal = %key, room = %room, "created a portal room");
        let row = row(&room);
        self.store.upsert_portal(&row).await?;
        for (ghost, _) in &member_ghosts {
            if let Err(e) = self.matrix.join(&room, ghost).await {
                warn!(ghost = %ghost, error = %e, "a ghost could not join its portal");
            } else {
                self.joined.lock().expect("lock").insert((room.clone(), ghost.clone()));
            }
        }
        Ok((row, true))
    }

    /// The room of a DM portal, made by the other person's ghost so that the DM comes from
    /// them: a client records a DM with whoever sent the `is_direct` invite, and an
    /// appservice cannot write the user's `m.direct` itself. The bot is invited with the
    /// creator's power (it sends notices and manages the room, as in every portal) and is
    /// named a service member, so clients still see a 1:1 chat with the person and name
    /// the room after them; the room itself has no name.
    async fn create_dm_room(&self, person: &UserId, info: &ChatInfo) -> Result<OwnedRoomId, PortalError> {
        let bot = &self.config.bot_user_id;
        let opts = CreateRoom {
            topic: info.topic.clone(),
            invite: vec![bot.clone()],
            invitees_have_ops: true,
            service_members: vec![bot.clone()],
            avatar: info.avatar.as_deref().filter(|a| a.starts_with("mxc://")).map(Into::into),
            ..CreateRoom::default()
        };
        let room = self.matrix.create_room_as(person, &opts).await?;
        self.joined.lock().expect("lock").insert((room.clone(), person.to_owned()));
        if let Err(e) = self.matrix.join(&room, bot).await {
            warn!(room = %room, error = %e, "the bot could not join a DM portal its ghost made");
        }
        Ok(room)
    }

    /// Invites the user to a DM portal as the person they chat with, marked direct; as the
    /// bot only when the ghost cannot (it left the room, say), so the user is never left out.
    async fn invite_to_dm(&self, room: &RoomId, person: &UserId, user: &UserId) {
        let by_person = match self.ensure_joined(room, person).await {
            Ok(()) => self.matrix.invite(room, person, user, true).await,
            Err(e) => Err(e),
        };
        if let Err(e) = by_person {
            warn!(room = %room, ghost = %person, error = %e, "the ghost could not invite the user to their DM; the bot does");
            if let Err(e) = self.matrix.invite(room, &self.config.bot_user_id, user, true).await {
                warn!(room = %room, error = %e, "could not invite a user to their DM portal");
            }
        }
    }

    /// Invites the user again to their existing portal: to a DM as the other person.
    async fn reinvite(&self, room: &RoomId, info: &ChatInfo, user: &UserId) {
        if let ChatKind::Direct(other) = &info.kind {
            return self.invite_to_dm(room, &self.ghost_user_id(other), user).await;
        }
        if let Err(e) = self.matrix.invite(room, &self.config.bot_user_id, user, false).await {
            warn!(room = %room, error = %e, "could not re-invite a user to their portal");
        }
    }

    /// Chat info from the given login, or a minimal description when it cannot tell.
    pub(crate) async fn chat_info_via(&self, login: Option<&LoginId>, key: &PortalKey) -> ChatInfo {
        if let Some(l) = login.and_then(|l| self.login(l)) {
            match l.client.chat_info(key).await {
                Ok(info) => return info,
                Err(e) => warn!(portal = %key, error = %e, "the network could not describe a chat"),
            }
        }
        ChatInfo { name: Some(key.chat.as_str().to_owned()), topic: None, avatar: None, kind: ChatKind::Group, members: Vec::new() }
    }

    /// The room of an existing portal.
    pub(crate) async fn portal_room(&self, chat: &PortalKey) -> Option<ruma::OwnedRoomId> {
        self.store.portal(chat.chat.as_str(), &chat.receiver).await.ok().flatten()?.room_id
    }

    /// A user's power level in a room (0 when the room's levels cannot be read).
    pub(crate) async fn power_level_of(&self, room: &ruma::RoomId, user: &UserId) -> i64 {
        match self.matrix.get_state(room, "m.room.power_levels", "").await {
            Ok(Some(levels)) => level_in(&levels, user),
            _ => 0,
        }
    }

    /// Gives a ghost a power level in a portal room (as the bot, which has 100).
    pub(crate) async fn set_power_level(&self, room: &ruma::RoomId, user: &UserId, level: i64) {
        let Ok(Some(mut levels)) = self.matrix.get_state(room, "m.room.power_levels", "").await else { return };
        if level_in(&levels, user) == level {
            return;
        }
        if level == users_default(&levels) {
            if let Some(users) = levels["users"].as_object_mut() {
                users.remove(user.as_str());
            }
        } else {
            levels["users"][user.as_str()] = serde_json::json!(level);
        }
        if let Err(e) = self.matrix.send_state(room, &self.config.bot_user_id, "m.room.power_levels", "", &levels).await {
            warn!(room = %room, user = %user, error = %e, "could not change a power level");
        }
    }

    /// Removes a portal: ghosts leave, users are kicked, the bot leaves, the row goes.
    pub(crate) async fn delete_portal(&self, row: &PortalRow, kick_users: bool) {
        if let Some(room) = &row.room_id {
            let members = self.matrix.joined_members(room).await.unwrap_or_default();
            for m in members {
                if m == self.config.bot_user_id {
                    continue;
                }
                if self.is_bridge_user(&m) {
                    let _ = self.matrix.leave(room, &m).await;
                    self.forget_joined(room, &m);
                } else if kick_users {
                    let _ = self.matrix.kick(room, &m, "This portal was deleted").await;
                }
            }
            let _ = self.matrix.leave(room, &self.config.bot_user_id).await;
        }
        if let Err(e) = self.store.delete_portal(&row.remote_id, &row.receiver).await {
            warn!(error = %e, "could not delete a portal row");
        }
    }
}
