//! Prometheus metrics: what the bridge counts, and the `/metrics` listener
//! (`metrics.listen`, off unless `metrics.enabled`).
//!
//! Counting is always on (a few atomic additions); only serving is configured. Every label
//! takes its values from a closed list written here (directions, containers, event types,
//! outcomes) or the network's id, so the number of series is fixed: no user ID, room,
//! token or remote name can ever become a label. Recording points in the bridge are one
//! call each, so the rest of the core stays readable.

mod exposition;
mod histogram;
mod server;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::appservice::TxnContainer;
use crate::ids::LoginId;
use crate::network::event::LoginState;
use exposition::{Exposition, Kind};
use histogram::{Histogram, LATENCY_BOUNDS};
pub(crate) use server::serve;

/// Which way a message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From a Matrix user to the remote network.
    MatrixToRemote,
    /// From the remote network into a Matrix room.
    RemoteToMatrix,
}

impl Direction {
    const ALL: [Direction; 2] = [Direction::MatrixToRemote, Direction::RemoteToMatrix];

    fn label(self) -> &'static str {
        match self {
            Direction::MatrixToRemote => "matrix_to_remote",
            Direction::RemoteToMatrix => "remote_to_matrix",
        }
    }
}

/// What became of a transaction the homeserver pushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TxnOutcome {
    /// New, stored in the inbox and acknowledged.
    Stored,
    /// A transaction id already stored: acknowledged, nothing added.
    Replayed,
    /// Answered with an error (bad body, database down, shutting down): the homeserver retries.
    Failed,
}

impl TxnOutcome {
    const ALL: [TxnOutcome; 3] = [TxnOutcome::Stored, TxnOutcome::Replayed, TxnOutcome::Failed];

    fn label(self) -> &'static str {
        match self {
            TxnOutcome::Stored => "stored",
            TxnOutcome::Replayed => "replayed",
            TxnOutcome::Failed => "failed",
        }
    }
}

/// Why a Matrix event was dropped without being handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SkipReason {
    /// The inbox entry could not be read back.
    Unreadable,
    /// The event lacks fields every room event has.
    Malformed,
}

impl SkipReason {
    const ALL: [SkipReason; 2] = [SkipReason::Unreadable, SkipReason::Malformed];

    fn label(self) -> &'static str {
        match self {
            SkipReason::Unreadable => "unreadable",
            SkipReason::Malformed => "malformed",
        }
    }
}

/// Event types counted by name; every other type (anyone may invent one) is `other`.
const EVENT_TYPES: [&str; 10] = [
    "m.room.message",
    "m.sticker",
    "m.reaction",
    "m.room.redaction",
    "m.room.member",
    "m.room.encrypted",
    "m.typing",
    "m.receipt",
    "m.presence",
    "other",
];

fn event_type_slot(kind: Option<&str>) -> usize {
    let other = EVENT_TYPES.len() - 1;
    kind.and_then(|k| EVENT_TYPES[..other].iter().position(|t| *t == k)).unwrap_or(other)
}

fn container_slot(c: TxnContainer) -> usize {
    match c {
        TxnContainer::Timeline => 0,
        TxnContainer::Ephemeral => 1,
    }
}

const CONTAINERS: [&str; 2] = ["timeline", "ephemeral"];

/// A login's connection as last reported by its network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LoginStatus {
    Connected,
    Reconnecting,
    BadCredentials,
}

/// What the bridge reports at scrape time: values that live in its own structures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct BridgeSample {
    /// Logins whose clients are loaded.
    pub(crate) loaded_logins: usize,
    /// Matrix events stored and not yet handled; `None` when the database did not answer.
    pub(crate) inbox_backlog: Option<u64>,
    /// Of those, the ones taken from the inbox and waiting in (or being handled by) a room queue.
    pub(crate) inbox_in_flight: usize,
    /// Rooms with a queue of Matrix events.
    pub(crate) room_queues: usize,
    /// Portals with a queue of remote events.
    pub(crate) portal_queues: usize,
}

/// Where the scrape gets a [`BridgeSample`].
#[async_trait]
pub(crate) trait Sampler: Send + Sync + 'static {
    async fn sample(&self) -> BridgeSample;
}

/// The bridge's counters. Cheap to clone: clones share the counters.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    /// The network's id, the one label value not written here.
    network: String,
    start_unix_seconds: f64,
    transactions: [AtomicU64; 3],
    transaction_events: [AtomicU64; 2],
    transaction_seconds: Histogram,
    events_processed: [[AtomicU64; EVENT_TYPES.len()]; 2],
    events_skipped: [AtomicU64; 2],
    messages_bridged: [AtomicU64; 2],
    send_failures: [AtomicU64; 2],
    remote_events_queued: AtomicI64,
    login_status: Mutex<HashMap<LoginId, LoginStatus>>,
}

impl Metrics {
    /// Counters for a bridge of the network with this id (`irc`, `demo`).
    pub fn new(network: &str) -> Self {
        Self {
            inner: Arc::new(Inner {
                network: network.to_owned(),
                start_unix_seconds: crate::clock::now_ms() as f64 / 1000.0,
                transactions: Default::default(),
                transaction_events: Default::default(),
                transaction_seconds: Histogram::new(&LATENCY_BOUNDS),
                events_processed: Default::default(),
                events_skipped: Default::default(),
                messages_bridged: Default::default(),
                send_failures: Default::default(),
                remote_events_queued: AtomicI64::new(0),
                login_status: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// A transaction was answered after `took`; `events` counts what it carried by container.
    pub(crate) fn transaction(&self, outcome: TxnOutcome, timeline: usize, ephemeral: usize, took: Duration) {
        let i = &self.inner;
        i.transactions[outcome as usize].fetch_add(1, Ordering::Relaxed);
        if outcome == TxnOutcome::Stored {
            i.transaction_events[0].fetch_add(timeline as u64, Ordering::Relaxed);
            i.transaction_events[1].fetch_add(ephemeral as u64, Ordering::Relaxed);
        }
        i.transaction_seconds.observe(took);
    }

    /// A Matrix event from the inbox is being handled.
    pub(crate) fn event_processed(&self, container: TxnContainer, event_type: Option<&str>) {
        self.inner.events_processed[container_slot(container)][event_type_slot(event_type)].fetch_add(1, Ordering::Relaxed);
    }

    /// A Matrix event was dropped unhandled.
    pub(crate) fn event_skipped(&self, reason: SkipReason) {
        self.inner.events_skipped[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A message arrived on the other side.
    pub(crate) fn message_bridged(&self, direction: Direction) {
        self.inner.messages_bridged[direction as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A message could not be sent to the other side.
    pub(crate) fn send_failed(&self, direction: Direction) {
        self.inner.send_failures[direction as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A remote event entered (`+1`) or left (`-1`) a portal queue.
    pub(crate) fn remote_queue(&self, change: i64) {
        self.inner.remote_events_queued.fetch_add(change, Ordering::Relaxed);
    }

    /// The network reported a login's state.
    pub(crate) fn login_state(&self, login: &LoginId, state: &LoginState) {
        let status = match state {
            LoginState::Connected => LoginStatus::Connected,
            LoginState::TransientDisconnect(_) => LoginStatus::Reconnecting,
            LoginState::BadCredentials(_) => LoginStatus::BadCredentials,
            LoginState::LoggedOut(_) => return self.login_gone(login),
        };
        self.inner.login_status.lock().expect("lock").insert(login.clone(), status);
    }

    /// A login was removed (logged out).
    pub(crate) fn login_gone(&self, login: &LoginId) {
        self.inner.login_status.lock().expect("lock").remove(login);
    }

    /// The whole exposition, with the bridge's own values from `sample`.
    pub(crate) fn render(&self, sample: &BridgeSample) -> String {
        let i = &self.inner;
        let net = i.network.as_str();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
        let mut e = Exposition::default();

        e.family("mxbridge_start_time_seconds", Kind::Gauge, "When the bridge started, in seconds since the Unix epoch.");
        e.sample("mxbridge_start_time_seconds", &[], i.start_unix_seconds);

        e.family("mxbridge_transactions_total", Kind::Counter, "Transactions the homeserver pushed, by what became of them.");
        for o in TxnOutcome::ALL {
            e.sample("mxbridge_transactions_total", &[("outcome", o.label())], load(&i.transactions[o as usize]));
        }
        e.family("mxbridge_transaction_events_total", Kind::Counter, "Events in stored transactions, by container.");
        for (slot, c) in CONTAINERS.iter().enumerate() {
            e.sample("mxbridge_transaction_events_total", &[("container", c)], load(&i.transaction_events[slot]));
        }
        e.family(
            "mxbridge_transaction_duration_seconds",
            Kind::Histogram,
            "Time from receiving a transaction to answering the homeserver (stored in the inbox).",
        );
        e.histogram("mxbridge_transaction_duration_seconds", &[], &i.transaction_seconds.snapshot());

        e.family("mxbridge_matrix_events_total", Kind::Counter, "Matrix events taken from the inbox and handled, by container and type.");
        for (slot, c) in CONTAINERS.iter().enumerate() {
            for (t, kind) in EVENT_TYPES.iter().enumerate() {
                let n = load(&i.events_processed[slot][t]);
                e.sample("mxbridge_matrix_events_total", &[("container", c), ("type", kind)], n);
            }
        }
        e.family("mxbridge_matrix_events_skipped_total", Kind::Counter, "Matrix events dropped without handling, by reason.");
        for r in SkipReason::ALL {
            e.sample("mxbridge_matrix_events_skipped_total", &[("reason", r.label())], load(&i.events_skipped[r as usize]));
        }

        e.family("mxbridge_messages_bridged_total", Kind::Counter, "Messages delivered to the other side, by direction.");
        for d in Direction::ALL {
            let labels = [("network", net), ("direction", d.label())];
            e.sample("mxbridge_messages_bridged_total", &labels, load(&i.messages_bridged[d as usize]));
        }
        e.family("mxbridge_send_failures_total", Kind::Counter, "Messages that could not be delivered to the other side, by direction.");
        for d in Direction::ALL {
            let labels = [("network", net), ("direction", d.label())];
            e.sample("mxbridge_send_failures_total", &labels, load(&i.send_failures[d as usize]));
        }

        let (connected, reconnecting, bad) = {
            let statuses = i.login_status.lock().expect("lock");
            let count = |s: LoginStatus| statuses.values().filter(|v| **v == s).count();
            (count(LoginStatus::Connected), count(LoginStatus::Reconnecting), count(LoginStatus::BadCredentials))
        };
        // Loaded logins the network has not reported on yet are still connecting.
        let connecting = sample.loaded_logins.saturating_sub(connected + reconnecting + bad);
        e.family("mxbridge_logins", Kind::Gauge, "Loaded logins (puppets) by connection state, as their network last reported it.");
        for (state, n) in [("connected", connected), ("connecting", connecting), ("reconnecting", reconnecting), ("bad_credentials", bad)] {
            e.sample("mxbridge_logins", &[("network", net), ("state", state)], n as f64);
        }

        e.family(
            "mxbridge_inbox_backlog",
            Kind::Gauge,
            "Matrix events stored in the inbox and not yet handled (absent when the database does not answer).",
        );
        if let Some(n) = sample.inbox_backlog {
            e.sample("mxbridge_inbox_backlog", &[], n as f64);
        }
        e.family(
            "mxbridge_inbox_in_flight",
            Kind::Gauge,
            "Matrix events taken from the inbox and waiting in, or being handled by, a room queue.",
        );
        e.sample("mxbridge_inbox_in_flight", &[], sample.inbox_in_flight as f64);
        e.family("mxbridge_remote_events_queued", Kind::Gauge, "Remote events waiting in, or being handled by, a portal queue.");
        e.sample("mxbridge_remote_events_queued", &[], i.remote_events_queued.load(Ordering::Relaxed).max(0) as f64);
        e.family("mxbridge_queues", Kind::Gauge, "Event queues alive, one per room (Matrix side) or portal (remote side).");
        e.sample("mxbridge_queues", &[("side", "matrix")], sample.room_queues as f64);
        e.sample("mxbridge_queues", &[("side", "remote")], sample.portal_queues as f64);
        e.finish()
    }
}

#[cfg(test)]
mod tests;
