//! XEP-0313 message archive: the last messages of a MUC, fetched when a user is the first
//! of the bridge's users to join it in this run, so the portal shows what was said before
//! (or while the bridge was down; the core skips what it bridged already).

use tokio_xmpp::minidom::{Element, Node};
use tokio_xmpp::parsers::message::Message;
use tokio_xmpp::parsers::ns;

use crate::xep::attr;

/// XEP-0313 version 2.
pub(crate) const NS_MAM: &str = "urn:xmpp:mam:2";
const NS_RSM: &str = "http://jabber.org/protocol/rsm";
const NS_FORWARD: &str = "urn:xmpp:forward:0";
const NS_DELAY: &str = "urn:xmpp:delay";
/// The namespace of archived stanzas; the component's stream uses another.
const NS_CLIENT: &str = "jabber:client";

/// The query for the last `max` messages (an empty `<before/>` asks for the last page).
pub(crate) fn last_messages(query_id: &str, max: u32) -> Element {
    let set = Element::builder("set", NS_RSM)
        .append(Element::builder("max", NS_RSM).append(max.to_string()).build())
        .append(Element::builder("before", NS_RSM).build())
        .build();
    Element::builder("query", NS_MAM).attr(attr("queryid"), query_id).append(set).build()
}

/// An archived message and when it was sent.
pub(crate) struct Archived {
    pub(crate) message: Message,
    pub(crate) timestamp_ms: Option<i64>,
}

/// The archived message a MAM result carries, if `m` is one.
pub(crate) fn archived(m: &Message) -> Option<Archived> {
    let result = m.payloads.iter().find(|p| p.is("result", NS_MAM))?;
    let forwarded = result.get_child("forwarded", NS_FORWARD)?;
    let timestamp_ms = forwarded.get_child("delay", NS_DELAY).and_then(|d| d.attr("stamp")).and_then(chrono_millis);
    let inner = forwarded.children().find(|c| c.name() == "message")?;
    let message = Message::try_from(in_stream_namespace(inner)).ok()?;
    Some(Archived { message, timestamp_ms })
}

/// Milliseconds since the epoch of an XEP-0082 timestamp.
fn chrono_millis(stamp: &str) -> Option<i64> {
    stamp.parse::<tokio_xmpp::parsers::date::DateTime>().ok().map(|d| d.0.timestamp_millis())
}

/// The element with `jabber:client` (its own and its children's, where they have it)
/// replaced by the namespace of the component's stream, which the parsers expect.
fn in_stream_namespace(el: &Element) -> Element {
    let namespace = if el.ns() == NS_CLIENT { ns::DEFAULT_NS.to_owned() } else { el.ns() };
    let mut builder = Element::builder(el.name(), namespace);
    for ((attr_ns, name), value) in el.attrs().iter() {
        if attr_ns.is_none() {
            builder = builder.attr(name.clone(), value.clone());
        }
    }
    for node in el.nodes() {
        builder = match node {
            Node::Element(child) => builder.append(in_stream_namespace(child)),
            Node::Text(text) => builder.append(text.clone()),
        };
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_an_archived_muc_message_is_unwrapped_with_its_time() {
        let wrapper: Element = format!(
            "<message xmlns='{}' from='room@muc.test' to='bob_hs@bridge.test'>\
               <result xmlns='urn:xmpp:mam:2' queryid='q1' id='arch1'>\
                 <forwarded xmlns='urn:xmpp:forward:0'>\
                   <delay xmlns='urn:xmpp:delay' stamp='2026-11-23T10:00:00Z'/>\
                   <message xmlns='jabber:client' type='groupchat' from='room@muc.test/alice' id='m1'>\
                     <body>said earlier</body><origin-id xmlns='urn:xmpp:sid:0' id='m1'/>\
                   </message>\
                 </forwarded>\
               </result>\
             </message>",
            ns::DEFAULT_NS
        )
        .parse()
        .unwrap();
        let outer = Message::try_from(wrapper).unwrap();
        let found = archived(&outer).expect("an archived message");
        assert_eq!(found.message.bodies.values().next().map(String::as_str), Some("said earlier"));
        assert_eq!(found.message.from.unwrap().to_string(), "room@muc.test/alice");
        assert_eq!(found.message.id.unwrap().0, "m1");
        assert_eq!(found.timestamp_ms, Some(1_795_428_000_000));
        assert!(found.message.payloads.iter().any(|p| p.is("origin-id", "urn:xmpp:sid:0")));

        let query = String::from(&last_messages("q1", 20));
        assert!(query.contains("urn:xmpp:mam:2") && query.contains("<max>20</max>") && query.contains("before"), "{query}");
    }
}
