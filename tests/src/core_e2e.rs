//! The core proven end to end: a real Synapse, a real Matrix user driving it over the
//! Client-Server API, and the bridge with the demo network (a simulation: these tests
//! prove the core, not any real network).

use std::time::Duration;

use mxbridge_core::ids::{LoginId, PortalKey};
use mxbridge_core::network::content::Content;
use mxbridge_core::network::event::{RemoteEvent, Sender};
use mxbridge_demo::{Action, DemoHandle, LOGIN_CODE, dm_chat};
use serde_json::{Value, json};

use crate::demo_bridge::shared;
use crate::harness::matrix_client::TestUser;

const WAIT: Duration = Duration::from_secs(20);

fn bot_id() -> String {
    shared().1.bot_user_id.to_string()
}

fn is_notice_from(ev: &Value, sender: &str, needle: &str) -> bool {
    ev["sender"] == sender && ev["type"] == "m.room.message" && ev["content"]["body"].as_str().is_some_and(|b| b.contains(needle))
}

/// A user with a management DM whose welcome message has arrived.
async fn user_with_management_room(prefix: &str) -> (TestUser, String) {
    shared();
    let mut user = TestUser::register(prefix).await;
    let room = user.create_dm(&bot_id()).await;
    let bot = bot_id();
    user.wait_for_event(&room, WAIT, |ev| is_notice_from(ev, &bot, "management room")).await.expect("the bot welcomes the user");
    (user, room)
}

/// Sends a command and waits for the bot's answer containing `needle`.
async fn command(user: &mut TestUser, room: &str, line: &str, needle: &str) -> Value {
    user.send_text(room, line).await;
    let bot = bot_id();
    user.wait_for_event(room, WAIT, |ev| is_notice_from(ev, &bot, needle))
        .await
        .unwrap_or_else(|e| panic!("no answer containing {needle:?} to {line:?}: {e:?}"))
}

/// Logs in with the password flow; returns the login id.
async fn login(user: &mut TestUser, room: &str, name: &str) -> LoginId {
    command(user, room, "login", "user name").await;
    command(user, room, name, "code").await;
    command(user, room, LOGIN_CODE, "Logged in as").await;
    LoginId::new(format!("demo:{name}"))
}

async fn wait_action(handle: &DemoHandle, pred: impl Fn(&Action) -> bool) -> Action {
    crate::harness::wait::wait_until(WAIT, Duration::from_millis(50), || {
        let found = handle.actions().into_iter().find(|a| pred(a));
        async move { found }
    })
    .await
    .expect("the network saw the action")
}

fn random_name(prefix: &str) -> String {
    format!("{prefix}{}", rand::random::<u32>())
}

#[tokio::test]
async fn test_management_room_help_and_unknown_command() {
    let (mut user, room) = user_with_management_room("helpuser").await;
    let help = command(&mut user, &room, "help", "login").await;
    let body = help["content"]["body"].as_str().unwrap();
    assert!(body.contains("`help`"), "{body}");
    assert!(!body.contains("delete-all-portals"), "admin commands are hidden from users: {body}");
    assert!(!body.contains("`pm "), "login-only commands are hidden before login: {body}");
    let unknown = command(&mut user, &room, "frobnicate now", "Unknown command").await;
    assert!(unknown["content"]["body"].as_str().unwrap().contains("`login"), "unknown commands answer with help");
}

/// The guides prefix every command with `!`, also in the DM with the bot; there the prefix
/// is optional, and answers name commands the way the user typed them.
#[tokio::test]
async fn test_management_room_takes_commands_with_and_without_the_prefix() {
    let (mut user, room) = user_with_management_room("prefixuser").await;
    let help = command(&mut user, &room, "!help", "login").await;
    let body = help["content"]["body"].as_str().unwrap();
    assert!(body.contains("`!help`") && body.contains("`!login"), "help typed with `!` lists `!` commands: {body}");
    let help = command(&mut user, &room, "help", "login").await;
    let body = help["content"]["body"].as_str().unwrap();
    assert!(body.contains("`help`") && !body.contains("`!help`"), "help typed without `!` lists bare commands: {body}");
    let unknown = command(&mut user, &room, "!frobnicate", "Unknown command").await;
    assert!(unknown["content"]["body"].as_str().unwrap().contains("Unknown command `!frobnicate`"), "{unknown}");
    let usage = command(&mut user, &room, "!cancel now", "usage").await;
    assert!(usage["content"]["body"].as_str().unwrap().contains("usage: `!cancel`"), "{usage}");

    // A whole login typed the guides' way, `!cancel` included.
    command(&mut user, &room, "!login", "user name").await;
    command(&mut user, &room, "!cancel", "Login cancelled").await;
    let name = random_name("bang");
    command(&mut user, &room, "!login", "user name").await;
    command(&mut user, &room, &name, "code").await;
    command(&mut user, &room, LOGIN_CODE, "Logged in as").await;
    let list = command(&mut user, &room, "!list-logins", "Your logins").await;
    assert!(list["content"]["body"].as_str().unwrap().contains(&name));
    command(&mut user, &room, "!list-contacts", "echo").await;
    command(&mut user, &room, "!logout", "Logged out").await;
    command(&mut user, &room, "list-logins", "no logins").await;
}

#[tokio::test]
async fn test_login_wrong_code_retry_cancel_and_list() {
    let (mut user, room) = user_with_management_room("loginuser").await;
    command(&mut user, &room, "login", "user name").await;
    command(&mut user, &room, "cancel", "Login cancelled").await;
    command(&mut user, &room, "cancel", "Nothing to cancel").await;

    let name = random_name("acct");
    command(&mut user, &room, "login", "user name").await;
    command(&mut user, &room, &name, "code").await;
    command(&mut user, &room, "000000", "wrong").await;
    let code_event = user.send_text(&room, LOGIN_CODE).await;
    user.wait_for_event(&room, WAIT, |ev| ev["content"]["body"].as_str().is_some_and(|b| b.contains("Logged in as"))).await.unwrap();
    // The code is a secret answer: the bot redacts the user's message with it.
    user.wait_for_event(&room, WAIT, |ev| {
        ev["type"] == "m.room.redaction" && (ev["redacts"] == code_event.as_str() || ev["content"]["redacts"] == code_event.as_str())
    })
    .await
    .expect("the message with the login code is redacted");
    let list = command(&mut user, &room, "list-logins", "Your logins").await;
    assert!(list["content"]["body"].as_str().unwrap().contains(&name));
    let help = command(&mut user, &room, "help", "pm").await;
    assert!(help["content"]["body"].as_str().unwrap().contains("list-contacts"), "network commands appear after login");
    command(&mut user, &room, "list-contacts", "echo").await;
    command(&mut user, &room, "logout", "Logged out").await;
    command(&mut user, &room, "list-logins", "no logins").await;
}

#[tokio::test]
async fn test_qr_login_shows_an_image_and_completes() {
    let (mut user, room) = user_with_management_room("qruser").await;
    let (handle, _) = shared();
    user.send_text(&room, "login qr").await;
    let bot = bot_id();
    let image =
        user.wait_for_event(&room, WAIT, |ev| ev["sender"] == bot && ev["content"]["msgtype"] == "m.image").await.expect("a QR image");
    assert!(image["content"]["url"].as_str().unwrap().starts_with("mxc://"));
    assert_eq!(image["content"]["info"]["mimetype"], "image/png");
    user.wait_for_event(&room, WAIT, |ev| is_notice_from(ev, &bot, "demo-login:")).await.expect("the QR text too");
    let account = random_name("qr");
    assert!(handle.scan_qr(&user.user_id, &account), "the login waits for a scan");
    user.wait_for_event(&room, WAIT, |ev| is_notice_from(ev, &bot, &format!("Logged in as `{account}`"))).await.expect("logged in");
}

#[tokio::test]
async fn test_dm_portal_messages_both_ways_with_edits_replies_reactions_redactions() {
    let (mut user, room) = user_with_management_room("dmuser").await;
    let (handle, _) = shared();
    let login_id = login(&mut user, &room, &random_name("dm")).await;

    user.send_text(&room, "pm echo").await;
    let portal = user.wait_for_invite(WAIT, |_room, _state| true).await.expect("an invite to the DM portal");
    user.join(&portal).await;
    let ghost = format!("@_demo_echo:{}", shared().1.domain);
    assert_eq!(user.display_name(&ghost).await.as_deref(), Some("Echo (Demo)"), "the ghost has the remote display name");

    // Matrix → network, and the echo contact answers as a reply.
    let hello = user.send_text(&portal, "hello there").await;
    let sent = wait_action(handle, |a| matches!(a, Action::Sent { content, .. } if content.body.to_plain() == "hello there")).await;
    let Action::Sent { id: hello_remote, login, .. } = sent else { unreachable!() };
    assert_eq!(login, login_id);
    let answer = user
        .wait_for_event(&portal, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "echo: hello there")
        .await
        .expect("the remote answer arrives as the ghost");
    assert_eq!(answer["content"]["m.relates_to"]["m.in_reply_to"]["event_id"], hello.as_str(), "remote replies become Matrix replies");
    let answer_id = answer["event_id"].as_str().unwrap().to_owned();

    // Formatted text arrives as rich text.
    user.send_content(
        &portal,
        "m.room.message",
        json!({"msgtype": "m.text", "body": "bold", "format": "org.matrix.custom.html", "formatted_body": "<b>bold</b> move"}),
    )
    .await;
    wait_action(
        handle,
        |a| matches!(a, Action::Sent { content, .. } if content.body.is_formatted() && content.body.to_plain() == "bold move"),
    )
    .await;

    // A Matrix reply carries the remote id of the message replied to.
    user.send_content(
        &portal,
        "m.room.message",
        json!({"msgtype": "m.text", "body": "replying", "m.relates_to": {"m.in_reply_to": {"event_id": answer_id}}}),
    )
    .await;
    wait_action(handle, |a| matches!(a, Action::Sent { content, reply_to: Some(_), .. } if content.body.to_plain() == "replying")).await;

    // Edit, reaction and redaction from Matrix reach the network with the right target.
    user.send_content(
        &portal,
        "m.room.message",
        json!({
            "msgtype": "m.text", "body": "* hello again",
            "m.new_content": {"msgtype": "m.text", "body": "hello again"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": hello},
        }),
    )
    .await;
    wait_action(
        handle,
        |a| matches!(a, Action::Edited { target, content } if *target == hello_remote && content.body.to_plain() == "hello again"),
    )
    .await;
    let reaction = user.react(&portal, &answer_id, "👍").await;
    wait_action(handle, |a| matches!(a, Action::Reacted { key, .. } if key == "👍")).await;
    user.redact(&portal, &reaction).await;
    wait_action(handle, |a| matches!(a, Action::Unreacted { key, .. } if key == "👍")).await;
    user.redact(&portal, &hello).await;
    wait_action(handle, |a| matches!(a, Action::Deleted { target } if *target == hello_remote)).await;

    // Network → Matrix: edit, reaction and deletion of the echo's message.
    let chat = PortalKey::owned_by(dm_chat("echo"), &login_id);
    let remote_answer = remote_id_of(&mut user, &portal, &answer_id, handle).await;
    handle.inject(
        &login_id,
        RemoteEvent::Edit {
            chat: chat.clone(),
            sender: Sender::named("echo", "Echo"),
            target: remote_answer.clone(),
            content: Content::text("echo: edited"),
        },
    );
    user.wait_for_event(&portal, WAIT, |ev| {
        ev["content"]["m.relates_to"]["rel_type"] == "m.replace"
            && ev["content"]["m.relates_to"]["event_id"] == answer_id.as_str()
            && ev["content"]["m.new_content"]["body"] == "echo: edited"
    })
    .await
    .expect("a remote edit becomes m.replace");
    handle.inject(
        &login_id,
        RemoteEvent::Reaction { chat: chat.clone(), sender: Sender::user("echo"), target: remote_answer.clone(), key: "🎉".into() },
    );
    user.wait_for_event(&portal, WAIT, |ev| {
        ev["type"] == "m.reaction" && ev["content"]["m.relates_to"]["key"] == "🎉" && ev["sender"] == ghost.as_str()
    })
    .await
    .expect("a remote reaction");
    handle.inject(&login_id, RemoteEvent::Deleted { chat: chat.clone(), sender: Sender::user("echo"), target: remote_answer });
    user.wait_for_event(&portal, WAIT, |ev| {
        ev["type"] == "m.room.redaction" && (ev["redacts"] == answer_id.as_str() || ev["content"]["redacts"] == answer_id.as_str())
    })
    .await
    .expect("a remote deletion redacts the event");
}

/// The remote id the bridge mapped a Matrix event to, read from the target of a probe
/// reaction (the demo network records reactions with their remote target).
async fn remote_id_of(user: &mut TestUser, room: &str, event_id: &str, handle: &DemoHandle) -> mxbridge_core::ids::RemoteMessageId {
    let key = format!("probe{}", rand::random::<u16>());
    user.react(room, event_id, &key).await;
    match wait_action(handle, |a| matches!(a, Action::Reacted { key: k, .. } if *k == key)).await {
        Action::Reacted { target, .. } => target,
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn test_undeliverable_message_is_reported_to_the_sender() {
    let (mut user, room) = user_with_management_room("failuser").await;
    login(&mut user, &room, &random_name("fail")).await;
    user.send_text(&room, "pm someone").await;
    let portal = user.wait_for_invite(WAIT, |_room, _state| true).await.expect("an invite");
    user.join(&portal).await;
    let failing = user.send_text(&portal, "please fail now").await;
    let bot = bot_id();
    let notice = user.wait_for_event(&portal, WAIT, |ev| is_notice_from(ev, &bot, "Not delivered")).await.expect("the sender is told");
    assert_eq!(notice["content"]["m.relates_to"]["m.in_reply_to"]["event_id"], failing.as_str());
    let unsupported =
        user.send_content(&portal, "m.room.message", json!({"msgtype": "m.location", "body": "here", "geo_uri": "geo:1,2"})).await;
    let notice =
        user.wait_for_event(&portal, WAIT, |ev| is_notice_from(ev, &bot, "m.location")).await.expect("unsupported kinds are reported");
    assert_eq!(notice["content"]["m.relates_to"]["m.in_reply_to"]["event_id"], unsupported.as_str());
}

#[tokio::test]
async fn test_remote_message_creates_portal_and_invites() {
    let (mut user, room) = user_with_management_room("remoteuser").await;
    let (handle, _) = shared();
    let login_id = login(&mut user, &room, &random_name("rm")).await;
    let chat = PortalKey::owned_by(dm_chat("carol"), &login_id);
    let id = handle.new_message_id();
    assert!(handle.inject(
        &login_id,
        RemoteEvent::Message {
            chat,
            sender: Sender::named("carol", "Carol"),
            id,
            timestamp_ms: Some(1_700_000_000_000),
            content: Content::text("hi from carol"),
            reply_to: None
        }
    ));
    let portal = user.wait_for_invite(WAIT, |_room, _state| true).await.expect("the user is invited to the new portal");
    user.join(&portal).await;
    let ev = user.wait_for_event(&portal, WAIT, |ev| ev["content"]["body"] == "hi from carol").await.expect("the message is in the portal");
    assert_eq!(ev["origin_server_ts"], 1_700_000_000_000i64, "the remote timestamp is kept");
    assert_eq!(ev["sender"], format!("@_demo_carol:{}", shared().1.domain));
}

#[tokio::test]
async fn test_alias_query_creates_a_joinable_portal() {
    // A login must exist for the bridge to ask the network about the chat.
    let (mut user, room) = user_with_management_room("aliasuser").await;
    login(&mut user, &room, &random_name("al")).await;
    let name = random_name("g");
    let alias = format!("#_demo_group=3a{name}:{}", shared().1.domain);
    let room = user.join(&alias).await;
    let ev = user.get_state(&room, "m.room.name", "").await;
    assert_eq!(ev["name"], format!("Demo group {name}"));
}

#[tokio::test]
async fn test_ghost_user_query_creates_the_ghost() {
    let config = &shared().1;
    let user = TestUser::register("queryuser").await;
    let name = random_name("nobody");
    let ghost = format!("@_demo_{name}:{}", config.domain);
    let query = |id: String| {
        let url = format!("http://{}:{}/_matrix/app/v1/users/{id}", config.listen.0, config.listen.1);
        let req = reqwest::Client::new().get(url).bearer_auth(config.hs_token.expose());
        async move { req.send().await.expect("the bridge answers").status() }
    };
    assert_eq!(query(ghost.clone()).await, reqwest::StatusCode::OK);
    assert_eq!(user.display_name(&ghost).await.as_deref(), Some(format!("{name} (Demo)").as_str()), "the ghost exists on Synapse");
    assert_eq!(query(format!("@_demo_:{}", config.domain)).await, reqwest::StatusCode::NOT_FOUND);
    assert_eq!(query(format!("@_demo_X:{}", config.domain)).await, reqwest::StatusCode::NOT_FOUND, "not a canonical escaping");
    assert_eq!(query(format!("@someone:{}", config.domain)).await, reqwest::StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn test_encrypted_management_room_gets_a_plain_notice() {
    shared();
    let mut user = TestUser::register("e2eeuser").await;
    let room = user.create_dm_encrypted(&bot_id()).await;
    let bot = bot_id();
    let ev = user
        .wait_for_event(&room, WAIT, |ev| is_notice_from(ev, &bot, "encrypted"))
        .await
        .expect("the bot explains instead of going silent");
    assert_eq!(ev["type"], "m.room.message", "the notice itself is not encrypted");
}

#[tokio::test]
async fn test_commands_outside_a_dm_ask_for_one() {
    let (mut user, _room) = user_with_management_room("groupuser").await;
    let group = user.create_room("not a dm", &[bot_id()]).await;
    let bot = bot_id();
    user.wait_for_event(&group, WAIT, |ev| is_notice_from(ev, &bot, "direct message")).await.expect("the bot joins and explains");
    user.send_text(&group, "!login").await;
    user.wait_for_event(&group, WAIT, |ev| is_notice_from(ev, &bot, "This needs a direct message")).await.expect("commands need a DM");
}

/// Posts a transaction straight to the bridge's appservice port.
async fn push_transaction(txn_id: &str, token: &str, body: &Value) -> reqwest::StatusCode {
    let config = &shared().1;
    let url = format!("http://{}:{}/_matrix/app/v1/transactions/{txn_id}", config.listen.0, config.listen.1);
    reqwest::Client::new().put(url).bearer_auth(token).json(body).send().await.expect("the bridge answers").status()
}

#[tokio::test]
async fn test_wrong_hs_token_is_refused_and_replayed_transactions_are_not_duplicated() {
    let (mut user, room) = user_with_management_room("txnuser").await;
    let (handle, config) = shared();
    login(&mut user, &room, &random_name("tx")).await;
    user.send_text(&room, "pm replay").await;
    let portal = user.wait_for_invite(WAIT, |_room, _state| true).await.expect("an invite");
    user.join(&portal).await;

    let marker = random_name("replayed");
    let event = json!({
        "type": "m.room.message", "room_id": portal, "sender": user.user_id, "event_id": format!("$fake{marker}"),
        "origin_server_ts": 1, "content": {"msgtype": "m.text", "body": marker},
    });
    let body = json!({"events": [event]});
    assert_eq!(push_transaction(&marker, "not-the-token", &body).await, reqwest::StatusCode::FORBIDDEN);
    let token = config.hs_token.expose().clone();
    assert_eq!(push_transaction(&marker, &token, &body).await, reqwest::StatusCode::OK);
    wait_action(handle, |a| matches!(a, Action::Sent { content, .. } if content.body.to_plain() == marker)).await;
    assert_eq!(push_transaction(&marker, &token, &body).await, reqwest::StatusCode::OK, "a replay is acknowledged");
    // Give a duplicate every chance to show up before counting.
    let probe = random_name("after");
    user.send_text(&portal, &probe).await;
    wait_action(handle, |a| matches!(a, Action::Sent { content, .. } if content.body.to_plain() == probe)).await;
    let count = handle.actions().iter().filter(|a| matches!(a, Action::Sent { content, .. } if content.body.to_plain() == marker)).count();
    assert_eq!(count, 1, "the replayed transaction was not processed twice");
}
