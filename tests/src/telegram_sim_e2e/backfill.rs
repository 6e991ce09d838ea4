//! Telegram (simulated backend) e2e against the real Synapse: the portals a login opens show
//! the chats' last messages (in order, as the right ghosts, at their original times,
//! `bridge.backfill.initial_messages` of them) before live ones, replies to them reach
//! Telegram as replies, a message that opens its portal is not shown twice, and the bot
//! answers commands while the login is still making its portals.

use std::time::Instant;

use mxbridge_telegram::sim::history::{FIRST_SEEDED_ID, SEEDED_MESSAGES, seeded_text};

use super::*;

#[tokio::test]
async fn test_portals_open_with_the_chats_last_messages_then_live_ones_and_replies_reach_telegram_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start_with(&state_dir("tg-backfill"), |c| c.backfill_initial_messages = 5).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tgbackfill").await;
    let account = login(&mut user, &room, &bot, &random_phone()).await;
    let portals = join_portals(&mut user, 5).await;
    let echo_dm = room_with(&user, &portals, ECHO).await;

    let history = b.sim.history_of(account, Peer::User(ECHO));
    assert_eq!(history.len(), SEEDED_MESSAGES, "Echo's chat had its seeded past");
    let shown = &history[SEEDED_MESSAGES - 5..];
    let events = crate::harness::wait::wait_until(WAIT, Duration::from_millis(200), || {
        let events = user.room_messages(&echo_dm);
        async move { Some(events.await).filter(|e| e.len() >= 5) }
    })
    .await
    .expect("Echo's history in its portal");
    let bodies: Vec<&str> = events.iter().map(|ev| ev["content"]["body"].as_str().unwrap_or_default()).collect();
    let expected: Vec<String> = (SEEDED_MESSAGES - 4..=SEEDED_MESSAGES).map(|i| seeded_text("Echo", i)).collect();
    assert_eq!(bodies, expected, "the last five, oldest first, and no more");
    for (ev, m) in events.iter().zip(shown) {
        assert_eq!(ev["sender"], ghost(m.sender.id), "message {} as its sender's ghost", m.id);
        assert_eq!(ev["origin_server_ts"], m.date * 1000, "message {} at its original time", m.id);
    }
    assert!(shown.iter().any(|m| m.outgoing) && events.iter().any(|ev| ev["sender"] == ghost(account)), "the account's own too");

    // A live message comes after the history.
    b.sim.say(account, ECHO, Peer::User(ECHO), FormattedText::plain("live after the history")).expect("connected");
    user.wait_for_event(&echo_dm, WAIT, |ev| is_notice(ev, &ghost(ECHO), "live after the history")).await.expect("the live message");
    let last = user.room_messages(&echo_dm).await;
    assert_eq!(last.len(), 6, "{last:?}");
    assert_eq!(last[5]["content"]["body"], "live after the history");

    // A reply from Matrix to a backfilled message is a reply on Telegram.
    let target = &events[1];
    let content = json!({"msgtype": "m.text", "body": "about that", "m.relates_to": {"m.in_reply_to": {"event_id": target["event_id"]}}});
    user.send_content(&echo_dm, "m.room.message", content).await;
    let quoted = shown[1].id;
    assert_eq!(quoted, FIRST_SEEDED_ID + 4);
    wait_action(
        &b.sim,
        |a| matches!(a, SimAction::Sent { message, .. } if message.text.text == "about that" && message.reply_to == Some(quoted)),
    )
    .await;

    // A chat opened by `pm` (Carol's, too old for a portal at login) shows its history too.
    command(&mut user, &room, &bot, "pm +15550001004", "Created a chat with").await;
    let carol_dm = user.wait_for_invite(WAIT, |_, state| invite_is_direct(state)).await.expect("the invite to Carol's chat");
    user.join(&carol_dm).await;
    let carol_events = crate::harness::wait::wait_until(WAIT, Duration::from_millis(200), || {
        let events = user.room_messages(&carol_dm);
        async move { Some(events.await).filter(|e| e.len() >= 5) }
    })
    .await
    .expect("Carol's history in the chat `pm` opened");
    let bodies: Vec<&str> = carol_events.iter().map(|ev| ev["content"]["body"].as_str().unwrap_or_default()).collect();
    let expected: Vec<String> = (SEEDED_MESSAGES - 4..=SEEDED_MESSAGES).map(|i| seeded_text("Carol Sim", i)).collect();
    assert_eq!(bodies, expected);

    // The Greeter's message opened its portal, whose history holds that same message: once.
    let greeter = room_with(&user, &portals, GREETER).await;
    user.wait_for_event(&greeter, WAIT, |ev| is_notice(ev, &ghost(GREETER), "Welcome to the simulated")).await.expect("the greeting");
    let greetings = user.room_messages(&greeter).await;
    assert_eq!(greetings.len(), 1, "the greeting is shown once: {greetings:?}");
    b.bridge.stop().await;
}

/// Joins the next `n` portals the bridge invites to.
async fn join_portals(user: &mut TestUser, n: usize) -> Vec<String> {
    let mut rooms = Vec::new();
    for _ in 0..n {
        let room = user.wait_for_invite(WAIT, |_, _| true).await.expect("an invite to a portal");
        user.join(&room).await;
        rooms.push(room);
    }
    rooms
}

/// The one of `rooms` the person's ghost is in.
async fn room_with(user: &TestUser, rooms: &[String], person: i64) -> String {
    crate::harness::wait::wait_until(WAIT, Duration::from_millis(200), || async move {
        for room in rooms {
            if user.joined_members(room).await.contains(&ghost(person)) {
                return Some(room.clone());
            }
        }
        None
    })
    .await
    .unwrap_or_else(|_| panic!("no portal with {person} among {rooms:?}"))
}

#[tokio::test]
async fn test_commands_are_answered_while_the_login_makes_its_portals_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    const EXTRA: usize = 15;
    let b = start_with(&state_dir("tg-busy"), |c| c.backfill_initial_messages = 8).await;
    b.sim.add_recent_groups(EXTRA);
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tgbusy").await;
    login(&mut user, &room, &bot, &random_phone()).await;
    // `pm` makes a room of its own before it answers, so it gets a little more time; behind
    // the login's portals it took over 5 s.
    let commands = [
        ("list-logins", "Your logins", Duration::from_secs(2)),
        ("pm +4412345678", "Created a chat with", Duration::from_secs(3)),
        ("help", "`logout", Duration::from_secs(2)),
    ];
    for (line, answer, within) in commands {
        let asked = Instant::now();
        command(&mut user, &room, &bot, line, answer).await;
        let took = asked.elapsed();
        assert!(took < within, "`{line}` was answered after {took:?}, behind the login's portals");
    }
    // Echo, the group, the extra groups, two channels, the Greeter, and Bob's DM from `pm`.
    let total = EXTRA + 6;
    user.expect_portals_after_the_answers(total).await;
    b.bridge.stop().await;
}
