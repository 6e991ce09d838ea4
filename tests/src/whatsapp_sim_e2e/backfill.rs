//! After a login on the **simulated** WhatsApp, against the real Synapse: recent chats'
//! portals show their history sync's last messages (in order, as the right ghosts, at their
//! original times, `bridge.backfill.initial_messages` of them) before live ones, replies to
//! them reach WhatsApp as replies, and the bot answers commands while the login is still
//! making its portals.

use std::time::{Duration, Instant};

use mxbridge_whatsapp::SimAction;
use mxbridge_whatsapp::jid::Jid;
use mxbridge_whatsapp::sim::history::history_text;
use mxbridge_whatsapp::sim::world;
use serde_json::json;

use super::{WAIT, WaBridge, accept_dm, accept_invite, command, from_with, qr_login, user_with_dm, wait_action};

#[tokio::test]
async fn test_recent_chats_open_with_their_last_messages_then_live_ones_and_replies_reach_whatsapp_sim() {
    let wa = WaBridge::start_with(|c| {
        c.backfill_initial_messages = 4;
        c.network["simulated"]["history_messages"] = json!(6);
    })
    .await;
    let (mut user, room) = user_with_dm(&wa, "wahistory").await;
    let account = qr_login(&wa, &mut user, &room).await;
    let alice = wa.ghost(world::ALICE);
    let alice_dm = accept_dm(&mut user, &alice).await;
    user.wait_for_event(&alice_dm, WAIT, |ev| from_with(ev, &alice, world::ALICE_GREETING)).await.expect("Alice's live greeting");

    let history = wa.sim.history_of(&account, &Jid::user(world::ALICE));
    assert_eq!(history.len(), 6, "the simulated history sync carried six messages");
    let shown = &history[2..];
    let events = user.room_messages(&alice_dm).await;
    let bodies: Vec<&str> = events.iter().map(|ev| ev["content"]["body"].as_str().unwrap_or_default()).collect();
    let mut expected: Vec<String> = (3..=6).map(|i| history_text("Alice", i)).collect();
    expected.push(world::ALICE_GREETING.to_owned());
    assert_eq!(bodies, expected, "the last four, oldest first, then the live greeting");
    for (ev, m) in events.iter().zip(shown) {
        assert_eq!(ev["sender"], wa.ghost(&m.sender), "{} as its sender's ghost (the account's own as its ghost)", m.id);
        assert_eq!(ev["origin_server_ts"], m.timestamp_ms, "{} at its original time", m.id);
    }
    assert!(events[4]["origin_server_ts"].as_i64() > events[3]["origin_server_ts"].as_i64(), "the live message is newer");
    assert_eq!(events[0]["sender"], wa.ghost(&account), "the account's own message 3");

    // The group's portal has its history too, from its members' ghosts.
    let friends = accept_invite(&mut user, "Sim Friends").await;
    let group_history = wa.sim.history_of(&account, &Jid::group(world::FRIENDS_GROUP));
    let group_events = crate::harness::wait::wait_until(WAIT, Duration::from_millis(200), || {
        let events = user.room_messages(&friends);
        async move { Some(events.await).filter(|e| e.len() >= 4) }
    })
    .await
    .expect("the group's history");
    let senders: Vec<String> = group_events.iter().map(|ev| ev["sender"].as_str().unwrap_or_default().to_owned()).collect();
    let expected: Vec<String> = group_history[2..].iter().map(|m| wa.ghost(&m.sender)).collect();
    assert_eq!(senders, expected);

    // A reply from Matrix to a backfilled message is a reply on WhatsApp.
    let target = &events[1];
    let content = json!({
        "msgtype": "m.text",
        "body": "about that",
        "m.relates_to": {"m.in_reply_to": {"event_id": target["event_id"]}},
    });
    user.send_content(&alice_dm, "m.room.message", content).await;
    let quoted = shown[1].id.clone();
    wait_action(&wa.sim, "send the reply", |a| {
        matches!(a, SimAction::Sent { message, .. } if message.text.text == "about that" && message.reply_to.as_deref() == Some(quoted.as_str()))
    })
    .await;
    wa.bridge.stop().await;
}

#[tokio::test]
async fn test_backfill_off_opens_empty_portals_sim() {
    let wa = WaBridge::start_with(|c| c.backfill_initial_messages = 0).await;
    let (mut user, room) = user_with_dm(&wa, "wanohistory").await;
    qr_login(&wa, &mut user, &room).await;
    let alice = wa.ghost(world::ALICE);
    let alice_dm = accept_dm(&mut user, &alice).await;
    user.wait_for_event(&alice_dm, WAIT, |ev| from_with(ev, &alice, world::ALICE_GREETING)).await.expect("Alice's live greeting");
    let bodies: Vec<String> =
        user.room_messages(&alice_dm).await.iter().map(|ev| ev["content"]["body"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(bodies, [world::ALICE_GREETING], "no history with initial_messages: 0");
    wa.bridge.stop().await;
}

#[tokio::test]
async fn test_commands_are_answered_while_the_login_makes_its_portals_sim() {
    const EXTRA: u32 = 20;
    let wa = WaBridge::start_with(|c| {
        c.backfill_initial_messages = 10;
        c.network["simulated"]["history_messages"] = json!(10);
        c.network["simulated"]["extra_recent_chats"] = json!(EXTRA);
    })
    .await;
    let (mut user, room) = user_with_dm(&wa, "wabusy").await;
    qr_login(&wa, &mut user, &room).await;
    for (line, answer) in [("list contacts", "page 1 of 2"), ("list groups", "Your WhatsApp groups")] {
        let asked = Instant::now();
        command(&wa, &mut user, &room, line, answer).await;
        let took = asked.elapsed();
        assert!(took < Duration::from_secs(2), "`{line}` was answered after {took:?}, behind the login's portals");
    }
    // Alice's DM, "Sim Friends" and the extra DMs.
    let total = EXTRA as usize + 2;
    user.expect_portals_after_the_answers(total).await;
    wa.bridge.stop().await;
}
