//! Which profile pictures a login has already given to ghosts.
//!
//! Telegram names a user's current picture by an id that comes with the user, so the
//! bridge downloads a picture only when that id is new to the login: once per picture,
//! remembered in the account store so that a restart downloads nothing again. The
//! picture itself goes to the core as a `RemoteEvent::Profile`, which uploads it.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::backend::TgUser;
use crate::session::AccountStore;

/// The store key of the picture id last given to a user's ghost.
fn key(user: i64) -> String {
    format!("telegram.avatar.{user}")
}

/// The pictures this login handed out or is fetching, by user.
#[derive(Default)]
pub(crate) struct Avatars {
    given: Mutex<HashMap<i64, i64>>,
}

impl Avatars {
    /// Whether `user`'s current picture should be fetched now. A `true` claims it, so that
    /// a picture is fetched once even when the user is seen again meanwhile; the caller
    /// then reports [`Avatars::done`] or [`Avatars::failed`].
    pub(crate) async fn claim(&self, store: &AccountStore, user: &TgUser) -> bool {
        let Some(photo) = user.photo else { return false };
        if self.given.lock().expect("lock").get(&user.id) == Some(&photo) {
            return false;
        }
        let stored = store.get(&key(user.id)).await.ok().flatten();
        let already = stored.as_deref().and_then(|b| std::str::from_utf8(b).ok()).and_then(|s| s.parse::<i64>().ok()) == Some(photo);
        // Two updates of the same user may race here: the map decides who fetches.
        let mut given = self.given.lock().expect("lock");
        if given.insert(user.id, photo) == Some(photo) {
            return false;
        }
        !already
    }

    /// The picture reached the core: remembered across restarts.
    pub(crate) async fn done(&self, store: &AccountStore, user: i64, photo: i64) {
        if let Err(e) = store.set(&key(user), photo.to_string().as_bytes()).await {
            tracing::warn!(user, error = %e, "could not remember a Telegram profile picture");
        }
    }

    /// `user` has no picture now: whether this login had given their ghost one, which the
    /// caller then takes away. Forgets it, so a new picture is fetched again.
    pub(crate) async fn forget(&self, store: &AccountStore, user: i64) -> bool {
        let in_memory = self.given.lock().expect("lock").remove(&user).is_some();
        let stored = matches!(store.get(&key(user)).await, Ok(Some(_)));
        if stored && let Err(e) = store.delete(&key(user)).await {
            tracing::warn!(user, error = %e, "could not forget a Telegram profile picture");
        }
        in_memory || stored
    }

    /// The download failed: the next sighting of the user tries again.
    pub(crate) fn failed(&self, user: i64, photo: i64) {
        let mut given = self.given.lock().expect("lock");
        if given.get(&user) == Some(&photo) {
            given.remove(&user);
        }
    }
}

#[cfg(test)]
mod tests {
    use mxbridge_core::ids::LoginId;

    use super::*;

    fn user(id: i64, photo: Option<i64>) -> TgUser {
        TgUser { id, name: "A".into(), username: None, phone: None, photo }
    }

    #[tokio::test]
    async fn test_a_picture_is_fetched_once_until_it_changes_or_fails() {
        let store = AccountStore::new(None, LoginId::new("telegram:1"));
        let avatars = Avatars::default();
        assert!(!avatars.claim(&store, &user(5, None)).await, "no picture, nothing to fetch");
        assert!(avatars.claim(&store, &user(5, Some(10))).await);
        assert!(!avatars.claim(&store, &user(5, Some(10))).await, "claimed: fetched once");
        avatars.failed(5, 10);
        assert!(avatars.claim(&store, &user(5, Some(10))).await, "a failed fetch is tried again");
        avatars.done(&store, 5, 10).await;
        assert!(!avatars.claim(&store, &user(5, Some(10))).await);
        assert!(avatars.claim(&store, &user(5, Some(11))).await, "a new picture is fetched");
        assert!(avatars.claim(&store, &user(6, Some(11))).await, "per user");
    }

    #[tokio::test]
    async fn test_a_picture_taken_away_is_forgotten_once_and_a_new_one_is_fetched() {
        let store = AccountStore::new(None, LoginId::new("telegram:1"));
        let avatars = Avatars::default();
        assert!(!avatars.forget(&store, 5).await, "never given: nothing to take away");
        assert!(avatars.claim(&store, &user(5, Some(10))).await);
        avatars.done(&store, 5, 10).await;
        assert!(avatars.forget(&store, 5).await, "given: taken away");
        assert!(!avatars.forget(&store, 5).await, "only once");
        assert!(avatars.claim(&store, &user(5, Some(10))).await, "the same picture back is fetched again");
    }
}
