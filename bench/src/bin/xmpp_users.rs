//! Matrix users in XMPP MUCs: memory per user the XMPP network holds.
//!
//! Drives `mxbridge_xmpp::XmppNetwork` in-process the way the bridge does: `Network::start`
//! (the component connects to the XMPP server), then `load_login` + `connect` +
//! `ChatMembership::join` for every Matrix user. A user counts as joined when the network
//! reported the MUC's self-presence (`RemoteEvent::ChatChanged` for that login and MUC), the
//! event the core makes or joins the portal on.
//!
//! Users are spread over MUCs of `--per-muc` occupants (default 100): every join makes the
//! MUC send the new occupant everyone's presence and everyone the new occupant's, and all of
//! them arrive on the one component connection, so the stanzas grow with the square of a
//! room's size. A fixed room size keeps the work per user the same from row to row.
//!
//! Prints Markdown table rows prefixed `XMEM|` for scripts/bench.sh.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use async_trait::async_trait;
use mxbridge_bench::{Args, Memory};
use mxbridge_core::ids::{LoginId, PortalKey, RemoteChatId};
use mxbridge_core::media_links::MediaLinks;
use mxbridge_core::network::event::{EventSink, RemoteEvent};
use mxbridge_core::network::{AutoLogins, Network, NetworkClient, NetworkContext, NetworkError, SessionStore, StoredLogin};
use mxbridge_core::secret::{Secret, SecretCipher};
use mxbridge_core::store::Store;
use mxbridge_xmpp::{XmppConfig, XmppNetwork};
use ruma::UserId;
use tokio::sync::{mpsc, watch};

/// Nobody writes to the bench's users first; no automatic logins.
struct NoAutoLogins;

#[async_trait]
impl AutoLogins for NoAutoLogins {
    async fn ensure(&self, _user: &UserId, _chat: Option<&RemoteChatId>) -> bool {
        false
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse()?;
    let count: usize = args.num("count", 1000)?;
    let per_muc: usize = args.num("per-muc", 100)?;
    anyhow::ensure!(per_muc > 0, "--per-muc must be at least 1");
    let server = args.get("server", "127.0.0.1:15347");
    let component = args.get("component", "matrix.localhost");
    let secret = args.get("secret", "mxbridge-test-stack-component");
    let muc_service = args.get("muc-service", "conference.localhost");
    let server_pid = args.opt("server-pid");
    let timeout = Duration::from_secs(args.num("join-timeout-secs", 900)?);
    // Time the process settles (allocator, late presences) before RSS is read.
    let settle = Duration::from_secs(args.num("settle-secs", 3)?);
    let run = rand::random::<u32>() % 100_000;
    let mucs = count.div_ceil(per_muc);

    // The bridge's session store (each join stores the user's MUCs), on a database file of
    // its own, opened before the baseline as the bridge has it open before any login.
    let db = std::env::temp_dir().join(format!("mxbridge-xmpp-users-{}-{run}.db", std::process::id()));
    let cipher = SecretCipher::from_base64_key("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")?;
    let store = Store::connect(&format!("sqlite://{}", db.display()), cipher).await.context("opening the session database")?;

    let config: XmppConfig = serde_json::from_value(serde_json::json!({
        "component": component, "server": server, "secret": secret,
    }))?;
    let network = XmppNetwork::new(config);
    let baseline = Memory::now()?;
    let server_before = server_pid.as_deref().map(process_rss_kib).transpose()?;

    let start = Instant::now();
    network
        .start(NetworkContext {
            sessions: SessionStore::for_tools(store.clone()),
            links: MediaLinks::disabled(),
            auto_logins: Arc::new(NoAutoLogins),
            rooms: Arc::new(mxbridge_core::network::gateway::NoMatrixRooms),
            ghosts: mxbridge_core::network::GhostIds::new(
                mxbridge_core::matrix::ghost_id::Template::parse("_xmpp_{{.}}").map_err(anyhow::Error::msg)?,
                "localhost".try_into()?,
            ),
        })
        .await?;
    wait_component(&network, &muc_service, run).await?;

    let (tx, rx) = mpsc::unbounded_channel();
    let (joined_tx, mut joined) = watch::channel(0usize);
    tokio::spawn(track_joined(rx, joined_tx));
    let mut clients: Vec<Arc<dyn NetworkClient>> = Vec::with_capacity(count);
    for i in 0..count {
        let user = ruma::OwnedUserId::try_from(format!("@xb{run}u{i}:localhost"))?;
        let id = LoginId::new(format!("xmpp:{user}"));
        let stored = StoredLogin {
            id: id.clone(),
            user: user.clone(),
            remote_name: format!("xb{run}u{i}_localhost@{component}"),
            metadata: serde_json::json!({"nick": user.localpart()}),
            secret: Secret::new(Vec::new()),
        };
        let client = network.load_login(stored, EventSink::new(id, tx.clone()))?;
        client.connect().await;
        let portal = PortalKey::shared(RemoteChatId::new(format!("xb{run}m{}@{muc_service}", i / per_muc)));
        client.chat_membership().context("the XMPP client follows memberships")?.join(&portal, None).await?;
        clients.push(client);
    }
    let waited = tokio::time::timeout(timeout, joined.wait_for(|n| *n >= count)).await.map(|r| r.map(|_| ()));
    match waited {
        Ok(r) => r.context("event tracker ended")?,
        Err(_) => bail!("not every user was in their MUC within {timeout:?}: {} of {count}", *joined.borrow()),
    }
    let took = start.elapsed();
    tokio::time::sleep(settle).await;
    let now = Memory::now()?;
    let server_change = match (server_pid.as_deref(), server_before) {
        (Some(pid), Some(before)) => format!("{:+.1}", (process_rss_kib(pid)? as f64 - before as f64) / 1024.0),
        _ => "–".to_owned(),
    };
    let per = |a: u64, b: u64| (a.saturating_sub(b)) as f64 * 1024.0 / count as f64 / 1000.0;
    println!(
        "XMEM| {count} | {mucs} × {per_muc} | {:.1} | {:.1} | {:.1} | **{:.1}** | {:.1} | {} | {server_change} |",
        took.as_secs_f64(),
        baseline.rss_kib as f64 / 1024.0,
        now.rss_kib as f64 / 1024.0,
        per(now.rss_kib, baseline.rss_kib),
        per(now.anon_kib, baseline.anon_kib),
        now.threads,
    );

    for client in &clients {
        client.disconnect().await;
    }
    network.stop().await;
    store.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    Ok(())
}

/// Waits until the component is connected: a disco#info to a room that does not exist gets
/// an answer (not found) only over a working connection.
async fn wait_component(network: &XmppNetwork, muc_service: &str, run: u32) -> anyhow::Result<()> {
    let probe = RemoteChatId::new(format!("xb{run}probe@{muc_service}"));
    for _ in 0..4 {
        match network.lookup_chat(&probe).await {
            Err(NetworkError::NotConnected(_)) => continue,
            _ => return Ok(()),
        }
    }
    bail!("the component did not connect to the XMPP server within a minute: check --server and --secret")
}

/// Counts the (login, MUC) pairs whose self-presence came back.
async fn track_joined(mut rx: mpsc::UnboundedReceiver<(LoginId, RemoteEvent)>, count: watch::Sender<usize>) {
    let mut seen: HashSet<(LoginId, String)> = HashSet::new();
    while let Some((login, event)) = rx.recv().await {
        let joined_one = match event {
            RemoteEvent::ChatChanged { chat, .. } => seen.insert((login, chat.chat.as_str().to_owned())),
            RemoteEvent::Removed { reason, .. } => {
                eprintln!("[xmpp_users] {login} was removed from a MUC: {reason}");
                false
            }
            _ => false,
        };
        if joined_one {
            count.send_replace(seen.len());
        }
    }
}

/// The resident set size of another process (the XMPP server), in KiB.
fn process_rss_kib(pid: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).with_context(|| format!("no process {pid}"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("no VmRSS")?;
    Ok(line["VmRSS:".len()..].trim().trim_end_matches("kB").trim().parse()?)
}
