//! The IRC user guide (/work/shared/reference/user-guides.md, "Using the Matrix IRC Bridge"),
//! typed as written: every line of its command lists is sent verbatim to the bot, with only
//! the example names changed (`#channel`/`#foobar` become a fresh test channel). The
//! guide's servers `irc.example.net`, `irc.network.net` and `irc.example.com` are the test
//! network's configured `addresses`, and `127.0.0.1` its real server. Each test checks what
//! the line does on the real InspIRCd (+ Atheme) and the real Synapse, not just that the bot
//! answered.

use std::time::Duration;

use irc::proto::{Command, Message};
use mxbridge_irc::connection::{ConnectOptions, Connection, LineKind, connect, send_text};
use serde_json::Value;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::harness::matrix_client::TestUser;
use crate::irc_connection::next_matching;
use crate::irc_e2e::{WAIT, irc_addr, next_join_of, next_privmsg, notice_from, shared_irc};

/// A Matrix user who started a DM with the bot, as the guide's "Getting Started" says.
struct Guide {
    user: TestUser,
    dm: String,
    bot: String,
}

impl Guide {
    async fn start(prefix: &str) -> Self {
        Self::start_as(TestUser::register(prefix).await).await
    }

    async fn start_as(mut user: TestUser) -> Self {
        let bot = shared_irc().bot_user_id.to_string();
        let dm = user.create_dm(&bot).await;
        user.wait_for_event(&dm, WAIT, notice_from(&bot, "management room")).await.expect("the bot answers in the DM");
        Self { user, dm, bot }
    }

    /// Types a guide line into the DM, as written.
    async fn say(&mut self, line: &str) -> String {
        self.user.send_text(&self.dm, line).await
    }

    /// Types a line and returns the bot's answer containing `needle`.
    async fn ask(&mut self, line: &str, needle: &str) -> String {
        self.say(line).await;
        let ev = self.user.wait_for_event(&self.dm, WAIT, bot_says(&self.bot, needle)).await.unwrap_or_else(|e| panic!("`{line}`: {e:?}"));
        ev["content"]["body"].as_str().unwrap_or_default().to_owned()
    }

    /// Fails if the bot answers anything within `quiet` (the guide: "These will not produce a
    /// reply"); the notice of the first connection is no answer.
    async fn no_answer(&mut self, quiet: Duration) {
        let bot = self.bot.clone();
        let answer = self
            .user
            .wait_for_event(&self.dm, quiet, move |ev| {
                ev["sender"] == bot.as_str()
                    && ev["type"] == "m.room.message"
                    && !ev["content"]["body"].as_str().is_some_and(|b| b.starts_with("Connected to IRC"))
            })
            .await;
        assert!(answer.is_err(), "the bot answered: {answer:?}");
    }

    /// Waits for the bot to say the first connection is up (the guide: "the bot will connect to
    /// the IRC network, then inform you that you are connected").
    async fn connected(&mut self) {
        let bot = self.bot.clone();
        self.user.wait_for_event(&self.dm, WAIT, bot_says(&bot, "Connected to IRC as")).await.expect("told of the connection");
    }

    /// Joins the room of the next invite.
    async fn accept_invite(&mut self) -> String {
        let room = self.user.wait_for_invite(WAIT, |_, _| true).await.expect("invited to the channel's room");
        self.user.join(&room).await;
        room
    }

    /// The user's current nick, from the bare `!nick`.
    async fn nick(&mut self) -> String {
        let answer = self.ask("!nick", "Your nick on testnet is").await;
        answer.trim_end_matches('.').rsplit(' ').next().unwrap_or_default().to_owned()
    }
}

fn bot_says(bot: &str, needle: &str) -> impl Fn(&Value) -> bool {
    let (bot, needle) = (bot.to_owned(), needle.to_owned());
    move |ev: &Value| ev["sender"] == bot.as_str() && ev["content"]["body"].as_str().is_some_and(|b| b.contains(needle.as_str()))
}

fn channel(prefix: &str) -> String {
    format!("#{prefix}{}", rand::random::<u32>())
}

/// A plain IRC user in `channel`, once the server confirmed the join (so it is op when first).
async fn pal_in(channel: &str) -> (Connection, String) {
    let (host, port) = irc_addr();
    let nick = format!("pal{}", rand::random::<u32>() % 1_000_000);
    let mut pal = connect(&ConnectOptions::new(host, port, &nick)).await.expect("the IRC user connects");
    pal.sender.send_join(channel).unwrap();
    next_matching(&mut pal.incoming, |m| matches!(&m.command, Command::JOIN(..)) && m.source_nickname() == Some(nick.as_str())).await;
    (pal, nick)
}

fn ghost_of(nick: &str) -> String {
    format!("@_irc_{}:{}", nick.to_lowercase(), shared_irc().domain)
}

/// Whether `nick` joined `channel` within `wait`.
async fn joins_within(incoming: &mut UnboundedReceiver<Box<Message>>, nick_prefix: &str, wait: Duration) -> Option<String> {
    tokio::time::timeout(wait, async {
        while let Some(m) = incoming.recv().await {
            if matches!(&m.command, Command::JOIN(..)) && m.source_nickname().is_some_and(|n| n.starts_with(nick_prefix)) {
                return m.source_nickname().map(str::to_owned);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}

/// The account name WHOIS shows for `nick` (numeric 330), if logged in.
async fn account_of(pal: &mut Connection, nick: &str) -> Option<String> {
    pal.sender.send(Command::WHOIS(None, nick.to_owned())).unwrap();
    tokio::time::timeout(WAIT, async {
        while let Some(msg) = pal.incoming.recv().await {
            match &msg.command {
                Command::Raw(numeric, args) if numeric == "330" => return args.get(2).cloned(),
                Command::Response(irc::proto::Response::RPL_ENDOFWHOIS, _) => return None,
                Command::Raw(numeric, _) if numeric == "318" => return None,
                _ => {}
            }
        }
        None
    })
    .await
    .expect("WHOIS answers")
}

// ---- Getting started and Actions ----

/// `!help`: the bot lists the commands, the IRC ones among them.
#[tokio::test]
async fn test_guide_help() {
    let mut g = Guide::start("ghelp").await;
    let help = g.ask("!help", "join").await;
    for command in [
        "join [net] <#channel> [key]",
        "nick",
        "quit",
        "active",
        "storepass",
        "removepass",
        "username",
        "reconnect",
        "listrooms",
        "whois",
        "bridgeversion",
        "cmd",
        "feature",
        "unlink",
    ] {
        assert!(help.contains(&format!("`!{command}")), "`!{command}` is listed, written as the user typed `!help`: {help}");
    }
    assert!(!help.contains("plumb"), "help lists only what the user may run, and plumbing is for admins: {help}");
    let mut admin = Guide::start_as(TestUser::register_or_login("admin").await).await;
    let help = admin.ask("!help", "join").await;
    assert!(help.contains("plumb [!room:server] [network] <chat>"), "an admin sees plumb: {help}");
}

/// `!join [irc.example.net] #channel [key]` without the optional network: the puppet joins
/// the channel, the user is invited to its room, and they talk both ways.
#[tokio::test]
async fn test_guide_join_channel() {
    let chan = channel("gj");
    let (mut pal, pal_nick) = pal_in(&chan).await;
    let mut g = Guide::start("gjoin").await;
    let answer = g.ask(&format!("!join {chan}"), "Joining").await;
    assert!(answer.contains(&chan), "{answer}");
    let puppet = next_join_of(&mut pal.incoming, "gjoin").await;
    let room = g.accept_invite().await;
    assert_eq!(g.user.get_state(&room, "m.room.name", "").await["name"], chan.as_str());
    g.user.send_text(&room, "hello from the guide").await;
    next_privmsg(&mut pal.incoming, |from, t| from == puppet && t == "hello from the guide").await;
    send_text(&pal.sender, &chan, LineKind::Message, "hello back").unwrap();
    let ghost = ghost_of(&pal_nick);
    g.user
        .wait_for_event(&room, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "hello back")
        .await
        .expect("IRC → Matrix");
}

/// `!join [irc.example.net] #channel [key]` naming the network by the guide's address and by
/// the server's own address.
#[tokio::test]
async fn test_guide_join_with_server_address() {
    let (first, second) = (channel("gja"), channel("gjb"));
    let (mut pal, _) = pal_in(&first).await;
    pal.sender.send_join(&second).unwrap();
    let mut g = Guide::start("gjaddr").await;
    g.ask(&format!("!join irc.example.net {first}"), "Joining").await;
    let puppet = next_join_of(&mut pal.incoming, "gjaddr").await;
    let room = g.accept_invite().await;
    assert_eq!(g.user.get_state(&room, "m.room.name", "").await["name"], first.as_str());
    g.ask(&format!("!join 127.0.0.1 {second}"), "Joining").await;
    let again = next_matching(&mut pal.incoming, |m| {
        matches!(&m.command, Command::JOIN(c, ..) if c.eq_ignore_ascii_case(&second)) && m.source_nickname() == Some(puppet.as_str())
    })
    .await;
    assert_eq!(again.source_nickname(), Some(puppet.as_str()), "the same puppet, on the one network");
    let unknown = g.ask(&format!("!join irc.elsewhere.net {first}"), "no network called").await;
    assert!(unknown.contains("testnet"), "the known network is named: {unknown}");
}

/// `!join irc.example.com #locked password`: a channel with a key (+k), as the guide's first
/// command of a new user; without the key the server keeps the puppet out.
#[tokio::test]
async fn test_guide_join_locked_channel_with_key() {
    let locked = channel("locked");
    let (mut pal, _) = pal_in(&locked).await;
    pal.sender.send(Command::Raw("MODE".into(), vec![locked.clone(), "+k".into(), "password".into()])).unwrap();
    next_matching(&mut pal.incoming, |m| m.to_string().contains("+k")).await;

    let mut keyless = Guide::start("gnokey").await;
    keyless.ask(&format!("!join {locked}"), "Joining").await;
    assert_eq!(joins_within(&mut pal.incoming, "gnokey", Duration::from_secs(3)).await, None, "+k keeps out a join without the key");

    let mut g = Guide::start("gkey").await;
    g.ask(&format!("!join irc.example.com {locked} password"), "Joining").await;
    assert!(joins_within(&mut pal.incoming, "gkey", WAIT).await.is_some(), "the key lets the puppet in");
    let room = g.accept_invite().await;
    assert_eq!(g.user.get_state(&room, "m.room.name", "").await["name"], locked.as_str());
    // The key is kept for rejoins: after a reconnect the puppet is back in the channel.
    g.ask("!reconnect", "Reconnected to testnet").await;
    assert!(joins_within(&mut pal.incoming, "gkey", WAIT).await.is_some(), "rejoined with the key");
}

/// `!nick [irc.example.net] DesiredNick`, and `!nick` alone showing the nick and how to change it.
#[tokio::test]
async fn test_guide_nick() {
    let chan = channel("gn");
    let (mut pal, _) = pal_in(&chan).await;
    let mut g = Guide::start("gnick").await;
    g.ask(&format!("!join {chan}"), "Joining").await;
    let before = next_join_of(&mut pal.incoming, "gnick").await;
    let shown = g.ask("!nick", "Your nick on testnet is").await;
    assert!(shown.ends_with(&format!("{before}.")) && shown.contains("send `!nick <new nick>`"), "{shown}");

    let desired = format!("Desired{}", rand::random::<u32>() % 100_000);
    g.ask(&format!("!nick irc.example.net {desired}"), "Asked testnet for the nick").await;
    next_matching(&mut pal.incoming, |m| {
        matches!(&m.command, Command::NICK(n) if *n == desired) && m.source_nickname() == Some(before.as_str())
    })
    .await;
    assert_eq!(g.nick().await, desired);
    let plain = format!("Plain{}", rand::random::<u32>() % 100_000);
    g.ask(&format!("!nick {plain}"), "Asked testnet for the nick").await;
    next_matching(&mut pal.incoming, |m| matches!(&m.command, Command::NICK(n) if *n == plain)).await;
    let shown = g.ask("!nick irc.example.net", "Your nick on testnet is").await;
    assert!(shown.ends_with(&format!("{plain}.")), "{shown}");
}

/// `!quit`: the puppet quits IRC and the user leaves the channel's room.
#[tokio::test]
async fn test_guide_quit() {
    let chan = channel("gq");
    let (mut pal, _) = pal_in(&chan).await;
    let mut g = Guide::start("gquit").await;
    g.ask(&format!("!join {chan}"), "Joining").await;
    let puppet = next_join_of(&mut pal.incoming, "gquit").await;
    let room = g.accept_invite().await;
    g.ask("!quit", "left 1 channel(s)").await;
    next_matching(&mut pal.incoming, |m| matches!(&m.command, Command::QUIT(_)) && m.source_nickname() == Some(puppet.as_str())).await;
    g.user.wait_for_membership(&room, "leave", WAIT).await.expect("removed from the room");
}

/// `!active`: the connection is kept even when idle; it stays up.
#[tokio::test]
async fn test_guide_active() {
    let chan = channel("ga");
    let (mut pal, _) = pal_in(&chan).await;
    let mut g = Guide::start("gactive").await;
    g.ask(&format!("!join {chan}"), "Joining").await;
    let puppet = next_join_of(&mut pal.incoming, "gactive").await;
    g.ask("!active", "stays up even when you are idle").await;
    let quit = tokio::time::timeout(Duration::from_secs(2), async {
        next_matching(&mut pal.incoming, |m| matches!(&m.command, Command::QUIT(_)) && m.source_nickname() == Some(puppet.as_str())).await
    })
    .await;
    assert!(quit.is_err(), "the connection stays");
}

/// `!cmd [irc.example.net] COMMAND [arg0 [arg1 [...]]]`: a raw command with the network
/// named; it reaches IRC and the bot stays silent.
#[tokio::test]
async fn test_guide_cmd_with_network() {
    let chan = channel("gc");
    let (mut pal, pal_nick) = pal_in(&chan).await;
    let mut g = Guide::start("gcmd").await;
    g.ask(&format!("!join {chan}"), "Joining").await;
    let puppet = next_join_of(&mut pal.incoming, "gcmd").await;
    // The puppet arrived second, so the IRC user is op and makes it op, to let it set modes.
    pal.sender.send(Command::Raw("MODE".into(), vec![chan.clone(), "+o".into(), puppet.clone()])).unwrap();
    next_matching(&mut pal.incoming, |m| m.to_string().contains("+o")).await;
    g.say(&format!("!cmd irc.example.net MODE {chan} +v {pal_nick}")).await;
    let mode = next_matching(&mut pal.incoming, |m| m.to_string().contains("+v")).await;
    assert_eq!(mode.source_nickname(), Some(puppet.as_str()), "the user's puppet sent it");
    g.no_answer(Duration::from_millis(1500)).await;
}

/// `!cmd PRIVMSG USERNAME MESSAGE`: the IRC user gets the whole message, and no room is made.
#[tokio::test]
async fn test_guide_cmd_privmsg() {
    let chan = channel("gp");
    let (mut pal, pal_nick) = pal_in(&chan).await;
    let mut g = Guide::start("gpriv").await;
    g.ask(&format!("!join {chan}"), "Joining").await;
    let puppet = next_join_of(&mut pal.incoming, "gpriv").await;
    let _room = g.accept_invite().await;
    g.say(&format!("!cmd PRIVMSG {pal_nick} hello without a room")).await;
    let pm = next_matching(&mut pal.incoming, |m| matches!(&m.command, Command::PRIVMSG(_, t) if t == "hello without a room")).await;
    assert_eq!(pm.source_nickname(), Some(puppet.as_str()));
    let Command::PRIVMSG(target, _) = &pm.command else { unreachable!() };
    assert!(target.eq_ignore_ascii_case(&pal_nick), "a private message: {target}");
    let invite = g.user.wait_for_invite(Duration::from_secs(2), |_, _| true).await;
    assert!(invite.is_err(), "no Matrix room was made: {invite:?}");
    g.no_answer(Duration::from_millis(500)).await;
}

/// `!feature feature-name [true/false/default]`: `mentions` shown, turned off (the user's
/// nick in an IRC line is no pill any more) and back to the default (a pill again).
#[tokio::test]
async fn test_guide_feature() {
    let chan = channel("gf");
    let (pal, pal_nick) = pal_in(&chan).await;
    let mut g = Guide::start("gfeat").await;
    g.ask(&format!("!join {chan}"), "Joining").await;
    let room = g.accept_invite().await;
    let puppet = g.nick().await;
    let ghost = ghost_of(&pal_nick);
    let pill = format!("https://matrix.to/#/{}", g.user.user_id);
    let line = async |g: &mut Guide, text: &str| -> bool {
        send_text(&pal.sender, &chan, LineKind::Message, &format!("{puppet}: {text}")).unwrap();
        let ev = g.user.wait_for_event(&room, WAIT, bot_says(&ghost, text)).await.expect("the line arrives");
        ev["content"]["formatted_body"].as_str().is_some_and(|h| h.contains(&pill))
    };
    g.ask("!feature mentions", "mentions is on").await;
    assert!(line(&mut g, "one").await, "a pill by default");
    g.ask("!feature mentions false", "no longer becomes a mention").await;
    assert!(!line(&mut g, "two").await, "no pill when off");
    g.ask("!feature mentions", "mentions is off").await;
    g.ask("!feature mentions default", "becomes a mention of you").await;
    assert!(line(&mut g, "three").await, "a pill again");
    g.ask("!feature mentions true", "becomes a mention of you").await;
}

// ---- Authentication ----

/// `!username [irc.example.net] username`, `!storepass [irc.example.net] passw0rd`,
/// `!reconnect [irc.example.net]`, `!removepass [irc.example.net]`: the guide's "IRC
/// Authentication" flow. The puppet logs in to its NickServ account with SASL, and after
/// `removepass` and `reconnect` it is no longer logged in.
#[tokio::test]
async fn test_guide_authentication_flow() {
    let chan = channel("gauth");
    let (mut pal, _) = pal_in(&chan).await;
    let account = format!("acct{}", rand::random::<u32>() % 1_000_000);
    let (host, port) = irc_addr();
    let mut registrar = connect(&ConnectOptions::new(host, port, &account)).await.unwrap();
    registrar.sender.send_privmsg("NickServ", format!("REGISTER passw0rd {account}@example.org")).unwrap();
    next_matching(&mut registrar.incoming, |m| matches!(&m.command, Command::NOTICE(_, t) if t.contains("registered"))).await;
    registrar.sender.send_quit("done").unwrap();

    let mut g = Guide::start("gauth").await;
    g.ask(&format!("!join {chan}"), "Joining").await;
    next_join_of(&mut pal.incoming, "gauth").await;
    g.ask(&format!("!username irc.example.net {account}"), "Account name set").await;
    let secret = g.say("!storepass irc.example.net passw0rd").await;
    g.user.wait_for_event(&g.dm, WAIT, bot_says(&g.bot, "Password stored")).await.expect("stored");
    g.user
        .wait_for_event(&g.dm, WAIT, |ev| {
            ev["type"] == "m.room.redaction" && (ev["redacts"] == secret.as_str() || ev["content"]["redacts"] == secret.as_str())
        })
        .await
        .expect("the message with the password is redacted");
    g.ask("!reconnect irc.example.net", "logged in with SASL").await;
    let nick = g.nick().await;
    assert_eq!(account_of(&mut pal, &nick).await.as_deref(), Some(account.as_str()), "logged in to the account");

    g.ask("!removepass irc.example.net", "Password removed").await;
    let answer = g.ask("!reconnect irc.example.net", "Reconnected to testnet").await;
    assert!(!answer.contains("SASL"), "no login without the password: {answer}");
    let nick = g.nick().await;
    assert_eq!(account_of(&mut pal, &nick).await, None, "no longer logged in");
}

/// `!reconnect [irc.example.net]` without a stored password (the guide's troubleshooting
/// step): the puppet leaves IRC, comes back and rejoins its channels.
#[tokio::test]
async fn test_guide_reconnect() {
    let chan = channel("gr");
    let (mut pal, _) = pal_in(&chan).await;
    let mut g = Guide::start("grecon").await;
    g.ask(&format!("!join {chan}"), "Joining").await;
    let puppet = next_join_of(&mut pal.incoming, "grecon").await;
    g.ask("!reconnect", "Reconnected to testnet").await;
    next_matching(&mut pal.incoming, |m| matches!(&m.command, Command::QUIT(_)) && m.source_nickname() == Some(puppet.as_str())).await;
    next_join_of(&mut pal.incoming, "grecon").await;
    g.ask("!reconnect 127.0.0.1", "Reconnected to testnet").await;
}

// ---- Info ----

/// `!bridgeversion`.
#[tokio::test]
async fn test_guide_bridgeversion() {
    let mut g = Guide::start("gver").await;
    let answer = g.ask("!bridgeversion", "mxbridge ").await;
    let version = answer.split_whitespace().nth(1).unwrap_or_default();
    assert!(version.split('.').count() == 3 && version.split('.').all(|p| p.parse::<u32>().is_ok()), "a version: {answer}");
    assert!(answer.contains("testnet"), "{answer}");
}

/// `!listrooms [irc.example.net]`: the joined channels with links to their rooms.
#[tokio::test]
async fn test_guide_listrooms() {
    let chan = channel("gl");
    let mut g = Guide::start("glist").await;
    g.ask(&format!("!join {chan}"), "Joining").await;
    let room = g.accept_invite().await;
    for line in ["!listrooms irc.example.net", "!listrooms"] {
        let list = g.ask(line, "Your channels on testnet").await;
        assert!(list.contains(&chan) && list.contains(&format!("https://matrix.to/#/{room}")), "`{line}`: {list}");
    }
}

/// `!whois [irc.example.net] NickName|@alice:matrix.org`: an IRC nick's WHOIS, a Matrix user's
/// nick, and an error for a Matrix user without a connection.
#[tokio::test]
async fn test_guide_whois() {
    let chan = channel("gw");
    let (_pal, pal_nick) = pal_in(&chan).await;
    let mut g = Guide::start("gwhois").await;
    g.ask(&format!("!join {chan}"), "Joining").await;
    g.connected().await;
    let puppet = g.nick().await;
    let answer = g.ask(&format!("!whois irc.example.net {pal_nick}"), &pal_nick).await;
    assert!(answer.contains(&chan), "WHOIS shows the IRC user's channel: {answer}");
    let me = g.user.user_id.clone();
    g.ask(&format!("!whois {me}"), &format!("{me} is {puppet} on testnet")).await;
    g.ask(&format!("!whois irc.example.net {me}"), &format!("{me} is {puppet} on testnet")).await;
    g.ask("!whois irc.example.net @nobody:localhost", "has no IRC connection").await;
}

// ---- Management ----

/// An admin with a DM, a room made by `owner` with the bot in it, and an IRC user in a new
/// channel.
async fn room_with_bot(owner: &mut TestUser, name: &str) -> String {
    let bot = shared_irc().bot_user_id.to_string();
    let room = owner.create_room(name, std::slice::from_ref(&bot)).await;
    owner
        .wait_for_event(&room, WAIT, |ev| {
            ev["type"] == "m.room.member" && ev["state_key"] == bot.as_str() && ev["content"]["membership"] == "join"
        })
        .await
        .expect("the bot joins the room it was invited to");
    room
}

/// `!plumb !room:example.com irc.network.net #channel`: only a bridge admin may, only into a
/// room the bot was invited to; then IRC and the room talk, users without a connection
/// relayed by the bot's.
#[tokio::test]
async fn test_guide_plumb() {
    let chan = channel("gpl");
    let (mut pal, pal_nick) = pal_in(&chan).await;
    let mut admin = Guide::start_as(TestUser::register_or_login("admin").await).await;
    let room = room_with_bot(&mut admin.user, "plumbed by the guide").await;
    let lonely = admin.user.create_room("no bot here", &[]).await;

    let mut someone = Guide::start("gplnot").await;
    someone.ask(&format!("!plumb {room} irc.network.net {chan}"), "admin").await;
    admin.ask(&format!("!plumb {lonely} irc.network.net {chan}"), "invite").await;
    admin.ask(&format!("!plumb {room} irc.network.net {chan}"), "Linked").await;
    let relay = next_join_of(&mut pal.incoming, "MatrixBridge").await;

    send_text(&pal.sender, &chan, LineKind::Message, "hello plumbed").unwrap();
    let ghost = ghost_of(&pal_nick);
    admin.user.wait_for_event(&room, WAIT, bot_says(&ghost, "hello plumbed")).await.expect("IRC → the plumbed room");
    let mut relayed = TestUser::register_or_login("relayonly").await;
    admin.user.invite(&room, relayed.user_id.as_str()).await;
    relayed.join(&room).await;
    relayed.send_text(&room, "relayed by the guide").await;
    let (_, text) = next_privmsg(&mut pal.incoming, |from, t| from == relay && t.ends_with("relayed by the guide")).await;
    assert!(text.starts_with("<relayonly"), "{text}");
}

/// `!unlink !room:example.com irc.example.net #foobar`: the room's moderator (here not a bridge
/// admin) may; another member may not; a channel the room is not linked to is refused and
/// changes nothing.
#[tokio::test]
async fn test_guide_unlink() {
    let foobar = channel("foobar");
    let (mut pal, pal_nick) = pal_in(&foobar).await;
    let mut moderator = Guide::start("gunmod").await;
    let room = room_with_bot(&mut moderator.user, "to be unlinked").await;
    let mut admin = Guide::start_as(TestUser::register_or_login("admin").await).await;
    admin.ask(&format!("!plumb {room} irc.network.net {foobar}"), "Linked").await;
    let relay = next_join_of(&mut pal.incoming, "MatrixBridge").await;

    let mut member = Guide::start("gunmem").await;
    moderator.user.invite(&room, member.user.user_id.as_str()).await;
    member.user.join(&room).await;
    member.ask(&format!("!unlink {room} irc.example.net {foobar}"), "for bridge admins and the room's moderators").await;
    let wrong = moderator.ask(&format!("!unlink {room} irc.example.net #elsewhere"), "nothing was unlinked").await;
    assert!(wrong.contains(&foobar.to_lowercase()), "says what the room is linked to: {wrong}");
    moderator.ask(&format!("!unlink {room} irc.elsewhere.net {foobar}"), "does not serve a network called").await;
    send_text(&pal.sender, &foobar, LineKind::Message, "still linked").unwrap();
    moderator.user.wait_for_event(&room, WAIT, bot_says(&ghost_of(&pal_nick), "still linked")).await.expect("still bridged");

    moderator.ask(&format!("!unlink {room} irc.example.net {foobar}"), "no longer linked").await;
    next_matching(&mut pal.incoming, |m| matches!(&m.command, Command::PART(..)) && m.source_nickname() == Some(relay.as_str())).await;
    moderator.ask(&format!("!unlink {room} irc.example.net {foobar}"), "not linked to anything").await;

    // A bridge admin who is not even in the room may unlink it too.
    admin.ask(&format!("!plumb {room} irc.network.net {foobar}"), "Linked").await;
    next_join_of(&mut pal.incoming, "MatrixBridge").await;
    admin.ask(&format!("!unlink {room} irc.example.net {foobar}"), "no longer linked").await;
    next_matching(&mut pal.incoming, |m| matches!(&m.command, Command::PART(..)) && m.source_nickname() == Some(relay.as_str())).await;
}

// ---- Aliases ----

/// `#_irc_#channel:server`, the alias form the guide gives (`#_oftc_#channame:matrix.org`),
/// typed with its literal `#`: it leads to the channel's room, which is the room of the
/// escaped `#_irc_=23channel` form too, and Matrix and IRC talk through it.
#[tokio::test]
async fn test_guide_alias_with_literal_hash() {
    let config = shared_irc();
    let chan = channel("galias");
    let (mut pal, pal_nick) = pal_in(&chan).await;
    let mut user = TestUser::register("galias").await;
    let literal = format!("#_irc_{chan}:{}", config.domain);
    let room = user.join(&literal).await;
    let puppet = next_join_of(&mut pal.incoming, "galias").await;
    assert_eq!(
        user.get_state(&room, "m.room.canonical_alias", "").await["alias"],
        literal.as_str(),
        "matrix-appservice-irc's alias is canonical"
    );

    user.send_text(&room, "via the literal alias").await;
    next_privmsg(&mut pal.incoming, |from, t| from == puppet && t == "via the literal alias").await;
    send_text(&pal.sender, &chan, LineKind::Message, "back through it").unwrap();
    let ghost = ghost_of(&pal_nick);
    user.wait_for_event(&room, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "back through it")
        .await
        .expect("IRC → Matrix");

    let escaped = format!("#_irc_=23{}:{}", &chan[1..], config.domain);
    assert_eq!(user.resolve_alias(&escaped).await.as_deref(), Some(room.as_str()), "the escaped form is the same room");
    let other = TestUser::register("galias2").await;
    assert_eq!(other.join(&escaped).await, room);
    let upper = format!("#_irc_#{}:{}", chan[1..].to_uppercase(), config.domain);
    assert_eq!(other.join(&upper).await, room, "IRC channel names are case-insensitive");
}
