//! The people of an account: their names and `@usernames` (for mentions), their profile
//! pictures on their ghosts, the contacts `sync` refreshes, and `pm` with a phone number or
//! a username.

use std::sync::Arc;

use async_trait::async_trait;
use mxbridge_core::ids::PortalKey;
use mxbridge_core::network::content::{Media, MediaKind};
use mxbridge_core::network::event::RemoteEvent;
use mxbridge_core::network::{ChatInfo, NetworkError, ResolveIdentifier};
use tracing::warn;

use super::{Inner, TelegramClient, sender, to_network_error, user_info};
use crate::backend::{BackendError, FormattedText, Peer, TgUser};
use crate::{entities, ids, login};

impl Inner {
    /// Remembers a user's `@username`, for mentions.
    pub(super) fn learn(&self, user: &TgUser) {
        if let Some(name) = &user.username {
            self.usernames.lock().expect("lock").insert(name.to_lowercase(), Some(user.id));
        }
    }

    /// Turns the `@username` mentions of a message into mentions by id, asking Telegram for
    /// usernames not seen yet.
    pub(super) async fn resolve_mentions(&self, text: &mut FormattedText) {
        let names = entities::mentioned_usernames(text);
        if names.is_empty() {
            return;
        }
        for name in names {
            if self.usernames.lock().expect("lock").contains_key(&name) {
                continue;
            }
            match self.flood.run("resolve username", || self.account.resolve_username(&name)).await {
                Ok(Some(user)) => {
                    // Remembered under the name mentioned, in case Telegram spells it otherwise.
                    self.usernames.lock().expect("lock").insert(name.clone(), Some(user.id));
                    self.learn(&user);
                }
                // No such user (or a channel's name): not asked again.
                Ok(None) => {
                    self.usernames.lock().expect("lock").insert(name.clone(), None);
                }
                Err(e) => warn!(login = %self.login, error = %e, "could not resolve a mentioned username"),
            }
        }
        let known = self.usernames.lock().expect("lock");
        entities::resolve_mentions(text, &|name| known.get(name).copied().flatten());
    }

    /// Gives the user's ghost their current profile picture, unless this login already did:
    /// fetched in the background, so that a download never holds up a chat's messages.
    pub(super) fn refresh_avatar(self: &Arc<Self>, user: &TgUser) {
        self.refresh_profile(user, false);
    }

    /// Gives the ghost the user's picture when it is new, with their name. From the contact
    /// list (`from_contact_list`, full users), it also reports the name alone when there is
    /// no new picture, and takes a picture away that the contact removed: elsewhere a user
    /// may come without their picture. One profile
    /// event per user: the homeserver rewrites a ghost's membership in every room it is in
    /// for each profile change, and concurrent changes of one user can fail there.
    fn refresh_profile(self: &Arc<Self>, user: &TgUser, from_contact_list: bool) {
        if user.id == self.account.me().id {
            return;
        }
        let (inner, user) = (self.clone(), user.clone());
        tokio::spawn(async move {
            let name_only = RemoteEvent::Profile { sender: sender(&user, false), avatar: None };
            let Some(photo) = user.photo else {
                if from_contact_list && inner.avatars.forget(&inner.store, user.id).await {
                    inner.events.send(RemoteEvent::AvatarRemoved { sender: sender(&user, false) });
                }
                if from_contact_list {
                    inner.events.send(name_only);
                }
                return;
            };
            if !inner.avatars.claim(&inner.store, &user).await {
                if from_contact_list {
                    inner.events.send(name_only);
                }
                return;
            }
            match inner.flood.run("profile photo", || inner.account.profile_photo(&user)).await {
                Ok(Some(file)) => {
                    let avatar = Media { kind: MediaKind::Image, name: file.name, mime: Some(file.mime), data: file.data, url: None };
                    inner.events.send(RemoteEvent::Profile { sender: sender(&user, false), avatar: Some(avatar) });
                    inner.avatars.done(&inner.store, user.id, photo).await;
                }
                outcome => {
                    if let Err(e) = outcome {
                        warn!(login = %inner.login, user = user.id, error = %e, "could not download a Telegram profile picture");
                        inner.avatars.failed(user.id, photo);
                    } else {
                        inner.avatars.done(&inner.store, user.id, photo).await;
                    }
                    if from_contact_list {
                        inner.events.send(name_only);
                    }
                }
            }
        });
    }

    /// Refreshes the ghosts of the account's contacts: their names, and their pictures
    /// as they download. Returns how many contacts there are.
    pub(crate) async fn sync_contacts(self: &Arc<Self>) -> Result<usize, BackendError> {
        let contacts = self.flood.run("contacts", || self.account.contacts()).await?;
        for contact in &contacts {
            self.learn(contact);
            self.refresh_profile(contact, true);
        }
        Ok(contacts.len())
    }
}

#[async_trait]
impl ResolveIdentifier for TelegramClient {
    async fn resolve(&self, identifier: &str) -> Result<(PortalKey, ChatInfo), NetworkError> {
        let identifier = identifier.trim();
        let found = if identifier.starts_with('+') {
            let phone = login::normalise_phone(identifier).ok_or_else(|| {
                NetworkError::NotFound(format!("`{identifier}` is not a phone number in international format (like +4412345678)"))
            })?;
            let user =
                self.inner.flood.run("resolve phone", || self.inner.account.resolve_phone(&phone)).await.map_err(to_network_error)?;
            user.ok_or_else(|| NetworkError::NotFound(format!("`{phone}` is not on Telegram (or hides its number)")))?
        } else {
            let name = identifier.trim_start_matches('@');
            let valid = (4..=32).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(NetworkError::NotFound(format!(
                    "`{identifier}` is neither a phone number (+4412345678) nor a Telegram username (@name)"
                )));
            }
            let user =
                self.inner.flood.run("resolve username", || self.inner.account.resolve_username(name)).await.map_err(to_network_error)?;
            user.ok_or_else(|| NetworkError::NotFound(format!("there is no Telegram user `@{name}`")))?
        };
        let key = self.inner.portal(Peer::User(found.id));
        Ok((key, ChatInfo::direct(ids::user_id(found.id), Some(user_info(&found)))))
    }
}
