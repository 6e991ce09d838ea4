//! What Matrix users do, sent to IRC by their puppet: messages, corrections, reactions,
//! topic, kicks and bans, joining and leaving channels.

use std::time::Duration;

use async_trait::async_trait;
use irc::proto::message::Tag;
use irc::proto::{Command, Message};
use mxbridge_core::clock::now_ms;
use mxbridge_core::ids::{PortalKey, RemoteMessageId, RemoteUserId};
use mxbridge_core::network::content::{Content, MessageKind};
use mxbridge_core::network::{
    ChatInfo, ChatKind, ChatMembership, Edits, Moderation, NetworkClient, NetworkError, OutgoingMessage, Reactions, SentMessage, UserInfo,
};
use tokio::sync::oneshot;

use crate::client::{IrcClient, Link, PendingEcho};
use crate::connection::{self, LineKind};
use crate::network::is_channel;
use crate::nick::casefold;
use crate::recent::{RecentLine, reply_prefix};
use crate::{format, mentions, sanitize};

/// How long a sent line may take to come back (echo-message) before it counts as sent
/// without a server id. Lines wait in the flood-control queue, so this is generous.
const ECHO_WAIT: Duration = Duration::from_secs(30);

/// Whether an id came from the server (IRCv3 msgid), so other clients know it.
fn is_server_msgid(id: &str) -> bool {
    !id.starts_with("in-") && !id.starts_with("out-")
}

/// The first line of a text, cut to leave room for a link on the same IRC line.
fn whole_start(text: &str) -> String {
    const START_CHARS: usize = 200;
    text.lines().next().unwrap_or("").chars().take(START_CHARS).collect()
}

fn send_error(e: crate::pacing::ConnectionClosed) -> NetworkError {
    NetworkError::Other(format!("the IRC connection failed while sending ({e})"))
}

impl IrcClient {
    /// Makes sure the puppet is in a channel before speaking there: channels are `+n` by
    /// default and drop lines from outsiders.
    fn be_in(&self, channel: &str) -> Result<(), NetworkError> {
        if self.inner.shared.config.is_excluded(channel) {
            return Err(NetworkError::Refused(format!("{channel} is excluded from the bridge by its admin")));
        }
        if !self.channels().iter().any(|c| casefold(c) == casefold(channel)) {
            self.join(channel);
        }
        Ok(())
    }

    /// Sends lines and learns the server's id of the first one from its echo when the
    /// server has echo-message; otherwise the id is our own.
    async fn send_lines(&self, link: &Link, target: &str, commands: Vec<Command>, tags: Vec<Tag>) -> Result<RemoteMessageId, NetworkError> {
        let n = commands.len();
        if n == 0 {
            return Err(NetworkError::Refused("the message is empty after removing what IRC cannot carry".into()));
        }
        let batch = link.multiline.and_then(|limits| connection::multiline_batch(&self.local_id("ml"), target, commands.clone(), limits));
        // The server's answer to a labeled line says whether it was refused (a moderated
        // channel, a nick that left); a batch is answered as a whole, so it goes unlabeled.
        let label = (link.has("echo-message") && link.has("labeled-response") && batch.is_none()).then(|| self.local_id("lbl"));
        let mut tags = tags;
        if let Some(label) = &label {
            tags.push(Tag("label".into(), Some(label.clone())));
        }
        let echo = link.has("echo-message").then(|| {
            let (tx, rx) = oneshot::channel();
            let pending = PendingEcho { target: casefold(target), lines_left: n, msgid: None, label, done: Some(tx) };
            self.inner.pending_echoes.lock().expect("lock").push_back(pending);
            rx
        });
        match batch {
            Some(mut messages) => {
                // Client tags of a multiline message go on the batch's opening line.
                messages[0].tags = (!tags.is_empty()).then_some(tags);
                for message in messages {
                    link.sender.send(message).map_err(send_error)?;
                }
            }
            None => {
                connection::send_commands(&link.sender, commands, tags).map_err(send_error)?;
            }
        }
        let id = match echo {
            Some(rx) => match tokio::time::timeout(ECHO_WAIT, rx).await {
                Ok(Ok(Ok(Some(msgid)))) => msgid,
                Ok(Ok(Ok(None))) | Err(_) => self.local_id("out"),
                Ok(Ok(Err(why))) => return Err(NetworkError::Refused(format!("the IRC server answered \"{}\"", sanitize::one_line(&why)))),
                Ok(Err(_)) => {
                    return Err(NetworkError::NotConnected("the IRC connection dropped before the server confirmed the message".into()));
                }
            },
            None => self.local_id("out"),
        };
        Ok(RemoteMessageId::new(id))
    }

    fn quote_for_reply(&self, target: &str, reply_to: Option<&RemoteMessageId>) -> (String, Vec<Tag>) {
        let Some(id) = reply_to else { return (String::new(), Vec::new()) };
        let recent = self.inner.shared.recent.lock().expect("lock").get(&format!("{}/{}", casefold(target), id.as_str())).cloned();
        let prefix = recent.as_ref().map(|line| reply_prefix(line, now_ms())).unwrap_or_default();
        let tags = if is_server_msgid(id.as_str()) { vec![Tag("+draft/reply".into(), Some(id.as_str().to_owned()))] } else { Vec::new() };
        (prefix, tags)
    }
}

#[async_trait]
impl NetworkClient for IrcClient {
    async fn connect(&self) {
        self.ensure_running();
    }

    async fn disconnect(&self) {
        self.stop("Bridge shutting down").await;
    }

    fn is_logged_in(&self) -> bool {
        self.is_connected()
    }

    async fn logout(&self) {
        self.quit().await;
    }

    async fn chat_info(&self, chat: &PortalKey) -> Result<ChatInfo, NetworkError> {
        let ids = &self.inner.shared.ids;
        let name = ids.target(&chat.chat);
        if is_channel(name) {
            Ok(ChatInfo { name: Some(name.to_owned()), topic: None, avatar: None, kind: ChatKind::Channel, members: Vec::new() })
        } else {
            Ok(ChatInfo::direct(ids.user(name), Some(UserInfo { display_name: Some(name.to_owned()), avatar: None })))
        }
    }

    async fn user_info(&self, user: &RemoteUserId) -> Result<UserInfo, NetworkError> {
        Ok(UserInfo { display_name: Some(self.inner.shared.ids.nick(user).to_owned()), avatar: None })
    }

    mxbridge_core::supports!(chat_membership: ChatMembership, edits: Edits, reactions: Reactions, moderation: Moderation, display_names: DisplayNames);

    fn remote_name(&self) -> Option<String> {
        Some(self.nick())
    }

    async fn send(&self, msg: OutgoingMessage) -> Result<SentMessage, NetworkError> {
        self.touch();
        let target = self.inner.shared.ids.target(&msg.portal.chat).to_owned();
        if is_channel(&target) {
            self.be_in(&target)?;
        }
        let link = self.wait_link().await?;
        let shared = &self.inner.shared;
        let nick_of = |user: &str| shared.client_of(user).map(|c| c.nick());
        let mut text = format::to_irc(&mentions::nicks(&msg.content.body, &nick_of));
        let mut note = None;
        if let Some(media) = &msg.content.media {
            let Some(url) = &media.url else {
                return Err(NetworkError::Unsupported(
                    "sending files to IRC without a public bridge address (the bridge admin can set bridge.public_url to send them as links)"
                        .into(),
                ));
            };
            text = if text.is_empty() || text == media.name { url.clone() } else { format!("{text} {url}") };
            note = Some("IRC cannot carry files, so it got a link to yours.".to_owned());
        }
        let (quote, tags) = self.quote_for_reply(&target, msg.reply_to.as_ref());
        text = format!("{quote}{text}");
        if let Some(name) = &msg.relayed_for {
            text = format!("<{}> {text}", sanitize::one_line(name));
        }
        let kind = match msg.content.kind {
            MessageKind::Text => LineKind::Message,
            MessageKind::Notice => LineKind::Notice,
            MessageKind::Emote => LineKind::Action,
        };
        let mut commands = connection::line_commands(&target, kind, &text);
        let limit = shared.config.line_limit.max(1);
        if commands.len() > limit
            && let Some(links) = shared.links.get().filter(|l| l.enabled())
        {
            // Too long for a channel: its start, and a link to the whole text.
            let whole = msg.content.body.to_plain();
            match links.publish(whole.into_bytes(), "text/plain; charset=utf-8", "message.txt").await {
                Ok(url) => {
                    let lines = commands.len();
                    commands = connection::line_commands(&target, kind, &format!("{}… (full message: {url})", whole_start(&text)));
                    note = Some(format!("it would have taken {lines} IRC lines, so IRC got its start and a link to the whole text."));
                }
                Err(e) => tracing::warn!(error = %e, "could not publish a long message; sending every line"),
            }
        }
        let id = self.send_lines(&link, &target, commands, tags).await?;
        if is_channel(&target) && !link.has("echo-message") {
            // Without echoes our own lines are remembered here, so replies to them can quote.
            let line = RecentLine { nick: self.nick(), text: format::from_irc(&text).to_plain(), at_ms: now_ms() };
            shared.recent.lock().expect("lock").insert(format!("{}/{}", casefold(&target), id.as_str()), line);
        }
        Ok(SentMessage { id, timestamp_ms: None, note })
    }
}

#[async_trait]
impl ChatMembership for IrcClient {
    async fn join(&self, portal: &PortalKey, _display_name: Option<&str>) -> Result<(), NetworkError> {
        let channel = self.inner.shared.ids.target(&portal.chat);
        if is_channel(channel) {
            self.be_in(channel)?;
        }
        Ok(())
    }

    async fn leave(&self, portal: &PortalKey) -> Result<(), NetworkError> {
        let channel = self.inner.shared.ids.target(&portal.chat);
        if is_channel(channel) {
            self.part(channel, None);
        }
        Ok(())
    }
}

#[async_trait]
impl Edits for IrcClient {
    async fn edit(&self, portal: &PortalKey, _target: &RemoteMessageId, content: Content) -> Result<Option<String>, NetworkError> {
        // IRC has no edits: the correction goes out as a new line, IRC style.
        let msg = OutgoingMessage {
            portal: portal.clone(),
            content: Content { body: prefixed("* ", content.body), ..content },
            reply_to: None,
            relayed_for: None,
        };
        self.send(msg).await?;
        Ok(Some("IRC has no edits, so your correction was sent as a new line starting with `*`.".into()))
    }
}

fn prefixed(prefix: &str, mut body: mxbridge_core::network::content::RichText) -> mxbridge_core::network::content::RichText {
    body.0.insert(0, mxbridge_core::network::content::Node::Text(prefix.to_owned()));
    body
}

#[async_trait]
impl Reactions for IrcClient {
    async fn react(&self, portal: &PortalKey, target: &RemoteMessageId, key: &str) -> Result<(), NetworkError> {
        self.touch();
        let link = self.wait_link().await?;
        if !link.has("message-tags") || !is_server_msgid(target.as_str()) {
            return Err(NetworkError::Unsupported("reactions on this IRC server (it lacks IRCv3 message-tags and msgid)".into()));
        }
        let channel = self.inner.shared.ids.target(&portal.chat);
        if is_channel(channel) {
            self.be_in(channel)?;
        }
        let tags = vec![
            Tag("+draft/react".into(), Some(sanitize::one_line(key))),
            Tag("+draft/reply".into(), Some(sanitize::word(target.as_str()))),
        ];
        let command = Command::Raw("TAGMSG".into(), vec![sanitize::word(channel)]);
        link.sender.send(Message { tags: Some(tags), prefix: None, command }).map_err(send_error)
    }

    async fn unreact(&self, _portal: &PortalKey, _target: &RemoteMessageId, _key: &str) -> Result<(), NetworkError> {
        Err(NetworkError::Unsupported("taking back a reaction on IRC".into()))
    }
}

#[async_trait]
impl Moderation for IrcClient {
    async fn set_topic(&self, portal: &PortalKey, topic: &str) -> Result<(), NetworkError> {
        self.touch();
        let link = self.wait_link().await?;
        let channel = sanitize::word(self.inner.shared.ids.target(&portal.chat));
        link.sender.send(Command::TOPIC(channel, Some(sanitize::one_line(topic)))).map_err(send_error)
    }

    async fn kick(&self, portal: &PortalKey, user: &RemoteUserId, reason: &str) -> Result<(), NetworkError> {
        self.touch();
        let link = self.wait_link().await?;
        let channel = sanitize::word(self.inner.shared.ids.target(&portal.chat));
        let reason = Some(sanitize::one_line(reason)).filter(|r| !r.is_empty());
        link.sender.send(Command::KICK(channel, sanitize::word(self.inner.shared.ids.nick(user)), reason)).map_err(send_error)
    }

    async fn ban(&self, portal: &PortalKey, user: &RemoteUserId, reason: &str) -> Result<(), NetworkError> {
        self.touch();
        let link = self.wait_link().await?;
        let channel = sanitize::word(self.inner.shared.ids.target(&portal.chat));
        let mask = format!("{}!*@*", sanitize::word(self.inner.shared.ids.nick(user)));
        link.sender.send(Command::Raw("MODE".into(), vec![channel, "+b".into(), mask])).map_err(send_error)?;
        self.kick(portal, user, reason).await
    }
}
