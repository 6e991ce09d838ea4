//! A login's connection state, as its network reports it, told to the login's owner in
//! their management room. Which reports become a notice, and when, is decided in
//! [`super::connection_notices`]; this file does the waiting and the sending.

use std::sync::Arc;
use std::time::Instant;

use tracing::warn;

use super::Bridge;
use super::connection_notices::{Next, Notice, Outage};
use crate::ids::LoginId;
use crate::matrix::intent::CreateRoom;
use crate::network::event::{LoginState, RemoteEvent};

/// Session key (core-owned) marking that a login's first connection was reported.
const FIRST_CONNECTION_KEY: &str = "core.first_connection_reported";

impl Bridge {
    /// Handles a login's state report (or a network's notice for the owner).
    pub(crate) async fn handle_login_state(self: &Arc<Self>, login: &LoginId, event: RemoteEvent) {
        let state = match event {
            RemoteEvent::LoginState(state) => state,
            RemoteEvent::Notice { text } => return self.tell_owner(login, &text).await,
            _ => return,
        };
        if self.login(login).is_none() {
            return;
        }
        self.metrics.login_state(login, &state);
        let notice = match state {
            LoginState::Connected => {
                let first = !matches!(self.store.kv_get(login.as_str(), FIRST_CONNECTION_KEY).await, Ok(Some(_)));
                if first {
                    let _ = self.store.kv_set(login.as_str(), FIRST_CONNECTION_KEY, b"1").await;
                }
                self.connection_notices.lock().expect("lock").connected(login, first)
            }
            LoginState::TransientDisconnect(why) => {
                let next = self.connection_notices.lock().expect("lock").disconnected(login, &why, Instant::now());
                return self.follow(login, next).await;
            }
            LoginState::BadCredentials(why) => self.connection_notices.lock().expect("lock").bad_credentials(login, &why, Instant::now()),
            LoginState::LoggedOut(why) => {
                let text = format!("`{login}` was logged out ({why}). {}", self.relogin_hint());
                // Tell the owner first: the management room is found through the login.
                self.tell_owner(login, &text).await;
                self.logins.lock().expect("lock").remove(login);
                self.connection_notices.lock().expect("lock").forget(login);
                if let Err(e) = self.store.delete_login(login.as_str()).await {
                    warn!(login = %login, error = %e, "could not delete a logged-out login");
                }
                return;
            }
        };
        if let Some(notice) = notice {
            self.tell_notice(login, notice).await;
        }
    }

    /// Does what the notice rules asked: nothing, a notice now, or a check later (in a
    /// task, so the login's other reports are not held up).
    async fn follow(self: &Arc<Self>, login: &LoginId, next: Next) {
        match next {
            Next::Nothing => {}
            Next::Tell(notice) => self.tell_notice(login, notice).await,
            Next::CheckAt(at, outage) => {
                let bridge = Arc::downgrade(self);
                let login = login.clone();
                tokio::spawn(async move { check_later(bridge, login, at, outage).await });
            }
        }
    }

    /// What to do after a login was refused or ended: `login` where the network has login
    /// flows; elsewhere (IRC's stored passwords) the network's own commands, listed by `help`.
    fn relogin_hint(&self) -> &'static str {
        if self.network.login_flows().is_empty() {
            "Send `help` to see how to fix your credentials and reconnect."
        } else {
            "Send `login` to log in again."
        }
    }

    async fn tell_notice(&self, login: &LoginId, notice: Notice) {
        let Some(l) = self.login(login) else { return };
        let name = l.client.remote_name().unwrap_or(l.remote_name);
        let network = &self.info.display_name;
        let text = match notice {
            Notice::Connected => format!("Connected to {network} as `{name}`."),
            Notice::Back => format!("Connected to {network} as `{name}` again."),
            Notice::Lost(why) => format!("Lost the connection for `{login}` ({why}); reconnecting."),
            Notice::BadCredentials(why) => format!("{network} refused the login `{login}` ({why}). {}", self.relogin_hint()),
        };
        self.tell_owner(login, &text).await;
    }

    /// Sends a notice to the login's owner in their management room, opening one (a DM
    /// named by the network) when they have none yet.
    async fn tell_owner(&self, login: &LoginId, text: &str) {
        let owner = self.login(login).map(|l| l.user).or_else(|| self.logged_out.lock().expect("lock").get(login).cloned());
        let Some(owner) = owner.filter(|u| *u != self.config.bot_user_id) else { return };
        let room = match self.store.management_room(&owner).await {
            Ok(Some(room)) => room,
            Ok(None) => {
                let opts = CreateRoom {
                    name: Some(self.network.status_room_name(login)),
                    invite: vec![owner.clone()],
                    is_direct: true,
                    ..CreateRoom::default()
                };
                match self.matrix.create_room(&opts).await {
                    Ok(room) => {
                        // Unstored, the room still gets this notice; the next one opens another.
                        if let Err(e) = self.store.set_management_room(&owner, &room).await {
                            warn!(user = %owner, error = %e, "could not store a status room as the management room");
                        }
                        room
                    }
                    Err(e) => {
                        warn!(user = %owner, error = %e, "could not open a status room");
                        return;
                    }
                }
            }
            Err(e) => {
                warn!(error = %e, "could not look up a management room");
                return;
            }
        };
        self.notice(&room, text).await;
    }
}

/// Waits until `at`, then asks the rules again; a loss put off by the rate limit loops
/// until it is told or the outage ends. Holds no strong reference while it sleeps, so a
/// stopped bridge is not kept alive by a pending check.
async fn check_later(bridge: std::sync::Weak<Bridge>, login: LoginId, mut at: Instant, outage: Outage) {
    loop {
        tokio::time::sleep_until(at.into()).await;
        let Some(bridge) = bridge.upgrade() else { return };
        let next = bridge.connection_notices.lock().expect("lock").check(&login, outage, Instant::now());
        match next {
            Next::CheckAt(later, _) => at = later,
            Next::Tell(notice) => return bridge.tell_notice(&login, notice).await,
            Next::Nothing => return,
        }
    }
}
