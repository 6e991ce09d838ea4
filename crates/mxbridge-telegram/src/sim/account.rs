//! A logged-in simulated account and the scripted people who answer it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::directory::{self, BOB, CHANNEL, ECHO, ECHO_LOCATION, GREETER, GREETING_ID, GROUP, LATE_CHANNEL};
use super::{Sim, SimAction, SimSession, history, now_secs};
use crate::backend::{
    BackendError, Connection, FormattedText, Peer, TelegramAccount, TgChat, TgChatKind, TgDialog, TgFile, TgMediaKind, TgMessage,
    TgOutgoing, TgUpdate, TgUser,
};
use crate::entities;

pub(crate) struct SimAccount {
    sim: Arc<Sim>,
    session: SimSession,
    me: TgUser,
}

/// A chat's history as the account reads it: the seeded past of the chats in its list, then
/// what was said there since.
pub(crate) fn history_of(sim: &Sim, account: i64, peer: Peer) -> Vec<TgMessage> {
    let me = directory::person(account).unwrap_or_else(|| own_user_by_id(account));
    let (extra, live) = {
        let world = sim.world.lock().expect("lock");
        (world.extra_groups, world.history.get(&(account, peer)).cloned().unwrap_or_default())
    };
    let age = history::chat_list(extra).into_iter().find(|(p, _)| *p == peer).map(|(_, age)| age);
    let mut all = age.map(|age| history::seeded(&me, peer, sim.started - age)).unwrap_or_default();
    all.extend(live);
    all
}

/// An account's own user from its id (its phone number's digits).
fn own_user_by_id(id: i64) -> TgUser {
    directory::own_user(&format!("+{id}"))
}

/// Revokes the session an account uses.
pub(crate) fn revoke_all(sim: &Sim, account: i64) {
    let mut world = sim.world.lock().expect("lock");
    if let Some(key) = world.keys.remove(&account) {
        world.revoked.insert(key);
    }
}

impl SimAccount {
    pub(crate) fn new(sim: Arc<Sim>, session: SimSession) -> Self {
        let me = directory::own_user(&session.phone);
        Self { sim, session, me }
    }

    fn check(&self) -> Result<(), BackendError> {
        let world = self.sim.world.lock().expect("lock");
        if world.revoked.contains(&self.session.key) {
            return Err(BackendError::Revoked("the session was terminated".into()));
        }
        if !world.connections.contains_key(&self.me.id) {
            return Err(BackendError::Unreachable("the simulated connection is down".into()));
        }
        drop(world);
        self.sim.take_flood(self.me.id)
    }

    /// A chat as this account sees it now (without the admin rights it lost).
    fn chat_as_seen(&self, peer: Peer) -> Option<TgChat> {
        let mut chat = directory::chat(&self.me, peer)?;
        if self.sim.world.lock().expect("lock").demoted.contains(&(self.me.id, peer)) {
            chat.members.iter_mut().filter(|m| m.user.id == self.me.id).for_each(|m| m.admin = false);
        }
        Some(chat)
    }

    /// Echo's and Bob's answers, a moment after the message, as real people would.
    fn answer(&self, peer: Peer, id: i64, message: &TgOutgoing) {
        let (sim, account) = (self.sim.clone(), self.me.id);
        let message = message.clone();
        let pause = Duration::from_millis(100);
        if peer == Peer::User(ECHO) {
            tokio::spawn(async move {
                let echo = directory::person(ECHO).expect("echo");
                tokio::time::sleep(pause).await;
                sim.deliver(account, TgUpdate::Read { peer, user: echo.clone(), up_to: id });
                sim.deliver(account, TgUpdate::Typing { peer, user: echo.clone(), typing: true });
                tokio::time::sleep(pause).await;
                let prefix = "echo: ";
                let text = if message.location.is_some() {
                    FormattedText::default() // a map pin has no text on Telegram
                } else {
                    FormattedText {
                        text: format!("{prefix}{}", message.text.text),
                        entities: entities::shifted(&message.text.entities, prefix.encode_utf16().count() as u32),
                    }
                };
                let mut reply = sim.message(peer, echo.clone(), text, Some(id));
                reply.media = message.media.clone();
                reply.location = message.location;
                let reply_id = reply.id;
                sim.deliver(account, TgUpdate::Typing { peer, user: echo.clone(), typing: false });
                sim.deliver(account, TgUpdate::NewMessage(reply.clone()));
                let words = message.text.text.to_lowercase();
                if words.contains("please react") {
                    tokio::time::sleep(pause).await;
                    sim.deliver(account, TgUpdate::Reaction { peer, id, user: echo.clone(), emoji: Some("👍".into()), previous: None });
                }
                if words.contains("please edit") {
                    tokio::time::sleep(pause).await;
                    let edited = TgMessage { text: FormattedText::plain(format!("echo (edited): {}", message.text.text)), ..reply.clone() };
                    sim.deliver(account, TgUpdate::Edited(edited));
                }
                if words.contains("please share location") {
                    tokio::time::sleep(pause).await;
                    let mut shared = sim.message(peer, echo.clone(), FormattedText::default(), None);
                    shared.location = Some(ECHO_LOCATION);
                    sim.deliver(account, TgUpdate::NewMessage(shared));
                }
                if words.contains("please delete") {
                    tokio::time::sleep(pause).await;
                    sim.deliver(account, TgUpdate::Deleted { peer, ids: vec![reply_id] });
                }
            });
        } else if peer == GROUP {
            tokio::spawn(async move {
                tokio::time::sleep(pause).await;
                let bob = directory::person(BOB).expect("bob");
                let reply = sim.message(peer, bob, FormattedText::plain(format!("Bob got: {}", message.text.text)), Some(id));
                sim.deliver(account, TgUpdate::NewMessage(reply));
            });
        }
    }
}

#[async_trait]
impl TelegramAccount for SimAccount {
    fn me(&self) -> TgUser {
        self.me.clone()
    }

    async fn connect(&self, updates: mpsc::UnboundedSender<TgUpdate>) {
        let first_time = {
            let mut world = self.sim.world.lock().expect("lock");
            if world.revoked.contains(&self.session.key) {
                drop(world);
                let _ = updates.send(TgUpdate::Connection(Connection::Revoked("the session was terminated".into())));
                return;
            }
            world.connections.insert(self.me.id, updates.clone());
            world.keys.insert(self.me.id, self.session.key.clone());
            world.greeted.insert(self.me.id)
        };
        let _ = updates.send(TgUpdate::Connection(Connection::Connected));
        if first_time {
            let greeter = directory::person(GREETER).expect("greeter");
            let text = FormattedText::plain("Welcome to the simulated Telegram! I write to everyone who logs in.");
            let greeting = TgMessage {
                peer: Peer::User(GREETER),
                id: GREETING_ID,
                sender: greeter,
                outgoing: false,
                date: now_secs(),
                text,
                reply_to: None,
                media: None,
                location: None,
            };
            self.sim.world.lock().expect("lock").history.entry((self.me.id, greeting.peer)).or_default().push(greeting.clone());
            let _ = updates.send(TgUpdate::NewMessage(greeting));
        }
    }

    async fn disconnect(&self) {
        self.sim.world.lock().expect("lock").connections.remove(&self.me.id);
    }

    async fn log_out(&self) -> Result<(), BackendError> {
        {
            let mut world = self.sim.world.lock().expect("lock");
            world.connections.remove(&self.me.id);
            if world.failing_logouts.remove(&self.me.id) {
                return Err(BackendError::Unreachable("Telegram did not answer the logout".into()));
            }
            world.revoked.insert(self.session.key.clone());
        }
        self.sim.record(SimAction::LoggedOut { account: self.me.id });
        Ok(())
    }

    async fn dialogs(&self, limit: usize) -> Result<Vec<TgDialog>, BackendError> {
        self.check()?;
        let extra = self.sim.world.lock().expect("lock").extra_groups;
        let chats: Vec<(Peer, i64)> = history::chat_list(extra).into_iter().map(|(peer, age)| (peer, self.sim.started - age)).collect();
        // Telegram's chat list names no group members: the bridge asks for them.
        let listed = |mut chat: TgChat| {
            if chat.kind == TgChatKind::Group {
                chat.members.clear();
            }
            chat
        };
        Ok(chats
            .into_iter()
            .filter_map(|(peer, at)| self.chat_as_seen(peer).map(|chat| TgDialog { chat: listed(chat), last_message_at: at }))
            .take(limit)
            .collect())
    }

    async fn chat(&self, peer: Peer) -> Result<TgChat, BackendError> {
        self.check()?;
        self.chat_as_seen(peer).ok_or_else(|| BackendError::NotFound(format!("no chat {peer:?} on the simulated Telegram")))
    }

    async fn user(&self, id: i64) -> Result<TgUser, BackendError> {
        self.check()?;
        directory::person(id).ok_or_else(|| BackendError::NotFound(format!("no user {id} on the simulated Telegram")))
    }

    async fn contacts(&self) -> Result<Vec<TgUser>, BackendError> {
        self.check()?;
        Ok(directory::PEOPLE.iter().filter_map(|p| directory::person(p.0)).collect())
    }

    async fn profile_photo(&self, user: &TgUser) -> Result<Option<TgFile>, BackendError> {
        self.check()?;
        let data = user.photo.and_then(|_| directory::avatar_png(user.id));
        Ok(data.map(|data| TgFile { kind: TgMediaKind::Photo, name: format!("sim-{}.png", user.id), mime: "image/png".into(), data }))
    }

    async fn resolve_phone(&self, phone: &str) -> Result<Option<TgUser>, BackendError> {
        self.check()?;
        Ok(directory::PEOPLE.iter().find(|p| p.3 == phone).and_then(|p| directory::person(p.0)))
    }

    async fn resolve_username(&self, username: &str) -> Result<Option<TgUser>, BackendError> {
        self.check()?;
        Ok(directory::PEOPLE.iter().find(|p| p.2.eq_ignore_ascii_case(username)).and_then(|p| directory::person(p.0)))
    }

    async fn send(&self, peer: Peer, message: TgOutgoing) -> Result<i64, BackendError> {
        self.check()?;
        let demoted = self.sim.world.lock().expect("lock").demoted.contains(&(self.me.id, peer));
        if peer == CHANNEL || peer == LATE_CHANNEL || demoted {
            return Err(BackendError::Refused("only the channel's admins can post in it".into()));
        }
        if directory::chat(&self.me, peer).is_none() {
            return Err(BackendError::NotFound(format!("no chat {peer:?} on the simulated Telegram")));
        }
        let id = self.sim.next_id();
        self.sim.record(SimAction::Sent { account: self.me.id, peer, id, message: message.clone() });
        let own = TgMessage {
            peer,
            id,
            sender: self.me.clone(),
            outgoing: true,
            date: now_secs(),
            text: message.text.clone(),
            reply_to: message.reply_to,
            media: message.media.clone(),
            location: message.location,
        };
        self.sim.world.lock().expect("lock").history.entry((self.me.id, peer)).or_default().push(own);
        self.answer(peer, id, &message);
        Ok(id)
    }

    async fn history(&self, peer: Peer, limit: usize) -> Result<Vec<TgMessage>, BackendError> {
        self.check()?;
        let all = history_of(&self.sim, self.me.id, peer);
        Ok(all[all.len().saturating_sub(limit)..].to_vec())
    }

    async fn edit(&self, peer: Peer, id: i64, text: FormattedText) -> Result<(), BackendError> {
        self.check()?;
        self.sim.record(SimAction::Edited { peer, id, text });
        Ok(())
    }

    async fn delete(&self, peer: Peer, ids: &[i64]) -> Result<(), BackendError> {
        self.check()?;
        self.sim.record(SimAction::Deleted { peer, ids: ids.to_vec() });
        Ok(())
    }

    async fn react(&self, peer: Peer, id: i64, emoji: Option<&str>) -> Result<(), BackendError> {
        self.check()?;
        self.sim.record(SimAction::Reacted { peer, id, emoji: emoji.map(str::to_owned) });
        Ok(())
    }

    async fn set_typing(&self, peer: Peer, typing: bool) -> Result<(), BackendError> {
        self.check()?;
        self.sim.record(SimAction::Typing { peer, typing });
        if peer == Peer::User(ECHO) {
            let echo = directory::person(ECHO).expect("echo");
            self.sim.deliver(self.me.id, TgUpdate::Typing { peer, user: echo, typing });
        }
        Ok(())
    }

    async fn mark_read(&self, peer: Peer, up_to: i64) -> Result<(), BackendError> {
        self.check()?;
        self.sim.record(SimAction::Read { peer, up_to });
        Ok(())
    }
}
