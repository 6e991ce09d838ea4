//! Table `reaction`: one reaction (sender, key) on a remote message <-> its Matrix event.
//!
//! Keyed by `(portal_remote_id, receiver, target_remote_id, sender, key)`: a sender has at
//! most one reaction with a given key on a message, and recording it again replaces the
//! event. Rows belong to their portal and go when it is deleted.

use ruma::{EventId, OwnedEventId, OwnedRoomId};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store, parse_stored};

const UPSERT: &str = "INSERT INTO reaction (portal_remote_id, receiver, target_remote_id, sender, key, event_id, room_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (portal_remote_id, receiver, target_remote_id, sender, key) DO UPDATE SET event_id = excluded.event_id,
        room_id = excluded.room_id";
const BY_EVENT: &str =
    "SELECT portal_remote_id, receiver, target_remote_id, sender, key, event_id, room_id FROM reaction WHERE event_id = $1";
const BY_KEY: &str = "SELECT portal_remote_id, receiver, target_remote_id, sender, key, event_id, room_id FROM reaction
    WHERE portal_remote_id = $1 AND receiver = $2 AND target_remote_id = $3 AND sender = $4 AND key = $5";
const DELETE_BY_EVENT: &str = "DELETE FROM reaction WHERE event_id = $1";

/// A bridged reaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReactionRow {
    /// The portal's remote chat id.
    pub portal_remote_id: String,
    /// The portal's receiver (`""` for shared chats).
    pub receiver: String,
    /// The remote id of the message reacted to.
    pub target_remote_id: String,
    /// Who reacted: a remote user id, or a Matrix user id for reactions from Matrix.
    pub sender: String,
    /// The reaction key (usually an emoji).
    pub key: String,
    /// The Matrix reaction event.
    pub event_id: OwnedEventId,
    /// The Matrix room the event is in.
    pub room_id: OwnedRoomId,
}

impl ReactionRow {
    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(ReactionRow {
            portal_remote_id: row.try_get("portal_remote_id")?,
            receiver: row.try_get("receiver")?,
            target_remote_id: row.try_get("target_remote_id")?,
            sender: row.try_get("sender")?,
            key: row.try_get("key")?,
            event_id: parse_stored("reaction event id", row.try_get("event_id")?)?,
            room_id: parse_stored("reaction room id", row.try_get("room_id")?)?,
        })
    }
}

impl Store {
    /// Records a reaction, replacing the event of an earlier one with the same key.
    pub async fn insert_reaction(&self, r: &ReactionRow) -> Result<()> {
        sqlx::query(UPSERT)
            .bind(r.portal_remote_id.as_str())
            .bind(r.receiver.as_str())
            .bind(r.target_remote_id.as_str())
            .bind(r.sender.as_str())
            .bind(r.key.as_str())
            .bind(r.event_id.as_str())
            .bind(r.room_id.as_str())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The reaction bridged as this Matrix event.
    pub async fn reaction_by_event(&self, event_id: &EventId) -> Result<Option<ReactionRow>> {
        let row = sqlx::query(BY_EVENT).bind(event_id.as_str()).fetch_optional(self.pool()).await?;
        row.as_ref().map(ReactionRow::from_row).transpose()
    }

    /// A sender's reaction with `key` on a message.
    pub async fn reaction(
        &self,
        portal_remote_id: &str,
        receiver: &str,
        target_remote_id: &str,
        sender: &str,
        key: &str,
    ) -> Result<Option<ReactionRow>> {
        let row = sqlx::query(BY_KEY)
            .bind(portal_remote_id)
            .bind(receiver)
            .bind(target_remote_id)
            .bind(sender)
            .bind(key)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(ReactionRow::from_row).transpose()
    }

    /// Forgets the reaction bridged as this Matrix event.
    pub async fn delete_reaction_by_event(&self, event_id: &EventId) -> Result<()> {
        sqlx::query(DELETE_BY_EVENT).bind(event_id.as_str()).execute(self.pool()).await?;
        Ok(())
    }
}
