//! Puppets come back after the IRC server restarts: a real InspIRCd of this test's own (the
//! shared one must stay up for the other tests), stopped and started again under puppets
//! driven through the network traits, as the core drives them.

use std::path::PathBuf;
use std::process::Command as Process;
use std::time::Duration;

use mxbridge_core::ids::{LoginId, PortalKey, RemoteChatId};
use mxbridge_core::network::content::Content;
use mxbridge_core::network::event::{EventSink, LoginState, RemoteEvent};
use mxbridge_core::network::{Network, OutgoingMessage, StoredLogin};
use mxbridge_core::secret::Secret;
use mxbridge_irc::{IrcConfig, IrcNetwork};
use tokio::sync::mpsc;

const PUPPETS: usize = 20;

/// An InspIRCd (with Atheme) in its own stack directory, on free ports.
struct OwnServer {
    dir: PathBuf,
    port: u16,
    link_port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl OwnServer {
    fn new() -> Self {
        let dir = crate::harness::env::stack_dir().join(format!("irc-restart-{}", rand::random::<u32>()));
        Self { dir, port: free_port(), link_port: free_port() }
    }

    fn script(&self, name: &str) {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let status = Process::new("bash")
            .arg(root.join("scripts").join(name))
            .env("MXBRIDGE_STACK_DIR", &self.dir)
            .env("MXBRIDGE_IRC_PORT", self.port.to_string())
            .env("MXBRIDGE_IRC_LINK_PORT", self.link_port.to_string())
            .status()
            .expect("bash runs");
        assert!(status.success(), "{name} failed");
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.script("stop-stack.sh");
    }
}

async fn wait_states(
    rx: &mut mpsc::UnboundedReceiver<(LoginId, RemoteEvent)>,
    want: fn(&LoginState) -> bool,
    count: usize,
    within: Duration,
) {
    let mut seen = std::collections::HashSet::new();
    tokio::time::timeout(within, async {
        while seen.len() < count {
            match rx.recv().await {
                Some((login, RemoteEvent::LoginState(state))) if want(&state) => {
                    seen.insert(login);
                }
                Some(_) => {}
                None => panic!("all sinks closed"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {} of {count} puppets got there in {within:?}", seen.len()));
}

#[tokio::test]
async fn test_puppets_reconnect_and_rejoin_after_the_server_restarts_and_queued_lines_go_out() {
    crate::harness::init();
    let server = OwnServer::new();
    server.script("start-inspircd.sh");
    let config: IrcConfig = serde_json::from_value(serde_json::json!({
        "name": "restartnet", "server": "127.0.0.1", "port": server.port,
        "max_concurrent_connects": 5, "max_messages_in_burst": 100, "burst_window_secs": 1,
    }))
    .unwrap();
    let network = IrcNetwork::new(config);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let channel = PortalKey::shared(RemoteChatId::new("#restart"));
    let tag = rand::random::<u32>() % 10_000;
    let mut clients = Vec::new();
    for i in 0..PUPPETS {
        let id = LoginId::new(format!("restartnet:@p{i}:test"));
        let stored = StoredLogin {
            id: id.clone(),
            user: ruma::UserId::parse(format!("@p{i}:test")).unwrap(),
            remote_name: format!("rs{tag}p{i}"),
            metadata: serde_json::json!({"nick": format!("rs{tag}p{i}")}),
            secret: Secret::new(Vec::new()),
        };
        let client = network.load_login(stored, EventSink::new(id, tx.clone())).expect("a puppet");
        client.connect().await;
        client.chat_membership().expect("IRC follows membership").join(&channel, None).await.unwrap();
        clients.push(client);
    }
    wait_states(&mut rx, |s| *s == LoginState::Connected, PUPPETS, Duration::from_secs(60)).await;

    server.script("stop-stack.sh");
    wait_states(&mut rx, |s| matches!(s, LoginState::TransientDisconnect(_)), PUPPETS, Duration::from_secs(30)).await;

    // Sent during the outage: it waits for the connection instead of failing.
    let sender = clients[0].clone();
    let queued = tokio::spawn(async move {
        let msg = OutgoingMessage {
            portal: PortalKey::shared(RemoteChatId::new("#restart")),
            content: Content::text("sent during the outage"),
            reply_to: None,
            relayed_for: None,
        };
        sender.send(msg).await
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!queued.is_finished(), "the line waits for the server instead of failing");

    server.script("start-inspircd.sh");
    wait_states(&mut rx, |s| *s == LoginState::Connected, PUPPETS, Duration::from_secs(60)).await;
    let sent = queued.await.unwrap().expect("the queued line went out after the reconnect");
    assert!(!sent.id.as_str().starts_with("out-"), "the server echoed it with a msgid: {:?}", sent.id);

    // Every puppet is back in the channel.
    let (host, port) = ("127.0.0.1".to_owned(), server.port);
    let mut observer = mxbridge_irc::connection::connect(&mxbridge_irc::connection::ConnectOptions::new(host, port, format!("obs{tag}")))
        .await
        .expect("an observer connects");
    crate::harness::wait::wait_until(Duration::from_secs(30), Duration::from_millis(500), || {
        observer.sender.send(irc::proto::Command::NAMES(Some("#restart".into()), None)).unwrap();
        let names = drain_names(&mut observer.incoming);
        async move { (names.iter().filter(|n| n.contains(&format!("rs{tag}p"))).count() == PUPPETS).then_some(()) }
    })
    .await
    .expect("all puppets rejoined the channel");
    for client in clients {
        client.disconnect().await;
    }
}

fn drain_names(incoming: &mut mpsc::UnboundedReceiver<Box<irc::proto::Message>>) -> Vec<String> {
    let mut names = Vec::new();
    while let Ok(msg) = incoming.try_recv() {
        if let irc::proto::Command::Response(irc::proto::Response::RPL_NAMREPLY, args) = &msg.command
            && let Some(list) = args.last()
        {
            names.extend(list.split_whitespace().map(|n| n.trim_start_matches(['@', '+', '%', '~', '&']).to_lowercase()));
        }
    }
    names
}
