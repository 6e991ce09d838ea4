//! `portal`: one remote chat ⇄ one Matrix room.
//!
//! ```sql
//! portal(remote_id, receiver, room_id UNIQUE, name, topic, avatar_url, kind, plumbed, relay_login, created_ms)
//! PRIMARY KEY (remote_id, receiver)
//! ```

use ruma::{OwnedRoomId, RoomId};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store, parse_id};

/// A stored portal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortalRow {
    /// Remote chat id.
    pub remote_id: String,
    /// Owning login, or empty when shared.
    pub receiver: String,
    /// The Matrix room, once created.
    pub room_id: Option<OwnedRoomId>,
    /// Last known name.
    pub name: Option<String>,
    /// Last known topic.
    pub topic: Option<String>,
    /// Last known avatar.
    pub avatar_url: Option<String>,
    /// `dm`, `group` or `channel`.
    pub kind: String,
    /// Linked to an existing room by an admin.
    pub plumbed: bool,
    /// Login that relays for users without one.
    pub relay_login: Option<String>,
    /// When it was created.
    pub created_ms: i64,
}

const COLUMNS: &str = "remote_id, receiver, room_id, name, topic, avatar_url, kind, plumbed, relay_login, created_ms";

fn from_row(r: AnyRow) -> Result<PortalRow> {
    Ok(PortalRow {
        remote_id: r.try_get("remote_id")?,
        receiver: r.try_get("receiver")?,
        room_id: r.try_get::<Option<String>, _>("room_id")?.map(|s| parse_id(s, "portal.room_id")).transpose()?,
        name: r.try_get("name")?,
        topic: r.try_get("topic")?,
        avatar_url: r.try_get("avatar_url")?,
        kind: r.try_get("kind")?,
        plumbed: r.try_get::<i64, _>("plumbed")? != 0,
        relay_login: r.try_get("relay_login")?,
        created_ms: r.try_get("created_ms")?,
    })
}

impl Store {
    /// Inserts or replaces a portal.
    pub async fn upsert_portal(&self, p: &PortalRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO portal (remote_id, receiver, room_id, name, topic, avatar_url, kind, plumbed, relay_login, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (remote_id, receiver) DO UPDATE SET room_id = excluded.room_id, name = excluded.name, topic = excluded.topic,
               avatar_url = excluded.avatar_url, kind = excluded.kind, plumbed = excluded.plumbed, relay_login = excluded.relay_login",
        )
        .bind(p.remote_id.as_str())
        .bind(p.receiver.as_str())
        .bind(p.room_id.as_ref().map(|r| r.to_string()))
        .bind(p.name.clone())
        .bind(p.topic.clone())
        .bind(p.avatar_url.clone())
        .bind(p.kind.as_str())
        .bind(i64::from(p.plumbed))
        .bind(p.relay_login.clone())
        .bind(p.created_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A portal by its remote key.
    pub async fn portal(&self, remote_id: &str, receiver: &str) -> Result<Option<PortalRow>> {
        let sql = format!("SELECT {COLUMNS} FROM portal WHERE remote_id = $1 AND receiver = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(remote_id).bind(receiver).fetch_optional(&self.pool).await?;
        row.map(from_row).transpose()
    }

    /// The portal bridged to a room.
    pub async fn portal_by_room(&self, room_id: &RoomId) -> Result<Option<PortalRow>> {
        let sql = format!("SELECT {COLUMNS} FROM portal WHERE room_id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(room_id.as_str()).fetch_optional(&self.pool).await?;
        row.map(from_row).transpose()
    }

    /// Every portal.
    pub async fn portals(&self) -> Result<Vec<PortalRow>> {
        let sql = format!("SELECT {COLUMNS} FROM portal ORDER BY created_ms");
        sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?.into_iter().map(from_row).collect()
    }

    /// Deletes a portal with its messages and reactions.
    pub async fn delete_portal(&self, remote_id: &str, receiver: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for sql in [
            "DELETE FROM reaction WHERE portal_remote_id = $1 AND receiver = $2",
            "DELETE FROM message WHERE portal_remote_id = $1 AND receiver = $2",
            "DELETE FROM portal WHERE remote_id = $1 AND receiver = $2",
        ] {
            sqlx::query(sql).bind(remote_id).bind(receiver).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
