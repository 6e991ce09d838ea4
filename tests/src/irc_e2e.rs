//! The IRC bridge end to end: a Matrix user on the real Synapse, puppets on the real
//! InspIRCd, and a plain IRC client on the other side.

use std::sync::OnceLock;
use std::time::Duration;

use irc::proto::{Command, Message};
use mxbridge_core::config::Config;
use mxbridge_irc::connection::{ConnectOptions, LineKind, connect, send_text};
use mxbridge_irc::{IrcConfig, IrcNetwork};
use serde_json::Value;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::demo_bridge::{RunningBridge, config, network_section, run_forever, state_dir};
use crate::harness::matrix_client::TestUser;

pub(crate) const WAIT: Duration = Duration::from_secs(20);

pub(crate) fn irc_addr() -> (String, u16) {
    let addr = crate::harness::env::irc_server();
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    (host.to_owned(), port.parse().expect("port"))
}

/// The IRC fixture pointed at the stack's InspIRCd.
fn irc_bridge_config() -> (Config, IrcConfig) {
    let mut config = config("irc", &state_dir("irc"));
    let (host, port) = irc_addr();
    config.network["server"] = host.into();
    config.network["port"] = port.into();
    let irc: IrcConfig = serde_json::from_value(network_section(&config)).expect("irc section");
    (config, irc)
}

pub(crate) async fn next_privmsg(incoming: &mut UnboundedReceiver<Box<Message>>, pred: impl Fn(&str, &str) -> bool) -> (String, String) {
    tokio::time::timeout(WAIT, async {
        while let Some(msg) = incoming.recv().await {
            if let Command::PRIVMSG(_, text) = &msg.command {
                let from = msg.source_nickname().unwrap_or("").to_owned();
                if pred(&from, text) {
                    return (from, text.clone());
                }
            }
        }
        panic!("the IRC connection closed");
    })
    .await
    .expect("the IRC message arrived in time")
}

/// One IRC bridge for all tests here, on its own thread and runtime (its port is fixed by
/// the registration).
pub(crate) fn shared_irc() -> &'static Config {
    static SHARED: OnceLock<Config> = OnceLock::new();
    SHARED.get_or_init(|| {
        run_forever(|| async {
            let (config, irc) = irc_bridge_config();
            let bridge =
                RunningBridge::start_with(config, IrcNetwork::new(irc), mxbridge_demo::DemoNetwork::new(Default::default()).1).await;
            (bridge.config.clone(), bridge)
        })
    })
}

/// The nick of the next user to join whose nick starts with `prefix` (a Matrix user's
/// puppet, named after them).
pub(crate) async fn next_join_of(incoming: &mut UnboundedReceiver<Box<Message>>, prefix: &str) -> String {
    let join = crate::irc_connection::next_matching(incoming, |m| {
        matches!(&m.command, Command::JOIN(..)) && m.source_nickname().is_some_and(|n| n.starts_with(prefix))
    })
    .await;
    join.source_nickname().unwrap_or_default().to_owned()
}

pub(crate) fn notice_from(bot: &str, needle: &'static str) -> impl Fn(&Value) -> bool {
    let bot = bot.to_owned();
    move |ev: &Value| ev["sender"] == bot.as_str() && ev["content"]["body"].as_str().is_some_and(|b| b.contains(needle))
}

/// A Matrix user with a management room who joined `channel`; returns the portal.
pub(crate) async fn user_in_channel(prefix: &str, channel: &str) -> (TestUser, String, String) {
    let bot = shared_irc().bot_user_id.to_string();
    let mut user = TestUser::register(prefix).await;
    let dm = user.create_dm(&bot).await;
    user.wait_for_event(&dm, WAIT, notice_from(&bot, "management room")).await.expect("welcome");
    user.send_text(&dm, &format!("join {channel}")).await;
    user.wait_for_event(&dm, WAIT, notice_from(&bot, "Joining")).await.expect("joining");
    let portal = user.wait_for_invite(WAIT, |_, _| true).await.expect("invited");
    user.join(&portal).await;
    (user, dm, portal)
}

#[tokio::test]
async fn test_two_matrix_users_share_a_channel_without_echoes_and_membership_is_mirrored() {
    let config = shared_irc();
    let channel = format!("#two{}", rand::random::<u32>());
    let (mut one, _, portal) = user_in_channel("one", &channel).await;
    let (mut two, _, portal_two) = user_in_channel("two", &channel).await;
    assert_eq!(portal, portal_two, "one room per channel");

    // An IRC user joins: its ghost joins the room; it talks; it quits: its ghost leaves.
    let (host, port) = irc_addr();
    let pal_nick = format!("pal{}", rand::random::<u32>() % 1_000_000);
    let mut pal = connect(&ConnectOptions::new(host, port, &pal_nick)).await.unwrap();
    pal.sender.send_join(&channel).unwrap();
    let ghost = format!("@_irc_{}:{}", pal_nick.to_lowercase(), config.domain);
    one.wait_for_event(&portal, WAIT, |ev| {
        ev["type"] == "m.room.member" && ev["state_key"] == ghost.as_str() && ev["content"]["membership"] == "join"
    })
    .await
    .expect("the IRC user's ghost joins");

    // A Matrix message goes to IRC once, and does not come back as a ghost of the other puppet.
    let marker = format!("from one {}", rand::random::<u32>());
    one.send_text(&portal, &marker).await;
    next_privmsg(&mut pal.incoming, |_, t| t == marker).await;
    send_text(&pal.sender, &channel, LineKind::Message, "probe after").unwrap();
    two.wait_for_event(&portal, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "probe after")
        .await
        .expect("the probe arrives");
    let copies = two
        .wait_for_event(&portal, Duration::from_millis(10), |ev| {
            ev["content"]["body"] == marker.as_str() && ev["sender"] != one.user_id.as_str()
        })
        .await;
    assert!(copies.is_err(), "no ghost copy of a Matrix user's own message: {copies:?}");
    let probes = two.wait_for_event(&portal, Duration::from_millis(10), |ev| ev["content"]["body"] == "probe after").await;
    assert!(probes.is_err(), "an IRC line seen by two puppets arrives once");

    // A Matrix user who joins the room by its alias gets a puppet in the channel.
    let mut three = TestUser::register("three").await;
    let alias = format!("#_irc_=23{}:{}", &channel[1..], config.domain);
    let joined = three.join(&alias).await;
    assert_eq!(joined, portal, "the alias leads to the existing portal");
    let puppet_three = next_join_of(&mut pal.incoming, "three").await;
    three.send_text(&portal, "hi via alias").await;
    next_privmsg(&mut pal.incoming, |from, t| from == puppet_three && t == "hi via alias").await;

    // A Matrix user who leaves the room parts the channel.
    two.leave(&portal).await;
    let parted = tokio::time::timeout(WAIT, async {
        while let Some(msg) = pal.incoming.recv().await {
            if let Command::PART(..) = &msg.command {
                return msg.source_nickname().map(str::to_owned);
            }
        }
        None
    })
    .await
    .expect("the puppet parts");
    assert!(parted.is_some_and(|n| n.starts_with("two")), "the leaving user's puppet parted");

    pal.sender.send_quit("bye").unwrap();
    one.wait_for_event(&portal, WAIT, |ev| {
        ev["type"] == "m.room.member" && ev["state_key"] == ghost.as_str() && ev["content"]["membership"] == "leave"
    })
    .await
    .expect("the ghost leaves when the IRC user quits");
}

#[tokio::test]
async fn test_join_channel_and_talk_both_ways_through_puppets() {
    let config = shared_irc();
    let bot = config.bot_user_id.to_string();
    let notice = |needle: &'static str| {
        let bot = bot.clone();
        move |ev: &Value| ev["sender"] == bot.as_str() && ev["content"]["body"].as_str().is_some_and(|b| b.contains(needle))
    };

    let mut user = TestUser::register("ircuser").await;
    let dm = user.create_dm(&bot).await;
    user.wait_for_event(&dm, WAIT, notice("management room")).await.expect("welcome");
    user.send_text(&dm, "help").await;
    user.wait_for_event(&dm, WAIT, notice("join [net] <#channel>"))
        .await
        .expect("help lists the IRC commands, since IRC needs no login step");
    user.send_text(&dm, "list-logins").await;
    user.wait_for_event(&dm, WAIT, notice("You are not connected yet"))
        .await
        .expect("asking for help connects nobody to IRC: only a command that needs the connection does");

    let channel = format!("#mxb{}", rand::random::<u32>());
    user.send_text(&dm, &format!("join {channel}")).await;
    user.wait_for_event(&dm, WAIT, notice("Joining")).await.expect("the bot confirms with the nick");
    user.wait_for_event(&dm, WAIT, notice("Connected to IRC")).await.expect("the first connection is reported");
    let portal = user.wait_for_invite(WAIT, |_, _| true).await.expect("invited to the channel's room");
    user.join(&portal).await;
    assert_eq!(user.get_state(&portal, "m.room.name", "").await["name"], channel.as_str());

    // A plain IRC user in the same channel.
    let (host, port) = irc_addr();
    let pal_nick = format!("pal{}", rand::random::<u32>() % 1_000_000);
    let mut pal = connect(&ConnectOptions::new(host, port, &pal_nick)).await.expect("the IRC user connects");
    pal.sender.send_join(&channel).unwrap();

    // Matrix → IRC, as the user's own puppet; line breaks cannot inject commands.
    user.send_text(&portal, "hello irc\nQUIT :not a command").await;
    let (puppet, _) = next_privmsg(&mut pal.incoming, |_, t| t == "hello irc").await;
    assert!(puppet.starts_with("ircuser"), "the puppet's nick comes from the user: {puppet}");
    next_privmsg(&mut pal.incoming, |from, t| from == puppet && t == "QUIT :not a command").await;

    // IRC → Matrix, as a ghost with the nick as display name, formatting kept.
    send_text(&pal.sender, &channel, LineKind::Message, "\x02hi\x02 matrix").unwrap();
    let ghost = format!("@_irc_{}:{}", pal_nick.to_lowercase(), config.domain);
    let ev = user
        .wait_for_event(&portal, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "hi matrix")
        .await
        .expect("the IRC message arrives");
    assert_eq!(ev["content"]["formatted_body"], "<strong>hi</strong> matrix");
    let ts = ev["origin_server_ts"].as_i64().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    assert!((now - ts).abs() < 60_000, "server-time becomes the event time");
    assert_eq!(user.display_name(&ghost).await.as_deref(), Some(pal_nick.as_str()), "the nick is the display name");

    // Colours both ways: mIRC's standard colours ⇄ Matrix `<font>` colours.
    send_text(&pal.sender, &channel, LineKind::Message, "\x0304red\x03 and plain").unwrap();
    let ev = user
        .wait_for_event(&portal, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "red and plain")
        .await
        .expect("the coloured line arrives");
    assert_eq!(ev["content"]["formatted_body"], r##"<font data-mx-color="#ff0000" color="#ff0000">red</font> and plain"##);
    user.send_content(
        &portal,
        "m.room.message",
        serde_json::json!({"msgtype": "m.text", "body": "green text", "format": "org.matrix.custom.html",
            "formatted_body": "<font data-mx-color=\"#00a000\">green</font> text"}),
    )
    .await;
    next_privmsg(&mut pal.incoming, |from, t| from == puppet && t == "\x0303green\x03 text").await;

    // Emotes both ways.
    send_text(&pal.sender, &channel, LineKind::Action, "waves").unwrap();
    user.wait_for_event(&portal, WAIT, |ev| {
        ev["sender"] == ghost.as_str() && ev["content"]["msgtype"] == "m.emote" && ev["content"]["body"] == "waves"
    })
    .await
    .expect("an emote");
    user.send_content(&portal, "m.room.message", serde_json::json!({"msgtype": "m.emote", "body": "nods"})).await;
    next_privmsg(&mut pal.incoming, |from, t| from == puppet && t == "\x01ACTION nods\x01").await;

    // An IRC user's private message to the puppet opens a DM with the ghost; the reply
    // goes back as a private message.
    send_text(&pal.sender, &puppet, LineKind::Message, "psst, private").unwrap();
    let dm_portal = user.wait_for_invite(WAIT, |_, _| true).await.expect("invited to a DM with the IRC user");
    user.join(&dm_portal).await;
    user.wait_for_event(&dm_portal, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "psst, private")
        .await
        .expect("the private message");
    user.send_text(&dm_portal, "private reply").await;
    let pm = tokio::time::timeout(WAIT, async {
        while let Some(msg) = pal.incoming.recv().await {
            if let Command::PRIVMSG(target, text) = &msg.command
                && text == "private reply"
            {
                return target.clone();
            }
        }
        panic!("closed");
    })
    .await
    .expect("the reply arrives");
    assert_eq!(pm.to_lowercase(), pal_nick.to_lowercase(), "sent to the IRC user, not a channel");

    // `nick` shows and changes the puppet's nick; the channel sees the change.
    user.send_text(&dm, "nick").await;
    user.wait_for_event(&dm, WAIT, notice("Your nick on testnet is")).await.expect("the current nick");
    let new_nick = format!("renamed{}", rand::random::<u32>() % 100_000);
    user.send_text(&dm, &format!("nick {new_nick}")).await;
    user.wait_for_event(&dm, WAIT, notice("Asked testnet for the nick")).await.expect("the change is asked for");
    tokio::time::timeout(WAIT, async {
        while let Some(msg) = pal.incoming.recv().await {
            if matches!(&msg.command, Command::NICK(n) if *n == new_nick) {
                return;
            }
        }
    })
    .await
    .expect("the channel sees the new nick");
    user.send_text(&dm, "nick 9lives").await;
    user.wait_for_event(&dm, WAIT, notice("not a valid IRC nick")).await.expect("an invalid nick is refused with a reason");

    // storepass + username + reconnect: the puppet logs in with SASL; the message with the
    // password does not stay in the room.
    let account = format!("acct{}", rand::random::<u32>() % 1_000_000);
    let password = format!("pw{}", rand::random::<u64>());
    let mut registrar = connect(&ConnectOptions::new(irc_addr().0, irc_addr().1, &account)).await.unwrap();
    registrar.sender.send_privmsg("NickServ", format!("REGISTER {password} {account}@example.org")).unwrap();
    tokio::time::timeout(WAIT, async {
        while let Some(msg) = registrar.incoming.recv().await {
            if matches!(&msg.command, Command::NOTICE(_, t) if t.contains("registered")) {
                return;
            }
        }
    })
    .await
    .expect("the account is registered");
    user.send_text(&dm, &format!("username {account}")).await;
    user.wait_for_event(&dm, WAIT, notice("Account name set")).await.expect("account name stored");
    let secret_event = user.send_text(&dm, &format!("storepass {password}")).await;
    user.wait_for_event(&dm, WAIT, notice("Password stored")).await.expect("password stored");
    user.wait_for_event(&dm, WAIT, |ev| {
        ev["type"] == "m.room.redaction" && (ev["redacts"] == secret_event.as_str() || ev["content"]["redacts"] == secret_event.as_str())
    })
    .await
    .expect("the message with the password is redacted");
    user.send_text(&dm, "reconnect").await;
    user.wait_for_event(&dm, WAIT, notice("logged in with SASL")).await.expect("reconnected, and told how the login went");
    pal.sender.send(Command::WHOIS(None, new_nick.clone())).unwrap();
    let logged_in_as = tokio::time::timeout(WAIT, async {
        while let Some(msg) = pal.incoming.recv().await {
            if let Command::Raw(numeric, args) = &msg.command
                && numeric == "330"
            {
                return args.get(2).cloned().unwrap_or_default();
            }
        }
        String::new()
    })
    .await
    .expect("WHOIS shows the account");
    assert_eq!(logged_in_as, account, "the puppet is logged in to its account, with the nick kept");
}
