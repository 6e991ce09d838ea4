//! Matrix users' display names, for networks that name a user's remote account after it
//! (an IRC nick from `{displayname}[m]`, an XMPP MUC nick): read once from the profile
//! when an automatic login is made, and followed when a member event changes it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ruma::{OwnedUserId, UserId};
use tracing::{debug, warn};

use super::Bridge;
use super::matrix_events::RoomEvent;

/// The last display name seen of each Matrix user (`None`: they have none).
#[derive(Default)]
pub(crate) struct DisplayNameCache(Mutex<HashMap<OwnedUserId, Option<String>>>);

impl DisplayNameCache {
    fn get(&self, user: &UserId) -> Option<Option<String>> {
        self.0.lock().expect("lock").get(user).cloned()
    }

    /// Records `name` and says whether it differs from what was known (an unknown user's
    /// name counts as a change).
    fn set(&self, user: &UserId, name: Option<String>) -> bool {
        self.0.lock().expect("lock").insert(user.to_owned(), name.clone()) != Some(name)
    }
}

/// The display name a member event gives its user, blank names as none.
fn display_name_in(content: &serde_json::Value) -> Option<String> {
    content["displayname"].as_str().map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned)
}

/// What a member event of a user about themselves means for their display name.
#[derive(Debug, PartialEq, Eq)]
enum NameNews {
    /// Not about a joined user's own name.
    Nothing,
    /// A join: the name they arrive with.
    Arrived(Option<String>),
    /// A joined user changed their name (a profile change shows up in each of their rooms).
    Changed(Option<String>),
}

fn name_news(ev: &RoomEvent, target: &str) -> NameNews {
    if ev.kind != "m.room.member" || target != ev.sender.as_str() || ev.content["membership"] != "join" {
        return NameNews::Nothing;
    }
    let name = display_name_in(&ev.content);
    let before = &ev.unsigned["prev_content"];
    if before["membership"] != "join" {
        return NameNews::Arrived(name);
    }
    if display_name_in(before) == name { NameNews::Nothing } else { NameNews::Changed(name) }
}

impl Bridge {
    /// A user's display name: the last one seen, else their profile's (not remembered when
    /// the homeserver cannot be asked, so the next call asks again).
    pub(crate) async fn display_name_of(&self, user: &UserId) -> Option<String> {
        if let Some(known) = self.display_names.get(user) {
            return known;
        }
        match self.matrix.display_name(user).await {
            Ok(name) => {
                let name = name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
                self.display_names.set(user, name.clone());
                name
            }
            Err(e) => {
                warn!(user = %user, error = %e, "could not read a display name");
                None
            }
        }
    }

    /// Follows a member event's display name: remembered on join, and on a change passed
    /// to each of the user's logins that names its account after it, once per change.
    pub(crate) async fn follow_display_name(self: &Arc<Self>, ev: &RoomEvent, target: &str) {
        if self.is_bridge_user(&ev.sender) {
            return;
        }
        let name = match name_news(ev, target) {
            NameNews::Nothing => return,
            NameNews::Arrived(name) => {
                self.display_names.set(&ev.sender, name);
                return;
            }
            NameNews::Changed(name) => name,
        };
        if !self.display_names.set(&ev.sender, name.clone()) {
            return; // already followed from another room
        }
        for (login, l) in self.logins_of(&ev.sender) {
            let Some(names) = l.client.display_names() else { continue };
            debug!(login = %login, "following a display name change");
            if let Err(e) = names.display_name_changed(name.as_deref()).await {
                warn!(login = %login, error = %e, "the network could not follow a display name change");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(sender: &str, target: &str, content: serde_json::Value, prev: Option<serde_json::Value>) -> (RoomEvent, String) {
        let mut ev = serde_json::json!({
            "type": "m.room.member", "room_id": "!r:example.org", "sender": sender, "event_id": "$e",
            "state_key": target, "content": content,
        });
        if let Some(prev) = prev {
            ev["unsigned"] = serde_json::json!({"prev_content": prev});
        }
        (serde_json::from_value(ev).unwrap(), target.to_owned())
    }

    #[test]
    fn test_joins_and_name_changes_are_told_apart() {
        let joined = serde_json::json!({"membership": "join", "displayname": "Alice Smith"});
        let (ev, t) = member("@a:example.org", "@a:example.org", joined.clone(), None);
        assert_eq!(name_news(&ev, &t), NameNews::Arrived(Some("Alice Smith".into())), "a first join");
        let left = serde_json::json!({"membership": "leave"});
        let (ev, t) = member("@a:example.org", "@a:example.org", joined.clone(), Some(left));
        assert_eq!(name_news(&ev, &t), NameNews::Arrived(Some("Alice Smith".into())), "joining again");
        let renamed = serde_json::json!({"membership": "join", "displayname": "Alicia"});
        let (ev, t) = member("@a:example.org", "@a:example.org", renamed, Some(joined.clone()));
        assert_eq!(name_news(&ev, &t), NameNews::Changed(Some("Alicia".into())));
        let blank = serde_json::json!({"membership": "join", "displayname": "  "});
        let (ev, t) = member("@a:example.org", "@a:example.org", blank, Some(joined.clone()));
        assert_eq!(name_news(&ev, &t), NameNews::Changed(None), "a blank name is no name");
        let avatar_only = serde_json::json!({"membership": "join", "displayname": "Alice Smith", "avatar_url": "mxc://x/y"});
        let (ev, t) = member("@a:example.org", "@a:example.org", avatar_only, Some(joined.clone()));
        assert_eq!(name_news(&ev, &t), NameNews::Nothing, "a new avatar is no new name");
        let (ev, t) = member("@mod:example.org", "@a:example.org", joined, None);
        assert_eq!(name_news(&ev, &t), NameNews::Nothing, "someone else's doing");
    }

    #[test]
    fn test_the_cache_reports_each_change_once() {
        let cache = DisplayNameCache::default();
        let alice = UserId::parse("@a:example.org").unwrap();
        assert_eq!(cache.get(&alice), None);
        assert!(cache.set(&alice, Some("Alicia".into())), "unknown before");
        assert!(!cache.set(&alice, Some("Alicia".into())), "the same change seen in a second room");
        assert!(cache.set(&alice, None));
        assert_eq!(cache.get(&alice), Some(None), "known to have no name");
    }
}
