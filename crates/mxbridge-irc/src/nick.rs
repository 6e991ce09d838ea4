//! IRC nicks for Matrix users.
//!
//! A puppet's nick comes from a template (default `{displayname}[m]`), is reduced to the
//! characters IRC allows (letters, digits and `[]\`_^{|}-`, not starting with a digit or
//! `-`), cut to the server's NICKLEN, and made unique with a number when taken.

/// Default template: the Matrix display name with a marker that it is a bridged user.
pub const DEFAULT_TEMPLATE: &str = "{displayname}[m]";
/// NICKLEN when the server does not say (RFC 2812 allows 9; modern servers 30+).
pub const DEFAULT_NICKLEN: usize = 30;

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || "[]\\`_^{|}-".contains(c)
}

fn allowed_first(c: char) -> bool {
    allowed(c) && !c.is_ascii_digit() && c != '-'
}

/// Reduces any text to a valid nick of at most `max_len` bytes; `None` if nothing usable
/// is left (the caller then falls back to the user ID's localpart).
pub fn sanitize(text: &str, max_len: usize) -> Option<String> {
    let mut nick: String = text.chars().filter(|&c| allowed(c)).collect();
    while nick.chars().next().is_some_and(|c| !allowed_first(c)) {
        nick.remove(0);
    }
    nick.truncate(max_len);
    (!nick.is_empty()).then_some(nick)
}

/// The nick for a Matrix user from the template (`{displayname}`, `{localpart}`).
pub fn from_template(template: &str, display_name: Option<&str>, localpart: &str, max_len: usize) -> String {
    let render = |name: &str| template.replace("{displayname}", name).replace("{localpart}", localpart);
    // A localpart may start with a digit or `=`; prefixing keeps all of it in the nick.
    let base = if localpart.chars().next().is_some_and(allowed_first) { localpart.to_owned() } else { format!("m{localpart}") };
    display_name
        .and_then(|d| sanitize(&render(d), max_len))
        .or_else(|| sanitize(&render(&base), max_len))
        .or_else(|| sanitize(&base, max_len))
        .unwrap_or_else(|| "matrixuser".to_owned())
}

/// The `attempt`th alternative when a nick is taken: a number replaces the end so the
/// result still fits `max_len`.
pub fn alternative(nick: &str, attempt: u32, max_len: usize) -> String {
    let suffix = attempt.to_string();
    let keep = max_len.saturating_sub(suffix.len()).min(nick.len());
    format!("{}{suffix}", &nick[..keep])
}

/// IRC's case mapping (rfc1459: `[]\~` are the upper case of `{}|^`), for comparing nicks
/// and channel names as the server does.
pub fn casefold(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '[' => '{',
            ']' => '}',
            '\\' => '|',
            '~' => '^',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_sanitize_table() {
        let cases = [
            ("Alice", Some("Alice")),
            ("Alice Smith", Some("AliceSmith")),
            ("123go", Some("go")),
            ("-dash", Some("dash")),
            ("Zoë 🎉", Some("Zo")),
            ("evil\r\nQUIT", Some("evilQUIT")),
            ("🎉🎉", None),
            ("[m]", Some("[m]")),
        ];
        for (input, want) in cases {
            assert_eq!(sanitize(input, 30).as_deref(), want, "{input:?}");
        }
        assert_eq!(sanitize("abcdefghijkl", 9).as_deref(), Some("abcdefghi"));
    }

    #[test]
    fn test_template_and_fallbacks() {
        assert_eq!(from_template(DEFAULT_TEMPLATE, Some("Alice"), "alice", 30), "Alice[m]");
        assert_eq!(from_template(DEFAULT_TEMPLATE, Some("🎉"), "bob", 30), "[m]", "the marker alone is still a valid nick");
        assert_eq!(from_template("{displayname}", Some("🎉"), "bob", 30), "bob");
        assert_eq!(from_template("{displayname}", None, "42", 30), "m42");
        assert_eq!(from_template("{displayname}", None, "_x", 30), "_x");
        assert_eq!(from_template("{displayname}", None, "=2f", 30), "m2f");
    }

    #[test]
    fn test_alternatives_stay_within_nicklen() {
        assert_eq!(alternative("Alice[m]", 1, 30), "Alice[m]1");
        assert_eq!(alternative("abcdefghi", 12, 9), "abcdefg12");
        for attempt in 1..200 {
            let alt = alternative("abcdefghi", attempt, 9);
            assert!(alt.len() <= 9 && sanitize(&alt, 9).as_deref() == Some(alt.as_str()), "{alt}");
        }
    }

    #[test]
    fn test_casefold_follows_rfc1459() {
        assert_eq!(casefold("Nick[Away]"), casefold("nick{away}"));
        assert_eq!(casefold("A\\B~"), "a|b^");
    }
}
