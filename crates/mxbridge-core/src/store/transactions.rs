//! Tables `appservice_txn` and `inbox`: the durable inbox of homeserver transactions.
//!
//! The appservice stores a transaction before it answers 200, so an event the homeserver
//! considers delivered is on disk. The transaction id and its events are written in one
//! database transaction: either both are stored or neither is, and a replayed id (the
//! homeserver retrying after a lost response) appends nothing. Ids are remembered for a
//! bounded time ([`Store::prune_transactions`]); inbox rows stay until handled.

use sqlx::Row;

use super::{Result, Store};
use crate::clock::now_ms;

const INSERT_TXN: &str = "INSERT INTO appservice_txn (txn_id, received_ms) VALUES ($1, $2) ON CONFLICT (txn_id) DO NOTHING";
const INSERT_EVENT: &str = "INSERT INTO inbox (txn_id, payload) VALUES ($1, $2)";
const PENDING: &str = "SELECT seq, payload FROM inbox ORDER BY seq LIMIT $1";
const DONE: &str = "DELETE FROM inbox WHERE seq = $1";
const BACKLOG: &str = "SELECT COUNT(*) FROM inbox";
const PRUNE: &str = "DELETE FROM appservice_txn WHERE received_ms < $1";

/// One event waiting in the inbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxItem {
    /// Position in the inbox; increases with arrival.
    pub seq: i64,
    /// The event as it was recorded (raw JSON text).
    pub payload: String,
}

impl Store {
    /// Records a homeserver transaction and appends its events, in order, to the inbox, in
    /// one database transaction. Returns `Ok(false)` when `txn_id` was already recorded: a
    /// replay, for which nothing is appended.
    pub async fn record_transaction(&self, txn_id: &str, events: &[String]) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let inserted = sqlx::query(INSERT_TXN).bind(txn_id).bind(now_ms()).execute(&mut *tx).await?.rows_affected();
        if inserted == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        for event in events {
            sqlx::query(INSERT_EVENT).bind(txn_id).bind(event.as_str()).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Up to `limit` unhandled events, oldest first.
    pub async fn inbox_pending(&self, limit: i64) -> Result<Vec<InboxItem>> {
        let rows = sqlx::query(PENDING).bind(limit).fetch_all(self.pool()).await?;
        rows.iter().map(|row| Ok(InboxItem { seq: row.try_get("seq")?, payload: row.try_get("payload")? })).collect()
    }

    /// How many events wait in the inbox (handled ones are removed).
    pub async fn inbox_backlog(&self) -> Result<u64> {
        let n: i64 = sqlx::query(BACKLOG).fetch_one(self.pool()).await?.try_get(0)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Removes a handled event from the inbox. Removing one that is gone is not an error.
    pub async fn inbox_done(&self, seq: i64) -> Result<()> {
        sqlx::query(DONE).bind(seq).execute(self.pool()).await?;
        Ok(())
    }

    /// Forgets transaction ids received before `before_ms` (milliseconds since the Unix
    /// epoch), so the dedupe window stays bounded. Returns how many were forgotten.
    pub async fn prune_transactions(&self, before_ms: i64) -> Result<u64> {
        Ok(sqlx::query(PRUNE).bind(before_ms).execute(self.pool()).await?.rows_affected())
    }
}
