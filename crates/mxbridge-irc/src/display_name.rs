//! The nick follows the Matrix display name when the nick template uses it
//! (`{displayname}[m]`): a new display name is a new nick, unless the user picked one with
//! `nick`, which wins from then on.

use async_trait::async_trait;
use mxbridge_core::network::{DisplayNames, NetworkError};

use crate::client::{IrcClient, keys};
use crate::nick;

/// The nick the template makes for a display name, or `None` when the template does not
/// use the display name (the nick then never follows it).
pub(crate) fn nick_for(template: &str, display_name: Option<&str>, user: &str) -> Option<String> {
    if !template.contains("{displayname}") {
        return None;
    }
    let localpart = ruma::UserId::parse(user).map(|u| u.localpart().to_owned()).unwrap_or_else(|_| user.to_owned());
    Some(nick::from_template(template, display_name, &localpart, nick::DEFAULT_NICKLEN))
}

#[async_trait]
impl DisplayNames for IrcClient {
    async fn display_name_changed(&self, name: Option<&str>) -> Result<(), NetworkError> {
        let Some(wanted) = nick_for(&self.inner.shared.config.nick_template, name, &self.inner.user) else { return Ok(()) };
        if self.inner.read(keys::NICK_CHOSEN).await.is_some() || wanted == self.nick() {
            return Ok(());
        }
        tracing::info!(login = %self.login(), nick = %wanted, "the display name changed; so does the nick");
        if self.is_connected() {
            // The server confirms with a NICK, which records the new nick.
            return self.change_nick(&wanted);
        }
        // Not connected (idle): the next connection uses the new nick.
        let previous = std::mem::replace(&mut *self.inner.nick.lock().expect("lock"), wanted.clone());
        self.inner.shared.puppets.rename(&previous, &wanted, &self.inner.user);
        self.inner.clone().persist();
        Ok(())
    }
}

impl IrcClient {
    /// `nick NewNick`: asks the server for the nick and remembers that the user chose it, so
    /// later display name changes leave it alone.
    pub(crate) async fn choose_nick(&self, nick: &str) -> Result<(), NetworkError> {
        self.change_nick(nick)?;
        self.inner
            .store(keys::NICK_CHOSEN, Some("1"))
            .await
            .map_err(|e| NetworkError::Other(format!("the nick was asked for, but it may follow your display name again: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_the_nick_follows_only_templates_with_the_display_name() {
        let nick = |template: &str, name: Option<&str>| nick_for(template, name, "@alice:example.org");
        assert_eq!(nick("{displayname}[m]", Some("Alice Smith 🎉")).as_deref(), Some("AliceSmith[m]"), "sanitized");
        assert_eq!(nick("{displayname}[m]", Some("Zoë")).as_deref(), Some("Zo[m]"));
        assert_eq!(nick("{displayname}[m]", None).as_deref(), Some("alice[m]"), "no name: the localpart");
        assert_eq!(nick("{localpart}[m]", Some("Alice Smith")), None, "the nick never follows the name");
    }
}
