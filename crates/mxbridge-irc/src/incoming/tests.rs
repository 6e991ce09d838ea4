//! Puppets fed raw server lines, no server needed.

use mxbridge_core::ids::LoginId;
use mxbridge_core::network::event::EventSink;
use tokio::sync::mpsc;

use super::*;
use crate::client::Shared;

type Events = mpsc::UnboundedReceiver<(LoginId, RemoteEvent)>;

/// Puppets of Matrix users on one network, fed raw server lines (no server needed).
fn network() -> Arc<Shared> {
    let config = serde_json::from_value(serde_json::json!({"server": "irc.example", "quit_debounce_secs": 1})).unwrap();
    Shared::new(config, crate::ids::IdScheme::bare(), Vec::new())
}

fn puppet(shared: &Arc<Shared>, user: &str, nick: &str) -> (IrcClient, Events) {
    let (tx, rx) = mpsc::unbounded_channel();
    let client = IrcClient::new(shared.clone(), user.into(), nick.into(), EventSink::new(LoginId::new(format!("net:{user}")), tx));
    shared.puppets.rename(nick, nick, user);
    shared.clients.lock().unwrap().insert(user.into(), client.clone());
    (client, rx)
}

fn feed(client: &IrcClient, line: &str) {
    client.inner.handle(&line.parse::<Message>().expect("a valid IRC line"));
}

fn drain(rx: &mut Events) -> Vec<RemoteEvent> {
    std::iter::from_fn(|| rx.try_recv().ok().map(|(_, e)| e)).collect()
}

fn memberships(events: &[RemoteEvent]) -> Vec<(String, Membership)> {
    events
        .iter()
        .filter_map(|e| match e {
            RemoteEvent::Member { sender, membership, .. } => Some((sender.id.as_str().to_owned(), *membership)),
            _ => None,
        })
        .collect()
}

fn pending(client: &IrcClient, target: &str, label: Option<&str>) -> tokio::sync::oneshot::Receiver<Result<Option<String>, String>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let entry = crate::client::PendingEcho {
        target: casefold(target),
        lines_left: 1,
        msgid: None,
        label: label.map(str::to_owned),
        done: Some(tx),
    };
    client.inner.pending_echoes.lock().unwrap().push_back(entry);
    rx
}

#[tokio::test]
async fn test_a_labeled_refusal_fails_only_its_own_message_and_echoes_still_match() {
    let shared = network();
    let (alice, _events) = puppet(&shared, "@alice:hs", "alice");
    let refused = pending(&alice, "#quiet", Some("lbl1"));
    let delivered = pending(&alice, "#quiet", Some("lbl2"));
    feed(
        &alice,
        "@label=lbl1 :irc.example 404 alice #quiet :You cannot send messages to this channel whilst the +m (moderated) mode is set.",
    );
    feed(&alice, "@label=other :irc.example 404 alice #quiet :someone else's label");
    feed(&alice, "@label=lbl2;msgid=abc :alice!a@h PRIVMSG #quiet :hi");
    assert_eq!(refused.await.unwrap(), Err("You cannot send messages to this channel whilst the +m (moderated) mode is set.".into()));
    assert_eq!(delivered.await.unwrap(), Ok(Some("abc".into())), "the next message still gets its echo's msgid");
    assert!(alice.inner.pending_echoes.lock().unwrap().is_empty());
}

#[tokio::test]
async fn test_a_netsplit_quit_is_held_and_forgotten_when_the_user_returns() {
    let shared = network();
    let (alice, mut events) = puppet(&shared, "@alice:hs", "alice");
    feed(&alice, ":alice!a@h JOIN #c");
    feed(&alice, ":srv 353 alice = #c :alice @bob carol");
    drain(&mut events);

    feed(&alice, ":bob!b@h QUIT :irc.a.example irc.b.example");
    feed(&alice, ":carol!c@h QUIT :Quit: bye");
    assert_eq!(memberships(&drain(&mut events)), vec![("carol".into(), Membership::Leave)], "only the ordinary quit is applied");
    feed(&alice, ":bob!b@h JOIN #c");
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    assert!(memberships(&drain(&mut events)).is_empty(), "bob came back in time: he never left Matrix");

    feed(&alice, ":bob!b@h QUIT :irc.a.example irc.b.example");
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    assert_eq!(memberships(&drain(&mut events)), vec![("bob".into(), Membership::Leave)], "a split that lasts is applied");
}

#[tokio::test]
async fn test_only_running_puppets_idle_past_the_timeout_count_as_idle() {
    let config = serde_json::json!({"server": "127.0.0.1", "port": 1, "idle_timeout_secs": 60});
    let shared = Shared::new(serde_json::from_value(config).unwrap(), crate::ids::IdScheme::bare(), Vec::new());
    let (alice, _events) = puppet(&shared, "@alice:hs", "alice");
    let now = now_ms();
    assert!(!alice.is_idle(now + 3_600_000), "a puppet that is not running is not disconnected again");
    alice.ensure_running();
    assert!(!alice.is_idle(now + 30_000), "not yet");
    assert!(alice.is_idle(now + 61_000), "idle past the timeout");
    alice.touch();
    assert!(!alice.is_idle(now_ms() + 30_000), "activity resets the clock");
    alice.inner.always_active.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(!alice.is_idle(now_ms() + 3_600_000), "`active` exempts the user");
    alice.stop("test").await;
}

#[tokio::test]
async fn test_one_puppet_speaks_for_a_channel() {
    let shared = network();
    let (alice, mut a_events) = puppet(&shared, "@alice:hs", "alice");
    let (bob, mut b_events) = puppet(&shared, "@bob:hs", "bob");
    for (client, nick) in [(&alice, "alice"), (&bob, "bob")] {
        feed(client, &format!(":{nick}!x@h JOIN #c"));
    }
    drain(&mut a_events);
    drain(&mut b_events);
    feed(&alice, ":dave!d@h PRIVMSG #c :hello");
    feed(&bob, ":dave!d@h PRIVMSG #c :hello");
    let said = |events: &[RemoteEvent]| events.iter().filter(|e| matches!(e, RemoteEvent::Message { .. })).count();
    let (a, b) = (drain(&mut a_events), drain(&mut b_events));
    assert_eq!(said(&a) + said(&b), 1, "a line heard by two puppets is reported once: {a:?} {b:?}");
    feed(&alice, ":alice!x@h PRIVMSG #c :mine");
    feed(&bob, ":alice!x@h PRIVMSG #c :mine");
    assert_eq!(said(&drain(&mut a_events)) + said(&drain(&mut b_events)), 0, "a puppet's line is a Matrix user's own");
}

#[tokio::test]
async fn test_status_modes_become_roles_and_a_kick_removes_the_user() {
    let shared = network();
    let (alice, mut events) = puppet(&shared, "@alice:hs", "alice");
    alice.join("#c");
    feed(&alice, ":alice!a@h JOIN #c");
    feed(&alice, ":srv 353 alice = #c :@alice +bob");
    feed(&alice, ":op!o@h MODE #c +o-v bob bob");
    let roles: Vec<(Option<String>, Role)> = drain(&mut events)
        .into_iter()
        .filter_map(|e| match e {
            RemoteEvent::RoleChanged { sender, role, .. } => Some((sender.map(|s| s.id.as_str().to_owned()), role)),
            _ => None,
        })
        .collect();
    assert_eq!(
        roles,
        vec![
            (None, Role::Moderator),
            (Some("bob".into()), Role::Voiced),
            (Some("bob".into()), Role::Moderator),
            (Some("bob".into()), Role::Moderator)
        ]
    );
    feed(&alice, ":op!o@h KICK #c alice :bye");
    let removed = drain(&mut events);
    assert!(
        removed.iter().any(|e| matches!(e, RemoteEvent::Removed { reason, by: Some(by), .. } if reason == "bye" && by.id.as_str() == "op")),
        "{removed:?}"
    );
    assert!(alice.channels().is_empty(), "a kicked puppet does not rejoin by itself");
}

#[test]
fn test_netsplit_quits_are_told_apart_from_ordinary_ones() {
    assert!(is_netsplit("irc.a.example irc.b.example"));
    assert!(!is_netsplit("Quit: bye"));
    assert!(!is_netsplit("Ping timeout: 240 seconds"));
    assert!(!is_netsplit("see https://x.y/ a.b"));
    assert!(!is_netsplit("irc.a.example"));
}

#[test]
fn test_status_modes_map_to_roles() {
    assert_eq!(role_of(0), Role::Member);
    assert_eq!(role_of(VOICE), Role::Voiced);
    assert_eq!(role_of(OP | VOICE), Role::Moderator);
    assert_eq!(role_of(HALFOP), Role::Moderator);
    assert_eq!(role_of(FOUNDER), Role::Admin);
}
