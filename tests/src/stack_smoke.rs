//! The test stack itself works: users on the real Synapse talk to each other through the
//! harness, waits see what arrived and give up when nothing does, PostgreSQL answers.
//! When these fail, the bridge tests' failures say nothing about the bridge.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::env;
use crate::harness::matrix_client::TestUser;

const WAIT: Duration = Duration::from_secs(15);

fn is_text(ev: &serde_json::Value, body: &str) -> bool {
    ev["type"] == "m.room.message" && ev["content"]["body"] == body
}

#[tokio::test]
async fn test_invited_user_joins_and_receives_a_message() {
    let mut alice = TestUser::register("alice").await;
    let mut bob = TestUser::register("bob").await;
    assert!(alice.user_id.ends_with(&format!(":{}", env::server_name())), "{}", alice.user_id);

    let room = alice.create_room("smoke", std::slice::from_ref(&bob.user_id)).await;
    let invited = bob.wait_for_invite(WAIT, |r, _| r == room).await.expect("bob is invited");
    assert_eq!(invited, room);
    assert_eq!(bob.join(&room).await, room);
    assert_eq!(alice.joined_members(&room).await, {
        let mut both = vec![alice.user_id.clone(), bob.user_id.clone()];
        both.sort();
        both
    });

    let sent = alice.send_text(&room, "hello bob").await;
    let got = bob.wait_for_event(&room, WAIT, |ev| is_text(ev, "hello bob")).await.expect("bob sees the message");
    assert_eq!(got["event_id"], sent.as_str());
    assert_eq!(got["sender"], alice.user_id.as_str());
}

#[tokio::test]
async fn test_waits_find_events_from_earlier_syncs_and_consume_them() {
    let mut alice = TestUser::register("alice").await;
    let mut bob = TestUser::register("bob").await;
    let room = alice.create_room("buffer", std::slice::from_ref(&bob.user_id)).await;
    bob.join(&room).await;
    bob.wait_for_membership(&room, "join", WAIT).await.expect("bob's sync has the room");

    // More events than one sync returns per room (100 in the harness), all sent before
    // bob syncs again: his next sync is "limited", and the gap is filled from /messages.
    const COUNT: usize = 120;
    for i in 0..COUNT {
        alice.send_text(&room, &format!("message {i}")).await;
    }
    let last = format!("message {}", COUNT - 1);
    bob.wait_for_event(&room, WAIT, |ev| is_text(ev, &last)).await.expect("the last one");
    // The others arrived in the same sync as the last one: a wait still finds them.
    for i in (0..COUNT - 1).rev() {
        let body = format!("message {i}");
        bob.wait_for_event(&room, WAIT, |ev| is_text(ev, &body)).await.unwrap_or_else(|e| panic!("{body}: {e:?}"));
    }
    // A wait consumes what it returns.
    assert!(bob.wait_for_event(&room, Duration::from_secs(2), |ev| is_text(ev, &last)).await.is_err());
}

#[tokio::test]
async fn test_wait_for_event_times_out_when_nothing_matches() {
    let mut alice = TestUser::register("alice").await;
    let room = alice.create_room("quiet", &[]).await;
    alice.send_text(&room, "not what the test waits for").await;

    let start = Instant::now();
    let got = alice.wait_for_event(&room, Duration::from_secs(3), |ev| ev["content"]["body"] == "never sent").await;
    let took = start.elapsed();
    let err = got.expect_err("nothing matches");
    assert!(took >= Duration::from_secs(3), "waited the whole timeout: {took:?}");
    assert!(took < Duration::from_secs(8), "gave up soon after the timeout: {took:?}");
    assert!(format!("{err:?}").contains("not what the test waits for"), "the error lists what was seen: {err:?}");

    let invite = alice.wait_for_invite(Duration::from_secs(2), |_, _| true).await;
    assert!(invite.is_err(), "no one invited alice");
}

#[tokio::test]
async fn test_alias_state_invite_leave_and_dm() {
    let alice = TestUser::register("alice").await;
    let mut bob = TestUser::register("bob").await;
    let localpart = format!("smoke_{:08x}", rand::random::<u32>());
    let alias = format!("#{localpart}:{}", env::server_name());
    let room = alice.create_room_with(json!({"name": "public smoke", "room_alias_name": localpart, "preset": "public_chat"})).await;

    assert_eq!(alice.resolve_alias(&alias).await.as_deref(), Some(room.as_str()));
    assert_eq!(alice.resolve_alias(&format!("#nothing_{localpart}:{}", env::server_name())).await, None);
    assert_eq!(alice.get_state(&room, "m.room.name", "").await["name"], "public smoke");
    assert!(alice.display_name(&alice.user_id).await.is_some(), "a new user has a display name");

    alice.invite(&room, &bob.user_id).await;
    bob.wait_for_invite(WAIT, |r, _| r == room).await.expect("invite");
    assert_eq!(bob.join(&alias).await, room, "joining by alias");
    bob.leave(&room).await;
    // bob's own leave is in his buffer although he is no longer in the room.
    bob.wait_for_membership(&room, "leave", WAIT).await.expect("bob's leave");
    assert_eq!(alice.joined_members(&room).await, vec![alice.user_id.clone()]);

    let dm = alice.create_dm_encrypted(&bob.user_id).await;
    assert_eq!(alice.get_state(&dm, "m.room.encryption", "").await["algorithm"], "m.megolm.v1.aes-sha2");
    let invite_state = bob.wait_for_invite(WAIT, |r, _| r == dm).await;
    assert_eq!(invite_state.expect("DM invite"), dm);
    let plain = alice.create_dm(&bob.user_id).await;
    assert_ne!(plain, dm);
}

#[tokio::test]
async fn test_postgres_and_stack_dir_are_there() {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&env::postgres_url()).await.expect("connect to MXBRIDGE_TEST_POSTGRES_URL");
    let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&mut conn).await.unwrap();
    assert_eq!(one, 1);
    conn.close().await.unwrap();

    let config = env::stack_dir().join("synapse/homeserver.yaml");
    assert!(config.is_file(), "{} is where scripts/start-synapse.sh writes it", config.display());
}

#[tokio::test]
async fn test_media_round_trip_and_login_again() {
    let alice = TestUser::register("alice").await;
    let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let mxc = alice.upload(data.clone(), "application/octet-stream").await;
    assert!(mxc.starts_with(&format!("mxc://{}/", env::server_name())), "{mxc}");
    assert_eq!(alice.download(&mxc).await, data);

    let localpart = format!("fixed_{:08x}", rand::random::<u32>());
    let first = TestUser::register_or_login(&localpart).await;
    let again = TestUser::register_or_login(&localpart).await;
    assert_eq!(first.user_id, again.user_id);
    assert_eq!(first.user_id, format!("@{localpart}:{}", env::server_name()));
}
