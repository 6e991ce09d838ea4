//! Table `management_room`: the direct chat between a Matrix user and the bridge bot.
//!
//! A user has at most one management room and a room manages at most one user, so the
//! lookup works both ways.

use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use sqlx::Row;

use super::{Result, Store, parse_stored};

const RELEASE_ROOM: &str = "DELETE FROM management_room WHERE room_id = $1 AND user_id <> $2";
const UPSERT: &str =
    "INSERT INTO management_room (user_id, room_id) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET room_id = excluded.room_id";
const ROOM_OF: &str = "SELECT room_id FROM management_room WHERE user_id = $1";
const OWNER_OF: &str = "SELECT user_id FROM management_room WHERE room_id = $1";

impl Store {
    /// Makes `room_id` the management room of `user_id`, replacing the user's earlier one.
    /// If the room managed another user, it no longer does.
    pub async fn set_management_room(&self, user_id: &UserId, room_id: &RoomId) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(RELEASE_ROOM).bind(room_id.as_str()).bind(user_id.as_str()).execute(&mut *tx).await?;
        sqlx::query(UPSERT).bind(user_id.as_str()).bind(room_id.as_str()).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The management room of a user.
    pub async fn management_room(&self, user_id: &UserId) -> Result<Option<OwnedRoomId>> {
        let row = sqlx::query(ROOM_OF).bind(user_id.as_str()).fetch_optional(self.pool()).await?;
        row.map(|row| parse_stored("management room id", row.try_get("room_id")?)).transpose()
    }

    /// The user a management room belongs to.
    pub async fn management_room_owner(&self, room_id: &RoomId) -> Result<Option<OwnedUserId>> {
        let row = sqlx::query(OWNER_OF).bind(room_id.as_str()).fetch_optional(self.pool()).await?;
        row.map(|row| parse_stored("management room user id", row.try_get("user_id")?)).transpose()
    }
}
