//! Operators' view, end to end: `/metrics` counts real traffic through a real Synapse,
//! `/health` answers, and a login's connection changes reach its owner without flooding.
//! The bridge runs the demo network (a simulation: this proves the core, not a real
//! network), from the `demo-metrics` fixture: appservice on 29353, metrics on 29354.
//!
//! Each test starts its own bridge with a fresh database, one at a time (they share the
//! fixture's ports), so counters start from a known state and no other test moves them.

use std::time::Duration;

use mxbridge_core::appservice::{HealthProbeError, probe_health};
use mxbridge_core::ids::LoginId;
use mxbridge_core::network::event::{LoginState, RemoteEvent};
use mxbridge_demo::LOGIN_CODE;
use serde_json::{Value, json};
use tokio::sync::{Mutex, MutexGuard};

use crate::demo_bridge::{RunningBridge, config, state_dir};
use crate::harness::matrix_client::TestUser;
use crate::harness::wait::wait_until;

const WAIT: Duration = Duration::from_secs(20);
const METRICS_URL: &str = "http://127.0.0.1:29354/metrics";

/// One bridge on the fixture's ports at a time.
async fn exclusive() -> MutexGuard<'static, ()> {
    static PORTS: Mutex<()> = Mutex::const_new(());
    PORTS.lock().await
}

async fn start() -> RunningBridge {
    RunningBridge::start(config("demo-metrics", &state_dir("metrics"))).await
}

fn is_notice_from(ev: &Value, sender: &str, needle: &str) -> bool {
    ev["sender"] == sender && ev["type"] == "m.room.message" && ev["content"]["body"].as_str().is_some_and(|b| b.contains(needle))
}

/// A user with a management room, logged in to the demo network; returns the login id.
async fn logged_in_user(bridge: &RunningBridge, prefix: &str) -> (TestUser, String, LoginId) {
    let bot = bridge.config.bot_user_id.to_string();
    let mut user = TestUser::register(prefix).await;
    let room = user.create_dm(&bot).await;
    user.wait_for_event(&room, WAIT, |ev| is_notice_from(ev, &bot, "management room")).await.expect("the bot welcomes the user");
    let name = format!("{prefix}{}", rand::random::<u32>());
    for (line, answer) in [("login", "user name"), (name.as_str(), "code"), (LOGIN_CODE, "Logged in as")] {
        user.send_text(&room, line).await;
        user.wait_for_event(&room, WAIT, |ev| is_notice_from(ev, &bot, answer))
            .await
            .unwrap_or_else(|e| panic!("no answer containing {answer:?} to {line:?}: {e:?}"));
    }
    (user, room, LoginId::new(format!("demo:{name}")))
}

async fn scrape() -> String {
    let resp = reqwest::get(METRICS_URL).await.expect("the metrics listener answers");
    assert!(resp.status().is_success(), "{}", resp.status());
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    resp.text().await.unwrap()
}

/// The value of one series; 0 when absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok()).unwrap_or(0.0)
}

/// The sum of every series of a family whose labels contain `filter`.
fn sum(text: &str, family: &str, filter: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{family}{{")) && l.contains(filter))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

async fn health(bridge: &RunningBridge) -> (reqwest::StatusCode, Value) {
    let (host, port) = &bridge.config.listen;
    let resp = reqwest::get(format!("http://{host}:{port}/health")).await.expect("the bridge answers /health");
    (resp.status(), resp.json().await.expect("/health answers JSON"))
}

/// Polls the metrics until `ready` holds, then returns that scrape.
async fn scrape_until(what: &str, ready: impl Fn(&str) -> bool) -> String {
    let found = wait_until(WAIT, Duration::from_millis(200), || async {
        let text = scrape().await;
        ready(&text).then_some(text)
    })
    .await;
    match found {
        Ok(text) => text,
        Err(_) => panic!("the metrics never showed {what}:\n{}", scrape().await),
    }
}

const TO_REMOTE: &str = "direction=\"matrix_to_remote\"";
const TO_MATRIX: &str = "direction=\"remote_to_matrix\"";

#[tokio::test]
async fn test_metrics_count_traffic_through_synapse_and_health_is_ok() {
    let _ports = exclusive().await;
    let bridge = start().await;
    let bot = bridge.config.bot_user_id.to_string();

    let (status, body) = health(&bridge).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_eq!(body["database"]["reachable"], true);
    assert!(!body.to_string().contains(bridge.config.hs_token.expose().as_str()), "no secrets in /health");
    let (host, port) = &bridge.config.listen;
    probe_health(host, *port).await.expect("`mxbridge healthcheck` finds the bridge healthy");

    let (mut user, room, _login) = logged_in_user(&bridge, "metricsuser").await;
    let connected = "mxbridge_logins{network=\"demo\",state=\"connected\"}";
    scrape_until("one connected login", |t| value(t, connected) == 1.0).await;
    user.send_text(&room, "pm echo").await;
    let portal = user.wait_for_invite(WAIT, |_room, _state| true).await.expect("an invite to the DM portal");
    user.join(&portal).await;

    // Start counting once everything so far is handled.
    let before = scrape_until("an empty inbox", |t| t.lines().any(|l| l == "mxbridge_inbox_backlog 0")).await;
    let ghost = format!("@_dmet_echo:{}", bridge.config.domain);
    for i in 0..3 {
        user.send_text(&portal, &format!("counted {i}")).await;
        let echo = format!("echo: counted {i}");
        user.wait_for_event(&portal, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == echo.as_str())
            .await
            .expect("the echo contact answers through the bridge");
    }
    user.send_text(&portal, "please fail now").await;
    user.wait_for_event(&portal, WAIT, |ev| is_notice_from(ev, &bot, "Not delivered")).await.expect("the failure is reported");
    // A transaction with an event lacking its sender and id: stored, then skipped.
    let (host, port) = &bridge.config.listen;
    let malformed = json!({"events": [{"type": "m.room.message", "room_id": portal, "content": {"body": "x"}}]});
    let pushed = reqwest::Client::new()
        .put(format!("http://{host}:{port}/_matrix/app/v1/transactions/metrics-malformed-{}", rand::random::<u32>()))
        .bearer_auth(bridge.config.hs_token.expose())
        .json(&malformed)
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), reqwest::StatusCode::OK);

    let grew = |t: &str, family: &str, filter: &str| sum(t, family, filter) - sum(&before, family, filter);
    let after = scrape_until("the traffic counted and the inbox empty again", |t| {
        grew(t, "mxbridge_messages_bridged_total", TO_REMOTE) >= 3.0
            && grew(t, "mxbridge_messages_bridged_total", TO_MATRIX) >= 3.0
            && grew(t, "mxbridge_send_failures_total", TO_REMOTE) >= 1.0
            && grew(t, "mxbridge_matrix_events_skipped_total", "malformed") >= 1.0
            && t.lines().any(|l| l == "mxbridge_inbox_backlog 0")
            && grew(t, "mxbridge_matrix_events_total", "timeline") == grew(t, "mxbridge_transaction_events_total", "timeline")
    })
    .await;

    // Exact amounts: three echoes each way, one refused message, one malformed event.
    assert_eq!(grew(&after, "mxbridge_messages_bridged_total", TO_REMOTE), 3.0, "{after}");
    assert_eq!(grew(&after, "mxbridge_messages_bridged_total", TO_MATRIX), 3.0, "{after}");
    assert_eq!(grew(&after, "mxbridge_send_failures_total", TO_REMOTE), 1.0, "{after}");
    assert_eq!(grew(&after, "mxbridge_send_failures_total", TO_MATRIX), 0.0, "{after}");
    assert_eq!(grew(&after, "mxbridge_matrix_events_skipped_total", "malformed"), 1.0, "{after}");
    // Our 4 messages, the 3 echoes, the bot's failure notice and the malformed event at least,
    // all of type m.room.message; Synapse decides how many transactions carry them.
    let messages = "mxbridge_matrix_events_total{container=\"timeline\",type=\"m.room.message\"}";
    assert!(value(&after, messages) - value(&before, messages) >= 9.0, "{after}");
    let stored = "mxbridge_transactions_total{outcome=\"stored\"}";
    assert!(value(&after, stored) - value(&before, stored) >= 2.0, "Synapse's and ours: {after}");
    // The histogram times every transaction answered.
    let answered = sum(&after, "mxbridge_transactions_total", "outcome");
    assert_eq!(value(&after, "mxbridge_transaction_duration_seconds_count"), answered, "{after}");
    assert_eq!(value(&after, "mxbridge_transaction_duration_seconds_bucket{le=\"+Inf\"}"), answered, "{after}");
    assert!(value(&after, "mxbridge_transaction_duration_seconds_sum") > 0.0);
    assert_eq!(value(&after, connected), 1.0, "{after}");
    assert!(!after.contains(user.user_id.as_str()) && !after.contains("@"), "no user IDs in the metrics");
    assert!(!after.contains(bridge.config.hs_token.expose().as_str()) && !after.contains(bridge.config.as_token.expose().as_str()));

    let (status, body) = health(&bridge).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_eq!(body["homeserver"]["reachable"], true, "the bridge's own check reached Synapse: {body}");
    bridge.stop().await;
}

#[tokio::test]
async fn test_lost_connection_is_told_after_the_grace_then_back_and_flapping_is_quiet() {
    let _ports = exclusive().await;
    let bridge = start().await;
    let bot = bridge.config.bot_user_id.to_string();
    let (mut user, room, login) = logged_in_user(&bridge, "flapuser").await;
    user.wait_for_event(&room, WAIT, |ev| is_notice_from(ev, &bot, "Connected to Demo")).await.expect("the first connection is told");
    let down = |why: &str| RemoteEvent::LoginState(LoginState::TransientDisconnect(why.to_owned()));
    let up = || RemoteEvent::LoginState(LoginState::Connected);

    // A loss that lasts past the grace (1 s in the fixture) is told, and so is the return.
    assert!(bridge.handle.inject(&login, down("simulated netsplit")));
    user.wait_for_event(&room, WAIT, |ev| {
        is_notice_from(ev, &bot, "Lost the connection") && is_notice_from(ev, &bot, "simulated netsplit")
    })
    .await
    .expect("the loss is told");
    let reconnecting = "mxbridge_logins{network=\"demo\",state=\"reconnecting\"}";
    scrape_until("the login reconnecting", |t| value(t, reconnecting) == 1.0).await;
    assert!(bridge.handle.inject(&login, up()));
    user.wait_for_event(&room, WAIT, |ev| is_notice_from(ev, &bot, "Connected to Demo") && is_notice_from(ev, &bot, "again"))
        .await
        .expect("the return is told");

    // Flapping: a drop healed within the grace, then a lasting one soon after the last
    // notice. Neither is told (the second only after NOTICE_INTERVAL, if it still lasted).
    assert!(bridge.handle.inject(&login, down("short blip")));
    assert!(bridge.handle.inject(&login, up()));
    assert!(bridge.handle.inject(&login, down("second split")));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(bridge.handle.inject(&login, up()));
    // A command's answer marks the end: everything the bridge said before it is synced.
    user.send_text(&room, "list-logins").await;
    user.wait_for_event(&room, WAIT, |ev| is_notice_from(ev, &bot, login.as_str())).await.expect("list-logins answers");
    let quiet = user
        .wait_for_event(&room, Duration::from_secs(2), |ev| {
            is_notice_from(ev, &bot, "Lost the connection") || is_notice_from(ev, &bot, "Connected to")
        })
        .await;
    assert!(quiet.is_err(), "the flapping was not told: {quiet:?}");
    bridge.stop().await;
}

#[tokio::test]
async fn test_health_is_503_when_the_homeserver_does_not_answer() {
    let _ports = exclusive().await;
    let mut config = config("demo-metrics", &state_dir("metrics-nohs"));
    // Nothing listens on the discard port: the bridge's periodic check finds no homeserver.
    config.homeserver_url = "http://127.0.0.1:9".to_owned();
    // Not stopped at the end (the bridge keeps waiting for its homeserver) but dropped with
    // this test's runtime; metrics stay off so no port outlives the test but the retried one.
    config.metrics_listen = None;
    let bridge = RunningBridge::start(config).await;
    let unhealthy = wait_until(Duration::from_secs(30), Duration::from_millis(250), || async {
        let (status, body) = health(&bridge).await;
        (status == reqwest::StatusCode::SERVICE_UNAVAILABLE).then_some(body)
    })
    .await
    .expect("/health turns 503 once the check fails");
    assert_eq!(unhealthy["status"], "unhealthy");
    assert_eq!(unhealthy["homeserver"]["reachable"], false, "{unhealthy}");
    assert_eq!(unhealthy["database"]["reachable"], true, "{unhealthy}");
    assert!(unhealthy["reasons"][0].as_str().unwrap().contains("homeserver did not answer"), "{unhealthy}");
    assert!(!unhealthy.to_string().contains("127.0.0.1:9"), "no addresses in /health: {unhealthy}");
    let (host, port) = &bridge.config.listen;
    let probe = probe_health(host, *port).await.expect_err("`mxbridge healthcheck` fails while the homeserver is away");
    assert!(matches!(probe, HealthProbeError::Unhealthy { .. }), "{probe}");
    assert!(probe.to_string().contains("homeserver did not answer"), "the healthcheck gives the reason: {probe}");
}
