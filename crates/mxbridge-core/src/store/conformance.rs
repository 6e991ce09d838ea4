//! One conformance suite for every backend.
//!
//! Each check is an `async fn(TestDb)` that gets a fresh, empty database and asserts the
//! state afterwards, not only return values. [`conformance_suite!`] runs every check on
//! SQLite (a file in a temp folder) and on PostgreSQL (a new database per test, made with
//! the admin URL in `MXBRIDGE_TEST_POSTGRES_URL` and dropped afterwards, so tests and
//! parallel runs never share state). Without that variable the PostgreSQL tests are skipped
//! locally, and fail under CI (`CI` set): `bash scripts/test.sh` starts a server and sets it.

use std::future::Future;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ruma::{EventId, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};
use sqlx::{Connection, Row};

use super::*;
use crate::clock::now_ms;
use crate::secret::Secret;

const POSTGRES_URL_VAR: &str = "MXBRIDGE_TEST_POSTGRES_URL";

fn cipher() -> SecretCipher {
    SecretCipher::from_base64_key(&STANDARD.encode([3u8; 32])).unwrap()
}

fn other_cipher() -> SecretCipher {
    SecretCipher::from_base64_key(&STANDARD.encode([4u8; 32])).unwrap()
}

fn unique_name() -> String {
    format!("mxbridge_t_{:016x}", rand::random::<u64>())
}

/// A fresh database for one check.
struct TestDb {
    store: Store,
    /// Connect again to the same database with this.
    url: String,
    cleanup: Cleanup,
}

#[derive(Clone)]
enum Cleanup {
    Folder(PathBuf),
    PostgresDatabase { admin_url: String, name: String },
}

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

impl TestDb {
    /// `None` when PostgreSQL is not configured outside CI (the test is skipped).
    async fn create(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => {
                let folder = std::env::temp_dir().join(unique_name());
                let url = format!("sqlite://{}", folder.join("bridge.db").display());
                let store = Store::connect(&url, cipher()).await.unwrap();
                assert_eq!(store.dialect(), Dialect::Sqlite);
                Some(TestDb { store, url, cleanup: Cleanup::Folder(folder) })
            }
            Backend::Postgres => {
                let Ok(admin_url) = std::env::var(POSTGRES_URL_VAR) else {
                    assert!(
                        std::env::var_os("CI").is_none(),
                        "{POSTGRES_URL_VAR} is not set, so the PostgreSQL store tests cannot run: run `bash scripts/test.sh`, which starts PostgreSQL and sets it"
                    );
                    eprintln!("skipped: {POSTGRES_URL_VAR} is not set (`bash scripts/test.sh` starts PostgreSQL and sets it)");
                    return None;
                };
                let name = unique_name();
                admin_sql(&admin_url, format!("CREATE DATABASE {name}")).await;
                let mut url = url::Url::parse(&admin_url).expect("MXBRIDGE_TEST_POSTGRES_URL is a URL");
                url.set_path(&name);
                let url = url.to_string();
                let store = Store::connect(&url, cipher()).await.unwrap();
                assert_eq!(store.dialect(), Dialect::Postgres);
                Some(TestDb { store, url, cleanup: Cleanup::PostgresDatabase { admin_url, name } })
            }
        }
    }
}

impl Cleanup {
    async fn run(self) {
        match self {
            Cleanup::Folder(folder) => {
                let _ = std::fs::remove_dir_all(folder);
            }
            // FORCE ends connections a check left open (PostgreSQL 13+).
            Cleanup::PostgresDatabase { admin_url, name } => {
                admin_sql(&admin_url, format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await
            }
        }
    }
}

/// Runs one statement on the PostgreSQL server named by the admin URL.
async fn admin_sql(admin_url: &str, sql: String) {
    sqlx::any::install_default_drivers();
    let mut admin = sqlx::AnyConnection::connect(admin_url).await.expect("connect with MXBRIDGE_TEST_POSTGRES_URL");
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await.unwrap();
    let _ = admin.close().await;
}

/// Runs a check on a fresh database of `backend` and always cleans up, even on failure.
async fn run<F, Fut>(backend: Backend, check: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(db) = TestDb::create(backend).await else { return };
    let (store, cleanup) = (db.store.clone(), db.cleanup.clone());
    let outcome = tokio::spawn(check(db)).await;
    store.close().await;
    cleanup.run().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

macro_rules! conformance_suite {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $check() {
                    super::run(super::Backend::Sqlite, super::$check).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $check() {
                    super::run(super::Backend::Postgres, super::$check).await;
                }
            )*
        }
    };
}

conformance_suite!(
    test_transaction_is_recorded_once,
    test_concurrent_replays_store_once,
    test_inbox_is_oldest_first_and_done_removes,
    test_prune_forgets_old_transaction_ids_only,
    test_portal_upsert_and_lookups,
    test_delete_portal_removes_its_messages_and_reactions,
    test_ghost_upsert_and_lookups,
    test_message_parts_in_order_and_insert_is_idempotent,
    test_delete_message_by_event_removes_one_part,
    test_messages_and_reactions_need_their_portal,
    test_reaction_is_replaced_per_sender_and_key,
    test_login_round_trip_with_secret_encrypted_at_rest,
    test_delete_login_removes_its_kv_state,
    test_wrong_key_cannot_read_secrets,
    test_kv_round_trip_encrypted_at_rest,
    test_management_room_lookups_both_ways,
    test_reconnect_keeps_data_and_migrations_are_idempotent,
);

// ---- fixtures ----

fn room(s: &str) -> OwnedRoomId {
    RoomId::parse(s).unwrap()
}

fn event(s: &str) -> OwnedEventId {
    EventId::parse(s).unwrap()
}

fn user(s: &str) -> OwnedUserId {
    UserId::parse(s).unwrap()
}

fn events(payloads: &[&str]) -> Vec<String> {
    payloads.iter().map(|p| (*p).to_owned()).collect()
}

async fn inbox_payloads(store: &Store) -> Vec<String> {
    store.inbox_pending(1000).await.unwrap().into_iter().map(|i| i.payload).collect()
}

fn portal(remote_id: &str, receiver: &str, room_id: Option<&str>) -> PortalRow {
    PortalRow {
        remote_id: remote_id.into(),
        receiver: receiver.into(),
        room_id: room_id.map(room),
        name: Some(format!("{remote_id} chat")),
        topic: None,
        avatar_url: None,
        kind: "group".into(),
        plumbed: false,
        relay_login: None,
        created_ms: 1_700_000_000_000,
    }
}

fn message(portal_remote_id: &str, remote_id: &str, part_id: &str, event_id: &str) -> MessageRow {
    MessageRow {
        portal_remote_id: portal_remote_id.into(),
        receiver: String::new(),
        remote_id: remote_id.into(),
        part_id: part_id.into(),
        event_id: event(event_id),
        room_id: room(&format!("!{portal_remote_id}:hs")),
        sender: "remote-bob".into(),
        timestamp_ms: 1_700_000_000_123,
    }
}

fn reaction(portal_remote_id: &str, target: &str, sender: &str, key: &str, event_id: &str) -> ReactionRow {
    ReactionRow {
        portal_remote_id: portal_remote_id.into(),
        receiver: String::new(),
        target_remote_id: target.into(),
        sender: sender.into(),
        key: key.into(),
        event_id: event(event_id),
        room_id: room(&format!("!{portal_remote_id}:hs")),
    }
}

/// A shared portal `remote_id` bridged to `!<remote_id>:hs`.
async fn bridged_portal(store: &Store, remote_id: &str) {
    store.upsert_portal(&portal(remote_id, "", Some(&format!("!{remote_id}:hs")))).await.unwrap();
}

fn login(login_id: &str, user_id: &str, secret: &[u8]) -> LoginRow {
    LoginRow {
        login_id: login_id.into(),
        user_id: user(user_id),
        remote_name: format!("{login_id} account"),
        metadata: serde_json::json!({"server": "irc.example.org", "nick": login_id}),
        secret: Secret::new(secret.to_vec()),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// ---- appservice transactions ----

async fn test_transaction_is_recorded_once(db: TestDb) {
    let store = db.store;
    assert!(store.record_transaction("t1", &events(&[r#"{"n":1}"#, r#"{"n":2}"#])).await.unwrap(), "new id");
    assert!(!store.record_transaction("t1", &events(&[r#"{"n":3}"#])).await.unwrap(), "replayed id");
    assert_eq!(inbox_payloads(&store).await, [r#"{"n":1}"#, r#"{"n":2}"#], "the replay appended nothing");

    assert!(store.record_transaction("empty", &[]).await.unwrap());
    assert!(!store.record_transaction("empty", &events(&["{}"])).await.unwrap(), "an empty transaction is remembered too");
    assert_eq!(inbox_payloads(&store).await.len(), 2);
}

async fn test_concurrent_replays_store_once(db: TestDb) {
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = db.store.clone();
            tokio::spawn(async move { store.record_transaction("same", &events(&["{\"a\":1}", "{\"b\":2}"])).await })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 1, "exactly one delivery is new");
    assert_eq!(inbox_payloads(&db.store).await, ["{\"a\":1}", "{\"b\":2}"]);
}

async fn test_inbox_is_oldest_first_and_done_removes(db: TestDb) {
    let store = db.store;
    store.record_transaction("t1", &events(&["a", "b"])).await.unwrap();
    store.record_transaction("t2", &events(&["c"])).await.unwrap();
    let pending = store.inbox_pending(10).await.unwrap();
    assert_eq!(pending.iter().map(|i| i.payload.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
    assert!(pending.windows(2).all(|w| w[0].seq < w[1].seq), "seq grows with arrival");
    assert_eq!(store.inbox_pending(2).await.unwrap(), pending[..2], "limit keeps the oldest");

    assert_eq!(store.inbox_backlog().await.unwrap(), 3);
    store.inbox_done(pending[1].seq).await.unwrap();
    assert_eq!(inbox_payloads(&store).await, ["a", "c"], "only the handled entry is gone");
    assert_eq!(store.inbox_backlog().await.unwrap(), 2);
    store.inbox_done(pending[1].seq).await.unwrap();
    store.inbox_done(pending[0].seq).await.unwrap();
    store.inbox_done(pending[2].seq).await.unwrap();
    assert!(store.inbox_pending(10).await.unwrap().is_empty());

    store.record_transaction("t3", &events(&["d"])).await.unwrap();
    assert!(store.inbox_pending(10).await.unwrap()[0].seq > pending[2].seq, "seq never goes back, even after the inbox drained");
}

async fn test_prune_forgets_old_transaction_ids_only(db: TestDb) {
    let store = db.store;
    store.record_transaction("t1", &events(&["a"])).await.unwrap();
    store.record_transaction("t2", &[]).await.unwrap();
    assert_eq!(store.prune_transactions(0).await.unwrap(), 0, "nothing is older than 1970");
    assert!(!store.record_transaction("t1", &events(&["again"])).await.unwrap(), "still remembered");

    assert_eq!(store.prune_transactions(now_ms() + 60_000).await.unwrap(), 2);
    assert_eq!(inbox_payloads(&store).await, ["a"], "pruning ids leaves the inbox alone");
    assert!(store.record_transaction("t1", &events(&["b"])).await.unwrap(), "a forgotten id is new again");
    assert_eq!(inbox_payloads(&store).await, ["a", "b"]);
}

// ---- portals, ghosts, messages, reactions ----

async fn test_portal_upsert_and_lookups(db: TestDb) {
    let store = db.store;
    let mut chat = portal("chat", "", None);
    store.upsert_portal(&chat).await.unwrap();
    assert_eq!(store.portal("chat", "").await.unwrap(), Some(chat.clone()));

    chat.room_id = Some(room("!chat:hs"));
    chat.name = Some("Renamed".into());
    chat.topic = Some("Topic".into());
    chat.avatar_url = Some("mxc://hs/avatar".into());
    chat.kind = "channel".into();
    chat.plumbed = true;
    chat.relay_login = Some("login-1".into());
    store.upsert_portal(&chat).await.unwrap();
    assert_eq!(store.portal("chat", "").await.unwrap(), Some(chat.clone()), "every field is replaced");
    assert_eq!(store.portal_by_room(&room("!chat:hs")).await.unwrap(), Some(chat.clone()));
    assert_eq!(store.portal_by_room(&room("!nope:hs")).await.unwrap(), None);

    assert_eq!(store.portal("chat", "login-1").await.unwrap(), None, "the receiver is part of the key");
    let dm = PortalRow { kind: "dm".into(), ..portal("chat", "login-1", Some("!dm:hs")) };
    store.upsert_portal(&dm).await.unwrap();
    assert_eq!(store.portal("chat", "login-1").await.unwrap(), Some(dm.clone()));
    assert_eq!(store.portal("chat", "").await.unwrap(), Some(chat.clone()), "same remote id, other receiver: separate portal");
    assert_eq!(store.portals().await.unwrap(), [chat, dm]);
}

async fn test_delete_portal_removes_its_messages_and_reactions(db: TestDb) {
    let store = db.store;
    bridged_portal(&store, "gone").await;
    bridged_portal(&store, "kept").await;
    store.insert_message(&message("gone", "m1", "", "$gone-m1")).await.unwrap();
    store.insert_reaction(&reaction("gone", "m1", "bob", "+1", "$gone-r1")).await.unwrap();
    store.insert_message(&message("kept", "m1", "", "$kept-m1")).await.unwrap();
    store.insert_reaction(&reaction("kept", "m1", "bob", "+1", "$kept-r1")).await.unwrap();

    store.delete_portal("gone", "").await.unwrap();
    assert_eq!(store.portal("gone", "").await.unwrap(), None);
    assert!(store.message_by_remote("gone", "", "m1").await.unwrap().is_empty());
    assert_eq!(store.message_by_event(&event("$gone-m1")).await.unwrap(), None);
    assert_eq!(store.reaction_by_event(&event("$gone-r1")).await.unwrap(), None);

    assert!(store.portal("kept", "").await.unwrap().is_some(), "other portals stay");
    assert!(store.message_by_event(&event("$kept-m1")).await.unwrap().is_some());
    assert!(store.reaction_by_event(&event("$kept-r1")).await.unwrap().is_some());
    store.delete_portal("never-existed", "").await.unwrap();
}

async fn test_ghost_upsert_and_lookups(db: TestDb) {
    let store = db.store;
    let mut bob =
        GhostRow { remote_id: "Bob".into(), user_id: user("@_net_bob:hs"), display_name: None, avatar_url: None, registered: false };
    store.upsert_ghost(&bob).await.unwrap();
    assert_eq!(store.ghost("Bob").await.unwrap(), Some(bob.clone()));

    bob.display_name = Some("Bob (Net)".into());
    bob.avatar_url = Some("mxc://hs/bob".into());
    bob.registered = true;
    store.upsert_ghost(&bob).await.unwrap();
    assert_eq!(store.ghost("Bob").await.unwrap(), Some(bob.clone()), "every field is replaced");
    assert_eq!(store.ghost_by_user_id(&user("@_net_bob:hs")).await.unwrap(), Some(bob));
    assert_eq!(store.ghost("bob").await.unwrap(), None, "remote ids are compared exactly");
    assert_eq!(store.ghost_by_user_id(&user("@_net_alice:hs")).await.unwrap(), None);
}

async fn test_message_parts_in_order_and_insert_is_idempotent(db: TestDb) {
    let store = db.store;
    bridged_portal(&store, "chat").await;
    for (part, ev) in [("2", "$p2"), ("0", "$p0"), ("1", "$p1")] {
        store.insert_message(&message("chat", "m1", part, ev)).await.unwrap();
    }
    store.insert_message(&message("chat", "m2", "", "$m2")).await.unwrap();
    store.insert_message(&message("chat", "m1", "1", "$p1")).await.unwrap();
    store.insert_message(&message("chat", "m1", "1", "$p1-dup")).await.unwrap();

    let parts = store.message_by_remote("chat", "", "m1").await.unwrap();
    assert_eq!(parts.iter().map(|m| m.part_id.as_str()).collect::<Vec<_>>(), ["0", "1", "2"], "part order");
    assert_eq!(parts[1], message("chat", "m1", "1", "$p1"), "a duplicate insert changes nothing");
    assert_eq!(store.message_by_event(&event("$p1-dup")).await.unwrap(), None);
    assert_eq!(store.message_by_event(&event("$p2")).await.unwrap(), Some(message("chat", "m1", "2", "$p2")));
    assert_eq!(store.message_by_remote("chat", "", "m2").await.unwrap(), [message("chat", "m2", "", "$m2")]);
    assert!(store.message_by_remote("chat", "other-login", "m1").await.unwrap().is_empty(), "the receiver is part of the key");
}

async fn test_delete_message_by_event_removes_one_part(db: TestDb) {
    let store = db.store;
    bridged_portal(&store, "chat").await;
    store.insert_message(&message("chat", "m1", "a", "$a")).await.unwrap();
    store.insert_message(&message("chat", "m1", "b", "$b")).await.unwrap();
    store.delete_message_by_event(&event("$a")).await.unwrap();
    assert_eq!(store.message_by_event(&event("$a")).await.unwrap(), None);
    assert_eq!(store.message_by_remote("chat", "", "m1").await.unwrap(), [message("chat", "m1", "b", "$b")]);
    store.delete_message_by_event(&event("$a")).await.unwrap();
}

async fn test_messages_and_reactions_need_their_portal(db: TestDb) {
    let store = db.store;
    assert!(matches!(store.insert_message(&message("nowhere", "m1", "", "$m")).await, Err(StoreError::Query(_))));
    assert!(matches!(store.insert_reaction(&reaction("nowhere", "m1", "bob", "+1", "$r")).await, Err(StoreError::Query(_))));
    assert_eq!(store.message_by_event(&event("$m")).await.unwrap(), None);
    assert_eq!(store.reaction_by_event(&event("$r")).await.unwrap(), None);
}

async fn test_reaction_is_replaced_per_sender_and_key(db: TestDb) {
    let store = db.store;
    bridged_portal(&store, "chat").await;
    store.insert_reaction(&reaction("chat", "m1", "bob", "👍", "$r1")).await.unwrap();
    store.insert_reaction(&reaction("chat", "m1", "bob", "👍", "$r2")).await.unwrap();
    store.insert_reaction(&reaction("chat", "m1", "bob", "🎉", "$r3")).await.unwrap();
    store.insert_reaction(&reaction("chat", "m1", "carol", "👍", "$r4")).await.unwrap();

    assert_eq!(store.reaction("chat", "", "m1", "bob", "👍").await.unwrap(), Some(reaction("chat", "m1", "bob", "👍", "$r2")), "replaced");
    assert_eq!(store.reaction_by_event(&event("$r1")).await.unwrap(), None, "the old event is forgotten");
    assert_eq!(store.reaction_by_event(&event("$r3")).await.unwrap(), Some(reaction("chat", "m1", "bob", "🎉", "$r3")));
    assert_eq!(store.reaction_by_event(&event("$r4")).await.unwrap(), Some(reaction("chat", "m1", "carol", "👍", "$r4")));
    assert_eq!(store.reaction("chat", "", "m2", "bob", "👍").await.unwrap(), None);

    store.delete_reaction_by_event(&event("$r2")).await.unwrap();
    assert_eq!(store.reaction("chat", "", "m1", "bob", "👍").await.unwrap(), None);
    assert!(store.reaction_by_event(&event("$r3")).await.unwrap().is_some(), "other reactions stay");
}

// ---- logins, secrets, key/value state ----

async fn raw_bytes(store: &Store, sql: &'static str, id: &str) -> Vec<u8> {
    sqlx::query(sql).bind(id).fetch_one(store.pool()).await.unwrap().try_get(0).unwrap()
}

async fn test_login_round_trip_with_secret_encrypted_at_rest(db: TestDb) {
    let store = db.store;
    let secret = b"session-token-5f3a9c";
    let alice1 = login("alice-1", "@alice:hs", secret);
    store.save_login(&alice1).await.unwrap();
    let loaded = store.login("alice-1").await.unwrap().unwrap();
    assert_eq!((&loaded.login_id, &loaded.user_id, &loaded.remote_name), (&alice1.login_id, &alice1.user_id, &alice1.remote_name));
    assert_eq!(loaded.metadata, alice1.metadata);
    assert_eq!(loaded.secret.expose(), secret);

    let raw = raw_bytes(&store, "SELECT secret FROM user_login WHERE login_id = $1", "alice-1").await;
    assert!(!contains(&raw, secret), "the secret column holds ciphertext");
    assert_eq!(store.cipher().decrypt(&raw).unwrap(), secret);
    let metadata: String =
        sqlx::query("SELECT metadata FROM user_login").fetch_one(store.pool()).await.unwrap().try_get("metadata").unwrap();
    assert!(metadata.contains("irc.example.org"), "metadata is plain JSON");

    let mut replaced = login("alice-1", "@alice:hs", b"new-session");
    replaced.metadata = serde_json::json!({"v": 2});
    store.save_login(&replaced).await.unwrap();
    let loaded = store.login("alice-1").await.unwrap().unwrap();
    assert_eq!((loaded.secret.expose().as_slice(), &loaded.metadata), (&b"new-session"[..], &replaced.metadata), "upsert on login_id");

    store.save_login(&login("alice-2", "@alice:hs", b"x")).await.unwrap();
    store.save_login(&login("bob-1", "@bob:hs", b"y")).await.unwrap();
    let ids = |rows: Vec<LoginRow>| rows.into_iter().map(|l| l.login_id).collect::<Vec<_>>();
    assert_eq!(ids(store.logins_of(&user("@alice:hs")).await.unwrap()), ["alice-1", "alice-2"]);
    assert_eq!(ids(store.logins_of(&user("@carol:hs")).await.unwrap()), Vec::<String>::new());
    assert_eq!(ids(store.all_logins().await.unwrap()), ["alice-1", "alice-2", "bob-1"]);
    assert!(store.login("nobody").await.unwrap().is_none());
    assert!(!format!("{loaded:?}").contains("new-session"), "Debug of a login hides the secret");
}

async fn test_delete_login_removes_its_kv_state(db: TestDb) {
    let store = db.store;
    store.save_login(&login("gone", "@alice:hs", b"s")).await.unwrap();
    store.save_login(&login("kept", "@alice:hs", b"s")).await.unwrap();
    store.kv_set("gone", "k", b"v").await.unwrap();
    store.kv_set("kept", "k", b"v").await.unwrap();

    store.delete_login("gone").await.unwrap();
    assert!(store.login("gone").await.unwrap().is_none());
    assert_eq!(store.kv_get("gone", "k").await.unwrap(), None, "kv state goes with the login");
    assert!(store.login("kept").await.unwrap().is_some());
    assert_eq!(store.kv_get("kept", "k").await.unwrap().as_deref(), Some(&b"v"[..]));
}

async fn test_wrong_key_cannot_read_secrets(db: TestDb) {
    db.store.save_login(&login("alice-1", "@alice:hs", b"s3cret")).await.unwrap();
    db.store.kv_set("alice-1", "k", b"v").await.unwrap();
    db.store.close().await;

    let wrong = Store::connect(&db.url, other_cipher()).await.unwrap();
    assert!(matches!(wrong.login("alice-1").await, Err(StoreError::Secret(_))));
    assert!(matches!(wrong.kv_get("alice-1", "k").await, Err(StoreError::Secret(_))));
    let message = wrong.login("alice-1").await.unwrap_err().to_string();
    assert!(message.contains("fix:") && !message.contains("s3cret"), "{message}");
    wrong.close().await;

    let right = Store::connect(&db.url, cipher()).await.unwrap();
    assert_eq!(right.login("alice-1").await.unwrap().unwrap().secret.expose(), b"s3cret");
    right.close().await;
}

async fn test_kv_round_trip_encrypted_at_rest(db: TestDb) {
    let store = db.store;
    assert_eq!(store.kv_get("l1", "k").await.unwrap(), None);
    store.kv_set("l1", "k", b"first").await.unwrap();
    store.kv_set("l1", "k", b"second-value-7c1e").await.unwrap();
    store.kv_set("l1", "other", b"").await.unwrap();
    store.kv_set("l2", "k", b"l2's").await.unwrap();
    assert_eq!(store.kv_get("l1", "k").await.unwrap().as_deref(), Some(&b"second-value-7c1e"[..]), "replaced");
    assert_eq!(store.kv_get("l1", "other").await.unwrap().as_deref(), Some(&b""[..]), "empty values round-trip");
    assert_eq!(store.kv_get("l2", "k").await.unwrap().as_deref(), Some(&b"l2's"[..]), "per login");

    let raw = raw_bytes(&store, "SELECT value FROM login_kv WHERE login_id = $1 AND key = 'k'", "l1").await;
    assert!(!contains(&raw, b"second-value-7c1e"), "kv values are ciphertext");

    store.kv_delete("l1", "k").await.unwrap();
    store.kv_delete("l1", "k").await.unwrap();
    assert_eq!(store.kv_get("l1", "k").await.unwrap(), None);
    assert!(store.kv_get("l1", "other").await.unwrap().is_some());
    assert!(store.kv_get("l2", "k").await.unwrap().is_some());
}

// ---- management rooms ----

async fn test_management_room_lookups_both_ways(db: TestDb) {
    let store = db.store;
    let (alice, bob) = (user("@alice:hs"), user("@bob:hs"));
    assert_eq!(store.management_room(&alice).await.unwrap(), None);
    store.set_management_room(&alice, &room("!one:hs")).await.unwrap();
    assert_eq!(store.management_room(&alice).await.unwrap(), Some(room("!one:hs")));
    assert_eq!(store.management_room_owner(&room("!one:hs")).await.unwrap(), Some(alice.clone()));

    store.set_management_room(&alice, &room("!two:hs")).await.unwrap();
    assert_eq!(store.management_room(&alice).await.unwrap(), Some(room("!two:hs")));
    assert_eq!(store.management_room_owner(&room("!one:hs")).await.unwrap(), None, "the old room is released");

    store.set_management_room(&bob, &room("!two:hs")).await.unwrap();
    assert_eq!(store.management_room_owner(&room("!two:hs")).await.unwrap(), Some(bob.clone()));
    assert_eq!(store.management_room(&alice).await.unwrap(), None, "a room manages one user");
    store.set_management_room(&bob, &room("!two:hs")).await.unwrap();
    assert_eq!(store.management_room(&bob).await.unwrap(), Some(room("!two:hs")), "setting the same room again is harmless");
}

// ---- migrations ----

async fn test_reconnect_keeps_data_and_migrations_are_idempotent(db: TestDb) {
    bridged_portal(&db.store, "chat").await;
    db.store.record_transaction("t1", &events(&["a"])).await.unwrap();
    db.store.close().await;

    for _ in 0..2 {
        let again = Store::connect(&db.url, cipher()).await.unwrap();
        assert!(again.portal("chat", "").await.unwrap().is_some());
        assert!(!again.record_transaction("t1", &[]).await.unwrap(), "transaction ids survive a restart");
        assert_eq!(inbox_payloads(&again).await, ["a"]);
        let applied: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM _sqlx_migrations").fetch_one(again.pool()).await.unwrap().try_get("n").unwrap();
        assert_eq!(applied, again.dialect().migrator().iter().count() as i64, "each migration applied once");
        again.close().await;
    }
}
