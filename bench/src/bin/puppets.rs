//! Idle puppets: memory per connected puppet, and the time all of them need to come back
//! after the IRC server restarts.
//!
//! `--mode puppets` drives `mxbridge_irc::IrcNetwork` in-process the way the bridge does
//! (`load_login` + `connect` per Matrix user, connected when the puppet reports
//! `LoginState::Connected`). Two reference modes put that number in context:
//! `--mode irc-crate` holds only `mxbridge_irc::connection::connect`'s registered
//! connections (the `irc` crate plus the task that drives it), `--mode raw` holds plain
//! tokio sockets that registered with NICK/USER and answer PING, the floor for one task and
//! one socket per puppet.
//!
//! Prints Markdown table rows prefixed `MEM|` and `RECONNECT|` for scripts/bench.sh.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use mxbridge_bench::{Args, Memory, shell};
use mxbridge_core::ids::LoginId;
use mxbridge_core::network::event::{EventSink, LoginState, RemoteEvent};
use mxbridge_core::network::{Network, NetworkClient, StoredLogin};
use mxbridge_core::secret::Secret;
use mxbridge_irc::{IrcConfig, IrcNetwork};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

/// Time the process settles (allocator, late lines such as MOTD) before RSS is read.
const SETTLE: Duration = Duration::from_secs(3);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse()?;
    let count: usize = args.num("count", 1000)?;
    let server = args.get("server", "127.0.0.1");
    let port: u16 = args.num("port", 16967)?;
    let mode = args.get("mode", "puppets");
    let connect_timeout = Duration::from_secs(args.num("connect-timeout-secs", 600)?);

    let baseline = Memory::now()?;
    match mode.as_str() {
        "puppets" => puppets(&args, count, &server, port, baseline, connect_timeout).await,
        "irc-crate" => {
            let start = Instant::now();
            let host = server.clone();
            let conns = hold_many(count, move |i| {
                let opts = mxbridge_irc::connection::ConnectOptions::new(host.clone(), port, format!("ic{i}"));
                async move {
                    let mut conn = mxbridge_irc::connection::connect(&opts).await?;
                    // Read what arrives, as a puppet does; unread lines would pile up in the channel.
                    let drain = tokio::spawn(async move { while conn.incoming.recv().await.is_some() {} });
                    Ok((conn.sender, drain))
                }
            })
            .await?;
            report_memory(&mode, count, start.elapsed(), baseline).await?;
            drop(conns);
            Ok(())
        }
        "raw" => {
            let start = Instant::now();
            let host = server.clone();
            let conns = hold_many(count, move |i| raw_connection(host.clone(), port, format!("raw{i}"))).await?;
            report_memory(&mode, count, start.elapsed(), baseline).await?;
            drop(conns);
            Ok(())
        }
        other => bail!("unknown --mode {other}: puppets, irc-crate or raw"),
    }
}

async fn puppets(args: &Args, count: usize, server: &str, port: u16, baseline: Memory, timeout: Duration) -> anyhow::Result<()> {
    // The network section's defaults, unless `--network-json '{"key": value}'` overrides some.
    let mut section = serde_json::json!({"name": "bench", "server": server, "port": port});
    if let Some(extra) = args.opt("network-json") {
        let extra: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&extra).context("--network-json")?;
        section.as_object_mut().expect("an object").extend(extra);
    }
    let config: IrcConfig = serde_json::from_value(section)?;
    let label = args.get("label", "puppets");
    let network = IrcNetwork::new(config);
    let (tx, rx) = mpsc::unbounded_channel();
    let (connected_tx, mut connected) = watch::channel(0usize);
    tokio::spawn(track_connected(rx, connected_tx));

    // `Network::start` is not called: it only hands over the core's SessionStore, which
    // holds stored passwords. Without it puppets connect without a password.
    let start = Instant::now();
    let mut clients: Vec<Arc<dyn NetworkClient>> = Vec::with_capacity(count);
    for i in 0..count {
        let user = ruma::OwnedUserId::try_from(format!("@bench{i}:localhost"))?;
        let id = LoginId::new(format!("bench:{user}"));
        let stored = StoredLogin {
            id: id.clone(),
            user,
            remote_name: format!("bp{i}"),
            metadata: serde_json::json!({"nick": format!("bp{i}")}),
            secret: Secret::new(Vec::new()),
        };
        let client = network.load_login(stored, EventSink::new(id, tx.clone()))?;
        client.connect().await;
        clients.push(client);
    }
    wait_count(&mut connected, count, timeout, "connected").await?;
    let memory = report_memory(&label, count, start.elapsed(), baseline).await?;

    if let (Some(kill), Some(restart)) = (args.opt("kill-cmd"), args.opt("start-cmd")) {
        // More than one restart shows whether memory keeps growing with each reconnect.
        let restarts: usize = args.num("restarts", 1)?;
        let mut before = memory;
        for round in 1..=restarts {
            let killed = Instant::now();
            shell(&kill).await?;
            wait_count(&mut connected, 0, Duration::from_secs(60), "disconnected").await?;
            let all_down = killed.elapsed();
            shell(&restart).await?;
            let server_up = killed.elapsed();
            wait_count(&mut connected, count, timeout, "reconnected").await?;
            let all_back = killed.elapsed();
            tokio::time::sleep(SETTLE).await;
            let after = Memory::now()?;
            println!(
                "RECONNECT| {label} | {count} | {round} | {:.1} | {:.1} | **{:.1}** | {:.1} | {:.1} | {} |",
                all_down.as_secs_f64(),
                server_up.as_secs_f64(),
                all_back.as_secs_f64(),
                (all_back - server_up).as_secs_f64(),
                after.rss_kib as f64 / 1024.0,
                mib_delta(before.rss_kib, after.rss_kib),
            );
            before = after;
        }
    }
    for client in &clients {
        client.disconnect().await;
    }
    Ok(())
}

/// Counts the logins whose last state was Connected.
async fn track_connected(mut rx: mpsc::UnboundedReceiver<(LoginId, RemoteEvent)>, count: watch::Sender<usize>) {
    let mut up: HashMap<LoginId, bool> = HashMap::new();
    let mut n = 0usize;
    while let Some((login, event)) = rx.recv().await {
        let RemoteEvent::LoginState(state) = event else { continue };
        let now_up = matches!(state, LoginState::Connected);
        let was_up = up.insert(login, now_up).unwrap_or(false);
        match (was_up, now_up) {
            (false, true) => n += 1,
            (true, false) => n -= 1,
            _ => continue,
        }
        count.send_replace(n);
    }
}

async fn wait_count(rx: &mut watch::Receiver<usize>, want: usize, timeout: Duration, what: &str) -> anyhow::Result<()> {
    let waited = tokio::time::timeout(timeout, rx.wait_for(|n| *n == want)).await.map(|r| r.map(|_| ()));
    match waited {
        Ok(r) => r.context("event tracker ended"),
        Err(_) => bail!("not all puppets {what} within {timeout:?}: {} of {want}", *rx.borrow()),
    }
}

fn mib_delta(before_kib: u64, after_kib: u64) -> String {
    format!("{:+.1} MiB", (after_kib as f64 - before_kib as f64) / 1024.0)
}

async fn report_memory(mode: &str, count: usize, took: Duration, baseline: Memory) -> anyhow::Result<Memory> {
    tokio::time::sleep(SETTLE).await;
    let now = Memory::now()?;
    let per = |a: u64, b: u64| (a.saturating_sub(b)) as f64 * 1024.0 / count as f64 / 1000.0;
    println!(
        "MEM| {mode} | {count} | {:.1} | {:.1} | {:.1} | **{:.1}** | {:.1} | {} |",
        took.as_secs_f64(),
        baseline.rss_kib as f64 / 1024.0,
        now.rss_kib as f64 / 1024.0,
        per(now.rss_kib, baseline.rss_kib),
        per(now.anon_kib, baseline.anon_kib),
        now.threads,
    );
    Ok(now)
}

/// Opens `count` connections at once (as the bridge does at start), retrying failed ones,
/// and keeps them.
async fn hold_many<T, F, Fut>(count: usize, open: F) -> anyhow::Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let open = Arc::new(open);
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let open = open.clone();
        tasks.push(tokio::spawn(async move {
            let mut attempt = 0;
            loop {
                match open(i).await {
                    Ok(c) => return Ok(c),
                    Err(e) if attempt >= 20 => return Err(e),
                    Err(_) => attempt += 1,
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }));
    }
    let mut held = Vec::with_capacity(count);
    for t in tasks {
        held.push(t.await??);
    }
    Ok(held)
}

/// A plain registered IRC connection: one socket, one task, a 1 KiB line buffer.
async fn raw_connection(server: String, port: u16, nick: String) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let stream = TcpStream::connect((server.as_str(), port)).await?;
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::with_capacity(1024, read).lines();
    write.write_all(format!("NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n").as_bytes()).await?;
    loop {
        let line = lines.next_line().await?.context("closed during registration")?;
        if let Some(arg) = line.strip_prefix("PING ") {
            write.write_all(format!("PONG {arg}\r\n").as_bytes()).await?;
        } else if line.split(' ').nth(1) == Some("001") {
            break;
        } else if line.starts_with("ERROR") {
            bail!("{line}");
        }
    }
    Ok(tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(arg) = line.strip_prefix("PING ") {
                let _ = write.write_all(format!("PONG {arg}\r\n").as_bytes()).await;
            }
        }
    }))
}
