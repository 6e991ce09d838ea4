//! The Telegram bridge end to end against a real Synapse, with the **simulated** Telegram
//! backend (`mxbridge_telegram::sim`): these tests prove the bridge logic the real backend
//! shares, not Telegram itself. All tests use the one fixture's port, so they run one at a
//! time, each with its own bridge and database.

mod backfill;
mod chats;
mod dm_invites;
mod login;
mod messages;

use std::time::Duration;

use mxbridge_core::config::Config;
use mxbridge_telegram::backend::{FormattedText, Peer, TgMediaKind};
use mxbridge_telegram::entities::{Entity, EntityKind};
use mxbridge_telegram::sim::directory::{
    ALICE, BOB, CAROL, CHANNEL, ECHO, ECHO_LOCATION, GREETER, GROUP, LATE_CHANNEL, LATE_OWN_CHANNEL, OWN_CHANNEL, avatar_png,
};
use mxbridge_telegram::sim::{LOGIN_CODE, SimAction, SimHandle, TWO_FA_PASSWORD, TWO_FA_PHONE};
use mxbridge_telegram::{TelegramConfig, TelegramNetwork};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::demo_bridge::{RunningBridge, config, network_section, state_dir};
use crate::harness::matrix_client::TestUser;

pub(super) const WAIT: Duration = Duration::from_secs(20);

/// The fixture's port is shared: one bridge at a time.
pub(super) static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

pub(super) struct TgBridge {
    pub(super) bridge: RunningBridge,
    pub(super) sim: SimHandle,
}

pub(super) async fn start(dir: &std::path::Path) -> TgBridge {
    start_with(dir, |_| {}).await
}

/// A bridge whose config `tweak` changed first.
pub(super) async fn start_with(dir: &std::path::Path, tweak: impl FnOnce(&mut Config)) -> TgBridge {
    let mut config: Config = config("telegram", dir);
    tweak(&mut config);
    let mut raw: TelegramConfig = serde_json::from_value(network_section(&config)).expect("telegram network section");
    // The flood test's short wait is told to the user, as a long one would be.
    raw.flood_notice_after_seconds = 2;
    let (network, sim) = TelegramNetwork::from_config(raw).expect("a valid telegram section");
    let demo_handle = mxbridge_demo::DemoNetwork::new(Default::default()).1;
    let bridge = RunningBridge::start_with(config, network, demo_handle).await;
    TgBridge { bridge, sim: sim.expect("the simulated backend has a handle") }
}

pub(super) fn bot(b: &TgBridge) -> String {
    b.bridge.config.bot_user_id.to_string()
}

pub(super) fn ghost(id: i64) -> String {
    format!("@telegram_{id}:{}", crate::harness::env::server_name())
}

pub(super) fn is_notice(ev: &Value, bot: &str, needle: &str) -> bool {
    ev["sender"] == bot && ev["type"] == "m.room.message" && ev["content"]["body"].as_str().is_some_and(|b| b.contains(needle))
}

/// Sends a line and waits for the bot's answer containing `needle`.
pub(super) async fn command(user: &mut TestUser, room: &str, bot: &str, line: &str, needle: &str) -> Value {
    user.send_text(room, line).await;
    user.wait_for_event(room, WAIT, |ev| is_notice(ev, bot, needle)).await.unwrap_or_else(|e| panic!("no {needle:?} after {line:?}: {e:?}"))
}

pub(super) async fn management_room(b: &TgBridge, prefix: &str) -> (TestUser, String) {
    let mut user = TestUser::register(prefix).await;
    let room = user.create_dm(&bot(b)).await;
    let bot = bot(b);
    user.wait_for_event(&room, WAIT, |ev| is_notice(ev, &bot, "management room")).await.expect("the bot welcomes the user");
    (user, room)
}

/// Logs in with a phone number that has no 2FA; returns the account's user id.
pub(super) async fn login(user: &mut TestUser, room: &str, bot: &str, phone: &str) -> i64 {
    command(user, room, bot, "login", "phone number").await;
    command(user, room, bot, phone, "login code").await;
    command(user, room, bot, LOGIN_CODE, "Logged in as").await;
    SimHandle::account_id(phone)
}

pub(super) fn random_phone() -> String {
    format!("+44{}", 70_000_000 + rand::random::<u32>() % 9_999_999)
}

/// The room name in an invite's stripped state (`Null` when it has none).
pub(super) fn invite_name(state: &Value) -> Value {
    state
        .as_array()
        .and_then(|evs| evs.iter().find(|ev| ev["type"] == "m.room.name"))
        .map(|ev| ev["content"]["name"].clone())
        .unwrap_or(Value::Null)
}

/// Whether an invite marks its room as a DM (`is_direct` in the invited member's event).
pub(super) fn invite_is_direct(state: &Value) -> bool {
    state.as_array().is_some_and(|evs| evs.iter().any(|ev| ev["type"] == "m.room.member" && ev["content"]["is_direct"] == true))
}

/// Joins invites as they come until one room whose members and name satisfy `pred` is found.
pub(super) async fn join_portal(user: &mut TestUser, what: &str, pred: impl Fn(&[String], &Value) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let name = std::cell::RefCell::new(Value::Null);
        let room = user
            .wait_for_invite(left, |_, state| {
                *name.borrow_mut() = invite_name(state);
                true
            })
            .await
            .unwrap_or_else(|e| panic!("no portal {what}: {e:?}"));
        user.join(&room).await;
        // The ghosts join right after the room is created, maybe after the user.
        let name = name.into_inner();
        let found = crate::harness::wait::wait_until(Duration::from_secs(3), Duration::from_millis(100), || {
            let members = user.joined_members(&room);
            let name = &name;
            let pred = &pred;
            async move { pred(&members.await, name).then_some(()) }
        })
        .await;
        if found.is_ok() {
            return room;
        }
    }
}

pub(super) async fn wait_action(sim: &SimHandle, pred: impl Fn(&SimAction) -> bool) -> SimAction {
    crate::harness::wait::wait_until(WAIT, Duration::from_millis(50), || {
        let found = sim.actions().into_iter().find(|a| pred(a));
        async move { found }
    })
    .await
    .expect("the simulated Telegram saw the action")
}
