//! `ghost`: remote users shown as Matrix users.
//!
//! ```sql
//! ghost(remote_id PK, user_id UNIQUE, display_name, avatar_url, registered)
//! ```

use ruma::{OwnedUserId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store, parse_id};

/// A stored ghost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GhostRow {
    /// Remote user id.
    pub remote_id: String,
    /// The ghost's Matrix ID.
    pub user_id: OwnedUserId,
    /// Display name set on Matrix.
    pub display_name: Option<String>,
    /// Avatar set on Matrix.
    pub avatar_url: Option<String>,
    /// Registered on the homeserver.
    pub registered: bool,
}

fn from_row(r: AnyRow) -> Result<GhostRow> {
    Ok(GhostRow {
        remote_id: r.try_get("remote_id")?,
        user_id: parse_id(r.try_get("user_id")?, "ghost.user_id")?,
        display_name: r.try_get("display_name")?,
        avatar_url: r.try_get("avatar_url")?,
        registered: r.try_get::<i64, _>("registered")? != 0,
    })
}

impl Store {
    /// Inserts or updates a ghost.
    pub async fn upsert_ghost(&self, g: &GhostRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO ghost (remote_id, user_id, display_name, avatar_url, registered) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (remote_id) DO UPDATE SET user_id = excluded.user_id, display_name = excluded.display_name,
               avatar_url = excluded.avatar_url, registered = excluded.registered",
        )
        .bind(g.remote_id.as_str())
        .bind(g.user_id.as_str())
        .bind(g.display_name.clone())
        .bind(g.avatar_url.clone())
        .bind(i64::from(g.registered))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A ghost by remote id.
    pub async fn ghost(&self, remote_id: &str) -> Result<Option<GhostRow>> {
        let row = sqlx::query("SELECT remote_id, user_id, display_name, avatar_url, registered FROM ghost WHERE remote_id = $1")
            .bind(remote_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(from_row).transpose()
    }

    /// A ghost by Matrix ID.
    pub async fn ghost_by_user_id(&self, user_id: &UserId) -> Result<Option<GhostRow>> {
        let row = sqlx::query("SELECT remote_id, user_id, display_name, avatar_url, registered FROM ghost WHERE user_id = $1")
            .bind(user_id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(from_row).transpose()
    }
}
