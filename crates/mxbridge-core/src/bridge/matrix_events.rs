//! Matrix events from the inbox: invites to the bot, management-room commands, and what
//! users do in portal rooms (messages, edits, reactions, redactions, typing).

use std::sync::Arc;

use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde::Deserialize;
use serde_json::Value;
use tracing::{debug, info, warn};

use super::Bridge;
use super::convert;
use crate::appservice::TxnContainer;
use crate::config::Permission;
use crate::ids::LoginId;
use crate::metrics::{Direction, SkipReason};
use crate::network::{NetworkClient, OutgoingMessage};
use crate::store::PortalRow;

/// The fields of a room event the bridge uses. Unknown fields are ignored.
#[derive(Debug, Deserialize)]
pub(crate) struct RoomEvent {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) room_id: OwnedRoomId,
    pub(crate) sender: OwnedUserId,
    pub(crate) event_id: OwnedEventId,
    #[serde(default)]
    pub(crate) state_key: Option<String>,
    #[serde(default)]
    pub(crate) content: Value,
    #[serde(default)]
    pub(crate) redacts: Option<OwnedEventId>,
    /// Homeservers put the previous state content here (`prev_content`).
    #[serde(default)]
    pub(crate) unsigned: Value,
}

const ENCRYPTION_NOTICE: &str = "This room is encrypted, and the bridge cannot read encrypted messages yet, so nothing you send here will be bridged. Please start a new direct message with me and turn encryption off when you create it (in Element: \"Start new chat\", then disable \"Enable end-to-end encryption\" under the room's advanced options, or create a room without encryption and invite me).";

impl Bridge {
    pub(crate) async fn handle_inbox_event(self: Arc<Self>, container: TxnContainer, event: Value) {
        self.metrics.event_processed(container, event["type"].as_str());
        match container {
            TxnContainer::Ephemeral => self.handle_ephemeral(event).await,
            TxnContainer::Timeline => {
                let ev: RoomEvent = match serde_json::from_value(event) {
                    Ok(ev) => ev,
                    Err(e) => {
                        warn!(error = %e, "skipping a malformed event");
                        self.metrics.event_skipped(SkipReason::Malformed);
                        return;
                    }
                };
                self.handle_room_event(ev).await;
            }
        }
    }

    async fn handle_room_event(self: &Arc<Self>, ev: RoomEvent) {
        if self.is_gateway_room(&ev.room_id) {
            return self.forward_to_gateway(&ev).await;
        }
        // State and message events are told apart by the state key, never by type alone.
        if let Some(state_key) = ev.state_key.clone() {
            match ev.kind.as_str() {
                "m.room.member" => {
                    self.handle_member(&ev, &state_key).await;
                    self.moderate_member(&ev, &state_key).await;
                }
                "m.room.topic" if state_key.is_empty() => self.bridge_topic(&ev).await,
                "m.room.name" if state_key.is_empty() => self.bridge_room_name(&ev).await,
                "m.room.encryption" if state_key.is_empty() => self.warn_encrypted(&ev.room_id, true).await,
                _ => {}
            }
            return;
        }
        if self.is_bridge_user(&ev.sender) {
            return;
        }
        if self.permission(&ev.sender) == Permission::None {
            debug!(sender = %ev.sender, "ignoring a user without permission");
            return;
        }
        match ev.kind.as_str() {
            "m.room.message" | "m.sticker" => self.handle_message(ev).await,
            "m.reaction" => self.handle_reaction(ev).await,
            "m.room.redaction" => self.handle_redaction(ev).await,
            "m.room.encrypted" => self.warn_encrypted(&ev.room_id, false).await,
            _ => {}
        }
    }

    async fn handle_member(self: &Arc<Self>, ev: &RoomEvent, target: &str) {
        let membership = ev.content["membership"].as_str().unwrap_or("");
        if matches!(membership, "join" | "leave") && target == ev.sender.as_str() && !self.is_bridge_user(&ev.sender) {
            return self.user_membership(ev, membership == "join").await;
        }
        if membership == "invite" && target != self.config.bot_user_id.as_str() {
            return self.ghost_invited(ev, target).await;
        }
        if target != self.config.bot_user_id.as_str() || membership != "invite" {
            return;
        }
        if self.permission(&ev.sender) < Permission::User {
            info!(inviter = %ev.sender, "refusing an invite from a user without permission");
            let _ = self.matrix.leave(&ev.room_id, &self.config.bot_user_id).await;
            return;
        }
        if let Err(e) = self.matrix.join(&ev.room_id, &self.config.bot_user_id).await {
            warn!(room = %ev.room_id, error = %e, "could not accept an invite");
            return;
        }
        // A management room is a DM: the client marked the invite as direct, and nobody
        // but the inviter and the bot is in it.
        let members = self.matrix.joined_members(&ev.room_id).await.unwrap_or_default();
        let is_dm = ev.content["is_direct"] == true && members.iter().all(|m| *m == ev.sender || *m == self.config.bot_user_id);
        let encrypted = matches!(self.matrix.get_state(&ev.room_id, "m.room.encryption", "").await, Ok(Some(_)));
        if is_dm {
            if let Err(e) = self.store.set_management_room(&ev.sender, &ev.room_id).await {
                warn!(error = %e, "could not store the management room");
            }
            if encrypted {
                self.warn_encrypted(&ev.room_id, true).await;
                return;
            }
            let text = format!(
                "Hello! I am the {} bridge bot. This room is your management room: send commands here, with or without `{}` in front.\n{}Send `help` to see what you can do.",
                self.info.display_name,
                self.config.command_prefix,
                if self.logins_of(&ev.sender).is_empty() && !self.network.login_flows().is_empty() {
                    "Send `login` to connect your account. "
                } else {
                    ""
                }
            );
            self.notice(&ev.room_id, &text).await;
        } else {
            let text = format!(
                "Hello! I take commands in a direct message: start one with me to log in. Bridge admins can link this room to a remote chat with `{}plumb <chat>`.",
                self.config.command_prefix
            );
            self.notice(&ev.room_id, &text).await;
        }
    }

    /// A Matrix user joined or left a portal room: their account joins or leaves the remote
    /// chat too (a network that connects users on demand connects them first).
    async fn user_membership(self: &Arc<Self>, ev: &RoomEvent, joined: bool) {
        let Some(portal) = self.store.portal_by_room(&ev.room_id).await.ok().flatten() else { return };
        if joined {
            let _ = self.ensure_auto_login(&ev.sender, Some(&portal.chat_id())).await;
        }
        let Some((_, client, false)) = self.sending_client(&portal, &ev.sender) else { return };
        let Some(m) = client.chat_membership() else { return };
        let key = portal.key();
        let display_name = ev.content["displayname"].as_str();
        let result = if joined { m.join(&key, display_name).await } else { m.leave(&key).await };
        if let Err(e) = result {
            warn!(portal = %portal.remote_id, joined, error = %e, "could not follow a membership change remotely");
        }
    }

    /// Tells a room once that encrypted messages cannot be bridged.
    pub(crate) async fn warn_encrypted(&self, room: &RoomId, force: bool) {
        let relevant = force
            || matches!(self.store.management_room_owner(room).await, Ok(Some(_)))
            || matches!(self.store.portal_by_room(room).await, Ok(Some(_)));
        if !relevant || !self.encryption_warned.lock().expect("lock").insert(room.to_owned()) {
            return;
        }
        self.notice(room, ENCRYPTION_NOTICE).await;
    }

    async fn handle_message(self: &Arc<Self>, ev: RoomEvent) {
        let body = ev.content["body"].as_str().unwrap_or("").to_owned();
        let is_text = matches!(ev.content["msgtype"].as_str(), Some("m.text") | None) && ev.kind == "m.room.message";
        let is_edit = ev.content["m.relates_to"]["rel_type"] == "m.replace";
        let portal = self.store.portal_by_room(&ev.room_id).await.ok().flatten();
        let management_owner = self.store.management_room_owner(&ev.room_id).await.ok().flatten();

        if let Some(owner) = management_owner.filter(|_| portal.is_none()) {
            if owner == ev.sender && is_text && !is_edit {
                self.run_command_line(&ev.room_id, &ev.sender, &ev.event_id, &body, None).await;
            }
            return;
        }
        let prefix = self.config.command_prefix.clone();
        if is_text
            && !is_edit
            && let Some(line) = body.strip_prefix(&prefix)
        {
            match &portal {
                Some(p) => {
                    let key = p.key();
                    self.run_command_line(&ev.room_id, &ev.sender, &ev.event_id, line, Some(key)).await;
                }
                None => self.run_command_line(&ev.room_id, &ev.sender, &ev.event_id, line, None).await,
            }
            return;
        }
        let Some(portal) = portal else { return };
        let _guard = self.lock_portal(&portal.key()).await;
        if is_edit {
            self.bridge_edit(&portal, &ev).await;
        } else {
            self.bridge_message(&portal, &ev).await;
        }
    }

    /// Which client sends for this Matrix user in this portal, and whether it relays.
    pub(crate) fn sending_client(&self, portal: &PortalRow, user: &UserId) -> Option<(LoginId, Arc<dyn NetworkClient>, bool)> {
        let own = self.logins_of(user);
        if portal.receiver.is_empty() {
            let chat = portal.chat_id();
            if let Some((id, l)) = own.into_iter().find(|(id, _)| self.network.login_serves(id, &chat)) {
                return Some((id, l.client, false));
            }
        } else if let Some((id, l)) = own.into_iter().find(|(id, _)| id.as_str() == portal.receiver) {
            return Some((id, l.client, false));
        }
        let relay = portal.relay_login.as_ref().map(|r| LoginId::new(r.clone()))?;
        let l = self.login(&relay)?;
        (self.permission(user) >= Permission::Relay).then_some((relay, l.client, true))
    }

    async fn bridge_message(self: &Arc<Self>, portal: &PortalRow, ev: &RoomEvent) {
        let _ = self.ensure_auto_login(&ev.sender, Some(&portal.chat_id())).await;
        let Some((_, client, relayed)) = self.sending_client(portal, &ev.sender) else {
            self.tell_failed(&ev.room_id, &ev.event_id, "you are not logged in. Send `login` to the bridge bot in a direct message.").await;
            return;
        };
        let reply_to = match ev.content["m.relates_to"]["m.in_reply_to"]["event_id"].as_str().and_then(|e| ruma::EventId::parse(e).ok()) {
            Some(target) => self.store.message_by_event(&target).await.ok().flatten().map(|m| m.remote_id.into()),
            None => None,
        };
        let key = portal.key();
        // A location goes through the network's own capability, when it has one; a relayed
        // one could not say who shares it, so it is refused like on networks without it.
        let location = (ev.kind == "m.room.message" && ev.content["msgtype"] == "m.location" && !relayed)
            .then(|| crate::network::Location::from_matrix(&ev.content))
            .flatten();
        let result = match (location, client.locations()) {
            (Some(location), Some(locations)) => locations.send_location(&key, &location, reply_to.as_ref()).await,
            _ => {
                let content = match convert::matrix_to_content(&self.matrix, &self.links, &ev.content, &ev.kind).await {
                    Ok(c) => c,
                    Err(reason) => {
                        self.tell_failed(&ev.room_id, &ev.event_id, &reason).await;
                        return;
                    }
                };
                let relayed_for = if relayed {
                    Some(self.matrix.display_name(&ev.sender).await.ok().flatten().unwrap_or_else(|| ev.sender.to_string()))
                } else {
                    None
                };
                client.send(OutgoingMessage { portal: key, content, reply_to, relayed_for }).await
            }
        };
        match &result {
            Ok(_) => self.metrics.message_bridged(Direction::MatrixToRemote),
            Err(_) => self.metrics.send_failed(Direction::MatrixToRemote),
        }
        match result {
            Ok(sent) => {
                let row = crate::store::MessageRow {
                    portal_remote_id: portal.remote_id.clone(),
                    receiver: portal.receiver.clone(),
                    remote_id: sent.id.as_str().to_owned(),
                    part_id: String::new(),
                    event_id: ev.event_id.clone(),
                    room_id: ev.room_id.clone(),
                    sender: ev.sender.to_string(),
                    timestamp_ms: sent.timestamp_ms.unwrap_or_else(crate::clock::now_ms),
                };
                if let Err(e) = self.store.insert_message(&row).await {
                    warn!(error = %e, "could not store a message mapping");
                }
                if let Some(note) = &sent.note {
                    self.tell_altered(&ev.room_id, &ev.event_id, note).await;
                }
            }
            Err(e) => self.tell_failed(&ev.room_id, &ev.event_id, &e.user_message()).await,
        }
    }

    async fn bridge_edit(&self, portal: &PortalRow, ev: &RoomEvent) {
        let Some(target) = ev.content["m.relates_to"]["event_id"].as_str().and_then(|e| ruma::EventId::parse(e).ok()) else { return };
        let Some(original) = self.store.message_by_event(&target).await.ok().flatten() else {
            self.tell_failed(&ev.room_id, &ev.event_id, "the edited message was never bridged, so the edit cannot be either.").await;
            return;
        };
        let Some((_, client, _)) = self.sending_client(portal, &ev.sender) else {
            self.tell_failed(&ev.room_id, &ev.event_id, "you are not logged in. Send `login` to the bridge bot in a direct message.").await;
            return;
        };
        let Some(edits) = client.edits() else {
            self.tell_failed(
                &ev.room_id,
                &ev.event_id,
                &format!("{} does not support editing messages; the edit was not sent.", self.info.display_name),
            )
            .await;
            return;
        };
        let new_content = if ev.content["m.new_content"].is_object() { &ev.content["m.new_content"] } else { &ev.content };
        let content = match convert::matrix_to_content(&self.matrix, &self.links, new_content, "m.room.message").await {
            Ok(c) => c,
            Err(reason) => return self.tell_failed(&ev.room_id, &ev.event_id, &reason).await,
        };
        let key = portal.key();
        match edits.edit(&key, &original.remote_id.clone().into(), content).await {
            Ok(Some(note)) => self.tell_altered(&ev.room_id, &ev.event_id, &note).await,
            Ok(None) => {}
            Err(e) => self.tell_failed(&ev.room_id, &ev.event_id, &e.user_message()).await,
        }
    }

    async fn handle_reaction(&self, ev: RoomEvent) {
        let Some(portal) = self.store.portal_by_room(&ev.room_id).await.ok().flatten() else { return };
        let relates = &ev.content["m.relates_to"];
        let (Some(target), Some(reaction_key)) =
            (relates["event_id"].as_str().and_then(|e| ruma::EventId::parse(e).ok()), relates["key"].as_str())
        else {
            return;
        };
        let Some(original) = self.store.message_by_event(&target).await.ok().flatten() else { return };
        let _guard = self.lock_portal(&portal.key()).await;
        let Some((login, client, relayed)) = self.sending_client(&portal, &ev.sender) else { return };
        if relayed {
            return;
        }
        let Some(reactions) = client.reactions() else {
            self.tell_failed(
                &ev.room_id,
                &ev.event_id,
                &format!("{} does not support reactions; yours was not sent.", self.info.display_name),
            )
            .await;
            return;
        };
        let key = portal.key();
        match reactions.react(&key, &original.remote_id.clone().into(), reaction_key).await {
            Ok(()) => {
                let row = crate::store::ReactionRow {
                    portal_remote_id: portal.remote_id.clone(),
                    receiver: portal.receiver.clone(),
                    target_remote_id: original.remote_id.clone(),
                    sender: format!("login:{login}"),
                    key: reaction_key.to_owned(),
                    event_id: ev.event_id.clone(),
                    room_id: ev.room_id.clone(),
                };
                if let Err(e) = self.store.insert_reaction(&row).await {
                    warn!(error = %e, "could not store a reaction");
                }
            }
            Err(e) => self.tell_failed(&ev.room_id, &ev.event_id, &e.user_message()).await,
        }
    }

    async fn handle_redaction(&self, ev: RoomEvent) {
        let Some(target) = ev.redacts.clone().or_else(|| ev.content["redacts"].as_str().and_then(|e| ruma::EventId::parse(e).ok())) else {
            return;
        };
        let Some(portal) = self.store.portal_by_room(&ev.room_id).await.ok().flatten() else { return };
        let key = portal.key();
        let _guard = self.lock_portal(&key).await;
        let Some((_, client, relayed)) = self.sending_client(&portal, &ev.sender) else { return };
        if let Some(reaction) = self.store.reaction_by_event(&target).await.ok().flatten() {
            if let Some(r) = client.reactions().filter(|_| !relayed) {
                match r.unreact(&key, &reaction.target_remote_id.clone().into(), &reaction.key).await {
                    Ok(()) => {
                        let _ = self.store.delete_reaction_by_event(&target).await;
                    }
                    Err(e) => self.tell_failed(&ev.room_id, &ev.event_id, &e.user_message()).await,
                }
            }
            return;
        }
        let Some(message) = self.store.message_by_event(&target).await.ok().flatten() else { return };
        let Some(redactions) = client.redactions() else {
            self.tell_failed(
                &ev.room_id,
                &ev.event_id,
                &format!("{} does not support deleting messages; it was not deleted there.", self.info.display_name),
            )
            .await;
            return;
        };
        match redactions.delete(&key, &message.remote_id.clone().into()).await {
            Ok(()) => {
                let _ = self.store.delete_message_by_event(&target).await;
            }
            Err(e) => self.tell_failed(&ev.room_id, &ev.event_id, &e.user_message()).await,
        }
    }

    /// Tells the sender their event was not delivered, as a notice replying to it.
    pub(crate) async fn tell_failed(&self, room: &RoomId, event: &ruma::EventId, reason: &str) {
        self.reply_notice(room, event, &format!("⚠️ Not delivered to {}: {reason}", self.info.display_name)).await;
    }

    /// Tells the sender the network got something other than what they sent.
    async fn tell_altered(&self, room: &RoomId, event: &ruma::EventId, note: &str) {
        self.reply_notice(room, event, &format!("ℹ️ {} got this differently: {note}", self.info.display_name)).await;
    }

    async fn reply_notice(&self, room: &RoomId, event: &ruma::EventId, text: &str) {
        let content = serde_json::json!({
            "msgtype": "m.notice",
            "body": text,
            "m.relates_to": {"m.in_reply_to": {"event_id": event}},
        });
        if let Err(e) = self.matrix.send_event(room, &self.config.bot_user_id, "m.room.message", &content, None).await {
            warn!(error = %e, "could not tell a sender what happened to their message");
        }
    }

    async fn handle_ephemeral(&self, event: Value) {
        if event["type"] == "m.receipt" {
            return self.handle_receipts(event).await;
        }
        if event["type"] == "m.presence" {
            return self.handle_presence(event).await;
        }
        if event["type"] != "m.typing" {
            return;
        }
        let Some(room) = event["room_id"].as_str().and_then(|r| RoomId::parse(r).ok()) else { return };
        let Some(portal) = self.store.portal_by_room(&room).await.ok().flatten() else { return };
        let now: std::collections::HashSet<OwnedUserId> = event["content"]["user_ids"]
            .as_array()
            .map(|a| a.iter().filter_map(|u| u.as_str().and_then(|u| UserId::parse(u).ok())).filter(|u| !self.is_bridge_user(u)).collect())
            .unwrap_or_default();
        let before = self.typing.lock().expect("lock").insert(room.clone(), now.clone()).unwrap_or_default();
        let key = portal.key();
        let changes = now.difference(&before).map(|u| (u.clone(), true)).chain(before.difference(&now).map(|u| (u.clone(), false)));
        for (user, typing) in changes.collect::<Vec<_>>() {
            if let Some((_, client, false)) = self.sending_client(&portal, &user)
                && let Some(t) = client.typing()
            {
                let _ = t.set_typing(&key, typing).await;
            }
        }
    }

    /// A Matrix user's presence (`m.presence`): every login of theirs that can show it
    /// remotely is told.
    async fn handle_presence(&self, event: Value) {
        let Some(user) = event["sender"].as_str().and_then(|u| UserId::parse(u).ok()) else { return };
        if self.is_bridge_user(&user) {
            return;
        }
        let Some(presence) = event["content"]["presence"].as_str().and_then(crate::network::MatrixPresence::parse) else { return };
        let status = event["content"]["status_msg"].as_str().filter(|s| !s.is_empty());
        let clients: Vec<Arc<dyn NetworkClient>> =
            self.logins.lock().expect("lock").values().filter(|l| l.user == user).map(|l| l.client.clone()).collect();
        for client in clients {
            if let Some(updates) = client.presence()
                && let Err(e) = updates.set_presence(presence, status).await
            {
                debug!(user = %user, error = %e, "a presence did not reach the network");
            }
        }
    }

    /// Matrix read receipts (`m.read`, public) of the bridge's users on bridged messages:
    /// the network is told how far each has read.
    async fn handle_receipts(&self, event: Value) {
        let Some(room) = event["room_id"].as_str().and_then(|r| RoomId::parse(r).ok()) else { return };
        let Some(portal) = self.store.portal_by_room(&room).await.ok().flatten() else { return };
        let Some(receipts) = event["content"].as_object() else { return };
        let key = portal.key();
        for (event_id, kinds) in receipts {
            let Some(readers) = kinds["m.read"].as_object() else { continue };
            let Ok(event_id) = ruma::EventId::parse(event_id.as_str()) else { continue };
            let Some(message) = self.store.message_by_event(&event_id).await.ok().flatten() else { continue };
            for reader in readers.keys().filter_map(|u| UserId::parse(u.as_str()).ok()) {
                if self.is_bridge_user(&reader) {
                    continue;
                }
                if let Some((_, client, false)) = self.sending_client(&portal, &reader)
                    && let Some(receipts) = client.read_receipts()
                {
                    let up_to = crate::ids::RemoteMessageId::new(message.remote_id.clone());
                    if let Err(e) = receipts.mark_read(&key, &up_to).await {
                        tracing::debug!(portal = %key, error = %e, "a read receipt did not reach the network");
                    }
                }
            }
        }
    }
}
