//! XEP-0410 MUC self-ping: every user pings their own occupant in each MUC now and then.
//! A MUC can drop an occupant without telling (a restart of the MUC service alone, an
//! error it took for a gone client); the ping finds out, and the user joins again.

use std::sync::Arc;
use std::time::Duration;

use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::ns;
use tokio_xmpp::parsers::stanza_error::DefinedCondition;

use crate::client::XmppClient;
use crate::network::Shared;

/// What a self-ping says about the occupancy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Occupancy {
    /// Still in the room.
    Joined,
    /// Not in the room (any more): join again.
    NotJoined,
    /// No answer, or one that says nothing (the MUC's server is unreachable): ask again later.
    Unknown,
}

/// Reads the answer to a self-ping as XEP-0410 says: a result, or an error from our own
/// client that does not do pings, means joined; `not-acceptable` and `item-not-found`
/// from the MUC mean not joined.
pub(crate) fn occupancy(answer: Option<&Iq>) -> Occupancy {
    match answer {
        Some(Iq::Result { .. }) => Occupancy::Joined,
        Some(Iq::Error { error, .. }) => match error.defined_condition {
            DefinedCondition::ServiceUnavailable | DefinedCondition::FeatureNotImplemented => Occupancy::Joined,
            DefinedCondition::NotAcceptable | DefinedCondition::ItemNotFound | DefinedCondition::BadRequest => Occupancy::NotJoined,
            _ => Occupancy::Unknown,
        },
        _ => Occupancy::Unknown,
    }
}

/// Pings every user's occupant in every MUC each `every`, joining again where it is gone.
pub(crate) async fn run(shared: std::sync::Weak<Shared>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.tick().await; // the first tick is immediate: nothing is joined yet
    loop {
        ticks.tick().await;
        let Some(shared) = shared.upgrade() else { return };
        let clients: Vec<XmppClient> = shared.clients.lock().expect("lock").values().cloned().collect();
        for client in clients {
            for (muc, nick) in client.mucs() {
                check(&shared, &client, &muc, &nick).await;
            }
        }
    }
}

/// One self-ping, and a join when it says the user is out.
pub(crate) async fn check(shared: &Arc<Shared>, client: &XmppClient, muc: &str, nick: &str) -> Occupancy {
    let (Ok(from), Ok(to)) = (client.jid().parse(), format!("{muc}/{nick}").parse()) else { return Occupancy::Unknown };
    let ping = Element::builder("ping", ns::PING).build();
    let answer = shared.request(from, to, ping).await.ok();
    let found = occupancy(answer.as_ref());
    if found == Occupancy::NotJoined && client.nick_in(muc).as_deref() == Some(nick) {
        tracing::info!(user = client.jid(), muc, "a MUC no longer had the user: joining again");
        client.rejoin(muc);
    }
    found
}

#[cfg(test)]
mod tests {
    use tokio_xmpp::parsers::stanza_error::{ErrorType, StanzaError};

    use super::*;

    fn error(condition: DefinedCondition) -> Iq {
        let error = StanzaError::new(ErrorType::Cancel, condition, "en", "");
        Iq::Error { from: None, to: None, id: "p".into(), error, payload: None }
    }

    #[test]
    fn test_answers_read_as_the_xep_says() {
        assert_eq!(occupancy(Some(&Iq::Result { from: None, to: None, id: "p".into(), payload: None })), Occupancy::Joined);
        assert_eq!(occupancy(Some(&error(DefinedCondition::ServiceUnavailable))), Occupancy::Joined);
        assert_eq!(occupancy(Some(&error(DefinedCondition::FeatureNotImplemented))), Occupancy::Joined);
        assert_eq!(occupancy(Some(&error(DefinedCondition::NotAcceptable))), Occupancy::NotJoined);
        assert_eq!(occupancy(Some(&error(DefinedCondition::ItemNotFound))), Occupancy::NotJoined);
        assert_eq!(occupancy(Some(&error(DefinedCondition::RemoteServerNotFound))), Occupancy::Unknown);
        assert_eq!(occupancy(Some(&error(DefinedCondition::RemoteServerTimeout))), Occupancy::Unknown);
        assert_eq!(occupancy(None), Occupancy::Unknown);
    }
}
