//! The XMPP bridge across restarts, end to end: a Prosody of this test's own (the shared one
//! must stay up for the other tests) is restarted under the bridge, then the bridge itself
//! is stopped and started again on the same store.

use std::path::PathBuf;
use std::process::Command as Process;
use std::time::Duration;

use mxbridge_core::config::Config;
use mxbridge_xmpp::{XmppConfig, XmppNetwork};

use crate::demo_bridge::{RunningBridge, config, network_section, state_dir};
use crate::harness::matrix_client::TestUser;
use crate::harness::xmpp_user::XmppUser;

const WAIT: Duration = Duration::from_secs(30);

/// A Prosody in its own stack directory, on free ports, with the same components as the
/// shared one.
struct OwnProsody {
    dir: PathBuf,
    c2s_port: u16,
    component_port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl OwnProsody {
    fn start() -> Self {
        let dir = crate::harness::env::stack_dir().join(format!("xmpp-restart-{}", rand::random::<u32>()));
        let server = Self { dir, c2s_port: free_port(), component_port: free_port() };
        server.script("start-prosody.sh");
        server
    }

    fn c2s(&self) -> String {
        format!("127.0.0.1:{}", self.c2s_port)
    }

    fn script(&self, name: &str) {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let status = Process::new("bash")
            .arg(root.join("scripts").join(name))
            .env("MXBRIDGE_STACK_DIR", &self.dir)
            .env("MXBRIDGE_XMPP_C2S_PORT", self.c2s_port.to_string())
            .env("MXBRIDGE_XMPP_COMPONENT_PORT", self.component_port.to_string())
            .status()
            .expect("bash runs");
        assert!(status.success(), "{name} failed");
    }

    /// Stops the server; it starts again from an empty data directory (accounts and rooms
    /// are gone, as after a crash of a server without persistent rooms).
    fn stop(&self) {
        self.script("stop-stack.sh");
    }
}

impl Drop for OwnProsody {
    fn drop(&mut self) {
        self.script("stop-stack.sh");
    }
}

async fn start_bridge(prosody: &OwnProsody, dir: &std::path::Path) -> RunningBridge {
    let mut config: Config = config("xmpp-restart", dir);
    config.network["server"] = format!("127.0.0.1:{}", prosody.component_port).into();
    config.network["secret"] = crate::harness::env::xmpp_component_secret().into();
    let xmpp: XmppConfig = serde_json::from_value(network_section(&config)).expect("xmpp section");
    RunningBridge::start_with(config, XmppNetwork::new(xmpp), mxbridge_demo::DemoNetwork::new(Default::default()).1).await
}

#[tokio::test]
async fn test_muc_members_come_back_after_a_server_restart_and_a_bridge_restart_without_losing_messages() {
    crate::harness::init();
    let prosody = OwnProsody::start();
    let dir = state_dir("xmpp-restart");
    let bridge = start_bridge(&prosody, &dir).await;
    let room = format!("mxr{}", rand::random::<u32>());
    let muc = format!("{room}@conference.localhost");
    let alice_name = format!("alice{:08x}", rand::random::<u32>());
    let mut alice = XmppUser::login_on(&prosody.c2s(), &alice_name, "pw", true).await;
    alice.join(&muc, "alice").await;

    let mut user = TestUser::register("xmppr").await;
    let portal = user.join(&format!("#_xmppr_{room}=40conference.localhost:{}", bridge.config.domain)).await;
    let nick = user.localpart();
    let occupant = format!("{muc}/{nick}");
    alice.wait_for("the Matrix user in the MUC", |e| e.event == "presence" && e.from == occupant).await;
    let before_restarts = alice.send(&muc, "groupchat", "said before the restarts").await;
    let ghost = format!("@_xmppr_{room}=40conference.localhost=2falice:{}", bridge.config.domain);
    let first = user
        .wait_for_event(&portal, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "said before the restarts")
        .await
        .expect("the XMPP message arrives");

    // The XMPP server goes away; what the Matrix user says meanwhile waits for it.
    prosody.stop();
    drop(alice);
    tokio::time::sleep(Duration::from_secs(1)).await;
    user.send_text(&portal, "said while the server was down").await;
    prosody.script("start-prosody.sh");

    // The bridge reconnects and joins the MUC again before it sends what waited: the
    // message reaches the room (live, or as room history if the bridge was back first).
    let mut alice = XmppUser::login_on(&prosody.c2s(), &alice_name, "pw", true).await;
    alice.join_with_history(&muc, "alice", 20).await;
    alice
        .wait_for("the Matrix user back in the MUC", |e| e.event == "presence" && e.from == occupant && !e.xml.contains("unavailable"))
        .await;
    let queued =
        alice.wait_for("the message sent during the outage", |e| e.body.as_deref() == Some("said while the server was down")).await;
    assert_eq!(queued.from, occupant, "it comes from the Matrix user's occupant");

    // The bridge restarts: the user is out of the MUC while it is down, and back after,
    // from the store, with the portal and the message map as they were.
    bridge.stop().await;
    alice
        .wait_for("the Matrix user leaving with the bridge", |e| {
            e.event == "presence" && e.from == occupant && e.xml.contains("unavailable")
        })
        .await;
    let bridge = start_bridge(&prosody, &dir).await;
    alice
        .wait_for("the Matrix user back after the bridge restart", |e| {
            e.event == "presence" && e.from == occupant && !e.xml.contains("unavailable")
        })
        .await;
    user.send_text(&portal, "said after the bridge restart").await;
    alice
        .wait_for("Matrix → XMPP after the restart", |e| {
            e.is_live_message() && e.body.as_deref() == Some("said after the bridge restart")
        })
        .await;
    let correction = format!(
        "<message to='{muc}' type='groupchat' id='fix-after-restart'><body>said before the restarts, corrected</body><replace xmlns='urn:xmpp:message-correct:0' id='{before_restarts}'/></message>"
    );
    alice.send_raw(&correction).await;
    let first_id = first["event_id"].as_str().unwrap().to_owned();
    user.wait_for_event(&portal, WAIT, |ev| {
        ev["sender"] == ghost.as_str()
            && ev["content"]["m.relates_to"]["rel_type"] == "m.replace"
            && ev["content"]["m.relates_to"]["event_id"] == first_id.as_str()
    })
    .await
    .expect("a correction of a message from before the restarts edits its Matrix copy: the message map came back");
    bridge.stop().await;
}
