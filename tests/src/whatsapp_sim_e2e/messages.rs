//! The WhatsApp bridge's messages end to end against the real Synapse with the
//! **simulated** WhatsApp network: text, formatting, replies, edits, reactions, deletes,
//! receipts, typing, every media kind, locations, contact cards, and group names, topics
//! and members, both ways. Nothing here talks to WhatsApp's servers.

use std::time::Duration;

use mxbridge_whatsapp::SimAction;
use mxbridge_whatsapp::sim::world;
use serde_json::{Value, json};

use super::{WAIT, WaBridge, accept_dm, accept_invite, bot_says, command, from_with, qr_login, user_with_dm, wait_action};
use crate::harness::matrix_client::TestUser;

#[tokio::test]
async fn test_echo_contact_both_ways_sim() {
    let wa = WaBridge::start().await;
    let (mut user, room) = user_with_dm(&wa, "waecho").await;
    let account = qr_login(&wa, &mut user, &room).await;
    command(&wa, &mut user, &room, "pm +44 7700 900001", "accept the invite").await;
    let portal = accept_dm(&mut user, &wa.ghost(world::ECHO)).await;
    let echo = wa.ghost(world::ECHO);
    assert_eq!(user.display_name(&echo).await.as_deref(), Some("Echo (WA)"));

    // Formatting and mentions, Matrix → WhatsApp, and Echo's answer as a reply.
    let html = format!("<b>bold</b> and <i>it</i> for <a href=\"https://matrix.to/#/{echo}\">Echo (WA)</a>");
    let hello = user
        .send_content(
            &portal,
            "m.room.message",
            json!({"msgtype": "m.text", "body": "bold and it for Echo", "format": "org.matrix.custom.html", "formatted_body": html}),
        )
        .await;
    let sent = wait_action(
        &wa.sim,
        "send the formatted text",
        |a| matches!(a, SimAction::Sent { message, .. } if message.text.text.starts_with("*bold*")),
    )
    .await;
    let SimAction::Sent { account: from, chat, id: hello_wa, message } = sent else { unreachable!() };
    assert_eq!((from.as_str(), chat.to_string()), (account.as_str(), format!("{}@s.whatsapp.net", world::ECHO)));
    assert_eq!(message.text.text, format!("*bold* and _it_ for @{}", world::ECHO));
    assert_eq!(message.text.mentions, vec![world::ECHO.to_owned()]);
    let answer = user.wait_for_event(&portal, WAIT, |ev| from_with(ev, &echo, "echo: bold and it")).await.expect("Echo answers");
    assert_eq!(answer["content"]["m.relates_to"]["m.in_reply_to"]["event_id"], hello.as_str(), "WhatsApp quotes become replies");
    let formatted = answer["content"]["formatted_body"].as_str().unwrap();
    assert!(formatted.contains("<strong>bold</strong>") && formatted.contains("<em>it</em>"), "{formatted}");
    assert!(formatted.contains(&format!("https://matrix.to/#/{echo}")), "the mention comes back as a pill: {formatted}");

    // A Matrix reply quotes the WhatsApp message it answers.
    let answer_wa = wa.sim.said_by(world::ECHO).into_iter().next().map(|m| m.id).expect("Echo's answer on WhatsApp");
    user.send_content(
        &portal,
        "m.room.message",
        json!({"msgtype": "m.text", "body": "thanks", "m.relates_to": {"m.in_reply_to": {"event_id": answer["event_id"]}}}),
    )
    .await;
    wait_action(&wa.sim, "quote Echo's answer", |a| {
        matches!(a, SimAction::Sent { message, .. } if message.text.text == "thanks" && message.reply_to.as_deref() == Some(answer_wa.as_str()))
    })
    .await;

    // Request words: a reaction, an edit and a delete from Echo.
    let react = user.send_text(&portal, "please react").await;
    user.wait_for_event(&portal, WAIT, |ev| {
        ev["type"] == "m.reaction"
            && ev["sender"] == echo.as_str()
            && ev["content"]["m.relates_to"]["event_id"] == react.as_str()
            && ev["content"]["m.relates_to"]["key"] == "👍"
    })
    .await
    .expect("Echo's reaction");
    user.send_text(&portal, "please edit").await;
    let edited = user.wait_for_event(&portal, WAIT, |ev| from_with(ev, &echo, "echo: please edit")).await.expect("the answer");
    let edited_id = edited["event_id"].as_str().unwrap().to_owned();
    user.wait_for_event(&portal, WAIT, |ev| {
        ev["content"]["m.relates_to"]["rel_type"] == "m.replace"
            && ev["content"]["m.relates_to"]["event_id"] == edited_id.as_str()
            && ev["content"]["m.new_content"]["body"] == "echo (edited): please edit"
    })
    .await
    .expect("Echo's edit");
    user.send_text(&portal, "please delete").await;
    let deleted = user.wait_for_event(&portal, WAIT, |ev| from_with(ev, &echo, "echo: please delete")).await.expect("the answer");
    let deleted_id = deleted["event_id"].as_str().unwrap().to_owned();
    user.wait_for_event(&portal, WAIT, |ev| {
        ev["type"] == "m.room.redaction" && ev["redacts"].as_str().or(ev["content"]["redacts"].as_str()) == Some(deleted_id.as_str())
    })
    .await
    .expect("Echo's delete");

    // Matrix edits, reactions and redactions reach WhatsApp.
    user.send_content(&portal, "m.room.message", json!({"msgtype": "m.text", "body": "* fixed", "m.new_content": {"msgtype": "m.text", "body": "fixed"}, "m.relates_to": {"rel_type": "m.replace", "event_id": hello}})).await;
    wait_action(&wa.sim, "edit", |a| matches!(a, SimAction::Edited { target, text } if *target == hello_wa && text.text == "fixed")).await;
    let answer_id = answer["event_id"].as_str().unwrap().to_owned();
    let reaction = user.react(&portal, &answer_id, "❤️").await;
    wait_action(&wa.sim, "react", |a| matches!(a, SimAction::Reacted { emoji, .. } if emoji == "❤️")).await;
    user.redact(&portal, &reaction).await;
    wait_action(&wa.sim, "remove the reaction", |a| matches!(a, SimAction::Reacted { emoji, .. } if emoji.is_empty())).await;
    user.redact(&portal, &hello).await;
    wait_action(&wa.sim, "delete", |a| matches!(a, SimAction::Revoked { target } if *target == hello_wa)).await;

    // A call is not bridged: the user is told in the management room.
    user.send_text(&portal, "please call").await;
    bot_says(&wa, &mut user, &room, "Echo (+447700900001) is calling you on WhatsApp. Calls are not bridged").await;
    wa.bridge.stop().await;
}

/// Whether a synced `m.typing` event shows exactly these of `who` typing.
fn typing_are(ev: &Value, who: &[&str], typing: &[bool]) -> bool {
    let Some(ids) = ev["content"]["user_ids"].as_array().filter(|_| ev["type"] == "m.typing") else { return false };
    who.iter().zip(typing).all(|(w, t)| ids.iter().any(|i| i == *w) == *t)
}

#[tokio::test]
async fn test_read_receipts_and_typing_both_ways_in_dms_and_groups_sim() {
    let wa = WaBridge::start().await;
    let (mut user, room) = user_with_dm(&wa, "wareceipts").await;
    let account = qr_login(&wa, &mut user, &room).await;
    let group = accept_invite(&mut user, "Sim Friends").await;
    command(&wa, &mut user, &room, "pm +447700900001", "accept the invite").await;
    let portal = accept_dm(&mut user, &wa.ghost(world::ECHO)).await;
    let echo = wa.ghost(world::ECHO);

    // WhatsApp → Matrix: Echo reads the message (its ghost's receipt) and answers.
    let hello = user.send_text(&portal, "read me").await;
    user.wait_for_event(&portal, WAIT, |ev| {
        ev["type"] == "m.receipt" && ev["content"][hello.as_str()]["m.read"][echo.as_str()].is_object()
    })
    .await
    .expect("Echo's read receipt");
    let answer = user.wait_for_event(&portal, WAIT, |ev| from_with(ev, &echo, "echo: read me")).await.expect("Echo answers");
    let answer_wa = wa.sim.said_by(world::ECHO).last().map(|m| m.id.clone()).expect("Echo's answer on the simulated side");

    // Matrix → WhatsApp: a receipt in a DM names the message; in a group also its sender.
    user.send_receipt(&portal, answer["event_id"].as_str().unwrap()).await;
    let echo_jid = mxbridge_whatsapp::jid::Jid::user(world::ECHO);
    wait_action(&wa.sim, "mark Echo's answer read", |a| {
        *a == SimAction::Read { chat: echo_jid.clone(), sender: None, ids: vec![answer_wa.clone()] }
    })
    .await;
    let friends = mxbridge_whatsapp::jid::Jid::group(world::FRIENDS_GROUP);
    let said = mxbridge_whatsapp::backend::InboundMessage {
        chat: friends.clone(),
        sender: world::ALICE.to_owned(),
        push_name: Some("Alice".to_owned()),
        id: format!("GROUPREAD{}", rand::random::<u32>()),
        timestamp_ms: 0,
        from_me: false,
        kind: mxbridge_whatsapp::backend::InboundKind::Text {
            text: mxbridge_whatsapp::markup::WaText { text: "read in the group".into(), mentions: vec![] },
            reply_to: None,
        },
    };
    let said_id = said.id.clone();
    assert!(wa.sim.inject(&account, mxbridge_whatsapp::backend::BackendEvent::Message(said)));
    let in_group =
        user.wait_for_event(&group, WAIT, |ev| from_with(ev, &wa.ghost(world::ALICE), "read in the group")).await.expect("Alice writes");
    user.send_receipt(&group, in_group["event_id"].as_str().unwrap()).await;
    wait_action(&wa.sim, "mark Alice's group message read", |a| {
        *a == SimAction::Read { chat: friends.clone(), sender: Some(world::ALICE.to_owned()), ids: vec![said_id.clone()] }
    })
    .await;

    // Typing both ways: the user's typing reaches WhatsApp, and Echo types while the user does.
    let me = user.user_id.clone();
    user.set_typing(&portal, true).await;
    wait_action(&wa.sim, "show typing", |a| *a == SimAction::Typing { chat: echo_jid.clone(), typing: true }).await;
    user.wait_for_event(&portal, WAIT, |ev| typing_are(ev, &[&echo, &me], &[true, true])).await.expect("Echo's ghost types too");
    while user.wait_for_event(&portal, Duration::from_millis(500), |ev| ev["type"] == "m.typing").await.is_ok() {}
    user.set_typing(&portal, false).await;
    wait_action(&wa.sim, "stop typing", |a| *a == SimAction::Typing { chat: echo_jid.clone(), typing: false }).await;
    user.wait_for_event(&portal, WAIT, |ev| typing_are(ev, &[&echo, &me], &[false, false])).await.expect("Echo's ghost stops typing");
    wa.bridge.stop().await;
}

#[tokio::test]
async fn test_media_kinds_locations_and_contact_cards_sim() {
    let wa = WaBridge::start().await;
    let (mut user, room) = user_with_dm(&wa, "wamedia").await;
    qr_login(&wa, &mut user, &room).await;
    command(&wa, &mut user, &room, "pm +447700900001", "accept the invite").await;
    let portal = accept_dm(&mut user, &wa.ghost(world::ECHO)).await;
    let echo = wa.ghost(world::ECHO);

    // Each Matrix file goes to WhatsApp as its kind (a WebP picture as a sticker, OGG audio
    // as a voice note), and Echo's copy comes back as the Matrix kind it started as.
    let files = [
        ("m.image", "cat.png", "image/png", false, false),
        ("m.image", "sticker.webp", "image/webp", true, false),
        ("m.video", "clip.mp4", "video/mp4", false, false),
        ("m.audio", "voice.ogg", "audio/ogg", false, true),
        ("m.file", "notes.pdf", "application/pdf", false, false),
    ];
    for (i, (msgtype, name, mime, sticker, voice)) in files.into_iter().enumerate() {
        let data = format!("{name} bytes {i}").into_bytes();
        let mxc = user.upload(data.clone(), mime).await;
        user.send_content(&portal, "m.room.message", json!({"msgtype": msgtype, "body": name, "url": mxc, "info": {"mimetype": mime}}))
            .await;
        let sent = wait_action(
            &wa.sim,
            "send the file",
            |a| matches!(a, SimAction::Sent { message, .. } if message.media.as_ref().is_some_and(|m| m.data == data)),
        )
        .await;
        let SimAction::Sent { message, .. } = sent else { unreachable!() };
        let file = message.media.expect("a file");
        assert_eq!(
            (file.mime.as_str(), file.name.as_str(), file.sticker, file.voice),
            (mime, name, sticker, voice),
            "{msgtype} to WhatsApp"
        );
        let back = user
            .wait_for_event(&portal, WAIT, |ev| ev["sender"] == echo.as_str() && ev["content"]["info"]["mimetype"] == mime)
            .await
            .unwrap_or_else(|e| panic!("Echo sends the {msgtype} back: {e:?}"));
        assert_eq!(back["content"]["msgtype"], msgtype, "{back}");
        assert_eq!(user.download(back["content"]["url"].as_str().unwrap()).await, data);
    }

    // A shared location arrives as a Matrix location (a contact card as text with the number).
    user.send_text(&portal, "please share your location").await;
    let place = user
        .wait_for_event(&portal, WAIT, |ev| ev["sender"] == echo.as_str() && ev["content"]["msgtype"] == "m.location")
        .await
        .expect("Echo's location");
    assert_eq!(place["content"]["geo_uri"], "geo:51.5007,-0.1246", "{place}");
    assert_eq!(place["content"]["body"], "Big Ben", "{place}");
    // A Matrix location goes to WhatsApp as a location with its description as the place name.
    let pin = user
        .send_content(&portal, "m.room.message", json!({"msgtype": "m.location", "body": "Eiffel Tower", "geo_uri": "geo:48.8584,2.2945"}))
        .await;
    let sent =
        wait_action(&wa.sim, "share the location", |a| matches!(a, SimAction::Sent { message, .. } if message.location.is_some())).await;
    let SimAction::Sent { message, .. } = sent else { unreachable!() };
    let at = message.location.expect("a location");
    assert_eq!((at.latitude, at.longitude, at.name.as_deref()), (48.8584, 2.2945, Some("Eiffel Tower")));
    assert!(message.media.is_none() && message.reply_to.is_none());
    let back = user
        .wait_for_event(&portal, WAIT, |ev| {
            ev["sender"] == echo.as_str() && ev["content"]["msgtype"] == "m.location" && ev["content"]["body"] == "Eiffel Tower"
        })
        .await
        .unwrap_or_else(|e| panic!("Echo shares the location {pin} back: {e:?}"));
    assert_eq!(back["content"]["geo_uri"], "geo:48.8584,2.2945", "the same point: {back}");
    // A WhatsApp contact card arrives as a vCard file to import, captioned with the name and
    // number.
    user.send_text(&portal, "send a contact").await;
    let alice_card = user
        .wait_for_event(&portal, WAIT, |ev| from_with(ev, &echo, &format!("👤 Contact: Alice +{}", world::ALICE)))
        .await
        .expect("Echo's contact card");
    assert_eq!(
        (&alice_card["content"]["msgtype"], &alice_card["content"]["filename"], &alice_card["content"]["info"]["mimetype"]),
        (&json!("m.file"), &json!("Alice.vcf"), &json!("text/vcard")),
        "{alice_card}"
    );
    let downloaded = String::from_utf8(user.download(alice_card["content"]["url"].as_str().unwrap()).await).unwrap();
    assert!(downloaded.contains("FN:Alice") && downloaded.contains(&format!("waid={}", world::ALICE)), "{downloaded}");
    // Matrix has no contact message: a vCard file goes to WhatsApp as a contact card, named
    // by its FN, and Echo shares the same card back.
    let card = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Builder;Bob;;;\r\nFN:Bob the Builder\r\nTEL;type=CELL;waid=447700900003:+44 7700 900003\r\nEND:VCARD\r\n";
    let mxc = user.upload(card.as_bytes().to_vec(), "text/vcard").await;
    user.send_content(
        &portal,
        "m.room.message",
        json!({"msgtype": "m.file", "body": "bob.vcf", "url": mxc, "info": {"mimetype": "text/vcard"}}),
    )
    .await;
    let sent =
        wait_action(&wa.sim, "share the contact card", |a| matches!(a, SimAction::Sent { message, .. } if message.contact.is_some())).await;
    let SimAction::Sent { message, .. } = sent else { unreachable!() };
    let shared = message.contact.expect("a contact card");
    assert_eq!(shared.display_name, "Bob the Builder");
    assert!(shared.vcard.starts_with("BEGIN:VCARD") && shared.vcard.contains("waid=447700900003"), "{}", shared.vcard);
    assert!(message.media.is_none(), "a card, not a file");
    let bob_card = user
        .wait_for_event(&portal, WAIT, |ev| from_with(ev, &echo, &format!("👤 Contact: Bob the Builder +{}", world::BOB)))
        .await
        .expect("Echo shares the card back");
    assert_eq!(user.download(bob_card["content"]["url"].as_str().unwrap()).await, card.trim().as_bytes(), "the same card");
    // A file that only claims to be a vCard stays a file.
    let mxc = user.upload(b"not a card".to_vec(), "text/vcard").await;
    user.send_content(
        &portal,
        "m.room.message",
        json!({"msgtype": "m.file", "body": "broken.vcf", "url": mxc, "info": {"mimetype": "text/vcard"}}),
    )
    .await;
    wait_action(&wa.sim, "send the broken card as a file", |a| {
        matches!(a, SimAction::Sent { message, .. } if message.media.as_ref().is_some_and(|m| m.name == "broken.vcf") && message.contact.is_none())
    })
    .await;
    wa.bridge.stop().await;
}

/// Waits until `who` is (or is no longer) among the room's joined members.
async fn wait_member(user: &TestUser, room: &str, who: &str, joined: bool) {
    crate::harness::wait::wait_until(WAIT, Duration::from_millis(200), || {
        let members = user.joined_members(room);
        async move { (members.await.iter().any(|m| m == who) == joined).then_some(()) }
    })
    .await
    .unwrap_or_else(|_| panic!("{who} did not {} the room", if joined { "join" } else { "leave" }));
}

#[tokio::test]
async fn test_group_names_topics_and_members_both_ways_sim() {
    let wa = WaBridge::start().await;
    let (mut user, room) = user_with_dm(&wa, "wagroups").await;
    qr_login(&wa, &mut user, &room).await;
    let friends = accept_invite(&mut user, "Sim Friends").await;
    let (alice, bob, carol) = (wa.ghost(world::ALICE), wa.ghost(world::BOB), wa.ghost(world::CAROL));
    wait_member(&user, &friends, &bob, true).await;
    // The account administers Sim Friends on WhatsApp, so its user may rename the room.
    user.wait_power_level(&friends, &user.user_id.clone(), 95).await;

    // WhatsApp → Matrix: Alice renames the group, Carol joins, Bob leaves.
    user.send_text(&friends, "please rename").await;
    let renamed = user
        .wait_for_event(&friends, WAIT, |ev| ev["type"] == "m.room.name" && ev["content"]["name"] == "Sim Friends (renamed)")
        .await
        .expect("the room follows the group's new subject");
    assert_eq!(renamed["sender"], alice.as_str(), "the one who renamed it renames the room");
    user.send_text(&friends, "please join").await;
    wait_member(&user, &friends, &carol, true).await;
    assert_eq!(user.display_name(&carol).await.as_deref(), Some("Carol (WA)"));
    user.send_text(&friends, "please leave").await;
    wait_member(&user, &friends, &bob, false).await;
    assert!(user.joined_members(&friends).await.contains(&alice), "only Bob left");
    let groups = command(&wa, &mut user, &room, "list groups", "Your WhatsApp groups").await;
    let body = groups["content"]["body"].as_str().unwrap();
    assert!(body.contains(&format!("Sim Friends (renamed): `{}` (3 members)", world::FRIENDS_GROUP)), "{body}");

    // Matrix → WhatsApp: renaming the room sets the group's subject, once.
    user.put_state(&friends, "m.room.name", "", json!({"name": "Sim Pals"})).await;
    let group = mxbridge_whatsapp::jid::Jid::group(world::FRIENDS_GROUP);
    wait_action(&wa.sim, "rename the group", |a| *a == SimAction::SubjectSet { group: group.clone(), subject: "Sim Pals".into() }).await;
    let groups = command(&wa, &mut user, &room, "list groups", "Your WhatsApp groups").await;
    assert!(groups["content"]["body"].as_str().unwrap().contains(&format!("Sim Pals: `{}`", world::FRIENDS_GROUP)), "{groups}");
    // A later WhatsApp change starts from the new name: the rename was stored, not undone.
    user.send_text(&friends, "rename again").await;
    user.wait_for_event(&friends, WAIT, |ev| ev["type"] == "m.room.name" && ev["content"]["name"] == "Sim Pals (renamed)")
        .await
        .expect("the next rename builds on the Matrix one");

    // Descriptions both ways: Alice describes the group, then the user sets the room's topic.
    user.send_text(&friends, "please describe").await;
    let topic = user
        .wait_for_event(&friends, WAIT, |ev| ev["type"] == "m.room.topic" && ev["content"]["topic"] == "Set by Alice")
        .await
        .expect("the room's topic follows the group's description");
    assert_eq!(topic["sender"], alice.as_str());
    user.put_state(&friends, "m.room.topic", "", json!({"topic": "Weekend plans"})).await;
    wait_action(&wa.sim, "describe the group", |a| {
        *a == SimAction::DescriptionSet { group: group.clone(), description: Some("Weekend plans".into()) }
    })
    .await;

    // Kicking a ghost removes that member on WhatsApp (the account is an admin); WhatsApp
    // has no bans, and the user is told so.
    user.kick(&friends, &carol, "bye").await;
    wait_action(&wa.sim, "remove Carol", |a| *a == SimAction::Removed { group: group.clone(), number: world::CAROL.into() }).await;
    let groups = command(&wa, &mut user, &room, "list groups", "Your WhatsApp groups").await;
    assert!(groups["content"]["body"].as_str().unwrap().contains("(2 members)"), "{groups}");
    user.request_ban(&friends, &carol, "and stay out").await;
    let bot = wa.bot();
    let refused = user
        .wait_for_event(&friends, WAIT, |ev| {
            ev["sender"] == bot.as_str() && ev["content"]["body"].as_str().is_some_and(|b| b.contains("the ban could not be done there"))
        })
        .await
        .expect("the user is told WhatsApp has no bans");
    assert!(refused["content"]["body"].as_str().unwrap().contains("kick them instead"), "{refused}");

    // A member made admin on WhatsApp gets the admins' power in the room.
    user.send_text(&friends, "please join").await;
    wait_member(&user, &friends, &bob, true).await;
    user.send_text(&friends, "please promote").await;
    user.wait_power_level(&friends, &bob, 95).await;

    // The bridge's own renames and topics reach it too (a moment later): none goes back.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let actions = wa.sim.actions();
    let renames = actions.iter().filter(|a| matches!(a, SimAction::SubjectSet { .. })).count();
    assert_eq!(renames, 1, "the bridge's own room renames are not sent back to WhatsApp");
    let descriptions = actions.iter().filter(|a| matches!(a, SimAction::DescriptionSet { .. })).count();
    assert_eq!(descriptions, 1, "the bridge's own topics are not sent back to WhatsApp");
    wa.bridge.stop().await;
}
