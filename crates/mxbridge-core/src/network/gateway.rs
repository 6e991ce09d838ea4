//! Gateway rooms: Matrix rooms that remote users enter from their own network (XMPP users
//! join a public Matrix room as if it were a MUC), the other way round from portals. The
//! core does the Matrix side (the public room list, joining the remote user's ghost,
//! speaking as it) and hands the network what happens in those rooms.

use async_trait::async_trait;
use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};

use crate::ids::RemoteUserId;
use crate::network::content::{Content, Media};

/// A room of the homeserver's public room directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicRoom {
    pub room_id: OwnedRoomId,
    /// Its canonical alias, if it has one.
    pub alias: Option<String>,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub members: u64,
}

/// A gateway room as a remote user finds it on joining.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoomSnapshot {
    pub name: Option<String>,
    pub topic: Option<String>,
    /// Joined members with their display names (the localpart when they have none).
    pub members: Vec<(OwnedUserId, String)>,
}

/// A Matrix user's profile, for networks that show it remotely (XMPP vCards).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MatrixProfile {
    pub display_name: Option<String>,
    /// The avatar picture itself, when the user has one that is not too large.
    pub avatar: Option<Media>,
}

/// What happens in a gateway room, for the network to pass on.
#[derive(Clone, Debug)]
pub enum GatewayEvent {
    /// A message, from anyone in the room (ghosts included: the network knows its own).
    Message { sender: OwnedUserId, sender_name: String, event_id: OwnedEventId, content: Content },
    /// Someone joined (or changed their name) or left.
    Member { user: OwnedUserId, name: String, joined: bool },
    /// The topic changed.
    Topic(String),
}

/// Why a gateway request failed; the text says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// No such room, or it is not public.
    #[error("{0}")]
    NotFound(String),
    /// The homeserver refused (banned, invite-only).
    #[error("{0}")]
    Forbidden(String),
    /// The homeserver could not be reached or failed.
    #[error("the homeserver failed: {0}")]
    Homeserver(String),
}

/// The Matrix side of gateway rooms, given to networks in [`super::NetworkContext`].
#[async_trait]
pub trait MatrixRooms: Send + Sync {
    /// Rooms of the public directory, searched by `term` when given.
    async fn public_rooms(&self, term: Option<&str>, limit: u32) -> Result<Vec<PublicRoom>, GatewayError>;
    /// The room an alias (`#room:server`) or id (`!id:server`) names.
    async fn resolve(&self, alias_or_id: &str) -> Result<OwnedRoomId, GatewayError>;
    /// Joins the remote user's ghost (named `display_name`) to a public room; from then on
    /// the room's events reach [`super::Network::gateway_event`].
    async fn join(&self, room: &RoomId, user: &RemoteUserId, display_name: &str) -> Result<RoomSnapshot, GatewayError>;
    /// The remote user's ghost leaves the room.
    async fn leave(&self, room: &RoomId, user: &RemoteUserId) -> Result<(), GatewayError>;
    /// Sends a message into the room as the remote user's ghost.
    async fn send(&self, room: &RoomId, user: &RemoteUserId, content: &Content) -> Result<OwnedEventId, GatewayError>;
    /// The Matrix user ID of a remote user's ghost.
    fn ghost_of(&self, user: &RemoteUserId) -> OwnedUserId;
    /// A Matrix user's display name and avatar picture (a picture over `max_avatar_bytes`
    /// is left out). By default nothing is known.
    async fn profile(&self, _user: &UserId, _max_avatar_bytes: usize) -> Result<MatrixProfile, GatewayError> {
        Ok(MatrixProfile::default())
    }
    /// Gives the remote user's ghost a name and a picture the network found (an XMPP
    /// vCard); the same picture is uploaded once. By default nothing happens.
    async fn set_profile(&self, _user: &RemoteUserId, _name: Option<&str>, _avatar: Option<Media>) -> Result<(), GatewayError> {
        Ok(())
    }
}

/// Gateway rooms for tools that run a network without a homeserver (benchmarks): every
/// request fails, saying so.
pub struct NoMatrixRooms;

#[async_trait]
impl MatrixRooms for NoMatrixRooms {
    async fn public_rooms(&self, _term: Option<&str>, _limit: u32) -> Result<Vec<PublicRoom>, GatewayError> {
        Err(GatewayError::Homeserver("no homeserver in this tool".into()))
    }
    async fn resolve(&self, alias_or_id: &str) -> Result<OwnedRoomId, GatewayError> {
        Err(GatewayError::NotFound(format!("no homeserver in this tool to find {alias_or_id}")))
    }
    async fn join(&self, _room: &RoomId, _user: &RemoteUserId, _name: &str) -> Result<RoomSnapshot, GatewayError> {
        Err(GatewayError::Homeserver("no homeserver in this tool".into()))
    }
    async fn leave(&self, _room: &RoomId, _user: &RemoteUserId) -> Result<(), GatewayError> {
        Ok(())
    }
    async fn send(&self, _room: &RoomId, _user: &RemoteUserId, _content: &Content) -> Result<OwnedEventId, GatewayError> {
        Err(GatewayError::Homeserver("no homeserver in this tool".into()))
    }
    fn ghost_of(&self, user: &RemoteUserId) -> OwnedUserId {
        OwnedUserId::try_from(format!("@{}:invalid", user.as_str().replace(['@', ':', '/'], "_")))
            .unwrap_or_else(|_| ruma::user_id!("@unknown:invalid").to_owned())
    }
}
