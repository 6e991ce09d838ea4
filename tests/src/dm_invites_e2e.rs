//! DMs come from the person: a private message started on the remote side invites the
//! Matrix user **from the remote person's ghost**, marked `is_direct`, so the user's client
//! records a DM with that person (an appservice cannot write the user's `m.direct`; the
//! client does, from the direct invite's sender). The ghost made the room; the bot is in
//! it as a service member (`io.element.functional_members`) and the room has no name, so
//! clients name it after the person.
//!
//! IRC runs against the real Synapse and InspIRCd, XMPP against the real Prosody (the
//! XMPP user is a slixmpp client), the demo network is simulated; Telegram and WhatsApp
//! (simulated backends) are in `telegram_sim_e2e::dm_invites` and `whatsapp_sim_e2e::dm_invites`.

use std::time::Duration;

use irc::proto::Command;
use mxbridge_core::ids::{LoginId, PortalKey};
use mxbridge_core::network::content::Content;
use mxbridge_core::network::event::{RemoteEvent, Sender};
use mxbridge_demo::{LOGIN_CODE, dm_chat};
use mxbridge_irc::connection::{ConnectOptions, LineKind, connect, send_text};
use serde_json::{Value, json};

use crate::harness::invites::Invite;
use crate::harness::matrix_client::TestUser;
use crate::harness::xmpp_user::XmppUser;
use crate::irc_e2e::{irc_addr, next_join_of, shared_irc, user_in_channel};

const WAIT: Duration = Duration::from_secs(20);

/// Checks that `invite` is a DM from `ghost`, joins it, and checks the room the user is
/// then in: the invite event in its timeline (sender, `is_direct`), exactly the user, the
/// ghost and the bot as members, the bot as a service member, and no room name.
pub(crate) async fn accept_dm_from(user: &mut TestUser, invite: Invite, ghost: &str, bot: &str) -> String {
    assert_eq!(invite.sender, ghost, "the invite comes from the person's ghost, not the bot: {}", invite.state);
    assert!(invite.is_direct, "the invite is marked direct: {}", invite.state);
    let named = invite.state.as_array().into_iter().flatten().any(|ev| ev["type"] == "m.room.name" && ev["content"]["name"] != "");
    assert!(!named, "a DM has no room name, so clients name it after the person: {}", invite.state);
    let room = invite.room;
    user.join(&room).await;
    let invited = user.invite_event(&room, WAIT).await.expect("the invite is in the room's timeline");
    assert_eq!(invited["sender"], ghost, "the stored invite event is the ghost's: {invited}");
    assert_eq!(invited["content"]["is_direct"], true, "the stored invite is direct: {invited}");
    let mut expected = vec![user.user_id.clone(), ghost.to_owned(), bot.to_owned()];
    expected.sort();
    assert_eq!(user.joined_members(&room).await, expected, "the user, the person's ghost, and the bot");
    let functional = user.get_state(&room, "io.element.functional_members", "").await;
    assert_eq!(functional["service_members"], json!([bot]), "clients leave the bot out of the DM's name and 1:1 check");
    room
}

#[tokio::test]
async fn test_an_irc_users_private_message_invites_from_their_ghost_as_a_dm() {
    let config = shared_irc();
    let bot = config.bot_user_id.to_string();
    let channel = format!("#dminv{}", rand::random::<u32>());
    let (host, port) = irc_addr();
    let pal_nick = format!("dmpal{}", rand::random::<u32>() % 1_000_000);
    let mut pal = connect(&ConnectOptions::new(host, port, &pal_nick)).await.expect("the IRC user connects");
    pal.sender.send_join(&channel).unwrap();
    crate::irc_connection::next_matching(&mut pal.incoming, |m| matches!(&m.command, Command::JOIN(..))).await;

    // The guide: the Matrix user is connected (here by `join #channel` in the bot's DM);
    // the IRC user sends `/msg <their nick> ...`.
    let (mut user, _management, _portal) = user_in_channel("ircdminv", &channel).await;
    let puppet = next_join_of(&mut pal.incoming, "ircdminv").await;
    send_text(&pal.sender, &puppet, LineKind::Message, "hello from IRC").unwrap();

    let ghost = format!("@_irc_{}:{}", pal_nick.to_lowercase(), config.domain);
    let invite = user.wait_for_invite_info(WAIT, |_, _| true).await.expect("invited to a DM with the IRC user");
    let dm = accept_dm_from(&mut user, invite, &ghost, &bot).await;
    user.wait_for_event(&dm, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "hello from IRC")
        .await
        .expect("the private message is in the DM");
}

#[tokio::test]
async fn test_an_xmpp_users_message_invites_from_their_ghost_as_a_dm() {
    let config = crate::xmpp_e2e::shared_xmpp();
    let bot = config.bot_user_id.to_string();
    let mut dana = XmppUser::new_random("dana").await;
    let mut user = TestUser::register("xmppdminv").await;
    // The guide: the XMPP user writes to the Matrix user's XMPP address.
    dana.send(&format!("{}_localhost@matrix.localhost", user.localpart()), "chat", "hello from XMPP").await;

    let ghost = format!("@_xmpp_{}:{}", dana.jid.replace('@', "=40"), config.domain);
    let invite = user.wait_for_invite_info(WAIT, |_, _| true).await.expect("invited to a DM with the XMPP user");
    let dm = accept_dm_from(&mut user, invite, &ghost, &bot).await;
    user.wait_for_event(&dm, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "hello from XMPP")
        .await
        .expect("the message is in the DM");
}

/// A demo user with a management room and a login; returns the user, the room and the login.
async fn demo_login(prefix: &str) -> (TestUser, String, LoginId) {
    let bot = crate::demo_bridge::shared().1.bot_user_id.to_string();
    let mut user = TestUser::register(prefix).await;
    let room = user.create_dm(&bot).await;
    let from_bot = |needle: &'static str| {
        let bot = bot.clone();
        move |ev: &Value| ev["sender"] == bot.as_str() && ev["content"]["body"].as_str().is_some_and(|b| b.contains(needle))
    };
    user.wait_for_event(&room, WAIT, from_bot("management room")).await.expect("welcome");
    let name = format!("dminv{}", rand::random::<u32>());
    for (line, answer) in [("login", "user name"), (name.as_str(), "code"), (LOGIN_CODE, "Logged in as")] {
        user.send_text(&room, line).await;
        user.wait_for_event(&room, WAIT, from_bot(answer)).await.unwrap_or_else(|e| panic!("no {answer:?} after {line:?}: {e:?}"));
    }
    (user, room, LoginId::new(format!("demo:{name}")))
}

#[tokio::test]
async fn test_a_demo_contacts_message_and_pm_invite_from_the_contacts_ghost_sim() {
    let (handle, config) = crate::demo_bridge::shared();
    let bot = config.bot_user_id.to_string();
    let (mut user, room, login) = demo_login("demodminv").await;

    // A message from a contact opens a DM from them.
    let writer = format!("writer{}", rand::random::<u32>());
    let sent = handle.inject(
        &login,
        RemoteEvent::Message {
            chat: PortalKey::owned_by(dm_chat(&writer), &login),
            sender: Sender::named(writer.as_str(), "Writer"),
            id: handle.new_message_id(),
            timestamp_ms: None,
            content: Content::text("hello from the demo network"),
            reply_to: None,
        },
    );
    assert!(sent, "the login takes the event");
    let ghost = format!("@_demo_{writer}:{}", config.domain);
    let invite = user.wait_for_invite_info(WAIT, |_, _| true).await.expect("invited to the contact's DM");
    let dm = accept_dm_from(&mut user, invite, &ghost, &bot).await;
    // The ghost's invite of the bot is not a user asking the bot for a management room:
    // the bot says nothing there.
    let greeted =
        user.wait_for_event(&dm, Duration::from_secs(3), |ev| ev["sender"] == bot.as_str() && ev["type"] == "m.room.message").await;
    assert!(greeted.is_err(), "the bot stays quiet in a DM portal: {greeted:?}");

    // `pm <name>` opens one from the contact too.
    let other = format!("pmed{}", rand::random::<u32>());
    user.send_text(&room, &format!("pm {other}")).await;
    let ghost = format!("@_demo_{other}:{}", config.domain);
    let invite = user.wait_for_invite_info(WAIT, |_, _| true).await.expect("invited to the DM `pm` made");
    let dm = accept_dm_from(&mut user, invite, &ghost, &bot).await;

    // Asking again re-invites from the ghost as well, once the user left.
    user.leave(&dm).await;
    user.send_text(&room, &format!("pm {other}")).await;
    let again = user.wait_for_invite_info(WAIT, |r, _| r == dm).await.expect("invited again to the same DM");
    assert_eq!(again.sender, ghost, "the re-invite comes from the ghost: {}", again.state);
    assert!(again.is_direct, "the re-invite is direct: {}", again.state);
}
