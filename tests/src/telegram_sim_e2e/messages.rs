//! Telegram (simulated backend) e2e: messages both ways with formatting, replies, edits,
//! reactions, deletions, receipts, typing, media, locations and flood waits.

use super::*;

#[tokio::test]
async fn test_echo_contact_both_ways_with_formatting_replies_edits_reactions_deletions_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-echo")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tgecho").await;
    let account = login(&mut user, &room, &bot, &random_phone()).await;
    let echo = join_portal(&mut user, "with Echo", |m, _| m.contains(&ghost(ECHO))).await;
    let echo_ghost = ghost(ECHO);

    // Matrix HTML with a pill becomes Telegram entities with a mention by id (UTF-16 offsets).
    let html = format!("😀 <b>bold</b> for <a href=\"https://matrix.to/#/{}\">Alice</a>", ghost(ALICE));
    let hello = user
        .send_content(
            &echo,
            "m.room.message",
            json!({"msgtype": "m.text", "body": "😀 bold for Alice", "format": "org.matrix.custom.html", "formatted_body": html}),
        )
        .await;
    let sent = wait_action(&b.sim, |a| matches!(a, SimAction::Sent { peer: Peer::User(ECHO), .. })).await;
    let SimAction::Sent { account: from, id: hello_remote, message, .. } = sent else { unreachable!() };
    assert_eq!(from, account);
    assert_eq!(message.text.text, "😀 bold for Alice");
    let kinds: Vec<(EntityKind, u32, u32)> = message.text.entities.iter().map(|e| (e.kind.clone(), e.offset, e.length)).collect();
    assert_eq!(kinds, vec![(EntityKind::Bold, 3, 4), (EntityKind::MentionName(ALICE), 12, 5)]);

    // Echo answers as a reply, with the same formatting shifted behind "echo: ".
    let answer = user
        .wait_for_event(&echo, WAIT, |ev| ev["sender"] == echo_ghost.as_str() && ev["content"]["body"] == "echo: 😀 bold for Alice")
        .await
        .expect("Echo answers");
    assert_eq!(answer["content"]["m.relates_to"]["m.in_reply_to"]["event_id"], hello.as_str());
    let formatted = answer["content"]["formatted_body"].as_str().unwrap_or_default();
    assert!(formatted.contains("<strong>bold</strong>") || formatted.contains("<b>bold</b>"), "{formatted}");
    assert!(formatted.contains(&format!("https://matrix.to/#/{}", ghost(ALICE))), "the mention is a pill again: {formatted}");
    let answer_id = answer["event_id"].as_str().unwrap().to_owned();

    // A Matrix reply, edit, reaction and redaction reach Telegram with the right ids.
    user.send_content(
        &echo,
        "m.room.message",
        json!({"msgtype": "m.text", "body": "replying", "m.relates_to": {"m.in_reply_to": {"event_id": answer_id}}}),
    )
    .await;
    wait_action(&b.sim, |a| matches!(a, SimAction::Sent { message, .. } if message.text.text == "replying" && message.reply_to.is_some()))
        .await;
    user.send_content(
        &echo,
        "m.room.message",
        json!({"msgtype": "m.text", "body": "* hi again", "m.new_content": {"msgtype": "m.text", "body": "hi again"}, "m.relates_to": {"rel_type": "m.replace", "event_id": hello}}),
    )
    .await;
    wait_action(&b.sim, |a| matches!(a, SimAction::Edited { id, text, .. } if *id == hello_remote && text.text == "hi again")).await;
    let reaction = user.react(&echo, &answer_id, "👍").await;
    wait_action(&b.sim, |a| matches!(a, SimAction::Reacted { emoji: Some(e), .. } if e == "👍")).await;
    user.redact(&echo, &reaction).await;
    wait_action(&b.sim, |a| matches!(a, SimAction::Reacted { emoji: None, .. })).await;
    user.redact(&echo, &hello).await;
    wait_action(&b.sim, |a| matches!(a, SimAction::Deleted { ids, .. } if ids == &vec![hello_remote])).await;

    // Request words: Echo edits its answer, reacts to the message, deletes its answer.
    let asking = user.send_text(&echo, "please edit please react").await;
    let answer = user
        .wait_for_event(&echo, WAIT, |ev| ev["sender"] == echo_ghost.as_str() && ev["content"]["body"] == "echo: please edit please react")
        .await
        .expect("Echo answers");
    let answer_id = answer["event_id"].as_str().unwrap().to_owned();
    user.wait_for_event(&echo, WAIT, |ev| {
        ev["type"] == "m.reaction" && ev["sender"] == echo_ghost.as_str() && ev["content"]["m.relates_to"]["event_id"] == asking.as_str()
    })
    .await
    .expect("Echo's reaction on the user's message");
    user.wait_for_event(&echo, WAIT, |ev| {
        ev["content"]["m.relates_to"]["rel_type"] == "m.replace"
            && ev["content"]["m.relates_to"]["event_id"] == answer_id.as_str()
            && ev["content"]["m.new_content"]["body"] == "echo (edited): please edit please react"
    })
    .await
    .expect("Echo's edit");
    user.send_text(&echo, "please delete").await;
    let answer = user
        .wait_for_event(&echo, WAIT, |ev| ev["sender"] == echo_ghost.as_str() && ev["content"]["body"] == "echo: please delete")
        .await
        .expect("Echo answers");
    let answer_id = answer["event_id"].as_str().unwrap().to_owned();
    user.wait_for_event(&echo, WAIT, |ev| {
        ev["type"] == "m.room.redaction" && (ev["redacts"] == answer_id.as_str() || ev["content"]["redacts"] == answer_id.as_str())
    })
    .await
    .expect("Echo's deletion redacts its answer");

    // Media: a picture goes to Telegram as a photo and comes back from Echo as an image.
    let png = vec![0x89, b'P', b'N', b'G', 1, 2, 3, 4];
    let mxc = user.upload(png.clone(), "image/png").await;
    user.send_content(
        &echo,
        "m.room.message",
        json!({"msgtype": "m.image", "body": "cat.png", "url": mxc, "info": {"mimetype": "image/png"}}),
    )
    .await;
    wait_action(&b.sim, |a| matches!(a, SimAction::Sent { message, .. } if message.media.as_ref().is_some_and(|m| m.data == png))).await;
    let image = user
        .wait_for_event(&echo, WAIT, |ev| ev["sender"] == echo_ghost.as_str() && ev["content"]["msgtype"] == "m.image")
        .await
        .expect("Echo sends the picture back");
    assert_eq!(user.download(image["content"]["url"].as_str().unwrap()).await, png);
    b.bridge.stop().await;
}

/// Whether a synced `m.typing` event shows exactly these of `who` typing.
fn typing_are(ev: &Value, who: &[&str], typing: &[bool]) -> bool {
    let Some(ids) = ev["content"]["user_ids"].as_array().filter(|_| ev["type"] == "m.typing") else { return false };
    who.iter().zip(typing).all(|(w, t)| ids.iter().any(|i| i == *w) == *t)
}

#[tokio::test]
async fn test_read_receipts_and_typing_both_ways_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-receipts")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tgreceipts").await;
    login(&mut user, &room, &bot, &random_phone()).await;
    let echo = join_portal(&mut user, "with Echo", |m, _| m.contains(&ghost(ECHO))).await;
    let echo_ghost = ghost(ECHO);

    // Telegram → Matrix: Echo reads the message (its ghost's read receipt) before answering.
    let hello = user.send_text(&echo, "did you read this?").await;
    user.wait_for_event(&echo, WAIT, |ev| {
        ev["type"] == "m.receipt" && ev["content"][hello.as_str()]["m.read"][echo_ghost.as_str()].is_object()
    })
    .await
    .expect("Echo's read receipt on the user's message");
    let answer = user
        .wait_for_event(&echo, WAIT, |ev| ev["sender"] == echo_ghost.as_str() && ev["content"]["body"] == "echo: did you read this?")
        .await
        .expect("Echo answers");

    // Matrix → Telegram: the user's receipt on Echo's answer marks the chat read up to it.
    let answer_remote = b.sim.said_by(ECHO).last().map(|m| m.id).expect("Echo's answer on the simulated side");
    user.send_receipt(&echo, answer["event_id"].as_str().unwrap()).await;
    wait_action(&b.sim, |a| *a == SimAction::Read { peer: Peer::User(ECHO), up_to: answer_remote }).await;

    // Typing both ways: the user's typing reaches Telegram, and Echo types while the user
    // does (Echo also types a moment before each answer, but never together with the user).
    let me = user.user_id.clone();
    user.set_typing(&echo, true).await;
    wait_action(&b.sim, |a| *a == SimAction::Typing { peer: Peer::User(ECHO), typing: true }).await;
    user.wait_for_event(&echo, WAIT, |ev| typing_are(ev, &[&echo_ghost, &me], &[true, true])).await.expect("Echo's ghost types too");
    while user.wait_for_event(&echo, Duration::from_millis(500), |ev| ev["type"] == "m.typing").await.is_ok() {}
    user.set_typing(&echo, false).await;
    wait_action(&b.sim, |a| *a == SimAction::Typing { peer: Peer::User(ECHO), typing: false }).await;
    user.wait_for_event(&echo, WAIT, |ev| typing_are(ev, &[&echo_ghost, &me], &[false, false]))
        .await
        .expect("Echo's ghost stops typing with the user");
    b.bridge.stop().await;
}

#[tokio::test]
async fn test_voice_video_sticker_file_and_location_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-media")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tgmedia").await;
    login(&mut user, &room, &bot, &random_phone()).await;
    let echo = join_portal(&mut user, "with Echo", |m, _| m.contains(&ghost(ECHO))).await;
    let echo_ghost = ghost(ECHO);

    // Each Matrix file kind goes to Telegram as its Telegram kind, and Echo's copy comes back
    // as the Matrix kind it started as (a sticker as an image).
    let files = [
        ("m.audio", "voice.ogg", "audio/ogg", TgMediaKind::Voice),
        ("m.video", "clip.mp4", "video/mp4", TgMediaKind::Video),
        ("m.image", "sticker.webp", "image/webp", TgMediaKind::Sticker),
        ("m.file", "notes.pdf", "application/pdf", TgMediaKind::Document),
    ];
    for (i, (msgtype, name, mime, kind)) in files.into_iter().enumerate() {
        let data = format!("{name} bytes {i}").into_bytes();
        let mxc = user.upload(data.clone(), mime).await;
        user.send_content(&echo, "m.room.message", json!({"msgtype": msgtype, "body": name, "url": mxc, "info": {"mimetype": mime}})).await;
        let sent =
            wait_action(&b.sim, |a| matches!(a, SimAction::Sent { message, .. } if message.media.as_ref().is_some_and(|m| m.data == data)))
                .await;
        let SimAction::Sent { message, .. } = sent else { unreachable!() };
        let file = message.media.expect("a file");
        assert_eq!((file.kind, file.mime.as_str(), file.name.as_str()), (kind, mime, name), "{msgtype} to Telegram");
        let back = user
            .wait_for_event(&echo, WAIT, |ev| ev["sender"] == echo_ghost.as_str() && ev["content"]["info"]["mimetype"] == mime)
            .await
            .unwrap_or_else(|e| panic!("Echo sends the {msgtype} back: {e:?}"));
        assert_eq!(back["content"]["msgtype"], msgtype, "{back}");
        assert_eq!(user.download(back["content"]["url"].as_str().unwrap()).await, data);
    }

    // A location shared on Telegram arrives as a real m.location with the point's geo URI.
    user.send_text(&echo, "please share location").await;
    let (lat, lon) = ECHO_LOCATION;
    let shared = user
        .wait_for_event(&echo, WAIT, |ev| ev["sender"] == echo_ghost.as_str() && ev["content"]["msgtype"] == "m.location")
        .await
        .expect("Echo's location");
    assert_eq!(shared["content"]["geo_uri"], format!("geo:{lat},{lon}"), "{shared}");
    assert_eq!(shared["content"]["body"], format!("Location: {lat}, {lon}"), "a text for clients without maps: {shared}");

    // A Matrix location goes to Telegram as a map pin (Echo shares it back, as a location).
    let pin = user
        .send_content(
            &echo,
            "m.room.message",
            json!({"msgtype": "m.location", "body": "Location at the Eiffel Tower", "geo_uri": "geo:48.8584,2.2945;u=20"}),
        )
        .await;
    wait_action(
        &b.sim,
        |a| matches!(a, SimAction::Sent { message, .. } if message.location == Some((48.8584, 2.2945)) && message.text.text.is_empty()),
    )
    .await;
    let back = user
        .wait_for_event(&echo, WAIT, |ev| {
            ev["sender"] == echo_ghost.as_str()
                && ev["content"]["msgtype"] == "m.location"
                && ev["content"]["geo_uri"] == "geo:48.8584,2.2945"
        })
        .await
        .expect("Echo shares the location back");
    assert_eq!(back["content"]["m.relates_to"]["m.in_reply_to"]["event_id"], pin.as_str(), "as a reply to the user's pin");
    b.bridge.stop().await;
}

#[tokio::test]
async fn test_a_flood_wait_holds_messages_and_sends_them_in_order_after_it_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-flood")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tgflood").await;
    let account = login(&mut user, &room, &bot, &random_phone()).await;
    let echo = join_portal(&mut user, "with Echo", |m, _| m.contains(&ghost(ECHO))).await;

    // Telegram answers the next call with FLOOD_WAIT_3: the message waits 3 s and is sent
    // again, and the one after it queues behind the wait instead of being dropped.
    b.sim.flood_next(account, 3);
    let started = tokio::time::Instant::now();
    user.send_text(&echo, "first after the flood wait").await;
    user.send_text(&echo, "second after the flood wait").await;
    wait_action(&b.sim, |a| matches!(a, SimAction::Sent { message, .. } if message.text.text == "second after the flood wait")).await;
    assert!(started.elapsed() >= Duration::from_secs(3), "sent only after the wait: {:?}", started.elapsed());
    let sent: Vec<String> = b
        .sim
        .actions()
        .into_iter()
        .filter_map(|a| match a {
            SimAction::Sent { peer: Peer::User(ECHO), message, .. } => Some(message.text.text),
            _ => None,
        })
        .collect();
    assert_eq!(sent, vec!["first after the flood wait", "second after the flood wait"], "both sent once, in order");
    user.wait_for_event(&echo, WAIT, |ev| ev["content"]["body"] == "echo: first after the flood wait").await.expect("Echo answers");
    // The user is told once, in the management room, that the messages wait and go out.
    let told = user
        .wait_for_event(&room, WAIT, |ev| is_notice(ev, &bot, "asked the bridge to wait 3 seconds"))
        .await
        .expect("the wait is told to the user");
    assert!(told["content"]["body"].as_str().unwrap().contains("no need to send them again"), "{told}");
    let again = user.wait_for_event(&room, Duration::from_secs(2), |ev| is_notice(ev, &bot, "asked the bridge to wait")).await;
    assert!(again.is_err(), "told once per wait: {again:?}");
    b.bridge.stop().await;
}
