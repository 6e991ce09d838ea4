//! Media both ways and the admin commands, against the real Synapse with the demo network.

use std::time::Duration;

use mxbridge_core::ids::{LoginId, PortalKey, RemoteChatId};
use mxbridge_core::network::content::{Content, Media, MediaKind, RichText};
use mxbridge_core::network::event::{RemoteEvent, Sender};
use mxbridge_demo::{Action, DemoHandle, LOGIN_CODE, dm_chat};
use serde_json::{Value, json};

use crate::demo_bridge::shared;
use crate::harness::matrix_client::TestUser;
use crate::harness::wait::wait_until;

const WAIT: Duration = Duration::from_secs(20);

fn bot() -> String {
    shared().1.bot_user_id.to_string()
}

fn notice(needle: &'static str) -> impl Fn(&Value) -> bool {
    let bot = bot();
    move |ev| ev["sender"] == bot.as_str() && ev["content"]["body"].as_str().is_some_and(|b| b.contains(needle))
}

async fn say(user: &mut TestUser, room: &str, line: &str, needle: &'static str) {
    user.send_text(room, line).await;
    user.wait_for_event(room, WAIT, notice(needle)).await.unwrap_or_else(|e| panic!("{line}: no answer with {needle:?}: {e:?}"));
}

async fn logged_in(user: &mut TestUser) -> (String, LoginId) {
    let room = user.create_dm(&bot()).await;
    user.wait_for_event(&room, WAIT, notice("management room")).await.expect("welcome");
    let name = format!("u{}", rand::random::<u32>());
    say(user, &room, "login", "user name").await;
    say(user, &room, &name, "code").await;
    say(user, &room, LOGIN_CODE, "Logged in as").await;
    (room, LoginId::new(format!("demo:{name}")))
}

async fn wait_action(handle: &DemoHandle, pred: impl Fn(&Action) -> bool) -> Action {
    wait_until(WAIT, Duration::from_millis(50), || {
        let found = handle.actions().into_iter().find(|a| pred(a));
        async move { found }
    })
    .await
    .expect("the network saw the action")
}

#[tokio::test]
async fn test_media_is_bridged_both_ways() {
    let (handle, config) = shared();
    let mut user = TestUser::register("mediauser").await;
    let (room, login) = logged_in(&mut user).await;
    say(&mut user, &room, "pm pics", "accept the invite").await;
    let portal = user.wait_for_invite(WAIT, |_, _| true).await.expect("invite");
    user.join(&portal).await;

    // Matrix → network: the bridge downloads the file with its own token (authenticated media).
    let bytes: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mxc = user.upload(bytes.clone(), "application/octet-stream").await;
    user.send_content(&portal, "m.room.message", json!({"msgtype": "m.file", "body": "data.bin", "filename": "data.bin", "url": mxc, "info": {"mimetype": "application/octet-stream"}})).await;
    let sent = wait_action(handle, |a| matches!(a, Action::Sent { content, .. } if content.media.is_some())).await;
    let Action::Sent { content, .. } = sent else { unreachable!() };
    let media = content.media.unwrap();
    assert_eq!(media.kind, MediaKind::File);
    assert_eq!(media.name, "data.bin");
    assert_eq!(media.data, bytes, "the network got the file's bytes");

    // Network → Matrix: the file is uploaded and sent as an image event.
    let (png, _) = mxbridge_core::qr::render_png("remote picture").unwrap();
    let chat = PortalKey::owned_by(dm_chat("pics"), &login);
    let content = Content::file(
        Media { kind: MediaKind::Image, name: "pic.png".into(), mime: Some("image/png".into()), data: png.clone(), url: None },
        RichText::plain("look at this"),
    );
    assert!(handle.inject(
        &login,
        RemoteEvent::Message {
            chat,
            sender: Sender::named("pics", "Pics"),
            id: handle.new_message_id(),
            timestamp_ms: None,
            content,
            reply_to: None
        }
    ));
    let ghost = format!("@_demo_pics:{}", config.domain);
    let ev = user
        .wait_for_event(&portal, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["msgtype"] == "m.image")
        .await
        .expect("an image from the ghost");
    assert_eq!(ev["content"]["body"], "look at this");
    assert_eq!(ev["content"]["info"]["mimetype"], "image/png");
    assert_eq!(user.download(ev["content"]["url"].as_str().unwrap()).await, png, "the same bytes arrive on Matrix");
}

#[tokio::test]
async fn test_admin_plumbs_relays_unlinks_and_deletes_portals() {
    let (handle, config) = shared();
    // The fixture config makes exactly this user an admin.
    let mut admin = TestUser::register_or_login("admin").await;
    let (mgmt, admin_login) = logged_in(&mut admin).await;

    // A non-admin is refused with a reason.
    let mut user = TestUser::register("plainuser").await;
    let plain_room = user.create_room("plain", &[bot()]).await;
    user.wait_for_event(&plain_room, WAIT, notice("direct message")).await.expect("bot joined");
    say(&mut user, &plain_room, "!plumb group:nope", "for bridge admins only").await;

    // plumb links an existing room; remote messages arrive there, Matrix messages relay out.
    let room = admin.create_room("plumbed", &[bot()]).await;
    admin.wait_for_event(&room, WAIT, notice("direct message")).await.expect("bot joined");
    let chat_name = format!("group:p{}", rand::random::<u32>());
    admin.send_text(&room, &format!("!plumb {chat_name}")).await;
    admin.wait_for_event(&room, WAIT, notice("Linked this room")).await.expect("linked");
    let chat = PortalKey::shared(RemoteChatId::new(chat_name.clone()));
    handle.inject(
        &admin_login,
        RemoteEvent::Message {
            chat: chat.clone(),
            sender: Sender::named("zed", "Zed"),
            id: handle.new_message_id(),
            timestamp_ms: None,
            content: Content::text("hello plumbed room"),
            reply_to: None,
        },
    );
    let ghost = format!("@_demo_zed:{}", config.domain);
    admin
        .wait_for_event(&room, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "hello plumbed room")
        .await
        .expect("remote message in the plumbed room");
    admin.send_text(&room, "from matrix").await;
    wait_action(
        handle,
        |a| matches!(a, Action::Sent { chat: c, content, .. } if c.as_str() == chat_name && content.body.to_plain() == "from matrix"),
    )
    .await;

    say(&mut admin, &room, "!unlink", "no longer linked").await;
    admin.send_text(&room, "after unlink").await;
    say(&mut admin, &room, "!version", "This needs a direct message").await;
    assert!(
        !handle.actions().iter().any(|a| matches!(a, Action::Sent { content, .. } if content.body.to_plain() == "after unlink")),
        "nothing is bridged after unlink"
    );

    // delete-portal removes the portal and kicks its users.
    admin.send_text(&mgmt, "pm doomed").await;
    let portal = admin.wait_for_invite(WAIT, |_, _| true).await.expect("invite");
    admin.join(&portal).await;
    say(&mut admin, &portal, "!delete-portal", "Deleting this portal").await;
    admin.wait_for_membership(&portal, "leave", WAIT).await.expect("the admin was removed from the deleted portal");
    admin.send_text(&mgmt, "pm doomed").await;
    let afresh = admin.wait_for_invite(WAIT, |_, _| true).await.expect("a deleted portal is created afresh");
    // The admin is the same user in every run against this Synapse: a pending invite would be
    // the first one the next run sees.
    admin.leave(&afresh).await;
}

#[tokio::test]
async fn test_a_user_deletes_their_own_portal_but_not_a_shared_one() {
    let (_, config) = shared();
    let mut user = TestUser::register("ownportals").await;
    let (mgmt, _login) = logged_in(&mut user).await;

    // A group everybody shares (by alias): only an admin may delete it.
    let shared_room = user.join(&format!("#_demo_group=3aown{}:{}", rand::random::<u32>(), config.domain)).await;
    say(&mut user, &shared_room, "!delete-portal", "Only a bridge admin can delete this portal").await;
    assert!(user.joined_members(&shared_room).await.contains(&user.user_id), "the shared portal stays");

    // A DM of the user's own login is theirs to delete.
    say(&mut user, &mgmt, &format!("pm mine{}", rand::random::<u32>()), "accept the invite").await;
    let own = user.wait_for_invite(WAIT, |_, _| true).await.expect("invite");
    user.join(&own).await;
    say(&mut user, &own, "!delete-portal", "Deleting this portal").await;
    user.wait_for_membership(&own, "leave", WAIT).await.expect("the user was removed from their deleted portal");
}
