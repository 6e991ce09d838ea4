//! `bridge.mappings` on IRC end to end (issue 14, the end-user guide): "Your homeserver
//! administrators will have preconfigured bridging from specific IRC Channels to Matrix
//! Rooms … When you join a bridged room and send a message for the first time, you'll be
//! sent an invitation to a DM with your homeservers' IRC Bridge Bot … called IRC Bridge
//! status prepended with the IRC Network name … the initial message from the bridge bot
//! should confirm you connected successfully and the nick name in IRC you have connected
//! as." The real Synapse and InspIRCd; the bridge from `tests/fixtures/mappings.config.yaml`.

use std::time::Duration;

use mxbridge_core::config::{Config, MappedRoom, Mapping};
use mxbridge_irc::connection::{ConnectOptions, LineKind, connect, send_text};
use mxbridge_irc::{IrcConfig, IrcNetwork};
use ruma::{RoomAliasId, RoomId};
use serde_json::{Value, json};

use crate::demo_bridge::{RunningBridge, config, network_section};
use crate::harness::matrix_client::TestUser;
use crate::irc_e2e::{WAIT, irc_addr, next_privmsg, notice_from};

/// The mappings fixture has one registration, so its IRC and XMPP tests take turns.
pub(crate) static FIXTURE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A mapping as the config loader makes it from `{chat, room}`.
pub(crate) fn mapping(index: usize, chat: &str, room: &str) -> Mapping {
    let room = match room.starts_with('#') {
        true => MappedRoom::Alias(RoomAliasId::parse(room).expect("an alias")),
        false => MappedRoom::Id(RoomId::parse(room).expect("a room ID")),
    };
    Mapping { key: format!("bridge.mappings[{index}]"), chat: chat.to_owned(), network: None, room }
}

/// The rooms the bridge bot is in, as the appservice sees them.
pub(crate) async fn bot_rooms(config: &Config) -> Vec<String> {
    let bot = config.bot_user_id.as_str().replace('@', "%40").replace(':', "%3A");
    let url = format!("{}/_matrix/client/v3/joined_rooms?user_id={bot}", crate::harness::env::homeserver());
    let resp = reqwest::Client::new().get(&url).bearer_auth(config.as_token.expose()).send().await.expect("the homeserver answers");
    let v: Value = resp.json().await.expect("json");
    let mut rooms: Vec<String> =
        v["joined_rooms"].as_array().expect("joined_rooms").iter().filter_map(|r| r.as_str().map(Into::into)).collect();
    rooms.sort();
    rooms
}

/// The fixture's mapped alias number `index`, made free again for a new room: a run before
/// against the same homeserver left it on the room the bridge made then.
pub(crate) async fn fresh_mapped_alias(config: &Config, index: usize) -> String {
    let MappedRoom::Alias(alias) = &config.mappings[index].room else { panic!("the fixture maps an alias") };
    let alias = alias.as_str().to_owned();
    crate::harness::init();
    // As the appservice's own user, the bot, who made the room and its alias.
    let url =
        format!("{}/_matrix/client/v3/directory/room/{}", crate::harness::env::homeserver(), alias.replace('#', "%23").replace(':', "%3A"));
    let resp = reqwest::Client::new().delete(&url).bearer_auth(config.as_token.expose()).send().await.expect("the homeserver answers");
    assert!(resp.status().is_success() || resp.status() == reqwest::StatusCode::NOT_FOUND, "{alias} could not be freed: {}", resp.status());
    alias
}

/// Waits until an alias points at a room (the bridge links mappings as it starts).
pub(crate) async fn wait_alias(user: &TestUser, alias: &str) -> String {
    let found = crate::harness::wait::wait_until(WAIT, Duration::from_millis(200), || user.resolve_alias(alias)).await;
    found.unwrap_or_else(|_| panic!("{alias} points at a room"))
}

async fn start(config: &Config) -> RunningBridge {
    let irc: IrcConfig = serde_json::from_value(network_section(config)).expect("irc section");
    RunningBridge::start_with(config.clone(), IrcNetwork::new(irc), mxbridge_demo::DemoNetwork::new(Default::default()).1).await
}

#[tokio::test]
async fn test_mapped_channels_are_linked_at_start_and_a_newcomer_is_connected_with_a_status_dm() {
    let _turn = FIXTURE.lock().await;
    let n = rand::random::<u32>();
    let (welcome, lobby, closed) = (format!("#welcome{n}"), format!("#lobby{n}"), format!("#closed{n}"));
    let lobby_alias = format!("#mapped-lobby{n}:localhost");

    // An existing public room with an alias, and a private room the bot may not join.
    let mut admin = TestUser::register("mapadmin").await;
    let lobby_room = admin
        .create_room_with(json!({"name": "lobby", "preset": "public_chat", "room_alias_name": lobby_alias[1..].split(':').next().unwrap()}))
        .await;
    let closed_room = admin.create_room_with(json!({"name": "closed", "preset": "private_chat"})).await;

    // IRC users in the channels already.
    let (host, port) = irc_addr();
    let mut pal = connect(&ConnectOptions::new(host.clone(), port, format!("mpal{}", n % 1_000_000))).await.expect("connects");
    pal.sender.send_join(&welcome).unwrap();
    pal.sender.send_join(&lobby).unwrap();

    let dir = crate::demo_bridge::state_dir("mappings-irc");
    let mut config = config("mappings", &dir);
    let welcome_alias = fresh_mapped_alias(&config, 0).await;
    config.network["server"] = host.into();
    config.network["port"] = port.into();
    // The private room first: its failure must not stop the others.
    config.mappings = vec![mapping(0, &closed, &closed_room), mapping(1, &welcome, &welcome_alias), mapping(2, &lobby, &lobby_alias)];
    let bridge = start(&config).await;
    let bot = config.bot_user_id.to_string();

    // The alias that named no room now names a new public room; the existing room is joined.
    let mut user = TestUser::register("newcomer").await;
    let room = wait_alias(&user, &welcome_alias).await;
    let linked = format!("linked to `{lobby}`");
    let says_linked = |ev: &Value| ev["sender"] == bot.as_str() && ev["content"]["body"].as_str().is_some_and(|b| b.contains(&linked));
    admin.wait_for_event(&lobby_room, WAIT, says_linked).await.expect("the existing room is told it is linked");
    assert!(!admin.joined_members(&closed_room).await.contains(&bot), "the bot cannot join a private room it was not invited to");

    // The newcomer joins by the alias and speaks: IRC sees them as their display name + [m].
    user.set_profile("displayname", &format!("Newcomer {} 🎉", n % 100_000)).await;
    let nick = format!("Newcomer{}[m]", n % 100_000);
    assert_eq!(user.join(&welcome_alias).await, room);
    user.send_text(&room, "hello welcome").await;
    let (from, _) = next_privmsg(&mut pal.incoming, |_, t| t == "hello welcome").await;
    assert_eq!(from, nick);

    // The bot invites them to "<network> IRC Bridge status" and says which nick they have.
    let status = user.wait_for_invite(WAIT, |_, _| true).await.expect("invited to a status DM");
    user.join(&status).await;
    assert_eq!(user.get_state(&status, "m.room.name", "").await["name"], "mapnet IRC Bridge status");
    let hello = user.wait_for_event(&status, WAIT, notice_from(&bot, "Connected to IRC as")).await.expect("the connection is reported");
    assert!(hello["content"]["body"].as_str().unwrap().contains(&format!("`{nick}`")), "{hello}");

    // IRC → Matrix in both mapped rooms (the bot's own connection listens).
    let ghost = format!("@_map_mpal{}:localhost", n % 1_000_000);
    send_text(&pal.sender, &welcome, LineKind::Message, "hi newcomer").unwrap();
    user.wait_for_event(&room, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "hi newcomer")
        .await
        .expect("IRC → room");
    send_text(&pal.sender, &lobby, LineKind::Message, "hi lobby").unwrap();
    admin
        .wait_for_event(&lobby_room, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "hi lobby")
        .await
        .expect("IRC → lobby");

    // A restart keeps both links: no new room, the same alias, messages still flow.
    let rooms_before = bot_rooms(&config).await;
    assert!(rooms_before.contains(&room) && rooms_before.contains(&lobby_room) && !rooms_before.contains(&closed_room));
    bridge.stop().await;
    let bridge = start(&config).await;
    let again = admin.wait_for_event(&lobby_room, Duration::from_secs(3), notice_from(&bot, "linked to")).await;
    assert!(again.is_err(), "linked once only: {again:?}");
    assert_eq!(bot_rooms(&config).await, rooms_before, "no room was created or joined again");
    assert_eq!(user.resolve_alias(&welcome_alias).await.as_deref(), Some(room.as_str()));
    user.send_text(&room, "after the restart").await;
    let (from, _) = next_privmsg(&mut pal.incoming, |_, t| t == "after the restart").await;
    assert_eq!(from, nick);
    bridge.stop().await;
}
