//! What XMPP clients refer to when they answer a message in a MUC. XEP-0461 replies,
//! XEP-0444 reactions and XEP-0333 markers in groupchat name the MUC's own id for the
//! message (its XEP-0359 `stanza-id`), not the id the bridge knows it by: the MUC's ids
//! of the bridge's messages are learnt from their echoes, those of other occupants'
//! messages as they arrive, and translated both ways. A reply's quote of the original (its
//! XEP-0428 fallback) is cut from the text, as Matrix shows the original.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use tokio_xmpp::minidom::Element;

use crate::xep::{NS_FALLBACK, NS_REPLY, NS_SID};

/// How many MUC ids are remembered (oldest forgotten first): answers go to recent messages.
const REMEMBERED: usize = 10_000;

/// A MUC and the MUC's id of a message in it.
type MucMessage = (String, String);

/// The MUC's ids of recent messages, per MUC, and the ids the bridge knows them by.
#[derive(Default)]
pub(crate) struct StanzaIds {
    inner: Mutex<Known>,
}

#[derive(Default)]
struct Known {
    /// The bridge's id by MUC id.
    by_muc_id: HashMap<MucMessage, String>,
    /// The MUC id by the bridge's id.
    muc_ids: HashMap<MucMessage, String>,
    /// (MUC, MUC id, bridge id), oldest first.
    order: VecDeque<(String, String, String)>,
}

impl StanzaIds {
    /// Learns the MUC's id of one of the bridge's messages from its echo (the bridge knows
    /// it by its origin-id).
    pub(crate) fn learn(&self, muc: &str, echo: &[Element]) {
        let Some(ours) = echo.iter().find(|p| p.is("origin-id", NS_SID)).and_then(|p| p.attr("id")) else { return };
        self.learn_message(muc, ours, echo);
    }

    /// Learns the MUC's id of a message the bridge knows as `known` (another occupant's
    /// message, by its `id` attribute).
    pub(crate) fn learn_message(&self, muc: &str, known: &str, payloads: &[Element]) {
        let Some(muc_id) = payloads.iter().find(|p| p.is("stanza-id", NS_SID) && p.attr("by") == Some(muc)).and_then(|p| p.attr("id"))
        else {
            return;
        };
        if muc_id == known {
            return;
        }
        let mut inner = self.inner.lock().expect("lock");
        let key = (muc.to_owned(), muc_id.to_owned());
        if inner.by_muc_id.insert(key, known.to_owned()).is_none() {
            inner.muc_ids.insert((muc.to_owned(), known.to_owned()), muc_id.to_owned());
            inner.order.push_back((muc.to_owned(), muc_id.to_owned(), known.to_owned()));
            if inner.order.len() > REMEMBERED
                && let Some((muc, muc_id, known)) = inner.order.pop_front()
            {
                inner.muc_ids.remove(&(muc.clone(), known));
                inner.by_muc_id.remove(&(muc, muc_id));
            }
        }
    }

    /// The id the bridge knows a message of a MUC by, given the MUC's id (else as given).
    pub(crate) fn resolve(&self, muc: &str, id: String) -> String {
        let inner = self.inner.lock().expect("lock");
        inner.by_muc_id.get(&(muc.to_owned(), id.clone())).cloned().unwrap_or(id)
    }

    /// The MUC's id of a message the bridge knows as `known`, which answers in the MUC
    /// must name (else as given).
    pub(crate) fn muc_id(&self, muc: &str, known: &str) -> String {
        let inner = self.inner.lock().expect("lock");
        inner.muc_ids.get(&(muc.to_owned(), known.to_owned())).cloned().unwrap_or_else(|| known.to_owned())
    }
}

/// The body without the quote a reply carries for clients without XEP-0461 (the range its
/// fallback marks, in characters).
pub(crate) fn without_reply_fallback(body: &str, payloads: &[Element]) -> String {
    let range = payloads
        .iter()
        .filter(|p| p.is("fallback", NS_FALLBACK) && p.attr("for") == Some(NS_REPLY))
        .find_map(|p| p.get_child("body", NS_FALLBACK))
        .and_then(|b| Some((b.attr("start")?.parse::<usize>().ok()?, b.attr("end")?.parse::<usize>().ok()?)));
    let Some((start, end)) = range.filter(|(s, e)| s <= e) else { return body.to_owned() };
    let kept: String = body.chars().enumerate().filter(|(i, _)| *i < start || *i >= end).map(|(_, c)| c).collect();
    if kept.trim().is_empty() { body.to_owned() } else { kept }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(xml: &str) -> Element {
        xml.parse().unwrap()
    }

    #[test]
    fn test_the_mucs_ids_of_our_messages_are_learnt_and_translated() {
        let ids = StanzaIds::default();
        let echo = [
            el("<origin-id xmlns='urn:xmpp:sid:0' id='mx-1'/>"),
            el("<stanza-id xmlns='urn:xmpp:sid:0' by='r@muc.test' id='S1'/>"),
            el("<stanza-id xmlns='urn:xmpp:sid:0' by='someone@else' id='X'/>"),
        ];
        ids.learn("r@muc.test", &echo);
        assert_eq!(ids.resolve("r@muc.test", "S1".into()), "mx-1");
        assert_eq!(ids.resolve("r@muc.test", "X".into()), "X", "only the MUC's own id counts");
        assert_eq!(ids.resolve("other@muc.test", "S1".into()), "S1", "ids are per MUC");
        assert_eq!(ids.resolve("r@muc.test", "mx-1".into()), "mx-1", "our own id stays");
        assert_eq!(ids.muc_id("r@muc.test", "mx-1"), "S1", "answers name the MUC's id");
        ids.learn("r@muc.test", &echo[1..]);
        assert_eq!(ids.inner.lock().unwrap().order.len(), 1, "nothing learnt without an origin id");

        // Another occupant's message: known by its id attribute, answered by the MUC's id.
        ids.learn_message("r@muc.test", "their-7", &[el("<stanza-id xmlns='urn:xmpp:sid:0' by='r@muc.test' id='S2'/>")]);
        assert_eq!(ids.muc_id("r@muc.test", "their-7"), "S2");
        assert_eq!(ids.resolve("r@muc.test", "S2".into()), "their-7");
        assert_eq!(ids.muc_id("r@muc.test", "unknown"), "unknown");
    }

    #[test]
    fn test_the_oldest_ids_are_forgotten_in_both_directions() {
        let ids = StanzaIds::default();
        for i in 0..=REMEMBERED {
            ids.learn_message("r@m", &format!("k{i}"), &[el(&format!("<stanza-id xmlns='urn:xmpp:sid:0' by='r@m' id='s{i}'/>"))]);
        }
        let inner = ids.inner.lock().unwrap();
        assert_eq!((inner.order.len(), inner.by_muc_id.len(), inner.muc_ids.len()), (REMEMBERED, REMEMBERED, REMEMBERED));
        drop(inner);
        assert_eq!(ids.muc_id("r@m", "k0"), "k0", "the first one is forgotten");
        assert_eq!(ids.muc_id("r@m", &format!("k{REMEMBERED}")), format!("s{REMEMBERED}"));
    }

    #[test]
    fn test_the_reply_quote_is_cut_by_its_character_range() {
        let fallback = el("<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='10'/></fallback>");
        assert_eq!(without_reply_fallback("> héllo w\nanswer", std::slice::from_ref(&fallback)), "answer");
        assert_eq!(without_reply_fallback("no quote", &[]), "no quote");
        let other = el("<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:message-retract:1'><body start='0' end='3'/></fallback>");
        assert_eq!(without_reply_fallback("abcdef", &[other]), "abcdef", "another XEP's fallback is not a quote");
        assert_eq!(without_reply_fallback("> only", std::slice::from_ref(&fallback)), "> only", "never an empty message");
    }
}
