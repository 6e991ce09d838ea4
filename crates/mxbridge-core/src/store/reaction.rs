//! `reaction`: bridged reactions, so removing one removes the right event.
//!
//! ```sql
//! reaction(portal_remote_id, receiver, target_remote_id, sender, reaction_key, event_id, room_id)
//! PRIMARY KEY (portal_remote_id, receiver, target_remote_id, sender, reaction_key); INDEX (event_id)
//! ```

use ruma::{EventId, OwnedEventId, OwnedRoomId};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store, parse_id};

/// One bridged reaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReactionRow {
    /// The portal's remote chat id.
    pub portal_remote_id: String,
    /// The portal's receiver.
    pub receiver: String,
    /// The remote message reacted to.
    pub target_remote_id: String,
    /// Who reacted (remote user id, or `login:<id>` for Matrix users).
    pub sender: String,
    /// The emoji or key.
    pub key: String,
    /// The Matrix reaction event.
    pub event_id: OwnedEventId,
    /// The Matrix room.
    pub room_id: OwnedRoomId,
}

const COLUMNS: &str = "portal_remote_id, receiver, target_remote_id, sender, reaction_key, event_id, room_id";

fn from_row(r: AnyRow) -> Result<ReactionRow> {
    Ok(ReactionRow {
        portal_remote_id: r.try_get("portal_remote_id")?,
        receiver: r.try_get("receiver")?,
        target_remote_id: r.try_get("target_remote_id")?,
        sender: r.try_get("sender")?,
        key: r.try_get("reaction_key")?,
        event_id: parse_id(r.try_get("event_id")?, "reaction.event_id")?,
        room_id: parse_id(r.try_get("room_id")?, "reaction.room_id")?,
    })
}

impl Store {
    /// Stores a reaction, replacing an earlier one of the same sender and key.
    pub async fn insert_reaction(&self, r: &ReactionRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO reaction (portal_remote_id, receiver, target_remote_id, sender, reaction_key, event_id, room_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (portal_remote_id, receiver, target_remote_id, sender, reaction_key)
             DO UPDATE SET event_id = excluded.event_id, room_id = excluded.room_id",
        )
        .bind(r.portal_remote_id.as_str())
        .bind(r.receiver.as_str())
        .bind(r.target_remote_id.as_str())
        .bind(r.sender.as_str())
        .bind(r.key.as_str())
        .bind(r.event_id.as_str())
        .bind(r.room_id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The reaction a Matrix event is.
    pub async fn reaction_by_event(&self, event_id: &EventId) -> Result<Option<ReactionRow>> {
        let sql = format!("SELECT {COLUMNS} FROM reaction WHERE event_id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(event_id.as_str()).fetch_optional(&self.pool).await?;
        row.map(from_row).transpose()
    }

    /// A reaction by its remote key.
    pub async fn reaction(
        &self,
        portal_remote_id: &str,
        receiver: &str,
        target_remote_id: &str,
        sender: &str,
        key: &str,
    ) -> Result<Option<ReactionRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM reaction WHERE portal_remote_id = $1 AND receiver = $2 AND target_remote_id = $3 AND sender = $4 AND reaction_key = $5"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(portal_remote_id)
            .bind(receiver)
            .bind(target_remote_id)
            .bind(sender)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.map(from_row).transpose()
    }

    /// Forgets a reaction.
    pub async fn delete_reaction_by_event(&self, event_id: &EventId) -> Result<()> {
        sqlx::query("DELETE FROM reaction WHERE event_id = $1").bind(event_id.as_str()).execute(&self.pool).await?;
        Ok(())
    }
}
