//! Recent channel lines by message id, so a Matrix reply can quote what it answers.
//!
//! One bounded ring for the whole network (not per puppet): thousands of puppets share the
//! same channels, and a per-puppet history would multiply memory by their number.

use std::collections::{HashMap, VecDeque};

/// A line someone said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecentLine {
    /// Who said it.
    pub nick: String,
    /// What they said (plain text).
    pub text: String,
    /// When, in milliseconds since the epoch.
    pub at_ms: i64,
}

/// The last `capacity` lines, by message id.
pub struct RecentLines {
    capacity: usize,
    order: VecDeque<String>,
    lines: HashMap<String, RecentLine>,
}

impl RecentLines {
    /// An empty ring holding at most `capacity` lines.
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), order: VecDeque::new(), lines: HashMap::new() }
    }

    /// Remembers a line, forgetting the oldest when full.
    pub fn insert(&mut self, id: String, line: RecentLine) {
        if self.lines.insert(id.clone(), line).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.lines.remove(&old);
            }
        }
    }

    /// The line with this id, if still remembered.
    pub fn get(&self, id: &str) -> Option<&RecentLine> {
        self.lines.get(id)
    }
}

/// How a reply reaches IRC. Recent lines are answered IRC-style (`nick: text`); older ones
/// get a short quote so the context is not lost.
pub fn reply_prefix(original: &RecentLine, now_ms: i64) -> String {
    const SHORT_REPLY_MS: i64 = 5 * 60 * 1000;
    const QUOTE_CHARS: usize = 30;
    if now_ms - original.at_ms < SHORT_REPLY_MS {
        return format!("{}: ", original.nick);
    }
    let mut excerpt: String = original.text.chars().take(QUOTE_CHARS).collect();
    if original.text.chars().count() > QUOTE_CHARS {
        excerpt.push('…');
    }
    format!("<{}> \"{excerpt}\" <- ", original.nick)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(nick: &str, text: &str, at_ms: i64) -> RecentLine {
        RecentLine { nick: nick.into(), text: text.into(), at_ms }
    }

    #[test]
    fn test_ring_forgets_the_oldest_line() {
        let mut ring = RecentLines::new(2);
        ring.insert("a".into(), line("n", "1", 0));
        ring.insert("b".into(), line("n", "2", 0));
        ring.insert("c".into(), line("n", "3", 0));
        assert!(ring.get("a").is_none());
        assert_eq!(ring.get("c").unwrap().text, "3");
        ring.insert("c".into(), line("n", "3b", 0));
        assert_eq!(ring.get("b").unwrap().text, "2", "replacing a line does not evict another");
    }

    #[test]
    fn test_recent_replies_address_the_nick_and_old_ones_quote() {
        assert_eq!(reply_prefix(&line("bob", "hello", 1_000), 2_000), "bob: ");
        let old = line("bob", "a rather long line that goes on and on", 0);
        assert_eq!(reply_prefix(&old, 10 * 60 * 1000), "<bob> \"a rather long line that goes o…\" <- ");
    }
}
