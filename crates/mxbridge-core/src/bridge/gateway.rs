//! The Matrix side of gateway rooms (see [`crate::network::gateway`]): public rooms that
//! remote users join from their own network through their ghosts. Which rooms are gateway
//! rooms lives in memory: after a restart the remote users join again (an XMPP client's
//! self-ping finds out it is no longer in).

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use async_trait::async_trait;
use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, RoomAliasId, RoomId};
use tracing::warn;

use super::Bridge;
use super::matrix_events::RoomEvent;
use crate::ids::RemoteUserId;
use crate::matrix::intent::MatrixError;
use crate::network::UserInfo;
use crate::network::content::{Content, Media, MediaKind};
use crate::network::gateway::{GatewayError, GatewayEvent, MatrixProfile, MatrixRooms, PublicRoom, RoomSnapshot};

/// Members' display names per gateway room.
pub(crate) type GatewayRooms = HashMap<OwnedRoomId, HashMap<OwnedUserId, String>>;

pub(crate) struct BridgeRooms(pub(crate) Weak<Bridge>);

impl BridgeRooms {
    fn bridge(&self) -> Result<Arc<Bridge>, GatewayError> {
        self.0.upgrade().ok_or_else(|| GatewayError::Homeserver("the bridge is shutting down".into()))
    }
}

fn homeserver(e: MatrixError) -> GatewayError {
    match &e {
        MatrixError::Http { status: 403, .. } => GatewayError::Forbidden(format!("the homeserver refused: {e}")),
        MatrixError::Http { status: 404, .. } => GatewayError::NotFound(format!("no such room: {e}")),
        _ => GatewayError::Homeserver(e.to_string()),
    }
}

/// A member's name: their display name, or their localpart.
fn name_of(user: &ruma::UserId, display_name: Option<&str>) -> String {
    display_name.filter(|n| !n.trim().is_empty()).map(str::to_owned).unwrap_or_else(|| user.localpart().to_owned())
}

#[async_trait]
impl MatrixRooms for BridgeRooms {
    async fn public_rooms(&self, term: Option<&str>, limit: u32) -> Result<Vec<PublicRoom>, GatewayError> {
        let b = self.bridge()?;
        let chunk = b.matrix.public_rooms(term, limit).await.map_err(homeserver)?;
        Ok(chunk
            .iter()
            .filter_map(|r| {
                Some(PublicRoom {
                    room_id: RoomId::parse(r["room_id"].as_str()?).ok()?,
                    alias: r["canonical_alias"].as_str().map(str::to_owned),
                    name: r["name"].as_str().map(str::to_owned),
                    topic: r["topic"].as_str().map(str::to_owned),
                    members: r["num_joined_members"].as_u64().unwrap_or(0),
                })
            })
            .collect())
    }

    async fn resolve(&self, alias_or_id: &str) -> Result<OwnedRoomId, GatewayError> {
        if let Ok(id) = RoomId::parse(alias_or_id) {
            return Ok(id);
        }
        let alias = RoomAliasId::parse(alias_or_id).map_err(|_| GatewayError::NotFound(format!("{alias_or_id} is not a room address")))?;
        let b = self.bridge()?;
        b.matrix.resolve_alias(&alias).await.map_err(homeserver)?.ok_or_else(|| GatewayError::NotFound(format!("there is no room {alias}")))
    }

    async fn join(&self, room: &RoomId, user: &RemoteUserId, display_name: &str) -> Result<RoomSnapshot, GatewayError> {
        let b = self.bridge()?;
        let info = UserInfo { display_name: Some(display_name.to_owned()), avatar: None };
        let ghost = b.ensure_ghost(user, Some(&info)).await.map_err(homeserver)?;
        // Only rooms anyone may join: a gateway is not a way around invites.
        let rules = b.matrix.get_state_as(room, &ghost, "m.room.join_rules", "").await.ok().flatten();
        if rules.is_some_and(|r| r["join_rule"] != "public") {
            return Err(GatewayError::Forbidden(format!("{room} is not a public room")));
        }
        b.matrix.join(room, &ghost).await.map_err(homeserver)?;
        let members = b.matrix.members_with_names(room, &ghost).await.map_err(homeserver)?;
        let members: Vec<(OwnedUserId, String)> = members.into_iter().map(|(u, n)| (u.clone(), name_of(&u, n.as_deref()))).collect();
        let state = |kind: &'static str, key: &'static str| {
            let (b, ghost) = (b.clone(), ghost.clone());
            async move { b.matrix.get_state_as(room, &ghost, kind, "").await.ok().flatten().and_then(|v| v[key].as_str().map(str::to_owned)) }
        };
        let snapshot = RoomSnapshot { name: state("m.room.name", "name").await, topic: state("m.room.topic", "topic").await, members };
        b.gateway_rooms.lock().expect("lock").insert(room.to_owned(), snapshot.members.iter().cloned().collect());
        Ok(snapshot)
    }

    async fn leave(&self, room: &RoomId, user: &RemoteUserId) -> Result<(), GatewayError> {
        let b = self.bridge()?;
        let ghost = b.ghost_user_id(user);
        b.matrix.leave(room, &ghost).await.map_err(homeserver)
    }

    async fn send(&self, room: &RoomId, user: &RemoteUserId, content: &Content) -> Result<OwnedEventId, GatewayError> {
        let b = self.bridge()?;
        let ghost = b.ghost_user_id(user);
        let body = super::convert::content_to_matrix(&b.matrix, content).await.map_err(GatewayError::Homeserver)?;
        b.matrix.send_event(room, &ghost, "m.room.message", &body, None).await.map_err(homeserver)
    }

    fn ghost_of(&self, user: &RemoteUserId) -> OwnedUserId {
        self.0.upgrade().map(|b| b.ghost_user_id(user)).unwrap_or_else(|| ruma::user_id!("@unknown:invalid").to_owned())
    }

    async fn set_profile(&self, user: &RemoteUserId, name: Option<&str>, avatar: Option<Media>) -> Result<(), GatewayError> {
        let b = self.bridge()?;
        let info = name.map(|n| UserInfo { display_name: Some(n.to_owned()), avatar: None });
        let ghost = b.ensure_ghost(user, info.as_ref()).await.map_err(homeserver)?;
        if let Some(picture) = avatar {
            b.set_ghost_avatar_from_bytes(user, &ghost, &picture).await;
        }
        Ok(())
    }

    async fn profile(&self, user: &ruma::UserId, max_avatar_bytes: usize) -> Result<MatrixProfile, GatewayError> {
        let b = self.bridge()?;
        let (display_name, avatar_url) = b.matrix.profile(user).await.map_err(homeserver)?;
        let avatar = match avatar_url {
            Some(mxc) => match b.matrix.download_media(&mxc, max_avatar_bytes).await {
                Ok(file) => {
                    Some(Media { kind: MediaKind::Image, name: "avatar".into(), mime: file.content_type, data: file.data, url: None })
                }
                Err(e) => {
                    tracing::debug!(user = %user, error = %e, "a Matrix user's avatar is left out of their profile");
                    None
                }
            },
            None => None,
        };
        Ok(MatrixProfile { display_name, avatar })
    }
}

impl Bridge {
    /// Whether a room is a gateway room.
    pub(crate) fn is_gateway_room(&self, room: &RoomId) -> bool {
        self.gateway_rooms.lock().expect("lock").contains_key(room)
    }

    /// Passes what happens in a gateway room to the network.
    pub(crate) async fn forward_to_gateway(&self, ev: &RoomEvent) {
        let event = match (ev.kind.as_str(), ev.state_key.as_deref()) {
            ("m.room.member", Some(target)) => {
                let Ok(user) = ruma::UserId::parse(target) else { return };
                let joined = ev.content["membership"] == "join";
                let name = name_of(&user, ev.content["displayname"].as_str());
                let mut rooms = self.gateway_rooms.lock().expect("lock");
                let Some(members) = rooms.get_mut(&ev.room_id) else { return };
                if joined {
                    members.insert(user.clone(), name.clone());
                } else {
                    members.remove(&user);
                }
                GatewayEvent::Member { user, name, joined }
            }
            ("m.room.topic", Some("")) => GatewayEvent::Topic(ev.content["topic"].as_str().unwrap_or_default().to_owned()),
            ("m.room.message", None) => {
                let event_id = ev.event_id.clone();
                let content = match super::convert::matrix_to_content(&self.matrix, &self.links, &ev.content, &ev.kind).await {
                    Ok(c) => c,
                    Err(e) => {
                        warn!(room = %ev.room_id, error = %e, "a gateway room message could not be converted");
                        return;
                    }
                };
                let sender_name = self
                    .gateway_rooms
                    .lock()
                    .expect("lock")
                    .get(&ev.room_id)
                    .and_then(|m| m.get(&ev.sender).cloned())
                    .unwrap_or_else(|| ev.sender.localpart().to_owned());
                GatewayEvent::Message { sender: ev.sender.clone(), sender_name, event_id, content }
            }
            _ => return,
        };
        self.network.gateway_event(&ev.room_id, event).await;
    }
}
