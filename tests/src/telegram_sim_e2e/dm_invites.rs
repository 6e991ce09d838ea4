//! Telegram (simulated backend): private chats come from the person. The portals a login
//! opens for private chats, the one a contact's first message opens, and the one
//! `pm +4412345678` opens (the guide's command verbatim; the simulation gives Bob that
//! number) invite the user from the contact's ghost, marked direct.

use super::*;
use crate::dm_invites_e2e::accept_dm_from;
use crate::harness::invites::Invite;

#[tokio::test]
async fn test_private_chats_and_pm_by_number_invite_from_the_contacts_ghost_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-dm-invites")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tgdminv").await;
    login(&mut user, &room, &bot, &random_phone()).await;

    // Echo's chat, the group and the two channels from the chat list, and the Greeter's
    // chat, which its first message opens.
    let mut invites: Vec<Invite> = Vec::new();
    for _ in 0..5 {
        invites.push(user.wait_for_invite_info(WAIT, |_, _| true).await.expect("an invite to a portal"));
    }
    let (dms, others): (Vec<Invite>, Vec<Invite>) = invites.into_iter().partition(|i| i.is_direct);
    assert_eq!(others.len(), 3, "the group and the channels are not direct: {others:?}");
    for other in &others {
        assert_eq!(other.sender, bot, "groups and channels are the bot's: {}", other.state);
    }
    let mut dms = dms;
    for person in [GREETER, ECHO] {
        let at = dms.iter().position(|i| i.sender == ghost(person)).unwrap_or_else(|| panic!("no DM from {}: {dms:?}", ghost(person)));
        let dm = accept_dm_from(&mut user, dms.remove(at), &ghost(person), &bot).await;
        if person == GREETER {
            user.wait_for_event(&dm, WAIT, |ev| ev["sender"] == ghost(GREETER).as_str()).await.expect("the Greeter's message");
        }
    }

    command(&mut user, &room, &bot, "pm +4412345678", "Created a chat").await;
    let invite = user.wait_for_invite_info(WAIT, |_, _| true).await.expect("an invite to the chat `pm` made");
    accept_dm_from(&mut user, invite, &ghost(BOB), &bot).await;
    b.bridge.stop().await;
}
