//! Table `login_kv`: per-login key/value state for networks (session keys, update state).
//!
//! Values are encrypted with the store's cipher, like login secrets. There is no foreign key
//! to `user_login`: a network may save state while a login is still in progress, before its
//! row exists. [`Store::delete_login`] removes the state with the login.

use sqlx::Row;

use super::{Result, Store};

const GET: &str = "SELECT value FROM login_kv WHERE login_id = $1 AND key = $2";
const SET: &str =
    "INSERT INTO login_kv (login_id, key, value) VALUES ($1, $2, $3) ON CONFLICT (login_id, key) DO UPDATE SET value = excluded.value";
const DELETE: &str = "DELETE FROM login_kv WHERE login_id = $1 AND key = $2";

impl Store {
    /// Reads a value (decrypted).
    pub async fn kv_get(&self, login_id: &str, key: &str) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query(GET).bind(login_id).bind(key).fetch_optional(self.pool()).await?;
        let Some(row) = row else { return Ok(None) };
        let sealed: Vec<u8> = row.try_get("value")?;
        Ok(Some(self.cipher().decrypt(&sealed)?))
    }

    /// Writes a value (encrypted), replacing any earlier one.
    pub async fn kv_set(&self, login_id: &str, key: &str, value: &[u8]) -> Result<()> {
        sqlx::query(SET).bind(login_id).bind(key).bind(self.cipher().encrypt(value)).execute(self.pool()).await?;
        Ok(())
    }

    /// Deletes a value; deleting a missing one is not an error.
    pub async fn kv_delete(&self, login_id: &str, key: &str) -> Result<()> {
        sqlx::query(DELETE).bind(login_id).bind(key).execute(self.pool()).await?;
        Ok(())
    }
}
