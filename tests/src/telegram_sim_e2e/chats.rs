//! Telegram (simulated backend) e2e: the portals a login opens, contacts as ghosts,
//! channels' rights, `pm`, `delete-all-portals`.

use super::*;

#[tokio::test]
async fn test_login_opens_recent_chats_and_a_first_message_creates_its_portal_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-portals")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tgportals").await;
    let account = login(&mut user, &room, &bot, &random_phone()).await;

    // Five portals: Echo, the group and the two channels from the chat list, and the
    // Greeter's chat, which is not in the list: its first message creates the portal.
    let mut rooms = Vec::new();
    let mut direct = Vec::new();
    for _ in 0..5 {
        let name = std::cell::RefCell::new(Value::Null);
        let is_direct = std::cell::Cell::new(false);
        let room = user
            .wait_for_invite(WAIT, |_, state| {
                *name.borrow_mut() = invite_name(state);
                is_direct.set(invite_is_direct(state));
                true
            })
            .await
            .expect("an invite to a portal");
        user.join(&room).await;
        if is_direct.get() {
            direct.push(room.clone());
        }
        rooms.push((room, name.into_inner()));
    }
    let named = |n: &str| rooms.iter().find(|(_, name)| name == n).map(|(r, _)| r.clone()).unwrap_or_else(|| panic!("no {n}: {rooms:?}"));
    let (group, news, notes) = (named("Sim Group"), named("Sim News"), named("Sim Notes"));
    let dms: Vec<String> = rooms.iter().filter(|(_, name)| name.is_null()).map(|(r, _)| r.clone()).collect();
    assert_eq!(dms.len(), 2, "{rooms:?}");
    // Private chats are DMs in Matrix clients: their invites say so; groups' and channels' do not.
    let mut sorted_dms = dms.clone();
    sorted_dms.sort();
    direct.sort();
    assert_eq!(direct, sorted_dms, "exactly the private chats are invited as direct: {rooms:?}");
    crate::harness::wait::wait_until(WAIT, Duration::from_millis(100), || {
        let members = user.joined_members(&group);
        async move {
            let members = members.await;
            [ALICE, BOB, CAROL].iter().all(|id| members.contains(&ghost(*id))).then_some(())
        }
    })
    .await
    .expect("Alice, Bob and Carol are ghosts in the group");
    assert_eq!(user.display_name(&ghost(ALICE)).await.as_deref(), Some("Alice Sim (Telegram)"));
    let levels = user.get_state(&group, "m.room.power_levels", "").await;
    assert_eq!(levels["users"][ghost(ALICE)], 95, "the group's admin is an admin: {levels}");
    let mut greeted = false;
    for dm in &dms {
        greeted |= user
            .wait_for_event(dm, Duration::from_secs(5), |ev| {
                ev["sender"] == ghost(1005).as_str()
                    && ev["content"]["body"].as_str().is_some_and(|b| b.starts_with("Welcome to the simulated"))
            })
            .await
            .is_ok();
    }
    assert!(greeted, "the greeting arrived in its own portal");
    // Channels are read-only: only moderators and up (the channel's admins) may post, and the
    // channel's posts arrive from its admin's ghost.
    let levels = user.get_state(&news, "m.room.power_levels", "").await;
    let own_level = levels["users"][user.user_id.as_str()].as_i64().unwrap_or(levels["users_default"].as_i64().unwrap_or(0));
    assert_eq!(levels["events_default"], 50, "{levels}");
    assert!(own_level < 50, "the user cannot post in the channel: {levels}");
    assert_eq!(levels["users"][ghost(CAROL)], 95, "the channel's admin can: {levels}");
    let (status, _) = user.try_send_text(&news, "can I post?").await;
    assert_eq!(status, 403, "the homeserver refuses the user's post");
    // In a channel the account owns, the user is an admin and posts.
    user.wait_power_level(&notes, &user.user_id, 95).await;
    let (status, body) = user.try_send_text(&notes, "my own post").await;
    assert_eq!(status, 200, "the owner posts in their channel: {body}");
    wait_action(
        &b.sim,
        |a| matches!(a, SimAction::Sent { peer, message, .. } if *peer == OWN_CHANNEL && message.text.text == "my own post"),
    )
    .await;
    // No longer an admin there: after `sync` the portal is read-only for the user too.
    b.sim.demote(account, OWN_CHANNEL);
    command(&mut user, &room, &bot, "sync", "Synced 4 recent chats").await;
    user.wait_power_level(&notes, &user.user_id, 0).await;
    let (status, _) = user.try_send_text(&notes, "still mine?").await;
    assert_eq!(status, 403, "a former admin cannot post");
    b.sim.say(account, CAROL, CHANNEL, FormattedText::plain("news of the day")).expect("delivered");
    user.wait_for_event(&news, WAIT, |ev| ev["sender"] == ghost(CAROL).as_str() && ev["content"]["body"] == "news of the day")
        .await
        .expect("the channel's post");
    // Carol's chat is 90 days old: left out by the 30-day limit.
    assert!(user.wait_for_invite(Duration::from_secs(2), |_, _| true).await.is_err(), "no portal for the old chat");

    // Group members speak: Bob answers, and Alice writes on her own.
    user.send_text(&group, "hello group").await;
    user.wait_for_event(&group, WAIT, |ev| ev["sender"] == ghost(BOB).as_str() && ev["content"]["body"] == "Bob got: hello group")
        .await
        .expect("Bob answers in the group");
    b.sim.say(account, ALICE, GROUP, FormattedText::plain("hi from Alice")).expect("delivered");
    user.wait_for_event(&group, WAIT, |ev| ev["sender"] == ghost(ALICE).as_str() && ev["content"]["body"] == "hi from Alice")
        .await
        .expect("Alice's message");

    // An @username mention (Telegram's usual kind) becomes a pill of the user's ghost; a
    // username nobody has stays text.
    let mention = |offset, length| Entity { kind: EntityKind::Mention, offset, length };
    let text = FormattedText { text: "@sim_bob and @sim_nobody, look".into(), entities: vec![mention(0, 8), mention(13, 11)] };
    b.sim.say(account, ALICE, GROUP, text).expect("delivered");
    let pill = user
        .wait_for_event(&group, WAIT, |ev| {
            ev["sender"] == ghost(ALICE).as_str() && ev["content"]["body"] == "@sim_bob and @sim_nobody, look"
        })
        .await
        .expect("Alice's mention");
    let html = pill["content"]["formatted_body"].as_str().unwrap_or_default();
    assert!(html.contains(&format!("<a href=\"https://matrix.to/#/{}\">@sim_bob</a>", ghost(BOB))), "a pill of Bob's ghost: {pill}");
    assert!(!html.contains("sim_nobody</a>"), "no pill for an unknown username: {html}");
    b.bridge.stop().await;
}

#[tokio::test]
async fn test_contacts_are_ghosts_with_their_names_and_pictures_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-contacts")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tgcontacts").await;
    // Ghosts outlive a test's bridge on the shared Synapse: this bridge (with its own
    // database) uploads each picture anew, so its avatars are the ones that replace these.
    let contacts = [(ECHO, "Echo"), (ALICE, "Alice Sim"), (BOB, "Bob Sim"), (CAROL, "Carol Sim"), (GREETER, "Greeter")];
    let mut earlier = Vec::new();
    for (id, _) in contacts {
        earlier.push(user.avatar_url(&ghost(id)).await);
    }
    login(&mut user, &room, &bot, &random_phone()).await;

    // Every contact's ghost gets the contact's name and picture, read back through
    // Synapse's profile API: the picture's bytes are the contact's own.
    let mut avatars = Vec::new();
    for ((id, name), earlier) in contacts.into_iter().zip(&earlier) {
        let ghost_id = ghost(id);
        let avatar = crate::harness::wait::wait_until(WAIT, Duration::from_millis(100), || {
            let url = user.avatar_url(&ghost_id);
            async move { url.await.filter(|u| Some(u) != earlier.as_ref()) }
        })
        .await
        .unwrap_or_else(|e| panic!("{name}'s ghost has no avatar: {e:?}"));
        assert_eq!(user.display_name(&ghost(id)).await, Some(format!("{name} (Telegram)")));
        assert_eq!(user.download(&avatar).await, avatar_png(id).unwrap(), "{name}'s picture");
        avatars.push(avatar);
    }
    assert!(avatars.iter().enumerate().all(|(i, a)| !avatars[i + 1..].contains(a)), "one picture per contact: {avatars:?}");

    // `sync` refreshes the contacts; pictures that did not change are not uploaded again.
    command(&mut user, &room, &bot, "sync", "pictures of 5 contacts").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for ((id, name), before) in contacts.iter().zip(&avatars) {
        assert_eq!(user.avatar_url(&ghost(*id)).await.as_ref(), Some(before), "{name}'s avatar is unchanged");
    }
    b.bridge.stop().await;
}

#[tokio::test]
async fn test_channels_opened_by_their_first_post_get_the_rights_of_those_opened_at_login_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-late-channels")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tglatechan").await;
    let account = login(&mut user, &room, &bot, &random_phone()).await;
    user.wait_for_event(&room, WAIT, |ev| is_notice(ev, &bot, "Connected to Telegram")).await.expect("connected");

    // A channel the user only reads: its first post creates a read-only portal.
    b.sim.say(account, CAROL, LATE_CHANNEL, FormattedText::plain("first alert")).expect("delivered");
    let alerts = join_portal(&mut user, "Sim Alerts", |_, name| name == "Sim Alerts").await;
    user.wait_for_event(&alerts, WAIT, |ev| ev["sender"] == ghost(CAROL).as_str() && ev["content"]["body"] == "first alert")
        .await
        .expect("the post that opened the portal");
    let levels = user.get_state(&alerts, "m.room.power_levels", "").await;
    assert_eq!(levels["events_default"], 50, "read-only: {levels}");
    let own_level = levels["users"][user.user_id.as_str()].as_i64().unwrap_or(levels["users_default"].as_i64().unwrap_or(0));
    assert!(own_level < 50, "the user cannot post: {levels}");
    let (status, _) = user.try_send_text(&alerts, "can I post?").await;
    assert_eq!(status, 403, "the homeserver refuses the user's post");

    // A channel the account is an admin of: its first post creates a portal where the user posts.
    b.sim.say(account, ALICE, LATE_OWN_CHANNEL, FormattedText::plain("first draft")).expect("delivered");
    let drafts = join_portal(&mut user, "Sim Drafts", |_, name| name == "Sim Drafts").await;
    user.wait_for_event(&drafts, WAIT, |ev| ev["sender"] == ghost(ALICE).as_str() && ev["content"]["body"] == "first draft")
        .await
        .expect("the post that opened the portal");
    let levels = user.get_state(&drafts, "m.room.power_levels", "").await;
    assert_eq!(levels["events_default"], 50, "a channel stays read-only for everyone else: {levels}");
    user.wait_power_level(&drafts, &user.user_id, 95).await;
    let (status, body) = user.try_send_text(&drafts, "my draft").await;
    assert_eq!(status, 200, "an admin posts in the channel: {body}");
    wait_action(
        &b.sim,
        |a| matches!(a, SimAction::Sent { peer, message, .. } if *peer == LATE_OWN_CHANNEL && message.text.text == "my draft"),
    )
    .await;
    b.bridge.stop().await;
}

#[tokio::test]
async fn test_pm_known_number_username_and_unknown_number_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-pm")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tgpm").await;
    login(&mut user, &room, &bot, &random_phone()).await;
    command(&mut user, &room, &bot, "pm +15550001002", "Created a chat").await;
    join_portal(&mut user, "with Alice", |m, name| name.is_null() && m.contains(&ghost(ALICE))).await;
    command(&mut user, &room, &bot, "pm @sim_carol", "Created a chat").await;
    join_portal(&mut user, "with Carol", |m, name| name.is_null() && m.contains(&ghost(CAROL))).await;
    command(&mut user, &room, &bot, "pm +15559999999", "is not on Telegram").await;
    command(&mut user, &room, &bot, "pm x", "neither a phone number").await;
    command(&mut user, &room, &bot, "pm @nobody_here", "no Telegram user").await;
    b.bridge.stop().await;
}

#[tokio::test]
async fn test_delete_all_portals_removes_the_rooms_and_a_new_message_opens_a_new_one_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-delete")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tgdelete").await;
    let account = login(&mut user, &room, &bot, &random_phone()).await;
    // The four chats of the chat list and the Greeter's.
    let mut portals = Vec::new();
    for _ in 0..5 {
        let portal = user.wait_for_invite(WAIT, |_, _| true).await.expect("an invite to a portal");
        user.join(&portal).await;
        portals.push(portal);
    }
    let echo = crate::harness::wait::wait_until(WAIT, Duration::from_millis(200), || {
        let user = &user;
        let portals = &portals;
        async move {
            for portal in portals {
                if user.joined_members(portal).await.contains(&ghost(ECHO)) {
                    return Some(portal.clone());
                }
            }
            None
        }
    })
    .await
    .expect("Echo's portal is among them");

    command(&mut user, &room, &bot, "delete-all-portals", "Deleted 5 portals").await;
    for portal in &portals {
        user.wait_for_membership(portal, "leave", WAIT).await.unwrap_or_else(|e| panic!("the user is removed from {portal}: {e:?}"));
    }
    // The chat lives on in Telegram: its next message opens a new portal.
    b.sim.say(account, ECHO, Peer::User(ECHO), FormattedText::plain("still here")).expect("delivered");
    let again = join_portal(&mut user, "with Echo again", |m, _| m.contains(&ghost(ECHO))).await;
    assert_ne!(again, echo, "a new room");
    user.wait_for_event(&again, WAIT, |ev| ev["content"]["body"] == "still here").await.expect("the message in the new portal");
    b.bridge.stop().await;
}
