//! The XMPP guide ("Using the Matrix XMPP Bridge as an End User") typed as written, against
//! the real Synapse and Prosody (the XMPP users are slixmpp clients). Only the guide's
//! example names change: `xmpp.example.com` is the test server `localhost`, `exampleroom`
//! a fresh MUC.

use std::time::Duration;

use crate::harness::matrix_client::TestUser;
use crate::harness::xmpp_user::{XmppUser, fresh_muc};
use crate::xmpp_e2e::shared_xmpp;

const WAIT: Duration = Duration::from_secs(20);

/// "simply send `/join #_xmpp_exampleroom_conference.xmpp.example.com:example.com` …
/// Once joined, … you can communicate with anyone else in the room", "you'll be displayed in
/// room member lists using your Matrix display name, with a full username … like
/// `alice_example.com@matrix.xmpp.example.com`", and XMPP users appear "following a format
/// like `@PREFIX_USERNAME=40XMPPSERVER:HOMESERVER`".
#[tokio::test]
async fn test_guide_join_an_xmpp_room_by_its_alias_and_talk() {
    let config = shared_xmpp();
    let (room, muc) = fresh_muc("exampleroom");
    // The MUC's first occupant owns it and sees the occupants' real JIDs.
    let mut alice = XmppUser::new_random("alice").await;
    alice.join(&muc, "alice").await;

    let mut user = TestUser::register("xmppguide").await;
    let name = format!("Guide Reader {}", rand::random::<u16>());
    user.set_profile("displayname", &name).await;
    let portal = user.join(&format!("#_xmpp_{room}_conference.localhost:{}", config.domain)).await;

    let occupant = format!("{muc}/{name}");
    let present = alice.wait_for("the Matrix user in the MUC's member list", |e| e.event == "presence" && e.from == occupant).await;
    let jid = format!("{}_localhost@matrix.localhost", user.localpart());
    assert!(present.xml.contains(&jid), "the full username is {jid}: {}", present.xml);

    user.send_text(&portal, "hello from the guide").await;
    let got = alice.wait_for("the Matrix message", |e| e.is_live_message() && e.body.as_deref() == Some("hello from the guide")).await;
    assert_eq!(got.from, occupant, "sent under the display name");

    alice.send(&muc, "groupchat", "hello reader").await;
    let ghost = format!("@_xmpp_{room}=40conference.localhost=2falice:{}", config.domain);
    user.wait_for_event(&portal, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "hello reader")
        .await
        .expect("the XMPP message arrives from the occupant's ghost");
}
