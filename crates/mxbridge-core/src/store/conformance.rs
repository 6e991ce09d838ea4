//! One suite for every backend: each check takes a fresh store and asserts the state
//! afterwards. The macro at the bottom runs every check on SQLite and on PostgreSQL.
//! PostgreSQL tests need `MXBRIDGE_TEST_POSTGRES_URL` (set by `scripts/test.sh`); under CI
//! a missing URL fails them instead of skipping.

use base64::Engine;
use ruma::{EventId, OwnedEventId, RoomId, UserId};
use sqlx::Row;

use super::*;
use crate::secret::Secret;

fn cipher() -> SecretCipher {
    SecretCipher::from_base64_key(&base64::engine::general_purpose::STANDARD.encode([3u8; 32])).unwrap()
}

fn eid(s: &str) -> OwnedEventId {
    EventId::parse(s).unwrap()
}

/// A fresh database per test: a temp SQLite file, or a new PostgreSQL database.
pub(super) async fn fresh(dialect: Dialect) -> Option<(Store, String)> {
    let name = format!("mxbridge_t_{}_{}", std::process::id(), rand::random::<u32>());
    match dialect {
        Dialect::Sqlite => {
            let path = std::env::temp_dir().join(format!("{name}.db"));
            let url = format!("sqlite://{}", path.display());
            Some((Store::connect(&url, cipher()).await.unwrap(), url))
        }
        Dialect::Postgres => {
            let Ok(admin_url) = std::env::var("MXBRIDGE_TEST_POSTGRES_URL") else {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "MXBRIDGE_TEST_POSTGRES_URL is not set: run `bash scripts/test.sh`, which starts PostgreSQL"
                );
                eprintln!("skipping a PostgreSQL store test: MXBRIDGE_TEST_POSTGRES_URL is not set (bash scripts/test.sh sets it)");
                return None;
            };
            sqlx::any::install_default_drivers();
            let admin = sqlx::AnyPool::connect(&admin_url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.unwrap();
            admin.close().await;
            let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap();
            let url = format!("{base}/{name}");
            Some((Store::connect(&url, cipher()).await.unwrap(), url))
        }
    }
}

pub(super) async fn transactions(store: Store, _url: String) {
    let events = vec!["{\"a\":1}".to_owned(), "{\"b\":2}".to_owned()];
    assert!(store.record_transaction("t1", &events).await.unwrap());
    assert!(!store.record_transaction("t1", &["{\"c\":3}".to_owned()]).await.unwrap(), "replay");
    assert!(store.record_transaction("t2", &["{\"d\":4}".to_owned()]).await.unwrap());
    let pending = store.inbox_pending(10).await.unwrap();
    assert_eq!(
        pending.iter().map(|i| i.payload.as_str()).collect::<Vec<_>>(),
        vec!["{\"a\":1}", "{\"b\":2}", "{\"d\":4}"],
        "in order, replay appended nothing"
    );
    assert!(pending.windows(2).all(|w| w[0].seq < w[1].seq));
    store.inbox_done(pending[0].seq).await.unwrap();
    assert_eq!(store.inbox_pending(1).await.unwrap()[0].payload, "{\"b\":2}");
    assert_eq!(store.prune_transactions(0).await.unwrap(), 0);
    assert_eq!(store.prune_transactions(i64::MAX).await.unwrap(), 2);
    assert!(store.record_transaction("t1", &[]).await.unwrap(), "a pruned id is accepted again");
}

fn portal_row(remote: &str, receiver: &str, room: &str) -> PortalRow {
    PortalRow {
        remote_id: remote.into(),
        receiver: receiver.into(),
        room_id: Some(RoomId::parse(room).unwrap()),
        name: Some("Name".into()),
        topic: None,
        avatar_url: None,
        kind: "group".into(),
        plumbed: false,
        relay_login: None,
        created_ms: 5,
    }
}

fn message_row(remote: &str, part: &str, event: &str) -> MessageRow {
    MessageRow {
        portal_remote_id: "chat".into(),
        receiver: "".into(),
        remote_id: remote.into(),
        part_id: part.into(),
        event_id: eid(event),
        room_id: RoomId::parse("!r:hs").unwrap(),
        sender: "bob".into(),
        timestamp_ms: 7,
    }
}

pub(super) async fn portals_messages_reactions(store: Store, _url: String) {
    let mut p = portal_row("chat", "", "!r:hs");
    store.upsert_portal(&p).await.unwrap();
    p.name = Some("Renamed".into());
    p.plumbed = true;
    p.relay_login = Some("l1".into());
    store.upsert_portal(&p).await.unwrap();
    assert_eq!(store.portal("chat", "").await.unwrap(), Some(p.clone()));
    assert_eq!(store.portal_by_room(&RoomId::parse("!r:hs").unwrap()).await.unwrap(), Some(p.clone()));
    assert_eq!(store.portal("chat", "someone").await.unwrap(), None, "the receiver is part of the key");
    store.upsert_portal(&portal_row("dm", "l1", "!d:hs")).await.unwrap();
    assert_eq!(store.portals().await.unwrap().len(), 2);

    store.insert_message(&message_row("m1", "b", "$b")).await.unwrap();
    store.insert_message(&message_row("m1", "a", "$a")).await.unwrap();
    store.insert_message(&message_row("m1", "a", "$other")).await.unwrap();
    let parts = store.message_by_remote("chat", "", "m1").await.unwrap();
    assert_eq!(parts.iter().map(|m| m.event_id.as_str()).collect::<Vec<_>>(), vec!["$a", "$b"], "part order; duplicate ignored");
    assert_eq!(store.message_by_event(&eid("$b")).await.unwrap().unwrap().remote_id, "m1");

    let mut r = ReactionRow {
        portal_remote_id: "chat".into(),
        receiver: "".into(),
        target_remote_id: "m1".into(),
        sender: "bob".into(),
        key: "👍".into(),
        event_id: eid("$r1"),
        room_id: RoomId::parse("!r:hs").unwrap(),
    };
    store.insert_reaction(&r).await.unwrap();
    r.event_id = eid("$r2");
    store.insert_reaction(&r).await.unwrap();
    assert_eq!(store.reaction("chat", "", "m1", "bob", "👍").await.unwrap().unwrap().event_id.as_str(), "$r2", "replaced");
    assert!(store.reaction_by_event(&eid("$r1")).await.unwrap().is_none());
    assert_eq!(store.reaction_by_event(&eid("$r2")).await.unwrap(), Some(r.clone()));
    store.delete_reaction_by_event(&eid("$r2")).await.unwrap();
    assert!(store.reaction_by_event(&eid("$r2")).await.unwrap().is_none());
    store.insert_reaction(&r).await.unwrap();

    store.delete_message_by_event(&eid("$b")).await.unwrap();
    assert_eq!(store.message_by_remote("chat", "", "m1").await.unwrap().len(), 1);

    store.delete_portal("chat", "").await.unwrap();
    assert!(store.portal("chat", "").await.unwrap().is_none());
    assert!(store.message_by_event(&eid("$a")).await.unwrap().is_none(), "messages go with the portal");
    assert!(store.reaction_by_event(&eid("$r2")).await.unwrap().is_none(), "reactions go with the portal");
    assert!(store.portal("dm", "l1").await.unwrap().is_some(), "other portals stay");
}

pub(super) async fn ghosts(store: Store, _url: String) {
    let mut g = GhostRow {
        remote_id: "Bob".into(),
        user_id: UserId::parse("@_n__bob:hs").unwrap(),
        display_name: None,
        avatar_url: None,
        registered: false,
    };
    store.upsert_ghost(&g).await.unwrap();
    g.display_name = Some("Bob".into());
    g.registered = true;
    store.upsert_ghost(&g).await.unwrap();
    assert_eq!(store.ghost("Bob").await.unwrap(), Some(g.clone()));
    assert_eq!(store.ghost_by_user_id(&g.user_id).await.unwrap(), Some(g));
    assert!(store.ghost("bob").await.unwrap().is_none(), "remote ids are case-sensitive");
}

pub(super) async fn logins_and_secrets(store: Store, url: String) {
    let alice = UserId::parse("@alice:hs").unwrap();
    let secret = b"very-secret-session-bytes".to_vec();
    let login = LoginRow {
        login_id: "net:alice".into(),
        user_id: alice.clone(),
        remote_name: "alice".into(),
        metadata: serde_json::json!({"server": "irc.example"}),
        secret: Secret::new(secret.clone()),
    };
    store.save_login(&login).await.unwrap();
    let loaded = store.login("net:alice").await.unwrap().unwrap();
    assert_eq!(loaded.secret.expose(), &secret);
    assert_eq!(loaded.metadata, login.metadata);
    assert_eq!(store.logins_of(&alice).await.unwrap().len(), 1);
    assert_eq!(store.all_logins().await.unwrap().len(), 1);

    let raw: Vec<u8> = sqlx::query("SELECT secret FROM user_login").fetch_one(&store.pool).await.unwrap().try_get("secret").unwrap();
    assert!(!raw.windows(secret.len()).any(|w| w == secret.as_slice()), "the secret is ciphertext at rest");

    store.kv_set("net:alice", "k", b"v1").await.unwrap();
    store.kv_set("net:alice", "k", b"v2-secret-value").await.unwrap();
    assert_eq!(store.kv_get("net:alice", "k").await.unwrap().as_deref(), Some(&b"v2-secret-value"[..]));
    let raw: Vec<u8> = sqlx::query("SELECT kv_value FROM login_kv").fetch_one(&store.pool).await.unwrap().try_get("kv_value").unwrap();
    assert!(!raw.windows(15).any(|w| w == b"v2-secret-value"), "kv values are ciphertext at rest");
    store.kv_delete("net:alice", "k").await.unwrap();
    assert!(store.kv_get("net:alice", "k").await.unwrap().is_none());
    store.kv_set("net:alice", "k2", b"x").await.unwrap();

    // Reopening with another key cannot read the secret, and says so.
    store.close().await;
    let other = SecretCipher::from_base64_key(&base64::engine::general_purpose::STANDARD.encode([4u8; 32])).unwrap();
    let reopened = Store::connect(&url, other).await.unwrap();
    assert!(matches!(reopened.login("net:alice").await, Err(StoreError::Secret(_))));
    reopened.close().await;
    let reopened = Store::connect(&url, cipher()).await.unwrap();
    assert_eq!(reopened.login("net:alice").await.unwrap().unwrap().secret.expose(), &secret, "migrations are idempotent on reopen");
    reopened.delete_login("net:alice").await.unwrap();
    assert!(reopened.login("net:alice").await.unwrap().is_none());
    assert!(reopened.kv_get("net:alice", "k2").await.unwrap().is_none(), "kv state goes with the login");
}

pub(super) async fn management_rooms(store: Store, _url: String) {
    let alice = UserId::parse("@alice:hs").unwrap();
    let (r1, r2) = (RoomId::parse("!one:hs").unwrap(), RoomId::parse("!two:hs").unwrap());
    store.set_management_room(&alice, &r1).await.unwrap();
    assert_eq!(store.management_room(&alice).await.unwrap(), Some(r1.clone()));
    assert_eq!(store.management_room_owner(&r1).await.unwrap(), Some(alice.clone()));
    store.set_management_room(&alice, &r2).await.unwrap();
    assert_eq!(store.management_room(&alice).await.unwrap(), Some(r2.clone()));
    assert_eq!(store.management_room_owner(&r1).await.unwrap(), None, "the old room is no longer a management room");
}

macro_rules! store_suite {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $check() {
                    let (store, url) = super::fresh(super::Dialect::Sqlite).await.unwrap();
                    super::$check(store, url).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $check() {
                    if let Some((store, url)) = super::fresh(super::Dialect::Postgres).await {
                        assert_eq!(store.dialect(), super::Dialect::Postgres);
                        super::$check(store, url).await;
                    }
                }
            )*
        }
    };
}

store_suite!(transactions, portals_messages_reactions, ghosts, logins_and_secrets, management_rooms);

#[tokio::test]
async fn memory_database_works_for_tests() {
    let store = Store::connect("sqlite::memory:", cipher()).await.unwrap();
    assert!(store.record_transaction("x", &["{}".into()]).await.unwrap());
    assert_eq!(store.inbox_pending(5).await.unwrap().len(), 1);
}

#[tokio::test]
async fn unsupported_url_is_refused_without_echoing_credentials() {
    let err = Store::connect("mysql://user:hunter2@db/x", cipher()).await.err().unwrap();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}
