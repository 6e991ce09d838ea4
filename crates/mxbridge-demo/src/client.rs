//! One logged-in demo account.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use mxbridge_core::ids::{LoginId, PortalKey, RemoteMessageId, RemoteUserId};
use mxbridge_core::network::content::Content;
use mxbridge_core::network::event::{EventSink, LoginState, RemoteEvent, Sender};
use mxbridge_core::network::{
    ChatInfo, ChatKind, ChatMember, Edits, NetworkClient, NetworkError, OutgoingMessage, Reactions, Redactions, ResolveIdentifier, Role,
    SentMessage, StoredLogin, Typing, UserInfo,
};

use crate::{Action, Shared, dm_chat, dm_partner};

/// A connected demo account.
pub struct DemoClient {
    login: LoginId,
    events: EventSink,
    shared: Arc<Shared>,
    connected: AtomicBool,
}

impl DemoClient {
    pub(crate) fn new(stored: StoredLogin, events: EventSink, shared: Arc<Shared>) -> Self {
        Self { login: stored.id, events, shared, connected: AtomicBool::new(false) }
    }

    fn check_connected(&self) -> Result<(), NetworkError> {
        if self.connected.load(Ordering::SeqCst) { Ok(()) } else { Err(NetworkError::NotConnected("the demo account is offline".into())) }
    }
}

fn display_name(user: &RemoteUserId) -> String {
    let mut chars = user.as_str().chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

#[async_trait]
impl NetworkClient for DemoClient {
    async fn connect(&self) {
        self.connected.store(true, Ordering::SeqCst);
        self.events.send(RemoteEvent::LoginState(LoginState::Connected));
    }

    async fn disconnect(&self) {
        self.connected.store(false, Ordering::SeqCst);
    }

    fn is_logged_in(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    async fn logout(&self) {
        self.connected.store(false, Ordering::SeqCst);
        self.shared.sinks.lock().expect("lock").remove(&self.login);
    }

    async fn chat_info(&self, chat: &PortalKey) -> Result<ChatInfo, NetworkError> {
        if let Some(partner) = dm_partner(&chat.chat) {
            let info = UserInfo { display_name: Some(display_name(&partner)), avatar: None };
            return Ok(ChatInfo::direct(partner, Some(info)));
        }
        let name = chat.chat.as_str().strip_prefix("group:").ok_or_else(|| NetworkError::NotFound(format!("no chat `{}`", chat.chat)))?;
        Ok(ChatInfo {
            name: Some(format!("Demo group {name}")),
            topic: Some(format!("The {name} group on the demo network")),
            avatar: None,
            kind: ChatKind::Group,
            members: vec![ChatMember {
                id: "echo".into(),
                info: Some(UserInfo { display_name: Some("Echo".into()), avatar: None }),
                role: Role::Moderator,
            }],
        })
    }

    async fn user_info(&self, user: &RemoteUserId) -> Result<UserInfo, NetworkError> {
        Ok(UserInfo { display_name: Some(display_name(user)), avatar: None })
    }

    async fn send(&self, msg: OutgoingMessage) -> Result<SentMessage, NetworkError> {
        self.check_connected()?;
        let text = msg.content.body.to_plain();
        if text.contains("please fail") {
            return Err(NetworkError::Refused("the demo network refuses messages that ask it to fail".into()));
        }
        let id = self.shared.next_message_id();
        self.shared.record(Action::Sent {
            login: self.login.clone(),
            chat: msg.portal.chat.clone(),
            id: id.clone(),
            content: msg.content.clone(),
            reply_to: msg.reply_to.clone(),
            relayed_for: msg.relayed_for.clone(),
        });
        if dm_partner(&msg.portal.chat).is_some_and(|p| p.as_str() == "echo") {
            let answer = Content::text(format!("echo: {text}"));
            self.events.send(RemoteEvent::Message {
                chat: msg.portal.clone(),
                sender: Sender::named("echo", "Echo"),
                id: self.shared.next_message_id(),
                timestamp_ms: None,
                content: answer,
                reply_to: Some(id.clone()),
            });
        }
        Ok(SentMessage::new(id))
    }

    mxbridge_core::supports!(edits: Edits, reactions: Reactions, redactions: Redactions, typing: Typing, start_dm: ResolveIdentifier);
}

#[async_trait]
impl Edits for DemoClient {
    async fn edit(&self, _portal: &PortalKey, target: &RemoteMessageId, content: Content) -> Result<Option<String>, NetworkError> {
        self.check_connected()?;
        self.shared.record(Action::Edited { target: target.clone(), content });
        Ok(None)
    }
}

#[async_trait]
impl Reactions for DemoClient {
    async fn react(&self, _portal: &PortalKey, target: &RemoteMessageId, key: &str) -> Result<(), NetworkError> {
        self.check_connected()?;
        self.shared.record(Action::Reacted { target: target.clone(), key: key.to_owned() });
        Ok(())
    }

    async fn unreact(&self, _portal: &PortalKey, target: &RemoteMessageId, key: &str) -> Result<(), NetworkError> {
        self.check_connected()?;
        self.shared.record(Action::Unreacted { target: target.clone(), key: key.to_owned() });
        Ok(())
    }
}

#[async_trait]
impl Redactions for DemoClient {
    async fn delete(&self, _portal: &PortalKey, target: &RemoteMessageId) -> Result<(), NetworkError> {
        self.check_connected()?;
        self.shared.record(Action::Deleted { target: target.clone() });
        Ok(())
    }
}

#[async_trait]
impl Typing for DemoClient {
    async fn set_typing(&self, portal: &PortalKey, typing: bool) -> Result<(), NetworkError> {
        self.shared.record(Action::Typing { chat: portal.chat.clone(), typing });
        Ok(())
    }
}

#[async_trait]
impl ResolveIdentifier for DemoClient {
    async fn resolve(&self, identifier: &str) -> Result<(PortalKey, ChatInfo), NetworkError> {
        let name = identifier.trim().to_ascii_lowercase();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(NetworkError::NotFound(format!("`{identifier}` is not a demo user name (letters and digits)")));
        }
        let key = PortalKey::owned_by(dm_chat(&name), &self.login);
        let partner = RemoteUserId::new(name);
        let info = UserInfo { display_name: Some(display_name(&partner)), avatar: None };
        Ok((key, ChatInfo::direct(partner, Some(info))))
    }
}
