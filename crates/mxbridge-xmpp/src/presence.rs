//! The Matrix user's presence on XMPP: Matrix `online` / `unavailable` / `offline` and the
//! status message become the `show` and `status` of their presence in every MUC they are in.
//! Matrix `offline` is XMPP extended away, not unavailable: an unavailable occupant has
//! left the MUC, and the user's messages from Matrix still need to reach it.

use async_trait::async_trait;
use mxbridge_core::network::{MatrixPresence, NetworkError, PresenceUpdates};
use tokio_xmpp::parsers::message::Lang;
use tokio_xmpp::parsers::presence::{Presence, Show};

use crate::client::XmppClient;

/// How available a Matrix user is, as XMPP says it.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Availability {
    show: Option<Show>,
    status: Option<String>,
}

impl Availability {
    pub(crate) fn from_matrix(presence: MatrixPresence, status: Option<&str>) -> Self {
        let show = match presence {
            MatrixPresence::Online => None,
            MatrixPresence::Unavailable => Some(Show::Away),
            MatrixPresence::Offline => Some(Show::Xa),
        };
        Self { show, status: status.map(str::to_owned) }
    }

    /// Puts the show and status into a presence.
    pub(crate) fn apply(&self, presence: &mut Presence) {
        presence.show = self.show.clone();
        presence.statuses.clear();
        if let Some(status) = &self.status {
            presence.set_status(Lang::default(), status.clone());
        }
    }
}

#[async_trait]
impl PresenceUpdates for XmppClient {
    async fn set_presence(&self, presence: MatrixPresence, status: Option<&str>) -> Result<(), NetworkError> {
        let now = Availability::from_matrix(presence, status);
        {
            let mut current = self.inner.availability.lock().expect("lock");
            if *current == now {
                return Ok(()); // the homeserver repeats presence that did not change
            }
            *current = now;
        }
        for (muc, nick) in self.mucs() {
            // Without the MUC payload: a presence update, not a join.
            self.inner.link.send(self.occupant_presence(&muc, &nick, false)?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_matrix_presence_becomes_show_and_status() {
        let mut presence = Presence::available();
        Availability::from_matrix(MatrixPresence::Unavailable, Some("lunch")).apply(&mut presence);
        assert_eq!(presence.show, Some(Show::Away));
        assert_eq!(presence.statuses.values().next().map(|s| s.as_str()), Some("lunch"));
        Availability::from_matrix(MatrixPresence::Offline, None).apply(&mut presence);
        assert_eq!(presence.show, Some(Show::Xa), "offline stays in the MUC, extended away");
        assert!(presence.statuses.is_empty(), "the old status is gone");
        Availability::from_matrix(MatrixPresence::Online, None).apply(&mut presence);
        assert_eq!(presence.show, None);
        assert_eq!(Availability::default(), Availability::from_matrix(MatrixPresence::Online, None), "online is where users start");
    }
}
