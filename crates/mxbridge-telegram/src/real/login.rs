//! Phone login against Telegram: `request_login_code` → `sign_in` → `check_password`.

use std::sync::Arc;

use async_trait::async_trait;
use grammers_client::client::{LoginToken, PasswordToken};
use grammers_client::{Client, SenderPool, SignInError as GrammersSignInError};
use mxbridge_core::ids::LoginId;

use super::session::{PersistedUser, StoredSession};
use super::{backend_error, connection_params, rpc_name};
use crate::backend::{Authorized, BackendError, CodeRequestError, LoginAttempt, SignInError};
use crate::config::ApiCredentials;
use crate::session::AccountStore;

struct Connection {
    client: Client,
    session: Arc<StoredSession>,
    runner: tokio::task::JoinHandle<()>,
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
        self.connection.get_or_insert_with(|| {
            // Nothing is stored until the login succeeds: the session then becomes the secret.
            let session = Arc::new(StoredSession::fresh(AccountStore::new(None, LoginId::new("telegram:login"))));
            let pool = SenderPool::with_configuration(session.clone(), self.api.api_id, connection_params(&self.device_model));
            let client = Client::new(pool.handle);
            let runner = tokio::spawn(pool.runner.run());
            Connection { client, session, runner }
        })
    }

    fn authorized(&mut self, user: grammers_client::peer::User) -> Result<Authorized, SignInError> {
        let me = PersistedUser {
            id: user.id().bare_id_unchecked(),
            name: user.full_name(),
            phone: user.phone().map(|p| format!("+{}", p.trim_start_matches('+'))).or_else(|| self.phone.clone()),
            username: user.username().map(str::to_owned),
        };
        let connection = self.connection.as_ref().ok_or(SignInError::Backend(BackendError::Other("not connected".into())))?;
        let persisted = connection.session.export(me.clone()).map_err(|e| SignInError::Backend(BackendError::Other(e.to_string())))?;
        Ok(Authorized { me: me.to_user(), session: persisted.to_bytes() })
    }

    fn map_sign_in(&mut self, result: Result<grammers_client::peer::User, GrammersSignInError>) -> Result<Authorized, SignInError> {
        match result {
            Ok(user) => self.authorized(user),
            Err(GrammersSignInError::PasswordRequired(token)) => {
                let hint = token.hint().map(str::to_owned);
                self.password = Some(token);
                Err(SignInError::PasswordRequired { hint })
            }
            Err(GrammersSignInError::InvalidPassword(token)) => {
                self.password = Some(token);
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
            connection.client.disconnect();
            connection.runner.abort();
        }
    }
}

impl Drop for RealPhoneLogin {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            connection.runner.abort();
        }
    }
}
