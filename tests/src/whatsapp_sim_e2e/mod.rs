//! The WhatsApp bridge end to end against the real Synapse, with the **simulated** WhatsApp
//! network (`backend: simulated`): the real core and the WhatsApp crate's bridge logic
//! (logins, portals, ghosts, conversion, commands), but WhatsApp itself is the crate's
//! deterministic simulator. Nothing here talks to WhatsApp's servers.
//!
//! The tests share the fixture's port, so they run one at a time (a bridge each, with its
//! own database).

use std::time::Duration;

use mxbridge_core::config::Config;
use mxbridge_whatsapp::sim::world;
use mxbridge_whatsapp::{SimAction, SimHandle, WhatsAppConfig, WhatsAppNetwork};
use serde_json::{Value, json};
use tokio::sync::{Mutex, MutexGuard};

use crate::demo_bridge::{RunningBridge, config, network_section, state_dir};
use crate::harness::matrix_client::TestUser;

mod backfill;
mod dm_invites;
mod messages;

const WAIT: Duration = Duration::from_secs(20);

/// One bridge at a time on the fixture's port.
static SERIAL: Mutex<()> = Mutex::const_new(());

struct WaBridge {
    bridge: RunningBridge,
    sim: SimHandle,
    dir: std::path::PathBuf,
    _serial: MutexGuard<'static, ()>,
}

impl WaBridge {
    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A bridge whose config `tweak` changed first.
    async fn start_with(tweak: impl Fn(&mut Config)) -> Self {
        let serial = SERIAL.lock().await;
        let dir = state_dir("whatsapp");
        let (bridge, sim) = run(&dir, &tweak).await;
        Self { bridge, sim, dir, _serial: serial }
    }

    fn bot(&self) -> String {
        self.bridge.config.bot_user_id.to_string()
    }

    fn ghost(&self, number: &str) -> String {
        format!("@whatsapp_{number}:{}", self.bridge.config.domain)
    }

    /// Stops the bridge and starts a new one on the same database (a restart).
    async fn restart(self) -> Self {
        let Self { bridge, dir, _serial, .. } = self;
        bridge.stop().await;
        let (bridge, sim) = run(&dir, &|_| {}).await;
        Self { bridge, sim, dir, _serial }
    }
}

async fn run(dir: &std::path::Path, tweak: &dyn Fn(&mut Config)) -> (RunningBridge, SimHandle) {
    let mut config = config("whatsapp", dir);
    config.network["data_directory"] = json!(dir.join("whatsapp-data"));
    tweak(&mut config);
    let wa: WhatsAppConfig = serde_json::from_value(network_section(&config)).expect("whatsapp section");
    let (network, sim) = WhatsAppNetwork::from_config(wa).expect("the fixture's WhatsApp section is valid");
    let demo = mxbridge_demo::DemoNetwork::new(Default::default()).1;
    (RunningBridge::start_with(config, network, demo).await, sim.expect("the fixture uses the simulated backend"))
}

fn from_with(ev: &Value, sender: &str, needle: &str) -> bool {
    ev["sender"] == sender && ev["type"] == "m.room.message" && ev["content"]["body"].as_str().is_some_and(|b| b.contains(needle))
}

/// A user with a management DM whose welcome arrived.
async fn user_with_dm(wa: &WaBridge, prefix: &str) -> (TestUser, String) {
    let mut user = TestUser::register(prefix).await;
    let room = user.create_dm(&wa.bot()).await;
    let bot = wa.bot();
    user.wait_for_event(&room, WAIT, |ev| from_with(ev, &bot, "management room")).await.expect("the bot welcomes the user");
    (user, room)
}

/// Sends a command and waits for the bot's answer containing `needle`.
async fn command(wa: &WaBridge, user: &mut TestUser, room: &str, line: &str, needle: &str) -> Value {
    user.send_text(room, line).await;
    bot_says(wa, user, room, needle).await
}

/// Waits for a bot message containing `needle`.
async fn bot_says(wa: &WaBridge, user: &mut TestUser, room: &str, needle: &str) -> Value {
    let bot = wa.bot();
    user.wait_for_event(room, WAIT, |ev| from_with(ev, &bot, needle))
        .await
        .unwrap_or_else(|e| panic!("no bot message containing {needle:?}: {e:?}"))
}

/// Logs in with the QR flow (scanned after one refresh, per the fixture); returns the
/// account number.
async fn qr_login(wa: &WaBridge, user: &mut TestUser, room: &str) -> String {
    let account = wa.sim.qr_account_of(&user.user_id);
    command(wa, user, room, "login", "Linked devices").await;
    bot_says(wa, user, room, &format!("Logged in as `+{account} (Sim User)`")).await;
    account
}

/// The invite whose stripped state mentions `needle` (a room name or a ghost).
async fn accept_invite(user: &mut TestUser, needle: &str) -> String {
    let room = user
        .wait_for_invite(WAIT, |_room, state| state.to_string().contains(needle))
        .await
        .unwrap_or_else(|e| panic!("no invite mentioning {needle}: {e:?}"));
    user.join(&room).await;
    room
}

/// Joins DM portals the bridge invites to until one has `ghost` in it (a DM's invite does
/// not name the other side); other DMs stay joined.
async fn accept_dm(user: &mut TestUser, ghost: &str) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let room = user
            .wait_for_invite(left, |_room, state| state.to_string().contains("\"is_direct\":true"))
            .await
            .unwrap_or_else(|e| panic!("no DM invite with {ghost}: {e:?}"));
        user.join(&room).await;
        let has_ghost = crate::harness::wait::wait_until(Duration::from_secs(3), Duration::from_millis(100), || {
            let members = user.joined_members(&room);
            async move { members.await.iter().any(|m| m == ghost).then_some(()) }
        })
        .await;
        if has_ghost.is_ok() {
            return room;
        }
    }
}

async fn wait_action(sim: &SimHandle, what: &str, matches: impl Fn(&SimAction) -> bool) -> SimAction {
    crate::harness::wait::wait_until(WAIT, Duration::from_millis(50), || {
        let found = sim.actions().into_iter().find(|a| matches(a));
        async move { found }
    })
    .await
    .unwrap_or_else(|_| panic!("the bridge did not {what} on the simulated network"))
}

#[tokio::test]
async fn test_qr_login_refreshes_in_place_then_portals_for_recent_chats_sim() {
    let wa = WaBridge::start().await;
    let (mut user, room) = user_with_dm(&wa, "waqr").await;
    let bot = wa.bot();
    let help = command(&wa, &mut user, &room, "help", "login").await;
    assert!(help["content"]["body"].as_str().unwrap().contains("`login [flow] [answer]`"), "{help}");

    let account = wa.sim.qr_account_of(&user.user_id);
    command(&wa, &mut user, &room, "login", "WhatsApp → ⋮ (Settings on iPhone) → Linked devices → Link a device").await;
    let image = user
        .wait_for_event(&room, WAIT, |ev| ev["sender"] == bot.as_str() && ev["content"]["msgtype"] == "m.image")
        .await
        .expect("a QR image");
    assert_eq!(image["content"]["info"]["mimetype"], "image/png");
    assert!(image["content"]["url"].as_str().unwrap().starts_with("mxc://"));
    assert!(
        image["content"]["body"].as_str().unwrap().contains("this is its text: 2@sim0,"),
        "the raw code for clients without images: {image}"
    );
    let image_id = image["event_id"].as_str().unwrap().to_owned();
    // The fixture scans the second code: the first expires and is replaced in place.
    let edit = user
        .wait_for_event(&room, WAIT, |ev| {
            ev["content"]["m.relates_to"]["rel_type"] == "m.replace" && ev["content"]["m.relates_to"]["event_id"] == image_id.as_str()
        })
        .await
        .expect("the refreshed code edits the image");
    assert_eq!(edit["content"]["m.new_content"]["msgtype"], "m.image");
    assert!(edit["content"]["m.new_content"]["body"].as_str().unwrap().contains("2@sim1,"));
    assert_ne!(edit["content"]["m.new_content"]["url"], image["content"]["url"], "a new image");
    bot_says(&wa, &mut user, &room, &format!("Logged in as `+{account} (Sim User)`")).await;
    assert_eq!(wa.sim.linked_devices(&account), vec!["mxbridge e2e".to_owned()], "the phone lists the device by its configured name");

    // History sync: Alice's DM (she writes right away) and the group active two days ago.
    let alice_dm = accept_dm(&mut user, &wa.ghost(world::ALICE)).await;
    let alice = wa.ghost(world::ALICE);
    user.wait_for_event(&alice_dm, WAIT, |ev| from_with(ev, &alice, world::ALICE_GREETING)).await.expect("Alice's greeting");
    assert_eq!(user.display_name(&alice).await.as_deref(), Some("Alice (WA)"));
    let friends = accept_invite(&mut user, "Sim Friends").await;
    let bob = wa.ghost(world::BOB);
    crate::harness::wait::wait_until(WAIT, Duration::from_millis(200), || {
        let members = user.joined_members(&friends);
        let bob = bob.clone();
        async move { members.await.contains(&bob).then_some(()) }
    })
    .await
    .expect("the group's members are ghosts in its room");
    assert_eq!(user.display_name(&bob).await.as_deref(), Some("Bob (WA)"));
    // The group last active ten days ago (initial_chat_days: 7) gets no portal.
    assert!(user.wait_for_invite(Duration::from_secs(2), |_r, s| s.to_string().contains("Sim Family")).await.is_err());
    wa.bridge.stop().await;
}

#[tokio::test]
async fn test_qr_login_expires_after_the_last_code_sim() {
    let wa = WaBridge::start().await;
    let (mut user, room) = user_with_dm(&wa, "waexpire").await;
    wa.sim.set_qr_scan(&user.user_id, None);
    command(&wa, &mut user, &room, "login qr", "Linked devices").await;
    let msg = bot_says(&wa, &mut user, &room, "the login timed out").await;
    let body = msg["content"]["body"].as_str().unwrap();
    assert!(body.contains("no QR code was scanned before the last one expired") && body.contains("Send `login`"), "{body}");
    // Three codes: the image and two edits of it.
    let bot = wa.bot();
    let edits = user
        .wait_for_event(&room, WAIT, |ev| {
            ev["sender"] == bot.as_str() && ev["content"]["m.new_content"]["body"].as_str().is_some_and(|b| b.contains("2@sim2,"))
        })
        .await;
    assert!(edits.is_ok(), "the third code was shown: {edits:?}");
    command(&wa, &mut user, &room, "list-logins", "You have no logins").await;
    wa.bridge.stop().await;
}

#[tokio::test]
async fn test_pairing_code_login_sim() {
    let wa = WaBridge::start().await;
    let (mut user, room) = user_with_dm(&wa, "wapair").await;
    let number = format!("4420{:07}", rand::random::<u32>() % 10_000_000);
    command(&wa, &mut user, &room, "login phone 0770", "looks like a national number").await;
    command(&wa, &mut user, &room, "cancel", "Login cancelled").await;
    let code = command(&wa, &mut user, &room, &format!("login phone +{number}"), "Link with phone number instead").await;
    assert!(code["content"]["body"].as_str().unwrap().contains(&format!("`{}`", world::pair_code_for(&number))), "{code}");
    bot_says(&wa, &mut user, &room, &format!("Logged in as `+{number} (Sim User)`")).await;
    command(&wa, &mut user, &room, "list-logins", &format!("`+{number}`")).await;
    wa.bridge.stop().await;
}

#[tokio::test]
async fn test_list_open_and_pm_sim() {
    let wa = WaBridge::start().await;
    let (mut user, room) = user_with_dm(&wa, "walist").await;
    qr_login(&wa, &mut user, &room).await;
    let page1 = command(&wa, &mut user, &room, "list contacts", "page 1 of 2").await;
    let body = page1["content"]["body"].as_str().unwrap();
    assert!(body.contains("Alice: +447700900002") && body.contains("`list contacts 2`") && !body.contains("Echo"), "{body}");
    let page2 = command(&wa, &mut user, &room, "list contacts 2", "page 2 of 2").await;
    assert!(page2["content"]["body"].as_str().unwrap().contains("Echo: +447700900001"), "{page2}");
    let groups = command(&wa, &mut user, &room, "list groups", "Your WhatsApp groups").await;
    let body = groups["content"]["body"].as_str().unwrap();
    assert!(
        body.contains(&format!("Sim Friends: `{}`", world::FRIENDS_GROUP))
            && body.contains(&format!("Sim Family: `{}`", world::FAMILY_GROUP)),
        "{body}"
    );

    command(&wa, &mut user, &room, "open 12345", "is not a group id").await;
    // The guide's own line: its group id is the simulator's Sim Friends, which the login
    // bridges too (in the background, so it may or may not be done by now).
    assert_eq!(world::FRIENDS_GROUP, "447818943525-1636277287");
    let opened = command(&wa, &mut user, &room, "open 447818943525-1636277287", "Sim Friends").await;
    let body = opened["content"]["body"].as_str().unwrap();
    assert!(body.contains("already bridged") || body.contains("Bridging Sim Friends"), "{body}");
    command(&wa, &mut user, &room, &format!("open {}", world::FAMILY_GROUP), "Bridging Sim Family").await;
    let family = accept_invite(&mut user, "Sim Family").await;
    let (carol, dave) = (wa.ghost(world::CAROL), wa.ghost(world::DAVE));
    crate::harness::wait::wait_until(WAIT, Duration::from_millis(200), || {
        let members = user.joined_members(&family);
        let (carol, dave) = (carol.clone(), dave.clone());
        async move {
            let m = members.await;
            (m.contains(&carol) && m.contains(&dave)).then_some(())
        }
    })
    .await
    .expect("Carol and Dave are in the group's room as ghosts");
    assert_eq!(user.display_name(&carol).await.as_deref(), Some("Carol (WA)"));

    command(&wa, &mut user, &room, "pm +447700900000", "+447700900000 is not on WhatsApp").await;
    command(&wa, &mut user, &room, "pm alice", "is not a phone number").await;
    command(&wa, &mut user, &room, "pm +447700900123", "accept the invite").await;
    accept_dm(&mut user, &wa.ghost("447700900123")).await;
    assert_eq!(user.display_name(&wa.ghost("447700900123")).await.as_deref(), Some("+447700900123 (WA)"));
    wa.bridge.stop().await;
}

#[tokio::test]
async fn test_restart_restores_the_login_then_logout_unlinks_sim() {
    let wa = WaBridge::start().await;
    let (mut user, room) = user_with_dm(&wa, "warestart").await;
    let account = qr_login(&wa, &mut user, &room).await;
    command(&wa, &mut user, &room, "pm +447700900001", "accept the invite").await;
    let portal = accept_dm(&mut user, &wa.ghost(world::ECHO)).await;

    let wa = wa.restart().await;
    command(&wa, &mut user, &room, "list-logins", &format!("`+{account}` (+{account} (Sim User), connected)")).await;
    user.send_text(&portal, "after the restart").await;
    let echo = wa.ghost(world::ECHO);
    user.wait_for_event(&portal, WAIT, |ev| from_with(ev, &echo, "echo: after the restart")).await.expect("the restored login bridges");

    command(&wa, &mut user, &room, "logout", &format!("Logged out of `+{account} (Sim User)`")).await;
    wait_action(&wa.sim, "unlink the device", |a| matches!(a, SimAction::LoggedOut { account: a } if *a == account)).await;
    command(&wa, &mut user, &room, "list-logins", "You have no logins").await;
    wa.bridge.stop().await;
}

#[tokio::test]
async fn test_logout_that_cannot_reach_whatsapp_says_to_remove_the_device_on_the_phone_sim() {
    let wa = WaBridge::start().await;
    let (mut user, room) = user_with_dm(&wa, "wanounlink").await;
    let account = qr_login(&wa, &mut user, &room).await;
    assert!(wa.sim.cut_off(&account), "the login was connected");

    command(&wa, &mut user, &room, "logout", &format!("Logged out of `+{account} (Sim User)`")).await;
    bot_says(&wa, &mut user, &room, "remove it in WhatsApp → ⋮ → Linked devices").await;
    assert!(!wa.sim.linked_devices(&account).is_empty(), "WhatsApp was not told, so the phone still lists the device");
    assert!(!wa.sim.actions().iter().any(|a| matches!(a, SimAction::LoggedOut { account: a } if *a == account)));
    command(&wa, &mut user, &room, "list-logins", "You have no logins").await;
    wa.bridge.stop().await;
}

#[tokio::test]
async fn test_delete_all_portals_and_delete_session_sim() {
    let wa = WaBridge::start().await;
    let (mut user, room) = user_with_dm(&wa, "wadelete").await;
    let account = qr_login(&wa, &mut user, &room).await;
    let alice_dm = accept_dm(&mut user, &wa.ghost(world::ALICE)).await;
    accept_invite(&mut user, "Sim Friends").await;
    command(&wa, &mut user, &room, "delete-all-portals", "Deleted 2 portals").await;
    user.wait_for_membership(&alice_dm, "leave", WAIT).await.expect("the user is removed from the deleted portal");

    command(&wa, &mut user, &room, "delete-session", "Deleted your WhatsApp session from the bridge").await;
    bot_says(&wa, &mut user, &room, &format!("`+{account}` was logged out (you deleted the session")).await;
    wait_action(&wa.sim, "drop the session", |a| matches!(a, SimAction::SessionDeleted { account: a } if *a == account)).await;
    assert!(wa.sim.actions().iter().all(|a| !matches!(a, SimAction::LoggedOut { .. })), "WhatsApp was not told");
    command(&wa, &mut user, &room, "list-logins", "You have no logins").await;
    wa.bridge.stop().await;
}

#[tokio::test]
async fn test_phone_offline_warning_disconnect_and_unlink_sim() {
    let wa = WaBridge::start().await;
    let (mut user, room) = user_with_dm(&wa, "waphone").await;
    let account = qr_login(&wa, &mut user, &room).await;

    assert!(wa.sim.phone_offline_for_days(&account, 12));
    bot_says(&wa, &mut user, &room, "Your phone has not been online for 12 days. WhatsApp unlinks the bridge after 14 days").await;

    // The core reports a disconnect only after it lasted a minute.
    assert!(wa.sim.drop_connection(&account, Duration::from_secs(63)));
    let lost = tokio::time::timeout(Duration::from_secs(80), bot_says_long(&wa, &mut user, &room, "Lost the connection")).await;
    assert!(lost.is_ok(), "the disconnect is shown");
    tokio::time::timeout(Duration::from_secs(30), bot_says_long(&wa, &mut user, &room, "Connected to WhatsApp as `+"))
        .await
        .expect("the reconnect is shown");

    assert!(wa.sim.unlink(&account));
    bot_says(&wa, &mut user, &room, "was logged out (WhatsApp unlinked this device: the phone was offline for 14 days). Send `login`")
        .await;
    command(&wa, &mut user, &room, "list-logins", "You have no logins").await;
    wa.bridge.stop().await;
}

/// `bot_says` without the short timeout.
async fn bot_says_long(wa: &WaBridge, user: &mut TestUser, room: &str, needle: &str) {
    let bot = wa.bot();
    user.wait_for_event(room, Duration::from_secs(120), |ev| from_with(ev, &bot, needle)).await.expect("the bot's message");
}
