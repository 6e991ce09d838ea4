//! Who an invite comes from: the inviter and `is_direct` of a pending invite (from the
//! invitee's own member event in the stripped state), and the invite event in the room's
//! timeline after joining. A DM from a remote person must come from that person's ghost,
//! marked direct, since clients record a DM with whoever sent the direct invite.

use std::cell::RefCell;
use std::time::Duration;

use serde_json::Value;

use super::matrix_client::{NotSeen, TestUser};

/// A pending invite as the invited user's client sees it.
#[derive(Debug)]
pub(crate) struct Invite {
    /// The room.
    pub(crate) room: String,
    /// Who sent the invite (`sender` of the invitee's `m.room.member` event).
    pub(crate) sender: String,
    /// Whether the invite marks the room as a DM.
    pub(crate) is_direct: bool,
    /// The whole stripped state, for failure messages.
    pub(crate) state: Value,
}

/// The invitee's own member event in an invite's stripped state.
fn own_member_event<'a>(state: &'a Value, user_id: &str) -> Option<&'a Value> {
    state
        .as_array()?
        .iter()
        .find(|ev| ev["type"] == "m.room.member" && ev["state_key"] == user_id && ev["content"]["membership"] == "invite")
}

impl TestUser {
    /// Waits for an invite that `matches(room, stripped_state)`, like `wait_for_invite`, and
    /// says who sent it and whether it is direct.
    pub(crate) async fn wait_for_invite_info(
        &mut self,
        timeout: Duration,
        matches: impl Fn(&str, &Value) -> bool,
    ) -> Result<Invite, NotSeen> {
        let seen = RefCell::new(Value::Null);
        let room = self
            .wait_for_invite(timeout, |room, state| {
                let hit = matches(room, state);
                if hit {
                    *seen.borrow_mut() = state.clone();
                }
                hit
            })
            .await?;
        let state = seen.into_inner();
        let own = own_member_event(&state, &self.user_id);
        Ok(Invite {
            room,
            sender: own.and_then(|ev| ev["sender"].as_str()).unwrap_or_default().to_owned(),
            is_direct: own.is_some_and(|ev| ev["content"]["is_direct"] == true),
            state,
        })
    }

    /// After joining: the event that invited this user to `room`, from the room's timeline
    /// (its `sender` and `content.is_direct` as the homeserver stored them).
    pub(crate) async fn invite_event(&mut self, room: &str, timeout: Duration) -> Result<Value, NotSeen> {
        let me = self.user_id.clone();
        self.wait_for_event(room, timeout, |ev| {
            ev["type"] == "m.room.member" && ev["state_key"] == me.as_str() && ev["content"]["membership"] == "invite"
        })
        .await
    }

    /// After commands were answered during a login: fewer than `total` portal invites were
    /// out then (the answers did not wait for the login's portals), and all `total` come in
    /// the end.
    pub(crate) async fn expect_portals_after_the_answers(&mut self, total: usize) {
        let seen = self.pending_invites().await;
        assert!(seen < total, "the answers came while portals were still being made ({seen} of {total} invites were out)");
        for made in 0..total {
            self.wait_for_invite(Duration::from_secs(90), |_, _| true)
                .await
                .unwrap_or_else(|e| panic!("only {made} of {total} portals were made: {e:?}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn test_the_invitees_own_member_event_is_found() {
        let state = json!([
            {"type": "m.room.create", "state_key": "", "sender": "@g:x", "content": {}},
            {"type": "m.room.member", "state_key": "@g:x", "sender": "@g:x", "content": {"membership": "join"}},
            {"type": "m.room.member", "state_key": "@u:x", "sender": "@g:x", "content": {"membership": "invite", "is_direct": true}},
        ]);
        let own = own_member_event(&state, "@u:x").expect("found");
        assert_eq!(own["sender"], "@g:x");
        assert!(own_member_event(&state, "@other:x").is_none());
    }
}
