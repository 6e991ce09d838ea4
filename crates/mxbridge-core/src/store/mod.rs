//! The bridge database: one code path for SQLite and PostgreSQL.
//!
//! [`Store`] wraps an [`sqlx::AnyPool`]. Every query is written once, with `$1, $2, ...`
//! placeholders, which both drivers accept (sqlx's SQLite driver binds `$N` by number), and
//! only in SQL that both dialects understand (`ON CONFLICT ... DO UPDATE`, `excluded.*`).
//! The schema is the one place the dialects differ, so each has its own migration files
//! under `migrations/sqlite/` and `migrations/postgres/`, embedded in the binary and applied
//! by [`Store::connect`]. A released migration must never change: sqlx records a checksum
//! of each applied file and refuses to start on a mismatch. Add a new numbered file to both
//! folders instead.
//!
//! The Any driver only carries basic types, so the schema keeps to them: booleans are 0/1
//! integers, timestamps are `i64` milliseconds since the Unix epoch, JSON is text and
//! encrypted secrets are byte strings. Matrix IDs are stored as text and parsed back into
//! ruma types on read; a stored value that does not parse is reported as
//! [`StoreError::Corrupt`].
//!
//! One file per table holds that table's `impl Store` block and row type:
//! `transactions` (the durable appservice inbox), `portal`, `ghost`,
//! `message`, `reaction`, `login` (secrets encrypted with the [`SecretCipher`]),
//! `management_room` and `kv` (encrypted per-login session state).
//!
//! The remote IDs stored here (`remote_id`, `receiver`, `part_id`, `login_id`) are opaque
//! strings made by network crates; the store compares them byte for byte and never parses
//! them. They are persisted, so a network that changes their format needs a migration.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};
use sqlx::{Executor, SqlSafeStr};
use tracing::debug;

use crate::secret::{SecretCipher, SecretError};

mod ghost;
mod kv;
mod login;
mod management_room;
mod message;
mod portal;
mod reaction;
mod transactions;

#[cfg(test)]
mod conformance;

pub use self::ghost::GhostRow;
pub use self::login::LoginRow;
pub use self::message::MessageRow;
pub use self::portal::PortalRow;
pub use self::reaction::ReactionRow;
pub use self::transactions::InboxItem;

/// Migrations per dialect: (version, description, SQL). Same versions in both lists.
const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[(1, "init", include_str!("../../migrations/sqlite/0001_init.sql"))];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[(1, "init", include_str!("../../migrations/postgres/0001_init.sql"))];

/// How long a caller waits for a pooled connection before the database counts as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL does not name a supported database.
    #[error(
        "unsupported database url scheme `{scheme}` (fix: use `sqlite://path/to/bridge.db`, `sqlite::memory:` or `postgres://user@host/dbname`)"
    )]
    UnsupportedUrl {
        /// The scheme that was given (the rest of the URL may hold a password, so it is left out).
        scheme: String,
    },
    /// The folder for a SQLite database file could not be created.
    #[error("cannot create the database folder {path}: {source} (fix: check that the bridge may write there)")]
    CreateDir {
        /// The folder.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The database cannot be reached, or cannot take work right now (server down, pool
    /// exhausted, disk full, file locked). Retrying later may succeed.
    #[error("database unavailable: {0} (fix: check that the database is running and reachable and its disk is not full)")]
    Unavailable(#[source] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error(
        "cannot update the database schema: {0} (fix: use the mxbridge version that last wrote this database or a newer one, or restore a backup)"
    )]
    Migrate(#[from] MigrateError),
    /// The database refused or failed a query.
    #[error("database query failed: {0}")]
    Query(#[source] sqlx::Error),
    /// A stored value is not something mxbridge writes (edited by hand or damaged).
    #[error("the database holds an invalid {what}: {detail} (fix: correct or delete that row)")]
    Corrupt {
        /// Which kind of value.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// A stored secret cannot be decrypted.
    #[error(transparent)]
    Secret(#[from] SecretError),
}

/// Results of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// Whether the failure is about reaching the database rather than about the request,
    /// so the same call may succeed later (the appservice answers such failures with an
    /// error so the homeserver retries).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        let unavailable = match &e {
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
                true
            }
            sqlx::Error::Database(db) => {
                let dialect =
                    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() { Dialect::Sqlite } else { Dialect::Postgres };
                db.code().is_some_and(|code| is_unavailable_code(dialect, &code))
            }
            _ => false,
        };
        if unavailable { StoreError::Unavailable(e) } else { StoreError::Query(e) }
    }
}

/// Database error codes that mean "not now" rather than "not this".
fn is_unavailable_code(dialect: Dialect, code: &str) -> bool {
    match dialect {
        // Extended result codes, as numbers; the low byte is the primary code:
        // BUSY, LOCKED, IOERR, FULL, CANTOPEN.
        Dialect::Sqlite => code.parse::<i64>().is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 10 | 13 | 14)),
        // SQLSTATE classes: connection exception, insufficient resources, operator
        // intervention (shutdown), system error.
        Dialect::Postgres => ["08", "53", "57", "58"].iter().any(|class| code.starts_with(class)),
    }
}

/// Which database a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite, bundled: a file, or memory for tests.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Dialect {
    fn of_url(url: &str) -> Result<Self> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Dialect::Sqlite),
            "postgres" | "postgresql" => Ok(Dialect::Postgres),
            _ => Err(StoreError::UnsupportedUrl { scheme: scheme.to_owned() }),
        }
    }

    fn migrator(self) -> Migrator {
        let files = match self {
            Dialect::Sqlite => SQLITE_MIGRATIONS,
            Dialect::Postgres => POSTGRES_MIGRATIONS,
        };
        Migrator::with_migrations(
            files
                .iter()
                .map(|&(version, description, sql)| {
                    Migration::new(version, Cow::Borrowed(description), MigrationType::Simple, sql.into_sql_str(), false)
                })
                .collect(),
        )
    }
}

/// The bridge database. Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    pool: AnyPool,
    cipher: SecretCipher,
    dialect: Dialect,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("dialect", &self.inner.dialect).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the database and brings its schema up to date.
    ///
    /// `url`: `sqlite://path/to/file.db` (the file and its folder are created if missing;
    /// WAL journal; foreign keys on), `sqlite::memory:` for tests (one private database per
    /// call), or `postgres://user:password@host/dbname`. Secrets are encrypted with `cipher`.
    pub async fn connect(url: &str, cipher: SecretCipher) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::of_url(url)?;
        let pool = match dialect {
            Dialect::Postgres => AnyPoolOptions::new().acquire_timeout(ACQUIRE_TIMEOUT).connect(url).await?,
            Dialect::Sqlite => connect_sqlite(url).await?,
        };
        dialect.migrator().run(&pool).await?;
        debug!(?dialect, "database ready");
        Ok(Store { inner: Arc::new(Inner { pool, cipher, dialect }) })
    }

    /// Which database this is.
    pub fn dialect(&self) -> Dialect {
        self.inner.dialect
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> Result<()> {
        self.inner.pool.execute("SELECT 1").await?;
        Ok(())
    }

    /// Closes every connection; later calls fail with [`StoreError::Unavailable`].
    pub async fn close(&self) {
        self.inner.pool.close().await;
    }

    fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    fn cipher(&self) -> &SecretCipher {
        &self.inner.cipher
    }
}

/// SQLite through the Any driver, which parses the URL again for every new connection.
async fn connect_sqlite(url: &str) -> Result<AnyPool> {
    let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let (path, params) = match rest.split_once('?') {
        Some((path, params)) => (path, Some(params)),
        None => (rest, None),
    };
    let memory = path == ":memory:" || params.is_some_and(|p| p.split('&').any(|kv| kv == "mode=memory"));
    if memory {
        // Each connection parses `sqlite::memory:` into a new private database, so a
        // memory store keeps exactly one connection, for ever.
        let options = AnyPoolOptions::new().max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None);
        return Ok(options.acquire_timeout(ACQUIRE_TIMEOUT).connect(url).await?);
    }
    let file = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    if let Some(dir) = Path::new(file.as_ref()).parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir { path: dir.to_owned(), source })?;
    }
    let url = match params {
        Some(p) if p.split('&').any(|kv| kv.starts_with("mode=")) => url.to_owned(),
        Some(_) => format!("{url}&mode=rwc"),
        None => format!("{url}?mode=rwc"),
    };
    let pool = AnyPoolOptions::new().acquire_timeout(ACQUIRE_TIMEOUT).connect(&url).await?;
    // WAL is a property of the file: set once, it holds for every later connection.
    pool.execute("PRAGMA journal_mode = WAL").await?;
    Ok(pool)
}

/// Parses a stored Matrix ID (or other checked string) back into its type.
fn parse_stored<T>(what: &'static str, value: String) -> Result<T>
where
    T: TryFrom<String>,
    T::Error: fmt::Display,
{
    T::try_from(value.clone()).map_err(|e| StoreError::Corrupt { what, detail: format!("`{value}`: {e}") })
}

/// Booleans are stored as 0/1 integers.
fn flag(value: bool) -> i64 {
    i64::from(value)
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use sqlx::Row;

    use super::*;

    fn cipher() -> SecretCipher {
        SecretCipher::from_base64_key(&STANDARD.encode([5u8; 32])).unwrap()
    }

    #[tokio::test]
    async fn test_memory_database_is_one_database_for_every_call() {
        let store = Store::connect("sqlite::memory:", cipher()).await.unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move { store.record_transaction(&format!("t{i}"), &[format!("{i}")]).await.unwrap() })
            })
            .collect();
        for task in tasks {
            assert!(task.await.unwrap());
        }
        assert_eq!(store.inbox_pending(100).await.unwrap().len(), 16);
        let other = Store::connect("sqlite::memory:", cipher()).await.unwrap();
        assert!(other.inbox_pending(100).await.unwrap().is_empty(), "each memory store is its own database");
    }

    #[tokio::test]
    async fn test_sqlite_file_is_created_with_wal_and_foreign_keys() {
        let folder = std::env::temp_dir().join(format!("mxbridge-store-{:016x}", rand::random::<u64>()));
        let path = folder.join("nested/bridge.db");
        let store = Store::connect(&format!("sqlite://{}", path.display()), cipher()).await.unwrap();
        assert!(path.exists(), "the file and its folders are created");
        let mode: String = sqlx::query("PRAGMA journal_mode").fetch_one(store.pool()).await.unwrap().try_get(0).unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = sqlx::query("PRAGMA foreign_keys").fetch_one(store.pool()).await.unwrap().try_get(0).unwrap();
        assert_eq!(fk, 1);
        store.close().await;
        std::fs::remove_dir_all(folder).unwrap();
    }

    #[tokio::test]
    async fn test_unsupported_url_is_refused_without_echoing_credentials() {
        let err = Store::connect("mysql://user:hunter2@db/x", cipher()).await.unwrap_err();
        assert!(matches!(err, StoreError::UnsupportedUrl { ref scheme } if scheme == "mysql"));
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[tokio::test]
    async fn test_unreachable_postgres_is_unavailable() {
        // A socket folder that does not exist fails at once. (A refused TCP connection is
        // retried until ACQUIRE_TIMEOUT, as at system start-up, and then fails the same way.)
        let err = Store::connect("postgres://user:hunter2@localhost/db?host=/nonexistent-mxbridge", cipher()).await.unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn test_error_codes_that_mean_retry_later() {
        use Dialect::{Postgres, Sqlite};
        for (dialect, code) in [(Sqlite, "5"), (Sqlite, "517"), (Sqlite, "6"), (Sqlite, "13"), (Postgres, "08006"), (Postgres, "57P01")] {
            assert!(is_unavailable_code(dialect, code), "{dialect:?} {code}");
        }
        for (dialect, code) in [(Sqlite, "19"), (Sqlite, "2067"), (Sqlite, "1"), (Postgres, "23505"), (Postgres, "42P01")] {
            assert!(!is_unavailable_code(dialect, code), "{dialect:?} {code}");
        }
    }
}
