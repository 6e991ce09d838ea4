//! The XMPP bridge's profiles, presence and discovery end to end: Matrix users on the real
//! Synapse, the bridge as the component `matrix3.localhost` of the real Prosody, XMPP users
//! played by slixmpp. Fixture: `tests/fixtures/xmpp-ext.config.yaml`.

use std::sync::OnceLock;
use std::time::Duration;

use mxbridge_core::config::Config;
use mxbridge_xmpp::{XmppConfig, XmppNetwork};
use sha1::{Digest, Sha1};

use crate::demo_bridge::{RunningBridge, config, network_section, run_forever, state_dir};
use crate::harness::matrix_client::TestUser;
use crate::harness::wait::wait_until;
use crate::harness::xmpp_user::{XmppUser, fresh_muc};

const WAIT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(200);

/// Two small "pictures" and their base64, as a vCard carries them.
const FIRST: &[u8] = b"\x89PNG\r\n\x1a\nfirst picture";
const FIRST_BASE64: &str = "iVBORw0KGgpmaXJzdCBwaWN0dXJl";
const SECOND: &[u8] = b"\x89PNG\r\n\x1a\nsecond picture";
const SECOND_BASE64: &str = "iVBORw0KGgpzZWNvbmQgcGljdHVyZQ==";

/// One bridge for all tests here (its port is fixed by the registration).
fn shared_bridge() -> &'static Config {
    static SHARED: OnceLock<Config> = OnceLock::new();
    SHARED.get_or_init(|| {
        run_forever(|| async {
            let mut config = config("xmpp-ext", &state_dir("xmpp-ext"));
            config.network["server"] = crate::harness::env::xmpp_component().into();
            config.network["secret"] = crate::harness::env::xmpp_component_secret().into();
            let xmpp: XmppConfig = serde_json::from_value(network_section(&config)).expect("xmpp section");
            let bridge =
                RunningBridge::start_with(config, XmppNetwork::new(xmpp), mxbridge_demo::DemoNetwork::new(Default::default()).1).await;
            (bridge.config.clone(), bridge)
        })
    })
}

/// Stores the XMPP user's own vCard (XEP-0054) on their server.
async fn publish_vcard(user: &mut XmppUser, id: &str, nick: &str, photo_base64: &str) {
    let vcard = format!(
        "<iq type='set' id='{id}'><vCard xmlns='vcard-temp'><FN>Full {nick}</FN><NICKNAME>{nick}</NICKNAME>\
         <PHOTO><TYPE>image/png</TYPE><BINVAL>{photo_base64}</BINVAL></PHOTO></vCard></iq>"
    );
    user.send_raw(&vcard).await;
    let stored = user.wait_for("the vCard stored", |e| e.event == "iq" && e.id == id).await;
    assert_eq!(stored.kind, "result", "{}", stored.xml);
}

/// Waits until a user's avatar is set to a picture with these bytes.
async fn wait_for_avatar(user: &TestUser, whose: &str, bytes: &[u8]) {
    let result = wait_until(WAIT, POLL, || async move {
        let mxc = user.avatar_url(whose).await?;
        (user.download(&mxc).await == bytes).then_some(())
    })
    .await;
    result.unwrap_or_else(|_| panic!("{whose} never got the picture {:?}", String::from_utf8_lossy(bytes)));
}

#[tokio::test]
async fn test_occupants_get_their_vcard_name_and_photo_and_a_new_photo_follows() {
    let config = shared_bridge();
    let (room, muc) = fresh_muc("mxbp");
    let mut bob = XmppUser::new_random("bob").await;
    publish_vcard(&mut bob, "pv1", "Bobby Tables", FIRST_BASE64).await;
    bob.join(&muc, "bob").await;

    let mut user = TestUser::register("xmppprof").await;
    let portal = user.join(&format!("#_xmppx_{room}=40conference.localhost:{}", config.domain)).await;
    let ghost = format!("@_xmppx_{room}=40conference.localhost=2fbob:{}", config.domain);

    // The vCard's NICKNAME, not the MUC nick, is the ghost's name; PHOTO its avatar.
    let (u, g) = (&user, ghost.as_str());
    let named = wait_until(WAIT, POLL, || async move { (u.display_name(g).await? == "Bobby Tables (XMPP)").then_some(()) }).await;
    if named.is_err() {
        panic!("the ghost is named from the vCard; it is {:?}", user.display_name(&ghost).await);
    }
    wait_for_avatar(&user, &ghost, FIRST).await;

    // Messages keep the vCard name (the MUC nick does not win it back).
    bob.send(&muc, "groupchat", "still me").await;
    user.wait_for_event(&portal, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "still me").await.unwrap();
    assert_eq!(user.display_name(&ghost).await.as_deref(), Some("Bobby Tables (XMPP)"));

    // A new picture, announced by its hash in presence (XEP-0153), becomes the new avatar.
    publish_vcard(&mut bob, "pv2", "Bobby Tables", SECOND_BASE64).await;
    let hash = hex(&Sha1::digest(SECOND));
    bob.send_raw(&format!("<presence to='{muc}/bob'><x xmlns='vcard-temp:x:update'><photo>{hash}</photo></x></presence>")).await;
    wait_for_avatar(&user, &ghost, SECOND).await;
}

#[tokio::test]
async fn test_xmpp_users_in_gateway_rooms_get_their_vcard_name_and_photo() {
    let config = shared_bridge();
    let user = TestUser::register("xmppgwcard").await;
    let name = format!("gwcard{}", rand::random::<u32>());
    user.create_room_with(serde_json::json!({"preset": "public_chat", "visibility": "public", "room_alias_name": name})).await;
    let room_jid = format!("#{name}_{}@matrix3.localhost", config.domain);

    let mut dave = XmppUser::new_random("dave").await;
    publish_vcard(&mut dave, "gv1", "Dave Gateway", FIRST_BASE64).await;
    dave.join(&room_jid, "dave").await;
    let ghost = format!("@_xmppx_{}:{}", dave.jid.replace('@', "=40"), config.domain);
    let (u, g) = (&user, ghost.as_str());
    let named = wait_until(WAIT, POLL, || async move { (u.display_name(g).await? == "Dave Gateway (XMPP)").then_some(()) }).await;
    if named.is_err() {
        panic!("the gateway ghost is named from the vCard; it is {:?}", user.display_name(&ghost).await);
    }
    wait_for_avatar(&user, &ghost, FIRST).await;
}

#[tokio::test]
async fn test_a_matrix_users_vcard_has_their_display_name_and_avatar() {
    shared_bridge();
    let user = TestUser::register("xmppcard").await;
    user.set_profile("displayname", "Carol From Matrix").await;
    let mxc = user.upload(FIRST.to_vec(), "image/png").await;
    user.set_profile("avatar_url", &mxc).await;
    let matrix_id = ruma::UserId::parse(user.user_id.as_str()).unwrap();
    let jid = format!("{}@matrix3.localhost", mxbridge_xmpp::jid::node_for_matrix_user(&matrix_id).unwrap());

    let mut bob = XmppUser::new_random("bob").await;
    bob.send_raw(&format!("<iq type='get' to='{jid}' id='card1'><vCard xmlns='vcard-temp'/></iq>")).await;
    let card = bob.wait_for("the vCard", |e| e.event == "iq" && e.id == "card1").await;
    assert_eq!(card.kind, "result", "{}", card.xml);
    assert!(card.xml.contains("<NICKNAME>Carol From Matrix</NICKNAME>"), "{}", card.xml);
    assert!(card.xml.contains(&format!("<BINVAL>{FIRST_BASE64}</BINVAL>")) && card.xml.contains("image/png"), "{}", card.xml);
}

#[tokio::test]
async fn test_a_matrix_users_presence_is_their_presence_in_the_muc() {
    let config = shared_bridge();
    let (room, muc) = fresh_muc("mxbq");
    let mut alice = XmppUser::new_random("alice").await;
    alice.join(&muc, "alice").await;
    let mut user = TestUser::register("xmpppres").await;
    let portal = user.join(&format!("#_xmppx_{room}=40conference.localhost:{}", config.domain)).await;
    let nick = user.localpart();
    let occupant = format!("{muc}/{nick}");
    alice.wait_for("the Matrix user in the MUC", |e| e.event == "presence" && e.from == occupant).await;
    user.send_text(&portal, "here").await;

    // Away with a status on Matrix: away with that status in the MUC (Synapse sends the
    // bridge m.presence of users who share a room with its users).
    user.set_presence("unavailable", Some("at lunch")).await;
    let away =
        alice.wait_for("the away presence", |e| e.event == "presence" && e.from == occupant && e.xml.contains("<show>away</show>")).await;
    assert!(away.xml.contains("<status>at lunch</status>") && away.kind.is_empty(), "still an occupant: {}", away.xml);

    // Back online: no show, no status.
    user.set_presence("online", None).await;
    let back = alice.wait_for("the available presence", |e| e.event == "presence" && e.from == occupant && !e.xml.contains("<show>")).await;
    assert!(!back.xml.contains("<status>"), "{}", back.xml);
}

#[tokio::test]
async fn test_a_matrix_users_presence_carries_caps_that_match_their_disco_info() {
    let config = shared_bridge();
    let (room, muc) = fresh_muc("mxbc");
    let mut alice = XmppUser::new_random("alice").await;
    alice.join(&muc, "alice").await;
    let user = TestUser::register("xmppcaps").await;
    user.join(&format!("#_xmppx_{room}=40conference.localhost:{}", config.domain)).await;
    let nick = user.localpart();
    let presence = alice.wait_for("the Matrix user in the MUC", |e| e.event == "presence" && e.from == format!("{muc}/{nick}")).await;
    assert!(presence.xml.contains("http://jabber.org/protocol/caps") && presence.xml.contains("hash=\"sha-1\""), "{}", presence.xml);
    let attr = |name: &str| {
        let start = presence.xml.find(&format!(" {name}=\"")).unwrap_or_else(|| panic!("no {name} in {}", presence.xml)) + name.len() + 3;
        presence.xml[start..].split('"').next().unwrap().to_owned()
    };
    let (node, ver) = (attr("node"), attr("ver"));

    // The client asks the node#ver and checks the hash of the answer itself (the driver
    // computes XEP-0115's string on its own).
    let matrix_id = ruma::UserId::parse(user.user_id.as_str()).unwrap();
    let jid = format!("{}@matrix3.localhost", mxbridge_xmpp::jid::node_for_matrix_user(&matrix_id).unwrap());
    let caps_node = format!("{node}#{ver}");
    let answer = alice.command(serde_json::json!({"op": "disco_info", "to": jid, "node": caps_node})).await;
    assert_eq!(answer.event, "ok", "{}", answer.json);
    assert_eq!(answer.json["node"], caps_node.as_str());
    assert_eq!(answer.json["ver"], ver.as_str(), "the caps hash what the JID answers: {}", answer.json);
    assert!(answer.json["features"].as_array().unwrap().iter().any(|f| f == "urn:xmpp:reactions:0"), "{}", answer.json);
}

#[tokio::test]
async fn test_xmpp_users_search_the_public_matrix_rooms_by_name() {
    let config = shared_bridge();
    let user = TestUser::register("xmppsearch").await;
    let name = format!("srch{}", rand::random::<u32>());
    user.create_room_with(serde_json::json!({
        "preset": "public_chat", "visibility": "public", "room_alias_name": name, "name": format!("Findable {name}"),
    }))
    .await;
    let room_jid = format!("#{name}_{}@matrix3.localhost", config.domain);

    // The component says it searches, and offers the form.
    let mut alice = XmppUser::new_random("alice").await;
    alice.send_raw("<iq type='get' to='matrix3.localhost' id='info1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>").await;
    let info = alice.wait_for("the component's features", |e| e.event == "iq" && e.id == "info1").await;
    assert!(info.xml.contains("jabber:iq:search"), "{}", info.xml);
    alice.send_raw("<iq type='get' to='matrix3.localhost' id='form1'><query xmlns='jabber:iq:search'/></iq>").await;
    let form = alice.wait_for("the search form", |e| e.event == "iq" && e.id == "form1").await;
    assert!(form.kind == "result" && form.xml.contains("var=\"search\""), "{}", form.xml);

    // A part of the name finds the room, with its JID on the component.
    let submit = |id: &str, term: &str| {
        format!(
            "<iq type='set' to='matrix3.localhost' id='{id}'><query xmlns='jabber:iq:search'><x xmlns='jabber:x:data' type='submit'>\
             <field var='FORM_TYPE'><value>jabber:iq:search</value></field><field var='search'><value>{term}</value></field></x></query></iq>"
        )
    };
    alice.send_raw(&submit("s1", &format!("findable {name}"))).await;
    let found = alice.wait_for("the search results", |e| e.event == "iq" && e.id == "s1").await;
    assert!(found.kind == "result" && found.xml.contains(&room_jid) && found.xml.contains(&format!("Findable {name}")), "{}", found.xml);
    alice.send_raw(&submit("s2", &format!("nothing-is-called-{name}"))).await;
    let none = alice.wait_for("the empty results", |e| e.event == "iq" && e.id == "s2").await;
    assert!(none.kind == "result" && !none.xml.contains("<item"), "{}", none.xml);
}

#[tokio::test]
async fn test_the_room_underscore_host_alias_names_the_muc_too() {
    let config = shared_bridge();
    let (room, muc) = fresh_muc("mxb_a");
    let mut alice = XmppUser::new_random("alice").await;
    alice.join(&muc, "alice").await;

    // The form: the room, `_`, the MUC host (the room's own `_` stays in the room).
    let mut user = TestUser::register("xmppalias").await;
    let portal = user.join(&format!("#_xmppx_{room}_conference.localhost:{}", config.domain)).await;
    let nick = user.localpart();
    alice.wait_for("the Matrix user in the MUC", |e| e.event == "presence" && e.from == format!("{muc}/{nick}")).await;
    user.send_text(&portal, "via the other alias").await;
    alice.wait_for("the message", |e| e.is_live_message() && e.body.as_deref() == Some("via the other alias")).await;

    // The escaped-JID alias names the same portal.
    let escaped = format!("#_xmppx_{}=40conference.localhost:{}", room.replace('_', "__"), config.domain);
    assert_eq!(user.resolve_alias(&escaped).await.as_deref(), Some(portal.as_str()));
}

#[tokio::test]
async fn test_xmpp_replies_to_matrix_messages_are_matrix_replies() {
    let config = shared_bridge();
    let (room, muc) = fresh_muc("mxbr");
    let mut alice = XmppUser::new_random("alice").await;
    alice.join(&muc, "alice").await;
    let mut user = TestUser::register("xmppreply").await;
    let portal = user.join(&format!("#_xmppx_{room}=40conference.localhost:{}", config.domain)).await;
    let ghost = format!("@_xmppx_{room}=40conference.localhost=2falice:{}", config.domain);

    // A client that answers by the message's own id.
    let first = user.send_text(&portal, "first question").await;
    let got = alice.wait_for("the first question", |e| e.is_live_message() && e.body.as_deref() == Some("first question")).await;
    alice
        .send_raw(&format!(
            "<message to='{muc}' type='groupchat' id='rp1'><body>first answer</body><reply xmlns='urn:xmpp:reply:0' id='{}'/></message>",
            got.id
        ))
        .await;
    let answer = user.wait_for_event(&portal, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "first answer").await;
    let answer = answer.expect("the reply arrives");
    assert_eq!(answer["content"]["m.relates_to"]["m.in_reply_to"]["event_id"], first.as_str(), "{answer}");

    // XEP-0461 in a MUC: by the MUC's stanza-id, with a quote of the original as fallback.
    let second = user.send_text(&portal, "second question").await;
    let got = alice.wait_for("the second question", |e| e.is_live_message() && e.body.as_deref() == Some("second question")).await;
    let stanza_id = crate::harness::xmpp_user::muc_stanza_id(&got.xml, &muc);
    assert_ne!(stanza_id, got.id, "the MUC's id is its own");
    let quote = "> second question\n";
    alice
        .send_raw(&format!(
            "<message to='{muc}' type='groupchat' id='rp2'><body>{quote}second answer</body>\
             <reply xmlns='urn:xmpp:reply:0' id='{stanza_id}'/>\
             <fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='{}'/></fallback></message>",
            quote.chars().count()
        ))
        .await;
    let answer = user.wait_for_event(&portal, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "second answer").await;
    let answer = answer.expect("the reply arrives without its quote");
    assert_eq!(answer["content"]["m.relates_to"]["m.in_reply_to"]["event_id"], second.as_str(), "{answer}");

    // And back: a Matrix reply to the XMPP user's message names the MUC's id of it.
    let echo = alice.wait_for("the echo of the answer", |e| e.is_live_message() && e.id == "rp2").await;
    let answer_muc_id = crate::harness::xmpp_user::muc_stanza_id(&echo.xml, &muc);
    let answer_event = answer["event_id"].as_str().unwrap().to_owned();
    user.send_content(
        &portal,
        "m.room.message",
        serde_json::json!({"msgtype": "m.text", "body": "thanks", "m.relates_to": {"m.in_reply_to": {"event_id": answer_event}}}),
    )
    .await;
    let thanks =
        alice.wait_for("the Matrix reply", |e| e.is_live_message() && e.body.as_deref().is_some_and(|b| b.ends_with("thanks"))).await;
    let reply_at = thanks.xml.find("urn:xmpp:reply:0").unwrap_or_else(|| panic!("a XEP-0461 reply: {}", thanks.xml));
    let reply_tag = &thanks.xml[thanks.xml[..reply_at].rfind('<').unwrap()..];
    let reply_tag = &reply_tag[..reply_tag.find('>').unwrap()];
    assert!(reply_tag.contains(&format!("id=\"{answer_muc_id}\"")), "names the MUC's id {answer_muc_id}: {reply_tag}");
}

#[tokio::test]
async fn test_the_public_room_list_pages_with_rsm() {
    shared_bridge();
    let user = TestUser::register("xmpppage").await;
    for _ in 0..2 {
        let name = format!("page{}", rand::random::<u32>());
        user.create_room_with(serde_json::json!({"preset": "public_chat", "visibility": "public", "room_alias_name": name})).await;
    }
    let mut alice = XmppUser::new_random("alice").await;
    let ask = |id: &str, set: &str| {
        format!(
            "<iq type='get' to='matrix3.localhost' id='{id}'><query xmlns='http://jabber.org/protocol/disco#items'>\
             <set xmlns='http://jabber.org/protocol/rsm'>{set}</set></query></iq>"
        )
    };
    let between = |xml: &str, open: &str, close: &str| -> String {
        let start = xml.find(open).unwrap_or_else(|| panic!("no {open} in {xml}")) + open.len();
        xml[start..].split(close).next().unwrap().to_owned()
    };
    alice.send_raw(&ask("p1", "<max>1</max>")).await;
    let first = alice.wait_for("the first page", |e| e.event == "iq" && e.id == "p1").await;
    assert_eq!(first.xml.matches("<item ").count(), 1, "{}", first.xml);
    let count: usize = between(&first.xml, "<count>", "</count>").parse().unwrap();
    assert!(count >= 2, "{}", first.xml);
    let last = between(&first.xml, "<last>", "</last>");
    assert!(first.xml.contains(&format!("jid=\"{last}\"")), "the page's last is its item: {}", first.xml);

    alice.send_raw(&ask("p2", &format!("<max>1</max><after>{last}</after>"))).await;
    let second = alice.wait_for("the next page", |e| e.event == "iq" && e.id == "p2").await;
    assert_eq!(second.xml.matches("<item ").count(), 1, "{}", second.xml);
    assert!(!second.xml.contains(&format!("jid=\"{last}\"")) && second.xml.contains("index=\"1\""), "{}", second.xml);
}

#[tokio::test]
async fn test_someone_writing_directly_gets_their_vcard_name_and_photo() {
    let config = shared_bridge();
    let mut carol = XmppUser::new_random("carol").await;
    publish_vcard(&mut carol, "pv1", "Carol Direct", SECOND_BASE64).await;
    let mut user = TestUser::register("xmppdmcard").await;
    let nick = user.localpart();
    carol.send(&format!("{nick}_localhost@matrix3.localhost"), "chat", "hello you").await;
    let dm = user.wait_for_invite(WAIT, |_, _| true).await.expect("invited to a DM with the XMPP user");
    user.join(&dm).await;
    let ghost = format!("@_xmppx_{}:{}", carol.jid.replace('@', "=40"), config.domain);
    user.wait_for_event(&dm, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "hello you").await.expect("the message");
    let (u, g) = (&user, ghost.as_str());
    let named = wait_until(WAIT, POLL, || async move { (u.display_name(g).await? == "Carol Direct (XMPP)").then_some(()) }).await;
    if named.is_err() {
        panic!("the ghost is named from the vCard; it is {:?}", user.display_name(&ghost).await);
    }
    wait_for_avatar(&user, &ghost, SECOND).await;
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
