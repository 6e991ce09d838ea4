//! Incoming reactions. Telegram's `updateMessageReactions` names the reactions a message has
//! now, not what changed: the bridge remembers who reacted with what to recent messages and
//! reports the difference as reactions added, replaced and removed.

use std::collections::{HashMap, VecDeque};

use grammers_client::tl;

use crate::backend::Peer;

/// How many messages' reactions are remembered.
const REMEMBERED: usize = 2_000;

/// Who reacted with which emoji to one message, as far as Telegram lists them.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct PeerReactions {
    /// Emoji by user id (other reaction kinds, custom emoji and paid stars, are left out).
    pub(crate) by_user: HashMap<i64, String>,
    /// Whether the list names every reaction (Telegram lists only the recent ones of big
    /// chats): only then does a missing user mean a removed reaction.
    pub(crate) complete: bool,
}

/// The reactions of other users in an update; `None` when Telegram does not say who reacted.
/// The account's own reactions are left out: they were set by the bridge, or from another
/// of the user's devices, which Matrix cannot show as theirs.
pub(crate) fn peer_reactions(reactions: &tl::enums::MessageReactions) -> Option<PeerReactions> {
    let tl::enums::MessageReactions::Reactions(r) = reactions;
    let recent = r.recent_reactions.as_ref()?;
    let total: i64 = r
        .results
        .iter()
        .map(|c| match c {
            tl::enums::ReactionCount::Count(c) => i64::from(c.count),
        })
        .sum();
    let mut by_user = HashMap::new();
    for reaction in recent {
        let tl::enums::MessagePeerReaction::Reaction(reaction) = reaction;
        let (tl::enums::Peer::User(user), tl::enums::Reaction::Emoji(emoji)) = (&reaction.peer_id, &reaction.reaction) else { continue };
        if !reaction.my {
            by_user.insert(user.user_id, emoji.emoticon.clone());
        }
    }
    Some(PeerReactions { by_user, complete: total == recent.len() as i64 })
}

/// One user's reaction that changed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ReactionChange {
    /// Who.
    pub(crate) user: i64,
    /// The emoji now, `None` when removed.
    pub(crate) emoji: Option<String>,
    /// The emoji before, when there was one.
    pub(crate) previous: Option<String>,
}

/// The reactions last seen on recent messages.
#[derive(Default)]
pub(crate) struct ReactionMemory {
    by_message: HashMap<(Peer, i64), HashMap<i64, String>>,
    order: VecDeque<(Peer, i64)>,
}

impl ReactionMemory {
    /// What changed on a message since its last update, remembering the new state.
    pub(crate) fn update(&mut self, peer: Peer, message: i64, now: PeerReactions) -> Vec<ReactionChange> {
        let key = (peer, message);
        if !self.by_message.contains_key(&key) {
            self.order.push_back(key);
            while self.order.len() > REMEMBERED {
                if let Some(old) = self.order.pop_front() {
                    self.by_message.remove(&old);
                }
            }
        }
        let known = self.by_message.entry(key).or_default();
        let mut changes: Vec<ReactionChange> = now
            .by_user
            .iter()
            .filter(|(user, emoji)| known.get(user) != Some(emoji))
            .map(|(user, emoji)| ReactionChange { user: *user, emoji: Some(emoji.clone()), previous: known.get(user).cloned() })
            .collect();
        if now.complete {
            changes.extend(known.iter().filter(|(user, _)| !now.by_user.contains_key(user)).map(|(user, emoji)| ReactionChange {
                user: *user,
                emoji: None,
                previous: Some(emoji.clone()),
            }));
            *known = now.by_user;
        } else {
            known.extend(now.by_user);
        }
        changes.sort_by_key(|c| c.user);
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reactions(recent: &[(i64, &str, bool)], total: i32) -> tl::enums::MessageReactions {
        let recent = recent
            .iter()
            .map(|&(user, emoji, my)| {
                tl::types::MessagePeerReaction {
                    big: false,
                    unread: false,
                    my,
                    peer_id: tl::types::PeerUser { user_id: user }.into(),
                    date: 0,
                    reaction: tl::types::ReactionEmoji { emoticon: emoji.into() }.into(),
                }
                .into()
            })
            .collect();
        let count = tl::types::ReactionCount { chosen_order: None, reaction: tl::enums::Reaction::Empty, count: total };
        tl::types::MessageReactions {
            min: false,
            can_see_list: true,
            reactions_as_tags: false,
            results: vec![count.into()],
            recent_reactions: Some(recent),
            top_reactors: None,
        }
        .into()
    }

    #[test]
    fn test_other_users_reactions_are_read_and_the_accounts_own_left_out() {
        let read = peer_reactions(&reactions(&[(5, "👍", false), (42, "❤", true)], 2)).unwrap();
        assert_eq!(read.by_user, HashMap::from([(5, "👍".to_owned())]));
        assert!(read.complete);
        assert!(!peer_reactions(&reactions(&[(5, "👍", false)], 7)).unwrap().complete, "only the recent ones of many");
        let tl::enums::MessageReactions::Reactions(mut anonymous) = reactions(&[], 3);
        anonymous.recent_reactions = None;
        assert_eq!(peer_reactions(&anonymous.into()), None, "no names: nothing to bridge");
    }

    #[test]
    fn test_changes_are_added_replaced_and_removed_reactions() {
        let mut memory = ReactionMemory::default();
        let peer = Peer::User(5);
        let state =
            |pairs: &[(i64, &str)], complete| PeerReactions { by_user: pairs.iter().map(|&(u, e)| (u, e.to_owned())).collect(), complete };
        let change = |user, emoji: Option<&str>, previous: Option<&str>| ReactionChange {
            user,
            emoji: emoji.map(str::to_owned),
            previous: previous.map(str::to_owned),
        };
        assert_eq!(memory.update(peer, 1, state(&[(5, "👍")], true)), vec![change(5, Some("👍"), None)]);
        assert_eq!(memory.update(peer, 1, state(&[(5, "👍")], true)), vec![], "the same state again changes nothing");
        assert_eq!(memory.update(peer, 1, state(&[(5, "🔥")], true)), vec![change(5, Some("🔥"), Some("👍"))]);
        assert_eq!(memory.update(peer, 1, state(&[], true)), vec![change(5, None, Some("🔥"))]);
        memory.update(peer, 2, state(&[(5, "👍"), (6, "👍")], true));
        assert_eq!(memory.update(peer, 2, state(&[(6, "👍")], false)), vec![], "an incomplete list removes nobody");
        assert_eq!(memory.update(Peer::Group(9), 2, state(&[(5, "👍")], true)), vec![change(5, Some("👍"), None)], "per chat");
    }

    #[test]
    fn test_the_memory_is_bounded() {
        let mut memory = ReactionMemory::default();
        for id in 0..(REMEMBERED as i64 + 10) {
            memory.update(Peer::User(1), id, PeerReactions::default());
        }
        assert_eq!(memory.by_message.len(), REMEMBERED);
    }
}
