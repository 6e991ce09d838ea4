//! The simulated network's fixed people and groups.

use crate::backend::{Contact, Group, Participant};
use crate::jid::Jid;

/// The contact who answers every message.
pub const ECHO: &str = "447700900001";
/// The contact who writes right after a login.
pub const ALICE: &str = "447700900002";
/// A contact in "Sim Friends".
pub const BOB: &str = "447700900003";
/// A contact in "Sim Family".
pub const CAROL: &str = "447700900004";
/// A contact in "Sim Family".
pub const DAVE: &str = "447700900005";
/// The group with recent activity (gets a portal at login); the account administers it.
pub const FRIENDS_GROUP: &str = "447818943525-1636277287";
/// The group without recent activity (only `open` bridges it).
pub const FAMILY_GROUP: &str = "447700900004-1600000000";
/// What Alice writes right after a login.
pub const ALICE_GREETING: &str = "Hi! I saw you linked WhatsApp to Matrix 👋";

/// The address book.
pub fn contacts() -> Vec<Contact> {
    [(ECHO, "Echo"), (ALICE, "Alice"), (BOB, "Bob"), (CAROL, "Carol"), (DAVE, "Dave")]
        .into_iter()
        .map(|(number, name)| Contact { number: number.to_owned(), name: name.to_owned() })
        .collect()
}

/// The name of a number in the address book.
pub fn name_of(number: &str) -> Option<String> {
    contacts().into_iter().find(|c| c.number == number).map(|c| c.name)
}

/// The groups, with the account `me` as a member.
pub fn groups(me: &str) -> Vec<Group> {
    let member = |number: &str, admin: bool| Participant { number: number.to_owned(), admin };
    vec![
        Group {
            jid: Jid::group(FRIENDS_GROUP),
            subject: "Sim Friends".to_owned(),
            topic: Some("Friends on the simulated WhatsApp".to_owned()),
            participants: vec![member(me, true), member(ALICE, true), member(BOB, false)],
        },
        Group {
            jid: Jid::group(FAMILY_GROUP),
            subject: "Sim Family".to_owned(),
            topic: None,
            participants: vec![member(me, false), member(CAROL, true), member(DAVE, false)],
        },
    ]
}

/// Whether a number "is on WhatsApp": contacts are, and so is every number that does not
/// end in `000`.
pub fn is_on_whatsapp(number: &str) -> bool {
    name_of(number).is_some() || !number.ends_with("000")
}

/// The fake account a Matrix user links with a QR code: a stable number derived from their
/// user ID, so parallel tests get distinct accounts and a re-login gets the same one.
pub fn account_number_for(requester: &str) -> String {
    // FNV-1a: stable across runs and platforms, unlike the std hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in requester.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("4479{:08}", hash % 100_000_000)
}

/// The pairing code shown for a number (8 characters of WhatsApp's alphabet).
pub fn pair_code_for(number: &str) -> String {
    const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTVWXYZ";
    let mut hash: u64 = 0x9e37_79b9_7f4a_7c15;
    for b in number.bytes() {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (0..8).map(|i| char::from(ALPHABET[((hash >> (i * 5)) & 31) as usize])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_fixed_world_is_stable() {
        assert_eq!(account_number_for("@a:hs"), account_number_for("@a:hs"));
        assert_ne!(account_number_for("@a:hs"), account_number_for("@b:hs"));
        assert_eq!(account_number_for("@a:hs").len(), 12);
        let code = pair_code_for("4412345678");
        assert_eq!(code.len(), 8);
        assert_eq!(code, pair_code_for("4412345678"));
        assert!(is_on_whatsapp(ALICE) && is_on_whatsapp("4412345678") && !is_on_whatsapp("4412345000"));
        assert_eq!(groups("44").len(), 2);
    }
}
