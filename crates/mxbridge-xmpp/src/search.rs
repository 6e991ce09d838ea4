//! jabber:iq:search (XEP-0055) on the component: XMPP users search the homeserver's public
//! rooms by name with a data form (XEP-0004) and get each room's JID and name, ready to
//! join through the gateway.

use std::sync::Arc;

use mxbridge_core::network::gateway::PublicRoom;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

use crate::network::Shared;
use crate::xep::attr;

/// XEP-0055 search.
pub(crate) const NS_SEARCH: &str = "jabber:iq:search";
/// XEP-0004 data forms.
const NS_DATA: &str = "jabber:x:data";
/// How many rooms one search answers with.
const MAX_RESULTS: u32 = 50;

/// Whether an IQ is a search request to the component itself.
pub(crate) fn is_search_iq(iq: &Iq, component: &str) -> bool {
    let (Iq::Get { to: Some(to), payload, .. } | Iq::Set { to: Some(to), payload, .. }) = iq else { return false };
    to.node().is_none() && to.domain().as_str() == component && payload.is("query", NS_SEARCH)
}

/// Answers a search request: the form for a get, the rooms found for a set. It asks the
/// homeserver, so it runs aside.
pub(crate) async fn answer(shared: Arc<Shared>, iq: Iq) {
    let (from, to, id, reply) = match iq {
        Iq::Get { from, to, id, .. } => (from, to, id, Ok(form())),
        Iq::Set { from, to, id, payload } => {
            let reply = match (search_term(&payload), shared.matrix_rooms.get()) {
                (None, _) => Err((DefinedCondition::BadRequest, "fill in the `search` field with part of a room's name")),
                (Some(_), None) => Err((DefinedCondition::ServiceUnavailable, "the bridge is starting; try again in a moment")),
                (Some(term), Some(rooms)) => match rooms.public_rooms(Some(&term), MAX_RESULTS).await {
                    Ok(found) => Ok(results(&found, &shared.component)),
                    Err(e) => {
                        tracing::info!(error = %e, "a room search failed");
                        Err((DefinedCondition::ServiceUnavailable, "the homeserver did not answer the search; try again later"))
                    }
                },
            };
            (from, to, id, reply)
        }
        Iq::Result { .. } | Iq::Error { .. } => return,
    };
    let answer = match reply {
        Ok(payload) => Iq::Result { from: to, to: from, id, payload: Some(payload) },
        Err((condition, text)) => {
            Iq::Error { from: to, to: from, id, error: StanzaError::new(ErrorType::Modify, condition, "en", text), payload: None }
        }
    };
    if let Some(link) = shared.link.get() {
        link.send(answer);
    }
}

fn field(var: &str, type_: &str, label: Option<&str>, value: Option<&str>) -> Element {
    let mut field = Element::builder("field", NS_DATA).attr(attr("var"), var).attr(attr("type"), type_);
    if let Some(label) = label {
        field = field.attr(attr("label"), label);
    }
    if let Some(value) = value {
        field = field.append(Element::builder("value", NS_DATA).append(value).build());
    }
    field.build()
}

/// The search form: one text field for part of a room's name.
fn form() -> Element {
    let x = Element::builder("x", NS_DATA)
        .attr(attr("type"), "form")
        .append(Element::builder("title", NS_DATA).append("Search the Matrix rooms").build())
        .append(Element::builder("instructions", NS_DATA).append("Enter part of a public Matrix room's name.").build())
        .append(field("FORM_TYPE", "hidden", None, Some(NS_SEARCH)))
        .append(field("search", "text-single", Some("Room name"), None))
        .build();
    Element::builder("query", NS_SEARCH)
        .append(Element::builder("instructions", NS_SEARCH).append("Fill in the form to search the public Matrix rooms.").build())
        .append(x)
        .build()
}

/// The submitted search term, trimmed; `None` when the form has none.
fn search_term(query: &Element) -> Option<String> {
    let x = query.get_child("x", NS_DATA)?;
    let field = x.children().find(|f| f.is("field", NS_DATA) && f.attr("var") == Some("search"))?;
    let term = field.get_child("value", NS_DATA)?.text().trim().to_owned();
    (!term.is_empty()).then_some(term)
}

/// The rooms found, as a form result: each room's JID on the component and its name.
fn results(rooms: &[PublicRoom], component: &str) -> Element {
    let reported = Element::builder("reported", NS_DATA)
        .append(field("jid", "jid-single", Some("Room address"), None))
        .append(field("name", "text-single", Some("Name"), None))
        .build();
    let mut x = Element::builder("x", NS_DATA)
        .attr(attr("type"), "result")
        .append(field("FORM_TYPE", "hidden", None, Some(NS_SEARCH)))
        .append(reported);
    for room in rooms {
        let address = room.alias.clone().unwrap_or_else(|| room.room_id.to_string());
        let Some(node) = crate::jid::node_for_matrix_room(&address) else { continue };
        let name = room.name.clone().unwrap_or_else(|| address.clone());
        let item = Element::builder("item", NS_DATA)
            .append(field("jid", "jid-single", None, Some(&format!("{node}@{component}"))))
            .append(field("name", "text-single", None, Some(&name)))
            .build();
        x = x.append(item);
    }
    Element::builder("query", NS_SEARCH).append(x.build()).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_the_form_asks_for_a_name_and_the_submitted_term_is_read() {
        let xml = String::from(&form());
        assert!(xml.contains("var='search'") && xml.contains("type='form'") && xml.contains(NS_SEARCH), "{xml}");
        let submit: Element = "<query xmlns='jabber:iq:search'><x xmlns='jabber:x:data' type='submit'>\
            <field var='FORM_TYPE'><value>jabber:iq:search</value></field><field var='search'><value> rust </value></field></x></query>"
            .parse()
            .unwrap();
        assert_eq!(search_term(&submit).as_deref(), Some("rust"));
        let empty: Element =
            "<query xmlns='jabber:iq:search'><x xmlns='jabber:x:data' type='submit'><field var='search'><value/></field></x></query>"
                .parse()
                .unwrap();
        assert_eq!(search_term(&empty), None);
        assert_eq!(search_term(&"<query xmlns='jabber:iq:search'/>".parse().unwrap()), None);
    }

    #[test]
    fn test_results_give_each_rooms_jid_and_name() {
        let rooms = vec![
            PublicRoom {
                room_id: ruma::owned_room_id!("!a:hs.test"),
                alias: Some("#rust:hs.test".into()),
                name: Some("Rust".into()),
                topic: None,
                members: 3,
            },
            PublicRoom { room_id: ruma::owned_room_id!("!b:hs.test"), alias: None, name: None, topic: None, members: 1 },
        ];
        let xml = String::from(&results(&rooms, "matrix.test"));
        let rust_jid = format!("{}@matrix.test", crate::jid::node_for_matrix_room("#rust:hs.test").unwrap());
        let id_jid = format!("{}@matrix.test", crate::jid::node_for_matrix_room("!b:hs.test").unwrap());
        assert!(xml.contains(&rust_jid) && xml.contains("<value>Rust</value>"), "{xml}");
        assert!(xml.contains(&id_jid) && xml.contains("<value>!b:hs.test</value>"), "a room without a name shows its address: {xml}");
        assert_eq!(xml.matches("<item").count(), 2);
    }
}
