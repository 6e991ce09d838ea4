//! `bridge.mappings` at start: each mapped chat is linked to its room, as `plumb` would,
//! before anyone asks. A room that exists is joined and linked; an alias that names no
//! room gets a new public room; a link made at an earlier start is kept. Matrix users who
//! join such a room and speak are connected like in any portal.

use std::sync::Arc;

use ruma::{OwnedRoomId, RoomAliasId, RoomId};
use tracing::{error, info, warn};

use super::Bridge;
use crate::config::{MappedRoom, Mapping};
use crate::ids::RemoteChatId;
use crate::matrix::intent::{CreateRoom, MatrixError};
use crate::network::{ChatKind, NetworkError};
use crate::store::StoreError;

/// Why a mapping could not be linked; each message names the config key and what to do.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MappingError {
    #[error(
        "config key `{key}.network`: this bridge serves no network called `{network}` (fix: use one of its network names, or remove the key)"
    )]
    UnknownNetwork { key: String, network: String },
    #[error(
        "config key `{key}.chat`: `{chat}` is not a chat this bridge can link (fix: check the name, that it is not excluded, and on a bridge with several networks add `network:`)"
    )]
    NotAChat { key: String, chat: String },
    #[error(
        "config key `{key}`: `{chat}` is already bridged to the room {other} (fix: send `delete-portal` or `unlink` in that room, or map that room instead)"
    )]
    ChatTaken { key: String, chat: String, other: OwnedRoomId },
    #[error("config key `{key}.room`: {room} is already linked to `{other}` (fix: `unlink` it first, or map another room)")]
    RoomTaken { key: String, room: OwnedRoomId, other: String },
    #[error(
        "config key `{key}.room`: the bot cannot join {room} ({why}) (fix: make the room public or invite {bot} to it, then restart the bridge)"
    )]
    CannotJoin { key: String, room: String, bot: String, why: MatrixError },
    #[error(
        "config key `{key}.room`: no room has the alias {alias}, and the bridge creates aliases only on its own server (fix: create the room yourself, or use an alias on {domain})"
    )]
    ForeignAlias { key: String, alias: String, domain: String },
    #[error(
        "config key `{key}.room`: the homeserver does not let the bridge create {alias} (fix: run generate-registration again, which claims the aliases of mappings, give the homeserver the new registration and restart it)"
    )]
    AliasNotClaimed { key: String, alias: String },
    #[error("config key `{key}`: the homeserver failed ({error}); the bridge tries again at its next start")]
    Matrix { key: String, error: MatrixError },
    #[error("config key `{key}`: the database failed ({error}); the bridge tries again at its next start")]
    Store { key: String, error: StoreError },
}

/// What became of a mapping.
enum Linked {
    /// Linked at an earlier start, and still.
    Kept(OwnedRoomId),
    /// Linked now, to a room that existed.
    Existing(OwnedRoomId),
    /// Linked now, to a room made for it.
    Created(OwnedRoomId),
}

impl Bridge {
    /// Links every configured mapping; a mapping that cannot be linked is logged (naming
    /// its key) and the others go on.
    pub(crate) async fn link_mappings(self: &Arc<Self>) {
        for mapping in self.config.mappings.clone() {
            let (key, chat) = (&mapping.key, &mapping.chat);
            match self.link_mapping(&mapping).await {
                Ok(Linked::Kept(room)) => info!(mapping = %key, chat, room = %room, "a mapped chat is linked"),
                Ok(Linked::Existing(room)) => info!(mapping = %key, chat, room = %room, "linked a mapped chat to its room"),
                Ok(Linked::Created(room)) => info!(mapping = %key, chat, room = %room, "created the room of a mapped chat"),
                Err(e) => error!(mapping = %key, chat, error = %e, "a mapped chat could not be linked"),
            }
        }
    }

    async fn link_mapping(self: &Arc<Self>, m: &Mapping) -> Result<Linked, MappingError> {
        let key = || m.key.clone();
        if let Some(network) = m.network.as_deref().filter(|n| !self.network.is_network_name(n)) {
            return Err(MappingError::UnknownNetwork { key: key(), network: network.to_owned() });
        }
        let chat = self
            .network
            .chat_id_on(m.network.as_deref(), &m.chat)
            .ok_or_else(|| MappingError::NotAChat { key: key(), chat: m.chat.clone() })?;
        // Held like portal creation, so an alias query for the same chat cannot make a second room.
        let _creating = self.lock_creation(&crate::ids::PortalKey::shared(chat.clone())).await;
        let linked =
            self.store.portal(chat.as_str(), "").await.map_err(|e| MappingError::Store { key: key(), error: e })?.and_then(|p| p.room_id);
        let resolved = match &m.room {
            MappedRoom::Id(room) => Some(room.clone()),
            MappedRoom::Alias(alias) => {
                self.matrix.resolve_alias(alias).await.map_err(|e| MappingError::Matrix { key: key(), error: e })?
            }
        };
        match (linked, resolved) {
            (Some(linked), Some(room)) if linked == room => Ok(Linked::Kept(room)),
            (Some(linked), Some(_)) => Err(MappingError::ChatTaken { key: key(), chat: m.chat.clone(), other: linked }),
            (Some(linked), None) => {
                // The chat's room lost the alias (or never had it): it gets it back.
                if let MappedRoom::Alias(alias) = &m.room {
                    self.matrix.set_alias(alias, &linked).await.map_err(|e| MappingError::Matrix { key: key(), error: e })?;
                }
                Ok(Linked::Kept(linked))
            }
            (None, Some(room)) => self.link_existing_room(m, &chat, &room).await.map(|()| Linked::Existing(room)),
            (None, None) => match &m.room {
                MappedRoom::Alias(alias) => self.create_mapped_room(m, &chat, alias).await.map(Linked::Created),
                // Not reached: a room ID counts as resolved, and joining it tells whether it exists.
                MappedRoom::Id(room) => self.link_existing_room(m, &chat, room).await.map(|()| Linked::Existing(room.clone())),
            },
        }
    }

    /// Joins an existing room and links it, as `plumb` does.
    async fn link_existing_room(self: &Arc<Self>, m: &Mapping, chat: &RemoteChatId, room: &RoomId) -> Result<(), MappingError> {
        if let Some(other) = self.store.portal_by_room(room).await.map_err(|e| MappingError::Store { key: m.key.clone(), error: e })? {
            return Err(MappingError::RoomTaken { key: m.key.clone(), room: room.to_owned(), other: other.remote_id });
        }
        let bot = &self.config.bot_user_id;
        if let Err(why) = self.matrix.join(room, bot).await {
            return Err(MappingError::CannotJoin { key: m.key.clone(), room: m.room.to_string(), bot: bot.to_string(), why });
        }
        self.store_mapped_portal(m, chat, room, true, ChatKind::Channel).await?;
        self.notice(room, &format!("This room is now linked to `{}`.", m.chat)).await;
        Ok(())
    }

    /// Makes a public room with the mapping's alias, named after the chat.
    async fn create_mapped_room(
        self: &Arc<Self>,
        m: &Mapping,
        chat: &RemoteChatId,
        alias: &RoomAliasId,
    ) -> Result<OwnedRoomId, MappingError> {
        if alias.server_name() != self.config.domain {
            return Err(MappingError::ForeignAlias {
                key: m.key.clone(),
                alias: alias.to_string(),
                domain: self.config.domain.to_string(),
            });
        }
        let info = match self.network.lookup_chat(chat).await {
            Ok(info) => info,
            Err(NetworkError::NotFound(why)) => {
                // A MUC may be made by its first join; the link is made anyway.
                warn!(mapping = %m.key, chat = %m.chat, why, "the network does not know the mapped chat yet");
                None
            }
            Err(e) => {
                warn!(mapping = %m.key, chat = %m.chat, error = %e, "the network could not describe the mapped chat");
                None
            }
        };
        let name = info.as_ref().and_then(|i| i.name.clone()).unwrap_or_else(|| m.chat.clone());
        let kind = info.map(|i| i.kind).unwrap_or(ChatKind::Channel);
        let opts = CreateRoom { name: Some(name), alias_localpart: Some(alias.alias().to_owned()), public: true, ..CreateRoom::default() };
        let room = self.matrix.create_room(&opts).await.map_err(|error| match error.errcode() {
            // Synapse: "This application service has not reserved this kind of alias."
            Some("M_EXCLUSIVE") => MappingError::AliasNotClaimed { key: m.key.clone(), alias: alias.to_string() },
            _ => MappingError::Matrix { key: m.key.clone(), error },
        })?;
        self.store_mapped_portal(m, chat, &room, false, kind).await?;
        Ok(room)
    }

    /// Stores the link and lets the network's relay account (IRC: the bot's connection)
    /// into the chat, so the room hears it from the start.
    async fn store_mapped_portal(
        self: &Arc<Self>,
        m: &Mapping,
        chat: &RemoteChatId,
        room: &RoomId,
        plumbed: bool,
        kind: ChatKind,
    ) -> Result<(), MappingError> {
        let relay = self.bot_relay(chat).await;
        self.store_link(chat, room, kind, plumbed, relay.as_ref()).await.map_err(|e| MappingError::Store { key: m.key.clone(), error: e })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_failures_name_the_mapping_and_what_to_do() {
        let refused = MatrixError::Http { status: 403, errcode: "M_FORBIDDEN".into(), message: "You are not invited to this room.".into() };
        let e = MappingError::CannotJoin {
            key: "bridge.mappings[2]".into(),
            room: "#closed:example.org".into(),
            bot: "@ircbot:example.org".into(),
            why: refused,
        };
        let text = e.to_string();
        assert!(text.contains("`bridge.mappings[2].room`") && text.contains("#closed:example.org"), "{text}");
        assert!(text.contains("M_FORBIDDEN") && text.contains("make the room public or invite @ircbot:example.org"), "{text}");
        let e = MappingError::NotAChat { key: "bridge.mappings[0]".into(), chat: "welcome".into() };
        assert!(e.to_string().contains("`bridge.mappings[0].chat`: `welcome` is not a chat"), "{e}");
        let e = MappingError::ForeignAlias { key: "bridge.mappings[1]".into(), alias: "#w:other.org".into(), domain: "example.org".into() };
        assert!(e.to_string().contains("use an alias on example.org"), "{e}");
    }
}
