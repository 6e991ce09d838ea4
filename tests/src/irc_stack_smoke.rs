//! The IRC half of the test stack works: InspIRCd takes clients and relays their messages,
//! offers the IRCv3 capabilities the bridge uses, and the linked Atheme services register
//! accounts and answer SASL PLAIN. When these fail, the IRC bridge tests' failures say
//! nothing about the bridge.
//!
//! Plain `TcpStream` and line I/O on purpose: nothing of the bridge's own IRC code is used.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::harness::env;

/// InspIRCd 3 finishes client registration on its once-a-second tick; services answer in
/// milliseconds. This bounds every single wait.
const WAIT: Duration = Duration::from_secs(15);

/// One parsed IRC line: `@tags :source COMMAND params... :trailing`.
#[derive(Debug, Clone)]
struct Line {
    raw: String,
    tags: Vec<(String, String)>,
    source: String,
    command: String,
    params: Vec<String>,
}

impl Line {
    fn parse(raw: &str) -> Line {
        let mut rest = raw;
        let mut tags = Vec::new();
        if let Some(r) = rest.strip_prefix('@') {
            let (t, r) = r.split_once(' ').unwrap_or((r, ""));
            for tag in t.split(';') {
                let (k, v) = tag.split_once('=').unwrap_or((tag, ""));
                tags.push((k.to_owned(), v.to_owned()));
            }
            rest = r.trim_start_matches(' ');
        }
        let mut source = String::new();
        if let Some(r) = rest.strip_prefix(':') {
            let (s, r) = r.split_once(' ').unwrap_or((r, ""));
            source = s.to_owned();
            rest = r.trim_start_matches(' ');
        }
        let (command, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
        let mut params = Vec::new();
        while !rest.is_empty() {
            if let Some(trailing) = rest.strip_prefix(':') {
                params.push(trailing.to_owned());
                break;
            }
            let (p, r) = rest.split_once(' ').unwrap_or((rest, ""));
            params.push(p.to_owned());
            rest = r.trim_start_matches(' ');
        }
        Line { raw: raw.to_owned(), tags, source, command: command.to_ascii_uppercase(), params }
    }

    /// The nick part of the source (`nick!user@host`).
    fn nick(&self) -> &str {
        self.source.split('!').next().unwrap_or_default()
    }

    fn param(&self, i: usize) -> &str {
        self.params.get(i).map(String::as_str).unwrap_or_default()
    }

    fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// A raw IRC client connection that answers PINGs while it waits.
struct Client {
    nick: String,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    /// The last lines received, for failure messages.
    recent: VecDeque<String>,
}

impl Client {
    async fn connect(nick: &str) -> Client {
        let addr = env::irc_server();
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(&addr))
            .await
            .unwrap_or_else(|_| panic!("connecting to {addr} timed out"))
            .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let (r, w) = stream.into_split();
        Client { nick: nick.to_owned(), reader: BufReader::new(r), writer: w, recent: VecDeque::new() }
    }

    /// Connects and registers (NICK/USER) without capability negotiation; returns after 001.
    async fn register(nick: &str) -> Client {
        let mut c = Client::connect(nick).await;
        c.send(&format!("NICK {nick}")).await;
        c.send(&format!("USER {nick} 0 * :mxbridge smoke test")).await;
        c.wait_for("001 (welcome)", |l| l.command == "001").await;
        c
    }

    async fn send(&mut self, line: &str) {
        self.writer.write_all(format!("{line}\r\n").as_bytes()).await.unwrap_or_else(|e| panic!("{}: sending {line:?}: {e}", self.nick));
    }

    /// Reads lines until one matches, for at most [`WAIT`]; PINGs are answered on the way.
    async fn wait_for(&mut self, what: &str, mut matches: impl FnMut(&Line) -> bool) -> Line {
        let found = tokio::time::timeout(WAIT, async {
            let mut buf = Vec::new();
            loop {
                buf.clear();
                let n = self.reader.read_until(b'\n', &mut buf).await.unwrap_or_else(|e| panic!("{}: reading: {e}", self.nick));
                if n == 0 {
                    return None;
                }
                let raw = String::from_utf8_lossy(&buf).trim_end_matches(['\r', '\n']).to_owned();
                if self.recent.len() == 30 {
                    self.recent.pop_front();
                }
                self.recent.push_back(raw.clone());
                let line = Line::parse(&raw);
                if line.command == "PING" {
                    let token = line.param(0).to_owned();
                    self.send(&format!("PONG :{token}")).await;
                }
                if matches(&line) {
                    return Some(line);
                }
            }
        })
        .await;
        let recent = self.recent.iter().map(|l| format!("\n  {l}")).collect::<String>();
        match found {
            Ok(Some(line)) => line,
            Ok(None) => panic!("{}: the server closed the connection while waiting for {what}; last lines:{recent}", self.nick),
            Err(_) => panic!("{}: no {what} within {WAIT:?}; last lines:{recent}", self.nick),
        }
    }

    async fn quit(mut self) {
        self.send("QUIT :done").await;
    }
}

/// A fresh nick, unique across test runs against the same services database: a letter,
/// then hex (IRC-safe, at most 30 characters).
fn random_nick(prefix: &str) -> String {
    format!("{prefix}{:08x}", rand::random::<u32>())
}

/// Standard base64 with padding (RFC 4648), for the SASL PLAIN payload.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Joins CHANNEL and waits until the server has sent the whole NAMES list.
async fn join(client: &mut Client, channel: &str) {
    client.send(&format!("JOIN {channel}")).await;
    client.wait_for("366 (end of NAMES) for the channel", |l| l.command == "366" && l.param(1).eq_ignore_ascii_case(channel)).await;
}

/// Registers the current nick of CLIENT with NickServ (password PASSWORD).
async fn nickserv_register(client: &mut Client, password: &str) {
    client.send(&format!("PRIVMSG NickServ :REGISTER {password} x@example.org")).await;
    let reply = client.wait_for("a NOTICE from NickServ", |l| l.command == "NOTICE" && l.nick() == "NickServ").await;
    assert!(reply.param(1).contains("is now registered"), "NickServ refused the registration: {}", reply.raw);
}

/// A new connection that authenticates as ACCOUNT with SASL PLAIN before registering;
/// returns the client and the numeric that ended the exchange (903 success, 904 failure).
async fn sasl_plain(account: &str, password: &str) -> (Client, Line) {
    let mut c = Client::connect(&random_nick("s")).await;
    c.send("CAP REQ :sasl").await;
    let nick = c.nick.clone();
    c.send(&format!("NICK {nick}")).await;
    c.send(&format!("USER {nick} 0 * :mxbridge smoke test")).await;
    let ack = c.wait_for("CAP ACK/NAK", |l| l.command == "CAP" && matches!(l.param(1), "ACK" | "NAK")).await;
    assert_eq!(ack.param(1), "ACK", "the server refused the sasl capability: {}", ack.raw);
    c.send("AUTHENTICATE PLAIN").await;
    let go = c.wait_for("AUTHENTICATE + (or a SASL error)", |l| l.command == "AUTHENTICATE" || l.command == "904").await;
    assert_eq!(go.command, "AUTHENTICATE", "SASL PLAIN refused before the credentials: {}", go.raw);
    assert_eq!(go.param(0), "+", "{}", go.raw);
    c.send(&format!("AUTHENTICATE {}", base64(format!("\0{account}\0{password}").as_bytes()))).await;
    let end = c.wait_for("903 or 904", |l| matches!(l.command.as_str(), "903" | "904" | "902" | "905" | "906")).await;
    (c, end)
}

#[test]
fn test_base64_matches_rfc_4648_vectors() {
    for (plain, encoded) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE=")] {
        assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
    }
    assert_eq!(base64(b"\0nick\0pw"), "AG5pY2sAcHc=");
}

#[tokio::test]
async fn test_irc_clients_register_join_and_see_each_others_messages() {
    let (alice_nick, bob_nick) = (random_nick("alice"), random_nick("bob"));
    // Both connect at once: each registration waits for the server's one-second tick.
    let (mut alice, mut bob) = tokio::join!(Client::register(&alice_nick), Client::register(&bob_nick));
    let channel = format!("#{}", random_nick("smoke"));

    join(&mut alice, &channel).await;
    join(&mut bob, &channel).await;
    alice.wait_for("bob's JOIN", |l| l.command == "JOIN" && l.nick() == bob_nick).await;

    alice.send(&format!("PRIVMSG {channel} :hello bob")).await;
    let got = bob.wait_for("alice's PRIVMSG", |l| l.command == "PRIVMSG" && l.nick() == alice_nick).await;
    assert!(got.param(0).eq_ignore_ascii_case(&channel), "{}", got.raw);
    assert_eq!(got.param(1), "hello bob");

    // And straight to a nick, the other way round.
    bob.send(&format!("PRIVMSG {alice_nick} :hi alice")).await;
    let got = alice.wait_for("bob's private PRIVMSG", |l| l.command == "PRIVMSG" && l.nick() == bob_nick).await;
    assert_eq!((got.param(0), got.param(1)), (alice_nick.as_str(), "hi alice"));
    alice.quit().await;
    bob.quit().await;
}

#[tokio::test]
async fn test_irc_server_offers_sasl_and_the_ircv3_caps_the_bridge_uses() {
    let nick = random_nick("caps");
    let mut c = Client::connect(&nick).await;
    c.send("CAP LS 302").await;
    c.send(&format!("NICK {nick}")).await;
    c.send(&format!("USER {nick} 0 * :mxbridge smoke test")).await;
    // A long list arrives on several lines: `CAP * LS * :...` until the last `CAP * LS :...`.
    let mut caps = Vec::new();
    loop {
        let l = c.wait_for("CAP LS", |l| l.command == "CAP" && l.param(1) == "LS").await;
        caps.extend(l.params.last().into_iter().flat_map(|p| p.split(' ')).filter(|c| !c.is_empty()).map(str::to_owned));
        if l.params.len() < 4 || l.param(2) != "*" {
            break;
        }
    }
    let names: Vec<&str> = caps.iter().map(|c| c.split('=').next().unwrap_or_default()).collect();
    for wanted in ["sasl", "server-time", "message-tags", "echo-message", "batch", "account-tag", "cap-notify"] {
        assert!(names.contains(&wanted), "CAP LS lacks {wanted}: {caps:?}");
    }
    let sasl = caps.iter().find(|c| c.split('=').next() == Some("sasl")).expect("sasl listed");
    if let Some(mechs) = sasl.strip_prefix("sasl=") {
        assert!(mechs.split(',').any(|m| m == "PLAIN"), "SASL PLAIN is not offered: {sasl}");
    }

    // The caps work: an echoed message carries server-time and a msgid.
    c.send("CAP REQ :server-time message-tags echo-message").await;
    let ack = c.wait_for("CAP ACK/NAK", |l| l.command == "CAP" && matches!(l.param(1), "ACK" | "NAK")).await;
    assert_eq!(ack.param(1), "ACK", "{}", ack.raw);
    c.send("CAP END").await;
    c.wait_for("001 (welcome)", |l| l.command == "001").await;
    let channel = format!("#{}", random_nick("caps"));
    join(&mut c, &channel).await;
    c.send(&format!("PRIVMSG {channel} :echo me")).await;
    let echo = c.wait_for("the echoed PRIVMSG", |l| l.command == "PRIVMSG" && l.nick() == nick).await;
    assert_eq!(echo.param(1), "echo me");
    let time = echo.tag("time").unwrap_or_else(|| panic!("no server-time tag: {}", echo.raw));
    assert!(time.ends_with('Z') && time.contains('T'), "not an ISO 8601 UTC time: {time}");
    assert!(echo.tag("msgid").is_some_and(|id| !id.is_empty()), "no msgid tag: {}", echo.raw);
    c.quit().await;
}

#[tokio::test]
async fn test_nickserv_registers_a_nick_and_sasl_plain_logs_it_in() {
    let account = random_nick("acct");
    let mut owner = Client::register(&account).await;
    nickserv_register(&mut owner, "s3cret-pw").await;

    // A new connection under another nick logs in to that account with SASL PLAIN.
    let (mut good, end) = sasl_plain(&account, "s3cret-pw").await;
    assert_eq!(end.command, "903", "SASL with the right password failed: {}", end.raw);
    good.send("CAP END").await;
    let welcome = good.wait_for("001 (welcome)", |l| l.command == "001").await;
    assert_eq!(welcome.param(0), good.nick);
    // And the server knows: WHOIS shows the account (330, from services_account).
    let me = good.nick.clone();
    good.send(&format!("WHOIS {me}")).await;
    let logged_in = good.wait_for("330 (logged in as) or 318 (end of WHOIS)", |l| matches!(l.command.as_str(), "330" | "318")).await;
    assert_eq!((logged_in.command.as_str(), logged_in.param(2)), ("330", account.as_str()), "{}", logged_in.raw);

    let (bad, end) = sasl_plain(&account, "wrong-pw").await;
    assert_eq!(end.command, "904", "SASL with a wrong password did not fail with 904: {}", end.raw);

    owner.quit().await;
    good.quit().await;
    bad.quit().await;
}
