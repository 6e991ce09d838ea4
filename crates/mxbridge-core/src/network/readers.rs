//! Which login reports a shared chat. When several logins of one bridge sit in the same
//! remote chat (an IRC channel, an XMPP MUC), each hears every line in it; only one of them,
//! the chat's reader, turns what it hears into events, so a line reaches Matrix once.

use std::collections::HashMap;
use std::sync::Mutex;

/// The reader of each shared chat, by the network's own names for chats and logins.
#[derive(Debug, Default)]
pub struct ChatReaders {
    readers: Mutex<HashMap<String, String>>,
}

impl ChatReaders {
    /// Whether `candidate` reports `chat`: the current reader does; when there is none, or
    /// `still_there` says the current one has left the chat or lost its connection, the
    /// candidate takes over. `still_there` runs without the lock held, so it may look into
    /// the network's own state freely.
    pub fn is_reader(&self, chat: &str, candidate: &str, still_there: impl FnOnce(&str) -> bool) -> bool {
        let current = self.readers.lock().expect("lock").get(chat).cloned();
        match &current {
            Some(reader) if reader == candidate => return true,
            Some(reader) if still_there(reader) => return false,
            _ => {}
        }
        let mut readers = self.readers.lock().expect("lock");
        // Another candidate may have taken over while `still_there` ran: the first one wins.
        if let Some(now) = readers.get(chat)
            && Some(now) != current.as_ref()
        {
            return now == candidate;
        }
        readers.insert(chat.to_owned(), candidate.to_owned());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_the_first_login_reads_until_it_is_gone_then_the_next_takes_over() {
        let readers = ChatReaders::default();
        assert!(readers.is_reader("#rust", "alice", |_| unreachable!("no reader yet")));
        assert!(readers.is_reader("#rust", "alice", |_| unreachable!("alice is the reader")));
        assert!(!readers.is_reader("#rust", "bob", |r| r == "alice"), "alice is still there");
        assert!(readers.is_reader("#go", "bob", |_| true), "each chat has its own reader");
        assert!(readers.is_reader("#rust", "bob", |_| false), "alice left: bob takes over");
        assert!(!readers.is_reader("#rust", "alice", |r| r == "bob"), "and keeps it when alice is back");
    }

    #[test]
    fn test_a_takeover_that_happened_meanwhile_wins() {
        let readers = ChatReaders::default();
        readers.is_reader("#rust", "alice", |_| true);
        // While bob checks on alice, carol takes over.
        let taken = readers.is_reader("#rust", "bob", |_| {
            assert!(readers.is_reader("#rust", "carol", |_| false));
            false
        });
        assert!(!taken, "carol took over first");
        assert!(readers.is_reader("#rust", "carol", |_| unreachable!()));
    }
}
