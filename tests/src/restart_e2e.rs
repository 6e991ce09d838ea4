//! A bridge restart keeps portals, logins and message mappings (real Synapse, demo network).

use std::time::Duration;

use mxbridge_demo::{Action, LOGIN_CODE};

use crate::demo_bridge::{RunningBridge, config, state_dir};
use crate::harness::matrix_client::TestUser;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn test_restart_keeps_portals_logins_and_message_mappings() {
    let dir = state_dir("restart");
    let bridge = RunningBridge::start(config("demo-restart", &dir)).await;
    let bot = bridge.config.bot_user_id.to_string();
    let notice = |needle: &'static str| {
        let bot = bot.clone();
        move |ev: &serde_json::Value| ev["sender"] == bot.as_str() && ev["content"]["body"].as_str().is_some_and(|b| b.contains(needle))
    };

    let mut user = TestUser::register("restartuser").await;
    let room = user.create_dm(&bot).await;
    user.wait_for_event(&room, WAIT, notice("management room")).await.expect("welcome");
    let account = format!("rs{}", rand::random::<u32>());
    for (line, needle) in [("login", "user name"), (account.as_str(), "code"), (LOGIN_CODE, "Logged in as")] {
        user.send_text(&room, line).await;
        user.wait_for_event(&room, WAIT, notice(needle)).await.unwrap_or_else(|e| panic!("{line}: {e:?}"));
    }
    user.send_text(&room, "pm echo").await;
    let portal = user.wait_for_invite(WAIT, |_room, _state| true).await.expect("invite");
    user.join(&portal).await;
    let before = user.send_text(&portal, "before restart").await;
    user.wait_for_event(&portal, WAIT, |ev| ev["content"]["body"] == "echo: before restart").await.expect("echo before restart");
    let before_remote = bridge
        .handle
        .actions()
        .into_iter()
        .find_map(|a| match a {
            Action::Sent { id, content, .. } if content.body.to_plain() == "before restart" => Some(id),
            _ => None,
        })
        .expect("sent before the restart");

    bridge.stop().await;
    let bridge = RunningBridge::start(config("demo-restart", &dir)).await;

    // The portal, the login and the echo contact all still work.
    user.send_text(&portal, "after restart").await;
    user.wait_for_event(&portal, WAIT, |ev| ev["content"]["body"] == "echo: after restart").await.expect("the portal survived the restart");
    // The message sent before the restart is still mapped: editing it reaches the network
    // with its original remote id.
    user.send_content(
        &portal,
        "m.room.message",
        serde_json::json!({
            "msgtype": "m.text", "body": "* edited after restart",
            "m.new_content": {"msgtype": "m.text", "body": "edited after restart"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": before},
        }),
    )
    .await;
    let edited = crate::harness::wait::wait_until(WAIT, Duration::from_millis(50), || {
        let found = bridge.handle.actions().into_iter().find_map(|a| match a {
            Action::Edited { target, .. } => Some(target),
            _ => None,
        });
        async move { found }
    })
    .await
    .expect("the edit reached the network");
    assert_eq!(edited, before_remote);
    user.send_text(&room, "list-logins").await;
    user.wait_for_event(&room, WAIT, notice("Your logins")).await.expect("the login was restored from the database");
    bridge.stop().await;
}
