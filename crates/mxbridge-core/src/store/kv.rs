//! `login_kv`: per-login key/value state for networks, encrypted at rest.
//!
//! ```sql
//! login_kv(login_id, kv_key, kv_value encrypted bytes) PRIMARY KEY (login_id, kv_key)
//! ```

use sqlx::Row;

use super::{Result, Store};

impl Store {
    /// Reads a value.
    pub async fn kv_get(&self, login_id: &str, key: &str) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT kv_value FROM login_kv WHERE login_id = $1 AND kv_key = $2")
            .bind(login_id)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| self.open(&r.try_get::<Vec<u8>, _>("kv_value")?)).transpose()
    }

    /// Writes a value.
    pub async fn kv_set(&self, login_id: &str, key: &str, value: &[u8]) -> Result<()> {
        sqlx::query("INSERT INTO login_kv (login_id, kv_key, kv_value) VALUES ($1, $2, $3) ON CONFLICT (login_id, kv_key) DO UPDATE SET kv_value = excluded.kv_value")
            .bind(login_id)
            .bind(key)
            .bind(self.seal(value))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes a value.
    pub async fn kv_delete(&self, login_id: &str, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_kv WHERE login_id = $1 AND kv_key = $2").bind(login_id).bind(key).execute(&self.pool).await?;
        Ok(())
    }
}
