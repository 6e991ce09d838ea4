//! What the server tells a puppet, turned into core events.
//!
//! Every puppet in a channel hears the same lines, so for channel events one puppet per
//! channel speaks for all (the channel's reader); the others only keep their own view of
//! who is where. Private messages are always their puppet's own.

use std::sync::Arc;
use std::time::Duration;

use irc::proto::{ChannelMode, Command, Message, Mode, Response};
use mxbridge_core::clock::now_ms;
use mxbridge_core::ids::{PortalKey, RemoteMessageId};
use mxbridge_core::network::content::{Content, MessageKind};
use mxbridge_core::network::event::{Membership, RemoteEvent};
use mxbridge_core::network::{ChatInfo, ChatKind, Role};

use crate::client::{Inner, IrcClient};
use crate::network::is_channel;
use crate::nick::casefold;
use crate::recent::RecentLine;
use crate::{format, mentions, time};

/// Channel status prefixes in NAMES, highest first, and their mode bits.
const PREFIXES: [(char, u8); 6] = [('~', FOUNDER), ('&', ADMIN), ('@', OP), ('%', HALFOP), ('+', VOICE), ('!', ADMIN)];
const FOUNDER: u8 = 16;
const ADMIN: u8 = 8;
const OP: u8 = 4;
const HALFOP: u8 = 2;
const VOICE: u8 = 1;

/// The Matrix role of a set of channel status modes.
fn role_of(modes: u8) -> Role {
    if modes & (FOUNDER | ADMIN) != 0 {
        Role::Admin
    } else if modes & (OP | HALFOP) != 0 {
        Role::Moderator
    } else if modes & VOICE != 0 {
        Role::Voiced
    } else {
        Role::Member
    }
}

fn mode_bit(mode: &ChannelMode) -> Option<u8> {
    match mode {
        ChannelMode::Founder => Some(FOUNDER),
        ChannelMode::Admin => Some(ADMIN),
        ChannelMode::Oper => Some(OP),
        ChannelMode::Halfop => Some(HALFOP),
        ChannelMode::Voice => Some(VOICE),
        _ => None,
    }
}

/// A QUIT reason of the form `irc.a.net irc.b.net`: a netsplit, after which most users
/// come back within seconds.
pub(crate) fn is_netsplit(reason: &str) -> bool {
    let mut parts = reason.split(' ');
    let looks_like_server = |p: Option<&str>| p.is_some_and(|p| p.contains('.') && !p.contains(['/', ':']) && p.len() > 2);
    looks_like_server(parts.next()) && looks_like_server(parts.next()) && parts.next().is_none()
}

impl Inner {
    fn channel_key(&self, channel: &str) -> PortalKey {
        PortalKey::shared(self.shared.ids.channel(channel))
    }

    fn client(self: &Arc<Self>) -> IrcClient {
        IrcClient { inner: self.clone() }
    }

    /// Whether this puppet speaks for the channel. The first puppet in a channel does,
    /// until it leaves or loses its connection; then the next one to look takes over.
    pub(crate) fn is_reader(&self, channel: &str) -> bool {
        // A puppet's channel view is emptied when its connection ends, so this also hands
        // the channel over when the reader is disconnected.
        let channel = casefold(channel);
        self.shared.readers.is_reader(&channel, self.user.as_str(), |reader| {
            self.shared.client_of(reader).is_some_and(|other| other.inner.members.lock().expect("lock").contains_key(&channel))
        })
    }

    fn joined(&self, channel: &str, nick: &str, modes: u8) {
        let is_new = {
            let mut members = self.members.lock().expect("lock");
            members.entry(casefold(channel)).or_default().insert(casefold(nick), modes).is_none()
        };
        if self.shared.puppets.contains(nick) || !self.is_reader(channel) {
            return;
        }
        if is_new {
            let sender = self.shared.ids.sender(nick);
            self.events.send(RemoteEvent::Member { chat: self.channel_key(channel), sender, membership: Membership::Join });
        }
        if modes != 0 {
            self.events.send(RemoteEvent::RoleChanged {
                chat: self.channel_key(channel),
                sender: Some(self.shared.ids.sender(nick)),
                role: role_of(modes),
            });
        }
    }

    /// Where a line to `target` from `from` belongs: the channel's portal, or the private
    /// chat of this login with the sender.
    fn chat_of(&self, target: &str, from: &str) -> PortalKey {
        if is_channel(target) { self.channel_key(target) } else { PortalKey::owned_by(self.shared.ids.private(from), self.events.login()) }
    }

    fn left(&self, channel: &str, nick: &str) {
        if let Some(m) = self.members.lock().expect("lock").get_mut(&casefold(channel)) {
            m.remove(&casefold(nick));
        }
        self.report_leave(channel, nick);
    }

    fn channels_of(&self, nick: &str) -> Vec<String> {
        let nick = casefold(nick);
        self.members.lock().expect("lock").iter().filter(|(_, m)| m.contains_key(&nick)).map(|(c, _)| c.clone()).collect()
    }

    fn topic(&self, channel: &str, topic: &str, by: Option<&str>) {
        if !self.is_reader(channel) {
            return;
        }
        let info = ChatInfo {
            name: Some(channel.to_owned()),
            topic: Some(topic.to_owned()),
            avatar: None,
            kind: ChatKind::Channel,
            members: vec![],
        };
        let sender = by.filter(|b| !b.contains('.')).map(|b| self.shared.ids.sender(b));
        self.events.send(RemoteEvent::ChatChanged { chat: self.channel_key(channel), sender, info });
    }

    /// A QUIT: held for `quit_debounce_secs` when it looks like a netsplit, so users who
    /// come back at once never leave their rooms.
    fn quit(self: &Arc<Self>, nick: &str, reason: &str) {
        let channels = self.channels_of(nick);
        for channel in &channels {
            if let Some(m) = self.members.lock().expect("lock").get_mut(channel) {
                m.remove(&casefold(nick));
            }
        }
        let debounce = self.shared.config.quit_debounce_secs;
        if !is_netsplit(reason) || debounce == 0 {
            for channel in channels {
                self.report_leave(&channel, nick);
            }
            return;
        }
        let generation = rand::random::<u64>();
        self.pending_quits.lock().expect("lock").insert(casefold(nick), (generation, channels));
        let this = self.clone();
        let nick = nick.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(debounce)).await;
            let due = {
                let mut pending = this.pending_quits.lock().expect("lock");
                match pending.get(&casefold(&nick)) {
                    Some((g, _)) if *g == generation => pending.remove(&casefold(&nick)).map(|(_, c)| c),
                    _ => None,
                }
            };
            for channel in due.unwrap_or_default() {
                this.report_leave(&channel, &nick);
            }
        });
    }

    /// Tells Matrix that an IRC user left a channel (a puppet's leave is its user's own).
    fn report_leave(&self, channel: &str, nick: &str) {
        if self.shared.puppets.contains(nick) || !self.is_reader(channel) {
            return;
        }
        let sender = self.shared.ids.sender(nick);
        self.events.send(RemoteEvent::Member { chat: self.channel_key(channel), sender, membership: Membership::Leave });
    }

    /// A JOIN from someone whose QUIT is being held: they never left, as far as Matrix knows.
    fn came_back(&self, channel: &str, nick: &str) -> bool {
        let mut pending = self.pending_quits.lock().expect("lock");
        let Some((_, channels)) = pending.get_mut(&casefold(nick)) else { return false };
        let before = channels.len();
        channels.retain(|c| *c != casefold(channel));
        let was_held = channels.len() != before;
        if channels.is_empty() {
            pending.remove(&casefold(nick));
        }
        if was_held {
            self.members.lock().expect("lock").entry(casefold(channel)).or_default().insert(casefold(nick), 0);
        }
        was_held
    }

    /// Our own line came back (echo-message): its msgid becomes the id of the Matrix event.
    fn echoed(&self, target: &str, msgid: Option<String>) {
        let mut pending = self.pending_echoes.lock().expect("lock");
        let Some(pos) = pending.iter().position(|p| p.target == casefold(target)) else { return };
        let entry = &mut pending[pos];
        if entry.msgid.is_none() {
            entry.msgid = msgid;
        }
        entry.lines_left = entry.lines_left.saturating_sub(1);
        if entry.lines_left == 0
            && let Some(mut done) = pending.remove(pos)
            && let Some(tx) = done.done.take()
        {
            let _ = tx.send(Ok(done.msgid));
        }
    }

    /// The server answered a labeled line of ours with an error (labeled-response): the
    /// message's sender is told instead of believing it arrived. False if the label is not
    /// one of ours.
    fn refused(&self, label: &str, why: &str) -> bool {
        let mut pending = self.pending_echoes.lock().expect("lock");
        let Some(pos) = pending.iter().position(|p| p.label.as_deref() == Some(label)) else { return false };
        if let Some(mut entry) = pending.remove(pos)
            && let Some(tx) = entry.done.take()
        {
            let _ = tx.send(Err(why.to_owned()));
        }
        true
    }

    fn whois_reply(&self, nick: &str, line: String, end: bool) {
        let mut pending = self.pending_whois.lock().expect("lock");
        let Some(pos) = pending.iter().position(|w| casefold(&w.nick) == casefold(nick)) else { return };
        if !line.is_empty() {
            pending[pos].lines.push(line);
        }
        if end {
            let mut done = pending.remove(pos);
            if let Some(tx) = done.done.take() {
                let _ = tx.send(std::mem::take(&mut done.lines));
            }
        }
    }

    pub(crate) fn handle(self: &Arc<Self>, msg: &Message) {
        let own = self.nick.lock().expect("lock").clone();
        let from = msg.source_nickname().unwrap_or("").to_owned();
        let is_own = !from.is_empty() && casefold(&from) == casefold(&own);
        let tag = |name: &str| msg.tags.as_ref().and_then(|tags| tags.iter().find(|t| t.0 == name).and_then(|t| t.1.clone()));
        if let Some(label) = tag("label") {
            let refusal = match &msg.command {
                Command::Response(code, args) if code.is_error() => args.last().cloned(),
                Command::Raw(verb, args) if verb == "FAIL" => args.last().cloned(),
                _ => None,
            };
            if let Some(why) = refusal
                && self.refused(&label, &why)
            {
                return;
            }
        }
        match &msg.command {
            Command::PRIVMSG(target, text) | Command::NOTICE(target, text) => {
                if is_own {
                    if is_channel(target) {
                        self.remember(target, &own, text, tag("msgid"));
                    }
                    self.echoed(target, tag("msgid"));
                    return;
                }
                if from.is_empty() || self.shared.puppets.contains(&from) || from.contains('.') {
                    return; // another Matrix user's line, or a server notice
                }
                let for_channel = is_channel(target);
                if for_channel {
                    self.remember(target, &from, text, tag("msgid"));
                    if !self.is_reader(target) {
                        return;
                    }
                }
                let is_notice = matches!(msg.command, Command::NOTICE(..));
                let (kind, body) = match text.strip_prefix("\x01ACTION ").map(|t| t.trim_end_matches('\x01')) {
                    Some(action) => (MessageKind::Emote, action),
                    None if text.starts_with('\x01') => return, // other CTCP
                    None => (if is_notice { MessageKind::Notice } else { MessageKind::Text }, text.as_str()),
                };
                let chat = self.chat_of(target, &from);
                let id = tag("msgid").unwrap_or_else(|| self.client().local_id("in"));
                let body = mentions::pills(format::from_irc(body), &|word| self.shared.mention_target(word));
                self.events.send(RemoteEvent::Message {
                    chat,
                    sender: self.shared.ids.sender(&from),
                    id: RemoteMessageId::new(id),
                    timestamp_ms: tag("time").and_then(|t| time::parse_rfc3339_ms(&t)),
                    content: Content::rich(kind, body),
                    reply_to: tag("+draft/reply").map(RemoteMessageId::new),
                });
            }
            // Our own multiline batch came back: its msgid is on the opening line.
            Command::Raw(verb, args) if verb == "BATCH" && is_own && args.get(1).is_some_and(|t| t == "draft/multiline") => {
                if let Some(target) = args.get(2) {
                    let mut pending = self.pending_echoes.lock().expect("lock");
                    if let Some(entry) = pending.iter_mut().find(|p| p.target == casefold(target) && p.msgid.is_none()) {
                        entry.msgid = tag("msgid");
                    }
                }
            }
            Command::Raw(verb, args) if verb == "TAGMSG" => {
                let (Some(target), Some(key), Some(reply)) = (args.first(), tag("+draft/react"), tag("+draft/reply")) else { return };
                if is_own || self.shared.puppets.contains(&from) || (is_channel(target) && !self.is_reader(target)) {
                    return;
                }
                let chat = self.chat_of(target, &from);
                let sender = self.shared.ids.sender(&from);
                self.events.send(RemoteEvent::Reaction { chat, sender, target: RemoteMessageId::new(reply), key });
            }
            Command::JOIN(channel, _, _) if is_own => {
                // Always this login's own: the core creates the portal or invites its user.
                self.members.lock().expect("lock").entry(casefold(channel)).or_default();
                let info = ChatInfo { name: Some(channel.clone()), topic: None, avatar: None, kind: ChatKind::Channel, members: vec![] };
                self.events.send(RemoteEvent::ChatChanged { chat: self.channel_key(channel), sender: None, info });
            }
            Command::KICK(channel, target, reason) => {
                if casefold(target) == casefold(&own) {
                    self.client().forget_channel(channel);
                    let by = (!from.is_empty()).then(|| self.shared.ids.sender(&from));
                    let reason = reason.clone().unwrap_or_default();
                    self.events.send(RemoteEvent::Removed { chat: self.channel_key(channel), by, reason });
                } else {
                    self.left(channel, target);
                }
            }
            Command::ChannelMODE(channel, modes) => {
                for mode in modes {
                    let (add, m, Some(nick)) = (match mode {
                        Mode::Plus(m, arg) => (true, m, arg.as_deref()),
                        Mode::Minus(m, arg) => (false, m, arg.as_deref()),
                        Mode::NoPrefix(m) => (false, m, None),
                    }) else {
                        continue;
                    };
                    let Some(bit) = mode_bit(m) else { continue };
                    let now = {
                        let mut members = self.members.lock().expect("lock");
                        let entry = members.entry(casefold(channel)).or_default().entry(casefold(nick)).or_default();
                        *entry = if add { *entry | bit } else { *entry & !bit };
                        *entry
                    };
                    if casefold(nick) == casefold(&own) {
                        self.events.send(RemoteEvent::RoleChanged { chat: self.channel_key(channel), sender: None, role: role_of(now) });
                    } else if !self.shared.puppets.contains(nick) && self.is_reader(channel) {
                        let sender = Some(self.shared.ids.sender(nick));
                        self.events.send(RemoteEvent::RoleChanged { chat: self.channel_key(channel), sender, role: role_of(now) });
                    }
                }
            }
            // Other puppets are Matrix users: what else they do is already in Matrix.
            _ if !is_own && self.shared.puppets.contains(&from) => {}
            // Back from a netsplit before the held QUIT was applied: nothing changes in Matrix.
            Command::JOIN(channel, _, _) if self.came_back(channel, &from) => {}
            Command::JOIN(channel, _, _) => self.joined(channel, &from, 0),
            Command::PART(channel, _) if !is_own => self.left(channel, &from),
            Command::QUIT(reason) if !is_own => self.quit(&from, reason.as_deref().unwrap_or("")),
            Command::NICK(new) if is_own => {
                self.shared.puppets.rename(&own, new, &self.user);
                *self.nick.lock().expect("lock") = new.clone();
                self.clone().persist();
            }
            Command::NICK(new) => {
                // Ghosts are per nick: the old one leaves, the new one joins.
                for channel in self.channels_of(&from) {
                    let modes =
                        self.members.lock().expect("lock").get(&channel).and_then(|m| m.get(&casefold(&from)).copied()).unwrap_or(0);
                    self.left(&channel, &from);
                    self.joined(&channel, new, modes);
                }
            }
            // away-notify: the reader of one channel the user is in reports it, once.
            Command::AWAY(message) if !is_own && self.channels_of(&from).first().is_some_and(|c| self.is_reader(c)) => {
                let status = message.clone().filter(|m| !m.is_empty());
                let sender = self.shared.ids.sender(&from);
                self.events.send(RemoteEvent::Presence { sender, available: status.is_none(), status });
            }
            Command::TOPIC(channel, Some(topic)) if !is_own => self.topic(channel, topic, Some(&from)),
            Command::Response(Response::RPL_TOPIC, args) if args.len() >= 3 => self.topic(&args[1], &args[2], None),
            Command::Response(Response::RPL_NAMREPLY, args) if args.len() >= 4 => {
                for name in args[3].split_whitespace() {
                    let mut modes = 0;
                    let mut nick = name;
                    while let Some((prefix, bit)) = PREFIXES.iter().find(|(p, _)| nick.starts_with(*p)) {
                        modes |= bit;
                        nick = &nick[prefix.len_utf8()..];
                    }
                    if casefold(nick) == casefold(&own) {
                        if modes != 0 {
                            let role = role_of(modes);
                            self.events.send(RemoteEvent::RoleChanged { chat: self.channel_key(&args[2]), sender: None, role });
                        }
                    } else if !nick.is_empty() {
                        self.joined(&args[2], nick, modes);
                    }
                }
            }
            Command::Response(Response::RPL_WHOISUSER, args) if args.len() >= 6 => {
                self.whois_reply(&args[1], format!("{} is {}@{} ({})", args[1], args[2], args[3], args[5]), false);
            }
            Command::Response(Response::RPL_WHOISSERVER, args) if args.len() >= 3 => {
                self.whois_reply(&args[1], format!("connected to {}", args[2]), false);
            }
            Command::Response(Response::RPL_WHOISCHANNELS, args) if args.len() >= 3 => {
                self.whois_reply(&args[1], format!("in {}", args[2].trim()), false);
            }
            Command::Response(Response::RPL_WHOISIDLE, args) if args.len() >= 3 => {
                self.whois_reply(&args[1], format!("idle for {}s", args[2]), false);
            }
            Command::Raw(numeric, args) if numeric == "330" && args.len() >= 3 => {
                self.whois_reply(&args[1], format!("logged in as {}", args[2]), false);
            }
            Command::Response(Response::RPL_ENDOFWHOIS, args) if args.len() >= 2 => self.whois_reply(&args[1], String::new(), true),
            Command::Response(Response::ERR_NOSUCHNICK, args) if args.len() >= 2 => {
                self.whois_reply(&args[1], format!("{} is not on IRC right now", args[1]), true);
            }
            _ => {}
        }
    }

    fn remember(&self, channel: &str, nick: &str, text: &str, msgid: Option<String>) {
        let Some(id) = msgid else { return };
        let text = format::from_irc(text.trim_start_matches("\x01ACTION ").trim_end_matches('\x01')).to_plain();
        let line = RecentLine { nick: nick.to_owned(), text, at_ms: now_ms() };
        self.shared.recent.lock().expect("lock").insert(format!("{}/{id}", casefold(channel)), line);
    }
}

#[cfg(test)]
mod tests;
