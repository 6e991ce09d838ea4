//! XEP-0115 entity capabilities: the presences of Matrix users carry a hash of what their
//! JIDs can do (the disco#info of [`crate::iq`]), so XMPP clients learn it once per bridge
//! version instead of asking every Matrix user.

use std::sync::OnceLock;

use base64::Engine;
use tokio_xmpp::parsers::caps::{Caps, compute_disco, hash_caps};
use tokio_xmpp::parsers::disco::DiscoInfoResult;
use tokio_xmpp::parsers::hashes::Algo;

/// The node naming the bridge's software in its capabilities.
pub(crate) const NODE: &str = "urn:mxbridge:xmpp";

/// The verification string of a disco#info answer (XEP-0115 §5.1, SHA-1, base64).
pub(crate) fn verification(info: &DiscoInfoResult) -> String {
    let hash = hash_caps(&compute_disco(info), Algo::Sha_1).expect("SHA-1 is a known algorithm");
    base64::engine::general_purpose::STANDARD.encode(hash.hash)
}

/// The `<c/>` every Matrix user's presence carries.
pub(crate) fn user_caps() -> Caps {
    static CAPS: OnceLock<Caps> = OnceLock::new();
    CAPS.get_or_init(|| {
        let hash = hash_caps(&compute_disco(&crate::iq::user_disco_info()), Algo::Sha_1).expect("SHA-1 is a known algorithm");
        Caps::new(NODE, hash)
    })
    .clone()
}

/// The disco#info node that the user caps announce (`node#ver`), which a client asks about.
pub(crate) fn user_caps_node() -> String {
    static NODE_VER: OnceLock<String> = OnceLock::new();
    NODE_VER.get_or_init(|| format!("{NODE}#{}", verification(&crate::iq::user_disco_info()))).clone()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use tokio_xmpp::parsers::disco::Identity;

    use super::*;

    #[test]
    fn test_the_verification_string_of_the_xeps_simple_example() {
        // XEP-0115 §5.2: Exodus 0.9.1 with four features.
        let features = [
            "http://jabber.org/protocol/caps",
            "http://jabber.org/protocol/disco#info",
            "http://jabber.org/protocol/disco#items",
            "http://jabber.org/protocol/muc",
        ];
        let info = DiscoInfoResult {
            node: None,
            identities: vec![Identity::new("client", "pc", "", "Exodus 0.9.1")],
            features: features.iter().map(|f| (*f).to_owned()).collect::<BTreeSet<_>>(),
            extensions: Vec::new(),
        };
        assert_eq!(verification(&info), "QgayPKawpkPSDYmwT/WM94uAlu0=");
    }

    #[test]
    fn test_user_caps_name_the_users_disco_info() {
        let caps = user_caps();
        assert_eq!(caps.node, NODE);
        let ver = base64::engine::general_purpose::STANDARD.encode(&caps.ver);
        assert_eq!(ver, verification(&crate::iq::user_disco_info()));
        assert_eq!(user_caps_node(), format!("{NODE}#{ver}"));
    }
}
