//! The simulated history sync: the chats a fresh login sees as recent, each with its last
//! messages (`simulated.history_messages` per chat), and `simulated.extra_recent_chats`
//! more DMs with generated contacts, so that a login has as much to bridge as a test needs.

use super::{SimState, world};
use crate::backend::{InboundKind, InboundMessage, RecentChat};
use crate::jid::Jid;
use crate::markup::WaText;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

/// What the `i`th message (from 1) of a chat's simulated history says.
pub fn history_text(chat_name: &str, i: usize) -> String {
    format!("{chat_name}: earlier message {i}")
}

/// The `i`th extra contact (from 1) with a recent DM: number and name. Their numbers end
/// in 1, so they are on WhatsApp.
pub fn extra_contact(i: u32) -> (String, String) {
    (format!("44771{:07}", u64::from(i) * 10 + 1), format!("Sim Contact {i}"))
}

/// Who sends the `i`th message (from 1) of a chat with `people`: they take turns, and every
/// third message is the account's own (sent from the phone).
pub fn history_sender<'a>(people: &[&'a str], me: &'a str, i: usize) -> &'a str {
    if i.is_multiple_of(3) { me } else { people[(i - 1) % people.len()] }
}

/// The chats of a fresh login's history sync, with their messages, remembered for
/// [`super::SimHandle::history_of`].
pub(super) fn recent_chats(state: &SimState, me: &str, now: i64) -> Vec<RecentChat> {
    let mut chats = vec![
        (Jid::user(world::ALICE), "Alice".to_owned(), vec![world::ALICE.to_owned()], now - MINUTE_MS),
        (
            Jid::group(world::FRIENDS_GROUP),
            "Sim Friends".to_owned(),
            vec![world::ALICE.to_owned(), world::BOB.to_owned()],
            now - 2 * DAY_MS,
        ),
        (
            Jid::group(world::FAMILY_GROUP),
            "Sim Family".to_owned(),
            vec![world::CAROL.to_owned(), world::DAVE.to_owned()],
            now - 10 * DAY_MS,
        ),
    ];
    for i in 1..=state.config.extra_recent_chats {
        let (number, name) = extra_contact(i);
        chats.push((Jid::user(&number), name, vec![number], now - 2 * MINUTE_MS - i64::from(i) * MINUTE_MS));
    }
    let n = state.config.history_messages as usize;
    let mut out = Vec::new();
    for (jid, name, people, last_ms) in chats {
        let people: Vec<&str> = people.iter().map(String::as_str).collect();
        let mut messages: Vec<InboundMessage> = Vec::with_capacity(n);
        for i in 1..=n {
            let sender = history_sender(&people, me, i);
            let push_name = if sender == me { Some("Sim User".to_owned()) } else { world::name_of(sender).or_else(|| Some(name.clone())) };
            let text = WaText { text: history_text(&name, i), mentions: Vec::new() };
            // The second message answers the first, so replies within the history show.
            let reply_to = (i == 2).then(|| messages[0].id.clone());
            messages.push(InboundMessage {
                chat: jid.clone(),
                sender: sender.to_owned(),
                push_name,
                id: state.next_id(),
                timestamp_ms: last_ms - (n - i) as i64 * MINUTE_MS,
                from_me: sender == me,
                kind: InboundKind::Text { text, reply_to },
            });
        }
        state.history.lock().expect("lock").insert((me.to_owned(), jid.clone()), messages.clone());
        out.push(RecentChat { jid, last_activity_ms: last_ms, messages });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_history_senders_take_turns_with_the_account() {
        let senders: Vec<&str> = (1..=6).map(|i| history_sender(&["a", "b"], "me", i)).collect();
        assert_eq!(senders, ["a", "b", "me", "b", "a", "me"]);
        assert!(crate::sim::world::is_on_whatsapp(&extra_contact(100).0));
        assert_eq!(extra_contact(1).0.len(), 12);
    }
}
