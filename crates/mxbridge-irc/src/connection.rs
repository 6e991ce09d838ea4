//! One IRC connection: connect, negotiate IRCv3 capabilities, authenticate, register.
//!
//! Registration follows the IRCv3 order: `CAP LS 302`, `NICK`, `USER`, then the server
//! holds registration until `CAP END`. The capabilities the bridge uses are requested when
//! offered; with `sasl` and a stored password the connection authenticates with SASL PLAIN
//! before `CAP END`. Without SASL a stored password is sent to NickServ after the MOTD
//! (by the `irc` crate's `nick_password`). A taken nick is replaced by numbered
//! alternatives from [`nick::alternative`].
//!
//! Every outgoing line is a typed `irc` command built from sanitised parameters: nothing
//! from Matrix is concatenated into protocol text.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use base64::Engine;
use futures_util::StreamExt;
use irc::client::ClientStream;
use irc::client::prelude::{Client, Command, Config, Response, Sender};
use irc::proto::message::Tag;
use irc::proto::{CapSubCommand, Message};
use mxbridge_core::secret::Secret;
use tokio::sync::mpsc;

use crate::nick;
use crate::pacing::{ConnectionClosed, PacedSender};
use crate::sanitize;

/// IRCv3 capabilities the bridge uses when the server offers them.
pub const WANTED_CAPS: &[&str] = &[
    "server-time",
    "message-tags",
    "echo-message",
    "batch",
    "labeled-response",
    "account-notify",
    "away-notify",
    "extended-join",
    "chghost",
    "cap-notify",
    "multi-prefix",
    "draft/multiline",
];

/// How to reach the server and who to be.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// Host name or address.
    pub server: String,
    /// Port.
    pub port: u16,
    /// Use TLS.
    pub tls: bool,
    /// Wanted nick; alternatives are tried when it is taken.
    pub nick: String,
    /// User name (ident).
    pub username: String,
    /// Real name (GECOS).
    pub realname: String,
    /// Account password for SASL PLAIN, or NickServ IDENTIFY when SASL is not offered.
    pub password: Option<Secret<String>>,
    /// Account name for SASL; the nick when absent.
    pub account: Option<String>,
    /// Flood control: at most this many lines ...
    pub max_messages_in_burst: u32,
    /// ... per this many seconds; further lines wait in a queue instead of being dropped.
    pub burst_window_secs: u32,
    /// Give up registering after this long.
    pub register_timeout: Duration,
}

impl ConnectOptions {
    /// Options with safe defaults for `nick` on `server:port`.
    pub fn new(server: impl Into<String>, port: u16, nick: impl Into<String>) -> Self {
        let nick = nick.into();
        Self {
            server: server.into(),
            port,
            tls: false,
            username: sanitize::word(&nick).to_lowercase(),
            realname: format!("{nick} (Matrix)"),
            nick,
            password: None,
            account: None,
            max_messages_in_burst: 5,
            burst_window_secs: 4,
            register_timeout: Duration::from_secs(30),
        }
    }
}

/// How SASL went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaslOutcome {
    /// No password, or the server does not offer SASL.
    NotTried,
    /// Authenticated.
    Succeeded,
    /// The server refused the credentials; the connection went on unauthenticated.
    Failed,
}

/// Connecting failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The TCP/TLS connection or the protocol failed.
    #[error("IRC connection failed: {0}")]
    Irc(#[from] irc::error::Error),
    /// The server did not finish registration in time.
    #[error("the IRC server did not accept the connection within {0:?}")]
    Timeout(Duration),
    /// The server closed the connection during registration.
    #[error("the IRC server closed the connection during registration: {0}")]
    Closed(String),
}

/// A registered connection.
pub struct Connection {
    /// Sends typed commands through the flood-control queue; cheap to clone.
    pub sender: PacedSender,
    /// The nick the server gave us.
    pub nick: String,
    /// Capabilities the server acknowledged.
    pub caps: HashSet<String>,
    /// Values the server gave with capabilities it offered (`draft/multiline` →
    /// `max-bytes=4096,max-lines=24`).
    pub cap_values: HashMap<String, String>,
    /// SASL result.
    pub sasl: SaslOutcome,
    /// Longest nick the server allows.
    pub nicklen: usize,
    /// Messages after registration. A task drives the connection (the `irc` crate only
    /// flushes outgoing lines while its stream is polled); the channel closes when the
    /// connection ends.
    /// Boxed: an unbounded channel allocates 32 slots at once, and a `Message` is 240
    /// bytes, which made this channel 7.7 KB of every idle puppet (BENCHMARKS.md).
    pub incoming: mpsc::UnboundedReceiver<Box<Message>>,
}

/// Connects, negotiates and registers.
pub async fn connect(opts: &ConnectOptions) -> Result<Connection, ConnectError> {
    let wanted_nick = nick::sanitize(&opts.nick, nick::DEFAULT_NICKLEN).unwrap_or_else(|| "matrixuser".to_owned());
    let config = Config {
        nickname: Some(wanted_nick.clone()),
        alt_nicks: (1..=9).map(|i| nick::alternative(&wanted_nick, i, nick::DEFAULT_NICKLEN)).collect(),
        username: Some(sanitize::word(&opts.username)),
        realname: Some(sanitize::one_line(&opts.realname)),
        server: Some(opts.server.clone()),
        port: Some(opts.port),
        use_tls: Some(opts.tls),
        ..Config::default()
    };
    let mut client = Client::from_config(config).await?;
    let mut stream = client.stream()?;
    let sender = client.sender();
    sender.send(Command::CAP(None, CapSubCommand::LS, Some("302".into()), None))?;
    sender.send(Command::NICK(wanted_nick.clone()))?;
    sender.send(Command::USER(sanitize::word(&opts.username), "0".into(), sanitize::one_line(&opts.realname)))?;

    let mut state = Negotiation {
        offered: Vec::new(),
        cap_values: HashMap::new(),
        caps: HashSet::new(),
        sasl: SaslOutcome::NotTried,
        cap_ended: false,
        nick: wanted_nick,
        nicklen: nick::DEFAULT_NICKLEN,
    };
    let registered = tokio::time::timeout(opts.register_timeout, async {
        while let Some(msg) = stream.next().await.transpose()? {
            if state.step(&msg, opts, &sender)? {
                return Ok::<bool, ConnectError>(true);
            }
        }
        Ok(false)
    })
    .await
    .map_err(|_| ConnectError::Timeout(opts.register_timeout))??;
    if !registered {
        return Err(ConnectError::Closed("no welcome from the server".into()));
    }
    // Without SASL the stored password goes to NickServ instead.
    if state.sasl == SaslOutcome::NotTried
        && !state.caps.contains("sasl")
        && let Some(pw) = &opts.password
    {
        sender.send_privmsg("NickServ", format!("IDENTIFY {}", sanitize::word(pw.expose())))?;
    }
    let (tx, incoming) = mpsc::unbounded_channel();
    tokio::spawn(drive(stream, tx));
    let window = Duration::from_secs(u64::from(opts.burst_window_secs.max(1)));
    Ok(Connection {
        sender: PacedSender::new(sender, opts.max_messages_in_burst, window),
        nick: state.nick,
        caps: state.caps,
        cap_values: state.cap_values,
        sasl: state.sasl,
        nicklen: state.nicklen,
        incoming,
    })
}

/// Polls the connection until it closes, forwarding what arrives. Keeps running while the
/// receiver is gone so queued lines still go out; ends when the server closes.
async fn drive(mut stream: ClientStream, tx: mpsc::UnboundedSender<Box<Message>>) {
    while let Some(next) = stream.next().await {
        match next {
            Ok(msg) => {
                let _ = tx.send(Box::new(msg));
            }
            Err(e) => {
                tracing::debug!(error = %e, "IRC connection ended");
                return;
            }
        }
    }
}

struct Negotiation {
    offered: Vec<String>,
    cap_values: HashMap<String, String>,
    caps: HashSet<String>,
    sasl: SaslOutcome,
    cap_ended: bool,
    nick: String,
    nicklen: usize,
}

impl Negotiation {
    fn end_caps(&mut self, sender: &Sender) -> Result<(), ConnectError> {
        if !self.cap_ended {
            self.cap_ended = true;
            sender.send(Command::CAP(None, CapSubCommand::END, None, None))?;
        }
        Ok(())
    }

    /// Handles one message during registration; true once the server welcomed us.
    fn step(&mut self, msg: &Message, opts: &ConnectOptions, sender: &Sender) -> Result<bool, ConnectError> {
        match &msg.command {
            Command::CAP(_, CapSubCommand::LS, more, list) => {
                // `CAP * LS * :caps...` continues; the last line has no `*`.
                let (continues, caps) = match (more, list) {
                    (Some(star), Some(caps)) if star == "*" => (true, caps.as_str()),
                    (Some(caps), None) | (_, Some(caps)) => (false, caps.as_str()),
                    (None, None) => (false, ""),
                };
                for cap in caps.split_whitespace() {
                    let (name, value) = cap.split_once('=').unwrap_or((cap, ""));
                    self.offered.push(name.to_owned());
                    if !value.is_empty() {
                        self.cap_values.insert(name.to_owned(), value.to_owned());
                    }
                }
                if !continues {
                    let mut request: Vec<&str> = WANTED_CAPS.iter().copied().filter(|c| self.offered.iter().any(|o| o == c)).collect();
                    if opts.password.is_some() && self.offered.iter().any(|o| o == "sasl") {
                        request.push("sasl");
                    }
                    if request.is_empty() {
                        self.end_caps(sender)?;
                    } else {
                        sender.send(Command::CAP(None, CapSubCommand::REQ, None, Some(request.join(" "))))?;
                    }
                }
            }
            Command::CAP(_, CapSubCommand::ACK, a, b) => {
                let list = b.as_deref().or(a.as_deref()).unwrap_or("");
                self.caps.extend(list.split_whitespace().map(|c| c.trim_start_matches('-').to_owned()));
                if self.caps.contains("sasl") && opts.password.is_some() {
                    sender.send(Command::AUTHENTICATE("PLAIN".into()))?;
                } else {
                    self.end_caps(sender)?;
                }
            }
            Command::CAP(_, CapSubCommand::NAK, _, _) => self.end_caps(sender)?,
            Command::AUTHENTICATE(arg) if arg == "+" => {
                let account = opts.account.clone().unwrap_or_else(|| self.nick.clone());
                let password = opts.password.as_ref().map(|p| p.expose().clone()).unwrap_or_default();
                let payload = base64::engine::general_purpose::STANDARD.encode(format!("{account}\0{account}\0{password}"));
                // Payloads over 400 bytes go in 400-byte pieces, then `+` if the last was full.
                for chunk in payload.as_bytes().chunks(400) {
                    sender.send(Command::AUTHENTICATE(String::from_utf8_lossy(chunk).into_owned()))?;
                }
                if payload.len() % 400 == 0 {
                    sender.send(Command::AUTHENTICATE("+".into()))?;
                }
            }
            Command::Response(Response::RPL_SASLSUCCESS, _) => {
                self.sasl = SaslOutcome::Succeeded;
                self.end_caps(sender)?;
            }
            Command::Response(
                Response::ERR_SASLFAIL | Response::ERR_SASLTOOLONG | Response::ERR_SASLABORT | Response::ERR_NICKLOCKED,
                _,
            ) => {
                self.sasl = SaslOutcome::Failed;
                self.end_caps(sender)?;
            }
            Command::Response(Response::RPL_WELCOME, args) => {
                if let Some(n) = args.first() {
                    self.nick = n.clone();
                }
                return Ok(true);
            }
            Command::Response(Response::RPL_ISUPPORT, args) => {
                if let Some(len) = args.iter().find_map(|a| a.strip_prefix("NICKLEN=")).and_then(|v| v.parse().ok()) {
                    self.nicklen = len;
                }
            }
            Command::ERROR(reason) => return Err(ConnectError::Closed(reason.clone())),
            _ => {}
        }
        Ok(false)
    }
}

/// How a line is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineKind {
    /// PRIVMSG.
    Message,
    /// NOTICE.
    Notice,
    /// CTCP ACTION (`/me`).
    Action,
}

/// The lines that carry text to a channel or nick: sanitised, split to fit the line
/// limit, one typed command per line.
pub fn line_commands(target: &str, kind: LineKind, text: &str) -> Vec<Command> {
    let target = sanitize::word(target);
    let (command, overhead) = match kind {
        LineKind::Message => ("PRIVMSG", 0),
        LineKind::Notice => ("NOTICE", 0),
        LineKind::Action => ("PRIVMSG", "\x01ACTION \x01".len()),
    };
    let lines = sanitize::split_lines(text, sanitize::text_budget(command, &target).saturating_sub(overhead));
    lines
        .into_iter()
        .map(|line| match kind {
            LineKind::Message => Command::PRIVMSG(target.clone(), line),
            LineKind::Notice => Command::NOTICE(target.clone(), line),
            LineKind::Action => Command::PRIVMSG(target.clone(), format!("\x01ACTION {line}\x01")),
        })
        .collect()
}

/// Limits a server puts on `draft/multiline` batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MultilineLimits {
    /// Most bytes of message text in one batch.
    pub max_bytes: usize,
    /// Most lines in one batch.
    pub max_lines: usize,
}

impl MultilineLimits {
    /// Parses the capability value (`max-bytes=4096,max-lines=24`); `max-bytes` is required.
    pub fn parse(value: &str) -> Option<Self> {
        let mut max_bytes = None;
        let mut max_lines = usize::MAX;
        for part in value.split(',') {
            match part.split_once('=') {
                Some(("max-bytes", v)) => max_bytes = v.parse().ok(),
                Some(("max-lines", v)) => max_lines = v.parse().ok()?,
                _ => {}
            }
        }
        Some(Self { max_bytes: max_bytes?, max_lines })
    }
}

/// IRCv3 `draft/multiline`: the lines of one message as one batch, so clients that know it
/// show one message. `None` when the lines do not fit the server's limits (they then go out
/// as separate lines).
pub fn multiline_batch(reference: &str, target: &str, lines: Vec<Command>, limits: MultilineLimits) -> Option<Vec<Message>> {
    let text_bytes: usize = lines
        .iter()
        .map(|c| match c {
            Command::PRIVMSG(_, t) | Command::NOTICE(_, t) => t.len(),
            _ => 0,
        })
        .sum();
    if lines.len() < 2 || lines.len() > limits.max_lines || text_bytes > limits.max_bytes {
        return None;
    }
    let batch = |sign: char, rest: &[&str]| {
        let mut args = vec![format!("{sign}{reference}")];
        args.extend(rest.iter().map(|a| (*a).to_owned()));
        Message { tags: None, prefix: None, command: Command::Raw("BATCH".into(), args) }
    };
    let mut out = vec![batch('+', &["draft/multiline", &sanitize::word(target)])];
    out.extend(lines.into_iter().map(|command| Message {
        tags: Some(vec![Tag("batch".into(), Some(reference.to_owned()))]),
        prefix: None,
        command,
    }));
    out.push(batch('-', &[]));
    Some(out)
}

/// Sends lines; `first_tags` (IRCv3 client tags such as `+draft/reply`) go on the first.
pub fn send_commands(sender: &PacedSender, commands: Vec<Command>, first_tags: Vec<Tag>) -> Result<usize, ConnectionClosed> {
    let n = commands.len();
    let mut tags = (!first_tags.is_empty()).then_some(first_tags);
    for command in commands {
        sender.send(Message { tags: tags.take(), prefix: None, command })?;
    }
    Ok(n)
}

/// Sends text to a channel or nick (see [`line_commands`]). Returns how many lines were sent.
pub fn send_text(sender: &PacedSender, target: &str, kind: LineKind, text: &str) -> Result<usize, ConnectionClosed> {
    send_commands(sender, line_commands(target, kind, text), Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_multiline_limits_come_from_the_capability_value() {
        assert_eq!(MultilineLimits::parse("max-bytes=4096,max-lines=24"), Some(MultilineLimits { max_bytes: 4096, max_lines: 24 }));
        assert_eq!(MultilineLimits::parse("max-bytes=4096"), Some(MultilineLimits { max_bytes: 4096, max_lines: usize::MAX }));
        assert_eq!(MultilineLimits::parse("max-lines=24"), None, "max-bytes is required");
    }

    #[test]
    fn test_a_multiline_batch_frames_the_lines_and_respects_the_limits() {
        let lines = line_commands("#c", LineKind::Message, "one\ntwo\r\nthree");
        let limits = MultilineLimits { max_bytes: 100, max_lines: 5 };
        let batch = multiline_batch("r1", "#c", lines.clone(), limits).expect("fits");
        let wire: Vec<String> = batch.iter().map(|m| m.to_string().trim_end().to_owned()).collect();
        assert_eq!(
            wire,
            vec![
                "BATCH +r1 draft/multiline #c",
                "@batch=r1 PRIVMSG #c one",
                "@batch=r1 PRIVMSG #c two",
                "@batch=r1 PRIVMSG #c three",
                "BATCH -r1",
            ]
        );
        assert!(multiline_batch("r1", "#c", lines.clone(), MultilineLimits { max_bytes: 100, max_lines: 2 }).is_none(), "too many lines");
        assert!(multiline_batch("r1", "#c", lines, MultilineLimits { max_bytes: 8, max_lines: 5 }).is_none(), "too many bytes");
        let single = line_commands("#c", LineKind::Message, "just one");
        assert!(multiline_batch("r1", "#c", single, limits).is_none(), "one line needs no batch");
    }
}
