//! History for new portals (backfill): right after the bridge creates a portal room, the
//! network is asked for the chat's last messages (`bridge.backfill.initial_messages`), and
//! they are sent into the room in order, each as its sender's ghost with its original
//! timestamp (`ts`), their remote ids mapped to the events so later replies, edits and
//! reactions find them.
//!
//! It runs on the portal's queue, under the portal's lock, inside the handling of the event
//! that created the portal: the chat's live events queue behind it and land after the
//! history, never between. Other portals and the management room do not wait for it, and
//! portals announced by the network are made [`PORTALS_AT_ONCE`] at a time, so that a login
//! with many recent chats leaves the homeserver room for users' commands.

use std::sync::Arc;

use ruma::RoomId;
use tracing::{info, warn};

use super::Bridge;
use crate::ids::{LoginId, PortalKey};
use crate::network::event::HistoryMessage;

/// How many portals the network announced for one login (its recent chats) are made, and
/// filled with history, at the same time. Each is dozens of homeserver requests; made all at once
/// (a login with 50 recent chats) they take the whole homeserver, and a command sent
/// meanwhile waits seconds for its answer. A few at a time finish as fast overall and leave
/// room for what users ask for (`pm`, commands), which never waits for a permit.
pub(crate) const PORTALS_AT_ONCE: usize = 1;

/// Turns for making announced portals, [`PORTALS_AT_ONCE`] per login, so that one login's
/// many recent chats wait for each other but never for another login's.
#[derive(Default)]
pub(crate) struct PortalTurns(std::sync::Mutex<std::collections::HashMap<LoginId, Arc<tokio::sync::Semaphore>>>);

impl PortalTurns {
    /// Waits for `login`'s next turn. `None` only if a semaphore were closed, which never happens.
    pub(crate) async fn turn(&self, login: &LoginId) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let turns = self
            .0
            .lock()
            .expect("lock")
            .entry(login.clone())
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(PORTALS_AT_ONCE)))
            .clone();
        turns.acquire_owned().await.ok()
    }
}

impl Bridge {
    /// Waits for `login`'s turn to make a portal its network announced. `None` only if the
    /// semaphore were closed, which never happens.
    pub(crate) async fn new_portal_turn(&self, login: &LoginId) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.new_portals.turn(login).await
    }

    /// Fills a portal the bridge just created with the chat's recent messages, when the
    /// network can tell them and backfill is on.
    pub(crate) async fn backfill_new_portal(self: &Arc<Self>, login: &LoginId, chat: &PortalKey, room: &RoomId) {
        let limit = self.config.backfill_initial_messages;
        if limit == 0 {
            return;
        }
        let Some(client) = self.login(login).map(|l| l.client) else { return };
        let Some(backfill) = client.backfill() else { return };
        let history = match backfill.recent_messages(chat, limit).await {
            Ok(history) => history,
            Err(e) => return warn!(portal = %chat, error = %e, "could not read the chat's history for its new portal"),
        };
        let mut sent = 0usize;
        for message in in_order(history, limit) {
            // A message may have come live before the portal was filled (it created it).
            if self.already_bridged(chat, &message.id).await {
                continue;
            }
            let Some(ghost) = self.ghost_in(room, &message.sender).await else { continue };
            if self.deliver_message(chat, room, &ghost, &message, Some(message.timestamp_ms)).await {
                sent += 1;
            }
        }
        if sent > 0 {
            info!(portal = %chat, room = %room, messages = sent, "filled a new portal with the chat's history");
        }
    }
}

impl Bridge {
    /// Fills a portal a command made (`pm`) in the background, so the command answers at
    /// once. The portal's lock is taken before this returns, so the chat's live events,
    /// which take it too, land after the history.
    pub(crate) async fn backfill_in_background(self: &Arc<Self>, login: LoginId, chat: PortalKey, room: ruma::OwnedRoomId) {
        if self.config.backfill_initial_messages == 0 {
            return;
        }
        let guard = self.lock_portal(&chat).await;
        let bridge = self.clone();
        tokio::spawn(async move {
            bridge.backfill_new_portal(&login, &chat, &room).await;
            drop(guard);
        });
    }
}

/// The history as it is sent: oldest first (stable for equal times, so the network's order
/// decides), each id once, at most the last `limit`. Networks are asked for oldest first,
/// but a network that gets it wrong must not scramble the room.
fn in_order(mut history: Vec<HistoryMessage>, limit: usize) -> Vec<HistoryMessage> {
    history.sort_by_key(|m| m.timestamp_ms);
    let mut seen = std::collections::HashSet::new();
    history.retain(|m| seen.insert(m.id.clone()));
    let skip = history.len().saturating_sub(limit);
    history.into_iter().skip(skip).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One user's login making its portals never holds up another user's new chat.
    #[tokio::test]
    async fn test_portal_turns_are_per_login() {
        let turns = PortalTurns::default();
        let (alice, bob) = (LoginId::new("net:alice".to_owned()), LoginId::new("net:bob".to_owned()));
        let held = turns.turn(&alice).await.expect("a turn");
        let wait = std::time::Duration::from_millis(200);
        assert!(tokio::time::timeout(wait, turns.turn(&alice)).await.is_err(), "alice's next portal waits for her first");
        assert!(tokio::time::timeout(wait, turns.turn(&bob)).await.is_ok(), "bob's portal does not wait for alice's");
        drop(held);
        assert!(tokio::time::timeout(wait, turns.turn(&alice)).await.is_ok(), "alice's next turn comes when the first is done");
    }
    use crate::ids::RemoteMessageId;
    use crate::network::content::Content;
    use crate::network::event::Sender;

    fn message(id: &str, at: i64) -> HistoryMessage {
        HistoryMessage {
            sender: Sender::user("u"),
            id: RemoteMessageId::new(id),
            timestamp_ms: at,
            content: Content::text(id),
            reply_to: None,
        }
    }

    fn ids(history: &[HistoryMessage]) -> Vec<&str> {
        history.iter().map(|m| m.id.as_str()).collect()
    }

    #[test]
    fn test_history_is_sent_oldest_first_once_each_and_only_the_last_limit() {
        let history = vec![message("c", 30), message("a", 10), message("b", 20), message("a", 10), message("d", 40)];
        assert_eq!(ids(&in_order(history.clone(), 10)), ["a", "b", "c", "d"]);
        assert_eq!(ids(&in_order(history.clone(), 2)), ["c", "d"], "the most recent ones");
        assert!(in_order(history, 0).is_empty());
        let same_time = vec![message("x", 5), message("y", 5), message("z", 5)];
        assert_eq!(ids(&in_order(same_time, 3)), ["x", "y", "z"], "equal times keep the network's order");
    }
}
