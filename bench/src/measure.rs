//! What the latency benchmarks share: a buffered view of the Matrix user's sync results,
//! numbered messages, pacing, and the outcome of one phase.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::matrix::Synced;

/// How long a setup step (invite, portal, warm-up message) may take.
pub const SETUP_WAIT: Duration = Duration::from_secs(60);

/// Sync results with a buffer, so that waiting for one thing keeps what arrived meanwhile.
pub struct Inbox {
    /// The sync loop's results, for phases that read them as they come.
    pub rx: UnboundedReceiver<Synced>,
    kept: Vec<Synced>,
}

impl Inbox {
    /// An inbox over a sync loop ([`crate::matrix::MatrixUser::start_sync`]).
    pub fn new(rx: UnboundedReceiver<Synced>) -> Self {
        Self { rx, kept: Vec::new() }
    }

    /// Waits for the first result `pred` accepts, within [`SETUP_WAIT`].
    pub async fn wait(&mut self, what: &str, pred: impl Fn(&Synced) -> bool) -> anyhow::Result<Synced> {
        if let Some(i) = self.kept.iter().position(&pred) {
            return Ok(self.kept.remove(i));
        }
        let deadline = tokio::time::Instant::now() + SETUP_WAIT;
        loop {
            let Ok(item) = tokio::time::timeout_at(deadline, self.rx.recv()).await else {
                let seen: Vec<String> = self
                    .kept
                    .iter()
                    .map(|s| match s {
                        Synced::Invite(r) => format!("invite {r}"),
                        Synced::Event { room, event, .. } => format!("{room} {} {}", event["sender"], event["content"]["body"]),
                    })
                    .collect();
                bail!("timed out waiting for {what}; seen:\n{}", seen.join("\n"));
            };
            let item = item.context("sync loop ended")?;
            if pred(&item) {
                return Ok(item);
            }
            self.kept.push(item);
        }
    }

    /// Waits for a message in `room` from someone other than `me` whose body contains `needle`.
    pub async fn message(&mut self, room: &str, me: &str, needle: &str) -> anyhow::Result<Value> {
        let item = self
            .wait(&format!("a message containing {needle:?}"), |s| {
                matches!(s, Synced::Event { room: r, event, .. }
                    if r == room && event["type"] == "m.room.message" && event["sender"] != me
                        && event["content"]["body"].as_str().is_some_and(|b| b.contains(needle)))
            })
            .await?;
        let Synced::Event { event, .. } = item else { unreachable!("matched an event") };
        Ok(event)
    }

    /// Waits for an invite to a room not in `except`.
    pub async fn invite(&mut self, except: &[&str]) -> anyhow::Result<String> {
        let item = self.wait("an invite", |s| matches!(s, Synced::Invite(r) if !except.contains(&r.as_str()))).await?;
        let Synced::Invite(room) = item else { unreachable!("matched an invite") };
        Ok(room)
    }
}

/// The latencies of one phase.
pub struct Outcome {
    /// Send → arrival of every message that arrived, sorted.
    pub latencies: Vec<Duration>,
    /// Messages sent.
    pub n: usize,
    /// First send to last arrival.
    pub span: Duration,
}

impl Outcome {
    /// From each message's send and arrival times (`None`: not sent or lost).
    pub fn new(sent: &[Option<Instant>], arrived: &[Option<Instant>]) -> Self {
        let mut latencies: Vec<Duration> =
            sent.iter().zip(arrived).filter_map(|(s, a)| Some(a.as_ref()?.duration_since(*s.as_ref()?))).collect();
        latencies.sort();
        let first = sent.iter().flatten().min().copied();
        let last = arrived.iter().flatten().max().copied();
        let span = match (first, last) {
            (Some(f), Some(l)) => l.duration_since(f),
            _ => Duration::ZERO,
        };
        Self { latencies, n: sent.len(), span }
    }

    /// Messages that did not arrive.
    pub fn lost(&self) -> usize {
        self.n - self.latencies.len()
    }

    /// Messages delivered per second, first send to last arrival.
    pub fn rate(&self) -> f64 {
        if self.span.is_zero() { 0.0 } else { self.latencies.len() as f64 / self.span.as_secs_f64() }
    }

    /// Mean latency of the messages that arrived.
    pub fn mean(&self) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        self.latencies.iter().sum::<Duration>() / self.latencies.len() as u32
    }

    /// The slowest arrival.
    pub fn max(&self) -> Duration {
        self.latencies.last().copied().unwrap_or_default()
    }
}

/// "100 ms", or "none" for back-to-back.
pub fn interval(every: Option<Duration>) -> String {
    every.map_or("none".to_owned(), |d| format!("{} ms", d.as_millis()))
}

/// Index of a numbered message `{tag}{i}`.
pub fn index_of(body: &str, tag: &str, n: usize) -> Option<usize> {
    body.strip_prefix(tag)?.parse().ok().filter(|i| *i < n)
}

/// Sleeps until message `i + 1` is due (no wait when back-to-back).
pub async fn pace(start: Instant, i: usize, every: Option<Duration>) {
    if let Some(every) = every {
        tokio::time::sleep_until((start + every * (i as u32 + 1)).into()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_outcome_counts_lost_messages_and_means_only_arrivals() {
        let t0 = Instant::now();
        let sent = [Some(t0), Some(t0), Some(t0)];
        let arrived = [Some(t0 + Duration::from_millis(30)), None, Some(t0 + Duration::from_millis(10))];
        let o = Outcome::new(&sent, &arrived);
        assert_eq!(o.lost(), 1);
        assert_eq!(o.latencies, vec![Duration::from_millis(10), Duration::from_millis(30)]);
        assert_eq!(o.mean(), Duration::from_millis(20));
        assert_eq!(o.max(), Duration::from_millis(30));
        assert_eq!(o.span, Duration::from_millis(30));
    }

    #[test]
    fn test_index_of_reads_only_this_phases_numbers() {
        assert_eq!(index_of("x2m-7", "x2m-", 10), Some(7));
        assert_eq!(index_of("x2m-12", "x2m-", 10), None);
        assert_eq!(index_of("m2x-1", "x2m-", 10), None);
    }
}
