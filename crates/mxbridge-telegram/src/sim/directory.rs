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
/// A read-only channel that is not in the chat list: its first post after login (send
/// one with `SimHandle::say`, from Carol, its admin) creates its portal.
pub const LATE_CHANNEL: Peer = Peer::Channel(3003);
/// A channel the account is an admin of (with Alice) that is not in the chat list: its
/// first post after login creates its portal, where the user may post.
pub const LATE_OWN_CHANNEL: Peer = Peer::Channel(3004);
/// The id of the greeting message (fixed, so a restart does not bridge it twice).
pub const GREETING_ID: i64 = 1;

/// The contacts: (id, name, username, phone).
pub(crate) const PEOPLE: &[(i64, &str, &str, &str)] = &[
    (ECHO, "Echo", "sim_echo", "+15550001001"),
    (ALICE, "Alice Sim", "sim_alice", "+15550001002"),
    (BOB, "Bob Sim", "sim_bob", "+4412345678"),
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
        photo: Some(id),
    })
}

/// Each person's profile picture (a person's picture id is their user id): a 32×32 PNG in
/// a colour of their own with a white square in the middle. `None` for ids not in
/// [`PEOPLE`] (accounts have no picture).
pub fn avatar_png(id: i64) -> Option<Vec<u8>> {
    const SIDE: usize = 32;
    const COLOURS: [[u8; 3]; 5] = [[0x1f, 0x77, 0xb4], [0xd6, 0x27, 0x28], [0x2c, 0xa0, 0x2c], [0x94, 0x67, 0xbd], [0xff, 0x7f, 0x0e]];
    let index = PEOPLE.iter().position(|p| p.0 == id)?;
    let colour = COLOURS[index % COLOURS.len()];
    let mut pixels = Vec::with_capacity(SIDE * SIDE * 3);
    for y in 0..SIDE {
        for x in 0..SIDE {
            let centre = (10..22).contains(&x) && (10..22).contains(&y);
            pixels.extend_from_slice(if centre { &[0xff; 3] } else { &colour });
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, SIDE as u32, SIDE as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().expect("a PNG header is written to memory");
    writer.write_image_data(&pixels).expect("the pixels fit the header");
    writer.finish().expect("the PNG ends");
    Some(out)
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
        photo: None,
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
        p if super::history::is_extra_group(p) => {
            let Peer::Group(id) = p else { return None };
            Some(TgChat {
                peer,
                title: format!("Sim Group {}", id - super::history::FIRST_EXTRA_GROUP + 1),
                kind: TgChatKind::Group,
                members: vec![member(ALICE, true), member(BOB, false), self_member],
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
        p if p == LATE_CHANNEL => Some(TgChat {
            peer,
            title: "Sim Alerts".into(),
            kind: TgChatKind::Channel,
            members: vec![member(CAROL, true), self_member],
            about: Some("A simulated read-only channel that first posts after login".into()),
        }),
        p if p == LATE_OWN_CHANNEL => Some(TgChat {
            peer,
            title: "Sim Drafts".into(),
            kind: TgChatKind::Channel,
            members: vec![TgMember { user: me.clone(), admin: true }, member(ALICE, true)],
            about: Some("A simulated channel the account is an admin of, first posting after login".into()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_every_person_has_a_picture_of_their_own_and_accounts_have_none() {
        let pictures: Vec<Vec<u8>> = PEOPLE.iter().map(|p| avatar_png(p.0).expect("a picture")).collect();
        for (i, a) in pictures.iter().enumerate() {
            assert!(a.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
            assert!(pictures[i + 1..].iter().all(|b| a != b), "pictures differ between people");
            let mut reader = png::Decoder::new(std::io::Cursor::new(a.clone())).read_info().expect("it decodes");
            let mut pixels = vec![0; reader.output_buffer_size().expect("a size")];
            let frame = reader.next_frame(&mut pixels).expect("a frame");
            assert_eq!((frame.width, frame.height), (32, 32));
            assert_eq!(&pixels[16 * 32 * 3 + 16 * 3..][..3], &[0xff; 3], "white in the middle");
        }
        assert_eq!(avatar_png(ECHO), avatar_png(ECHO), "deterministic");
        assert_eq!(person(ALICE).unwrap().photo, Some(ALICE));
        assert_eq!(own_user("+4412345678").photo, None);
        assert_eq!(avatar_png(4412345678), None);
    }
}
