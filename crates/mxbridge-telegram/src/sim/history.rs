//! Each simulated chat's message history, as `messages.getHistory` would return it: a
//! seeded past of [`SEEDED_MESSAGES`] messages per chat (people take turns with the
//! account; the second message replies to the first), then everything said in the chat
//! since, both ways.

use super::directory::{self, GROUP};
use crate::backend::{FormattedText, Peer, TgChatKind, TgMessage, TgUser};

/// How many messages each chat had before the account logged in.
pub const SEEDED_MESSAGES: usize = 8;
/// The id of a chat's first seeded message; the others follow. Far below the live ids (which
/// start at the clock), as a chat's past is older than anything sent now.
pub const FIRST_SEEDED_ID: i64 = 100;
/// The first extra group's id (see `SimHandle::add_recent_groups`).
pub const FIRST_EXTRA_GROUP: i64 = 2100;

/// What the `i`th seeded message (from 1) of a chat says.
pub fn seeded_text(chat_title: &str, i: usize) -> String {
    format!("{chat_title}: earlier message {i}")
}

/// The seeded past of a chat as `me` sees it, its last message at `last_at` (Unix seconds),
/// oldest first.
pub(crate) fn seeded(me: &TgUser, peer: Peer, last_at: i64) -> Vec<TgMessage> {
    let Some(chat) = directory::chat(me, peer) else { return Vec::new() };
    let people: Vec<TgUser> = match chat.kind {
        // Only a channel's admins post in it.
        TgChatKind::Channel => chat.members.iter().filter(|m| m.admin).map(|m| m.user.clone()).collect(),
        _ => chat.members.iter().filter(|m| m.user.id != me.id).map(|m| m.user.clone()).collect(),
    };
    if people.is_empty() {
        return Vec::new();
    }
    let may_post = chat.kind != TgChatKind::Channel || people.iter().any(|p| p.id == me.id);
    (1..=SEEDED_MESSAGES)
        .map(|i| {
            let own = may_post && i.is_multiple_of(3);
            let sender = if own { me.clone() } else { people[(i - 1) % people.len()].clone() };
            TgMessage {
                peer,
                id: FIRST_SEEDED_ID + i as i64 - 1,
                outgoing: sender.id == me.id,
                sender,
                date: last_at - (SEEDED_MESSAGES - i) as i64 * 60,
                text: FormattedText::plain(seeded_text(&chat.title, i)),
                reply_to: (i == 2).then_some(FIRST_SEEDED_ID),
                media: None,
                location: None,
            }
        })
        .collect()
}

/// Whether a peer is one of the extra groups.
pub(crate) fn is_extra_group(peer: Peer) -> bool {
    matches!(peer, Peer::Group(id) if (FIRST_EXTRA_GROUP..FIRST_EXTRA_GROUP + 10_000).contains(&id))
}

/// The chat list at login: each chat and how long before the simulation started its last
/// message was (seconds), newest first; `extra_groups` more groups after the fixed ones.
pub(crate) fn chat_list(extra_groups: usize) -> Vec<(Peer, i64)> {
    use super::directory::{CAROL, CHANNEL, ECHO, OWN_CHANNEL};
    let mut chats = vec![(Peer::User(ECHO), 60), (GROUP, 120)];
    chats.extend((0..extra_groups).map(|i| (Peer::Group(FIRST_EXTRA_GROUP + i as i64), 180 + i as i64)));
    chats.extend([(CHANNEL, 3600), (OWN_CHANNEL, 7200), (Peer::User(CAROL), 90 * 86_400)]);
    chats
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::directory::{ALICE, CHANNEL, ECHO, own_user};

    #[test]
    fn test_seeded_history_takes_turns_and_channels_are_their_admins() {
        let me = own_user("+4412345678");
        let dm = seeded(&me, Peer::User(ECHO), 1_000_000);
        assert_eq!(dm.len(), SEEDED_MESSAGES);
        assert_eq!(dm.iter().map(|m| m.outgoing).take(3).collect::<Vec<_>>(), [false, false, true]);
        assert_eq!((dm[0].id, dm[7].id, dm[7].date, dm[0].date), (100, 107, 1_000_000, 1_000_000 - 7 * 60));
        assert_eq!(dm[1].reply_to, Some(100));
        let group = seeded(&me, GROUP, 5);
        assert_eq!(group[0].sender.id, ALICE);
        let channel = seeded(&me, CHANNEL, 5);
        assert!(channel.iter().all(|m| !m.outgoing), "nobody but the channel's admin posts in it");
        assert!(seeded(&me, Peer::User(99), 5).is_empty(), "no such chat");
        assert!(is_extra_group(Peer::Group(FIRST_EXTRA_GROUP)) && !is_extra_group(GROUP));
    }
}
