//! Tests of the event translation, with whatsapp-rust values built by hand.

use std::time::Duration;

use whatsapp_rust::buffa::MessageField;
use whatsapp_rust::wacore::chrono::{TimeZone, Utc};
use whatsapp_rust::wacore::net::DisconnectReason;
use whatsapp_rust::wacore::types::call::MissedCall;
use whatsapp_rust::wacore::types::events::{Connected, Disconnected, PairSuccess, PairingQrCode, PairingQrCodesExhausted, PushNameUpdate};
use whatsapp_rust::wacore::types::message::MessageSource;

use super::*;

fn info(chat: whatsapp_rust::Jid, sender: whatsapp_rust::Jid, from_me: bool) -> MessageInfo {
    MessageInfo {
        source: MessageSource { chat, sender, is_from_me: from_me, ..Default::default() },
        id: "3EB0AA".into(),
        push_name: "Ally".into(),
        timestamp: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
        ..Default::default()
    }
}

fn one(msg: wa::Message, info: &MessageInfo) -> (InboundMessage, bool) {
    match message(&Arc::new(msg), info) {
        Some(Translated::Message { message, download }) => (message, download.is_some()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn test_pairing_and_connection_events() {
    let qr = Event::PairingQrCode(PairingQrCode::builder().code("2@ref,noise,id,adv".into()).timeout(Duration::from_secs(60)).build());
    assert!(matches!(translate(&qr).as_slice(), [Translated::Pairing(PairingUpdate::Qr(c))] if c == "2@ref,noise,id,adv"));
    let gone = Event::PairingQrCodesExhausted(PairingQrCodesExhausted::builder().disconnected(true).build());
    assert!(matches!(translate(&gone).as_slice(), [Translated::Pairing(PairingUpdate::Expired)]));
    let ok = Event::PairSuccess(
        PairSuccess::builder()
            .id(whatsapp_rust::Jid::pn_device("447700900123", 7))
            .lid(whatsapp_rust::Jid::lid("1234"))
            .business_name(String::new())
            .platform("android".into())
            .build(),
    );
    assert!(matches!(translate(&ok).as_slice(), [Translated::Paired { number }] if number == "447700900123"));
    assert!(matches!(translate(&Event::Connected(Connected::builder().build())).as_slice(), [Translated::Event(BackendEvent::Connected)]));
    let down = Event::Disconnected(Disconnected::builder().reason(DisconnectReason::StreamEnded).build());
    assert!(
        matches!(translate(&down).as_slice(), [Translated::Event(BackendEvent::Disconnected(why))] if why.contains("reconnects by itself") && !why.contains("StreamEnded"))
    );
}

#[test]
fn test_text_with_reply_and_mentions() {
    let msg = wa::Message {
        extended_text_message: MessageField::some(wa::message::ExtendedTextMessage {
            text: Some("*hi* @447700900002".into()),
            context_info: MessageField::some(wa::ContextInfo {
                stanza_id: Some("3EB0QUOTED".into()),
                mentioned_jid: vec!["447700900002@s.whatsapp.net".into()],
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let group = whatsapp_rust::Jid::group("447818943525-1636277287");
    let (m, download) = one(msg, &info(group, whatsapp_rust::Jid::pn_device("447700900003", 2), false));
    assert!(!download);
    assert_eq!(m.chat, Jid::group("447818943525-1636277287"));
    assert_eq!((m.sender.as_str(), m.id.as_str(), m.timestamp_ms), ("447700900003", "3EB0AA", 1_700_000_000_000));
    assert_eq!(m.push_name.as_deref(), Some("Ally"));
    let InboundKind::Text { text, reply_to } = m.kind else { panic!("{:?}", m.kind) };
    assert_eq!(text, WaText { text: "*hi* @447700900002".into(), mentions: vec!["447700900002".into()] });
    assert_eq!(reply_to.as_deref(), Some("3EB0QUOTED"));
}

#[test]
fn test_lid_dms_are_filed_under_the_phone_number() {
    let mut incoming = info(whatsapp_rust::Jid::lid("98765"), whatsapp_rust::Jid::lid("98765"), false);
    incoming.source.sender_alt = Some(whatsapp_rust::Jid::pn("447700900002"));
    let (m, _) = one(wa::Message { conversation: Some("hi".into()), ..Default::default() }, &incoming);
    assert_eq!((m.chat, m.sender.as_str()), (Jid::user("447700900002"), "447700900002"));
    let mut own = info(whatsapp_rust::Jid::lid("98765"), whatsapp_rust::Jid::pn("447700900123"), true);
    own.source.recipient_alt = Some(whatsapp_rust::Jid::pn("447700900002"));
    assert_eq!(message_chat(&own.source), Jid::user("447700900002"), "the account's own message names the recipient");
    let unknown = info(whatsapp_rust::Jid::lid("98765"), whatsapp_rust::Jid::lid("98765"), false);
    assert_eq!(message_chat(&unknown.source).to_string(), "98765@lid", "kept as a LID until its number is known");
    let group = info(whatsapp_rust::Jid::group("1-2"), whatsapp_rust::Jid::lid("98765"), false);
    assert_eq!(message_chat(&group.source), Jid::group("1-2"));
}

#[test]
fn test_lid_senders_use_their_phone_number() {
    let mut i = info(whatsapp_rust::Jid::pn("447700900002"), whatsapp_rust::Jid::lid("98765"), false);
    i.source.sender_alt = Some(whatsapp_rust::Jid::pn("447700900002"));
    let (m, _) = one(wa::Message { conversation: Some("hi".into()), ..Default::default() }, &i);
    assert_eq!(m.sender, "447700900002");
}

#[test]
fn test_reactions_edits_revokes_media_and_unknown() {
    let dm = || info(whatsapp_rust::Jid::pn("447700900002"), whatsapp_rust::Jid::pn("447700900002"), false);
    let key = |id: &str| MessageField::some(wa::MessageKey { id: Some(id.into()), ..Default::default() });
    let reaction = wa::Message {
        reaction_message: MessageField::some(wa::message::ReactionMessage {
            key: key("T1"),
            text: Some("👍".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(one(reaction, &dm()).0.kind, InboundKind::Reaction { target: "T1".into(), emoji: "👍".into() });
    let revoke = wa::Message {
        protocol_message: MessageField::some(wa::message::ProtocolMessage {
            key: key("T2"),
            r#type: Some(wa::message::protocol_message::Type::REVOKE),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(one(revoke, &dm()).0.kind, InboundKind::Revoke { target: "T2".into() });
    let edit = wa::Message {
        protocol_message: MessageField::some(wa::message::ProtocolMessage {
            key: key("T3"),
            r#type: Some(wa::message::protocol_message::Type::MESSAGE_EDIT),
            edited_message: MessageField::some(wa::Message { conversation: Some("fixed".into()), ..Default::default() }),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(one(edit, &dm()).0.kind, InboundKind::Edit { target: "T3".into(), text: WaText { text: "fixed".into(), mentions: vec![] } });
    let voice = wa::Message {
        audio_message: MessageField::some(wa::message::AudioMessage {
            mimetype: Some("audio/ogg; codecs=opus".into()),
            ptt: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (m, download) = one(voice, &dm());
    assert!(download, "media is downloaded before it is reported");
    let InboundKind::Media { media, .. } = m.kind else { panic!() };
    assert!(media.voice && media.kind == MediaKind::Audio && media.data.is_empty());
    let image = wa::Message {
        image_message: MessageField::some(wa::message::ImageMessage {
            caption: Some("look".into()),
            mimetype: Some("image/jpeg".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let InboundKind::Media { media, caption, .. } = one(image, &dm()).0.kind else { panic!() };
    assert_eq!((media.kind, caption.text.as_str(), media.mime.as_str()), (MediaKind::Image, "look", "image/jpeg"));
    let card = wa::Message {
        contact_message: MessageField::some(wa::message::ContactMessage {
            display_name: Some("Bob".into()),
            vcard: Some("BEGIN:VCARD\nTEL;type=CELL;waid=447700900003:+44 7700 900003\nEND:VCARD".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        one(card, &dm()).0.kind,
        InboundKind::ContactCard {
            name: "Bob".into(),
            number: Some("447700900003".into()),
            vcard: Some("BEGIN:VCARD\nTEL;type=CELL;waid=447700900003:+44 7700 900003\nEND:VCARD".into())
        }
    );
    assert!(message(&Arc::new(wa::Message::default()), &dm()).is_none(), "kinds the bridge does not carry are skipped");
}

fn participant(number: &str) -> GroupParticipantInfo {
    GroupParticipantInfo {
        jid: whatsapp_rust::Jid::lid(format!("9{number}")),
        phone_number: Some(whatsapp_rust::Jid::pn(number)),
        display_name: None,
        r#type: None,
        lid: None,
        username: None,
        join_time: None,
        group_history_sent_state: None,
    }
}

fn group_event(action: GroupNotificationAction, by: Option<whatsapp_rust::Jid>) -> Event {
    Event::GroupUpdate(
        GroupUpdate::builder()
            .group_jid(whatsapp_rust::Jid::group("447818943525-1636277287"))
            .maybe_participant_pn(by)
            .timestamp(Utc.timestamp_opt(1_700_000_000, 0).unwrap())
            .is_lid_addressing_mode(true)
            .action(action)
            .build(),
    )
}

#[test]
fn test_group_joins_leaves_and_subjects() {
    let group = Jid::group("447818943525-1636277287");
    let add = group_event(GroupNotificationAction::Add { participants: vec![participant("447700900004")], reason: None }, None);
    assert!(matches!(
        translate(&add).as_slice(),
        [Translated::Event(BackendEvent::GroupMembers { group: g, joined, left, by: None })]
            if *g == group && joined == &["447700900004".to_owned()] && left.is_empty()
    ));
    let remove = group_event(
        GroupNotificationAction::Remove { participants: vec![participant("447700900003"), participant("447700900005")], reason: None },
        None,
    );
    assert!(matches!(
        translate(&remove).as_slice(),
        [Translated::Event(BackendEvent::GroupMembers { joined, left, .. })]
            if joined.is_empty() && left == &["447700900003".to_owned(), "447700900005".to_owned()]
    ));
    let subject = group_event(
        GroupNotificationAction::Subject { subject: "Sim Pals".into(), subject_owner: None, subject_time: None },
        Some(whatsapp_rust::Jid::pn("447700900002")),
    );
    assert!(matches!(
        translate(&subject).as_slice(),
        [Translated::Event(BackendEvent::GroupSubject { group: g, subject, by })]
            if *g == group && subject == "Sim Pals" && by.as_deref() == Some("447700900002")
    ));
    let described = group_event(
        GroupNotificationAction::Description { id: "D1".into(), description: Some("Weekend plans".into()) },
        Some(whatsapp_rust::Jid::pn("447700900002")),
    );
    assert!(matches!(
        translate(&described).as_slice(),
        [Translated::Event(BackendEvent::GroupTopic { topic, by, .. })]
            if topic.as_deref() == Some("Weekend plans") && by.as_deref() == Some("447700900002")
    ));
    let cleared = group_event(GroupNotificationAction::Description { id: "D2".into(), description: None }, None);
    assert!(matches!(translate(&cleared).as_slice(), [Translated::Event(BackendEvent::GroupTopic { topic: None, by: None, .. })]));
    let promote = group_event(GroupNotificationAction::Promote { participants: vec![participant("447700900003")] }, None);
    assert!(matches!(
        translate(&promote).as_slice(),
        [Translated::Event(BackendEvent::GroupAdmins { promoted, demoted, .. })] if promoted == &["447700900003".to_owned()] && demoted.is_empty()
    ));
    let demote = group_event(GroupNotificationAction::Demote { participants: vec![participant("447700900123")] }, None);
    assert!(matches!(
        translate(&demote).as_slice(),
        [Translated::Event(BackendEvent::GroupAdmins { promoted, demoted, .. })] if promoted.is_empty() && demoted == &["447700900123".to_owned()]
    ));
    let settings = group_event(GroupNotificationAction::Announce, None);
    assert!(translate(&settings).is_empty(), "settings are not bridged");
}

fn conversation(id: &str, last_seconds: Option<u64>) -> wa::Conversation {
    wa::Conversation { id: id.into(), last_msg_timestamp: last_seconds, ..Default::default() }
}

#[test]
fn test_history_sync_gives_recent_chats_and_push_names() {
    let sync = wa::HistorySync {
        conversations: vec![
            conversation("447700900002@s.whatsapp.net", Some(1_700_000_000)),
            conversation("447818943525-1636277287@g.us", Some(1_690_000_000)),
            wa::Conversation { conversation_timestamp: Some(1_650_000_000), ..conversation("555@lid", None) },
            conversation("777@lid", Some(1_700_000_000)),
            conversation("status@broadcast", Some(1_700_000_000)),
            conversation("120363000000000000@newsletter", Some(1_700_000_000)),
            conversation("447700900009@s.whatsapp.net", None),
        ],
        pushnames: vec![
            wa::Pushname { id: Some("447700900002@s.whatsapp.net".into()), pushname: Some("Ally".into()) },
            wa::Pushname { id: Some("555@lid".into()), pushname: Some(" Bobby ".into()) },
            wa::Pushname { id: Some("447700900008@s.whatsapp.net".into()), pushname: Some("  ".into()) },
        ],
        phone_number_to_lid_mappings: vec![wa::PhoneNumberToLIDMapping {
            pn_jid: Some("447700900003@s.whatsapp.net".into()),
            lid_jid: Some("555@lid".into()),
        }],
        ..Default::default()
    };
    let out = history(&sync);
    let [Translated::Names { contacts, address_book: false }, Translated::Event(BackendEvent::RecentChats(chats))] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(
        contacts,
        &[Contact { number: "447700900002".into(), name: "Ally".into() }, Contact { number: "447700900003".into(), name: "Bobby".into() },],
        "a LID's push name goes to its phone number; an empty one is skipped"
    );
    assert_eq!(
        chats,
        &[
            RecentChat { jid: Jid::user("447700900002"), last_activity_ms: 1_700_000_000_000, messages: Vec::new() },
            RecentChat { jid: Jid::group("447818943525-1636277287"), last_activity_ms: 1_690_000_000_000, messages: Vec::new() },
            RecentChat { jid: Jid::user("447700900003"), last_activity_ms: 1_650_000_000_000, messages: Vec::new() },
        ],
        "broadcasts, newsletters, unmapped LIDs and chats without a time are left out"
    );
    assert!(history(&wa::HistorySync::default()).is_empty());
    let names_only = wa::HistorySync { sync_type: wa::history_sync::HistorySyncType::PUSH_NAME, ..sync.clone() };
    assert!(matches!(history(&names_only).as_slice(), [Translated::Names { .. }]), "only the syncs after a link bring chats (and portals)");
}

#[test]
fn test_address_book_and_push_name_updates_name_people() {
    let contact = |jid: whatsapp_rust::Jid, action: wa::sync_action_value::ContactAction| {
        Event::ContactUpdate(
            ContactUpdate::builder()
                .jid(jid)
                .timestamp(Utc.timestamp_opt(1_700_000_000, 0).unwrap())
                .action(Box::new(action))
                .from_full_sync(true)
                .build(),
        )
    };
    let saved = contact(
        whatsapp_rust::Jid::pn("447700900003"),
        wa::sync_action_value::ContactAction {
            full_name: Some("Bob Builder".into()),
            first_name: Some("Bob".into()),
            ..Default::default()
        },
    );
    assert!(matches!(
        translate(&saved).as_slice(),
        [Translated::Names { contacts, address_book: true }] if contacts == &[Contact { number: "447700900003".into(), name: "Bob Builder".into() }]
    ));
    let by_lid = contact(
        whatsapp_rust::Jid::lid("555"),
        wa::sync_action_value::ContactAction {
            first_name: Some("Carol".into()),
            pn_jid: Some("447700900004@s.whatsapp.net".into()),
            ..Default::default()
        },
    );
    assert!(matches!(
        translate(&by_lid).as_slice(),
        [Translated::Names { contacts, .. }] if contacts == &[Contact { number: "447700900004".into(), name: "Carol".into() }]
    ));
    let unnamed = contact(whatsapp_rust::Jid::pn("447700900005"), wa::sync_action_value::ContactAction::default());
    assert!(translate(&unnamed).is_empty());
    let lid_only = contact(
        whatsapp_rust::Jid::lid("556"),
        wa::sync_action_value::ContactAction { full_name: Some("Dave".into()), ..Default::default() },
    );
    assert!(translate(&lid_only).is_empty(), "no phone number, no ghost to name");

    let push = |jid: whatsapp_rust::Jid, alt: Option<whatsapp_rust::Jid>, name: &str| {
        let mut message = info(jid.clone(), jid.clone(), false);
        message.source.sender_alt = alt;
        Event::PushNameUpdate(
            PushNameUpdate::builder().jid(jid).message(Box::new(message)).old_push_name(String::new()).new_push_name(name.into()).build(),
        )
    };
    assert!(matches!(
        translate(&push(whatsapp_rust::Jid::pn("447700900002"), None, "Ally")).as_slice(),
        [Translated::Names { contacts, address_book: false }] if contacts == &[Contact { number: "447700900002".into(), name: "Ally".into() }]
    ));
    let via_lid = push(whatsapp_rust::Jid::lid("98765"), Some(whatsapp_rust::Jid::pn("447700900006")), "Erin");
    assert!(matches!(translate(&via_lid).as_slice(), [Translated::Names { contacts, .. }] if contacts[0].number == "447700900006"));
    assert!(translate(&push(whatsapp_rust::Jid::lid("98765"), None, "Erin")).is_empty(), "a LID alone names no number");
    assert!(translate(&push(whatsapp_rust::Jid::pn("447700900002"), None, " ")).is_empty());
}

#[test]
fn test_a_failed_download_becomes_a_text_with_the_caption() {
    let doc = WaMedia {
        kind: MediaKind::File,
        sticker: false,
        voice: false,
        mime: "application/pdf".into(),
        name: "plan.pdf".into(),
        data: vec![],
    };
    let caption = WaText { text: "for @447700900002".into(), mentions: vec!["447700900002".into()] };
    let kind = undownloadable(InboundKind::Media { media: doc.clone(), caption, reply_to: Some("Q".into()) });
    let InboundKind::Text { text, reply_to } = kind else { panic!("{kind:?}") };
    assert_eq!(text.text, "⚠️ The file `plan.pdf` could not be downloaded from WhatsApp: open it on your phone.\nfor @447700900002");
    assert_eq!((text.mentions, reply_to.as_deref()), (vec!["447700900002".to_owned()], Some("Q")));
    let voice = WaMedia { kind: MediaKind::Audio, voice: true, ..doc };
    let InboundKind::Text { text, .. } = undownloadable(InboundKind::Media { media: voice, caption: WaText::default(), reply_to: None })
    else {
        panic!()
    };
    assert_eq!(text.text, "⚠️ A voice message could not be downloaded from WhatsApp: open it on your phone.");
    let plain = InboundKind::Revoke { target: "T".into() };
    assert_eq!(undownloadable(plain.clone()), plain, "only files change");
}

#[test]
fn test_only_live_call_offers_are_calls() {
    let call = |action: CallAction, offline: bool| {
        IncomingCall::builder()
            .from(whatsapp_rust::Jid::lid("98765"))
            .stanza_id("S1".into())
            .timestamp(Utc.timestamp_opt(1_700_000_000, 0).unwrap())
            .offline(offline)
            .action(action)
            .build()
    };
    let offer = |caller_pn: Option<whatsapp_rust::Jid>| CallAction::Offer {
        call_id: "C1".into(),
        call_creator: whatsapp_rust::Jid::lid("98765"),
        caller_pn,
        caller_country_code: None,
        device_class: None,
        joinable: false,
        is_video: false,
        audio: vec![],
        group_jid: None,
    };
    let live = call(offer(Some(whatsapp_rust::Jid::pn("447700900001"))), false);
    assert_eq!(
        call_offer(&live),
        Some(BackendEvent::Call { from: "447700900001".into(), missed: false }),
        "the caller's number beside the LID"
    );
    assert_eq!(call_offer(&call(offer(None), true)), None, "an offer replayed from the offline queue");
    let end = CallAction::Terminate {
        call_id: "C1".into(),
        call_creator: whatsapp_rust::Jid::pn("447700900001"),
        reason: None,
        duration: None,
        audio_duration: None,
    };
    assert_eq!(call_offer(&call(end, false)), None, "the end of a call is no new call");
    let at = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    let offline = MissedCall::new(whatsapp_rust::Jid::pn("447700900001"), "C2".into(), at, MissedReason::Offline);
    assert!(matches!(
        translate(&Event::MissedCall(offline)).as_slice(),
        [Translated::Event(BackendEvent::Call { from, missed: true })] if from == "447700900001"
    ));
    let unanswered = MissedCall::new(whatsapp_rust::Jid::pn("447700900001"), "C1".into(), at, MissedReason::Remote);
    assert!(translate(&Event::MissedCall(unanswered)).is_empty(), "told when it rang, not again");
}

#[test]
fn test_messages_from_the_primary_phone_say_it_is_online() {
    use whatsapp_rust::wacore::types::events::{BatchOrigin, InboundMessage as WaInbound, MessageBatch};
    let mut from_phone = info(whatsapp_rust::Jid::pn("447700900002"), whatsapp_rust::Jid::pn_device("447700900123", 0), true);
    from_phone.timestamp = Utc.timestamp_opt(1_700_000_100, 0).unwrap();
    let from_laptop = info(whatsapp_rust::Jid::pn("447700900002"), whatsapp_rust::Jid::pn_device("447700900123", 3), true);
    let from_alice = info(whatsapp_rust::Jid::pn("447700900002"), whatsapp_rust::Jid::pn("447700900002"), false);
    let batch = |infos: Vec<MessageInfo>| {
        let messages: Vec<WaInbound> = infos
            .into_iter()
            .map(|i| {
                WaInbound::builder()
                    .message(Arc::new(wa::Message { conversation: Some("hi".into()), ..Default::default() }))
                    .info(Arc::new(i))
                    .build()
            })
            .collect();
        Event::Messages(MessageBatch::builder().messages(messages.into()).origin(BatchOrigin::Live).build())
    };
    let out = translate(&batch(vec![from_alice.clone(), from_phone]));
    assert!(matches!(out.first(), Some(Translated::Event(BackendEvent::PhoneSeen(1_700_000_100_000)))), "{out:?}");
    assert_eq!(out.iter().filter(|t| matches!(t, Translated::Message { .. })).count(), 2);
    let out = translate(&batch(vec![from_laptop, from_alice]));
    assert!(out.iter().all(|t| matches!(t, Translated::Message { .. })), "another linked device is not the phone: {out:?}");
}

#[test]
fn test_a_call_is_told_once_and_a_new_call_again() {
    let event = |id: &str, action: fn(String) -> CallAction| {
        Event::IncomingCall(
            IncomingCall::builder()
                .from(whatsapp_rust::Jid::pn("447700900001"))
                .stanza_id(format!("S-{id}"))
                .timestamp(Utc.timestamp_opt(1_700_000_000, 0).unwrap())
                .offline(false)
                .action(action(id.to_owned()))
                .build(),
        )
    };
    let offer = |call_id| CallAction::Offer {
        call_id,
        call_creator: whatsapp_rust::Jid::pn("447700900001"),
        caller_pn: None,
        caller_country_code: None,
        device_class: None,
        joinable: false,
        is_video: false,
        audio: vec![],
        group_jid: None,
    };
    let end = |call_id| CallAction::Terminate {
        call_id,
        call_creator: whatsapp_rust::Jid::pn("447700900001"),
        reason: None,
        duration: None,
        audio_duration: None,
    };
    let calls = |t: Vec<Translated>| t.iter().filter(|t| matches!(t, Translated::Event(BackendEvent::Call { .. }))).count();
    let mut seen = SeenCalls::default();
    assert_eq!(calls(seen.translate(&event("C1", offer))), 1, "a new call is told");
    assert_eq!(calls(seen.translate(&event("C1", offer))), 0, "the same offer again is not");
    assert_eq!(calls(seen.translate(&event("C1", end))), 0, "nor its end");
    let at = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    let replayed = MissedCall::new(whatsapp_rust::Jid::pn("447700900001"), "C1".into(), at, MissedReason::Offline);
    assert_eq!(calls(seen.translate(&Event::MissedCall(replayed))), 0, "nor a missed-call report of it");
    assert_eq!(calls(seen.translate(&event("C2", offer))), 1, "a second call is told again");
    for i in 0..REMEMBERED_CALLS {
        seen.translate(&event(&format!("X{i}"), offer));
    }
    assert_eq!(seen.ids.len(), REMEMBERED_CALLS, "the memory of calls is bounded");
}
