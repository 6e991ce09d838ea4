//! Plumbing: linking an existing Matrix room to a remote chat (`plumb`), and undoing it
//! (`unlink`). In a plumbed room, Matrix users without a login of their own are relayed
//! through a relay login (the network's bot account, or the plumbing admin's), so nobody
//! in the room goes unheard.

use std::sync::Arc;

use ruma::{OwnedRoomId, RoomId, UserId};
use tracing::warn;

use super::Bridge;
use crate::config::Permission;
use crate::ids::{LoginId, RemoteChatId};
use crate::network::ChatKind;
use crate::store::{PortalRow, StoreError};

/// Power level from which a room member may unlink the room.
const MODERATOR_LEVEL: i64 = 50;

impl Bridge {
    /// The room a plumbing command is about: the one named, or the one it was sent in.
    fn plumbing_target(&self, here: &RoomId, named: Option<&str>) -> Result<OwnedRoomId, String> {
        match named {
            None => Ok(here.to_owned()),
            Some(id) => RoomId::parse(id).map_err(|_| format!("`{id}` is not a room ID: room IDs look like `!abc:example.org`.")),
        }
    }

    /// `prefix` is the command prefix the user typed, for the commands answers suggest.
    pub(crate) async fn plumb(
        self: &Arc<Self>,
        here: &RoomId,
        user: &UserId,
        (named, network, chat): (Option<&str>, Option<&str>, &str),
        prefix: &str,
    ) {
        if self.permission(user) < Permission::Admin {
            return self.notice(here, &format!("`{prefix}plumb` is for bridge admins only.")).await;
        }
        if let Some(n) = network.filter(|n| !self.network.is_network_name(n)) {
            return self.notice(here, &format!("This bridge does not serve a network called `{n}`.")).await;
        }
        let room = match self.plumbing_target(here, named) {
            Ok(r) => r,
            Err(why) => return self.notice(here, &why).await,
        };
        let bot = self.config.bot_user_id.clone();
        // An invite the bot has not taken up yet (it was away, or the invite is older than
        // the bridge) is enough: it joins now.
        if !self.matrix.joined_members(&room).await.is_ok_and(|m| m.contains(&bot))
            && let Err(e) = self.matrix.join(&room, &bot).await
        {
            tracing::info!(room = %room, error = %e, "the bot could not join a room to plumb");
            return self.notice(here, &format!("I am not in {room}: invite {bot} there first, then plumb again.")).await;
        }
        let Some(chat_id) = self.network.chat_id_on(network, chat) else {
            return self
                .notice(here, &format!("`{chat}` is not a chat this bridge can link (check the name, and that it is not excluded)."))
                .await;
        };
        if matches!(self.store.portal_by_room(&room).await, Ok(Some(_))) {
            return self.notice(here, &format!("That room is already linked. Send `{prefix}unlink` first to link it elsewhere.")).await;
        }
        if matches!(self.store.portal(chat_id.as_str(), "").await, Ok(Some(p)) if p.room_id.is_some()) {
            return self.notice(here, &format!("`{chat}` is already bridged to another room. Delete that portal first.")).await;
        }
        let relay = self.relay_login_for_plumbing(user, &chat_id).await;
        if let Err(e) = self.store_link(&chat_id, &room, ChatKind::Channel, true, relay.as_ref()).await {
            return self.notice(here, &format!("Could not link: {e}. Try again later.")).await;
        }
        let via = relay.map(|r| format!(" Messages of users without their own connection are relayed through `{r}`.")).unwrap_or_default();
        let which = if room == here { "this room".to_owned() } else { room.to_string() };
        let text = format!("Linked {which} to `{chat}`.{via}");
        self.notice(here, &text).await;
        if room != here {
            self.notice(&room, &format!("Linked this room to `{chat}`.")).await;
        }
    }

    /// The relay login of a new plumbed portal: the network's bot account (created on first
    /// use), else the admin's own login.
    async fn relay_login_for_plumbing(self: &Arc<Self>, admin: &UserId, chat: &RemoteChatId) -> Option<LoginId> {
        if self.network.relay_login(&self.config.bot_user_id, chat).is_none() {
            return self.logins_of(admin).into_iter().find(|(id, _)| self.network.login_serves(id, chat)).map(|(id, _)| id);
        }
        self.bot_relay(chat).await
    }

    /// The network's bot account for a linked chat, made and activated on first use; `None`
    /// when the network has none or it could not be activated.
    pub(crate) async fn bot_relay(self: &Arc<Self>, chat: &RemoteChatId) -> Option<LoginId> {
        let bot = self.config.bot_user_id.clone();
        let new_login = self.network.relay_login(&bot, chat)?;
        let id = new_login.id.clone();
        if self.login(&id).is_some() {
            return Some(id);
        }
        self.save_and_activate(&bot, new_login).await.then_some(id)
    }

    /// Stores the link of `room` to a shared chat (`plumbed`: a room the bridge did not
    /// make), and has the relay account join the chat at once, so the room hears it from now on.
    pub(crate) async fn store_link(
        &self,
        chat: &RemoteChatId,
        room: &RoomId,
        kind: ChatKind,
        plumbed: bool,
        relay: Option<&LoginId>,
    ) -> Result<(), StoreError> {
        let row = PortalRow {
            remote_id: chat.as_str().to_owned(),
            receiver: String::new(),
            room_id: Some(room.to_owned()),
            name: None,
            topic: None,
            avatar_url: None,
            kind: kind.as_db().to_owned(),
            plumbed,
            relay_login: relay.map(|r| r.as_str().to_owned()),
            created_ms: crate::clock::now_ms(),
        };
        self.store.upsert_portal(&row).await?;
        if let Some(client) = relay.and_then(|r| self.login(r)).map(|l| l.client)
            && let Some(membership) = client.chat_membership()
            && let Err(e) = membership.join(&row.key(), None).await
        {
            warn!(chat = %chat, error = %e, "the relay account could not join a linked chat");
        }
        Ok(())
    }

    /// Whether `user` moderates `room`: power level 50 or more, or one of its creators in a
    /// room version where creators outrank every level (12 on, where they are in no
    /// `users` list).
    async fn is_moderator(&self, room: &RoomId, user: &UserId) -> bool {
        if self.power_level_of(room, user).await >= MODERATOR_LEVEL {
            return true;
        }
        let Ok(Some(create)) = self.matrix.get_state_event(room, "m.room.create", "").await else { return false };
        let creators_outrank = create["content"]["room_version"].as_str().and_then(|v| v.parse::<u32>().ok()).is_some_and(|v| v >= 12);
        let is_creator = create["sender"] == user.as_str()
            || create["content"]["additional_creators"].as_array().is_some_and(|c| c.iter().any(|u| u == user.as_str()));
        creators_outrank && is_creator
    }

    /// `unlink [!room] [network] [chat]`: a network or chat given must be what the room is
    /// linked to, so a typo never unlinks the wrong room.
    pub(crate) async fn unlink(
        &self,
        here: &RoomId,
        user: &UserId,
        (named, network, chat): (Option<&str>, Option<&str>, Option<&str>),
        prefix: &str,
    ) {
        let room = match self.plumbing_target(here, named) {
            Ok(r) => r,
            Err(why) => return self.notice(here, &why).await,
        };
        let allowed = self.permission(user) >= Permission::Admin || self.is_moderator(&room, user).await;
        if !allowed {
            return self.notice(here, &format!("`{prefix}unlink` is for bridge admins and the room's moderators.")).await;
        }
        // One word alone may be the network rather than the chat (`unlink !room libera`).
        let (network, chat) = match (network, chat) {
            (None, Some(word)) if self.network.is_network_name(word) && self.network.chat_id_on(None, word).is_none() => (Some(word), None),
            other => other,
        };
        if let Some(n) = network.filter(|n| !self.network.is_network_name(n)) {
            return self.notice(here, &format!("This bridge does not serve a network called `{n}`: nothing was unlinked.")).await;
        }
        let Ok(Some(row)) = self.store.portal_by_room(&room).await else {
            return self.notice(here, "That room is not linked to anything.").await;
        };
        if let Some(chat) = chat
            && self.network.chat_id_on(network, chat).as_ref().map(RemoteChatId::as_str) != Some(row.remote_id.as_str())
        {
            let on = network.map(|n| format!(" on {n}")).unwrap_or_default();
            let text = format!(
                "That room is linked to `{}`, not to `{chat}`{on}: nothing was unlinked. Check the names, or send `{prefix}unlink {room}` alone.",
                row.remote_id
            );
            return self.notice(here, &text).await;
        }
        if let Some(client) = row.relay_login.as_ref().and_then(|r| self.login(&LoginId::new(r.clone()))).map(|l| l.client)
            && let Some(membership) = client.chat_membership()
            && let Err(e) = membership.leave(&row.key()).await
        {
            warn!(chat = %row.remote_id, error = %e, "the relay account could not leave an unlinked chat");
        }
        if let Err(e) = self.store.delete_portal(&row.remote_id, &row.receiver).await {
            return self.notice(here, &format!("Could not unlink: {e}. Try again later.")).await;
        }
        let which = if room == here { "This room".to_owned() } else { room.to_string() };
        self.notice(here, &format!("{which} is no longer linked to `{}`.", row.remote_id)).await;
    }
}
