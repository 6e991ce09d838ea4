//! Table `portal`: one remote chat <-> one Matrix room.
//!
//! Keyed by `(remote_id, receiver)`; `receiver` is the login that sees the chat, or `""`
//! for chats that look the same to every user. `room_id` is unique once set. Deleting a
//! portal deletes its `message` and `reaction` rows (foreign keys, `ON DELETE CASCADE`).

use ruma::{OwnedRoomId, RoomId};

use crate::ids::{PortalKey, RemoteChatId};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store, flag, parse_stored};

const UPSERT: &str = "INSERT INTO portal (remote_id, receiver, room_id, name, topic, avatar_url, kind, plumbed, relay_login, created_ms)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    ON CONFLICT (remote_id, receiver) DO UPDATE SET room_id = excluded.room_id, name = excluded.name, topic = excluded.topic,
        avatar_url = excluded.avatar_url, kind = excluded.kind, plumbed = excluded.plumbed, relay_login = excluded.relay_login,
        created_ms = excluded.created_ms";
const BY_KEY: &str = "SELECT remote_id, receiver, room_id, name, topic, avatar_url, kind, plumbed, relay_login, created_ms
    FROM portal WHERE remote_id = $1 AND receiver = $2";
const BY_ROOM: &str = "SELECT remote_id, receiver, room_id, name, topic, avatar_url, kind, plumbed, relay_login, created_ms
    FROM portal WHERE room_id = $1";
const ALL: &str = "SELECT remote_id, receiver, room_id, name, topic, avatar_url, kind, plumbed, relay_login, created_ms
    FROM portal ORDER BY remote_id, receiver";
const DELETE: &str = "DELETE FROM portal WHERE remote_id = $1 AND receiver = $2";

/// A bridged chat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortalRow {
    /// The network's id of the chat.
    pub remote_id: String,
    /// The login this chat belongs to, or `""` when it is shared by all users.
    pub receiver: String,
    /// The Matrix room, once created.
    pub room_id: Option<OwnedRoomId>,
    /// The room name last set from the remote side.
    pub name: Option<String>,
    /// The room topic last set from the remote side.
    pub topic: Option<String>,
    /// The room avatar (`mxc://` URI) last set from the remote side.
    pub avatar_url: Option<String>,
    /// `"dm"`, `"group"`, `"channel"` or `"broadcast"`.
    pub kind: String,
    /// Whether an existing Matrix room was attached to the chat, rather than made by the bridge.
    pub plumbed: bool,
    /// The login that relays messages of users who are not logged in, if relaying is on.
    pub relay_login: Option<String>,
    /// When the portal was created, in milliseconds since the Unix epoch.
    pub created_ms: i64,
}

impl PortalRow {
    /// The portal's key.
    pub fn key(&self) -> PortalKey {
        PortalKey { chat: self.chat_id(), receiver: self.receiver.clone() }
    }

    /// The remote chat this portal bridges.
    pub fn chat_id(&self) -> RemoteChatId {
        self.remote_id.clone().into()
    }

    fn from_row(row: &AnyRow) -> Result<Self> {
        let room_id: Option<String> = row.try_get("room_id")?;
        Ok(PortalRow {
            remote_id: row.try_get("remote_id")?,
            receiver: row.try_get("receiver")?,
            room_id: room_id.map(|r| parse_stored("portal room id", r)).transpose()?,
            name: row.try_get("name")?,
            topic: row.try_get("topic")?,
            avatar_url: row.try_get("avatar_url")?,
            kind: row.try_get("kind")?,
            plumbed: row.try_get::<i64, _>("plumbed")? != 0,
            relay_login: row.try_get("relay_login")?,
            created_ms: row.try_get("created_ms")?,
        })
    }
}

impl Store {
    /// Inserts the portal, or replaces every field of the one with the same key.
    pub async fn upsert_portal(&self, p: &PortalRow) -> Result<()> {
        sqlx::query(UPSERT)
            .bind(p.remote_id.as_str())
            .bind(p.receiver.as_str())
            .bind(p.room_id.as_ref().map(|r| r.as_str()))
            .bind(p.name.as_deref())
            .bind(p.topic.as_deref())
            .bind(p.avatar_url.as_deref())
            .bind(p.kind.as_str())
            .bind(flag(p.plumbed))
            .bind(p.relay_login.as_deref())
            .bind(p.created_ms)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The portal of a remote chat.
    pub async fn portal(&self, remote_id: &str, receiver: &str) -> Result<Option<PortalRow>> {
        let row = sqlx::query(BY_KEY).bind(remote_id).bind(receiver).fetch_optional(self.pool()).await?;
        row.as_ref().map(PortalRow::from_row).transpose()
    }

    /// The portal bridged to a Matrix room.
    pub async fn portal_by_room(&self, room_id: &RoomId) -> Result<Option<PortalRow>> {
        let row = sqlx::query(BY_ROOM).bind(room_id.as_str()).fetch_optional(self.pool()).await?;
        row.as_ref().map(PortalRow::from_row).transpose()
    }

    /// Every portal, ordered by key.
    pub async fn portals(&self) -> Result<Vec<PortalRow>> {
        let rows = sqlx::query(ALL).fetch_all(self.pool()).await?;
        rows.iter().map(PortalRow::from_row).collect()
    }

    /// Deletes the portal and its messages and reactions.
    pub async fn delete_portal(&self, remote_id: &str, receiver: &str) -> Result<()> {
        sqlx::query(DELETE).bind(remote_id).bind(receiver).execute(self.pool()).await?;
        Ok(())
    }
}
