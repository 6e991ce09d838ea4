//! When a login's owner hears about its connection: the decisions, without I/O or timers.
//!
//! A netsplit drops thousands of connections that are back within seconds, and a message
//! per drop floods the homeserver (matrix-appservice-irc#384); a connection that flaps for
//! an hour would do the same to one user. So, per login:
//! - a loss is reported only when it lasts the grace period (`bridge.disconnect_notice_seconds`);
//!   one healed within the grace is never mentioned;
//! - "back" is said only after a reported loss, and always then;
//! - a loss, or refused credentials, is reported at most once per [`NOTICE_INTERVAL`]: a loss
//!   that comes too soon after the last reported one waits until the interval has passed
//!   and is reported then if it still lasts, so an outage that stays is never kept secret.
//!
//! Time comes in as an argument (`now`), so the rules are tested with a made-up clock.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::ids::LoginId;

/// At most one notice of each kind per login within this time.
pub(crate) const NOTICE_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// What to tell the owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Notice {
    /// The login's first connection ever.
    Connected,
    /// Connected again after a reported loss.
    Back,
    /// The connection is lost (why) and the network is reconnecting.
    Lost(String),
    /// The remote side refused the credentials (why).
    BadCredentials(String),
}

/// What the caller does after a disconnect or a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Nothing to do.
    Nothing,
    /// Call [`ConnectionNotices::check`] with this outage at this time.
    CheckAt(Instant, Outage),
    /// Send this notice now.
    Tell(Notice),
}

/// Names one outage, so a check meant for an outage that ended does nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Outage(u64);

#[derive(Default)]
struct LoginNotices {
    /// The open outage, its reason, and whether its loss was reported.
    down: Option<(Outage, String, bool)>,
    last_lost: Option<Instant>,
    last_bad_credentials: Option<Instant>,
}

/// Notice decisions for every login.
pub(crate) struct ConnectionNotices {
    grace: Duration,
    interval: Duration,
    logins: HashMap<LoginId, LoginNotices>,
    next_outage: u64,
}

impl ConnectionNotices {
    pub(crate) fn new(grace: Duration, interval: Duration) -> Self {
        Self { grace, interval, logins: HashMap::new(), next_outage: 0 }
    }

    /// The network says the login is connected; `first` when it never was before.
    pub(crate) fn connected(&mut self, login: &LoginId, first: bool) -> Option<Notice> {
        let state = self.logins.entry(login.clone()).or_default();
        let reported = state.down.take().is_some_and(|(_, _, reported)| reported);
        match (first, reported) {
            (true, _) => Some(Notice::Connected),
            (false, true) => Some(Notice::Back),
            (false, false) => None,
        }
    }

    /// The network lost the connection and reconnects by itself.
    pub(crate) fn disconnected(&mut self, login: &LoginId, why: &str, now: Instant) -> Next {
        let outage = Outage(self.next_outage);
        let state = self.logins.entry(login.clone()).or_default();
        if state.down.is_some() {
            return Next::Nothing; // the same outage, still waiting or reported
        }
        self.next_outage += 1;
        state.down = Some((outage, why.to_owned(), false));
        Next::CheckAt(now + self.grace, outage)
    }

    /// The time for a check of `outage` has come.
    pub(crate) fn check(&mut self, login: &LoginId, outage: Outage, now: Instant) -> Next {
        let interval = self.interval;
        let Some(state) = self.logins.get_mut(login) else { return Next::Nothing };
        let Some((open, why, reported)) = state.down.as_mut() else { return Next::Nothing };
        if *open != outage || *reported {
            return Next::Nothing;
        }
        if let Some(last) = state.last_lost
            && now < last + interval
        {
            return Next::CheckAt(last + interval, outage);
        }
        *reported = true;
        state.last_lost = Some(now);
        Next::Tell(Notice::Lost(why.clone()))
    }

    /// The remote side refused the login's credentials; it will not reconnect by itself.
    pub(crate) fn bad_credentials(&mut self, login: &LoginId, why: &str, now: Instant) -> Option<Notice> {
        let interval = self.interval;
        let state = self.logins.entry(login.clone()).or_default();
        state.down = None;
        if state.last_bad_credentials.is_some_and(|last| now < last + interval) {
            return None;
        }
        state.last_bad_credentials = Some(now);
        Some(Notice::BadCredentials(why.to_owned()))
    }

    /// The login is gone (logged out): forget it.
    pub(crate) fn forget(&mut self, login: &LoginId) {
        self.logins.remove(login);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(60);

    fn setup() -> (ConnectionNotices, LoginId, Instant) {
        (ConnectionNotices::new(GRACE, NOTICE_INTERVAL), LoginId::new("net:alice"), Instant::now())
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// Runs a disconnect and its check at the time asked for; returns the check's answer
    /// and when it ran.
    fn lose(n: &mut ConnectionNotices, login: &LoginId, at: Instant) -> (Next, Instant) {
        let Next::CheckAt(when, outage) = n.disconnected(login, "netsplit", at) else { panic!("a new outage is checked later") };
        assert_eq!(when, at + GRACE, "checked after the grace period");
        (n.check(login, outage, when), when)
    }

    #[test]
    fn test_first_connection_is_told_and_a_quiet_reconnect_is_not() {
        let (mut n, login, _) = setup();
        assert_eq!(n.connected(&login, true), Some(Notice::Connected));
        assert_eq!(n.connected(&login, false), None, "already connected, nothing was lost");
    }

    #[test]
    fn test_drop_healed_within_the_grace_is_never_mentioned() {
        let (mut n, login, t0) = setup();
        n.connected(&login, true);
        let Next::CheckAt(when, outage) = n.disconnected(&login, "netsplit", t0) else { panic!() };
        assert_eq!(n.disconnected(&login, "again", t0 + secs(1)), Next::Nothing, "one outage, one check");
        assert_eq!(n.connected(&login, false), None, "back within the grace: no 'back' either");
        assert_eq!(n.check(&login, outage, when), Next::Nothing, "the check of a healed outage is void");
    }

    #[test]
    fn test_lasting_loss_is_told_once_then_back() {
        let (mut n, login, t0) = setup();
        n.connected(&login, true);
        let (next, when) = lose(&mut n, &login, t0);
        assert_eq!(next, Next::Tell(Notice::Lost("netsplit".into())));
        assert_eq!(n.disconnected(&login, "still", when + secs(5)), Next::Nothing, "the same outage is not told twice");
        assert_eq!(n.connected(&login, false), Some(Notice::Back));
    }

    #[test]
    fn test_flapping_connection_is_told_at_most_once_per_interval_and_a_lasting_loss_is_told_late() {
        let (mut n, login, t0) = setup();
        n.connected(&login, true);
        let (first, told_at) = lose(&mut n, &login, t0);
        assert!(matches!(first, Next::Tell(Notice::Lost(_))));
        assert_eq!(n.connected(&login, false), Some(Notice::Back));

        // Ten more drops of two minutes each, a few minutes apart: all within the interval.
        let mut t = told_at + secs(30);
        for _ in 0..10 {
            let (next, checked) = lose(&mut n, &login, t);
            let Next::CheckAt(later, _) = next else { panic!("a loss too soon is put off, not told: {next:?}") };
            assert_eq!(later, told_at + NOTICE_INTERVAL);
            assert!(later > checked);
            assert_eq!(n.connected(&login, false), None, "no 'back' for a loss that was not told");
            t += secs(50);
        }

        // One more that lasts: put off until the interval ends, then told.
        let (next, _) = lose(&mut n, &login, t);
        let Next::CheckAt(later, outage) = next else { panic!("{next:?}") };
        assert_eq!(n.check(&login, outage, later), Next::Tell(Notice::Lost("netsplit".into())));
        assert_eq!(n.connected(&login, false), Some(Notice::Back));
    }

    #[test]
    fn test_bad_credentials_are_told_at_most_once_per_interval_and_end_the_outage() {
        let (mut n, login, t0) = setup();
        let Next::CheckAt(when, outage) = n.disconnected(&login, "netsplit", t0) else { panic!() };
        assert_eq!(n.bad_credentials(&login, "wrong password", t0 + secs(1)), Some(Notice::BadCredentials("wrong password".into())));
        assert_eq!(n.check(&login, outage, when), Next::Nothing, "no loss notice after the refusal");
        assert_eq!(n.bad_credentials(&login, "wrong password", t0 + secs(120)), None);
        assert_eq!(
            n.bad_credentials(&login, "wrong password", t0 + secs(1) + NOTICE_INTERVAL),
            Some(Notice::BadCredentials("wrong password".into()))
        );
    }

    #[test]
    fn test_logins_are_limited_separately_and_forgotten() {
        let (mut n, alice, t0) = setup();
        let bob = LoginId::new("net:bob");
        assert!(matches!(lose(&mut n, &alice, t0).0, Next::Tell(_)));
        assert!(matches!(lose(&mut n, &bob, t0).0, Next::Tell(_)), "another login's notice does not count against this one");
        n.forget(&alice);
        assert!(matches!(lose(&mut n, &alice, t0 + secs(200)).0, Next::Tell(_)), "a forgotten login starts afresh");
    }
}
