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
/// XEP-0334 hints.
pub const NS_HINTS: &str = "urn:xmpp:hints";

/// An attribute name; the names used here are constants and valid.
fn attr(name: &'static str) -> NcName {
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
        let xml = String::from(&retract("m2")[0]);
        assert!(xml.contains("urn:xmpp:message-retract:1") && xml.contains("m2"), "{xml}");
    }
}
