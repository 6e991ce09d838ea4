//! Table `message`: remote message parts <-> Matrix events, per portal.
//!
//! Keyed by `(portal_remote_id, receiver, remote_id, part_id)`; `part_id` is `""` for a
//! message bridged as one event. Each Matrix event maps to at most one part. Rows belong to
//! their portal and go when it is deleted.

use ruma::{EventId, OwnedEventId, OwnedRoomId};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store, parse_stored};

const INSERT: &str = "INSERT INTO message (portal_remote_id, receiver, remote_id, part_id, event_id, room_id, sender, timestamp_ms)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (portal_remote_id, receiver, remote_id, part_id) DO NOTHING";
const BY_REMOTE: &str = "SELECT portal_remote_id, receiver, remote_id, part_id, event_id, room_id, sender, timestamp_ms
    FROM message WHERE portal_remote_id = $1 AND receiver = $2 AND remote_id = $3 ORDER BY part_id";
const BY_EVENT: &str = "SELECT portal_remote_id, receiver, remote_id, part_id, event_id, room_id, sender, timestamp_ms
    FROM message WHERE event_id = $1";
const DELETE_BY_EVENT: &str = "DELETE FROM message WHERE event_id = $1";

/// One part of a bridged message and its Matrix event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRow {
    /// The portal's remote chat id.
    pub portal_remote_id: String,
    /// The portal's receiver (`""` for shared chats).
    pub receiver: String,
    /// The network's id of the message.
    pub remote_id: String,
    /// Which part of the message (`""` when it has one part).
    pub part_id: String,
    /// The Matrix event of this part.
    pub event_id: OwnedEventId,
    /// The Matrix room the event is in.
    pub room_id: OwnedRoomId,
    /// Who sent it: a remote user id, or a Matrix user id for messages from Matrix.
    pub sender: String,
    /// When it was sent, in milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

impl MessageRow {
    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(MessageRow {
            portal_remote_id: row.try_get("portal_remote_id")?,
            receiver: row.try_get("receiver")?,
            remote_id: row.try_get("remote_id")?,
            part_id: row.try_get("part_id")?,
            event_id: parse_stored("message event id", row.try_get("event_id")?)?,
            room_id: parse_stored("message room id", row.try_get("room_id")?)?,
            sender: row.try_get("sender")?,
            timestamp_ms: row.try_get("timestamp_ms")?,
        })
    }
}

impl Store {
    /// Records a message part. A part that is already recorded (same portal, message and
    /// part id) is left as it is, so recording twice is harmless.
    pub async fn insert_message(&self, m: &MessageRow) -> Result<()> {
        sqlx::query(INSERT)
            .bind(m.portal_remote_id.as_str())
            .bind(m.receiver.as_str())
            .bind(m.remote_id.as_str())
            .bind(m.part_id.as_str())
            .bind(m.event_id.as_str())
            .bind(m.room_id.as_str())
            .bind(m.sender.as_str())
            .bind(m.timestamp_ms)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Every part of a remote message, ordered by part id; empty when it was never bridged.
    pub async fn message_by_remote(&self, portal_remote_id: &str, receiver: &str, remote_id: &str) -> Result<Vec<MessageRow>> {
        let rows = sqlx::query(BY_REMOTE).bind(portal_remote_id).bind(receiver).bind(remote_id).fetch_all(self.pool()).await?;
        rows.iter().map(MessageRow::from_row).collect()
    }

    /// The message part bridged as this Matrix event.
    pub async fn message_by_event(&self, event_id: &EventId) -> Result<Option<MessageRow>> {
        let row = sqlx::query(BY_EVENT).bind(event_id.as_str()).fetch_optional(self.pool()).await?;
        row.as_ref().map(MessageRow::from_row).transpose()
    }

    /// Forgets the message part bridged as this Matrix event (other parts stay).
    pub async fn delete_message_by_event(&self, event_id: &EventId) -> Result<()> {
        sqlx::query(DELETE_BY_EVENT).bind(event_id.as_str()).execute(self.pool()).await?;
        Ok(())
    }
}
