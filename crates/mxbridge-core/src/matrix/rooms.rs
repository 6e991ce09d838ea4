//! Creating rooms, as the bot or as a ghost.

use reqwest::Method;
use ruma::{OwnedMxcUri, OwnedRoomId, OwnedUserId, UserId};
use serde_json::json;

use super::intent::{Matrix, MatrixResult, parse_id};

/// How to create a room.
#[derive(Clone, Debug, Default)]
pub struct CreateRoom {
    /// Room name.
    pub name: Option<String>,
    /// Room topic.
    pub topic: Option<String>,
    /// Users to invite.
    pub invite: Vec<OwnedUserId>,
    /// Mark as a DM for the invitees.
    pub is_direct: bool,
    /// The invitees get the creator's power (the `trusted_private_chat` preset): how a
    /// ghost that creates a DM makes the bot a manager of it, in every room version (room
    /// version 12 makes them creators; earlier ones give them level 100).
    pub invitees_have_ops: bool,
    /// Members that are part of the bridge, not of the conversation
    /// (`io.element.functional_members`): clients leave them out when they name a room
    /// after its members and when they decide whether it is a 1:1 chat.
    pub service_members: Vec<OwnedUserId>,
    /// Alias localpart to publish.
    pub alias_localpart: Option<String>,
    /// Users with raised power levels.
    pub power_users: Vec<(OwnedUserId, i64)>,
    /// Room avatar.
    pub avatar: Option<OwnedMxcUri>,
    /// Anyone may join (portals created by alias queries).
    pub public: bool,
    /// The level needed to send messages, when ordinary members may not (a broadcast
    /// channel's portal is read-only for them); `None` keeps the homeserver's default (0).
    pub events_default: Option<i64>,
}

impl CreateRoom {
    /// The `power_level_content_override` of the room: raised users, and who may post.
    pub(super) fn power_levels(&self) -> serde_json::Value {
        // Since room version 12 the creator's power is implicit and listing it in `users`
        // is an error; older versions give the creator 100 anyway.
        let mut levels = serde_json::Map::new();
        if !self.power_users.is_empty() {
            let users: serde_json::Map<String, serde_json::Value> =
                self.power_users.iter().map(|(u, level)| (u.to_string(), json!(level))).collect();
            levels.insert("users".into(), users.into());
        }
        if let Some(level) = self.events_default {
            levels.insert("events_default".into(), json!(level));
        }
        levels.into()
    }

    /// The `createRoom` request body.
    pub(super) fn body(&self) -> serde_json::Value {
        let mut initial_state = Vec::new();
        if let Some(avatar) = &self.avatar {
            initial_state.push(json!({"type": "m.room.avatar", "state_key": "", "content": {"url": avatar}}));
        }
        if !self.service_members.is_empty() {
            initial_state.push(json!({
                "type": "io.element.functional_members", "state_key": "",
                "content": {"service_members": self.service_members},
            }));
        }
        let preset = match (self.public, self.invitees_have_ops) {
            (true, _) => "public_chat",
            (false, true) => "trusted_private_chat",
            (false, false) => "private_chat",
        };
        let mut body = json!({
            "preset": preset,
            "invite": self.invite,
            "is_direct": self.is_direct,
            "power_level_content_override": self.power_levels(),
            "initial_state": initial_state,
        });
        if let Some(n) = &self.name {
            body["name"] = json!(n);
        }
        if let Some(t) = &self.topic {
            body["topic"] = json!(t);
        }
        if let Some(a) = &self.alias_localpart {
            body["room_alias_name"] = json!(a);
        }
        body
    }
}

impl Matrix {
    /// Creates a room as the bot.
    pub async fn create_room(&self, opts: &CreateRoom) -> MatrixResult<OwnedRoomId> {
        let bot = self.bot().to_owned();
        self.create_room_as(&bot, opts).await
    }

    /// Creates a room as `creator` (the bot or a ghost): the creator is its first member and
    /// the sender of the invites.
    pub async fn create_room_as(&self, creator: &UserId, opts: &CreateRoom) -> MatrixResult<OwnedRoomId> {
        let v = self.call(Method::POST, "/_matrix/client/v3/createRoom", Some(creator), &[], Some(&opts.body())).await?;
        parse_id(&v["room_id"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_a_dm_a_ghost_creates_names_the_bot_a_service_member_and_gives_it_ops() {
        let bot = UserId::parse("@bot:hs").unwrap();
        let opts =
            CreateRoom { invite: vec![bot.clone()], invitees_have_ops: true, service_members: vec![bot.clone()], ..CreateRoom::default() };
        let body = opts.body();
        assert_eq!(body["preset"], "trusted_private_chat");
        assert_eq!(body["invite"], json!(["@bot:hs"]));
        assert_eq!(body["is_direct"], false, "the bot's invite is not a DM invite");
        assert_eq!(
            body["initial_state"],
            json!([{"type": "io.element.functional_members", "state_key": "", "content": {"service_members": ["@bot:hs"]}}])
        );
        assert!(body.get("name").is_none(), "no name: clients name the DM after the other member");
        assert_eq!(CreateRoom::default().body()["preset"], "private_chat");
        assert_eq!(CreateRoom { public: true, invitees_have_ops: true, ..CreateRoom::default() }.body()["preset"], "public_chat");
    }
}
