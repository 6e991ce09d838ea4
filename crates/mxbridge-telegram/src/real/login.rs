//! Phone login against Telegram: `request_login_code` → `sign_in` → `check_password`.

use std::sync::Arc;

use async_trait::async_trait;
use grammers_client::client::{LoginToken, PasswordToken};
use grammers_client::sender::SenderPoolHandle;
use grammers_client::{Client, SenderPool, SignInError as GrammersSignInError};
use grammers_session::updates::UpdatesLike;
use mxbridge_core::ids::LoginId;
use tokio::sync::mpsc;

use super::convert::user_of;
use super::session::{PersistedUser, StoredSession};
use super::{backend_error, connection_params, rpc_name};
use crate::backend::{Authorized, BackendError, CodeRequestError, LoginAttempt, SignInError, TgUser};
use crate::config::ApiCredentials;
use crate::session::AccountStore;

/// The connection of a login in progress; nothing is stored until the login succeeds,
/// when the session becomes the login's secret.
pub(super) struct Connection {
    pub(super) client: Client,
    pub(super) session: Arc<StoredSession>,
    /// To drop the connection to a DC the login moved away from.
    pub(super) pool: SenderPoolHandle,
    runner: tokio::task::JoinHandle<()>,
}

impl Connection {
    /// Connects (on the first call) with a fresh session; returns the updates Telegram
    /// pushes before the login is done too (the QR login waits for one).
    pub(super) fn open(api: &ApiCredentials, device_model: &str) -> (Self, mpsc::Receiver<UpdatesLike>) {
        let session = Arc::new(StoredSession::fresh(AccountStore::new(None, LoginId::new("telegram:login"))));
        let pool = SenderPool::with_configuration(session.clone(), api.api_id, connection_params(device_model));
        let handle = pool.handle.thin.clone();
        let client = Client::new(pool.handle);
        let runner = tokio::spawn(pool.runner.run());
        (Self { client, session, pool: handle, runner }, pool.updates)
    }

    /// The finished login: the account's user and the session to store.
    pub(super) fn authorized(&self, me: TgUser, phone: Option<&str>) -> Result<Authorized, SignInError> {
        let me = PersistedUser { id: me.id, name: me.name, phone: me.phone.or_else(|| phone.map(str::to_owned)), username: me.username };
        let persisted = self.session.export(me.clone()).map_err(|e| SignInError::Backend(BackendError::Other(e.to_string())))?;
        Ok(Authorized { me: me.to_user(), session: persisted.to_bytes() })
    }

    /// Disconnects.
    pub(super) fn close(self) {
        self.client.disconnect();
        self.runner.abort();
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.runner.abort();
    }
}

/// What a grammers sign-in result means to the login flows; a password request keeps its
/// token in `password` for the next step.
pub(super) fn map_sign_in(
    connection: &Connection,
    phone: Option<&str>,
    password: &mut Option<PasswordToken>,
    result: Result<grammers_client::peer::User, GrammersSignInError>,
) -> Result<Authorized, SignInError> {
    match result {
        Ok(user) => connection.authorized(user_of(&grammers_client::peer::Peer::User(user)), phone),
        Err(GrammersSignInError::PasswordRequired(token)) => {
            let hint = token.hint().map(str::to_owned);
            *password = Some(token);
            Err(SignInError::PasswordRequired { hint })
        }
        Err(GrammersSignInError::InvalidPassword(token)) => {
            *password = Some(token);
            Err(SignInError::InvalidPassword)
        }
        Err(GrammersSignInError::InvalidCode) => Err(SignInError::InvalidCode),
        Err(GrammersSignInError::SignUpRequired) => Err(SignInError::Backend(BackendError::Refused(
            "this number has no Telegram account: sign up in the Telegram app first".into(),
        ))),
        Err(GrammersSignInError::Other(e)) if rpc_name(&e) == Some("PHONE_CODE_EXPIRED") => Err(SignInError::CodeExpired),
        Err(GrammersSignInError::Other(e)) => Err(SignInError::Backend(backend_error(e))),
    }
}

pub(crate) struct RealPhoneLogin {
    api: ApiCredentials,
    device_model: String,
    connection: Option<Connection>,
    token: Option<LoginToken>,
    password: Option<PasswordToken>,
    phone: Option<String>,
}

impl RealPhoneLogin {
    pub(crate) fn new(api: ApiCredentials, device_model: String) -> Self {
        Self { api, device_model, connection: None, token: None, password: None, phone: None }
    }

    fn connection(&mut self) -> &Connection {
        let (api, device_model) = (&self.api, &self.device_model);
        // Updates before the login are of no use to a phone login: dropped.
        self.connection.get_or_insert_with(|| Connection::open(api, device_model).0)
    }

    fn map_sign_in(&mut self, result: Result<grammers_client::peer::User, GrammersSignInError>) -> Result<Authorized, SignInError> {
        let connection = self.connection.as_ref().ok_or(SignInError::Backend(BackendError::Other("not connected".into())))?;
        map_sign_in(connection, self.phone.as_deref(), &mut self.password, result)
    }
}

#[async_trait]
impl LoginAttempt for RealPhoneLogin {
    async fn request_code(&mut self, phone: &str) -> Result<(), CodeRequestError> {
        let client = self.connection().client.clone();
        match client.request_login_code(phone, &self.api.api_hash).await {
            Ok(token) => {
                self.token = Some(token);
                self.phone = Some(phone.to_owned());
                Ok(())
            }
            Err(e) => match rpc_name(&e) {
                Some("PHONE_NUMBER_INVALID" | "PHONE_NUMBER_BANNED") => Err(CodeRequestError::InvalidPhone),
                Some("PHONE_NUMBER_UNOCCUPIED") => Err(CodeRequestError::NotRegistered),
                _ => Err(CodeRequestError::Backend(backend_error(e))),
            },
        }
    }

    async fn sign_in(&mut self, code: &str) -> Result<Authorized, SignInError> {
        let client = self.connection().client.clone();
        let token = self.token.as_ref().ok_or(SignInError::Backend(BackendError::Other("no code was requested".into())))?;
        let result = client.sign_in(token, code).await;
        self.map_sign_in(result)
    }

    async fn check_password(&mut self, password: &str) -> Result<Authorized, SignInError> {
        let token = self.password.take().ok_or(SignInError::Backend(BackendError::Other("no password was asked".into())))?;
        let client = self.connection().client.clone();
        let result = client.check_password(token, password.as_bytes()).await;
        self.map_sign_in(result)
    }

    async fn cancel(&mut self) {
        if let Some(connection) = self.connection.take() {
            connection.close();
        }
    }
}
