//! Answers to IQs sent to the component and to Matrix users' JIDs: XEP-0199 ping,
//! XEP-0030 service discovery, XEP-0054 vCards. Every other get or set gets an error reply,
//! as XMPP requires: an IQ left unanswered stalls the asking client.

use std::collections::BTreeSet;

use base64::Engine;
use mxbridge_core::network::gateway::{MatrixProfile, MatrixRooms};

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
    ns::CAPS,
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
        match payload.attr("node") {
            None => Ok(Some(disco_info(user_node.is_some()).into())),
            // XEP-0115: the node a user's caps name is their disco#info.
            Some(node) if user_node.is_some() && node == crate::caps::user_caps_node() => {
                Ok(Some(DiscoInfoResult { node: Some(node.to_owned()), ..user_disco_info() }.into()))
            }
            Some(_) => Err(DefinedCondition::ItemNotFound),
        }
    } else if payload.is("vCard", ns::VCARD) {
        match user_node.as_deref().and_then(crate::jid::matrix_user_for_node) {
            Some(user) => Ok(Some(vcard(&user, &MatrixProfile::default()))),
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

/// What a Matrix user's JID answers to disco#info (and what their caps hash).
pub(crate) fn user_disco_info() -> DiscoInfoResult {
    disco_info(true)
}

fn disco_info(for_user: bool) -> DiscoInfoResult {
    let (identity, features): (Identity, &[&str]) = if for_user {
        (Identity::new("client", "pc", "en", "Matrix user"), USER_FEATURES)
    } else {
        (
            Identity::new("gateway", "matrix", "en", "Matrix bridge"),
            &[ns::DISCO_INFO, ns::DISCO_ITEMS, ns::PING, ns::MUC, crate::search::NS_SEARCH],
        )
    };
    let features: BTreeSet<String> = features.iter().map(|f| (*f).to_owned()).collect();
    let mut identities = vec![identity];
    if !for_user {
        // The component is also where the homeserver's public rooms are, as on a MUC service.
        identities.push(Identity::new("conference", "text", "en", "Matrix rooms"));
    }
    DiscoInfoResult { node: None, identities, features, extensions: Vec::new() }
}

/// Whether an IQ asks for a Matrix user's vCard (answered with their Matrix profile, see
/// [`answer_vcard`]).
pub(crate) fn is_user_vcard_get(iq: &Iq) -> bool {
    matches!(iq, Iq::Get { to: Some(to), payload, .. } if to.node().is_some() && payload.is("vCard", ns::VCARD))
}

/// How large an avatar may be to go into a vCard (inline, as base64).
const MAX_VCARD_PHOTO_BYTES: usize = 256 * 1024;

/// Answers a vCard get for a Matrix user with their display name and avatar from the
/// homeserver; without the homeserver's answer, with their localpart.
pub(crate) async fn answer_vcard(iq: Iq, rooms: Option<std::sync::Arc<dyn MatrixRooms>>) -> Option<Iq> {
    let Iq::Get { from, to, id, .. } = &iq else { return None };
    let Some(user) = to.as_ref().and_then(|t| t.node()).and_then(|n| crate::jid::matrix_user_for_node(n.as_str())) else {
        return answer(iq, "");
    };
    let profile = match rooms {
        Some(rooms) => rooms.profile(&user, MAX_VCARD_PHOTO_BYTES).await.unwrap_or_else(|e| {
            tracing::debug!(user = %user, error = %e, "a vCard without the Matrix profile");
            MatrixProfile::default()
        }),
        None => MatrixProfile::default(),
    };
    Some(Iq::Result { from: to.clone(), to: from.clone(), id: id.clone(), payload: Some(vcard(&user, &profile)) })
}

/// A vCard with the Matrix user's display name (their localpart when they have none), their
/// avatar as PHOTO, and their Matrix ID as a URL.
fn vcard(user: &ruma::UserId, profile: &MatrixProfile) -> Element {
    let text = |el: &'static str, value: &str| Element::builder(el, ns::VCARD).append(value).build();
    let name = profile.display_name.as_deref().filter(|n| !n.trim().is_empty()).unwrap_or(user.localpart());
    let mut card = Element::builder("vCard", ns::VCARD)
        .append(text("FN", name))
        .append(text("NICKNAME", name))
        .append(text("URL", &format!("https://matrix.to/#/{user}")));
    if let Some(avatar) = &profile.avatar {
        let mime = avatar.mime.as_deref().unwrap_or("image/png");
        let photo = Element::builder("PHOTO", ns::VCARD)
            .append(text("TYPE", mime))
            .append(text("BINVAL", &base64::engine::general_purpose::STANDARD.encode(&avatar.data)));
        card = card.append(photo.build());
    }
    card.build()
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
        let profile = MatrixProfile {
            display_name: Some("Bob B".into()),
            avatar: Some(mxbridge_core::network::content::Media {
                kind: mxbridge_core::network::content::MediaKind::Image,
                name: "avatar".into(),
                mime: Some("image/png".into()),
                data: vec![0x89, 0x50, 0x4e, 0x47],
                url: None,
            }),
        };
        let card = String::from(&vcard(ruma::user_id!("@bob:hs.example"), &profile));
        assert!(card.contains("<NICKNAME>Bob B</NICKNAME>") && card.contains("<BINVAL>iVBORw==</BINVAL>"), "{card}");
        assert!(is_user_vcard_get(&get("bob_hs.example@matrix.test", Element::builder("vCard", ns::VCARD).build())));
        assert!(!is_user_vcard_get(&get("matrix.test", Element::builder("vCard", ns::VCARD).build())), "the component has none");

        let caps_query = Element::builder("query", ns::DISCO_INFO).attr(crate::xep::attr("node"), crate::caps::user_caps_node()).build();
        let Some(Iq::Result { payload: Some(p), .. }) = answer(get("bob_hs@matrix.test", caps_query), "matrix.test") else {
            panic!("caps")
        };
        let info = DiscoInfoResult::try_from(p).unwrap();
        assert_eq!(info.node, Some(crate::caps::user_caps_node()), "the node is echoed");
        assert_eq!(crate::caps::verification(&info), crate::caps::user_caps_node().rsplit('#').next().unwrap(), "it hashes to the caps");
        let stale = Element::builder("query", ns::DISCO_INFO).attr(crate::xep::attr("node"), "urn:mxbridge:xmpp#old").build();
        assert!(matches!(answer(get("bob_hs@matrix.test", stale), "matrix.test"), Some(Iq::Error { .. })), "unknown nodes are not found");

        let odd = Element::builder("query", "jabber:iq:version").build();
        assert!(matches!(answer(get("matrix.test", odd), "matrix.test"), Some(Iq::Error { .. })), "unknown gets are refused");
        let result = Iq::Result { from: None, to: None, id: "r".into(), payload: None };
        assert!(answer(result, "matrix.test").is_none(), "results are not answered");
    }
}
