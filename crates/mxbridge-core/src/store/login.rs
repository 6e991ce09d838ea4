//! `user_login`: remote accounts of Matrix users. The secret column is ciphertext.
//!
//! ```sql
//! user_login(login_id PK, user_id, remote_name, metadata JSON text, secret encrypted bytes)
//! ```

use ruma::{OwnedUserId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store, StoreError, parse_id};
use crate::secret::Secret;

/// A stored login.
#[derive(Clone, Debug)]
pub struct LoginRow {
    /// Unique remote account id.
    pub login_id: String,
    /// Its Matrix user.
    pub user_id: OwnedUserId,
    /// Human-readable account name.
    pub remote_name: String,
    /// Non-secret network data.
    pub metadata: serde_json::Value,
    /// Secret network data (plaintext here; encrypted in the database).
    pub secret: Secret<Vec<u8>>,
}

const COLUMNS: &str = "login_id, user_id, remote_name, metadata, secret";

impl Store {
    fn login_from_row(&self, r: AnyRow) -> Result<LoginRow> {
        let metadata: String = r.try_get("metadata")?;
        let blob: Vec<u8> = r.try_get("secret")?;
        Ok(LoginRow {
            login_id: r.try_get("login_id")?,
            user_id: parse_id(r.try_get("user_id")?, "user_login.user_id")?,
            remote_name: r.try_get("remote_name")?,
            metadata: serde_json::from_str(&metadata).map_err(|e| StoreError::Corrupt(format!("user_login.metadata: {e}")))?,
            secret: Secret::new(self.open(&blob)?),
        })
    }

    /// Inserts or replaces a login.
    pub async fn save_login(&self, l: &LoginRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO user_login (login_id, user_id, remote_name, metadata, secret) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (login_id) DO UPDATE SET user_id = excluded.user_id, remote_name = excluded.remote_name,
               metadata = excluded.metadata, secret = excluded.secret",
        )
        .bind(l.login_id.as_str())
        .bind(l.user_id.as_str())
        .bind(l.remote_name.as_str())
        .bind(l.metadata.to_string())
        .bind(self.seal(l.secret.expose()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A login by id.
    pub async fn login(&self, login_id: &str) -> Result<Option<LoginRow>> {
        let sql = format!("SELECT {COLUMNS} FROM user_login WHERE login_id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(login_id).fetch_optional(&self.pool).await?;
        row.map(|r| self.login_from_row(r)).transpose()
    }

    /// The logins of a Matrix user.
    pub async fn logins_of(&self, user_id: &UserId) -> Result<Vec<LoginRow>> {
        let sql = format!("SELECT {COLUMNS} FROM user_login WHERE user_id = $1 ORDER BY login_id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user_id.as_str()).fetch_all(&self.pool).await?;
        rows.into_iter().map(|r| self.login_from_row(r)).collect()
    }

    /// Every login.
    pub async fn all_logins(&self) -> Result<Vec<LoginRow>> {
        let sql = format!("SELECT {COLUMNS} FROM user_login ORDER BY login_id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
        rows.into_iter().map(|r| self.login_from_row(r)).collect()
    }

    /// Deletes a login and its key/value state.
    pub async fn delete_login(&self, login_id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM login_kv WHERE login_id = $1").bind(login_id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM user_login WHERE login_id = $1").bind(login_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}
