//! JIDs for Matrix users, and XEP-0106 escaping.
//!
//! A Matrix user is seen on XMPP as `<localpart>_<server>@<component>`. Server names never
//! contain `_` (they are host names, IPv4 or bracketed IPv6 literals, with an optional
//! port), so the last `_` splits the node back into localpart and server. Characters a JID
//! node may not hold (space, `"&'/:<>@`) are escaped as XEP-0106 says (`\20`, `\22`, ...), so
//! `@a/b:example.com:8448` becomes `a\2fb_example.com\3a8448`.

use ruma::{OwnedUserId, UserId};

/// The characters XEP-0106 escapes, with their escape sequences.
const ESCAPES: [(char, &str); 10] = [
    (' ', "\\20"),
    ('"', "\\22"),
    ('&', "\\26"),
    ('\'', "\\27"),
    ('/', "\\2f"),
    (':', "\\3a"),
    ('<', "\\3c"),
    ('>', "\\3e"),
    ('@', "\\40"),
    ('\\', "\\5c"),
];

/// Longest JID part, in bytes (RFC 7622).
pub const MAX_PART_BYTES: usize = 1023;

/// A JID or node could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JidError {
    /// The node is longer than a JID allows.
    #[error("the JID node would be longer than {MAX_PART_BYTES} bytes")]
    TooLong,
    /// The text is not a JID of the expected form.
    #[error("`{0}` is not a valid JID here")]
    Invalid(String),
}

/// XEP-0106: escapes a node. A backslash is escaped only where it would otherwise be read
/// as the start of an escape sequence, as the XEP requires.
pub fn escape_node(node: &str) -> String {
    let mut out = String::with_capacity(node.len());
    for (i, c) in node.char_indices() {
        match c {
            '\\' if !starts_escape(&node[i..]) => out.push('\\'),
            c => match ESCAPES.iter().find(|(e, _)| *e == c) {
                Some((_, seq)) => out.push_str(seq),
                None => out.push(c),
            },
        }
    }
    out
}

/// Whether `text` (starting with a backslash) begins with one of the escape sequences.
fn starts_escape(text: &str) -> bool {
    // `get`: the three bytes after a backslash may end inside a multi-byte character.
    text.get(..3).is_some_and(|head| ESCAPES.iter().any(|(_, seq)| head.eq_ignore_ascii_case(seq)))
}

/// XEP-0106: unescapes a node; text that is not an escape sequence stays as it is.
pub fn unescape_node(node: &str) -> String {
    let mut out = String::with_capacity(node.len());
    let mut i = 0;
    while i < node.len() {
        let rest = &node[i..];
        let head = rest.get(..3);
        match ESCAPES.iter().find(|(_, seq)| head.is_some_and(|h| h.eq_ignore_ascii_case(seq))) {
            Some((c, _)) => {
                out.push(*c);
                i += 3;
            }
            None => {
                let c = rest.chars().next().expect("i is on a char boundary");
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
}

/// The node of a Matrix user's JID on the component: `alice_example.com`, escaped.
pub fn node_for_matrix_user(user: &UserId) -> Result<String, JidError> {
    let node = escape_node(&format!("{}_{}", user.localpart(), user.server_name()));
    if node.len() > MAX_PART_BYTES {
        return Err(JidError::TooLong);
    }
    Ok(node)
}

/// The Matrix user behind a node of the component (the reverse of
/// [`node_for_matrix_user`]); `None` when the node names no valid Matrix user.
pub fn matrix_user_for_node(node: &str) -> Option<OwnedUserId> {
    let plain = unescape_node(node);
    let (localpart, server) = plain.rsplit_once('_')?;
    if localpart.is_empty() || server.is_empty() {
        return None;
    }
    UserId::parse(format!("@{localpart}:{server}")).ok()
}

/// Whether a node of the component names a Matrix room (`#alias_server`, `!id_server`)
/// rather than a Matrix user (whose localparts never start with `#` or `!`).
pub fn is_room_node(node: &str) -> bool {
    node.starts_with(['#', '!'])
}

/// The node of a Matrix room's JID on the component: `#rust_example.com` for the alias
/// `#rust:example.com`, `!abc_example.com` for a room id; escaped like user nodes.
pub fn node_for_matrix_room(alias_or_id: &str) -> Option<String> {
    let (local, server) = alias_or_id.split_once(':')?;
    if !is_room_node(local) || server.is_empty() {
        return None;
    }
    let node = escape_node(&format!("{local}_{server}"));
    (node.len() <= MAX_PART_BYTES).then_some(node)
}

/// The room alias or id a room node names (the reverse of [`node_for_matrix_room`]).
pub fn matrix_room_for_node(node: &str) -> Option<String> {
    let plain = unescape_node(node);
    let (local, server) = plain.rsplit_once('_')?;
    (is_room_node(local) && local.len() > 1 && !server.is_empty()).then(|| format!("{local}:{server}"))
}

/// The MUC an alias suffix names in the form `<room>_<muc host>` (`#_xmpp_room_conference.example.org:domain`),
/// given as the suffix's raw text. The host is what follows the last `_` (host names have
/// no `_`, room names may) and must contain a dot; the room is everything before it.
pub fn muc_for_underscore_alias(raw: &str) -> Option<String> {
    let (node, host) = raw.rsplit_once('_')?;
    if node.is_empty() || !host.contains('.') || host.starts_with('.') || host.ends_with('.') {
        return None;
    }
    let (node, host) = parse_bare(&format!("{node}@{host}")).ok()?;
    Some(format!("{node}@{host}"))
}

/// A bare JID `node@domain`, checked for the parts this bridge relies on: one `@`, a
/// node and a domain within length limits, no resource, no whitespace or control characters.
pub fn parse_bare(jid: &str) -> Result<(String, String), JidError> {
    let invalid = || JidError::Invalid(jid.to_owned());
    let (node, domain) = jid.split_once('@').ok_or_else(invalid)?;
    let ok_part = |p: &str| !p.is_empty() && p.len() <= MAX_PART_BYTES && !p.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok_part(node) || !ok_part(domain) || domain.contains(['@', '/']) || node.contains(['"', '&', '\'', '/', ':', '<', '>']) {
        return Err(invalid());
    }
    Ok((node.to_owned(), domain.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_the_underscore_alias_form_splits_at_the_last_underscore() {
        assert_eq!(
            muc_for_underscore_alias("exampleroom_conference.xmpp.example.com").as_deref(),
            Some("exampleroom@conference.xmpp.example.com")
        );
        assert_eq!(
            muc_for_underscore_alias("my_old_room_conference.localhost").as_deref(),
            Some("my_old_room@conference.localhost"),
            "rooms keep their `_`"
        );
        assert_eq!(muc_for_underscore_alias("room_localhost"), None, "a host without a dot");
        assert_eq!(muc_for_underscore_alias("_conference.localhost"), None, "no room");
        assert_eq!(muc_for_underscore_alias("room_conference.localhost."), None);
        assert_eq!(muc_for_underscore_alias("noseparator.localhost"), None);
    }

    /// Issue 16, finding 3: a backslash followed by a multi-byte character (a stanza to
    /// `ab\\€@component`, a room alias met in disco or search) cut that character in half and
    /// panicked the router task, which stopped all inbound XMPP traffic.
    #[test]
    fn test_a_backslash_before_a_multibyte_character_does_not_panic() {
        for node in ["ab\\€", "\\€", "\\2€", "x\\é", "\\", "\\2", "€\\20€"] {
            let escaped = escape_node(node);
            assert_eq!(unescape_node(&escaped), node, "round trip of {node:?}");
            let _ = unescape_node(node);
        }
        assert_eq!(unescape_node("a\\20b\\€"), "a b\\€");
    }

    #[test]
    fn test_xep_0106_examples() {
        // The examples of XEP-0106 §4.3.
        let cases = [
            ("space cadet", "space\\20cadet"),
            ("call me \"ishmael\"", "call\\20me\\20\\22ishmael\\22"),
            ("at&t guy", "at\\26t\\20guy"),
            ("d'artagnan", "d\\27artagnan"),
            ("/.fanboy", "\\2f.fanboy"),
            ("::foo::", "\\3a\\3afoo\\3a\\3a"),
            ("<foo>", "\\3cfoo\\3e"),
            ("user@host", "user\\40host"),
            ("c:\\net", "c\\3a\\net"),
            ("c:\\\\net", "c\\3a\\\\net"),
            ("c:\\cool stuff", "c\\3a\\cool\\20stuff"),
            ("c:\\5commas", "c\\3a\\5c5commas"),
        ];
        for (plain, escaped) in cases {
            assert_eq!(escape_node(plain), escaped, "escaping {plain}");
            assert_eq!(unescape_node(escaped), plain, "unescaping {escaped}");
        }
    }

    #[test]
    fn test_matrix_users_map_to_nodes_and_back() {
        for id in ["@alice:example.com", "@a_b_c:example.com", "@x/y=z:example.com:8448", "@bob:[::1]:8448", "@_irc_nick:hs.example"] {
            let user = UserId::parse(id).unwrap();
            let node = node_for_matrix_user(&user).unwrap();
            assert!(!node.contains(['@', '/', ':', ' ']), "{node} must be a valid node");
            assert_eq!(matrix_user_for_node(&node).as_deref(), Some(&*user), "{id} via {node}");
        }
        assert_eq!(node_for_matrix_user(&UserId::parse("@alice:example.com").unwrap()).unwrap(), "alice_example.com");
        assert_eq!(matrix_user_for_node("nounderscore"), None);
        assert_eq!(matrix_user_for_node("_example.com"), None);
    }

    #[test]
    fn test_bare_jids_are_checked() {
        assert_eq!(parse_bare("alice@Example.ORG").unwrap(), ("alice".into(), "example.org".into()));
        for bad in ["alice", "@example.org", "alice@", "a@b@c", "alice@example.org/res", "al ice@example.org", "a/b@example.org", "a\n@b"] {
            assert!(parse_bare(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn test_room_nodes_map_both_ways_and_are_not_users() {
        for room in ["#rust:example.com", "#with_underscore:example.com", "!AbC:hs.example:8448"] {
            let node = node_for_matrix_room(room).unwrap();
            assert!(is_room_node(&node), "{node}");
            assert_eq!(matrix_room_for_node(&node).as_deref(), Some(room));
        }
        assert_eq!(node_for_matrix_room("#rust:example.com").as_deref(), Some("#rust_example.com"));
        assert_eq!(node_for_matrix_room("@user:example.com"), None);
        assert!(!is_room_node(&node_for_matrix_user(&UserId::parse("@alice:example.com").unwrap()).unwrap()));
        assert_eq!(matrix_room_for_node("#_example.com"), None);
    }
}
