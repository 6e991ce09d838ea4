//! Payloads of XEPs that xmpp-parsers 0.23 lacks (replies XEP-0461, retraction XEP-0424,
//! fallback XEP-0428), built as elements and read back from them.

use tokio_xmpp::minidom::Element;
use tokio_xmpp::minidom::rxml::NcName;

/// XEP-0359 origin id.
pub const NS_SID: &str = "urn:xmpp:sid:0";
/// XEP-0461 replies.
pub const NS_REPLY: &str = "urn:xmpp:reply:0";
/// XEP-0424 message retraction, version 1.
pub const NS_RETRACT: &str = "urn:xmpp:message-retract:1";
/// XEP-0428 fallback indication.
pub const NS_FALLBACK: &str = "urn:xmpp:fallback:0";
/// XEP-0333 chat markers.
pub const NS_MARKERS: &str = "urn:xmpp:chat-markers:0";
/// XEP-0334 hints.
pub const NS_HINTS: &str = "urn:xmpp:hints";

/// An attribute name; the names used here are constants and valid.
pub(crate) fn attr(name: &'static str) -> NcName {
    NcName::try_from(name).expect("a valid attribute name")
}

/// `<origin-id id='…'/>`.
pub fn origin_id(id: &str) -> Element {
    Element::builder("origin-id", NS_SID).attr(attr("id"), id).build()
}

/// `<reply id='…'/>`: this message answers the message with that id.
pub fn reply(to_id: &str) -> Element {
    Element::builder("reply", NS_REPLY).attr(attr("id"), to_id).build()
}

/// The payloads that retract the message with that id: the retraction, the fallback
/// marker for clients without it, and a hint to store it.
pub fn retract(id: &str) -> Vec<Element> {
    vec![
        Element::builder("retract", NS_RETRACT).attr(attr("id"), id).build(),
        Element::builder("fallback", NS_FALLBACK).attr(attr("for"), NS_RETRACT).build(),
        Element::builder("store", NS_HINTS).build(),
    ]
}

/// XEP-0045 `<x xmlns='…muc#user'>` as read here: xmpp-parsers' own type refuses the
/// bare JIDs of component users in `<item jid>`, and keeps the actor private.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MucUserInfo {
    /// Status codes (110 self-presence, 307 kicked, 301 banned…).
    pub statuses: Vec<u16>,
    /// `owner`, `admin`, `member`, `outcast`, `none`.
    pub affiliation: Option<String>,
    /// `moderator`, `participant`, `visitor`, `none`.
    pub role: Option<String>,
    /// Why (a kick's or ban's reason).
    pub reason: Option<String>,
    /// The nick of who did it.
    pub actor: Option<String>,
    /// The room was destroyed (`<destroy>`).
    pub destroyed: bool,
    /// The occupant's new nick, in the unavailable presence of a nick change (status 303).
    pub new_nick: Option<String>,
}

/// XEP-0045 occupant information.
pub const NS_MUC_USER: &str = "http://jabber.org/protocol/muc#user";

/// The MUC user information among a presence's payloads, if any.
pub fn muc_user(payloads: &[Element]) -> Option<MucUserInfo> {
    let x = payloads.iter().find(|p| p.is("x", NS_MUC_USER))?;
    let statuses = x.children().filter(|c| c.is("status", NS_MUC_USER)).filter_map(|c| c.attr("code")?.parse().ok()).collect();
    let item = x.get_child("item", NS_MUC_USER);
    let attr = |name: &str| item.and_then(|i| i.attr(name)).map(str::to_owned);
    Some(MucUserInfo {
        statuses,
        affiliation: attr("affiliation"),
        role: attr("role"),
        reason: item.and_then(|i| i.get_child("reason", NS_MUC_USER)).map(|r| r.text()).filter(|r| !r.is_empty()),
        actor: item.and_then(|i| i.get_child("actor", NS_MUC_USER)).and_then(|a| a.attr("nick")).map(str::to_owned),
        destroyed: x.get_child("destroy", NS_MUC_USER).is_some(),
        new_nick: attr("nick"),
    })
}

/// `<markable/>`: the sender would like to know when it was read.
pub fn markable() -> Element {
    Element::builder("markable", NS_MARKERS).build()
}

/// `<displayed id='…'/>`: the sender has read up to that message.
pub fn displayed(id: &str) -> Element {
    Element::builder("displayed", NS_MARKERS).attr(attr("id"), id).build()
}

/// The id a payload list marks as displayed, if any.
pub fn displayed_id(payloads: &[Element]) -> Option<String> {
    payloads.iter().find(|p| p.is("displayed", NS_MARKERS)).and_then(|p| p.attr("id")).map(str::to_owned)
}

/// The id a payload list replies to, if any.
pub fn replied_id(payloads: &[Element]) -> Option<String> {
    payloads.iter().find(|p| p.is("reply", NS_REPLY)).and_then(|p| p.attr("id")).map(str::to_owned)
}

/// The id a payload list retracts, if any.
pub fn retracted_id(payloads: &[Element]) -> Option<String> {
    payloads.iter().find(|p| p.is("retract", NS_RETRACT)).and_then(|p| p.attr("id")).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_payloads_round_trip() {
        assert_eq!(replied_id(&[origin_id("a"), reply("m1")]).as_deref(), Some("m1"));
        assert_eq!(retracted_id(&retract("m2")).as_deref(), Some("m2"));
        assert_eq!(replied_id(&[origin_id("a")]), None);
        assert_eq!(displayed_id(&[markable(), displayed("m3")]).as_deref(), Some("m3"));
        assert_eq!(displayed_id(&[markable()]), None);
        let xml = String::from(&retract("m2")[0]);
        let kicked: Element = "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none' jid='bob_hs@matrix.test'><actor nick='boss'/><reason>bye</reason></item><status code='307'/><status code='110'/></x>".parse().unwrap();
        let info = muc_user(&[origin_id("a"), kicked]).expect("found");
        assert_eq!(info.statuses, vec![307, 110]);
        assert_eq!((info.actor.as_deref(), info.reason.as_deref(), info.role.as_deref()), (Some("boss"), Some("bye"), Some("none")));
        assert_eq!(muc_user(&[origin_id("a")]), None);
        let renamed: Element = "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant' nick='Alicia'/><status code='303'/><status code='110'/></x>".parse().unwrap();
        let info = muc_user(&[renamed]).expect("found");
        assert_eq!((info.statuses, info.new_nick.as_deref()), (vec![303, 110], Some("Alicia")), "a nick change names the new nick");
        assert!(xml.contains("urn:xmpp:message-retract:1") && xml.contains("m2"), "{xml}");
    }
}
