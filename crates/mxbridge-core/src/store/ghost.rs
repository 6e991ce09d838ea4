//! Table `ghost`: remote users shown as Matrix users.
//!
//! Keyed by the network's user id; each ghost has exactly one Matrix user id, unique.

use ruma::{OwnedUserId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store, flag, parse_stored};

const UPSERT: &str = "INSERT INTO ghost (remote_id, user_id, display_name, avatar_url, registered) VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (remote_id) DO UPDATE SET user_id = excluded.user_id, display_name = excluded.display_name,
        avatar_url = excluded.avatar_url, registered = excluded.registered";
const BY_REMOTE: &str = "SELECT remote_id, user_id, display_name, avatar_url, registered FROM ghost WHERE remote_id = $1";
const BY_USER: &str = "SELECT remote_id, user_id, display_name, avatar_url, registered FROM ghost WHERE user_id = $1";

/// A remote user and the Matrix user that stands for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GhostRow {
    /// The network's id of the user.
    pub remote_id: String,
    /// The ghost's Matrix user.
    pub user_id: OwnedUserId,
    /// The display name last set on Matrix.
    pub display_name: Option<String>,
    /// The avatar (`mxc://` URI) last set on Matrix.
    pub avatar_url: Option<String>,
    /// Whether the Matrix user has been registered on the homeserver.
    pub registered: bool,
}

impl GhostRow {
    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(GhostRow {
            remote_id: row.try_get("remote_id")?,
            user_id: parse_stored("ghost user id", row.try_get("user_id")?)?,
            display_name: row.try_get("display_name")?,
            avatar_url: row.try_get("avatar_url")?,
            registered: row.try_get::<i64, _>("registered")? != 0,
        })
    }
}

impl Store {
    /// Inserts the ghost, or replaces every field of the one with the same remote id.
    pub async fn upsert_ghost(&self, g: &GhostRow) -> Result<()> {
        sqlx::query(UPSERT)
            .bind(g.remote_id.as_str())
            .bind(g.user_id.as_str())
            .bind(g.display_name.as_deref())
            .bind(g.avatar_url.as_deref())
            .bind(flag(g.registered))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The ghost of a remote user.
    pub async fn ghost(&self, remote_id: &str) -> Result<Option<GhostRow>> {
        let row = sqlx::query(BY_REMOTE).bind(remote_id).fetch_optional(self.pool()).await?;
        row.as_ref().map(GhostRow::from_row).transpose()
    }

    /// The ghost with this Matrix user id.
    pub async fn ghost_by_user_id(&self, user_id: &UserId) -> Result<Option<GhostRow>> {
        let row = sqlx::query(BY_USER).bind(user_id.as_str()).fetch_optional(self.pool()).await?;
        row.as_ref().map(GhostRow::from_row).transpose()
    }
}
