//! `bridge.mappings` on XMPP, and MUC nicks from display names, end to end (issue 14, the
//! XMPP guide: "you'll be displayed in room member lists using your Matrix display name,
//! with a full username … like alice_example.com@matrix.xmpp.example.com"). The real
//! Synapse and Prosody; the bridge from `tests/fixtures/mappings.config.yaml` as the
//! component `matrix4.localhost`; XMPP users played by slixmpp.

use std::time::Duration;

use mxbridge_core::config::Config;
use mxbridge_xmpp::{XmppConfig, XmppNetwork};
use serde_json::json;

use crate::demo_bridge::{RunningBridge, config, network_section};
use crate::harness::matrix_client::TestUser;
use crate::harness::xmpp_user::{XmppUser, fresh_muc};
use crate::irc_mappings_e2e::{FIXTURE, bot_rooms, fresh_mapped_alias, mapping, wait_alias};

const WAIT: Duration = Duration::from_secs(20);
const COMPONENT: &str = "matrix4.localhost";

async fn start(config: &Config) -> RunningBridge {
    let xmpp: XmppConfig = serde_json::from_value(network_section(config)).expect("xmpp section");
    RunningBridge::start_with(config.clone(), XmppNetwork::new(xmpp), mxbridge_demo::DemoNetwork::new(Default::default()).1).await
}

#[tokio::test]
async fn test_mapped_muc_is_linked_at_start_and_the_muc_nick_is_the_display_name_and_follows_it() {
    let _turn = FIXTURE.lock().await;
    let n = rand::random::<u32>() % 100_000;
    let (room_name, muc) = fresh_muc("mapx");

    // An XMPP user in the MUC (its first occupant, so its owner, who sees real JIDs).
    let mut alice = XmppUser::new_random("alice").await;
    alice.join(&muc, "alice").await;

    let dir = crate::demo_bridge::state_dir("mappings-xmpp");
    let mut config = config("mappings", &dir);
    let alias = fresh_mapped_alias(&config, 1).await;
    config.network = json!({
        "type": "xmpp", "component": COMPONENT,
        "server": crate::harness::env::xmpp_component(), "secret": crate::harness::env::xmpp_component_secret(),
    });
    config.mappings = vec![mapping(0, &muc, &alias)];
    let bridge = start(&config).await;

    // The alias named no room: the bridge made one, linked to the MUC.
    let mut user = TestUser::register("zoe").await;
    let room = wait_alias(&user, &alias).await;
    let name = format!("Zoë Smith {n}");
    user.set_profile("displayname", &name).await;
    assert_eq!(user.join(&alias).await, room);

    // In the MUC the Matrix user is their display name; their JID is <localpart>_<server>@component.
    let occupant = format!("{muc}/{name}");
    let present = alice.wait_for("the Matrix user's presence", |e| e.event == "presence" && e.from == occupant).await;
    let jid = format!("{}_localhost@{COMPONENT}", user.localpart());
    assert!(present.xml.contains(&jid), "the MUC shows the JID {jid}: {}", present.xml);
    user.send_text(&room, "hello muc").await;
    let got = alice.wait_for("the Matrix message", |e| e.is_live_message() && e.body.as_deref() == Some("hello muc")).await;
    assert_eq!(got.from, occupant);
    alice.send(&muc, "groupchat", "hello zoë").await;
    let ghost = format!("@_map_{room_name}=40conference.localhost=2falice:localhost");
    user.wait_for_event(&room, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "hello zoë")
        .await
        .expect("XMPP → the mapped room");

    // A new display name is a nick change in the MUC (XEP-0045 status 303), not a leave.
    let renamed = format!("Zoë Renamed {n}");
    user.set_profile("displayname", &renamed).await;
    let gone = alice.wait_for("the old nick's unavailable presence", |e| e.event == "presence" && e.from == occupant).await;
    assert!(gone.kind == "unavailable" && gone.xml.contains("303") && gone.xml.contains(&renamed), "a nick change: {}", gone.xml);
    let new_occupant = format!("{muc}/{renamed}");
    alice.wait_for("the new nick's presence", |e| e.event == "presence" && e.from == new_occupant && e.kind.is_empty()).await;
    user.send_text(&room, "after the rename").await;
    let got = alice.wait_for("a message from the new nick", |e| e.is_live_message() && e.body.as_deref() == Some("after the rename")).await;
    assert_eq!(got.from, new_occupant);

    // A restart keeps the link: no second room, and the MUC still hears the room.
    let rooms_before = bot_rooms(&config).await;
    bridge.stop().await;
    let bridge = start(&config).await;
    assert_eq!(bot_rooms(&config).await, rooms_before, "no room was created again");
    assert_eq!(user.resolve_alias(&alias).await.as_deref(), Some(room.as_str()));
    user.send_text(&room, "after the restart").await;
    let got =
        alice.wait_for("a message after the restart", |e| e.is_live_message() && e.body.as_deref() == Some("after the restart")).await;
    assert_eq!(got.from, new_occupant, "the nick is kept across restarts");
    bridge.stop().await;
}
