//! Ghost user IDs and portal aliases: escaping remote ids into Matrix localparts and back.
//!
//! Escaping follows the spec's recommended mapping (appendices, "Mapping from other
//! character sets"), stricter where Matrix servers disagree: every UTF-8 byte outside
//! `a-z 0-9 . - +` becomes `=xx` (lowercase hex), uppercase ASCII becomes `_` + lowercase,
//! and `_` becomes `__`. So the result only uses `a-z 0-9 . _ = - +`, is unique per input,
//! and decodes back. `/` is escaped too: it is legal in localparts but homeservers and
//! clients mishandle it in URL paths.
//!
//! A user ID may have at most 255 bytes. When the escaped id does not fit, it is cut and
//! followed by `=ff` and a hash of the whole remote id. `=ff` never occurs in escaped UTF-8,
//! so such ids are recognisably not decodable; the ghost table maps them back.

use sha2::{Digest, Sha256};

/// Longest user ID or alias the spec allows, in bytes.
pub const MAX_ID_BYTES: usize = 255;

/// Marker of a truncated localpart: an escape of a byte that never occurs in UTF-8.
const TRUNCATION_MARK: &str = "=ff";
/// Hex characters of the hash after the marker (64 bits).
const HASH_HEX_LEN: usize = 16;

/// Escapes a remote id into localpart characters.
pub fn escape(remote: &str) -> String {
    let mut out = String::with_capacity(remote.len());
    for b in remote.bytes() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'+' => out.push(b as char),
            b'A'..=b'Z' => {
                out.push('_');
                out.push(b.to_ascii_lowercase() as char);
            }
            b'_' => out.push_str("__"),
            _ => {
                out.push('=');
                out.push_str(&format!("{b:02x}"));
            }
        }
    }
    out
}

/// Reverses [`escape`]. `None` if the text is not an escaped id (or was truncated).
pub fn unescape(escaped: &str) -> Option<String> {
    let bytes = escaped.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'_' => {
                let next = *bytes.get(i + 1)?;
                match next {
                    b'_' => out.push(b'_'),
                    b'a'..=b'z' => out.push(next.to_ascii_uppercase()),
                    _ => return None,
                }
                i += 2;
            }
            b'=' => {
                let hex = escaped.get(i + 1..i + 3)?;
                if hex.bytes().any(|c| c.is_ascii_uppercase()) {
                    return None;
                }
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            c @ (b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'+') => {
                out.push(c);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

/// Whether a localpart uses only the characters the spec allows today.
pub fn is_valid_localpart(localpart: &str) -> bool {
    !localpart.is_empty() && localpart.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'=' | b'-' | b'/' | b'+'))
}

/// A localpart template such as `_irc_{{.}}`: fixed text around the escaped id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    prefix: String,
    suffix: String,
}

impl Template {
    /// Parses a template; the error says what is wrong with it.
    pub fn parse(template: &str) -> Result<Self, String> {
        let Some((prefix, suffix)) = template.split_once("{{.}}") else {
            return Err(format!("`{template}` has no `{{{{.}}}}` placeholder"));
        };
        if suffix.contains("{{.}}") {
            return Err(format!("`{template}` has more than one `{{{{.}}}}`"));
        }
        if prefix.is_empty() && suffix.is_empty() {
            return Err("the template must have fixed text, or it would claim every user".to_owned());
        }
        for part in [prefix, suffix] {
            if !part.is_empty() && !is_valid_localpart(part) {
                return Err(format!("`{part}` has characters Matrix does not allow in IDs (use a-z 0-9 . _ = - +)"));
            }
        }
        Ok(Self { prefix: prefix.to_owned(), suffix: suffix.to_owned() })
    }

    /// The localpart for a remote id, cut to fit `MAX_ID_BYTES` together with the sigil,
    /// `:` and `server_name`.
    pub fn localpart(&self, remote: &str, server_name: &str) -> String {
        let escaped = escape(remote);
        let budget = MAX_ID_BYTES.saturating_sub(2 + server_name.len() + self.prefix.len() + self.suffix.len());
        if escaped.len() <= budget {
            return format!("{}{escaped}{}", self.prefix, self.suffix);
        }
        let keep = budget.saturating_sub(TRUNCATION_MARK.len() + HASH_HEX_LEN);
        let cut = cut_on_escape_boundary(&escaped, keep);
        let hash = Sha256::digest(remote.as_bytes());
        let hash_hex = hex::encode(&hash[..HASH_HEX_LEN / 2]);
        format!("{}{cut}{TRUNCATION_MARK}{hash_hex}{}", self.prefix, self.suffix)
    }

    /// The remote id encoded in a localpart, if it fits this template and is decodable.
    pub fn remote_id(&self, localpart: &str) -> Option<String> {
        let inner = localpart.strip_prefix(&self.prefix)?.strip_suffix(&self.suffix)?;
        if inner.is_empty() {
            return None;
        }
        unescape(inner)
    }

    /// Whether a localpart lies in this template's namespace.
    pub fn matches_localpart(&self, localpart: &str) -> bool {
        localpart.len() > self.prefix.len() + self.suffix.len() && localpart.starts_with(&self.prefix) && localpart.ends_with(&self.suffix)
    }

    /// A fully anchored regex for IDs in this namespace on `server_name`, with `sigil`
    /// (`@` or `#`). Anchored at both ends because Synapse anchors only the start and
    /// Dendrite neither.
    pub fn namespace_regex(&self, sigil: char, server_name: &str) -> String {
        self.namespace_regex_with_literals(sigil, server_name, &[])
    }

    /// Like [`Template::namespace_regex`], also claiming the literal form of ids that begin
    /// with one of `literal_starts` (see [`Template::literal_id`]): after the start, any
    /// characters an alias may hold (no `:`, no whitespace). One regex, so a registration
    /// keeps one namespace per kind.
    pub fn namespace_regex_with_literals(&self, sigil: char, server_name: &str, literal_starts: &[String]) -> String {
        let escaped = "[a-z0-9._=+-]+";
        let body = if !literal_starts.iter().any(|s| is_literal_start(s)) {
            escaped.to_owned()
        } else {
            let starts: Vec<String> = literal_starts.iter().filter(|s| is_literal_start(s)).map(|s| regex::escape(s)).collect();
            format!("(?:{escaped}|(?:{})[^:\\s]*)", starts.join("|"))
        };
        format!(
            "^{}{}{body}{}:{}$",
            regex::escape(&sigil.to_string()),
            regex::escape(&self.prefix),
            regex::escape(&self.suffix),
            regex::escape(server_name)
        )
    }

    /// The id written literally in a localpart (`_irc_#rust` → `#rust`): the text between
    /// prefix and suffix, unescaped, when it begins with one of `literal_starts`. A network
    /// whose ids have characters the escaping never produces (IRC's `#`) can so accept the
    /// form its users know beside the escaped one, without ambiguity.
    pub fn literal_id(&self, localpart: &str, literal_starts: &[String]) -> Option<String> {
        let inner = localpart.strip_prefix(&self.prefix)?.strip_suffix(&self.suffix)?;
        let literal = literal_starts.iter().any(|s| is_literal_start(s) && inner.starts_with(s.as_str()));
        let valid = !inner.contains(':') && !inner.chars().any(char::is_whitespace);
        (literal && valid).then(|| inner.to_owned())
    }

    /// The literal localpart of a remote id (`#rust` → `_irc_#rust`) when the id begins with
    /// one of `literal_starts` and fits an alias on `server_name`; else `None` (then the
    /// escaped [`Template::localpart`] is the one to use).
    pub fn literal_localpart(&self, remote: &str, server_name: &str, literal_starts: &[String]) -> Option<String> {
        let localpart = format!("{}{remote}{}", self.prefix, self.suffix);
        let fits = 2 + localpart.len() + server_name.len() <= MAX_ID_BYTES;
        (fits && self.literal_id(&localpart, literal_starts).is_some()).then_some(localpart)
    }
}

/// Whether a literal start cannot begin an escaped id (it has a character escaping never
/// writes), so the two forms never overlap.
fn is_literal_start(start: &str) -> bool {
    start.bytes().any(|b| !matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'=' | b'-' | b'+'))
}

/// Cuts at most `max` bytes without splitting an `=xx` or `_x` escape.
fn cut_on_escape_boundary(escaped: &str, max: usize) -> &str {
    let bytes = escaped.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let step = match bytes[i] {
            b'=' => 3,
            b'_' => 2,
            _ => 1,
        };
        if i + step > max {
            break;
        }
        i += step;
    }
    &escaped[..i]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_escape_table() {
        let cases = [
            ("alice", "alice"),
            ("Alice", "_alice"),
            ("a_b", "a__b"),
            ("a=b", "a=3db"),
            ("a/b", "a=2fb"),
            ("á", "=c3=a1"),
            ("nick[away]", "nick=5baway=5d"),
            ("+4412345678", "+4412345678"),
            ("bob@example.org/res", "bob=40example.org=2fres"),
            ("a\r\nb", "a=0d=0ab"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(escape(input), want, "escape({input:?})");
            assert_eq!(unescape(want).as_deref(), Some(input), "unescape({want:?})");
        }
    }

    #[test]
    fn test_escape_is_always_valid_and_round_trips() {
        let inputs = ["ÄÖÜ ß", "_x", "__", "=", "😀 emoji", "tab\tand\0nul", "UPPER_lower", ":colon", "@at#hash"];
        for input in inputs {
            let e = escape(input);
            assert!(is_valid_localpart(&e) || e.is_empty(), "{e}");
            assert!(!e.contains('/'), "{e}");
            assert_eq!(unescape(&e).as_deref(), Some(input));
        }
    }

    #[test]
    fn test_unescape_rejects_non_escaped() {
        for bad in ["A", "_", "_1", "=4", "=zz", "=4A", "a b", "a/b", "=ff"] {
            assert_eq!(unescape(bad), None, "{bad}");
        }
    }

    #[test]
    fn test_template_round_trip() {
        let t = Template::parse("_irc_{{.}}").unwrap();
        let lp = t.localpart("Nick|away", "example.org");
        assert_eq!(lp, "_irc__nick=7caway");
        assert_eq!(t.remote_id(&lp).as_deref(), Some("Nick|away"));
        assert_eq!(t.remote_id("_irc_"), None);
        assert_eq!(t.remote_id("someoneelse"), None);
        let s = Template::parse("wa_{{.}}_ghost").unwrap();
        assert_eq!(s.remote_id(&s.localpart("123", "x.org")).as_deref(), Some("123"));
    }

    #[test]
    fn test_template_parse_errors() {
        assert!(Template::parse("_irc_").is_err());
        assert!(Template::parse("{{.}}").is_err());
        assert!(Template::parse("_IRC_{{.}}").is_err());
        assert!(Template::parse("{{.}}{{.}}x").is_err());
    }

    #[test]
    fn test_long_ids_fit_and_stay_distinct() {
        let t = Template::parse("_net_{{.}}").unwrap();
        let domain = "example.org";
        let long_a = "é".repeat(200);
        let long_b = format!("{}x", "é".repeat(199));
        let a = t.localpart(&long_a, domain);
        let b = t.localpart(&long_b, domain);
        for lp in [&a, &b] {
            assert!(format!("@{lp}:{domain}").len() <= MAX_ID_BYTES, "{}", lp.len());
            assert!(is_valid_localpart(lp));
            assert!(ruma::UserId::parse(format!("@{lp}:{domain}")).is_ok());
        }
        assert_ne!(a, b);
        assert_eq!(t.remote_id(&a), None, "truncated ids are not decodable");
        assert_eq!(a, t.localpart(&long_a, domain), "stable");
    }

    #[test]
    fn test_literal_ids_beside_escaped_ones() {
        let t = Template::parse("_irc_{{.}}").unwrap();
        let starts = vec!["#".to_owned(), "oftc.#".to_owned()];
        assert_eq!(t.literal_id("_irc_#My_Chan", &starts).as_deref(), Some("#My_Chan"), "taken as written, `_` too");
        assert_eq!(t.literal_id("_irc_oftc.#debian", &starts).as_deref(), Some("oftc.#debian"));
        assert_eq!(t.literal_id("_irc_=23rust", &starts), None, "the escaped form is not literal");
        assert_eq!(t.literal_id("_irc_#a b", &starts), None, "no whitespace in aliases");
        assert_eq!(t.literal_id("_irc_#rust", &[]), None, "only for networks that ask for it");
        assert_eq!(t.literal_id("_irc_oftc.x", &["oftc.".to_owned()]), None, "a start an escaped id could begin with is ignored");
        assert_eq!(t.literal_localpart("#rust{}", "example.org", &starts).as_deref(), Some("_irc_#rust{}"));
        assert_eq!(t.literal_localpart("rust", "example.org", &starts), None);
        assert_eq!(t.literal_localpart(&format!("#{}", "x".repeat(250)), "example.org", &starts), None, "too long for an alias");

        let re = regex::Regex::new(&t.namespace_regex_with_literals('#', "example.org", &starts)).unwrap();
        for ours in ["#_irc_=23rust:example.org", "#_irc_#rust:example.org", "#_irc_#Rust[m]:example.org", "#_irc_oftc.#debian:example.org"]
        {
            assert!(re.is_match(ours), "{ours}");
        }
        for foreign in [
            "#_irc_Rust:example.org",
            "#_irc_#a b:example.org",
            "#_irc_#x:example.org.evil",
            "#other_#x:example.org",
            "#_irc_efnet.#x:example.org",
        ] {
            assert!(!re.is_match(foreign), "{foreign}");
        }
        assert_eq!(t.namespace_regex_with_literals('#', "example.org", &[]), t.namespace_regex('#', "example.org"));
    }

    #[test]
    fn test_namespace_regex_is_anchored() {
        let t = Template::parse("_irc_{{.}}").unwrap();
        let re = regex::Regex::new(&t.namespace_regex('@', "example.org")).unwrap();
        assert!(re.is_match("@_irc_alice:example.org"));
        assert!(re.is_match(&format!("@{}:example.org", t.localpart("Weird Nick[1]", "example.org"))));
        for foreign in [
            "@alice_irc_x:example.org",
            "@_irc_x:example.org.evil",
            "@_irc_x:exampleXorg",
            "@_irc_:example.org",
            "x@_irc_x:example.org",
            "@_irc_x:example.org\n",
        ] {
            assert!(!re.is_match(foreign), "{foreign}");
        }
    }
}
