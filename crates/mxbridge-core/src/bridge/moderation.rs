//! What Matrix moderators do in a portal room (name, topic, kicks, bans of ghosts), done on
//! the network by the moderator's own account.

use std::sync::Arc;

use tracing::warn;

use super::Bridge;
use super::matrix_events::RoomEvent;
use crate::ids::RemoteUserId;
use crate::store::PortalRow;

impl Bridge {
    /// The portal of a room and the sender's own login, for the capability the caller
    /// needs. Relay logins never moderate for somebody else.
    async fn moderator_client(&self, ev: &RoomEvent) -> Option<(PortalRow, Arc<dyn crate::network::NetworkClient>)> {
        if self.is_bridge_user(&ev.sender) {
            return None;
        }
        let portal = self.store.portal_by_room(&ev.room_id).await.ok().flatten()?;
        let (_, client, relayed) = self.sending_client(&portal, &ev.sender)?;
        (!relayed).then_some((portal, client))
    }

    /// A Matrix user changed a portal's topic: the network's topic follows. The portal then
    /// remembers the topic, so the network's echo of the change does not set it again.
    pub(crate) async fn bridge_topic(&self, ev: &RoomEvent) {
        let Some((mut portal, client)) = self.moderator_client(ev).await else { return };
        let Some(moderation) = client.moderation() else { return };
        let topic = ev.content["topic"].as_str().unwrap_or("");
        if portal.topic.as_deref() == Some(topic) {
            return; // the topic came from the network in the first place
        }
        if let Err(e) = moderation.set_topic(&portal.key(), topic).await {
            self.tell_failed(&ev.room_id, &ev.event_id, &format!("the topic could not be changed there: {}", e.user_message())).await;
            return;
        }
        portal.topic = Some(topic.to_owned());
        if let Err(e) = self.store.upsert_portal(&portal).await {
            warn!(portal = %portal.remote_id, error = %e, "could not store a portal's new topic");
        }
    }

    /// A Matrix user renamed a portal room: the chat's name follows, when the network can
    /// rename chats. The portal then remembers the name, so the network's echo of the
    /// rename does not rename the room again.
    pub(crate) async fn bridge_room_name(&self, ev: &RoomEvent) {
        let Some((mut portal, client)) = self.moderator_client(ev).await else { return };
        let Some(chat_names) = client.chat_names() else { return };
        let Some(name) = name_to_bridge(&ev.content, portal.name.as_deref()) else { return };
        if let Err(e) = chat_names.set_chat_name(&portal.key(), &name).await {
            warn!(portal = %portal.remote_id, error = %e, "a room name could not be bridged");
            self.tell_failed(&ev.room_id, &ev.event_id, &format!("the name could not be changed there: {}", e.user_message())).await;
            return;
        }
        portal.name = Some(name);
        if let Err(e) = self.store.upsert_portal(&portal).await {
            warn!(portal = %portal.remote_id, error = %e, "could not store a portal's new name");
        }
    }

    /// A Matrix moderator kicked or banned a ghost: the remote user is kicked or banned.
    pub(crate) async fn moderate_member(&self, ev: &RoomEvent, target: &str) {
        let membership = ev.content["membership"].as_str().unwrap_or("");
        if target == ev.sender.as_str() || !matches!(membership, "leave" | "ban") {
            return;
        }
        // A leave is a kick only if the ghost was in the room: after a ban it is an unban,
        // after an invite a withdrawn invite.
        let before = ev.unsigned["prev_content"]["membership"].as_str().unwrap_or("join");
        if membership == "leave" && before != "join" {
            return;
        }
        let Ok(target) = ruma::UserId::parse(target) else { return };
        let Some(remote) = self.remote_id_of_ghost(&target) else { return };
        let Some((portal, client)) = self.moderator_client(ev).await else { return };
        let Some(moderation) = client.moderation() else { return };
        let reason = ev.content["reason"].as_str().unwrap_or("");
        let key = portal.key();
        let remote = RemoteUserId::new(remote);
        let result =
            if membership == "ban" { moderation.ban(&key, &remote, reason).await } else { moderation.kick(&key, &remote, reason).await };
        if let Err(e) = result {
            warn!(portal = %portal.remote_id, error = %e, "a kick or ban could not be bridged");
            let what = if membership == "ban" { "ban" } else { "kick" };
            self.tell_failed(&ev.room_id, &ev.event_id, &format!("the {what} could not be done there: {}", e.user_message())).await;
        }
    }
}

/// The name a Matrix `m.room.name` change asks the network for: none when the room lost its
/// name (a chat keeps one) or when it is the name that came from the network.
fn name_to_bridge(content: &serde_json::Value, portal_name: Option<&str>) -> Option<String> {
    let name = content["name"].as_str().map(str::trim).filter(|n| !n.is_empty())?;
    (portal_name != Some(name)).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::name_to_bridge;

    #[test]
    fn test_only_a_new_nonempty_room_name_is_bridged() {
        assert_eq!(name_to_bridge(&json!({"name": "Sim Pals"}), Some("Sim Friends")).as_deref(), Some("Sim Pals"));
        assert_eq!(name_to_bridge(&json!({"name": "  Sim Pals "}), None).as_deref(), Some("Sim Pals"), "trimmed");
        assert_eq!(name_to_bridge(&json!({"name": "Sim Friends"}), Some("Sim Friends")), None, "the network's own name");
        assert_eq!(name_to_bridge(&json!({"name": ""}), Some("Sim Friends")), None, "a removed name");
        assert_eq!(name_to_bridge(&json!({}), Some("Sim Friends")), None);
        assert_eq!(name_to_bridge(&json!({"name": 5}), None), None);
    }
}
