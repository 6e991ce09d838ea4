//! `bridge.mappings`: remote chats bridged to given Matrix rooms from the start, as a
//! homeserver admin sets up a `#welcome` channel for everyone (matrix-appservice-irc's
//! `mappings`). Which chat a name means is the network's business, asked at start; here
//! only the form is checked.

use ruma::{OwnedRoomAliasId, OwnedRoomId, RoomAliasId, RoomId};
use serde::Deserialize;

use super::{ConfigError, invalid};

/// One entry of `bridge.mappings` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMapping {
    /// The remote chat as the network names it (`"#welcome"` on IRC, a MUC JID on XMPP).
    #[serde(default)]
    pub chat: Option<String>,
    /// The Matrix room: an alias (`"#welcome:example.org"`, created when it does not exist)
    /// or a room ID.
    #[serde(default)]
    pub room: Option<String>,
    /// For a bridge serving several networks: which one the chat is on.
    #[serde(default)]
    pub network: Option<String>,
}

/// The Matrix side of a mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MappedRoom {
    /// A room alias: resolved at start, and created with this alias when nothing has it.
    Alias(OwnedRoomAliasId),
    /// An existing room.
    Id(OwnedRoomId),
}

impl std::fmt::Display for MappedRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Alias(a) => a.fmt(f),
            Self::Id(r) => r.fmt(f),
        }
    }
}

/// A checked mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// Its key in the config (`bridge.mappings[0]`), for messages about it.
    pub key: String,
    /// The remote chat's name as written.
    pub chat: String,
    /// The network it is on, when the config names one.
    pub network: Option<String>,
    /// The Matrix room.
    pub room: MappedRoom,
}

/// `#` starts a YAML comment, so an unquoted channel name reads as nothing at all.
const QUOTE_HINT: &str = "quote it, since `#` starts a comment in YAML";

/// Checks every entry: both sides given, the room as an alias or ID, no room or chat twice.
pub(super) fn validate(raw: Vec<RawMapping>) -> Result<Vec<Mapping>, ConfigError> {
    let mut mappings: Vec<Mapping> = Vec::with_capacity(raw.len());
    for (index, entry) in raw.into_iter().enumerate() {
        let key = format!("bridge.mappings[{index}]");
        let chat = entry.chat.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()).ok_or_else(|| {
            invalid(
                &format!("{key}.chat"),
                "is missing or empty",
                format!("name the remote chat, e.g. `chat: \"#welcome\"` on IRC or `chat: welcome@conference.example.org` on XMPP ({QUOTE_HINT})"),
            )
        })?;
        let room_key = format!("{key}.room");
        let fix_room = format!(
            "write a room alias such as `room: \"#welcome:example.org\"` or a room ID such as `room: \"!abc:example.org\"` ({QUOTE_HINT})"
        );
        let written = entry.room.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
        let Some(written) = written else { return Err(invalid(&room_key, "is missing or empty", fix_room)) };
        let room = if written.starts_with('#') {
            RoomAliasId::parse(&written).map(MappedRoom::Alias).map_err(|e| (written.clone(), e.to_string()))
        } else if written.starts_with('!') {
            RoomId::parse(&written).map(MappedRoom::Id).map_err(|e| (written.clone(), e.to_string()))
        } else {
            Err((written.clone(), "it starts with neither `#` nor `!`".to_owned()))
        }
        .map_err(|(w, why)| invalid(&room_key, format!("`{w}` is not a room alias or room ID ({why})"), fix_room.clone()))?;
        let network = entry.network.map(|n| n.trim().to_owned());
        if network.as_deref() == Some("") {
            return Err(invalid(&format!("{key}.network"), "is empty", "name one of the bridge's networks, or remove the key"));
        }
        if let Some(other) = mappings.iter().find(|m| m.room == room) {
            return Err(invalid(&room_key, format!("`{room}` is mapped twice, also in {}", other.key), "map each room to one chat"));
        }
        if let Some(other) = mappings.iter().find(|m| m.chat == chat && m.network == network) {
            return Err(invalid(
                &format!("{key}.chat"),
                format!("`{chat}` is mapped twice, also in {}", other.key),
                "map each chat to one room",
            ));
        }
        mappings.push(Mapping { key, chat, network, room });
    }
    Ok(mappings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(chat: Option<&str>, room: Option<&str>) -> RawMapping {
        RawMapping { chat: chat.map(Into::into), room: room.map(Into::into), network: None }
    }

    #[test]
    fn test_rooms_are_aliases_or_ids() {
        let ok = validate(vec![raw(Some("#welcome"), Some("#welcome:example.org")), raw(Some("#b"), Some("!abc:example.org"))]).unwrap();
        assert_eq!(ok[0].room, MappedRoom::Alias(RoomAliasId::parse("#welcome:example.org").unwrap()));
        assert_eq!(ok[1].room, MappedRoom::Id(RoomId::parse("!abc:example.org").unwrap()));
        assert_eq!((ok[0].key.as_str(), ok[1].key.as_str()), ("bridge.mappings[0]", "bridge.mappings[1]"));
        assert_eq!(ok[0].room.to_string(), "#welcome:example.org");
    }

    #[test]
    fn test_bad_entries_name_their_key() {
        let cases = [
            (vec![raw(None, Some("#w:example.org"))], "bridge.mappings[0].chat", "quote it"),
            (vec![raw(Some("#w"), None)], "bridge.mappings[0].room", "quote it"),
            (vec![raw(Some("#w"), Some("welcome"))], "bridge.mappings[0].room", "room alias"),
            (vec![raw(Some("#w"), Some("#welcome"))], "bridge.mappings[0].room", "#welcome:example.org"),
            (vec![raw(Some("#a"), Some("#r:x.org")), raw(Some("#b"), Some("#r:x.org"))], "bridge.mappings[1].room", "mappings[0]"),
            (vec![raw(Some("#a"), Some("#r:x.org")), raw(Some("#a"), Some("#s:x.org"))], "bridge.mappings[1].chat", "mappings[0]"),
        ];
        for (entries, key, says) in cases {
            let err = validate(entries).unwrap_err().to_string();
            assert!(err.contains(&format!("`{key}`")), "{err} should name {key}");
            assert!(err.contains(says) && err.contains("fix:"), "{err} should say {says:?} and how to fix it");
        }
        let empty_network = RawMapping { network: Some(" ".into()), ..raw(Some("#a"), Some("#r:x.org")) };
        assert!(validate(vec![empty_network]).unwrap_err().to_string().contains("`bridge.mappings[0].network`"));
        let two_networks = vec![
            RawMapping { network: Some("libera".into()), ..raw(Some("#a"), Some("#r:x.org")) },
            RawMapping { network: Some("oftc".into()), ..raw(Some("#a"), Some("#s:x.org")) },
        ];
        assert_eq!(validate(two_networks).unwrap().len(), 2, "the same channel name on two networks is two chats");
    }
}
