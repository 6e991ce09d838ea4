//! Who lives on the simulated Telegram: fixed, documented people and chats.

use crate::backend::{Peer, TgChat, TgChatKind, TgMember, TgUser};

/// The login code the simulated Telegram always sends.
pub const LOGIN_CODE: &str = "12345";
/// The one account with a two-step verification password.
pub const TWO_FA_PHONE: &str = "+15550002222";
/// Its password.
pub const TWO_FA_PASSWORD: &str = "correct horse";
/// Its password hint.
pub const TWO_FA_HINT: &str = "a horse";

/// Echo: answers every message (see the module docs for its request words).
pub const ECHO: i64 = 1001;
/// Where Echo is when asked to share its location (latitude, longitude): Trafalgar Square.
pub const ECHO_LOCATION: (f64, f64) = (51.508, -0.128);
/// Alice: a member (admin) of the group.
pub const ALICE: i64 = 1002;
/// Bob: a member of the group; answers messages in it.
pub const BOB: i64 = 1003;
/// Carol: a member of the group, admin of the channel, and an old chat (too old to open at login).
pub const CAROL: i64 = 1004;
/// Greeter: writes to every account right after it connects for the first time.
pub const GREETER: i64 = 1005;
/// The group with Alice, Bob and Carol.
pub const GROUP: Peer = Peer::Group(2001);
/// The read-only channel.
pub const CHANNEL: Peer = Peer::Channel(3001);
/// A channel every account owns (it may post in it).
pub const OWN_CHANNEL: Peer = Peer::Channel(3002);
/// The id of the greeting message (fixed, so a restart does not bridge it twice).
pub const GREETING_ID: i64 = 1;

/// The contacts: (id, name, username, phone).
pub(crate) const PEOPLE: &[(i64, &str, &str, &str)] = &[
    (ECHO, "Echo", "sim_echo", "+15550001001"),
    (ALICE, "Alice Sim", "sim_alice", "+15550001002"),
    (BOB, "Bob Sim", "sim_bob", "+15550001003"),
    (CAROL, "Carol Sim", "sim_carol", "+15550001004"),
    (GREETER, "Greeter", "sim_greeter", "+15550001005"),
];

/// A contact by id.
pub(crate) fn person(id: i64) -> Option<TgUser> {
    PEOPLE.iter().find(|p| p.0 == id).map(|&(id, name, username, phone)| TgUser {
        id,
        name: name.to_owned(),
        username: Some(username.to_owned()),
        phone: Some(phone.to_owned()),
        avatar: None,
    })
}

/// The own user of an account: its id is the phone number's digits.
pub(crate) fn own_user(phone: &str) -> TgUser {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let id = digits.parse().unwrap_or(1);
    TgUser {
        id,
        name: format!("Sim User {}", &digits[digits.len().saturating_sub(4)..]),
        username: None,
        phone: Some(phone.to_owned()),
        avatar: None,
    }
}

fn member(id: i64, admin: bool) -> TgMember {
    TgMember { user: person(id).expect("a directory person"), admin }
}

/// A chat as `me` sees it.
pub(crate) fn chat(me: &TgUser, peer: Peer) -> Option<TgChat> {
    let self_member = TgMember { user: me.clone(), admin: false };
    match peer {
        Peer::User(id) => {
            let other = person(id).or_else(|| (id == me.id).then(|| me.clone()))?;
            Some(TgChat {
                peer,
                title: other.name.clone(),
                kind: TgChatKind::Private,
                members: vec![TgMember { user: other, admin: false }],
                about: None,
            })
        }
        p if p == GROUP => Some(TgChat {
            peer,
            title: "Sim Group".into(),
            kind: TgChatKind::Group,
            members: vec![member(ALICE, true), member(BOB, false), member(CAROL, false), self_member],
            about: Some("A simulated Telegram group whose members speak".into()),
        }),
        p if p == OWN_CHANNEL => Some(TgChat {
            peer,
            title: "Sim Notes".into(),
            kind: TgChatKind::Channel,
            members: vec![TgMember { user: me.clone(), admin: true }, member(ALICE, false)],
            about: Some("A simulated channel the account owns".into()),
        }),
        p if p == CHANNEL => Some(TgChat {
            peer,
            title: "Sim News".into(),
            kind: TgChatKind::Channel,
            members: vec![member(CAROL, true), self_member],
            about: Some("A simulated read-only channel".into()),
        }),
        _ => None,
    }
}
