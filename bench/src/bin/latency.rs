//! Message latency through the real stack: a Matrix user (plain client-server API, /sync
//! long-polling) in a bridged channel room, and a plain IRC user in the channel.
//!
//! Matrix → IRC: from just before the user's `PUT /send` to the PRIVMSG arriving at the IRC
//! user. IRC → Matrix: from just before the PRIVMSG is written to the sync response that
//! carries the event. Paced phases send one message per interval; back-to-back phases send
//! as fast as the sender can and also give messages per second (first send to last arrival).
//!
//! `--bridge mxbridge` sets up the portal through the bot's `join` command,
//! `--bridge heisenbridge` through its control room (ADDNETWORK, ADDSERVER, OPEN) and its
//! network room (CONNECT, JOIN). Prints Markdown table rows prefixed `LAT|`.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use mxbridge_bench::irc::IrcUser;
use mxbridge_bench::matrix::{MatrixUser, Synced};
use mxbridge_bench::measure::{Inbox, Outcome, SETUP_WAIT, index_of, interval, pace};
use mxbridge_bench::{Args, ms, percentile};

struct Stack {
    user: MatrixUser,
    inbox: Inbox,
    irc: IrcUser,
    portal: String,
    bridge: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse()?;
    let bridge = args.get("bridge", "mxbridge");
    let homeserver = args.get("homeserver", "http://127.0.0.1:18308");
    let irc_addr = args.get("irc", "127.0.0.1:16967");
    let channel = args.get("channel", "#bench");
    let run = rand::random::<u32>() % 100_000;

    let mut irc = IrcUser::connect(&irc_addr, &format!("pal{run}")).await?;
    irc.join(&channel).await?;
    let user = MatrixUser::register(&homeserver, &format!("bench{bridge}{run}")).await?;
    let inbox = Inbox::new(user.start_sync().await?);
    let mut stack = Stack { user, inbox, irc, portal: String::new(), bridge: args.get("label", &bridge) };
    let (host, port) = irc_addr.rsplit_once(':').context("--irc host:port")?;
    match bridge.as_str() {
        "mxbridge" => setup_mxbridge(&mut stack, &args.get("bot", "@ircbot:localhost"), &channel).await?,
        "heisenbridge" => setup_heisenbridge(&mut stack, &args.get("bot", "@heisenbridge:localhost"), &channel, host, port).await?,
        other => bail!("unknown --bridge {other}"),
    }
    let puppet = wait_puppet_join(&mut stack.irc, &channel).await?;
    eprintln!("[bench] {bridge}: portal {} with puppet {puppet} in {channel}", stack.portal);

    // The first IRC line creates and joins the IRC user's ghost; not part of the numbers.
    for k in 0..3 {
        let a = measure_i2m(&mut stack, &channel, &format!("warmup{k}-"), 1, None, SETUP_WAIT).await?;
        let b = measure_m2i(&mut stack, &format!("warmup{k}-"), 1, None, SETUP_WAIT).await?;
        anyhow::ensure!(a.latencies.len() == 1 && b.latencies.len() == 1, "warm-up messages were lost");
    }

    let drain = Duration::from_secs(args.num("drain-secs", 120)?);
    let i2m_n: usize = args.num("i2m-paced", 300)?;
    let i2m_every = Duration::from_millis(args.num("i2m-interval-ms", 100)?);
    let m2i_n: usize = args.num("m2i-paced", 300)?;
    let m2i_every = Duration::from_millis(args.num("m2i-interval-ms", 100)?);
    let i2m_b2b: usize = args.num("i2m-b2b", 300)?;
    let m2i_b2b: usize = args.num("m2i-b2b", 300)?;

    let phases = [
        ("IRC → Matrix", "paced", i2m_n, Some(i2m_every)),
        ("Matrix → IRC", "paced", m2i_n, Some(m2i_every)),
        ("IRC → Matrix", "back-to-back", i2m_b2b, None),
        ("Matrix → IRC", "back-to-back", m2i_b2b, None),
    ];
    for (direction, mode, n, every) in phases {
        if n == 0 {
            continue;
        }
        let tag = format!("{}-{mode}-{run}-", if direction.starts_with("IRC") { "i2m" } else { "m2i" });
        let result = if direction.starts_with("IRC") {
            measure_i2m(&mut stack, &channel, &tag, n, every, drain).await?
        } else {
            measure_m2i(&mut stack, &tag, n, every, drain).await?
        };
        print(&result, &stack.bridge, direction, mode, every);
    }
    Ok(())
}

async fn setup_mxbridge(stack: &mut Stack, bot: &str, channel: &str) -> anyhow::Result<()> {
    let me = stack.user.user_id.clone();
    let dm = stack.user.create_dm(bot).await?;
    stack.inbox.message(&dm, &me, "management room").await?;
    stack.user.send_text(&dm, &format!("join {channel}")).await?;
    let portal = stack.inbox.invite(&[&dm]).await?;
    stack.portal = stack.user.join(&portal).await?;
    Ok(())
}

async fn setup_heisenbridge(stack: &mut Stack, bot: &str, channel: &str, host: &str, port: &str) -> anyhow::Result<()> {
    let me = stack.user.user_id.clone();
    // The first local user who invites the bot becomes its owner (a fresh bridge).
    let dm = stack.user.create_dm(bot).await?;
    stack.inbox.message(&dm, &me, "Howdy").await?;
    stack.user.send_text(&dm, "ADDNETWORK bench").await?;
    stack.inbox.message(&dm, &me, "Network added").await?;
    stack.user.send_text(&dm, &format!("ADDSERVER bench {host} {port}")).await?;
    stack.inbox.message(&dm, &me, "Server added").await?;
    stack.user.send_text(&dm, "OPEN bench").await?;
    eprintln!("[bench] heisenbridge: network added, opening it");
    let network_room = stack.inbox.invite(&[&dm]).await?;
    let network_room = stack.user.join(&network_room).await?;
    stack.user.send_text(&network_room, "CONNECT").await?;
    // The network room greets with its own "Welcome"; the end of the MOTD means registered.
    stack.inbox.message(&network_room, &me, "End of message of the day").await?;
    eprintln!("[bench] heisenbridge: connected, joining {channel}");
    stack.user.send_text(&network_room, &format!("JOIN {channel}")).await?;
    let portal = stack.inbox.invite(&[&dm, &network_room]).await?;
    stack.portal = stack.user.join(&portal).await?;
    Ok(())
}

async fn wait_puppet_join(irc: &mut IrcUser, channel: &str) -> anyhow::Result<String> {
    let deadline = tokio::time::Instant::now() + SETUP_WAIT;
    loop {
        let line = tokio::time::timeout_at(deadline, irc.lines.recv()).await.context("no puppet joined")?.context("IRC closed")?;
        if let Some((nick, ch)) = line.join()
            && ch.eq_ignore_ascii_case(channel)
            && nick != irc.nick
        {
            return Ok(nick.to_owned());
        }
    }
}

fn print(outcome: &Outcome, bridge: &str, direction: &str, mode: &str, every: Option<Duration>) {
    println!(
        "LAT| {bridge} | {direction} | {mode} | {} | {} | **{}** | **{}** | {} | {:.1} | {} |",
        outcome.n,
        interval(every),
        ms(percentile(&outcome.latencies, 50.0)),
        ms(percentile(&outcome.latencies, 99.0)),
        ms(outcome.max()),
        outcome.rate(),
        outcome.lost(),
    );
}

async fn measure_i2m(
    stack: &mut Stack,
    channel: &str,
    tag: &str,
    n: usize,
    every: Option<Duration>,
    drain: Duration,
) -> anyhow::Result<Outcome> {
    let mut sent = vec![None; n];
    let mut arrived = vec![None; n];
    let start = Instant::now();
    // Arrivals are stamped by the sync loop itself, so they can be read after sending.
    for (i, slot) in sent.iter_mut().enumerate() {
        *slot = Some(Instant::now());
        stack.irc.send(&format!("PRIVMSG {channel} :{tag}{i}"))?;
        pace(start, i, every).await;
    }
    // What has not arrived by the deadline counts as lost.
    let deadline = tokio::time::Instant::now() + drain;
    let mut missing = n;
    while missing > 0 {
        let Ok(item) = tokio::time::timeout_at(deadline, stack.inbox.rx.recv()).await else { break };
        let item = item.context("sync loop ended")?;
        let Synced::Event { at, room, event } = &item else { continue };
        if *room != stack.portal {
            continue;
        }
        // heisenbridge merges one sender's lines that come within 100 ms into one event.
        for line in event["content"]["body"].as_str().unwrap_or("").lines() {
            if let Some(i) = index_of(line, tag, n)
                && arrived[i].is_none()
            {
                arrived[i] = Some(*at);
                missing -= 1;
            }
        }
    }
    Ok(Outcome::new(&sent, &arrived))
}

async fn measure_m2i(stack: &mut Stack, tag: &str, n: usize, every: Option<Duration>, drain: Duration) -> anyhow::Result<Outcome> {
    let mut sent = vec![None; n];
    let mut arrived = vec![None; n];
    let start = Instant::now();
    for (i, slot) in sent.iter_mut().enumerate() {
        *slot = Some(Instant::now());
        stack.user.send_text(&stack.portal.clone(), &format!("{tag}{i}")).await?;
        pace(start, i, every).await;
    }
    let deadline = tokio::time::Instant::now() + drain;
    let mut missing = n;
    while missing > 0 {
        let Ok(line) = tokio::time::timeout_at(deadline, stack.irc.lines.recv()).await else { break };
        let line = line.context("IRC closed")?;
        if let Some((_, _, text)) = line.privmsg()
            && let Some(i) = index_of(text, tag, n)
            && arrived[i].is_none()
        {
            arrived[i] = Some(line.at);
            missing -= 1;
        }
    }
    Ok(Outcome::new(&sent, &arrived))
}
