//! WhatsApp (simulated backend): private chats come from the person. The DM the history
//! sync opens, the one a contact's message opens, and the one `pm +4412345678` opens (the
//! guide's command verbatim; the simulation has that number on WhatsApp) invite the user
//! from the contact's ghost, marked direct.

use mxbridge_whatsapp::backend::{BackendEvent, InboundKind, InboundMessage};
use mxbridge_whatsapp::jid::Jid;
use mxbridge_whatsapp::markup::WaText;

use super::*;
use crate::dm_invites_e2e::accept_dm_from;
use crate::harness::invites::Invite;

#[tokio::test]
async fn test_private_chats_and_pm_by_number_invite_from_the_contacts_ghost_sim() {
    let wa = WaBridge::start().await;
    let (mut user, room) = user_with_dm(&wa, "wadminv").await;
    let bot = wa.bot();
    let account = qr_login(&wa, &mut user, &room).await;

    // History sync: Alice's DM and the "Sim Friends" group.
    let mut invites: Vec<Invite> = Vec::new();
    for _ in 0..2 {
        invites.push(user.wait_for_invite_info(WAIT, |_, _| true).await.expect("an invite to a portal"));
    }
    let (mut dms, groups): (Vec<Invite>, Vec<Invite>) = invites.into_iter().partition(|i| i.is_direct);
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0].sender, bot, "a group's invite is the bot's: {}", groups[0].state);
    assert_eq!(dms.len(), 1, "{dms:?}");
    accept_dm_from(&mut user, dms.remove(0), &wa.ghost(world::ALICE), &bot).await;

    // Dave, who has no chat yet, writes first.
    let said = InboundMessage {
        chat: Jid::user(world::DAVE),
        sender: world::DAVE.to_owned(),
        push_name: Some("Dave".to_owned()),
        id: format!("DMINV{}", rand::random::<u32>()),
        timestamp_ms: 0,
        from_me: false,
        kind: InboundKind::Text { text: WaText { text: "hello from WhatsApp".into(), mentions: vec![] }, reply_to: None },
    };
    assert!(wa.sim.inject(&account, BackendEvent::Message(said)), "the account is connected");
    let invite = user.wait_for_invite_info(WAIT, |_, _| true).await.expect("an invite to Dave's DM");
    let dave = accept_dm_from(&mut user, invite, &wa.ghost(world::DAVE), &bot).await;
    user.wait_for_event(&dave, WAIT, |ev| from_with(ev, &wa.ghost(world::DAVE), "hello from WhatsApp")).await.expect("Dave's message");

    command(&wa, &mut user, &room, "pm +4412345678", "Created a chat").await;
    let invite = user.wait_for_invite_info(WAIT, |_, _| true).await.expect("an invite to the chat `pm` made");
    let number = wa.ghost("4412345678");
    let dm = accept_dm_from(&mut user, invite, &number, &bot).await;

    // Starting a new DM with that ghost from Matrix while the chat has a room sends the
    // user back there, invited by the ghost, as a DM (the path a Matrix user starts).
    user.leave(&dm).await;
    let fresh = user.create_dm(&number).await;
    user.wait_for_event(&fresh, WAIT, |ev| from_with(ev, &number, "We already have a chat")).await.expect("the ghost points to the chat");
    let back = user.wait_for_invite_info(WAIT, |r, _| r == dm).await.expect("invited back to the existing DM");
    assert_eq!((back.sender.as_str(), back.is_direct), (number.as_str(), true), "from the ghost, direct: {}", back.state);
    wa.bridge.stop().await;
}
