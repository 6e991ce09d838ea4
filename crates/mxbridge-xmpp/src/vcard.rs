//! XMPP users' profiles (XEP-0054 vCards) as their ghosts' names and avatars, fetched when
//! an occupant is first seen and again when their XEP-0153 photo hash changes.
//!
//! vCards are cached by photo hash and the name the user goes by (their MUC nick, or their
//! JID): one XMPP user in many MUCs (each occupancy its own ghost) is fetched once per
//! picture, not once per occupancy, and two people with the same picture keep their own
//! names.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use mxbridge_core::ids::{PortalKey, RemoteUserId};
use mxbridge_core::network::content::{Media, MediaKind};
use mxbridge_core::network::event::{Membership, RemoteEvent, Sender};
use mxbridge_core::network::gateway::MatrixRooms;
use tokio_xmpp::jid::Jid;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::ns;

use crate::client::XmppClient;
use crate::network::Shared;

/// XEP-0153 vCard-based avatars, as announced in presence.
pub(crate) const NS_VCARD_UPDATE: &str = "vcard-temp:x:update";

/// Pictures larger than this are not taken as avatars (vCards inline them as base64).
const MAX_PHOTO_BYTES: usize = 1024 * 1024;

/// What a vCard gives a ghost.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Profile {
    /// NICKNAME, else FN.
    pub(crate) name: Option<String>,
    /// PHOTO's bytes and TYPE.
    pub(crate) photo: Option<(Vec<u8>, Option<String>)>,
}

/// What a presence says about the sender's picture (XEP-0153).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PhotoHint {
    /// No `<x xmlns='vcard-temp:x:update'>`, or one without `<photo>` (the client is not
    /// ready to say): nothing known.
    Unknown,
    /// `<photo/>`: no picture.
    None,
    /// `<photo>sha1-hex</photo>`.
    Hash(String),
}

/// The photo hint among a presence's payloads.
pub(crate) fn photo_hint(payloads: &[Element]) -> PhotoHint {
    let Some(photo) = payloads.iter().find(|p| p.is("x", NS_VCARD_UPDATE)).and_then(|x| x.get_child("photo", NS_VCARD_UPDATE)) else {
        return PhotoHint::Unknown;
    };
    let hash = photo.text().trim().to_ascii_lowercase();
    if hash.is_empty() { PhotoHint::None } else { PhotoHint::Hash(hash) }
}

/// Reads a vCard-temp element.
pub(crate) fn parse(vcard: &Element) -> Profile {
    let text = |name: &str| vcard.get_child(name, ns::VCARD).map(|e| e.text().trim().to_owned()).filter(|t| !t.is_empty());
    let name = text("NICKNAME").or_else(|| text("FN"));
    let photo = vcard.get_child("PHOTO", ns::VCARD).and_then(|photo| {
        let binval = photo.get_child("BINVAL", ns::VCARD)?.text();
        let cleaned: String = binval.chars().filter(|c| !c.is_whitespace()).collect();
        let data =
            base64::engine::general_purpose::STANDARD.decode(cleaned).ok().filter(|d| !d.is_empty() && d.len() <= MAX_PHOTO_BYTES)?;
        let mime = photo.get_child("TYPE", ns::VCARD).map(|t| t.text().trim().to_owned()).filter(|t| !t.is_empty());
        Some((data, mime))
    });
    Profile { name, photo }
}

/// What the bridge knows of XMPP users' profiles.
#[derive(Default)]
pub(crate) struct Profiles {
    /// The last photo hint acted on per ghost (remote user id); absent: never fetched.
    seen: Mutex<HashMap<String, PhotoHint>>,
    /// vCards by photo hash and the name the user goes by where seen.
    by_hash: Mutex<HashMap<(String, String), Arc<Profile>>>,
    /// The vCard name per ghost, which later events keep (rather than the MUC nick).
    names: Mutex<HashMap<String, String>>,
}

impl Profiles {
    /// Whether a vCard is to be fetched for a ghost after this hint; records the hint.
    fn needs_fetch(&self, ghost: &str, hint: &PhotoHint) -> bool {
        let mut seen = self.seen.lock().expect("lock");
        match seen.get(ghost) {
            // Unknown says nothing new about someone already fetched.
            Some(_) if *hint == PhotoHint::Unknown => false,
            Some(before) if before == hint => false,
            _ => {
                seen.insert(ghost.to_owned(), hint.clone());
                true
            }
        }
    }

    /// The name a ghost's events carry: its vCard name when it has one, else `fallback`.
    pub(crate) fn name_for(&self, ghost: &str, fallback: &str) -> String {
        self.names.lock().expect("lock").get(ghost).cloned().unwrap_or_else(|| fallback.to_owned())
    }

    fn cached(&self, hint: &PhotoHint, who: &str) -> Option<Arc<Profile>> {
        let PhotoHint::Hash(hash) = hint else { return None };
        self.by_hash.lock().expect("lock").get(&(hash.clone(), who.to_owned())).cloned()
    }
}

/// An XMPP user seen as a ghost in `chat` (`ghost`, shown as `nick` until its vCard says
/// otherwise), whose vCard is at `vcard_at` (the occupant JID in a MUC, the bare JID in a
/// direct chat): fetches the vCard
/// when it is new or its picture changed, and reports the profile.
///
/// The name goes as a join in the chat, so that it follows the events already queued for
/// the chat there (which carry the nick); the picture goes as a profile event.
pub(crate) fn seen(shared: &Arc<Shared>, client: &XmppClient, chat: PortalKey, ghost: &str, nick: &str, vcard_at: &str, hint: PhotoHint) {
    if !shared.profiles.needs_fetch(ghost, &hint) {
        return;
    }
    let (shared, client, ghost, nick, vcard_at) = (shared.clone(), client.clone(), ghost.to_owned(), nick.to_owned(), vcard_at.to_owned());
    tokio::spawn(async move {
        let Some(profile) = profile_for(&shared, client.jid(), &vcard_at, &nick, &hint).await else { return };
        let avatar = avatar_of(&profile);
        let sender = Sender::named(RemoteUserId::new(ghost), profile.name.clone().unwrap_or_else(|| nick.clone()));
        if avatar.is_none() && hint == PhotoHint::None {
            // The user said they have no picture (XEP-0153 `<photo/>`) and the vCard agrees.
            client.inner.events.send(RemoteEvent::AvatarRemoved { sender: sender.clone() });
        }
        if profile.name.is_none() && avatar.is_none() {
            return; // an empty vCard: the MUC nick stays
        }
        if profile.name.is_some() {
            client.inner.events.send(RemoteEvent::Member { chat, sender: sender.clone(), membership: Membership::Join });
        }
        if avatar.is_some() {
            client.inner.events.send(RemoteEvent::Profile { sender, avatar });
        }
    });
}

/// An XMPP user who joined a Matrix room through the gateway (their ghost is their bare
/// JID): their vCard gives the ghost its name and picture, as for occupants of MUCs. The
/// component asks, as no Matrix user's JID is involved.
pub(crate) fn seen_in_gateway(shared: &Arc<Shared>, rooms: Arc<dyn MatrixRooms>, bare: &str, hint: PhotoHint) {
    if !shared.profiles.needs_fetch(bare, &hint) {
        return;
    }
    let (shared, bare) = (shared.clone(), bare.to_owned());
    tokio::spawn(async move {
        let Some(profile) = profile_for(&shared, &shared.component, &bare, &bare, &hint).await else { return };
        let avatar = avatar_of(&profile);
        if profile.name.is_none() && avatar.is_none() {
            return;
        }
        if let Err(e) = rooms.set_profile(&RemoteUserId::new(bare.clone()), profile.name.as_deref(), avatar).await {
            tracing::debug!(jid = %bare, error = %e, "could not give a gateway ghost its vCard");
        }
    });
}

/// The profile of the ghost whose vCard is at `at`, known there as `who`, behind a photo
/// hint: cached, else fetched (and then cached). Its name is remembered for the ghost's
/// later events.
async fn profile_for(shared: &Shared, from: &str, at: &str, who: &str, hint: &PhotoHint) -> Option<Arc<Profile>> {
    let profile = match shared.profiles.cached(hint, who) {
        Some(profile) => profile,
        None => {
            let profile = Arc::new(fetch(shared, from, at).await?);
            if let PhotoHint::Hash(hash) = hint {
                shared.profiles.by_hash.lock().expect("lock").insert((hash.clone(), who.to_owned()), profile.clone());
            }
            profile
        }
    };
    if let Some(name) = &profile.name {
        shared.profiles.names.lock().expect("lock").insert(at.to_owned(), name.clone());
    }
    Some(profile)
}

/// A vCard's picture as the core's media.
fn avatar_of(profile: &Profile) -> Option<Media> {
    profile.photo.as_ref().map(|(data, mime)| Media {
        kind: MediaKind::Image,
        name: "avatar".into(),
        mime: mime.clone(),
        data: data.clone(),
        url: None,
    })
}

/// Asks for the vCard at `at` as `from`; `None` when there is none or no answer.
async fn fetch(shared: &Shared, from: &str, at: &str) -> Option<Profile> {
    let (Ok(from), Ok(to)) = (from.parse::<Jid>(), at.parse::<Jid>()) else { return None };
    let query = Element::builder("vCard", ns::VCARD).build();
    match shared.request(from, to, query).await {
        Ok(Iq::Result { payload: Some(vcard), .. }) if vcard.is("vCard", ns::VCARD) => Some(parse(&vcard)),
        Ok(_) => None,
        Err(e) => {
            tracing::debug!(at, error = %e, "no vCard");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_a_vcard_gives_the_nickname_else_the_full_name_and_the_photo() {
        let vcard: Element = "<vCard xmlns='vcard-temp'><FN>Alice Liddell</FN><NICKNAME>alice</NICKNAME>\
            <PHOTO><TYPE>image/png</TYPE><BINVAL>iVBO\n Rw==</BINVAL></PHOTO></vCard>"
            .parse()
            .unwrap();
        let profile = parse(&vcard);
        assert_eq!(profile.name.as_deref(), Some("alice"));
        assert_eq!(profile.photo, Some((vec![0x89, 0x50, 0x4e, 0x47], Some("image/png".into()))));

        let vcard: Element =
            "<vCard xmlns='vcard-temp'><FN>Alice Liddell</FN><NICKNAME> </NICKNAME><PHOTO><BINVAL>!!</BINVAL></PHOTO></vCard>"
                .parse()
                .unwrap();
        assert_eq!(parse(&vcard), Profile { name: Some("Alice Liddell".into()), photo: None }, "bad base64 is no photo");
    }

    #[test]
    fn test_a_ghost_is_fetched_once_and_again_only_when_its_photo_changes() {
        let hint = |xml: &str| photo_hint(&[xml.parse::<Element>().unwrap()]);
        assert_eq!(hint("<x xmlns='vcard-temp:x:update'><photo>ABC1</photo></x>"), PhotoHint::Hash("abc1".into()));
        assert_eq!(hint("<x xmlns='vcard-temp:x:update'><photo/></x>"), PhotoHint::None);
        assert_eq!(hint("<x xmlns='vcard-temp:x:update'/>"), PhotoHint::Unknown, "not ready to say");
        assert_eq!(hint("<x xmlns='http://jabber.org/protocol/muc#user'/>"), PhotoHint::Unknown);

        let profiles = Profiles::default();
        assert!(profiles.needs_fetch("r@muc/a", &PhotoHint::Unknown), "first seen");
        assert!(!profiles.needs_fetch("r@muc/a", &PhotoHint::Unknown));
        assert!(profiles.needs_fetch("r@muc/a", &PhotoHint::Hash("1".into())), "a picture appeared");
        assert!(!profiles.needs_fetch("r@muc/a", &PhotoHint::Hash("1".into())));
        assert!(!profiles.needs_fetch("r@muc/a", &PhotoHint::Unknown), "a presence without the hash changes nothing");
        assert!(profiles.needs_fetch("r@muc/a", &PhotoHint::Hash("2".into())), "the picture changed");
        assert!(profiles.needs_fetch("r@muc/b", &PhotoHint::Hash("2".into())), "another ghost is fetched on its own");

        profiles.by_hash.lock().unwrap().insert(("2".into(), "b".into()), Arc::new(Profile { name: Some("bee".into()), photo: None }));
        assert_eq!(profiles.cached(&PhotoHint::Hash("2".into()), "b").and_then(|p| p.name.clone()).as_deref(), Some("bee"));
        assert!(profiles.cached(&PhotoHint::Hash("2".into()), "c").is_none(), "someone else with the same picture has their own name");
        assert!(profiles.cached(&PhotoHint::Unknown, "b").is_none(), "without a hash nothing is shared");
        assert_eq!(profiles.name_for("r@muc/b", "b"), "b");
        profiles.names.lock().unwrap().insert("r@muc/b".into(), "bee".into());
        assert_eq!(profiles.name_for("r@muc/b", "b"), "bee");
    }
}
