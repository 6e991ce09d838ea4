//! Message latency through the real stack with the XMPP network: a Matrix user (plain
//! client-server API, /sync long-polling) in the portal of a MUC, joined by its alias
//! `#_xmpp_<room>=40<muc service>:<domain>`, and a plain XMPP user in the MUC
//! (`mxbridge_bench::xmpp`).
//!
//! Matrix → XMPP: from just before the user's `PUT /send` to the groupchat message
//! arriving at the XMPP user. XMPP → Matrix: from just before the message is written to the
//! sync response that carries the event. Paced phases send one message per interval;
//! back-to-back phases send as fast as the sender can and also give messages per second
//! (first send to last arrival). Prints Markdown table rows prefixed `XLAT|`.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use mxbridge_bench::matrix::{MatrixUser, Synced};
use mxbridge_bench::measure::{Inbox, Outcome, SETUP_WAIT, index_of, interval, pace};
use mxbridge_bench::xmpp::XmppUser;
use mxbridge_bench::{Args, ms, percentile};

struct Stack {
    user: MatrixUser,
    inbox: Inbox,
    xmpp: XmppUser,
    muc: String,
    portal: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse()?;
    let homeserver = args.get("homeserver", "http://127.0.0.1:18308");
    let domain = args.get("domain", "localhost");
    let xmpp_addr = args.get("xmpp", "127.0.0.1:15222");
    let xmpp_domain = args.get("xmpp-domain", "localhost");
    let muc_service = args.get("muc-service", "conference.localhost");
    let label = args.get("label", "mxbridge (XMPP)");
    let run = rand::random::<u32>() % 100_000;
    let room = format!("bench{run}");
    let muc = format!("{room}@{muc_service}");
    let nick = format!("pal{run}");

    // The MUC must exist before its alias resolves: the XMPP user makes it.
    let mut xmpp = XmppUser::connect(&xmpp_addr, &xmpp_domain, &nick, "bench-password-1").await?;
    xmpp.join_muc(&muc, &nick).await?;
    let user = MatrixUser::register(&homeserver, &format!("benchxmpp{run}")).await?;
    let inbox = Inbox::new(user.start_sync().await?);
    let alias = format!("#_xmpp_{room}={:02x}{muc_service}:{domain}", b'@');
    let portal = user.join(&alias).await.with_context(|| format!("joining {alias}"))?;
    let mut stack = Stack { user, inbox, xmpp, muc: muc.clone(), portal };
    let occupant = wait_bridge_join(&mut stack.xmpp, &muc, &nick).await?;
    eprintln!("[bench] XMPP: portal {} for {muc}, the Matrix user is {occupant}", stack.portal);

    // The first XMPP message creates the XMPP user's ghost; not part of the numbers.
    for k in 0..3 {
        let a = measure_x2m(&mut stack, &format!("warmup{k}-"), 1, None, SETUP_WAIT).await?;
        let b = measure_m2x(&mut stack, &format!("warmup{k}-"), 1, None, SETUP_WAIT).await?;
        anyhow::ensure!(a.latencies.len() == 1 && b.latencies.len() == 1, "warm-up messages were lost");
    }

    let drain = Duration::from_secs(args.num("drain-secs", 120)?);
    let x2m_n: usize = args.num("x2m-paced", 200)?;
    let m2x_n: usize = args.num("m2x-paced", 200)?;
    let every = Duration::from_millis(args.num("interval-ms", 100)?);
    let x2m_b2b: usize = args.num("x2m-b2b", 200)?;
    let m2x_b2b: usize = args.num("m2x-b2b", 200)?;
    let phases = [
        ("XMPP → Matrix", "paced", x2m_n, Some(every)),
        ("Matrix → XMPP", "paced", m2x_n, Some(every)),
        ("XMPP → Matrix", "back-to-back", x2m_b2b, None),
        ("Matrix → XMPP", "back-to-back", m2x_b2b, None),
    ];
    for (direction, mode, n, every) in phases {
        if n == 0 {
            continue;
        }
        let to_matrix = direction.starts_with("XMPP");
        let tag = format!("{}-{mode}-{run}-", if to_matrix { "x2m" } else { "m2x" });
        let o = if to_matrix {
            measure_x2m(&mut stack, &tag, n, every, drain).await?
        } else {
            measure_m2x(&mut stack, &tag, n, every, drain).await?
        };
        println!(
            "XLAT| {label} | {direction} | {mode} | {n} | {} | **{}** | **{}** | {} | {} | {:.1} | {} |",
            interval(every),
            ms(percentile(&o.latencies, 50.0)),
            ms(percentile(&o.latencies, 99.0)),
            ms(o.mean()),
            ms(o.max()),
            o.rate(),
            o.lost(),
        );
    }
    Ok(())
}

/// Waits for the Matrix user's occupant in the MUC (the bridge joined it for them) and
/// returns its occupant JID.
async fn wait_bridge_join(xmpp: &mut XmppUser, muc: &str, own_nick: &str) -> anyhow::Result<String> {
    let deadline = tokio::time::Instant::now() + SETUP_WAIT;
    let own = format!("{muc}/{own_nick}");
    loop {
        let s = tokio::time::timeout_at(deadline, xmpp.stanzas.recv())
            .await
            .context("the bridge did not join the MUC for the Matrix user")?
            .context("XMPP connection closed")?;
        let Some(from) = s.attr("from") else { continue };
        if s.name() == "presence" && s.attr("type").is_none() && from.starts_with(&format!("{muc}/")) && from != own {
            return Ok(from);
        }
    }
}

async fn measure_x2m(stack: &mut Stack, tag: &str, n: usize, every: Option<Duration>, drain: Duration) -> anyhow::Result<Outcome> {
    let mut sent = vec![None; n];
    let mut arrived = vec![None; n];
    let start = Instant::now();
    // Arrivals are stamped by the sync loop itself, so they can be read after sending.
    for (i, slot) in sent.iter_mut().enumerate() {
        *slot = Some(Instant::now());
        stack.xmpp.send_groupchat(&stack.muc, &format!("{tag}{i}"))?;
        pace(start, i, every).await;
    }
    // What has not arrived by the deadline counts as lost.
    let deadline = tokio::time::Instant::now() + drain;
    let mut missing = n;
    while missing > 0 {
        let Ok(item) = tokio::time::timeout_at(deadline, stack.inbox.rx.recv()).await else { break };
        let item = item.context("sync loop ended")?;
        let Synced::Event { at, room, event } = &item else { continue };
        if *room != stack.portal || event["sender"] == stack.user.user_id.as_str() {
            continue;
        }
        if let Some(i) = event["content"]["body"].as_str().and_then(|b| index_of(b, tag, n))
            && arrived[i].is_none()
        {
            arrived[i] = Some(*at);
            missing -= 1;
        }
    }
    Ok(Outcome::new(&sent, &arrived))
}

async fn measure_m2x(stack: &mut Stack, tag: &str, n: usize, every: Option<Duration>, drain: Duration) -> anyhow::Result<Outcome> {
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
        let Ok(s) = tokio::time::timeout_at(deadline, stack.xmpp.stanzas.recv()).await else { break };
        let s = s.context("XMPP connection closed")?;
        if s.name() != "message" {
            continue;
        }
        if s.attr("type").as_deref() == Some("error") {
            bail!("the MUC returned an error: {}", s.xml);
        }
        if let Some(i) = s.child_text("body").and_then(|b| index_of(&b, tag, n))
            && arrived[i].is_none()
        {
            arrived[i] = Some(s.at);
            missing -= 1;
        }
    }
    Ok(Outcome::new(&sent, &arrived))
}
