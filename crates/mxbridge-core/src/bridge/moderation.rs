//! What Matrix moderators do in a portal room (topic, kicks, bans of ghosts), done on the
//! network by the moderator's own account.

use std::sync::Arc;

use tracing::warn;

use super::Bridge;
use super::matrix_events::RoomEvent;
use crate::ids::RemoteUserId;
use crate::store::PortalRow;

impl Bridge {
    /// The portal of a room and the moderation capability of the sender's own login.
    /// Relay logins never moderate for somebody else.
    async fn moderator_client(&self, ev: &RoomEvent) -> Option<(PortalRow, Arc<dyn crate::network::NetworkClient>)> {
        if self.is_bridge_user(&ev.sender) {
            return None;
        }
        let portal = self.store.portal_by_room(&ev.room_id).await.ok().flatten()?;
        let (_, client, relayed) = self.sending_client(&portal, &ev.sender)?;
        (!relayed && client.moderation().is_some()).then_some((portal, client))
    }

    /// A Matrix user changed a portal's topic: the network's topic follows.
    pub(crate) async fn bridge_topic(&self, ev: &RoomEvent) {
        let Some((portal, client)) = self.moderator_client(ev).await else { return };
        let Some(moderation) = client.moderation() else { return };
        let topic = ev.content["topic"].as_str().unwrap_or("");
        if portal.topic.as_deref() == Some(topic) {
            return; // the topic came from the network in the first place
        }
        if let Err(e) = moderation.set_topic(&portal.key(), topic).await {
            self.tell_failed(&ev.room_id, &ev.event_id, &format!("the topic could not be changed there: {}", e.user_message())).await;
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
