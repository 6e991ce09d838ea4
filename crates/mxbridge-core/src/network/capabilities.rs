//! The optional capabilities of a network client, each asked for through a
//! `NetworkClient` method that returns `None` when the network lacks it, and the plain
//! data some of them carry.

use async_trait::async_trait;

use super::{ChatInfo, NetworkError, SentMessage};
use crate::ids::{PortalKey, RemoteMessageId, RemoteUserId};
use crate::network::content::Content;

/// What Matrix moderators do in a portal, done remotely by the moderator's own account
/// (which needs the rights there too).
#[async_trait]
pub trait Moderation: Send + Sync {
    /// Sets the chat's topic.
    async fn set_topic(&self, portal: &PortalKey, topic: &str) -> Result<(), NetworkError>;
    /// Removes a remote user from the chat.
    async fn kick(&self, portal: &PortalKey, user: &RemoteUserId, reason: &str) -> Result<(), NetworkError>;
    /// Bans a remote user from the chat.
    async fn ban(&self, portal: &PortalKey, user: &RemoteUserId, reason: &str) -> Result<(), NetworkError>;
}

/// Renaming remote chats: a Matrix user changed a portal room's name (`m.room.name`), and
/// the chat's own name (a WhatsApp group's subject) follows, set by that user's account.
#[async_trait]
pub trait ChatNames: Send + Sync {
    /// Sets the chat's name.
    async fn set_chat_name(&self, portal: &PortalKey, name: &str) -> Result<(), NetworkError>;
}

/// Following the Matrix user's membership of portal rooms on the network.
#[async_trait]
pub trait ChatMembership: Send + Sync {
    /// The user joined the portal's room: join the chat remotely (IRC JOIN).
    async fn join(&self, portal: &PortalKey, display_name: Option<&str>) -> Result<(), NetworkError>;
    /// The user left the portal's room: leave the chat remotely (IRC PART).
    async fn leave(&self, portal: &PortalKey) -> Result<(), NetworkError>;
}

/// Editing sent messages.
#[async_trait]
pub trait Edits: Send + Sync {
    /// Replaces the content of a message this login sent. `Some(note)` when the network did
    /// something else than an edit (IRC sends a correction line); the sender is told.
    async fn edit(&self, portal: &PortalKey, target: &RemoteMessageId, content: Content) -> Result<Option<String>, NetworkError>;
}

/// Reacting to messages.
#[async_trait]
pub trait Reactions: Send + Sync {
    /// Adds a reaction.
    async fn react(&self, portal: &PortalKey, target: &RemoteMessageId, key: &str) -> Result<(), NetworkError>;
    /// Removes a reaction this login added.
    async fn unreact(&self, portal: &PortalKey, target: &RemoteMessageId, key: &str) -> Result<(), NetworkError>;
}

/// Deleting messages.
#[async_trait]
pub trait Redactions: Send + Sync {
    /// Deletes a message this login sent.
    async fn delete(&self, portal: &PortalKey, target: &RemoteMessageId) -> Result<(), NetworkError>;
}

/// Typing notifications.
#[async_trait]
pub trait Typing: Send + Sync {
    /// Starts or stops typing.
    async fn set_typing(&self, portal: &PortalKey, typing: bool) -> Result<(), NetworkError>;
}

/// Telling the remote side how far the user has read (Matrix read receipts).
#[async_trait]
pub trait ReadReceipts: Send + Sync {
    /// The user has read up to and including `up_to`.
    async fn mark_read(&self, portal: &PortalKey, up_to: &RemoteMessageId) -> Result<(), NetworkError>;
}

/// A point on a map, as a Matrix `m.location` shares it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Location {
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
    /// What the sender wrote about it (the event's `body`).
    pub description: Option<String>,
}

impl Location {
    /// Reads an `m.location` content: its `geo_uri` (`geo:51.5,-0.12;u=35`, RFC 5870) and
    /// body. `None` when the URI is missing or not a valid point.
    pub fn from_matrix(content: &serde_json::Value) -> Option<Self> {
        let uri = content["geo_uri"].as_str()?.strip_prefix("geo:")?;
        let coordinates = uri.split(';').next()?;
        let mut parts = coordinates.split(',').map(|p| p.trim().parse::<f64>());
        let (latitude, longitude) = (parts.next()?.ok()?, parts.next()?.ok()?);
        let valid = (-90.0..=90.0).contains(&latitude) && (-180.0..=180.0).contains(&longitude);
        let description = content["body"].as_str().filter(|b| !b.trim().is_empty()).map(str::to_owned);
        valid.then_some(Self { latitude, longitude, description })
    }

    /// The point as an RFC 5870 URI (`geo:51.5007,-0.1246`), as `m.location` carries it.
    pub fn geo_uri(&self) -> String {
        format!("geo:{},{}", self.latitude, self.longitude)
    }

    /// What to show where a map cannot be: the sender's description, else the coordinates.
    pub fn caption(&self) -> String {
        match &self.description {
            Some(d) => d.clone(),
            None => format!("Location: {}, {}", self.latitude, self.longitude),
        }
    }
}

/// Sharing locations.
#[async_trait]
pub trait Locations: Send + Sync {
    /// Shares a location in the chat, as a reply to `reply_to` when set.
    async fn send_location(
        &self,
        portal: &PortalKey,
        location: &Location,
        reply_to: Option<&RemoteMessageId>,
    ) -> Result<SentMessage, NetworkError>;
}

/// A Matrix user's presence (`m.presence`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatrixPresence {
    /// Online and active.
    Online,
    /// Online but idle or away.
    Unavailable,
    /// No client online.
    Offline,
}

impl MatrixPresence {
    /// From the `presence` field of an `m.presence` event; `None` for values the spec lacks.
    pub fn parse(presence: &str) -> Option<Self> {
        match presence {
            "online" => Some(Self::Online),
            "unavailable" => Some(Self::Unavailable),
            "offline" => Some(Self::Offline),
            _ => None,
        }
    }
}

/// Telling the remote side the Matrix user's presence, as the homeserver reports it
/// (`m.presence` ephemeral events, which need `receive_ephemeral` and presence turned on in
/// the homeserver). The homeserver repeats unchanged presence: the network skips repeats.
#[async_trait]
pub trait PresenceUpdates: Send + Sync {
    /// The user is now `presence`, with an optional status message.
    async fn set_presence(&self, presence: MatrixPresence, status: Option<&str>) -> Result<(), NetworkError>;
}

/// Following the Matrix user's display name where the remote account's name comes from it
/// (an IRC nick made from `{displayname}[m]`, an XMPP MUC nick). The core tells each of the
/// user's logins once per change, however many rooms the change shows up in.
#[async_trait]
pub trait DisplayNames: Send + Sync {
    /// The user's Matrix display name is now `name` (`None`: they removed it).
    async fn display_name_changed(&self, name: Option<&str>) -> Result<(), NetworkError>;
}

/// Starting a DM from an identifier (`pm +4412345678`, `pm alice@example.org`).
#[async_trait]
pub trait ResolveIdentifier: Send + Sync {
    /// Resolves the identifier to a DM portal and its info.
    async fn resolve(&self, identifier: &str) -> Result<(PortalKey, ChatInfo), NetworkError>;
}

/// A chat's recent messages, for the history of a portal the core just created (backfill).
/// The core asks once per new portal, before it bridges anything else of that chat, and
/// sends the answer into the room in order, each message as its sender's ghost at its
/// original time.
#[async_trait]
pub trait Backfill: Send + Sync {
    /// The chat's last `limit` messages (at most), oldest first.
    async fn recent_messages(&self, portal: &PortalKey, limit: usize) -> Result<Vec<crate::network::event::HistoryMessage>, NetworkError>;
}

/// Inside an `impl NetworkClient`: the optional capabilities the client implements itself,
/// as `method: Capability` pairs, each answered with `Some(self)`. A client then lists what
/// it can do in one line instead of a getter per capability.
///
/// ```ignore
/// impl NetworkClient for MyClient {
///     // the required methods …
///     mxbridge_core::supports!(edits: Edits, reactions: Reactions, typing: Typing);
/// }
/// ```
#[macro_export]
macro_rules! supports {
    ($($method:ident: $capability:ident),* $(,)?) => {
        $(
            fn $method(&self) -> ::std::option::Option<&dyn $crate::network::$capability> {
                ::std::option::Option::Some(self)
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_locations_are_read_from_geo_uris() {
        let at = Location::from_matrix(&serde_json::json!({"body": "Big Ben", "geo_uri": "geo:51.5007,-0.1246;u=35"})).unwrap();
        assert_eq!(at, Location { latitude: 51.5007, longitude: -0.1246, description: Some("Big Ben".into()) });
        let with_altitude = Location::from_matrix(&serde_json::json!({"body": " ", "geo_uri": "geo:-33.9,151.2,20"})).unwrap();
        assert_eq!((with_altitude.latitude, with_altitude.longitude, &with_altitude.description), (-33.9, 151.2, &None));
        assert_eq!(at.geo_uri(), "geo:51.5007,-0.1246");
        assert_eq!(Location::from_matrix(&serde_json::json!({"geo_uri": at.geo_uri()})).unwrap().latitude, at.latitude, "round trip");
        assert_eq!(with_altitude.caption(), "Location: -33.9, 151.2");
        for bad in ["51.5,-0.12", "geo:91,0", "geo:0,181", "geo:x,y", "geo:51.5"] {
            assert_eq!(Location::from_matrix(&serde_json::json!({"geo_uri": bad})), None, "{bad}");
        }
        assert_eq!(Location::from_matrix(&serde_json::json!({"body": "no uri"})), None);
    }

    #[test]
    fn test_matrix_presence_parses_the_three_spec_values_only() {
        assert_eq!(MatrixPresence::parse("online"), Some(MatrixPresence::Online));
        assert_eq!(MatrixPresence::parse("unavailable"), Some(MatrixPresence::Unavailable));
        assert_eq!(MatrixPresence::parse("offline"), Some(MatrixPresence::Offline));
        assert_eq!(MatrixPresence::parse("busy"), None);
    }
}
