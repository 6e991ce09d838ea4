//! Table `user_login`: one remote account of one Matrix user.
//!
//! `metadata` is plain JSON text for what the network may show or query. `secret` (a
//! network session, a password) is encrypted with the store's [`SecretCipher`] before it is
//! written and decrypted on read, so the column only ever holds ciphertext; it is never
//! logged. Deleting a login also deletes its `login_kv` state.
//!
//! [`SecretCipher`]: crate::secret::SecretCipher

use ruma::{OwnedUserId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store, StoreError, parse_stored};
use crate::secret::Secret;

const UPSERT: &str = "INSERT INTO user_login (login_id, user_id, remote_name, metadata, secret) VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (login_id) DO UPDATE SET user_id = excluded.user_id, remote_name = excluded.remote_name,
        metadata = excluded.metadata, secret = excluded.secret";
const BY_ID: &str = "SELECT login_id, user_id, remote_name, metadata, secret FROM user_login WHERE login_id = $1";
const BY_USER: &str = "SELECT login_id, user_id, remote_name, metadata, secret FROM user_login WHERE user_id = $1 ORDER BY login_id";
const ALL: &str = "SELECT login_id, user_id, remote_name, metadata, secret FROM user_login ORDER BY login_id";
const DELETE: &str = "DELETE FROM user_login WHERE login_id = $1";
const DELETE_KV: &str = "DELETE FROM login_kv WHERE login_id = $1";

/// A remote account of a Matrix user.
#[derive(Clone, Debug)]
pub struct LoginRow {
    /// The network's id of the account, unique across the bridge.
    pub login_id: String,
    /// The Matrix user who logged in.
    pub user_id: OwnedUserId,
    /// A name for the account that the user recognises.
    pub remote_name: String,
    /// Non-secret network data, stored as plain JSON.
    pub metadata: serde_json::Value,
    /// Secret network data, stored encrypted.
    pub secret: Secret<Vec<u8>>,
}

impl Store {
    fn login_from_row(&self, row: &AnyRow) -> Result<LoginRow> {
        let metadata: String = row.try_get("metadata")?;
        let sealed: Vec<u8> = row.try_get("secret")?;
        Ok(LoginRow {
            login_id: row.try_get("login_id")?,
            user_id: parse_stored("login user id", row.try_get("user_id")?)?,
            remote_name: row.try_get("remote_name")?,
            metadata: serde_json::from_str(&metadata).map_err(|e| StoreError::Corrupt { what: "login metadata", detail: e.to_string() })?,
            secret: Secret::new(self.cipher().decrypt(&sealed)?),
        })
    }

    /// Inserts the login, or replaces every field of the one with the same id.
    pub async fn save_login(&self, l: &LoginRow) -> Result<()> {
        sqlx::query(UPSERT)
            .bind(l.login_id.as_str())
            .bind(l.user_id.as_str())
            .bind(l.remote_name.as_str())
            .bind(l.metadata.to_string())
            .bind(self.cipher().encrypt(l.secret.expose()))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// A login by id.
    pub async fn login(&self, login_id: &str) -> Result<Option<LoginRow>> {
        let row = sqlx::query(BY_ID).bind(login_id).fetch_optional(self.pool()).await?;
        row.map(|row| self.login_from_row(&row)).transpose()
    }

    /// The logins of one Matrix user, ordered by id.
    pub async fn logins_of(&self, user_id: &UserId) -> Result<Vec<LoginRow>> {
        let rows = sqlx::query(BY_USER).bind(user_id.as_str()).fetch_all(self.pool()).await?;
        rows.iter().map(|row| self.login_from_row(row)).collect()
    }

    /// Every login, ordered by id.
    pub async fn all_logins(&self) -> Result<Vec<LoginRow>> {
        let rows = sqlx::query(ALL).fetch_all(self.pool()).await?;
        rows.iter().map(|row| self.login_from_row(row)).collect()
    }

    /// Deletes the login and its key/value state, in one transaction.
    pub async fn delete_login(&self, login_id: &str) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(DELETE_KV).bind(login_id).execute(&mut *tx).await?;
        sqlx::query(DELETE).bind(login_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}
