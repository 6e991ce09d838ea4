//! One simulated linked device, and the echo contact's answers.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::{SimAction, SimState, world};
use crate::backend::{
    Account, BackendError, BackendEvent, Contact, Group, InboundKind, InboundMessage, OutgoingWa, Participant, Sent, WhatsAppSession,
};
use crate::jid::Jid;
use crate::markup::WaText;
use crate::now_ms;

pub(super) struct SimSession {
    account: Account,
    state: Arc<SimState>,
}

impl SimSession {
    pub(super) fn new(account: Account, state: Arc<SimState>) -> Self {
        Self { account, state }
    }

    fn events(&self) -> Result<mpsc::UnboundedSender<BackendEvent>, BackendError> {
        self.state.connections.lock().expect("lock").get(&self.account.number).cloned().ok_or(BackendError::NotConnected)
    }

    fn message(&self, chat: &Jid, sender: &str, kind: InboundKind) -> BackendEvent {
        let message = InboundMessage {
            chat: chat.clone(),
            sender: sender.to_owned(),
            push_name: world::name_of(sender),
            id: self.state.next_id(),
            timestamp_ms: now_ms(),
            from_me: false,
            kind,
        };
        self.state.said.lock().expect("lock").push(message.clone());
        BackendEvent::Message(message)
    }

    /// Echo's answer to a message the account sent it, with the request words applied.
    fn echo(&self, events: &mpsc::UnboundedSender<BackendEvent>, chat: &Jid, id: &str, message: &OutgoingWa) {
        let words = message.text.text.to_lowercase();
        let asks = |word: &str| words.split(|c: char| !c.is_alphanumeric()).any(|w| w == word);
        let send = |event: BackendEvent| {
            let _ = events.send(event);
        };
        send(BackendEvent::Receipt { chat: chat.clone(), reader: world::ECHO.to_owned(), ids: vec![id.to_owned()] });
        if asks("typing") {
            send(BackendEvent::Typing { chat: chat.clone(), sender: world::ECHO.to_owned(), typing: true });
        }
        let text = WaText { text: format!("echo: {}", message.text.text), mentions: message.text.mentions.clone() };
        let kind = match (&message.location, &message.contact, &message.media) {
            (Some(at), _, _) => InboundKind::Location { latitude: at.latitude, longitude: at.longitude, name: at.name.clone() },
            (None, Some(card), _) => {
                let number = crate::vcard::parse(card.vcard.as_bytes()).and_then(|v| v.number);
                InboundKind::ContactCard { name: card.display_name.clone(), number, vcard: Some(card.vcard.clone()) }
            }
            (None, None, Some(media)) => InboundKind::Media { media: media.clone(), caption: text.clone(), reply_to: Some(id.to_owned()) },
            (None, None, None) => InboundKind::Text { text: text.clone(), reply_to: Some(id.to_owned()) },
        };
        let answer = self.message(chat, world::ECHO, kind);
        let BackendEvent::Message(ref answer_msg) = answer else { return };
        let answer_id = answer_msg.id.clone();
        send(answer);
        if asks("react") {
            send(self.message(chat, world::ECHO, InboundKind::Reaction { target: id.to_owned(), emoji: "👍".to_owned() }));
        }
        if asks("edit") {
            let edited = WaText { text: format!("echo (edited): {}", message.text.text), mentions: message.text.mentions.clone() };
            send(self.message(chat, world::ECHO, InboundKind::Edit { target: answer_id.clone(), text: edited }));
        }
        if asks("delete") {
            send(self.message(chat, world::ECHO, InboundKind::Revoke { target: answer_id }));
        }
        if asks("location") {
            send(self.message(
                chat,
                world::ECHO,
                InboundKind::Location { latitude: 51.5007, longitude: -0.1246, name: Some("Big Ben".to_owned()) },
            ));
        }
        if asks("contact") {
            send(self.message(
                chat,
                world::ECHO,
                InboundKind::ContactCard {
                    name: "Alice".to_owned(),
                    number: Some(world::ALICE.to_owned()),
                    vcard: Some(crate::vcard::card_for("Alice", world::ALICE)),
                },
            ));
        }
        if asks("call") {
            send(BackendEvent::Call { from: world::ECHO.to_owned(), missed: false });
        }
    }

    /// What the group's members do when the account's message asks for it (see the module
    /// docs): a rename, a description, a new admin, a join, a leave, each reported as
    /// WhatsApp reports it.
    fn group_requests(&self, events: &mpsc::UnboundedSender<BackendEvent>, group: &Jid, text: &str) {
        let words = text.to_lowercase();
        let asks = |word: &str| words.split(|c: char| !c.is_alphanumeric()).any(|w| w == word);
        let me = self.account.number.as_str();
        if asks("rename") {
            let renamed = self.state.change_group(me, group, |g| {
                g.subject = format!("{} (renamed)", g.subject);
                let by = g.participants.iter().find(|p| p.admin && p.number != me).map(|p| p.number.clone());
                (g.subject.clone(), by)
            });
            if let Some((subject, by)) = renamed {
                let _ = events.send(BackendEvent::GroupSubject { group: group.clone(), subject, by });
            }
        }
        if asks("describe") {
            let described = self.state.change_group(me, group, |g| {
                let by = g.participants.iter().find(|p| p.admin && p.number != me).map(|p| p.number.clone())?;
                g.topic = Some(format!("Set by {}", world::name_of(&by).unwrap_or_else(|| format!("+{by}"))));
                Some((g.topic.clone(), by))
            });
            if let Some((topic, by)) = described.flatten() {
                let _ = events.send(BackendEvent::GroupTopic { group: group.clone(), topic, by: Some(by) });
            }
        }
        if asks("promote") {
            let promoted = self.state.change_group(me, group, |g| {
                let member = g.participants.iter_mut().find(|p| p.number != me && !p.admin)?;
                member.admin = true;
                Some(member.number.clone())
            });
            if let Some(number) = promoted.flatten() {
                let _ = events.send(BackendEvent::GroupAdmins { group: group.clone(), promoted: vec![number], demoted: Vec::new() });
            }
        }
        if asks("join") {
            let joined = self.state.change_group(me, group, |g| {
                let newcomer = [world::ALICE, world::BOB, world::CAROL, world::DAVE]
                    .into_iter()
                    .find(|n| g.participants.iter().all(|p| p.number != *n))?;
                g.participants.push(Participant { number: newcomer.to_owned(), admin: false });
                Some(newcomer.to_owned())
            });
            if let Some(number) = joined.flatten() {
                let by = world::ALICE.to_owned();
                let _ =
                    events.send(BackendEvent::GroupMembers { group: group.clone(), joined: vec![number], left: Vec::new(), by: Some(by) });
            }
        }
        if asks("leave") {
            let left = self.state.change_group(me, group, |g| {
                let at = g.participants.iter().position(|p| p.number != me && !p.admin)?;
                Some(g.participants.remove(at).number)
            });
            if let Some(number) = left.flatten() {
                let by = Some(number.clone());
                let _ = events.send(BackendEvent::GroupMembers { group: group.clone(), joined: Vec::new(), left: vec![number], by });
            }
        }
    }

    /// What a new login sees first: recent chats with their history, then Alice's greeting.
    fn welcome(&self, events: &mpsc::UnboundedSender<BackendEvent>) {
        let chats = super::history::recent_chats(&self.state, &self.account.number, now_ms());
        let _ = events.send(BackendEvent::RecentChats(chats));
        let greeting = WaText { text: world::ALICE_GREETING.to_owned(), mentions: vec![] };
        let _ = events.send(self.message(&Jid::user(world::ALICE), world::ALICE, InboundKind::Text { text: greeting, reply_to: None }));
    }
}

#[async_trait]
impl WhatsAppSession for SimSession {
    async fn connect(&self, events: mpsc::UnboundedSender<BackendEvent>) {
        self.state.connections.lock().expect("lock").insert(self.account.number.clone(), events.clone());
        let _ = events.send(BackendEvent::Connected);
        let _ = events.send(BackendEvent::PhoneSeen(now_ms()));
        if self.state.fresh.lock().expect("lock").remove(&self.account.number) {
            self.welcome(&events);
        }
    }

    async fn disconnect(&self) {
        self.state.connections.lock().expect("lock").remove(&self.account.number);
    }

    async fn logout(&self) -> Result<(), BackendError> {
        self.state.connections.lock().expect("lock").remove(&self.account.number);
        if self.state.unreachable.lock().expect("lock").contains(&self.account.number) {
            return Err(BackendError::Other("WhatsApp could not be reached".into()));
        }
        self.state.linked_devices.lock().expect("lock").remove(&self.account.number);
        self.state.record(SimAction::LoggedOut { account: self.account.number.clone() });
        Ok(())
    }

    async fn delete_session(&self) {
        // WhatsApp is not told: the phone still lists the device.
        self.state.connections.lock().expect("lock").remove(&self.account.number);
        self.state.record(SimAction::SessionDeleted { account: self.account.number.clone() });
    }

    async fn send(&self, chat: &Jid, message: OutgoingWa) -> Result<Sent, BackendError> {
        let events = self.events()?;
        if !chat.is_group() && !world::is_on_whatsapp(&chat.user) {
            return Err(BackendError::NotFound(format!("+{} is not on WhatsApp", chat.user)));
        }
        let id = self.state.next_id();
        self.state.record(SimAction::Sent {
            account: self.account.number.clone(),
            chat: chat.clone(),
            id: id.clone(),
            message: Box::new(message.clone()),
        });
        if chat.user == world::ECHO && !chat.is_group() {
            self.echo(&events, chat, &id, &message);
        }
        if chat.is_group() {
            self.group_requests(&events, chat, &message.text.text);
        }
        Ok(Sent { id, timestamp_ms: now_ms() })
    }

    async fn edit(&self, _chat: &Jid, target: &str, text: WaText) -> Result<(), BackendError> {
        self.events()?;
        self.state.record(SimAction::Edited { target: target.to_owned(), text });
        Ok(())
    }

    async fn react(&self, _chat: &Jid, target: &str, emoji: &str) -> Result<(), BackendError> {
        self.events()?;
        self.state.record(SimAction::Reacted { target: target.to_owned(), emoji: emoji.to_owned() });
        Ok(())
    }

    async fn revoke(&self, _chat: &Jid, target: &str) -> Result<(), BackendError> {
        self.events()?;
        self.state.record(SimAction::Revoked { target: target.to_owned() });
        Ok(())
    }

    async fn set_typing(&self, chat: &Jid, typing: bool) -> Result<(), BackendError> {
        let events = self.events()?;
        self.state.record(SimAction::Typing { chat: chat.clone(), typing });
        if *chat == Jid::user(world::ECHO) {
            let _ = events.send(BackendEvent::Typing { chat: chat.clone(), sender: world::ECHO.to_owned(), typing });
        }
        Ok(())
    }

    async fn set_subject(&self, group: &Jid, subject: &str) -> Result<(), BackendError> {
        self.events()?;
        self.state
            .change_group(&self.account.number, group, |g| g.subject = subject.to_owned())
            .ok_or_else(|| BackendError::NotFound(format!("you are not in a group `{}`", group.user)))?;
        self.state.record(SimAction::SubjectSet { group: group.clone(), subject: subject.to_owned() });
        Ok(())
    }

    async fn set_description(&self, group: &Jid, description: Option<&str>) -> Result<(), BackendError> {
        self.events()?;
        self.state
            .change_group(&self.account.number, group, |g| g.topic = description.map(str::to_owned))
            .ok_or_else(|| BackendError::NotFound(format!("you are not in a group `{}`", group.user)))?;
        self.state.record(SimAction::DescriptionSet { group: group.clone(), description: description.map(str::to_owned) });
        Ok(())
    }

    async fn remove_participant(&self, group: &Jid, number: &str) -> Result<(), BackendError> {
        self.events()?;
        let me = self.account.number.as_str();
        let removed = self.state.change_group(me, group, |g| {
            if !g.participants.iter().any(|p| p.number == me && p.admin) {
                return Err(BackendError::Refused("only group admins can remove people".into()));
            }
            let at = g.participants.iter().position(|p| p.number == number);
            at.map(|at| g.participants.remove(at)).ok_or_else(|| BackendError::NotFound(format!("+{number} is not in the group")))
        });
        removed.ok_or_else(|| BackendError::NotFound(format!("you are not in a group `{}`", group.user)))??;
        self.state.record(SimAction::Removed { group: group.clone(), number: number.to_owned() });
        Ok(())
    }

    async fn mark_read(&self, chat: &Jid, sender: Option<&str>, ids: &[String]) -> Result<(), BackendError> {
        self.events()?;
        self.state.record(SimAction::Read { chat: chat.clone(), sender: sender.map(str::to_owned), ids: ids.to_vec() });
        Ok(())
    }

    async fn contacts(&self) -> Result<Vec<Contact>, BackendError> {
        self.events()?;
        Ok(world::contacts())
    }

    async fn groups(&self) -> Result<Vec<Group>, BackendError> {
        self.events()?;
        Ok(self.state.groups_of(&self.account.number))
    }

    async fn group(&self, jid: &Jid) -> Result<Group, BackendError> {
        self.state
            .groups_of(&self.account.number)
            .into_iter()
            .find(|g| g.jid == *jid)
            .ok_or_else(|| BackendError::NotFound(format!("you are not in a group `{}`", jid.user)))
    }

    async fn lookup(&self, number: &str) -> Result<Option<Contact>, BackendError> {
        self.events()?;
        // A simulated lookup takes a moment, like the real one.
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok(world::is_on_whatsapp(number)
            .then(|| Contact { number: number.to_owned(), name: world::name_of(number).unwrap_or_else(|| format!("+{number}")) }))
    }
}
