//! WhatsApp addresses (JIDs) and how they map to the bridge's ids.
//!
//! - A user is `<number>@s.whatsapp.net`; the bridge's [`RemoteUserId`] is the bare number
//!   (digits, with country code, no `+`), so ghosts are `@whatsapp_<number>:<domain>`.
//! - A chat's [`RemoteChatId`] is its JID as text: `<number>@s.whatsapp.net` for a DM,
//!   `<creator>-<timestamp>@g.us` for a group. Portals are owned by the login
//!   ([`PortalKey::owned_by`]): two users with the same contact get two rooms.
//! - A login's [`LoginId`] is `+<number>` of the linked account.
//!
//! These values are stored, so changing them needs a migration.

use std::fmt;

use mxbridge_core::ids::{LoginId, PortalKey, RemoteChatId, RemoteUserId};

/// The server part of user JIDs.
pub const USER_SERVER: &str = "s.whatsapp.net";
/// The server part of group JIDs.
pub const GROUP_SERVER: &str = "g.us";
/// The server part of WhatsApp's privacy ids (LIDs), which stand in for phone numbers.
pub const LID_SERVER: &str = "lid";

/// A WhatsApp address: `user@server`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Jid {
    /// A phone number, or a group id.
    pub user: String,
    /// `s.whatsapp.net` or `g.us`.
    pub server: String,
}

impl Jid {
    /// A user's JID from their number (digits only).
    pub fn user(number: &str) -> Self {
        Self { user: number.to_owned(), server: USER_SERVER.to_owned() }
    }

    /// A group's JID from its id (`447818943525-1636277287`).
    pub fn group(id: &str) -> Self {
        Self { user: id.to_owned(), server: GROUP_SERVER.to_owned() }
    }

    /// Parses `user@server`; the device part of `user:device@server` is dropped.
    pub fn parse(text: &str) -> Option<Self> {
        let (user, server) = text.split_once('@')?;
        let user = user.split(':').next().unwrap_or(user);
        if user.is_empty() || server.is_empty() {
            return None;
        }
        Some(Self { user: user.to_owned(), server: server.to_owned() })
    }

    /// Whether this is a group.
    pub fn is_group(&self) -> bool {
        self.server == GROUP_SERVER
    }

    /// The chat id of this JID.
    pub fn chat_id(&self) -> RemoteChatId {
        RemoteChatId::new(self.to_string())
    }

    /// The portal of this chat as `login` sees it.
    pub fn portal(&self, login: &LoginId) -> PortalKey {
        PortalKey::owned_by(self.chat_id(), login)
    }
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.user, self.server)
    }
}

/// The remote user id of a number.
pub fn user_id(number: &str) -> RemoteUserId {
    RemoteUserId::new(number)
}

/// The login id of a linked account.
pub fn login_id(number: &str) -> LoginId {
    LoginId::new(format!("+{number}"))
}

/// The chat a portal stands for.
pub fn chat_of(portal: &PortalKey) -> Option<Jid> {
    Jid::parse(portal.chat.as_str())
}

/// Why a phone number was not accepted.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    /// Letters or other characters that are not part of a number.
    #[error("`{0}` is not a phone number: use digits with the country code, like +4412345678")]
    NotANumber(String),
    /// Too short or too long for an international number.
    #[error("`{0}` has the wrong length for an international number (7 to 15 digits with the country code, like +4412345678)")]
    Length(String),
    /// Starts with 0: a national number without the country code.
    #[error("`{0}` looks like a national number: write it with the country code, like +4412345678")]
    National(String),
}

/// Normalises a phone number as people write it (`+44 7700-900 123`, `(0044) ...` is not
/// accepted) to the digits WhatsApp uses.
pub fn normalize_number(input: &str) -> Result<String, NumberError> {
    let trimmed = input.trim();
    let mut digits = String::new();
    for (i, c) in trimmed.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => {}
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return Err(NumberError::NotANumber(trimmed.to_owned())),
        }
    }
    if digits.starts_with('0') {
        return Err(NumberError::National(trimmed.to_owned()));
    }
    if !(7..=15).contains(&digits.len()) {
        return Err(NumberError::Length(trimmed.to_owned()));
    }
    Ok(digits)
}

/// Whether `text` is a group id as `list groups` shows them (`<digits>-<digits>`), or a
/// full group JID.
pub fn parse_group(text: &str) -> Option<Jid> {
    let id = text.trim().strip_suffix("@g.us").unwrap_or(text.trim());
    let (a, b) = id.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    (digits(a) && digits(b)).then(|| Jid::group(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_jid_parse_and_display() {
        let j = Jid::parse("447700900123:12@s.whatsapp.net").unwrap();
        assert_eq!(j, Jid::user("447700900123"), "the device part is dropped");
        assert_eq!(j.to_string(), "447700900123@s.whatsapp.net");
        assert!(!j.is_group());
        let g = Jid::parse("447818943525-1636277287@g.us").unwrap();
        assert!(g.is_group());
        assert_eq!(Jid::parse("nobody"), None);
        assert_eq!(Jid::parse("@g.us"), None);
        let login = login_id("447700900123");
        assert_eq!(login.as_str(), "+447700900123");
        assert_eq!(chat_of(&g.portal(&login)), Some(g));
    }

    #[test]
    fn test_normalize_number() {
        assert_eq!(normalize_number("+44 7700-900.123").unwrap(), "447700900123");
        assert_eq!(normalize_number("4412345678").unwrap(), "4412345678");
        assert_eq!(normalize_number("+44 abc"), Err(NumberError::NotANumber("+44 abc".into())));
        assert_eq!(normalize_number("07700900123"), Err(NumberError::National("07700900123".into())));
        assert_eq!(normalize_number("+123"), Err(NumberError::Length("+123".into())));
        assert_eq!(normalize_number("1+23456789"), Err(NumberError::NotANumber("1+23456789".into())));
    }

    #[test]
    fn test_parse_group() {
        assert_eq!(parse_group("447818943525-1636277287"), Some(Jid::group("447818943525-1636277287")));
        assert_eq!(parse_group("447818943525-1636277287@g.us"), Some(Jid::group("447818943525-1636277287")));
        assert_eq!(parse_group("+447818943525"), None);
        assert_eq!(parse_group("a-b"), None);
    }
}
