//! The MUC nick follows the Matrix display name (XEP-0045 §7.6): a new display name is a
//! presence to each MUC under the new nick, and the MUC tells its occupants.

use async_trait::async_trait;
use mxbridge_core::network::{DisplayNames, NetworkError};

use crate::client::{XmppClient, muc_nick};

/// The nick for a display name: the name, else the localpart of the user the JID is for.
fn nick_for(jid: &str, display_name: Option<&str>) -> Option<String> {
    muc_nick(display_name).or_else(|| {
        let node = jid.split('@').next()?;
        crate::jid::matrix_user_for_node(node).map(|u| u.localpart().to_owned())
    })
}

#[async_trait]
impl DisplayNames for XmppClient {
    async fn display_name_changed(&self, name: Option<&str>) -> Result<(), NetworkError> {
        let Some(nick) = nick_for(self.jid(), name) else { return Ok(()) };
        *self.inner.nick.lock().expect("lock") = nick.clone();
        let mut renamed = Vec::new();
        for (muc, old) in self.inner.mucs.lock().expect("lock").iter_mut() {
            if *old != nick {
                old.clone_from(&nick);
                renamed.push(muc.clone());
            }
        }
        if renamed.is_empty() {
            return Ok(());
        }
        for muc in &renamed {
            // An available presence to the new occupant JID, without the MUC payload of a
            // join, is a nick change; a taken nick comes back as a conflict, answered with
            // another nick like at join.
            let presence = self.occupant_presence(muc, &nick, false)?;
            self.inner.link.send(presence);
        }
        tracing::info!(jid = self.jid(), mucs = renamed.len(), "the display name changed; so does the MUC nick");
        self.remember_mucs().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_the_nick_is_the_display_name_else_the_localpart() {
        let jid = "alice_example.org@matrix.example.org";
        assert_eq!(nick_for(jid, Some("Alice Smith")).as_deref(), Some("Alice Smith"), "spaces are fine in MUC nicks");
        assert_eq!(nick_for(jid, Some("\n")).as_deref(), Some("alice"));
        assert_eq!(nick_for(jid, None).as_deref(), Some("alice"));
    }
}
