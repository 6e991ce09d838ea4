//! `message`: remote message ids ⇄ Matrix event ids, per portal.
//!
//! ```sql
//! message(portal_remote_id, receiver, remote_id, part_id, event_id, room_id, sender, timestamp_ms)
//! PRIMARY KEY (portal_remote_id, receiver, remote_id, part_id); INDEX (event_id)
//! ```

use ruma::{EventId, OwnedEventId, OwnedRoomId};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store, parse_id};

/// One bridged message part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRow {
    /// The portal's remote chat id.
    pub portal_remote_id: String,
    /// The portal's receiver.
    pub receiver: String,
    /// Remote message id.
    pub remote_id: String,
    /// Part of a multi-part message; empty for single-part.
    pub part_id: String,
    /// The Matrix event.
    pub event_id: OwnedEventId,
    /// The Matrix room.
    pub room_id: OwnedRoomId,
    /// Remote user id or Matrix user ID of the sender.
    pub sender: String,
    /// When it was sent.
    pub timestamp_ms: i64,
}

const COLUMNS: &str = "portal_remote_id, receiver, remote_id, part_id, event_id, room_id, sender, timestamp_ms";

fn from_row(r: AnyRow) -> Result<MessageRow> {
    Ok(MessageRow {
        portal_remote_id: r.try_get("portal_remote_id")?,
        receiver: r.try_get("receiver")?,
        remote_id: r.try_get("remote_id")?,
        part_id: r.try_get("part_id")?,
        event_id: parse_id(r.try_get("event_id")?, "message.event_id")?,
        room_id: parse_id(r.try_get("room_id")?, "message.room_id")?,
        sender: r.try_get("sender")?,
        timestamp_ms: r.try_get("timestamp_ms")?,
    })
}

impl Store {
    /// Stores a mapping; a duplicate of an existing part is ignored.
    pub async fn insert_message(&self, m: &MessageRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO message (portal_remote_id, receiver, remote_id, part_id, event_id, room_id, sender, timestamp_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (portal_remote_id, receiver, remote_id, part_id) DO NOTHING",
        )
        .bind(m.portal_remote_id.as_str())
        .bind(m.receiver.as_str())
        .bind(m.remote_id.as_str())
        .bind(m.part_id.as_str())
        .bind(m.event_id.as_str())
        .bind(m.room_id.as_str())
        .bind(m.sender.as_str())
        .bind(m.timestamp_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// All parts of a remote message, in part order.
    pub async fn message_by_remote(&self, portal_remote_id: &str, receiver: &str, remote_id: &str) -> Result<Vec<MessageRow>> {
        let sql =
            format!("SELECT {COLUMNS} FROM message WHERE portal_remote_id = $1 AND receiver = $2 AND remote_id = $3 ORDER BY part_id");
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(portal_remote_id).bind(receiver).bind(remote_id).fetch_all(&self.pool).await?;
        rows.into_iter().map(from_row).collect()
    }

    /// The message part a Matrix event is.
    pub async fn message_by_event(&self, event_id: &EventId) -> Result<Option<MessageRow>> {
        let sql = format!("SELECT {COLUMNS} FROM message WHERE event_id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(event_id.as_str()).fetch_optional(&self.pool).await?;
        row.map(from_row).transpose()
    }

    /// Forgets a message part.
    pub async fn delete_message_by_event(&self, event_id: &EventId) -> Result<()> {
        sqlx::query("DELETE FROM message WHERE event_id = $1").bind(event_id.as_str()).execute(&self.pool).await?;
        Ok(())
    }
}
