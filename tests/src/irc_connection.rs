//! The IRC connection layer against the real InspIRCd + Atheme the scripts start.

use std::time::Duration;

use irc::proto::{Command, Message};
use mxbridge_core::secret::Secret;
use mxbridge_irc::connection::{ConnectOptions, LineKind, SaslOutcome, connect, send_text};
use tokio::sync::mpsc::UnboundedReceiver;

const WAIT: Duration = Duration::from_secs(15);

fn server() -> (String, u16) {
    let addr = std::env::var("MXBRIDGE_TEST_IRC")
        .expect("MXBRIDGE_TEST_IRC is not set: run the tests with `bash scripts/test.sh`, which starts InspIRCd");
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    (host.to_owned(), port.parse().expect("port"))
}

fn options(nick: &str) -> ConnectOptions {
    let (host, port) = server();
    let mut o = ConnectOptions::new(host, port, nick);
    o.max_messages_in_burst = 100;
    o.burst_window_secs = 1;
    o
}

fn random_nick(prefix: &str) -> String {
    format!("{prefix}{}", rand::random::<u32>() % 100_000_000)
}

/// Reads messages until one matches.
pub(crate) async fn next_matching(incoming: &mut UnboundedReceiver<Box<Message>>, pred: impl Fn(&Message) -> bool) -> Message {
    tokio::time::timeout(WAIT, async {
        while let Some(msg) = incoming.recv().await {
            if pred(&msg) {
                return *msg;
            }
        }
        panic!("the connection closed");
    })
    .await
    .expect("the message arrived in time")
}

fn privmsg_text(msg: &Message) -> Option<&str> {
    match &msg.command {
        Command::PRIVMSG(_, text) => Some(text),
        _ => None,
    }
}

#[tokio::test]
async fn test_connection_negotiates_ircv3_and_relays_sanitised_lines() {
    crate::harness::init();
    let mut a = connect(&options(&random_nick("ca"))).await.expect("a connects");
    let mut b = connect(&options(&random_nick("cb"))).await.expect("b connects");
    for cap in ["server-time", "message-tags", "echo-message"] {
        assert!(a.caps.contains(cap), "{cap} negotiated: {:?}", a.caps);
    }
    let channel = format!("#conn{}", rand::random::<u32>());
    // Join in order, so `a` is in the channel when `b` arrives and sees it.
    a.sender.send_join(&channel).unwrap();
    let a_nick = a.nick.clone();
    next_matching(&mut a.incoming, |m| matches!(&m.command, Command::JOIN(..)) && m.source_nickname() == Some(a_nick.as_str())).await;
    b.sender.send_join(&channel).unwrap();
    let b_nick = b.nick.clone();
    next_matching(&mut a.incoming, |m| matches!(&m.command, Command::JOIN(..)) && m.source_nickname() == Some(b_nick.as_str())).await;

    // An injection attempt arrives as text on two lines; nothing is executed.
    let lines = send_text(&a.sender, &channel, LineKind::Message, "hello\r\nQUIT :pwned\nKICK #x y").unwrap();
    assert_eq!(lines, 3);
    let first = next_matching(&mut b.incoming, |m| privmsg_text(m).is_some()).await;
    assert_eq!(privmsg_text(&first), Some("hello"));
    assert_eq!(privmsg_text(&next_matching(&mut b.incoming, |m| privmsg_text(m).is_some()).await), Some("QUIT :pwned"));
    assert_eq!(privmsg_text(&next_matching(&mut b.incoming, |m| privmsg_text(m).is_some()).await), Some("KICK #x y"));
    assert!(first.tags.as_ref().is_some_and(|t| t.iter().any(|tag| tag.0 == "time")), "server-time tags arrive: {:?}", first.tags);

    // A long message is split into lines that each arrive whole; together they are the text.
    let long: String = (0..300).map(|i| format!("w{i} ")).collect::<String>() + &"é".repeat(200);
    let n = send_text(&a.sender, &channel, LineKind::Message, &long).unwrap();
    assert!(n >= 3);
    let mut got = Vec::new();
    for _ in 0..n {
        got.push(privmsg_text(&next_matching(&mut b.incoming, |m| privmsg_text(m).is_some()).await).unwrap().to_owned());
    }
    // Lines break at spaces, or mid-word in a run with none; no text is lost or reordered.
    let squeeze = |t: &str| t.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    assert_eq!(squeeze(&got.concat()), squeeze(&long));
    assert!(got.iter().all(|l| l.len() <= 512), "every line fits");

    // Actions are CTCP ACTION.
    send_text(&a.sender, &channel, LineKind::Action, "waves").unwrap();
    assert_eq!(privmsg_text(&next_matching(&mut b.incoming, |m| privmsg_text(m).is_some()).await), Some("\x01ACTION waves\x01"));
}

#[tokio::test]
async fn test_taken_nick_gets_an_alternative() {
    crate::harness::init();
    let nick = random_nick("dup");
    let first = connect(&options(&nick)).await.unwrap();
    let second = connect(&options(&nick)).await.unwrap();
    assert_eq!(first.nick, nick);
    assert_ne!(second.nick, nick);
    assert!(second.nick.starts_with(&nick[..nick.len() - 1]), "{}", second.nick);
}

#[tokio::test]
async fn test_sasl_plain_with_a_registered_account() {
    crate::harness::init();
    let nick = random_nick("sasl");
    let password = format!("pw{}", rand::random::<u64>());
    let mut reg = connect(&options(&nick)).await.unwrap();
    reg.sender.send_privmsg("NickServ", format!("REGISTER {password} {nick}@example.org")).unwrap();
    next_matching(&mut reg.incoming, |m| matches!(&m.command, Command::NOTICE(_, t) if t.contains("registered"))).await;

    let mut good = options(&random_nick("other"));
    good.account = Some(nick.clone());
    good.password = Some(Secret::new(password.clone()));
    let conn = connect(&good).await.expect("connects with SASL");
    assert_eq!(conn.sasl, SaslOutcome::Succeeded);

    let mut bad = good.clone();
    bad.password = Some(Secret::new("wrong-password".into()));
    let conn = connect(&bad).await.expect("a wrong password still connects, unauthenticated");
    assert_eq!(conn.sasl, SaslOutcome::Failed);
}

#[tokio::test]
async fn test_flood_control_queues_lines_beyond_the_burst_and_loses_none() {
    let channel = format!("#flood{}", rand::random::<u32>());
    let mut listener = connect(&options(&random_nick("lst"))).await.expect("listener");
    listener.sender.send_join(&channel).unwrap();
    next_matching(&mut listener.incoming, |m| matches!(&m.command, Command::JOIN(..))).await;
    let mut paced = options(&random_nick("fld"));
    paced.max_messages_in_burst = 2;
    paced.burst_window_secs = 1;
    let speaker = connect(&paced).await.expect("speaker");
    // Queued at once behind a JOIN; the bucket lets 2 lines through, then 2 per second.
    speaker.sender.send_join(&channel).unwrap();
    for i in 0..6 {
        speaker.sender.send_privmsg(&channel, format!("line {i}")).unwrap();
    }
    let mut arrivals = Vec::new();
    for i in 0..6 {
        let expected = format!("line {i}");
        next_matching(&mut listener.incoming, |m| matches!(&m.command, Command::PRIVMSG(_, t) if *t == expected)).await;
        arrivals.push(tokio::time::Instant::now());
    }
    // JOIN and line 0 use the burst; lines 1-5 come at 2 per second.
    let spread = arrivals[5] - arrivals[0];
    assert!(spread >= Duration::from_millis(2_000), "lines beyond the burst must be paced, yet all came within {spread:?}");
}
