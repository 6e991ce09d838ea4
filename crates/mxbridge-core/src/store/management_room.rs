//! `management_room`: each user's DM with the bridge bot.
//!
//! ```sql
//! management_room(user_id PK, room_id UNIQUE)
//! ```

use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use sqlx::Row;

use super::{Result, Store, parse_id};

impl Store {
    /// Makes `room_id` the user's management room (replacing an earlier one).
    pub async fn set_management_room(&self, user_id: &UserId, room_id: &RoomId) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM management_room WHERE room_id = $1 OR user_id = $2")
            .bind(room_id.as_str())
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO management_room (user_id, room_id) VALUES ($1, $2)")
            .bind(user_id.as_str())
            .bind(room_id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A user's management room.
    pub async fn management_room(&self, user_id: &UserId) -> Result<Option<OwnedRoomId>> {
        let row =
            sqlx::query("SELECT room_id FROM management_room WHERE user_id = $1").bind(user_id.as_str()).fetch_optional(&self.pool).await?;
        row.map(|r| parse_id(r.try_get("room_id")?, "management_room.room_id")).transpose()
    }

    /// Whose management room a room is.
    pub async fn management_room_owner(&self, room_id: &RoomId) -> Result<Option<OwnedUserId>> {
        let row =
            sqlx::query("SELECT user_id FROM management_room WHERE room_id = $1").bind(room_id.as_str()).fetch_optional(&self.pool).await?;
        row.map(|r| parse_id(r.try_get("user_id")?, "management_room.user_id")).transpose()
    }
}
