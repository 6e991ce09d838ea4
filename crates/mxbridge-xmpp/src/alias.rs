//! Room aliases for MUCs: `#_xmpp_<room>_<muc host>:<domain>`, e.g.
//! `#_xmpp_exampleroom_conference.example.com:example.com`. Host names never contain `_`,
//! so the last `_` separates the room from the MUC service.

use crate::jid::{JidError, escape_node, parse_bare, unescape_node};

/// The MUC (bare JID `room@service`) an alias suffix names.
pub fn muc_for_alias_suffix(suffix: &str) -> Result<String, JidError> {
    let (room, service) = suffix.rsplit_once('_').ok_or_else(|| JidError::Invalid(suffix.to_owned()))?;
    if !service.contains('.') && service != "localhost" {
        return Err(JidError::Invalid(suffix.to_owned()));
    }
    let jid = format!("{}@{service}", escape_node(&unescape_node(room)));
    let (node, domain) = parse_bare(&jid)?;
    Ok(format!("{node}@{domain}"))
}

/// The alias suffix of a MUC (the reverse of [`muc_for_alias_suffix`]).
pub fn alias_suffix_for_muc(muc: &str) -> Result<String, JidError> {
    let (node, domain) = parse_bare(muc)?;
    Ok(format!("{}_{domain}", unescape_node(&node)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_aliases_name_mucs_and_back() {
        assert_eq!(muc_for_alias_suffix("exampleroom_conference.example.com").unwrap(), "exampleroom@conference.example.com");
        assert_eq!(muc_for_alias_suffix("my_room_conference.localhost").unwrap(), "my_room@conference.localhost");
        assert_eq!(muc_for_alias_suffix("room with space_muc.example.org").unwrap(), "room\\20with\\20space@muc.example.org");
        for muc in ["exampleroom@conference.example.com", "my_room@conference.localhost", "a\\2fb@muc.example.org"] {
            assert_eq!(muc_for_alias_suffix(&alias_suffix_for_muc(muc).unwrap()).unwrap(), muc);
        }
    }

    #[test]
    fn test_aliases_without_a_service_are_refused() {
        for bad in ["exampleroom", "room_", "_conference.example.com", "room_nodot", "room_conf.example.com/res"] {
            assert!(muc_for_alias_suffix(bad).is_err(), "{bad}");
        }
    }
}
