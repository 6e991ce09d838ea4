//! The Telegram bridge end to end against a real Synapse, with the **simulated** Telegram
//! backend (`mxbridge_telegram::sim`): these tests prove the bridge logic the real backend
//! shares, not Telegram itself. All tests use the one fixture's port, so they run one at a
//! time, each with its own bridge and database.

use std::time::Duration;

use mxbridge_core::config::Config;
use mxbridge_telegram::backend::{FormattedText, Peer, TgMediaKind};
use mxbridge_telegram::entities::{Entity, EntityKind};
use mxbridge_telegram::sim::directory::{
    ALICE, BOB, CAROL, CHANNEL, ECHO, ECHO_LOCATION, GREETER, GROUP, LATE_CHANNEL, LATE_OWN_CHANNEL, OWN_CHANNEL, avatar_png,
};
use mxbridge_telegram::sim::{LOGIN_CODE, SimAction, SimHandle, TWO_FA_PASSWORD, TWO_FA_PHONE};
use mxbridge_telegram::{TelegramConfig, TelegramNetwork};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::demo_bridge::{RunningBridge, config, network_section, state_dir};
use crate::harness::matrix_client::TestUser;

const WAIT: Duration = Duration::from_secs(20);

/// The fixture's port is shared: one bridge at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

struct TgBridge {
    bridge: RunningBridge,
    sim: SimHandle,
}

async fn start(dir: &std::path::Path) -> TgBridge {
    let config: Config = config("telegram", dir);
    let raw: TelegramConfig = serde_json::from_value(network_section(&config)).expect("telegram network section");
    let (network, sim) = TelegramNetwork::from_config(raw).expect("a valid telegram section");
    let demo_handle = mxbridge_demo::DemoNetwork::new(Default::default()).1;
    let bridge = RunningBridge::start_with(config, network, demo_handle).await;
    TgBridge { bridge, sim: sim.expect("the simulated backend has a handle") }
}

fn bot(b: &TgBridge) -> String {
    b.bridge.config.bot_user_id.to_string()
}

fn ghost(id: i64) -> String {
    format!("@telegram_{id}:{}", crate::harness::env::server_name())
}

fn is_notice(ev: &Value, bot: &str, needle: &str) -> bool {
    ev["sender"] == bot && ev["type"] == "m.room.message" && ev["content"]["body"].as_str().is_some_and(|b| b.contains(needle))
}

/// Sends a line and waits for the bot's answer containing `needle`.
async fn command(user: &mut TestUser, room: &str, bot: &str, line: &str, needle: &str) -> Value {
    user.send_text(room, line).await;
    user.wait_for_event(room, WAIT, |ev| is_notice(ev, bot, needle)).await.unwrap_or_else(|e| panic!("no {needle:?} after {line:?}: {e:?}"))
}

async fn management_room(b: &TgBridge, prefix: &str) -> (TestUser, String) {
    let mut user = TestUser::register(prefix).await;
    let room = user.create_dm(&bot(b)).await;
    let bot = bot(b);
    user.wait_for_event(&room, WAIT, |ev| is_notice(ev, &bot, "management room")).await.expect("the bot welcomes the user");
    (user, room)
}

/// Logs in with a phone number that has no 2FA; returns the account's user id.
async fn login(user: &mut TestUser, room: &str, bot: &str, phone: &str) -> i64 {
    command(user, room, bot, "login", "phone number").await;
    command(user, room, bot, phone, "login code").await;
    command(user, room, bot, LOGIN_CODE, "Logged in as").await;
    SimHandle::account_id(phone)
}

fn random_phone() -> String {
    format!("+44{}", 70_000_000 + rand::random::<u32>() % 9_999_999)
}

/// The room name in an invite's stripped state (`Null` when it has none).
fn invite_name(state: &Value) -> Value {
    state
        .as_array()
        .and_then(|evs| evs.iter().find(|ev| ev["type"] == "m.room.name"))
        .map(|ev| ev["content"]["name"].clone())
        .unwrap_or(Value::Null)
}

/// Joins invites as they come until one room whose members and name satisfy `pred` is found.
async fn join_portal(user: &mut TestUser, what: &str, pred: impl Fn(&[String], &Value) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let name = std::cell::RefCell::new(Value::Null);
        let room = user
            .wait_for_invite(left, |_, state| {
                *name.borrow_mut() = invite_name(state);
                true
            })
            .await
            .unwrap_or_else(|e| panic!("no portal {what}: {e:?}"));
        user.join(&room).await;
        // The ghosts join right after the room is created, maybe after the user.
        let name = name.into_inner();
        let found = crate::harness::wait::wait_until(Duration::from_secs(3), Duration::from_millis(100), || {
            let members = user.joined_members(&room);
            let name = &name;
            let pred = &pred;
            async move { pred(&members.await, name).then_some(()) }
        })
        .await;
        if found.is_ok() {
            return room;
        }
    }
}

async fn wait_action(sim: &SimHandle, pred: impl Fn(&SimAction) -> bool) -> SimAction {
    crate::harness::wait::wait_until(WAIT, Duration::from_millis(50), || {
        let found = sim.actions().into_iter().find(|a| pred(a));
        async move { found }
    })
    .await
    .expect("the simulated Telegram saw the action")
}

#[tokio::test]
async fn test_login_reasks_wrong_number_and_code_then_2fa_cancel_and_fresh_login_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-login")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tglogin").await;
    command(&mut user, &room, &bot, "help", "`login").await;

    command(&mut user, &room, &bot, "login", "+4412345678").await;
    let again = command(&mut user, &room, &bot, "0712345678", "international format").await;
    assert!(again["content"]["body"].as_str().unwrap().contains("+4412345678"), "re-asks with an example: {again}");
    command(&mut user, &room, &bot, "cancel", "Login cancelled").await;

    // A fresh login starts over, at the phone number.
    command(&mut user, &room, &bot, "login", "phone number").await;
    command(&mut user, &room, &bot, TWO_FA_PHONE, "login code").await;
    command(&mut user, &room, &bot, "99999", "code is wrong").await;
    command(&mut user, &room, &bot, LOGIN_CODE, "two-step verification").await;
    let wrong = command(&mut user, &room, &bot, "not it", "password is wrong").await;
    assert!(wrong["content"]["body"].as_str().unwrap().contains("hint: a horse"), "{wrong}");
    let done = command(&mut user, &room, &bot, TWO_FA_PASSWORD, "Logged in as").await;
    assert!(done["content"]["body"].as_str().unwrap().contains("(+15550002222)"), "name and phone: {done}");
    command(&mut user, &room, &bot, "list-logins", "telegram:15550002222").await;
    let help = command(&mut user, &room, &bot, "help", "`login").await;
    let help = help["content"]["body"].as_str().unwrap();
    for listed in ["`logout", "`pm ", "`sync"] {
        assert!(help.contains(listed), "{listed} in {help}");
    }
    b.bridge.stop().await;
}

#[tokio::test]
async fn test_qr_login_completes_when_scanned_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-qr")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tgqr").await;
    user.send_text(&room, "login qr").await;
    // The QR code is an image whose caption is the code's text, for clients without images.
    user.wait_for_event(&room, WAIT, |ev| {
        ev["sender"] == bot.as_str()
            && ev["content"]["msgtype"] == "m.image"
            && ev["content"]["body"].as_str().is_some_and(|b| b.contains("tg://login?token="))
    })
    .await
    .expect("a QR image captioned with the code");
    let phone = random_phone();
    assert!(b.sim.scan_qr(user.user_id.as_str(), &phone), "a QR login waits for the scan");
    command(&mut user, &room, &bot, "", "Logged in as").await;
    b.bridge.stop().await;
}

#[tokio::test]
async fn test_qr_login_of_an_account_with_a_password_asks_for_it_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-qr-2fa")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tgqr2fa").await;
    user.send_text(&room, "login qr").await;
    user.wait_for_event(&room, WAIT, |ev| ev["sender"] == bot.as_str() && ev["content"]["msgtype"] == "m.image").await.expect("a QR code");
    assert!(b.sim.scan_qr(user.user_id.as_str(), TWO_FA_PHONE), "a QR login waits for the scan");
    user.wait_for_event(&room, WAIT, |ev| is_notice(ev, &bot, "two-step verification")).await.expect("the password is asked");
    command(&mut user, &room, &bot, "not it", "password is wrong").await;
    let done = command(&mut user, &room, &bot, TWO_FA_PASSWORD, "Logged in as").await;
    assert!(done["content"]["body"].as_str().unwrap().contains("+15550002222"), "{done}");
    command(&mut user, &room, &bot, "list-logins", "telegram:15550002222").await;
    b.bridge.stop().await;
}

#[tokio::test]
async fn test_login_opens_recent_chats_and_a_first_message_creates_its_portal_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-portals")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tgportals").await;
    let account = login(&mut user, &room, &bot, &random_phone()).await;

    // Five portals: Echo, the group and the two channels from the chat list, and the
    // Greeter's chat, which is not in the list: its first message creates the portal.
    let mut rooms = Vec::new();
    for _ in 0..5 {
        let name = std::cell::RefCell::new(Value::Null);
        let room = user
            .wait_for_invite(WAIT, |_, state| {
                *name.borrow_mut() = invite_name(state);
                true
            })
            .await
            .expect("an invite to a portal");
        user.join(&room).await;
        rooms.push((room, name.into_inner()));
    }
    let named = |n: &str| rooms.iter().find(|(_, name)| name == n).map(|(r, _)| r.clone()).unwrap_or_else(|| panic!("no {n}: {rooms:?}"));
    let (group, news, notes) = (named("Sim Group"), named("Sim News"), named("Sim Notes"));
    let dms: Vec<String> = rooms.iter().filter(|(_, name)| name.is_null()).map(|(r, _)| r.clone()).collect();
    assert_eq!(dms.len(), 2, "{rooms:?}");
    crate::harness::wait::wait_until(WAIT, Duration::from_millis(100), || {
        let members = user.joined_members(&group);
        async move {
            let members = members.await;
            [ALICE, BOB, CAROL].iter().all(|id| members.contains(&ghost(*id))).then_some(())
        }
    })
    .await
    .expect("Alice, Bob and Carol are ghosts in the group");
    assert_eq!(user.display_name(&ghost(ALICE)).await.as_deref(), Some("Alice Sim (Telegram)"));
    let levels = user.get_state(&group, "m.room.power_levels", "").await;
    assert_eq!(levels["users"][ghost(ALICE)], 95, "the group's admin is an admin: {levels}");
    let mut greeted = false;
    for dm in &dms {
        greeted |= user
            .wait_for_event(dm, Duration::from_secs(5), |ev| {
                ev["sender"] == ghost(1005).as_str()
                    && ev["content"]["body"].as_str().is_some_and(|b| b.starts_with("Welcome to the simulated"))
            })
            .await
            .is_ok();
    }
    assert!(greeted, "the greeting arrived in its own portal");
    // Channels are read-only: only moderators and up (the channel's admins) may post, and the
    // channel's posts arrive from its admin's ghost.
    let levels = user.get_state(&news, "m.room.power_levels", "").await;
    let own_level = levels["users"][user.user_id.as_str()].as_i64().unwrap_or(levels["users_default"].as_i64().unwrap_or(0));
    assert_eq!(levels["events_default"], 50, "{levels}");
    assert!(own_level < 50, "the user cannot post in the channel: {levels}");
    assert_eq!(levels["users"][ghost(CAROL)], 95, "the channel's admin can: {levels}");
    let (status, _) = user.try_send_text(&news, "can I post?").await;
    assert_eq!(status, 403, "the homeserver refuses the user's post");
    // In a channel the account owns, the user is an admin and posts.
    user.wait_power_level(&notes, &user.user_id, 95).await;
    let (status, body) = user.try_send_text(&notes, "my own post").await;
    assert_eq!(status, 200, "the owner posts in their channel: {body}");
    wait_action(
        &b.sim,
        |a| matches!(a, SimAction::Sent { peer, message, .. } if *peer == OWN_CHANNEL && message.text.text == "my own post"),
    )
    .await;
    b.sim.say(account, CAROL, CHANNEL, FormattedText::plain("news of the day")).expect("delivered");
    user.wait_for_event(&news, WAIT, |ev| ev["sender"] == ghost(CAROL).as_str() && ev["content"]["body"] == "news of the day")
        .await
        .expect("the channel's post");
    // Carol's chat is 90 days old: left out by the 30-day limit.
    assert!(user.wait_for_invite(Duration::from_secs(2), |_, _| true).await.is_err(), "no portal for the old chat");

    // Group members speak: Bob answers, and Alice writes on her own.
    user.send_text(&group, "hello group").await;
    user.wait_for_event(&group, WAIT, |ev| ev["sender"] == ghost(BOB).as_str() && ev["content"]["body"] == "Bob got: hello group")
        .await
        .expect("Bob answers in the group");
    b.sim.say(account, ALICE, GROUP, FormattedText::plain("hi from Alice")).expect("delivered");
    user.wait_for_event(&group, WAIT, |ev| ev["sender"] == ghost(ALICE).as_str() && ev["content"]["body"] == "hi from Alice")
        .await
        .expect("Alice's message");

    // An @username mention (Telegram's usual kind) becomes a pill of the user's ghost; a
    // username nobody has stays text.
    let mention = |offset, length| Entity { kind: EntityKind::Mention, offset, length };
    let text = FormattedText { text: "@sim_bob and @sim_nobody, look".into(), entities: vec![mention(0, 8), mention(13, 11)] };
    b.sim.say(account, ALICE, GROUP, text).expect("delivered");
    let pill = user
        .wait_for_event(&group, WAIT, |ev| {
            ev["sender"] == ghost(ALICE).as_str() && ev["content"]["body"] == "@sim_bob and @sim_nobody, look"
        })
        .await
        .expect("Alice's mention");
    let html = pill["content"]["formatted_body"].as_str().unwrap_or_default();
    assert!(html.contains(&format!("<a href=\"https://matrix.to/#/{}\">@sim_bob</a>", ghost(BOB))), "a pill of Bob's ghost: {pill}");
    assert!(!html.contains("sim_nobody</a>"), "no pill for an unknown username: {html}");
    b.bridge.stop().await;
}

#[tokio::test]
async fn test_contacts_are_ghosts_with_their_names_and_pictures_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-contacts")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tgcontacts").await;
    // Ghosts outlive a test's bridge on the shared Synapse: this bridge (with its own
    // database) uploads each picture anew, so its avatars are the ones that replace these.
    let contacts = [(ECHO, "Echo"), (ALICE, "Alice Sim"), (BOB, "Bob Sim"), (CAROL, "Carol Sim"), (GREETER, "Greeter")];
    let mut earlier = Vec::new();
    for (id, _) in contacts {
        earlier.push(user.avatar_url(&ghost(id)).await);
    }
    login(&mut user, &room, &bot, &random_phone()).await;

    // Every contact's ghost gets the contact's name and picture, read back through
    // Synapse's profile API: the picture's bytes are the contact's own.
    let mut avatars = Vec::new();
    for ((id, name), earlier) in contacts.into_iter().zip(&earlier) {
        let ghost_id = ghost(id);
        let avatar = crate::harness::wait::wait_until(WAIT, Duration::from_millis(100), || {
            let url = user.avatar_url(&ghost_id);
            async move { url.await.filter(|u| Some(u) != earlier.as_ref()) }
        })
        .await
        .unwrap_or_else(|e| panic!("{name}'s ghost has no avatar: {e:?}"));
        assert_eq!(user.display_name(&ghost(id)).await, Some(format!("{name} (Telegram)")));
        assert_eq!(user.download(&avatar).await, avatar_png(id).unwrap(), "{name}'s picture");
        avatars.push(avatar);
    }
    assert!(avatars.iter().enumerate().all(|(i, a)| !avatars[i + 1..].contains(a)), "one picture per contact: {avatars:?}");

    // `sync` refreshes the contacts; pictures that did not change are not uploaded again.
    command(&mut user, &room, &bot, "sync", "pictures of 5 contacts").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for ((id, name), before) in contacts.iter().zip(&avatars) {
        assert_eq!(user.avatar_url(&ghost(*id)).await.as_ref(), Some(before), "{name}'s avatar is unchanged");
    }
    b.bridge.stop().await;
}

#[tokio::test]
async fn test_channels_opened_by_their_first_post_get_the_rights_of_those_opened_at_login_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-late-channels")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tglatechan").await;
    let account = login(&mut user, &room, &bot, &random_phone()).await;
    user.wait_for_event(&room, WAIT, |ev| is_notice(ev, &bot, "Connected to Telegram")).await.expect("connected");

    // A channel the user only reads: its first post creates a read-only portal.
    b.sim.say(account, CAROL, LATE_CHANNEL, FormattedText::plain("first alert")).expect("delivered");
    let alerts = join_portal(&mut user, "Sim Alerts", |_, name| name == "Sim Alerts").await;
    user.wait_for_event(&alerts, WAIT, |ev| ev["sender"] == ghost(CAROL).as_str() && ev["content"]["body"] == "first alert")
        .await
        .expect("the post that opened the portal");
    let levels = user.get_state(&alerts, "m.room.power_levels", "").await;
    assert_eq!(levels["events_default"], 50, "read-only: {levels}");
    let own_level = levels["users"][user.user_id.as_str()].as_i64().unwrap_or(levels["users_default"].as_i64().unwrap_or(0));
    assert!(own_level < 50, "the user cannot post: {levels}");
    let (status, _) = user.try_send_text(&alerts, "can I post?").await;
    assert_eq!(status, 403, "the homeserver refuses the user's post");

    // A channel the account is an admin of: its first post creates a portal where the user posts.
    b.sim.say(account, ALICE, LATE_OWN_CHANNEL, FormattedText::plain("first draft")).expect("delivered");
    let drafts = join_portal(&mut user, "Sim Drafts", |_, name| name == "Sim Drafts").await;
    user.wait_for_event(&drafts, WAIT, |ev| ev["sender"] == ghost(ALICE).as_str() && ev["content"]["body"] == "first draft")
        .await
        .expect("the post that opened the portal");
    let levels = user.get_state(&drafts, "m.room.power_levels", "").await;
    assert_eq!(levels["events_default"], 50, "a channel stays read-only for everyone else: {levels}");
    user.wait_power_level(&drafts, &user.user_id, 95).await;
    let (status, body) = user.try_send_text(&drafts, "my draft").await;
    assert_eq!(status, 200, "an admin posts in the channel: {body}");
    wait_action(
        &b.sim,
        |a| matches!(a, SimAction::Sent { peer, message, .. } if *peer == LATE_OWN_CHANNEL && message.text.text == "my draft"),
    )
    .await;
    b.bridge.stop().await;
}

#[tokio::test]
async fn test_echo_contact_both_ways_with_formatting_replies_edits_reactions_deletions_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-echo")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tgecho").await;
    let account = login(&mut user, &room, &bot, &random_phone()).await;
    let echo = join_portal(&mut user, "with Echo", |m, _| m.contains(&ghost(ECHO))).await;
    let echo_ghost = ghost(ECHO);

    // Matrix HTML with a pill becomes Telegram entities with a mention by id (UTF-16 offsets).
    let html = format!("😀 <b>bold</b> for <a href=\"https://matrix.to/#/{}\">Alice</a>", ghost(ALICE));
    let hello = user
        .send_content(
            &echo,
            "m.room.message",
            json!({"msgtype": "m.text", "body": "😀 bold for Alice", "format": "org.matrix.custom.html", "formatted_body": html}),
        )
        .await;
    let sent = wait_action(&b.sim, |a| matches!(a, SimAction::Sent { peer: Peer::User(ECHO), .. })).await;
    let SimAction::Sent { account: from, id: hello_remote, message, .. } = sent else { unreachable!() };
    assert_eq!(from, account);
    assert_eq!(message.text.text, "😀 bold for Alice");
    let kinds: Vec<(EntityKind, u32, u32)> = message.text.entities.iter().map(|e| (e.kind.clone(), e.offset, e.length)).collect();
    assert_eq!(kinds, vec![(EntityKind::Bold, 3, 4), (EntityKind::MentionName(ALICE), 12, 5)]);

    // Echo answers as a reply, with the same formatting shifted behind "echo: ".
    let answer = user
        .wait_for_event(&echo, WAIT, |ev| ev["sender"] == echo_ghost.as_str() && ev["content"]["body"] == "echo: 😀 bold for Alice")
        .await
        .expect("Echo answers");
    assert_eq!(answer["content"]["m.relates_to"]["m.in_reply_to"]["event_id"], hello.as_str());
    let formatted = answer["content"]["formatted_body"].as_str().unwrap_or_default();
    assert!(formatted.contains("<strong>bold</strong>") || formatted.contains("<b>bold</b>"), "{formatted}");
    assert!(formatted.contains(&format!("https://matrix.to/#/{}", ghost(ALICE))), "the mention is a pill again: {formatted}");
    let answer_id = answer["event_id"].as_str().unwrap().to_owned();

    // A Matrix reply, edit, reaction and redaction reach Telegram with the right ids.
    user.send_content(
        &echo,
        "m.room.message",
        json!({"msgtype": "m.text", "body": "replying", "m.relates_to": {"m.in_reply_to": {"event_id": answer_id}}}),
    )
    .await;
    wait_action(&b.sim, |a| matches!(a, SimAction::Sent { message, .. } if message.text.text == "replying" && message.reply_to.is_some()))
        .await;
    user.send_content(
        &echo,
        "m.room.message",
        json!({"msgtype": "m.text", "body": "* hi again", "m.new_content": {"msgtype": "m.text", "body": "hi again"}, "m.relates_to": {"rel_type": "m.replace", "event_id": hello}}),
    )
    .await;
    wait_action(&b.sim, |a| matches!(a, SimAction::Edited { id, text, .. } if *id == hello_remote && text.text == "hi again")).await;
    let reaction = user.react(&echo, &answer_id, "👍").await;
    wait_action(&b.sim, |a| matches!(a, SimAction::Reacted { emoji: Some(e), .. } if e == "👍")).await;
    user.redact(&echo, &reaction).await;
    wait_action(&b.sim, |a| matches!(a, SimAction::Reacted { emoji: None, .. })).await;
    user.redact(&echo, &hello).await;
    wait_action(&b.sim, |a| matches!(a, SimAction::Deleted { ids, .. } if ids == &vec![hello_remote])).await;

    // Request words: Echo edits its answer, reacts to the message, deletes its answer.
    let asking = user.send_text(&echo, "please edit please react").await;
    let answer = user
        .wait_for_event(&echo, WAIT, |ev| ev["sender"] == echo_ghost.as_str() && ev["content"]["body"] == "echo: please edit please react")
        .await
        .expect("Echo answers");
    let answer_id = answer["event_id"].as_str().unwrap().to_owned();
    user.wait_for_event(&echo, WAIT, |ev| {
        ev["type"] == "m.reaction" && ev["sender"] == echo_ghost.as_str() && ev["content"]["m.relates_to"]["event_id"] == asking.as_str()
    })
    .await
    .expect("Echo's reaction on the user's message");
    user.wait_for_event(&echo, WAIT, |ev| {
        ev["content"]["m.relates_to"]["rel_type"] == "m.replace"
            && ev["content"]["m.relates_to"]["event_id"] == answer_id.as_str()
            && ev["content"]["m.new_content"]["body"] == "echo (edited): please edit please react"
    })
    .await
    .expect("Echo's edit");
    user.send_text(&echo, "please delete").await;
    let answer = user
        .wait_for_event(&echo, WAIT, |ev| ev["sender"] == echo_ghost.as_str() && ev["content"]["body"] == "echo: please delete")
        .await
        .expect("Echo answers");
    let answer_id = answer["event_id"].as_str().unwrap().to_owned();
    user.wait_for_event(&echo, WAIT, |ev| {
        ev["type"] == "m.room.redaction" && (ev["redacts"] == answer_id.as_str() || ev["content"]["redacts"] == answer_id.as_str())
    })
    .await
    .expect("Echo's deletion redacts its answer");

    // Media: a picture goes to Telegram as a photo and comes back from Echo as an image.
    let png = vec![0x89, b'P', b'N', b'G', 1, 2, 3, 4];
    let mxc = user.upload(png.clone(), "image/png").await;
    user.send_content(
        &echo,
        "m.room.message",
        json!({"msgtype": "m.image", "body": "cat.png", "url": mxc, "info": {"mimetype": "image/png"}}),
    )
    .await;
    wait_action(&b.sim, |a| matches!(a, SimAction::Sent { message, .. } if message.media.as_ref().is_some_and(|m| m.data == png))).await;
    let image = user
        .wait_for_event(&echo, WAIT, |ev| ev["sender"] == echo_ghost.as_str() && ev["content"]["msgtype"] == "m.image")
        .await
        .expect("Echo sends the picture back");
    assert_eq!(user.download(image["content"]["url"].as_str().unwrap()).await, png);
    b.bridge.stop().await;
}

/// Whether a synced `m.typing` event shows exactly these of `who` typing.
fn typing_are(ev: &Value, who: &[&str], typing: &[bool]) -> bool {
    let Some(ids) = ev["content"]["user_ids"].as_array().filter(|_| ev["type"] == "m.typing") else { return false };
    who.iter().zip(typing).all(|(w, t)| ids.iter().any(|i| i == *w) == *t)
}

#[tokio::test]
async fn test_read_receipts_and_typing_both_ways_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-receipts")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tgreceipts").await;
    login(&mut user, &room, &bot, &random_phone()).await;
    let echo = join_portal(&mut user, "with Echo", |m, _| m.contains(&ghost(ECHO))).await;
    let echo_ghost = ghost(ECHO);

    // Telegram → Matrix: Echo reads the message (its ghost's read receipt) before answering.
    let hello = user.send_text(&echo, "did you read this?").await;
    user.wait_for_event(&echo, WAIT, |ev| {
        ev["type"] == "m.receipt" && ev["content"][hello.as_str()]["m.read"][echo_ghost.as_str()].is_object()
    })
    .await
    .expect("Echo's read receipt on the user's message");
    let answer = user
        .wait_for_event(&echo, WAIT, |ev| ev["sender"] == echo_ghost.as_str() && ev["content"]["body"] == "echo: did you read this?")
        .await
        .expect("Echo answers");

    // Matrix → Telegram: the user's receipt on Echo's answer marks the chat read up to it.
    let answer_remote = b.sim.said_by(ECHO).last().map(|m| m.id).expect("Echo's answer on the simulated side");
    user.send_receipt(&echo, answer["event_id"].as_str().unwrap()).await;
    wait_action(&b.sim, |a| *a == SimAction::Read { peer: Peer::User(ECHO), up_to: answer_remote }).await;

    // Typing both ways: the user's typing reaches Telegram, and Echo types while the user
    // does (Echo also types a moment before each answer, but never together with the user).
    let me = user.user_id.clone();
    user.set_typing(&echo, true).await;
    wait_action(&b.sim, |a| *a == SimAction::Typing { peer: Peer::User(ECHO), typing: true }).await;
    user.wait_for_event(&echo, WAIT, |ev| typing_are(ev, &[&echo_ghost, &me], &[true, true])).await.expect("Echo's ghost types too");
    while user.wait_for_event(&echo, Duration::from_millis(500), |ev| ev["type"] == "m.typing").await.is_ok() {}
    user.set_typing(&echo, false).await;
    wait_action(&b.sim, |a| *a == SimAction::Typing { peer: Peer::User(ECHO), typing: false }).await;
    user.wait_for_event(&echo, WAIT, |ev| typing_are(ev, &[&echo_ghost, &me], &[false, false]))
        .await
        .expect("Echo's ghost stops typing with the user");
    b.bridge.stop().await;
}

#[tokio::test]
async fn test_voice_video_sticker_file_and_location_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-media")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tgmedia").await;
    login(&mut user, &room, &bot, &random_phone()).await;
    let echo = join_portal(&mut user, "with Echo", |m, _| m.contains(&ghost(ECHO))).await;
    let echo_ghost = ghost(ECHO);

    // Each Matrix file kind goes to Telegram as its Telegram kind, and Echo's copy comes back
    // as the Matrix kind it started as (a sticker as an image).
    let files = [
        ("m.audio", "voice.ogg", "audio/ogg", TgMediaKind::Voice),
        ("m.video", "clip.mp4", "video/mp4", TgMediaKind::Video),
        ("m.image", "sticker.webp", "image/webp", TgMediaKind::Sticker),
        ("m.file", "notes.pdf", "application/pdf", TgMediaKind::Document),
    ];
    for (i, (msgtype, name, mime, kind)) in files.into_iter().enumerate() {
        let data = format!("{name} bytes {i}").into_bytes();
        let mxc = user.upload(data.clone(), mime).await;
        user.send_content(&echo, "m.room.message", json!({"msgtype": msgtype, "body": name, "url": mxc, "info": {"mimetype": mime}})).await;
        let sent =
            wait_action(&b.sim, |a| matches!(a, SimAction::Sent { message, .. } if message.media.as_ref().is_some_and(|m| m.data == data)))
                .await;
        let SimAction::Sent { message, .. } = sent else { unreachable!() };
        let file = message.media.expect("a file");
        assert_eq!((file.kind, file.mime.as_str(), file.name.as_str()), (kind, mime, name), "{msgtype} to Telegram");
        let back = user
            .wait_for_event(&echo, WAIT, |ev| ev["sender"] == echo_ghost.as_str() && ev["content"]["info"]["mimetype"] == mime)
            .await
            .unwrap_or_else(|e| panic!("Echo sends the {msgtype} back: {e:?}"));
        assert_eq!(back["content"]["msgtype"], msgtype, "{back}");
        assert_eq!(user.download(back["content"]["url"].as_str().unwrap()).await, data);
    }

    // A location shared on Telegram arrives as a real m.location with the point's geo URI.
    user.send_text(&echo, "please share location").await;
    let (lat, lon) = ECHO_LOCATION;
    let shared = user
        .wait_for_event(&echo, WAIT, |ev| ev["sender"] == echo_ghost.as_str() && ev["content"]["msgtype"] == "m.location")
        .await
        .expect("Echo's location");
    assert_eq!(shared["content"]["geo_uri"], format!("geo:{lat},{lon}"), "{shared}");
    assert_eq!(shared["content"]["body"], format!("Location: {lat}, {lon}"), "a text for clients without maps: {shared}");

    // A Matrix location goes to Telegram as a map pin (Echo shares it back, as a location).
    let pin = user
        .send_content(
            &echo,
            "m.room.message",
            json!({"msgtype": "m.location", "body": "Location at the Eiffel Tower", "geo_uri": "geo:48.8584,2.2945;u=20"}),
        )
        .await;
    wait_action(
        &b.sim,
        |a| matches!(a, SimAction::Sent { message, .. } if message.location == Some((48.8584, 2.2945)) && message.text.text.is_empty()),
    )
    .await;
    let back = user
        .wait_for_event(&echo, WAIT, |ev| {
            ev["sender"] == echo_ghost.as_str()
                && ev["content"]["msgtype"] == "m.location"
                && ev["content"]["geo_uri"] == "geo:48.8584,2.2945"
        })
        .await
        .expect("Echo shares the location back");
    assert_eq!(back["content"]["m.relates_to"]["m.in_reply_to"]["event_id"], pin.as_str(), "as a reply to the user's pin");
    b.bridge.stop().await;
}

#[tokio::test]
async fn test_pm_known_number_username_and_unknown_number_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-pm")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tgpm").await;
    login(&mut user, &room, &bot, &random_phone()).await;
    command(&mut user, &room, &bot, "pm +15550001002", "Created a chat").await;
    join_portal(&mut user, "with Alice", |m, name| name.is_null() && m.contains(&ghost(ALICE))).await;
    command(&mut user, &room, &bot, "pm @sim_carol", "Created a chat").await;
    join_portal(&mut user, "with Carol", |m, name| name.is_null() && m.contains(&ghost(CAROL))).await;
    command(&mut user, &room, &bot, "pm +15559999999", "is not on Telegram").await;
    command(&mut user, &room, &bot, "pm x", "neither a phone number").await;
    command(&mut user, &room, &bot, "pm @nobody_here", "no Telegram user").await;
    b.bridge.stop().await;
}

#[tokio::test]
async fn test_a_flood_wait_holds_messages_and_sends_them_in_order_after_it_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-flood")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tgflood").await;
    let account = login(&mut user, &room, &bot, &random_phone()).await;
    let echo = join_portal(&mut user, "with Echo", |m, _| m.contains(&ghost(ECHO))).await;

    // Telegram answers the next call with FLOOD_WAIT_3: the message waits 3 s and is sent
    // again, and the one after it queues behind the wait instead of being dropped.
    b.sim.flood_next(account, 3);
    let started = tokio::time::Instant::now();
    user.send_text(&echo, "first after the flood wait").await;
    user.send_text(&echo, "second after the flood wait").await;
    wait_action(&b.sim, |a| matches!(a, SimAction::Sent { message, .. } if message.text.text == "second after the flood wait")).await;
    assert!(started.elapsed() >= Duration::from_secs(3), "sent only after the wait: {:?}", started.elapsed());
    let sent: Vec<String> = b
        .sim
        .actions()
        .into_iter()
        .filter_map(|a| match a {
            SimAction::Sent { peer: Peer::User(ECHO), message, .. } => Some(message.text.text),
            _ => None,
        })
        .collect();
    assert_eq!(sent, vec!["first after the flood wait", "second after the flood wait"], "both sent once, in order");
    user.wait_for_event(&echo, WAIT, |ev| ev["content"]["body"] == "echo: first after the flood wait").await.expect("Echo answers");
    b.bridge.stop().await;
}

#[tokio::test]
async fn test_delete_all_portals_removes_the_rooms_and_a_new_message_opens_a_new_one_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-delete")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tgdelete").await;
    let account = login(&mut user, &room, &bot, &random_phone()).await;
    // The four chats of the chat list and the Greeter's.
    let mut portals = Vec::new();
    for _ in 0..5 {
        let portal = user.wait_for_invite(WAIT, |_, _| true).await.expect("an invite to a portal");
        user.join(&portal).await;
        portals.push(portal);
    }
    let echo = crate::harness::wait::wait_until(WAIT, Duration::from_millis(200), || {
        let user = &user;
        let portals = &portals;
        async move {
            for portal in portals {
                if user.joined_members(portal).await.contains(&ghost(ECHO)) {
                    return Some(portal.clone());
                }
            }
            None
        }
    })
    .await
    .expect("Echo's portal is among them");

    command(&mut user, &room, &bot, "delete-all-portals", "Deleted 5 portals").await;
    for portal in &portals {
        user.wait_for_membership(portal, "leave", WAIT).await.unwrap_or_else(|e| panic!("the user is removed from {portal}: {e:?}"));
    }
    // The chat lives on in Telegram: its next message opens a new portal.
    b.sim.say(account, ECHO, Peer::User(ECHO), FormattedText::plain("still here")).expect("delivered");
    let again = join_portal(&mut user, "with Echo again", |m, _| m.contains(&ghost(ECHO))).await;
    assert_ne!(again, echo, "a new room");
    user.wait_for_event(&again, WAIT, |ev| ev["content"]["body"] == "still here").await.expect("the message in the new portal");
    b.bridge.stop().await;
}

#[tokio::test]
async fn test_logout_ends_the_session_and_a_new_login_works_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-logout")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tglogout").await;
    let phone = random_phone();
    let account = login(&mut user, &room, &bot, &phone).await;
    command(&mut user, &room, &bot, "logout", "Logged out").await;
    wait_action(&b.sim, |a| *a == SimAction::LoggedOut { account }).await;
    assert!(!b.sim.is_connected(account));
    command(&mut user, &room, &bot, "list-logins", "You have no logins").await;
    command(&mut user, &room, &bot, "sync", "needs you to be logged in").await;
    login(&mut user, &room, &bot, &phone).await;
    command(&mut user, &room, &bot, "sync", "Synced 4 recent chats").await;
    b.bridge.stop().await;
}

#[tokio::test]
async fn test_restart_restores_the_login_without_a_new_login_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = state_dir("tg-restart");
    let b = start(&dir).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tgrestart").await;
    let account = login(&mut user, &room, &bot, &random_phone()).await;
    let echo = join_portal(&mut user, "with Echo", |m, _| m.contains(&ghost(ECHO))).await;
    b.bridge.stop().await;

    // A new bridge process: a new simulated Telegram, the session comes from the store.
    let b = start(&dir).await;
    crate::harness::wait::wait_until(WAIT, Duration::from_millis(50), || {
        let up = b.sim.is_connected(account);
        async move { up.then_some(()) }
    })
    .await
    .expect("the stored session connects by itself");
    user.send_text(&echo, "after restart").await;
    user.wait_for_event(&echo, WAIT, |ev| ev["content"]["body"] == "echo: after restart").await.expect("the portal and login survived");
    command(&mut user, &room, &bot, "list-logins", "connected").await;
    b.bridge.stop().await;
}

#[tokio::test]
async fn test_disconnect_revoked_session_and_calls_are_shown_to_the_user_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-faults")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tgfaults").await;
    let account = login(&mut user, &room, &bot, &random_phone()).await;
    user.wait_for_event(&room, WAIT, |ev| is_notice(ev, &bot, "Connected to Telegram")).await.expect("first connection");

    // A disconnect that outlasts the notice delay (2 s in the fixture) is shown, and so is the reconnect.
    assert!(b.sim.drop_connection(account, Duration::from_secs(4)));
    user.wait_for_event(&room, WAIT, |ev| is_notice(ev, &bot, "Lost the connection")).await.expect("the disconnect is shown");
    user.wait_for_event(&room, WAIT, |ev| is_notice(ev, &bot, "Connected to Telegram")).await.expect("the reconnect is shown");

    // A call: the user is told once.
    assert!(b.sim.call(account, ALICE, 77));
    assert!(b.sim.call(account, ALICE, 77));
    let alice = join_portal(&mut user, "with Alice", |m, name| name.is_null() && m.contains(&ghost(ALICE))).await;
    user.wait_for_event(&alice, WAIT, |ev| ev["content"]["body"].as_str().is_some_and(|b| b.contains("Calls are not bridged")))
        .await
        .expect("the call notice");
    user.send_text(&alice, "marker").await;
    user.wait_for_event(&alice, WAIT, |ev| ev["content"]["body"] == "marker").await.expect("own message");
    assert!(
        user.wait_for_event(&alice, Duration::from_secs(1), |ev| ev["content"]["body"]
            .as_str()
            .is_some_and(|b| b.contains("Calls are not bridged")))
            .await
            .is_err(),
        "told only once per call"
    );

    // A session terminated from another device: the user is asked to log in again.
    assert!(b.sim.revoke(account));
    user.wait_for_event(&room, WAIT, |ev| is_notice(ev, &bot, "was logged out")).await.expect("the revoked session is shown");
    b.bridge.stop().await;
}
