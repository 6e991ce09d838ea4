//! Answers to IQs sent to the component and to Matrix users' JIDs: XEP-0199 ping,
//! XEP-0030 service discovery, XEP-0054 vCards. Every other get or set gets an error reply,
//! as XMPP requires: an IQ left unanswered stalls the asking client.

use std::collections::BTreeSet;

use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::disco::{DiscoInfoResult, Identity};
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::ns;
use tokio_xmpp::parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

/// What Matrix users' JIDs can do, as disco#info features.
const USER_FEATURES: &[&str] = &[
    ns::DISCO_INFO,
    ns::PING,
    ns::VCARD,
    "http://jabber.org/protocol/chatstates",
    "urn:xmpp:message-correct:0",
    "urn:xmpp:reactions:0",
    "urn:xmpp:reply:0",
    "urn:xmpp:message-retract:1",
    "urn:xmpp:chat-markers:0",
    "jabber:x:oob",
];

/// The reply to an IQ, or `None` for results and errors (nothing to answer).
pub(crate) fn answer(iq: Iq, component: &str) -> Option<Iq> {
    let (from, to, id, payload, is_get) = match iq {
        Iq::Get { from, to, id, payload } => (from, to, id, payload, true),
        Iq::Set { from, to, id, payload } => (from, to, id, payload, false),
        Iq::Result { .. } | Iq::Error { .. } => return None,
    };
    let user_node = to.as_ref().and_then(|t| t.node()).map(|n| n.as_str().to_owned());
    let reply: Result<Option<Element>, DefinedCondition> = if !is_get {
        Err(DefinedCondition::ServiceUnavailable)
    } else if payload.is("ping", ns::PING) {
        Ok(None)
    } else if payload.is("query", ns::DISCO_INFO) {
        Ok(Some(disco_info(user_node.is_some()).into()))
    } else if payload.is("vCard", ns::VCARD) {
        match user_node.as_deref().and_then(crate::jid::matrix_user_for_node) {
            Some(user) => Ok(Some(vcard(user.localpart(), user.as_str()))),
            None => Err(DefinedCondition::ItemNotFound),
        }
    } else {
        Err(DefinedCondition::FeatureNotImplemented)
    };
    tracing::debug!(component, ok = reply.is_ok(), "answering an IQ");
    Some(match reply {
        Ok(payload) => Iq::Result { from: to, to: from, id, payload },
        Err(condition) => {
            let error = StanzaError::new(ErrorType::Cancel, condition, "en", "not offered by the Matrix bridge");
            Iq::Error { from: to, to: from, id, error, payload: None }
        }
    })
}

fn disco_info(for_user: bool) -> DiscoInfoResult {
    let (identity, features): (Identity, &[&str]) = if for_user {
        (Identity::new("client", "pc", "en", "Matrix user"), USER_FEATURES)
    } else {
        (Identity::new("gateway", "matrix", "en", "Matrix bridge"), &[ns::DISCO_INFO, ns::DISCO_ITEMS, ns::PING, ns::MUC])
    };
    let features: BTreeSet<String> = features.iter().map(|f| (*f).to_owned()).collect();
    let mut identities = vec![identity];
    if !for_user {
        // The component is also where the homeserver's public rooms are, as on a MUC service.
        identities.push(Identity::new("conference", "text", "en", "Matrix rooms"));
    }
    DiscoInfoResult { node: None, identities, features, extensions: Vec::new() }
}

/// A vCard with the Matrix user's name and their Matrix ID as a URL.
fn vcard(name: &str, matrix_id: &str) -> Element {
    let text = |el: &'static str, value: &str| Element::builder(el, ns::VCARD).append(value).build();
    Element::builder("vCard", ns::VCARD)
        .append(text("FN", name))
        .append(text("NICKNAME", name))
        .append(text("URL", &format!("https://matrix.to/#/{matrix_id}")))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(to: &str, payload: Element) -> Iq {
        Iq::Get { from: Some("alice@localhost/res".parse().unwrap()), to: Some(to.parse().unwrap()), id: "q1".into(), payload }
    }

    #[test]
    fn test_pings_disco_and_vcards_are_answered_and_the_rest_refused() {
        let ping = Element::builder("ping", ns::PING).build();
        let Some(Iq::Result { to, id, payload: None, .. }) = answer(get("bob_hs@matrix.test", ping), "matrix.test") else { panic!("ping") };
        assert_eq!((to.unwrap().to_string().as_str(), id.as_str()), ("alice@localhost/res", "q1"));

        let disco = Element::builder("query", ns::DISCO_INFO).build();
        let Some(Iq::Result { payload: Some(p), .. }) = answer(get("matrix.test", disco), "matrix.test") else { panic!("disco") };
        let info = DiscoInfoResult::try_from(p).unwrap();
        assert_eq!(info.identities[0].category, "gateway");

        let vcard_get = Element::builder("vCard", ns::VCARD).build();
        let Some(Iq::Result { payload: Some(p), .. }) = answer(get("bob_hs.example@matrix.test", vcard_get), "matrix.test") else {
            panic!("vcard")
        };
        assert!(String::from(&p).contains("https://matrix.to/#/@bob:hs.example"));

        let odd = Element::builder("query", "jabber:iq:version").build();
        assert!(matches!(answer(get("matrix.test", odd), "matrix.test"), Some(Iq::Error { .. })), "unknown gets are refused");
        let result = Iq::Result { from: None, to: None, id: "r".into(), payload: None };
        assert!(answer(result, "matrix.test").is_none(), "results are not answered");
    }
}
