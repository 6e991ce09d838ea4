//! Remote events: what happened on the network, turned into Matrix events in the portal.

use std::sync::Arc;

use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde_json::json;
use tracing::warn;

use super::Bridge;
use super::convert;
use super::portals::power_level;
use crate::ids::{LoginId, PortalKey, RemoteMessageId};
use crate::metrics::Direction;
use crate::network::event::{HistoryMessage, Membership, RemoteEvent, Sender};
use crate::network::{ChatInfo, ChatKind};
use crate::store::{MessageRow, ReactionRow};

impl Bridge {
    pub(crate) async fn handle_remote_event(self: &Arc<Self>, login: &LoginId, event: RemoteEvent) {
        match event {
            RemoteEvent::Message { chat, sender, id, timestamp_ms, content, reply_to } => {
                if self.already_bridged(&chat, &id).await {
                    return;
                }
                let Some((room, ghost)) = self.portal_and_ghost(login, &chat, &sender).await else {
                    return self.metrics.send_failed(Direction::RemoteToMatrix);
                };
                // A portal made for this message was filled with the chat's history, which
                // may hold the message itself.
                if self.already_bridged(&chat, &id).await {
                    return;
                }
                let message =
                    HistoryMessage { sender, id, timestamp_ms: timestamp_ms.unwrap_or_else(crate::clock::now_ms), content, reply_to };
                self.deliver_message(&chat, &room, &ghost, &message, timestamp_ms).await;
            }
            RemoteEvent::Edit { chat, sender, target, content } => {
                let Some(original) = self.first_part(&chat, &target).await else { return };
                let Some((room, ghost)) = self.portal_and_ghost(login, &chat, &sender).await else { return };
                let Ok(new_content) = convert::content_to_matrix(&self.matrix, &content).await else { return };
                let mut body = new_content.clone();
                body["body"] = json!(format!("* {}", new_content["body"].as_str().unwrap_or("")));
                if let Some(f) = new_content["formatted_body"].as_str() {
                    body["formatted_body"] = json!(format!("* {f}"));
                }
                body["m.new_content"] = new_content;
                body["m.relates_to"] = json!({"rel_type": "m.replace", "event_id": original.event_id});
                if let Err(e) = self.matrix.send_event(&room, &ghost, "m.room.message", &body, None).await {
                    warn!(error = %e, "could not bridge an edit");
                }
            }
            RemoteEvent::Reaction { chat, sender, target, key } => {
                let Some(original) = self.first_part(&chat, &target).await else { return };
                let Some((room, ghost)) = self.portal_and_ghost(login, &chat, &sender).await else { return };
                let body = json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": original.event_id, "key": key}});
                match self.matrix.send_event(&room, &ghost, "m.reaction", &body, None).await {
                    Ok(event_id) => {
                        let row = ReactionRow {
                            portal_remote_id: chat.chat.as_str().to_owned(),
                            receiver: chat.receiver.clone(),
                            target_remote_id: target.as_str().to_owned(),
                            sender: sender.id.as_str().to_owned(),
                            key,
                            event_id,
                            room_id: room,
                        };
                        let _ = self.store.insert_reaction(&row).await;
                    }
                    Err(e) => warn!(error = %e, "could not bridge a reaction"),
                }
            }
            RemoteEvent::ReactionRemoved { chat, sender, target, key } => {
                let Ok(Some(reaction)) =
                    self.store.reaction(chat.chat.as_str(), &chat.receiver, target.as_str(), sender.id.as_str(), &key).await
                else {
                    return;
                };
                let ghost = self.ghost_user_id(&sender.id);
                if self.matrix.redact(&reaction.room_id, &ghost, &reaction.event_id, None).await.is_ok() {
                    let _ = self.store.delete_reaction_by_event(&reaction.event_id).await;
                }
            }
            RemoteEvent::Deleted { chat, sender, target } => {
                let Ok(parts) = self.store.message_by_remote(chat.chat.as_str(), &chat.receiver, target.as_str()).await else { return };
                let ghost = self.ghost_user_id(&sender.id);
                for part in parts {
                    // The ghost can redact its own events; the bot (PL 100) redacts others.
                    let by = if part.sender == sender.id.as_str() { ghost.clone() } else { self.config.bot_user_id.clone() };
                    if let Err(e) = self.matrix.redact(&part.room_id, &by, &part.event_id, Some("deleted on the remote side")).await {
                        warn!(error = %e, "could not bridge a deletion");
                    }
                    let _ = self.store.delete_message_by_event(&part.event_id).await;
                }
            }
            RemoteEvent::Typing { chat, sender, typing } => {
                if let Some((room, ghost)) = self.existing_portal_and_ghost(&chat, &sender).await {
                    let _ = self.matrix.set_typing(&room, &ghost, typing).await;
                }
            }
            RemoteEvent::Read { chat, sender, up_to } => {
                let Some(part) = self.first_part(&chat, &up_to).await else { return };
                if let Some((room, ghost)) = self.existing_portal_and_ghost(&chat, &sender).await {
                    let _ = self.matrix.send_receipt(&room, &ghost, &part.event_id).await;
                }
            }
            RemoteEvent::Member { chat, sender, membership } => match membership {
                Membership::Join => {
                    let _ = self.portal_and_ghost(login, &chat, &sender).await;
                }
                Membership::Leave => {
                    if let Some((room, ghost)) = self.existing_portal_and_ghost(&chat, &sender).await {
                        let _ = self.matrix.leave(&room, &ghost).await;
                        self.forget_joined(&room, &ghost);
                    }
                }
            },
            RemoteEvent::RoleChanged { chat, sender: Some(sender), role } => {
                if let Some((room, ghost)) = self.portal_and_ghost(login, &chat, &sender).await {
                    self.set_power_level(&room, &ghost, power_level(role)).await;
                }
            }
            RemoteEvent::RoleChanged { chat, sender: None, role } => {
                let Some(user) = self.login(login).map(|l| l.user).filter(|u| *u != self.config.bot_user_id) else { return };
                if let Some(room) = self.portal_room(&chat).await {
                    self.set_power_level(&room, &user, power_level(role)).await;
                }
            }
            RemoteEvent::Presence { sender, available, status } => {
                let ghost = self.ghost_user_id(&sender.id);
                let presence = if available { "online" } else { "unavailable" };
                if let Err(e) = self.matrix.set_presence(&ghost, presence, status.as_deref()).await {
                    tracing::debug!(ghost = %ghost, error = %e, "could not set a ghost's presence (is presence off on the homeserver?)");
                }
            }
            RemoteEvent::Profile { sender, avatar } => {
                let ghost = match self.ensure_ghost(&sender.id, sender.info.as_ref()).await {
                    Ok(ghost) => ghost,
                    Err(e) => return warn!(sender = %sender.id, error = %e, "could not update a ghost's profile"),
                };
                if let Some(picture) = avatar {
                    self.set_ghost_avatar_from_bytes(&sender.id, &ghost, &picture).await;
                }
            }
            RemoteEvent::AvatarRemoved { sender } => {
                let ghost = self.ghost_user_id(&sender.id);
                self.remove_ghost_avatar(&sender.id, &ghost).await;
            }
            RemoteEvent::Removed { chat, by, reason } => {
                // The bot's own relay account leaving a chat does not take the bot out of its room.
                let Some(user) = self.login(login).map(|l| l.user).filter(|u| *u != self.config.bot_user_id) else { return };
                let Some(room) = self.portal_room(&chat).await else { return };
                let text = match &by {
                    Some(s) => format!("Removed by {} on {}: {reason}", s.id, self.info.display_name),
                    None => format!("Removed on {}: {reason}", self.info.display_name),
                };
                if let Err(e) = self.matrix.kick(&room, &user, &text).await {
                    warn!(portal = %chat, error = %e, "could not remove a user from a portal room");
                }
            }
            RemoteEvent::ChatChanged { chat, sender, info } => self.apply_chat_info(login, &chat, sender.as_ref(), &info).await,
            RemoteEvent::LoginState(_) | RemoteEvent::Notice { .. } => {}
        }
    }

    /// Sends a remote message into its portal room as `ghost` (with `ts` when the network
    /// said when it was sent) and remembers its event id. Returns whether it was sent.
    pub(crate) async fn deliver_message(
        &self,
        chat: &PortalKey,
        room: &RoomId,
        ghost: &UserId,
        message: &HistoryMessage,
        ts: Option<i64>,
    ) -> bool {
        let mut body = match convert::content_to_matrix(&self.matrix, &message.content).await {
            Ok(b) => b,
            Err(e) => {
                warn!(error = %e, "a remote message could not be converted");
                json!({"msgtype": "m.notice", "body": format!("(a message from {} could not be bridged: {e})", message.sender.id)})
            }
        };
        if let Some(target) = &message.reply_to
            && let Some(first) = self.first_part(chat, target).await
        {
            body["m.relates_to"] = json!({"m.in_reply_to": {"event_id": first.event_id}});
        }
        let event_id = match self.matrix.send_event(room, ghost, "m.room.message", &body, ts).await {
            Ok(event_id) => event_id,
            Err(e) => {
                self.metrics.send_failed(Direction::RemoteToMatrix);
                warn!(portal = %chat, error = %e, "could not send a remote message to Matrix");
                return false;
            }
        };
        self.metrics.message_bridged(Direction::RemoteToMatrix);
        let row = MessageRow {
            portal_remote_id: chat.chat.as_str().to_owned(),
            receiver: chat.receiver.clone(),
            remote_id: message.id.as_str().to_owned(),
            part_id: String::new(),
            event_id,
            room_id: room.to_owned(),
            sender: message.sender.id.as_str().to_owned(),
            timestamp_ms: message.timestamp_ms,
        };
        if let Err(e) = self.store.insert_message(&row).await {
            warn!(error = %e, "could not store a message mapping");
        }
        true
    }

    pub(crate) async fn already_bridged(&self, chat: &PortalKey, id: &RemoteMessageId) -> bool {
        matches!(self.store.message_by_remote(chat.chat.as_str(), &chat.receiver, id.as_str()).await, Ok(v) if !v.is_empty())
    }

    async fn first_part(&self, chat: &PortalKey, id: &RemoteMessageId) -> Option<MessageRow> {
        self.store.message_by_remote(chat.chat.as_str(), &chat.receiver, id.as_str()).await.ok()?.into_iter().next()
    }

    /// The portal's room (created if needed) and the sender's ghost, joined to it.
    async fn portal_and_ghost(self: &Arc<Self>, login: &LoginId, chat: &PortalKey, sender: &Sender) -> Option<(OwnedRoomId, OwnedUserId)> {
        let existing = self.store.portal(chat.chat.as_str(), &chat.receiver).await.ok().flatten().and_then(|p| p.room_id);
        let room = match existing {
            Some(room) => room,
            None => {
                let _turn = self.new_portal_turn(login).await;
                let info = self.chat_info_via(Some(login), chat).await;
                let owner = self.login(login).map(|l| l.user);
                match self.ensure_portal(chat, &info, owner.as_deref(), false).await {
                    Ok((row, created)) => {
                        let room = row.room_id?;
                        if created {
                            self.backfill_new_portal(login, chat, &room).await;
                        }
                        room
                    }
                    Err(e) => {
                        warn!(portal = %chat, error = %e, "could not create a portal");
                        return None;
                    }
                }
            }
        };
        let ghost = self.ghost_in(&room, sender).await?;
        Some((room, ghost))
    }

    /// The sender's ghost, created if needed and joined to the room.
    pub(crate) async fn ghost_in(&self, room: &RoomId, sender: &Sender) -> Option<OwnedUserId> {
        let ghost = match self.ensure_ghost(&sender.id, sender.info.as_ref()).await {
            Ok(g) => g,
            Err(e) => {
                warn!(sender = %sender.id, error = %e, "could not create a ghost");
                return None;
            }
        };
        if let Err(e) = self.ensure_joined(room, &ghost).await {
            warn!(ghost = %ghost, room = %room, error = %e, "a ghost could not join");
            return None;
        }
        Some(ghost)
    }

    async fn existing_portal_and_ghost(&self, chat: &PortalKey, sender: &Sender) -> Option<(OwnedRoomId, OwnedUserId)> {
        let room = self.portal_room(chat).await?;
        Some((room, self.ghost_user_id(&sender.id)))
    }

    /// Creates the portal, or brings its name and topic up to date.
    async fn apply_chat_info(self: &Arc<Self>, login: &LoginId, chat: &PortalKey, sender: Option<&Sender>, info: &ChatInfo) {
        let owner = self.login(login).map(|l| l.user);
        // A new portal (with its history) waits for its turn; an existing one is only updated.
        let _turn = match self.portal_room(chat).await {
            Some(_) => None,
            None => self.new_portal_turn(login).await,
        };
        let (mut row, created) = match self.ensure_portal(chat, info, owner.as_deref(), false).await {
            Ok(r) => r,
            Err(e) => {
                warn!(portal = %chat, error = %e, "could not create a portal");
                return;
            }
        };
        let Some(room) = row.room_id.clone() else { return };
        if created {
            return self.backfill_new_portal(login, chat, &room).await;
        }
        let actor = match sender {
            Some(s) => self.ensure_ghost(&s.id, s.info.as_ref()).await.ok().filter(|_| !matches!(info.kind, ChatKind::Direct(_))),
            None => None,
        };
        let by = actor.unwrap_or_else(|| self.config.bot_user_id.clone());
        if info.name.is_some() && info.name != row.name {
            if self.ensure_joined(&room, &by).await.is_ok() || by == self.config.bot_user_id {
                let _ = self.matrix.send_state(&room, &by, "m.room.name", "", &json!({"name": info.name})).await;
            }
            row.name = info.name.clone();
        }
        if let Some(avatar) = info.avatar.as_ref().filter(|a| a.starts_with("mxc://") && row.avatar_url.as_ref() != Some(a)) {
            let _ = self.matrix.send_state(&room, &by, "m.room.avatar", "", &json!({"url": avatar})).await;
            row.avatar_url = Some(avatar.clone());
        }
        if info.topic.is_some() && info.topic != row.topic {
            let _ = self.matrix.send_state(&room, &by, "m.room.topic", "", &json!({"topic": info.topic})).await;
            row.topic = info.topic.clone();
        }
        let _ = self.store.upsert_portal(&row).await;
    }
}
