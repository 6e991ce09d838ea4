//! QR login against Telegram, by hand on raw TL calls (grammers has no helper for it):
//!
//! 1. `auth.exportLoginToken` gives a token, shown as `tg://login?token=<base64url>`, which
//!    the Telegram app scans (Settings → Devices → Link Desktop Device).
//! 2. When it is scanned Telegram pushes `updateLoginToken`; the bridge also looks again
//!    when the token expires, so a missed update costs one token's lifetime at most.
//! 3. Exporting again then answers with the authorisation, or with
//!    `auth.loginTokenMigrateTo` when the account lives in another data centre: the session's
//!    home DC becomes that one (grammers sends every call to the session's home DC) and
//!    `auth.importLoginToken` there finishes the login.
//! 4. An account with two-step verification answers `SESSION_PASSWORD_NEEDED`: the password
//!    is checked with grammers' `check_password`, as in the phone login.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use grammers_client::client::PasswordToken;
use grammers_client::tl;
use grammers_session::Session;
use grammers_session::updates::UpdatesLike;
use tokio::sync::mpsc;

use super::convert::tl_user;
use super::login::{Connection, map_sign_in};
use super::{backend_error, rpc_name};
use crate::backend::{Authorized, BackendError, QrAttempt, SignInError};
use crate::config::ApiCredentials;

/// The link the Telegram app scans for a login token.
pub(crate) fn token_link(token: &[u8]) -> String {
    format!("tg://login?token={}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token))
}

/// How long to wait for a scan before looking again: until the token expires (Unix
/// seconds), at least a second (a clock a little ahead must not make the bridge spin) and
/// at most a minute (a clock behind must not make a scanned code wait long).
pub(crate) fn wait_for(expires: i64, now: i64) -> Duration {
    Duration::from_secs(expires.saturating_sub(now).clamp(1, 60) as u64)
}

/// What an exported (or imported) login token says.
#[derive(Debug, PartialEq)]
pub(crate) enum TokenState {
    /// Not scanned yet: show this link until `expires` (Unix seconds).
    Show { link: String, expires: i64 },
    /// Scanned by an account of another data centre: import `token` there.
    Migrate { dc: i32, token: Vec<u8> },
    /// Logged in as this user.
    LoggedIn(Box<tl::enums::User>),
}

pub(crate) fn token_state(answer: tl::enums::auth::LoginToken) -> Result<TokenState, SignInError> {
    use tl::enums::auth::{Authorization, LoginToken};
    match answer {
        LoginToken::Token(t) => Ok(TokenState::Show { link: token_link(&t.token), expires: i64::from(t.expires) }),
        LoginToken::MigrateTo(m) => Ok(TokenState::Migrate { dc: m.dc_id, token: m.token }),
        LoginToken::Success(s) => match s.authorization {
            Authorization::Authorization(a) => Ok(TokenState::LoggedIn(Box::new(a.user))),
            Authorization::SignUpRequired(_) => Err(SignInError::Backend(BackendError::Refused(
                "this Telegram account is not signed up: finish signing up in the Telegram app first".into(),
            ))),
        },
    }
}

/// Whether pushed updates tell that the login token was scanned.
pub(crate) fn scanned(updates: &UpdatesLike) -> bool {
    use tl::enums::{Update, Updates};
    match updates {
        UpdatesLike::Updates(Updates::UpdateShort(short)) => matches!(short.update, Update::LoginToken),
        UpdatesLike::Updates(Updates::Updates(many)) => many.updates.iter().any(|u| matches!(u, Update::LoginToken)),
        UpdatesLike::Updates(Updates::Combined(many)) => many.updates.iter().any(|u| matches!(u, Update::LoginToken)),
        _ => false,
    }
}

pub(crate) struct RealQrLogin {
    api: ApiCredentials,
    device_model: String,
    connection: Option<(Connection, mpsc::Receiver<UpdatesLike>)>,
    /// The token shown now and when it expires; a fresh one waits here for `token_link`.
    shown: Option<(String, i64)>,
    fresh: bool,
    /// Logged in while a new code was being fetched: `wait_scan` reports it.
    logged_in: Option<Authorized>,
    password: Option<PasswordToken>,
}

impl RealQrLogin {
    pub(crate) fn new(api: ApiCredentials, device_model: String) -> Self {
        Self { api, device_model, connection: None, shown: None, fresh: false, logged_in: None, password: None }
    }

    fn connection(&mut self) -> &Connection {
        let (api, device_model) = (&self.api, &self.device_model);
        &self.connection.get_or_insert_with(|| Connection::open(api, device_model)).0
    }

    /// Exports the token again and follows what it says: a new code to show (`None`), or
    /// the finished login.
    async fn export(&mut self) -> Result<Option<Authorized>, SignInError> {
        let request =
            tl::functions::auth::ExportLoginToken { api_id: self.api.api_id, api_hash: self.api.api_hash.clone(), except_ids: Vec::new() };
        let client = self.connection().client.clone();
        let answer = client.invoke(&request).await;
        let state = match answer {
            Ok(answer) => token_state(answer)?,
            Err(e) => return Err(self.password_or(e).await),
        };
        match state {
            TokenState::Show { link, expires } => {
                self.shown = Some((link, expires));
                self.fresh = true;
                Ok(None)
            }
            TokenState::Migrate { dc, token } => self.import_in(dc, token).await.map(Some),
            TokenState::LoggedIn(user) => self.logged_in_as(&user).map(Some),
        }
    }

    /// The account lives in data centre `dc`: it becomes the session's home, and the token
    /// is imported there.
    async fn import_in(&mut self, dc: i32, token: Vec<u8>) -> Result<Authorized, SignInError> {
        let connection = self.connection();
        let (client, session, pool) = (connection.client.clone(), connection.session.clone(), connection.pool.clone());
        let old = session.home_dc_id().map_err(|e| SignInError::Backend(BackendError::Other(e.to_string())))?;
        session.set_home_dc_id(dc).await.map_err(|e| SignInError::Backend(BackendError::Other(e.to_string())))?;
        pool.disconnect_from_dc(old);
        let answer = client.invoke(&tl::functions::auth::ImportLoginToken { token }).await;
        match answer.map(token_state) {
            Ok(Ok(TokenState::LoggedIn(user))) => self.logged_in_as(&user),
            Ok(Ok(_)) => Err(SignInError::Backend(BackendError::Other(
                "Telegram did not accept the scanned code in the account's data centre; send `login qr` again".into(),
            ))),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(self.password_or(e).await),
        }
    }

    fn logged_in_as(&mut self, user: &tl::enums::User) -> Result<Authorized, SignInError> {
        let me = tl_user(user).ok_or(SignInError::Backend(BackendError::Other("Telegram logged in an empty account".into())))?;
        self.connection().authorized(me, None)
    }

    /// An error of an export or import: the account's 2FA password is needed (its token is
    /// fetched for the next step), or the login failed.
    async fn password_or(&mut self, e: grammers_client::InvocationError) -> SignInError {
        if rpc_name(&e) != Some("SESSION_PASSWORD_NEEDED") {
            return SignInError::Backend(backend_error(e));
        }
        let client = self.connection().client.clone();
        match client.invoke(&tl::functions::account::GetPassword {}).await {
            Ok(tl::enums::account::Password::Password(password)) => {
                let hint = password.hint.clone();
                self.password = Some(PasswordToken::new(password));
                SignInError::PasswordRequired { hint }
            }
            Err(e) => SignInError::Backend(backend_error(e)),
        }
    }
}

#[async_trait]
impl QrAttempt for RealQrLogin {
    async fn token_link(&mut self) -> Result<String, BackendError> {
        // A code fetched by `wait_scan` is shown as it is; otherwise a new one is exported.
        if !std::mem::take(&mut self.fresh) {
            match self.export().await {
                Ok(None) => self.fresh = false,
                Ok(Some(auth)) => self.logged_in = Some(auth),
                Err(SignInError::Backend(e)) => return Err(e),
                Err(e) => return Err(BackendError::Other(format!("{e}; send `login qr` again"))),
            }
        }
        self.shown.as_ref().map(|(link, _)| link.clone()).ok_or_else(|| BackendError::Other("Telegram gave no login token".into()))
    }

    async fn wait_scan(&mut self) -> Result<Option<Authorized>, SignInError> {
        if let Some(auth) = self.logged_in.take() {
            return Ok(Some(auth));
        }
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
        let expires = self.shown.as_ref().map_or(now, |(_, expires)| *expires);
        if let Some((_, updates)) = self.connection.as_mut() {
            let deadline = tokio::time::sleep(wait_for(expires, now));
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    _ = &mut deadline => break,
                    pushed = updates.recv() => match pushed {
                        Some(u) if scanned(&u) => break,
                        Some(_) => {}
                        None => break,
                    },
                }
            }
        }
        self.export().await
    }

    async fn check_password(&mut self, password: &str) -> Result<Authorized, SignInError> {
        let token = self.password.take().ok_or(SignInError::Backend(BackendError::Other("no password was asked".into())))?;
        let client = self.connection().client.clone();
        let result = client.check_password(token, password.as_bytes()).await;
        let (connection, _) = self.connection.as_ref().ok_or(SignInError::Backend(BackendError::Other("not connected".into())))?;
        map_sign_in(connection, None, &mut self.password, result)
    }

    async fn cancel(&mut self) {
        if let Some((connection, _)) = self.connection.take() {
            connection.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_the_token_link_is_base64url_without_padding() {
        assert_eq!(token_link(&[0xfb, 0xff, 0x01]), "tg://login?token=-_8B");
        assert_eq!(token_link(b"ab"), "tg://login?token=YWI", "no '=' padding");
    }

    #[test]
    fn test_a_code_is_shown_until_it_expires_within_bounds() {
        assert_eq!(wait_for(1_030, 1_000), Duration::from_secs(30));
        assert_eq!(wait_for(990, 1_000), Duration::from_secs(1), "already expired: look again at once, without spinning");
        assert_eq!(wait_for(5_000, 1_000), Duration::from_secs(60), "a skewed clock never waits long");
    }

    #[test]
    fn test_export_answers_map_to_show_migrate_or_logged_in() {
        use tl::enums::auth::{Authorization, LoginToken};
        let token = LoginToken::Token(tl::types::auth::LoginToken { expires: 1_030, token: b"ab".to_vec() });
        assert_eq!(token_state(token).unwrap(), TokenState::Show { link: "tg://login?token=YWI".into(), expires: 1_030 });
        let migrate = LoginToken::MigrateTo(tl::types::auth::LoginTokenMigrateTo { dc_id: 4, token: vec![9] });
        assert_eq!(token_state(migrate).unwrap(), TokenState::Migrate { dc: 4, token: vec![9] });
        let signup = LoginToken::Success(tl::types::auth::LoginTokenSuccess {
            authorization: Authorization::SignUpRequired(tl::types::auth::AuthorizationSignUpRequired { terms_of_service: None }),
        });
        assert!(matches!(token_state(signup), Err(SignInError::Backend(BackendError::Refused(_)))));
        let user = tl::enums::User::Empty(tl::types::UserEmpty { id: 42 });
        let success = LoginToken::Success(tl::types::auth::LoginTokenSuccess {
            authorization: Authorization::Authorization(tl::types::auth::Authorization {
                setup_password_required: false,
                otherwise_relogin_days: None,
                tmp_sessions: None,
                future_auth_token: None,
                user: user.clone(),
            }),
        });
        assert_eq!(token_state(success).unwrap(), TokenState::LoggedIn(Box::new(user)));
    }

    #[tokio::test]
    async fn test_a_login_finished_in_another_data_centre_stores_that_one_as_home() {
        use crate::real::session::PersistedSession;
        let mut login = RealQrLogin::new(ApiCredentials { api_id: 1, api_hash: "hash".into() }, "test".into());
        // What `import_in` does before importing the token (no I/O until a call is made).
        login.connection().session.set_home_dc_id(4).await.unwrap();
        let me = crate::backend::TgUser { id: 42, name: "Alice".into(), username: None, phone: Some("+4412345678".into()), photo: None };
        let auth = login.connection().authorized(me, None).unwrap();
        let stored = PersistedSession::from_bytes(&auth.session).unwrap();
        assert_eq!((stored.home_dc, stored.me.id, stored.me.phone.as_deref()), (4, 42, Some("+4412345678")));
        assert_eq!(auth.me.name, "Alice");
        let empty = tl::enums::User::Empty(tl::types::UserEmpty { id: 42 });
        assert!(matches!(login.logged_in_as(&empty), Err(SignInError::Backend(_))), "an empty account is not a login");
        login.cancel().await;
    }

    #[test]
    fn test_only_the_login_token_update_counts_as_a_scan() {
        use tl::enums::{Update, Updates};
        let short = |update| UpdatesLike::Updates(Updates::UpdateShort(tl::types::UpdateShort { update, date: 0 }));
        assert!(scanned(&short(Update::LoginToken)));
        assert!(!scanned(&short(Update::Config)));
        let many = UpdatesLike::Updates(Updates::Updates(tl::types::Updates {
            updates: vec![Update::Config, Update::LoginToken],
            users: Vec::new(),
            chats: Vec::new(),
            date: 0,
            seq: 0,
        }));
        assert!(scanned(&many));
        assert!(!scanned(&UpdatesLike::Updates(Updates::TooLong)));
    }
}
