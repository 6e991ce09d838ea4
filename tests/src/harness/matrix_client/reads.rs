//! Reads for tests that look at a whole room or at what is pending, beside the waits.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::TestUser;

impl TestUser {
    /// The room's `m.room.message` events as the server orders them, oldest first (up to
    /// the last 500), read with `/messages` apart from what syncs returned.
    pub(crate) async fn room_messages(&self, room: &str) -> Vec<Value> {
        let v = self.request(Method::GET, &Self::room_path(room, "messages?dir=b&limit=500"), None).await;
        let mut events: Vec<Value> =
            v["chunk"].as_array().cloned().unwrap_or_default().into_iter().filter(|ev| ev["type"] == "m.room.message").collect();
        events.reverse();
        events
    }

    /// Syncs once, without waiting, and returns how many invites no wait returned yet.
    pub(crate) async fn pending_invites(&mut self) -> usize {
        self.sync(Duration::ZERO).await;
        self.invites.len()
    }
}
