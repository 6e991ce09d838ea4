//! grammers types ⇄ the backend's plain types.

use grammers_client::media::{Attribute, Downloadable};
use grammers_client::message::Message;
use grammers_client::peer::Peer as GrammersPeer;
use grammers_client::tl;
use grammers_session::types::{PeerAuth, PeerId, PeerInfo, PeerKind, PeerRef};

use crate::backend::{FormattedText, Peer, TgFile, TgMediaKind, TgUser};
use crate::entities::{Entity, EntityKind};

/// Our peer of a grammers peer id.
pub(crate) fn peer_of(id: PeerId) -> Peer {
    let bare = id.bare_id_unchecked();
    match id.kind() {
        PeerKind::User => Peer::User(bare),
        PeerKind::Chat => Peer::Group(bare),
        PeerKind::Channel => Peer::Channel(bare),
    }
}

/// Our peer of a raw TL peer.
pub(crate) fn peer_of_tl(peer: &tl::enums::Peer) -> Peer {
    match peer {
        tl::enums::Peer::User(u) => Peer::User(u.user_id),
        tl::enums::Peer::Chat(c) => Peer::Group(c.chat_id),
        tl::enums::Peer::Channel(c) => Peer::Channel(c.channel_id),
    }
}

/// The grammers peer id of our peer.
pub(crate) fn peer_id(peer: Peer) -> PeerId {
    match peer {
        Peer::User(id) => PeerId::user_unchecked(id),
        Peer::Group(id) => PeerId::chat_unchecked(id),
        Peer::Channel(id) => PeerId::channel_unchecked(id),
    }
}

/// The request that marks a chat read up to a message: channels and supergroups have
/// their own call (grammers' `mark_as_read` always marks everything read, which would
/// claim messages the Matrix user has not seen).
#[derive(Debug)]
pub(crate) enum ReadHistory {
    /// A channel or supergroup.
    Channel(tl::functions::channels::ReadHistory),
    /// A private chat or basic group.
    Chat(tl::functions::messages::ReadHistory),
}

pub(crate) fn read_history(peer: PeerRef, up_to: i64) -> ReadHistory {
    // Ids beyond i32 do not exist on Telegram; 0 would mean "everything", so clamp instead.
    let max_id = i32::try_from(up_to).unwrap_or(i32::MAX);
    if peer.id.kind() == PeerKind::Channel {
        ReadHistory::Channel(tl::functions::channels::ReadHistory { channel: peer.into(), max_id })
    } else {
        ReadHistory::Chat(tl::functions::messages::ReadHistory { peer: peer.into(), max_id })
    }
}

/// The document attributes that make Telegram show a sent file as what it is: a voice
/// note (OGG/Opus, what Telegram records) or a music file, a video. The duration is not
/// known from Matrix; Telegram fills it in from the file when it plays it.
pub(crate) fn attributes_of(file: &TgFile) -> Vec<Attribute> {
    let unknown = std::time::Duration::ZERO;
    match file.kind {
        TgMediaKind::Voice if file.mime.starts_with("audio/ogg") => vec![Attribute::Voice { duration: unknown, waveform: None }],
        TgMediaKind::Voice => vec![Attribute::Audio { duration: unknown, title: None, performer: None }],
        TgMediaKind::Video => vec![Attribute::Video { round_message: false, supports_streaming: true, duration: unknown, w: 0, h: 0 }],
        TgMediaKind::Photo | TgMediaKind::Sticker | TgMediaKind::Document => Vec::new(),
    }
}

/// A user's current profile picture (the small size, which is what Matrix clients show
/// for a member), downloadable by grammers with the user's access hash.
pub(crate) struct ProfilePicture {
    /// The user.
    pub(crate) peer: PeerRef,
    /// The picture's id, from the user's `photo`.
    pub(crate) photo_id: i64,
}

impl Downloadable for ProfilePicture {
    fn to_raw_input_location(&self) -> Option<tl::enums::InputFileLocation> {
        Some(tl::types::InputPeerPhotoFileLocation { big: false, peer: self.peer.into(), photo_id: self.photo_id }.into())
    }
}

/// What describes a shared venue: its name and address, as far as Telegram has them.
pub(crate) fn venue_description(title: &str, address: &str) -> String {
    [title.trim(), address.trim()].into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join(", ")
}

/// A map pin to send.
pub(crate) fn geo_media(latitude: f64, longitude: f64) -> tl::enums::InputMedia {
    let point = tl::types::InputGeoPoint { lat: latitude, long: longitude, accuracy_radius: None };
    tl::types::InputMediaGeoPoint { geo_point: point.into() }.into()
}

/// A user (or, for channel posts, the channel) as a sender.
pub(crate) fn user_of(peer: &GrammersPeer) -> TgUser {
    match peer {
        GrammersPeer::User(u) => TgUser {
            id: u.id().bare_id_unchecked(),
            name: u.full_name(),
            username: u.username().map(str::to_owned),
            phone: u.phone().map(|p| format!("+{}", p.trim_start_matches('+'))),
            photo: u.photo().map(|p| p.photo_id),
        },
        other => TgUser {
            id: other.id().bare_id_unchecked(),
            name: other.name().unwrap_or("Telegram").to_owned(),
            username: other.username().map(str::to_owned),
            phone: None,
            photo: None,
        },
    }
}

/// The id of a user's current profile picture.
pub(crate) fn photo_id_of(photo: Option<&tl::enums::UserProfilePhoto>) -> Option<i64> {
    match photo? {
        tl::enums::UserProfilePhoto::Photo(p) => Some(p.photo_id),
        tl::enums::UserProfilePhoto::Empty => None,
    }
}

/// A raw TL user as ours.
pub(crate) fn tl_user(user: &tl::enums::User) -> Option<TgUser> {
    let tl::enums::User::User(u) = user else { return None };
    let name = [u.first_name.as_deref(), u.last_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
    Some(TgUser {
        id: u.id,
        name: if name.is_empty() { u.id.to_string() } else { name },
        username: u.username.clone(),
        phone: u.phone.as_ref().map(|p| format!("+{p}")),
        photo: photo_id_of(u.photo.as_ref()),
    })
}

/// What the session must remember of a user from a raw answer to address them later (raw
/// calls, unlike grammers' own methods, do not fill its cache). `None` for users without a
/// usable access hash ("min" users seen only in big chats).
pub(crate) fn peer_info_of(user: &tl::enums::User) -> Option<PeerInfo> {
    let tl::enums::User::User(u) = user else { return None };
    let hash = u.access_hash.filter(|_| !u.min)?;
    Some(PeerInfo::User { id: u.id, auth: Some(PeerAuth::from_hash(hash)), bot: Some(u.bot), is_self: Some(u.is_self) })
}

/// Telegram's entities as ours; kinds the bridge does not convert are dropped.
pub(crate) fn entities_from_tl(entities: &[tl::enums::MessageEntity]) -> Vec<Entity> {
    use tl::enums::MessageEntity as E;
    entities
        .iter()
        .filter_map(|e| {
            let (kind, offset, length) = match e {
                E::Bold(x) => (EntityKind::Bold, x.offset, x.length),
                E::Italic(x) => (EntityKind::Italic, x.offset, x.length),
                E::Underline(x) => (EntityKind::Underline, x.offset, x.length),
                E::Strike(x) => (EntityKind::Strike, x.offset, x.length),
                E::Spoiler(x) => (EntityKind::Spoiler, x.offset, x.length),
                E::Code(x) => (EntityKind::Code, x.offset, x.length),
                E::Pre(x) => (EntityKind::Pre(x.language.clone()), x.offset, x.length),
                E::TextUrl(x) => (EntityKind::TextUrl(x.url.clone()), x.offset, x.length),
                E::Url(x) => (EntityKind::Url, x.offset, x.length),
                E::MentionName(x) => (EntityKind::MentionName(x.user_id), x.offset, x.length),
                E::Mention(x) => (EntityKind::Mention, x.offset, x.length),
                E::Blockquote(x) => (EntityKind::Blockquote, x.offset, x.length),
                _ => return None,
            };
            Some(Entity { kind, offset: u32::try_from(offset).ok()?, length: u32::try_from(length).ok()? })
        })
        .collect()
}

/// Our entities as Telegram's. Mentions by id need the user's access hash, which grammers
/// fills in from its session when it sends (`InputMessageEntityMentionName` with an ambient user).
pub(crate) fn entities_to_tl(entities: &[Entity]) -> Vec<tl::enums::MessageEntity> {
    use tl::enums::MessageEntity as E;
    use tl::types as t;
    entities
        .iter()
        .map(|e| {
            let (offset, length) = (e.offset as i32, e.length as i32);
            match &e.kind {
                EntityKind::Bold => E::Bold(t::MessageEntityBold { offset, length }),
                EntityKind::Italic => E::Italic(t::MessageEntityItalic { offset, length }),
                EntityKind::Underline => E::Underline(t::MessageEntityUnderline { offset, length }),
                EntityKind::Strike => E::Strike(t::MessageEntityStrike { offset, length }),
                EntityKind::Spoiler => E::Spoiler(t::MessageEntitySpoiler { offset, length }),
                EntityKind::Code => E::Code(t::MessageEntityCode { offset, length }),
                EntityKind::Pre(language) => E::Pre(t::MessageEntityPre { offset, length, language: language.clone() }),
                EntityKind::TextUrl(url) => E::TextUrl(t::MessageEntityTextUrl { offset, length, url: url.clone() }),
                EntityKind::Url => E::Url(t::MessageEntityUrl { offset, length }),
                EntityKind::MentionName(user_id) => E::MentionName(t::MessageEntityMentionName { offset, length, user_id: *user_id }),
                EntityKind::Mention => E::Mention(t::MessageEntityMention { offset, length }),
                EntityKind::Blockquote => E::Blockquote(t::MessageEntityBlockquote { collapsed: false, offset, length }),
            }
        })
        .collect()
}

/// A message's text with its entities.
pub(crate) fn text_of(message: &Message) -> FormattedText {
    FormattedText { text: message.text().to_owned(), entities: message.fmt_entities().map(|e| entities_from_tl(e)).unwrap_or_default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_entities_round_trip_through_telegram_types() {
        let ours = vec![
            Entity { kind: EntityKind::Bold, offset: 0, length: 4 },
            Entity { kind: EntityKind::Pre("rust".into()), offset: 5, length: 3 },
            Entity { kind: EntityKind::TextUrl("https://example.org".into()), offset: 9, length: 2 },
            Entity { kind: EntityKind::MentionName(1002), offset: 12, length: 5 },
            Entity { kind: EntityKind::Blockquote, offset: 18, length: 1 },
            Entity { kind: EntityKind::Spoiler, offset: 19, length: 1 },
            Entity { kind: EntityKind::Mention, offset: 21, length: 8 },
        ];
        assert_eq!(entities_from_tl(&entities_to_tl(&ours)), ours);
        let hashtag = tl::enums::MessageEntity::Hashtag(tl::types::MessageEntityHashtag { offset: 0, length: 3 });
        assert!(entities_from_tl(&[hashtag]).is_empty(), "kinds without formatting are dropped, their text stays");
    }

    #[test]
    fn test_read_history_marks_up_to_the_message_with_the_call_of_the_peer_kind() {
        use grammers_session::types::PeerAuth;
        let channel = PeerRef { id: PeerId::channel_unchecked(7), auth: PeerAuth::from_hash(99) };
        match read_history(channel, 42) {
            ReadHistory::Channel(r) => {
                assert_eq!(r.max_id, 42);
                let tl::enums::InputChannel::Channel(c) = r.channel else { panic!("{:?}", r.channel) };
                assert_eq!((c.channel_id, c.access_hash), (7, 99));
            }
            other => panic!("a channel is read with channels.readHistory: {other:?}"),
        }
        let user = PeerRef { id: PeerId::user_unchecked(5), auth: PeerAuth::from_hash(3) };
        match read_history(user, 43) {
            ReadHistory::Chat(r) => {
                assert_eq!(r.max_id, 43);
                assert!(matches!(&r.peer, tl::enums::InputPeer::User(u) if u.user_id == 5 && u.access_hash == 3), "{:?}", r.peer);
            }
            other => panic!("a private chat is read with messages.readHistory: {other:?}"),
        }
        let ReadHistory::Chat(r) = read_history(PeerRef { id: PeerId::chat_unchecked(6), auth: PeerAuth::default() }, i64::MAX) else {
            panic!("a basic group is read with messages.readHistory")
        };
        assert_eq!(r.max_id, i32::MAX, "an id past i32 never means \"nothing read\"");
    }

    #[test]
    fn test_voice_notes_audio_and_videos_are_sent_with_their_attributes() {
        let file = |kind, mime: &str| TgFile { kind, name: "f".into(), mime: mime.into(), data: vec![1] };
        let tl_of = |file: TgFile| attributes_of(&file).into_iter().map(tl::enums::DocumentAttribute::from).collect::<Vec<_>>();
        let voice = tl_of(file(TgMediaKind::Voice, "audio/ogg; codecs=opus"));
        assert!(matches!(voice.as_slice(), [tl::enums::DocumentAttribute::Audio(a)] if a.voice), "{voice:?}");
        let music = tl_of(file(TgMediaKind::Voice, "audio/mpeg"));
        assert!(matches!(music.as_slice(), [tl::enums::DocumentAttribute::Audio(a)] if !a.voice), "{music:?}");
        let video = tl_of(file(TgMediaKind::Video, "video/mp4"));
        assert!(matches!(video.as_slice(), [tl::enums::DocumentAttribute::Video(v)] if v.supports_streaming), "{video:?}");
        assert!(tl_of(file(TgMediaKind::Document, "application/pdf")).is_empty(), "a plain file keeps only its name");
    }

    #[test]
    fn test_locations_are_sent_as_map_pins() {
        let tl::enums::InputMedia::GeoPoint(pin) = geo_media(51.5, -0.12) else { panic!("a geo point") };
        let tl::enums::InputGeoPoint::Point(point) = pin.geo_point else { panic!("a point") };
        assert_eq!((point.lat, point.long, point.accuracy_radius), (51.5, -0.12, None));
    }

    #[test]
    fn test_a_profile_picture_is_downloaded_by_its_user_and_photo_id() {
        use grammers_session::types::PeerAuth;
        let peer = PeerRef { id: PeerId::user_unchecked(1002), auth: PeerAuth::from_hash(77) };
        let location = ProfilePicture { peer, photo_id: 555 }.to_raw_input_location();
        let Some(tl::enums::InputFileLocation::InputPeerPhotoFileLocation(l)) = location else { panic!("{location:?}") };
        assert_eq!((l.big, l.photo_id), (false, 555));
        assert!(matches!(&l.peer, tl::enums::InputPeer::User(u) if u.user_id == 1002 && u.access_hash == 77), "{:?}", l.peer);
    }

    #[test]
    fn test_users_carry_the_id_of_their_current_picture() {
        let photo = tl::types::UserProfilePhoto { has_video: false, personal: false, photo_id: 555, stripped_thumb: None, dc_id: 4 };
        assert_eq!(photo_id_of(Some(&photo.into())), Some(555));
        assert_eq!(photo_id_of(Some(&tl::enums::UserProfilePhoto::Empty)), None, "a removed picture");
        assert_eq!(photo_id_of(None), None);
    }

    /// A raw user with nothing but an id and an access hash.
    fn raw_user(id: i64) -> tl::types::User {
        tl::types::User {
            is_self: false,
            contact: false,
            mutual_contact: false,
            deleted: false,
            bot: false,
            bot_chat_history: false,
            bot_nochats: false,
            verified: false,
            restricted: false,
            min: false,
            bot_inline_geo: false,
            support: false,
            scam: false,
            apply_min_photo: false,
            fake: false,
            bot_attach_menu: false,
            premium: false,
            attach_menu_enabled: false,
            bot_can_edit: false,
            close_friend: false,
            stories_hidden: false,
            stories_unavailable: false,
            contact_require_premium: false,
            bot_business: false,
            bot_has_main_app: false,
            bot_forum_view: false,
            bot_forum_can_manage_topics: false,
            bot_can_manage_bots: false,
            bot_guestchat: false,
            bot_guard: false,
            id,
            access_hash: Some(777),
            first_name: None,
            last_name: None,
            username: None,
            phone: None,
            photo: None,
            status: None,
            bot_info_version: None,
            restriction_reason: None,
            bot_inline_placeholder: None,
            lang_code: None,
            emoji_status: None,
            usernames: None,
            stories_max_id: None,
            color: None,
            profile_color: None,
            bot_active_users: None,
            bot_verification_icon: None,
            send_paid_messages_stars: None,
            linked_community_id: None,
        }
    }

    #[test]
    fn test_only_users_with_a_usable_access_hash_are_cached() {
        let info = peer_info_of(&raw_user(5).into()).expect("a user with an access hash");
        assert_eq!((info.id().bare_id_unchecked(), info.auth().map(PeerAuth::hash)), (5, Some(777)));
        let min = tl::types::User { min: true, ..raw_user(6) };
        assert_eq!(peer_info_of(&min.into()), None, "a min user's hash cannot address them");
        let no_hash = tl::types::User { access_hash: None, ..raw_user(7) };
        assert_eq!(peer_info_of(&no_hash.into()), None);
        assert_eq!(peer_info_of(&tl::enums::User::Empty(tl::types::UserEmpty { id: 8 })), None);
        let named = tl::types::User { first_name: Some("Alice".into()), last_name: Some("Sim".into()), ..raw_user(9) };
        assert_eq!(tl_user(&named.into()).map(|u| u.name), Some("Alice Sim".into()));
    }

    #[test]
    fn test_a_venue_is_described_by_its_name_and_address() {
        assert_eq!(venue_description("Trafalgar Square", "London WC2N 5DN"), "Trafalgar Square, London WC2N 5DN");
        assert_eq!(venue_description(" ", "London"), "London");
        assert_eq!(venue_description("", ""), "", "nothing: the coordinates describe it");
    }

    #[test]
    fn test_peer_ids_map_both_ways() {
        for peer in [Peer::User(5), Peer::Group(6), Peer::Channel(7)] {
            assert_eq!(peer_of(peer_id(peer)), peer);
        }
        assert_eq!(peer_of_tl(&tl::types::PeerUser { user_id: 5 }.into()), Peer::User(5));
        assert_eq!(peer_of_tl(&tl::types::PeerChat { chat_id: 6 }.into()), Peer::Group(6));
        assert_eq!(peer_of_tl(&tl::types::PeerChannel { channel_id: 7 }.into()), Peer::Channel(7));
    }
}
