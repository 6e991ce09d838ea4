//! Flood control: every line a connection sends passes a token bucket, so a burst of
//! Matrix messages waits in a queue instead of getting the puppet killed for flooding.
//!
//! The `irc` crate has burst settings in its config but does not apply them (1.1), so the
//! bridge paces its lines itself. PONGs are answered by the crate directly and are not held
//! up behind a queue of messages.

use std::time::Duration;

use irc::client::Sender;
use irc::proto::{Command, Message};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The connection's pacing queue is gone (the connection ended).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the IRC connection is closed")]
pub struct ConnectionClosed;

/// A token bucket: `burst` lines at once, then `burst` per `window`.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    burst: f64,
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn new(burst: u32, window: Duration) -> Self {
        let burst = f64::from(burst.max(1));
        Self { burst, per_second: burst / window.as_secs_f64().max(0.001), tokens: burst, last: Instant::now() }
    }

    /// How long to wait before the next line may go, taking its token if it may go now.
    pub fn take(&mut self, now: Instant) -> Option<Duration> {
        self.tokens = (self.tokens + now.saturating_duration_since(self.last).as_secs_f64() * self.per_second).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64((1.0 - self.tokens) / self.per_second))
        }
    }
}

/// Sends lines through the connection's flood-control queue. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PacedSender {
    queue: mpsc::UnboundedSender<Message>,
}

impl PacedSender {
    /// Starts the queue in front of `sender`.
    pub fn new(sender: Sender, burst: u32, window: Duration) -> Self {
        let (queue, mut lines) = mpsc::unbounded_channel::<Message>();
        tokio::spawn(async move {
            let mut bucket = Bucket::new(burst, window);
            while let Some(line) = lines.recv().await {
                while let Some(wait) = bucket.take(Instant::now()) {
                    tokio::time::sleep(wait).await;
                }
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        Self { queue }
    }

    /// Queues a line.
    pub fn send(&self, line: impl Into<Message>) -> Result<(), ConnectionClosed> {
        self.queue.send(line.into()).map_err(|_| ConnectionClosed)
    }

    /// Queues a JOIN.
    pub fn send_join(&self, channel: &str) -> Result<(), ConnectionClosed> {
        self.send(Command::JOIN(channel.to_owned(), None, None))
    }

    /// Queues a PRIVMSG.
    pub fn send_privmsg(&self, target: &str, text: impl Into<String>) -> Result<(), ConnectionClosed> {
        self.send(Command::PRIVMSG(target.to_owned(), text.into()))
    }

    /// Queues a QUIT.
    pub fn send_quit(&self, reason: &str) -> Result<(), ConnectionClosed> {
        self.send(Command::QUIT(Some(reason.to_owned())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_the_bucket_lets_a_burst_through_then_paces() {
        let start = Instant::now();
        let mut bucket = Bucket::new(5, Duration::from_secs(4));
        for _ in 0..5 {
            assert_eq!(bucket.take(start), None, "the burst goes at once");
        }
        let wait = bucket.take(start).expect("the sixth line waits");
        assert!((wait.as_secs_f64() - 0.8).abs() < 0.01, "one line per 0.8 s after the burst: {wait:?}");
        assert_eq!(bucket.take(start + Duration::from_millis(800)), None, "and then it may go");
        assert!(bucket.take(start + Duration::from_millis(800)).is_some());
        assert_eq!(bucket.take(start + Duration::from_secs(60)), None, "a long pause refills the bucket");
        for _ in 0..4 {
            assert_eq!(bucket.take(start + Duration::from_secs(60)), None, "up to the burst, not more");
        }
        assert!(bucket.take(start + Duration::from_secs(60)).is_some());
    }
}
