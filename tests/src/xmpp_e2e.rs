//! The XMPP bridge end to end: Matrix users on the real Synapse, the bridge as a component
//! of the real Prosody, XMPP users played by slixmpp.

use std::sync::OnceLock;
use std::time::Duration;

use mxbridge_core::config::Config;
use mxbridge_xmpp::{XmppConfig, XmppNetwork};

use crate::demo_bridge::{RunningBridge, config, network_section, run_forever, state_dir};
use crate::harness::matrix_client::TestUser;
use crate::harness::xmpp_user::{XmppUser, fresh_muc};

const WAIT: Duration = Duration::from_secs(20);

/// One XMPP bridge for all tests here (its port is fixed by the registration).
pub(crate) fn shared_xmpp() -> &'static Config {
    static SHARED: OnceLock<Config> = OnceLock::new();
    SHARED.get_or_init(|| {
        run_forever(|| async {
            let mut config = config("xmpp", &state_dir("xmpp"));
            config.network["server"] = crate::harness::env::xmpp_component().into();
            config.network["secret"] = crate::harness::env::xmpp_component_secret().into();
            let xmpp: XmppConfig = serde_json::from_value(network_section(&config)).expect("xmpp section");
            let bridge =
                RunningBridge::start_with(config, XmppNetwork::new(xmpp), mxbridge_demo::DemoNetwork::new(Default::default()).1).await;
            (bridge.config.clone(), bridge)
        })
    })
}

#[tokio::test]
async fn test_muc_by_alias_and_text_both_ways() {
    let config = shared_xmpp();
    let (room, muc) = fresh_muc("mxb");
    let mut alice = XmppUser::new_random("alice").await;
    alice.join(&muc, "alice").await;

    // The alias names the MUC; joining it puts the Matrix user in the MUC.
    let mut user = TestUser::register("xmppuser").await;
    let portal = user.join(&format!("#_xmpp_{room}=40conference.localhost:{}", config.domain)).await;
    let nick = user.localpart();
    alice.wait_for("the Matrix user's presence in the MUC", |e| e.event == "presence" && e.from == format!("{muc}/{nick}")).await;

    // Matrix → XMPP, from the user's own JID on the component.
    user.send_text(&portal, "hello from matrix").await;
    let got = alice.wait_for("the Matrix message", |e| e.is_live_message() && e.body.as_deref() == Some("hello from matrix")).await;
    assert_eq!(got.from, format!("{muc}/{nick}"));

    // XMPP → Matrix, as the occupant's ghost.
    let alice_msg = alice.send(&muc, "groupchat", "hello from xmpp").await;
    let echo = alice.wait_for("alice's own message back", |e| e.is_live_message() && e.id == alice_msg).await;
    let alice_muc_id = crate::harness::xmpp_user::muc_stanza_id(&echo.xml, &muc);
    let ghost = format!("@_xmpp_{room}=40conference.localhost=2falice:{}", config.domain);
    let original = user
        .wait_for_event(&portal, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "hello from xmpp")
        .await
        .expect("the XMPP message arrives from the occupant's ghost");

    // XEP-0308 corrections ⇄ Matrix edits.
    let matrix_msg = user.send_text(&portal, "typo from matrx").await;
    let first = alice.wait_for("the line to correct", |e| e.is_live_message() && e.body.as_deref() == Some("typo from matrx")).await;
    let edit = serde_json::json!({
        "msgtype": "m.text", "body": "* typo from matrix",
        "m.new_content": {"msgtype": "m.text", "body": "typo from matrix"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": matrix_msg},
    });
    user.send_content(&portal, "m.room.message", edit).await;
    let corrected = alice.wait_for("the correction", |e| e.is_live_message() && e.body.as_deref() == Some("typo from matrix")).await;
    assert!(corrected.xml.contains("urn:xmpp:message-correct:0") && corrected.xml.contains(&first.id), "{}", corrected.xml);
    let correction = format!(
        "<message to='{muc}' type='groupchat' id='fix1'><body>hello from xmpp, corrected</body><replace xmlns='urn:xmpp:message-correct:0' id='{alice_msg}'/></message>"
    );
    alice.send_raw(&correction).await;
    let original_id = original["event_id"].as_str().unwrap().to_owned();
    user.wait_for_event(&portal, WAIT, |ev| {
        ev["sender"] == ghost.as_str()
            && ev["content"]["m.relates_to"]["rel_type"] == "m.replace"
            && ev["content"]["m.relates_to"]["event_id"] == original_id.as_str()
            && ev["content"]["m.new_content"]["body"] == "hello from xmpp, corrected"
    })
    .await
    .expect("the XMPP correction is a Matrix edit");

    // XEP-0461 replies from Matrix; XEP-0424 retractions both ways.
    let reply = serde_json::json!({"msgtype": "m.text", "body": "answering", "m.relates_to": {"m.in_reply_to": {"event_id": original_id}}});
    user.send_content(&portal, "m.room.message", reply).await;
    let answered = alice.wait_for("the reply", |e| e.is_live_message() && e.body.as_deref() == Some("answering")).await;
    // In a MUC the answer names the MUC's id of the message (XEP-0461).
    assert!(answered.xml.contains("urn:xmpp:reply:0") && answered.xml.contains(&alice_muc_id), "{}", answered.xml);
    user.redact(&portal, &matrix_msg).await;
    let retracted = alice.wait_for("the retraction", |e| e.event == "message" && e.xml.contains("urn:xmpp:message-retract:1")).await;
    assert!(retracted.xml.contains(&first.id), "{}", retracted.xml);
    let retract = format!(
        "<message to='{muc}' type='groupchat' id='rt1'><retract xmlns='urn:xmpp:message-retract:1' id='{alice_msg}'/><body>retracted</body></message>"
    );
    alice.send_raw(&retract).await;
    user.wait_for_event(&portal, WAIT, |ev| {
        ev["type"] == "m.room.redaction" && (ev["redacts"] == original_id.as_str() || ev["content"]["redacts"] == original_id.as_str())
    })
    .await
    .expect("the XMPP retraction redacts the Matrix copy");

    // XEP-0444 reactions both ways.
    let alice_msg2 = alice.send(&muc, "groupchat", "react to this").await;
    let to_react =
        user.wait_for_event(&portal, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "react to this").await.unwrap();
    user.react(&portal, to_react["event_id"].as_str().unwrap(), "👍").await;
    let reaction = alice.wait_for("the reaction", |e| e.event == "message" && e.xml.contains("urn:xmpp:reactions:0")).await;
    assert!(reaction.xml.contains(&alice_msg2) && reaction.xml.contains("👍"), "{}", reaction.xml);
    let react_back = format!(
        "<message to='{muc}' type='groupchat' id='re1'><reactions xmlns='urn:xmpp:reactions:0' id='{}'><reaction>🎉</reaction></reactions></message>",
        answered.id
    );
    alice.send_raw(&react_back).await;
    user.wait_for_event(&portal, WAIT, |ev| {
        ev["type"] == "m.reaction" && ev["sender"] == ghost.as_str() && ev["content"]["m.relates_to"]["key"] == "🎉"
    })
    .await
    .expect("the XMPP reaction arrives");

    // Files: Matrix media reach XMPP as XEP-0066 links that work; a file an XMPP user shares
    // by link arrives in Matrix as the file itself.
    let png = b"\x89PNG\r\n\x1a\nnot really a picture".to_vec();
    let mxc = user.upload(png.clone(), "image/png").await;
    user.send_content(&portal, "m.room.message", serde_json::json!({"msgtype": "m.image", "body": "pic.png", "url": mxc})).await;
    let shared = alice.wait_for("the file link", |e| e.event == "message" && e.xml.contains("jabber:x:oob")).await;
    let url = shared.body.clone().expect("the link is the body");
    let fetched = reqwest::get(&url).await.expect("the link answers").bytes().await.unwrap().to_vec();
    assert_eq!(fetched, png, "the link serves the file");
    alice
        .send_raw(&format!(
            "<message to='{muc}' type='groupchat' id='file1'><body>{url}</body><x xmlns='jabber:x:oob'><url>{url}</url></x></message>"
        ))
        .await;
    let arrived = user
        .wait_for_event(&portal, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["msgtype"] == "m.image")
        .await
        .expect("the shared file arrives as a file");
    assert_eq!(user.download(arrived["content"]["url"].as_str().unwrap()).await, png);

    // XEP-0085 chat states ⇄ typing.
    alice
        .send_raw(&format!("<message to='{muc}' type='groupchat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>"))
        .await;
    user.wait_for_event(&portal, WAIT, |ev| {
        ev["type"] == "m.typing" && ev["content"]["user_ids"].as_array().is_some_and(|ids| ids.iter().any(|i| i == ghost.as_str()))
    })
    .await
    .expect("the ghost types");
    user.set_typing(&portal, true).await;
    alice.wait_for("composing from the Matrix user", |e| e.from == format!("{muc}/{nick}") && e.xml.contains("<composing")).await;

    // Occupants come and go with their ghosts.
    let mut bob = XmppUser::new_random("bob").await;
    bob.join(&muc, "bob").await;
    let bob_ghost = format!("@_xmpp_{room}=40conference.localhost=2fbob:{}", config.domain);
    let membership = |who: String, m: &'static str| {
        move |ev: &serde_json::Value| ev["type"] == "m.room.member" && ev["state_key"] == who.as_str() && ev["content"]["membership"] == m
    };
    user.wait_for_event(&portal, WAIT, membership(bob_ghost.clone(), "join")).await.expect("bob's ghost joins");
    // Availability follows: bob goes away with a status.
    bob.send_raw(&format!("<presence to='{muc}/bob'><show>away</show><status>brb</status></presence>")).await;
    user.wait_for_presence(&bob_ghost, "unavailable", Some("brb"), WAIT).await.expect("bob's ghost is away");
    bob.leave(&muc, "bob").await;
    user.wait_for_event(&portal, WAIT, membership(bob_ghost, "leave")).await.expect("bob's ghost leaves");

    // A direct message to the Matrix user's JID opens a DM with alice's ghost, and back.
    let user_jid = format!("{nick}_localhost@matrix.localhost");
    alice.send(&user_jid, "chat", "psst, privately").await;
    let dm = user.wait_for_invite(WAIT, |_, _| true).await.expect("invited to a DM with the XMPP user");
    user.join(&dm).await;
    let alice_ghost = format!("@_xmpp_{}:{}", alice.jid.replace('@', "=40"), config.domain);
    user.wait_for_event(&dm, WAIT, |ev| ev["sender"] == alice_ghost.as_str() && ev["content"]["body"] == "psst, privately")
        .await
        .expect("the direct message arrives");
    user.send_text(&dm, "private answer").await;
    let answer = alice.wait_for("the answer", |e| e.is_live_message() && e.body.as_deref() == Some("private answer")).await;
    assert_eq!(answer.kind, "chat");
    assert!(answer.from.starts_with(&user_jid), "from the Matrix user's JID: {}", answer.from);
}

#[tokio::test]
async fn test_an_alias_exists_only_for_a_muc_that_exists() {
    let config = shared_xmpp();
    let user = TestUser::register("xmppalias").await;
    // Nobody ever joined this room: the MUC service says so (disco#info), so no portal.
    let missing = format!("#_xmpp_nosuchroom{}=40conference.localhost:{}", rand::random::<u32>(), config.domain);
    let (status, body) = user.try_join(&missing).await.expect_err("no portal for a MUC that does not exist");
    assert_eq!(status.as_u16(), 404, "{body}");
    // A user's address is not a group chat either.
    let (status, body) = user.try_join(&format!("#_xmpp_someone=40localhost:{}", config.domain)).await.expect_err("a user is not a MUC");
    assert_eq!(status.as_u16(), 404, "{body}");

    // A room that exists gets its portal, named as the MUC names itself.
    let (room, muc) = fresh_muc("mxbn");
    let mut alice = XmppUser::new_random("alice").await;
    alice.join(&muc, "alice").await;
    let portal = user.join(&format!("#_xmpp_{room}=40conference.localhost:{}", config.domain)).await;
    assert!(portal.starts_with('!'), "{portal}");
}

#[tokio::test]
async fn test_a_taken_nick_gets_a_marker_and_a_kick_removes_the_matrix_user() {
    let config = shared_xmpp();
    let (room, muc) = fresh_muc("mxbk");
    let mut user = TestUser::register("xmppkick").await;
    let nick = user.localpart();
    // An XMPP user already has the Matrix user's display name as nick (and owns the room).
    let mut owner = XmppUser::new_random("owner").await;
    owner.join(&muc, &nick).await;

    let portal = user.join(&format!("#_xmpp_{room}=40conference.localhost:{}", config.domain)).await;
    let marked = format!("{muc}/{nick} [m]");
    owner.wait_for("the Matrix user under the marked nick", |e| e.event == "presence" && e.from == marked).await;
    user.send_text(&portal, "here under another nick").await;
    let got = owner.wait_for("the message", |e| e.is_live_message() && e.body.as_deref() == Some("here under another nick")).await;
    assert_eq!(got.from, marked);
    // The owner's ghost administers the portal, as the owner does the MUC.
    // (`_` is the escape character of ghost IDs, so the nick's `_` doubles.)
    let ghost = format!("@_xmpp_{room}=40conference.localhost=2f{}:{}", nick.replace('_', "__"), config.domain);
    user.wait_power_level(&portal, &ghost, 95).await;

    // The owner kicks the Matrix user's occupant: the Matrix user leaves the portal, told why.
    let kick = format!(
        "<iq type='set' to='{muc}' id='kick1'><query xmlns='http://jabber.org/protocol/muc#admin'><item nick='{nick} [m]' role='none'><reason>off you go</reason></item></query></iq>"
    );
    owner.send_raw(&kick).await;
    let user_id = user.user_id.clone();
    let left = user
        .wait_for_event(&portal, WAIT, |ev| {
            ev["type"] == "m.room.member" && ev["state_key"] == user_id.as_str() && ev["content"]["membership"] == "leave"
        })
        .await
        .expect("the kicked Matrix user is removed from the portal");
    assert!(left["content"]["reason"].as_str().unwrap_or_default().contains("off you go"), "{left}");
}

#[tokio::test]
async fn test_a_new_portal_shows_the_mucs_last_messages_from_its_archive() {
    let config = shared_xmpp();
    let (room, muc) = fresh_muc("mxbh");
    let mut alice = XmppUser::new_random("alice").await;
    alice.join(&muc, "alice").await;
    alice.send(&muc, "groupchat", "said before the bridge came, 1").await;
    alice.send(&muc, "groupchat", "said before the bridge came, 2").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let joined_at = mxbridge_core::clock::now_ms();

    let mut user = TestUser::register("xmpphist").await;
    let portal = user.join(&format!("#_xmpp_{room}=40conference.localhost:{}", config.domain)).await;
    let ghost = format!("@_xmpp_{room}=40conference.localhost=2falice:{}", config.domain);
    for n in [1, 2] {
        let body = format!("said before the bridge came, {n}");
        let ev = user
            .wait_for_event(&portal, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == body.as_str())
            .await
            .unwrap_or_else(|_| panic!("archived message {n} is in the new portal"));
        let ts = ev["origin_server_ts"].as_i64().unwrap();
        assert!(ts < joined_at - 1000, "it keeps the time it was sent ({ts} vs joined {joined_at})");
    }
}

#[tokio::test]
async fn test_formatting_and_actions_both_ways() {
    let config = shared_xmpp();
    let (room, muc) = fresh_muc("mxbf");
    let mut alice = XmppUser::new_random("alice").await;
    alice.join(&muc, "alice").await;
    let mut user = TestUser::register("xmppfmt").await;
    let portal = user.join(&format!("#_xmpp_{room}=40conference.localhost:{}", config.domain)).await;
    let ghost = format!("@_xmpp_{room}=40conference.localhost=2falice:{}", config.domain);

    // Matrix HTML → XEP-0393 styling; an emote → /me.
    let html = serde_json::json!({
        "msgtype": "m.text", "body": "bold and it",
        "format": "org.matrix.custom.html", "formatted_body": "<strong>bold</strong> and <em>it</em><pre><code>let x = 1;</code></pre>",
    });
    user.send_content(&portal, "m.room.message", html).await;
    alice
        .wait_for("the styled message", |e| e.is_live_message() && e.body.as_deref() == Some("*bold* and _it_\n```\nlet x = 1;\n```"))
        .await;
    user.send_content(&portal, "m.room.message", serde_json::json!({"msgtype": "m.emote", "body": "waves"})).await;
    alice.wait_for("the action", |e| e.is_live_message() && e.body.as_deref() == Some("/me waves")).await;

    // XEP-0393 styling and XHTML-IM → Matrix HTML; /me → an emote.
    alice.send(&muc, "groupchat", "*bold* and ~gone~").await;
    let styled =
        user.wait_for_event(&portal, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "bold and gone").await.unwrap();
    assert_eq!(styled["content"]["formatted_body"], "<strong>bold</strong> and <del>gone</del>", "{styled}");
    let xhtml = format!(
        "<message to='{muc}' type='groupchat' id='x1'><body>rich and plain</body><html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><em>rich</em> and plain<script>alert(1)</script></body></html></message>"
    );
    alice.send_raw(&xhtml).await;
    let rich =
        user.wait_for_event(&portal, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "rich and plain").await.unwrap();
    let formatted = rich["content"]["formatted_body"].as_str().unwrap_or_default();
    assert!(formatted.contains("<em>rich</em>") && !formatted.contains("script"), "{rich}");
    alice.send(&muc, "groupchat", "/me dances").await;
    let emote =
        user.wait_for_event(&portal, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["msgtype"] == "m.emote").await.unwrap();
    assert_eq!(emote["content"]["body"], "dances");
}

#[tokio::test]
async fn test_read_receipts_and_displayed_markers_both_ways() {
    let config = shared_xmpp();
    let (room, muc) = fresh_muc("mxbr");
    let mut alice = XmppUser::new_random("alice").await;
    alice.join(&muc, "alice").await;
    let mut user = TestUser::register("xmppread").await;
    let portal = user.join(&format!("#_xmpp_{room}=40conference.localhost:{}", config.domain)).await;
    let ghost = format!("@_xmpp_{room}=40conference.localhost=2falice:{}", config.domain);

    // The Matrix user reads the XMPP message: XMPP gets a displayed marker for it.
    let alice_msg = alice.send(&muc, "groupchat", "read me").await;
    let copy = user.wait_for_event(&portal, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "read me").await.unwrap();
    user.send_receipt(&portal, copy["event_id"].as_str().unwrap()).await;
    let marker = alice.wait_for("the displayed marker", |e| e.event == "message" && e.xml.contains("urn:xmpp:chat-markers:0")).await;
    assert!(marker.xml.contains("displayed") && marker.xml.contains(&alice_msg), "{}", marker.xml);

    // The XMPP user shows the Matrix message (marked markable): a read receipt from the ghost.
    let matrix_msg = user.send_text(&portal, "did you see this").await;
    let got = alice.wait_for("the markable message", |e| e.is_live_message() && e.body.as_deref() == Some("did you see this")).await;
    assert!(got.xml.contains("markable"), "{}", got.xml);
    let displayed =
        format!("<message to='{muc}' type='groupchat' id='d1'><displayed xmlns='urn:xmpp:chat-markers:0' id='{}'/></message>", got.id);
    alice.send_raw(&displayed).await;
    user.wait_for_event(&portal, WAIT, |ev| {
        ev["type"] == "m.receipt" && ev["content"][matrix_msg.as_str()]["m.read"][ghost.as_str()].is_object()
    })
    .await
    .expect("the XMPP user's marker is the ghost's read receipt");
}

#[tokio::test]
async fn test_an_xmpp_user_speaks_only_as_themselves_and_oversized_messages_are_cut_not_lost() {
    let config = shared_xmpp();
    let mut mallory = XmppUser::new_random("mallory").await;
    let mut user = TestUser::register("xmppsafe").await;
    let nick = user.localpart();
    let user_jid = format!("{nick}_localhost@matrix.localhost");

    // Claiming to be a MUC occupant: the server stamps the real sender, and the bridge
    // takes `groupchat` only from MUCs the user is in. Neither makes a portal.
    let spoofed = format!(
        "<message to='{user_jid}' from='someroom@conference.localhost/boss' type='groupchat' id='s1'><body>spoofed occupant</body></message>"
    );
    mallory.send_raw(&spoofed).await;
    mallory.send_raw(&format!("<message to='{user_jid}' type='groupchat' id='s2'><body>fake groupchat</body></message>")).await;
    // Then an ordinary message, and one far over Matrix's event size.
    mallory.send(&user_jid, "chat", "only me").await;
    let huge = "x".repeat(100_000);
    mallory.send(&user_jid, "chat", &huge).await;

    let dm = user.wait_for_invite(WAIT, |_, _| true).await.expect("invited to the DM");
    user.join(&dm).await;
    let ghost = format!("@_xmpp_{}:{}", mallory.jid.replace('@', "=40"), config.domain);
    user.wait_for_event(&dm, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "only me")
        .await
        .expect("the real message arrives from the sender's own ghost");
    let cut = user
        .wait_for_event(&dm, WAIT, |ev| {
            ev["sender"] == ghost.as_str() && ev["content"]["body"].as_str().is_some_and(|b| b.starts_with("xxxx"))
        })
        .await
        .expect("the oversized message arrives, cut");
    assert!(cut["content"]["body"].as_str().unwrap().contains("more characters not shown"), "the cut is said");
    assert!(
        user.wait_for_invite(Duration::from_secs(3), |room, _| room != dm).await.is_err(),
        "no other room was made for the spoofed groupchats"
    );
}

#[tokio::test]
async fn test_xmpp_users_find_and_join_a_public_matrix_room_through_the_gateway() {
    let config = shared_xmpp();
    let mut user = TestUser::register("gwuser").await;
    let name = format!("gw{}", rand::random::<u32>());
    let room = user
        .create_room_with(serde_json::json!({
            "preset": "public_chat", "visibility": "public", "room_alias_name": name,
            "name": format!("Gateway room {name}"), "topic": "talk here",
        }))
        .await;
    let room_jid = format!("#{name}_{}@matrix.localhost", config.domain);

    // The component lists the homeserver's public rooms, as a MUC service does.
    let mut alice = XmppUser::new_random("alice").await;
    alice.send_raw("<iq type='get' to='matrix.localhost' id='items1'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>").await;
    let items = alice.wait_for("the public rooms", |e| e.event == "iq" && e.id == "items1").await;
    assert!(items.xml.contains(&room_jid) && items.xml.contains(&format!("Gateway room {name}")), "{}", items.xml);
    alice.send_raw(&format!("<iq type='get' to='{room_jid}' id='info1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")).await;
    let info = alice.wait_for("the room's description", |e| e.event == "iq" && e.id == "info1").await;
    assert!(info.xml.contains("conference") && info.xml.contains("http://jabber.org/protocol/muc"), "{}", info.xml);

    // Joining it as a MUC: the Matrix member is an occupant, the subject is the topic, and
    // the XMPP user's ghost joins the Matrix room.
    alice.join(&room_jid, "alice").await;
    let nick = user.localpart();
    let seen =
        alice.wait_for("the Matrix member as an occupant", |e| e.event == "presence" && e.from == format!("{room_jid}/{nick}")).await;
    assert!(seen.xml.contains("muc#user"), "{}", seen.xml);
    let ghost = format!("@_xmpp_{}:{}", alice.jid.replace('@', "=40"), config.domain);
    user.wait_for_event(&room, WAIT, |ev| {
        ev["type"] == "m.room.member" && ev["state_key"] == ghost.as_str() && ev["content"]["membership"] == "join"
    })
    .await
    .expect("the XMPP user's ghost joins the Matrix room");

    // Messages both ways.
    user.send_text(&room, "hello gateway").await;
    let got = alice.wait_for("the Matrix message", |e| e.is_live_message() && e.body.as_deref() == Some("hello gateway")).await;
    assert_eq!(got.from, format!("{room_jid}/{nick}"));
    alice.send(&room_jid, "groupchat", "hi from xmpp").await;
    user.wait_for_event(&room, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "hi from xmpp")
        .await
        .expect("the XMPP message arrives from the ghost");
    let reflected = alice.wait_for("the reflection", |e| e.is_live_message() && e.body.as_deref() == Some("hi from xmpp")).await;
    assert_eq!(reflected.from, format!("{room_jid}/alice"), "the sender sees their own message, as in any MUC");

    // Leaving the MUC takes the ghost out of the Matrix room.
    alice.leave(&room_jid, "alice").await;
    user.wait_for_event(&room, WAIT, |ev| {
        ev["type"] == "m.room.member" && ev["state_key"] == ghost.as_str() && ev["content"]["membership"] == "leave"
    })
    .await
    .expect("the ghost leaves with the XMPP user");
}

#[tokio::test]
async fn test_a_matrix_user_starts_a_direct_chat_with_an_xmpp_user() {
    let config = shared_xmpp();
    let mut bob = XmppUser::new_random("bob").await;
    let ghost = format!("@_xmpp_{}:{}", bob.jid.replace('@', "=40"), config.domain);
    let mut user = TestUser::register("xmppdm").await;
    let dm = user.create_dm(&ghost).await;
    user.wait_for_event(&dm, WAIT, |ev| {
        ev["type"] == "m.room.member" && ev["state_key"] == ghost.as_str() && ev["content"]["membership"] == "join"
    })
    .await
    .expect("the ghost accepts");
    user.send_text(&dm, "hi bob").await;
    let got = bob.wait_for("the direct message", |e| e.is_live_message() && e.body.as_deref() == Some("hi bob")).await;
    assert_eq!(got.kind, "chat");
    let nick = user.localpart();
    assert!(got.from.starts_with(&format!("{nick}_localhost@matrix.localhost")), "{}", got.from);
    // The component answers for the Matrix user's JID: ping, vCard, and errors for the rest.
    let user_jid = got.from.split('/').next().unwrap().to_owned();
    bob.send_raw(&format!("<iq type='get' to='{user_jid}' id='v1'><vCard xmlns='vcard-temp'/></iq>")).await;
    let vcard = bob.wait_for("the vCard", |e| e.event == "iq" && e.id == "v1").await;
    assert!(vcard.kind == "result" && vcard.xml.contains(&format!("https://matrix.to/#/{}", user.user_id)), "{}", vcard.xml);
    bob.send_raw(&format!("<iq type='get' to='{user_jid}' id='v2'><query xmlns='jabber:iq:version'/></iq>")).await;
    let refused = bob.wait_for("the refusal", |e| e.event == "iq" && e.id == "v2").await;
    assert_eq!(refused.kind, "error", "{}", refused.xml);
    bob.send(&got.from, "chat", "hi matrix").await;
    user.wait_for_event(&dm, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "hi matrix")
        .await
        .expect("the answer lands in the same room");
}

#[tokio::test]
async fn test_an_xmpp_user_writes_first_to_a_matrix_user_who_never_used_the_bridge() {
    let config = shared_xmpp();
    let mut carol = XmppUser::new_random("carol").await;
    let mut user = TestUser::register("newcomer").await;
    let nick = user.localpart();
    carol.send(&format!("{nick}_localhost@matrix.localhost"), "chat", "are you there?").await;
    let dm = user.wait_for_invite(WAIT, |_, _| true).await.expect("invited to a DM with the XMPP user");
    user.join(&dm).await;
    let ghost = format!("@_xmpp_{}:{}", carol.jid.replace('@', "=40"), config.domain);
    user.wait_for_event(&dm, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "are you there?")
        .await
        .expect("the first message arrives");
}
