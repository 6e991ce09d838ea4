//! Logging in to the simulated Telegram: phone → code `12345` → (one account) password.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use tokio::sync::oneshot;

use super::directory::{self, LOGIN_CODE, TWO_FA_HINT, TWO_FA_PASSWORD, TWO_FA_PHONE};
use super::{Sim, SimSession};
use crate::backend::{Authorized, BackendError, CodeRequestError, LoginAttempt, QrAttempt, SignInError};

fn authorized(phone: &str) -> Authorized {
    let key: [u8; 16] = rand::random();
    let session = SimSession { phone: phone.to_owned(), key: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key) };
    Authorized { me: directory::own_user(phone), session: serde_json::to_vec(&session).expect("a session serialises") }
}

pub(crate) struct SimPhoneLogin {
    phone: Option<String>,
    code_ok: bool,
}

impl SimPhoneLogin {
    pub(crate) fn new() -> Self {
        Self { phone: None, code_ok: false }
    }
}

#[async_trait]
impl LoginAttempt for SimPhoneLogin {
    async fn request_code(&mut self, phone: &str) -> Result<(), CodeRequestError> {
        if crate::login::normalise_phone(phone).as_deref() != Some(phone) {
            return Err(CodeRequestError::InvalidPhone);
        }
        self.phone = Some(phone.to_owned());
        Ok(())
    }

    async fn sign_in(&mut self, code: &str) -> Result<Authorized, SignInError> {
        let phone = self.phone.clone().ok_or(SignInError::Backend(BackendError::Other("no code was requested".into())))?;
        if code != LOGIN_CODE {
            return Err(SignInError::InvalidCode);
        }
        if phone == TWO_FA_PHONE {
            self.code_ok = true;
            return Err(SignInError::PasswordRequired { hint: Some(TWO_FA_HINT.into()) });
        }
        Ok(authorized(&phone))
    }

    async fn check_password(&mut self, password: &str) -> Result<Authorized, SignInError> {
        let phone =
            self.phone.clone().filter(|_| self.code_ok).ok_or(SignInError::Backend(BackendError::Other("no password was asked".into())))?;
        if password != TWO_FA_PASSWORD {
            return Err(SignInError::InvalidPassword);
        }
        Ok(authorized(&phone))
    }

    async fn cancel(&mut self) {}
}

pub(crate) struct SimQrLogin {
    sim: Arc<Sim>,
    matrix_user: String,
    scanned: Option<oneshot::Receiver<String>>,
    phone: Option<String>,
}

impl SimQrLogin {
    pub(crate) fn new(sim: Arc<Sim>, matrix_user: String) -> Self {
        Self { sim, matrix_user, scanned: None, phone: None }
    }
}

/// How long a simulated QR token lives.
const QR_LIFETIME: Duration = Duration::from_secs(30);

#[async_trait]
impl QrAttempt for SimQrLogin {
    async fn token_link(&mut self) -> Result<String, BackendError> {
        let (tx, rx) = oneshot::channel();
        self.sim.world.lock().expect("lock").qr_scans.insert(self.matrix_user.clone(), tx);
        self.scanned = Some(rx);
        let token: [u8; 16] = rand::random();
        Ok(format!("tg://login?token={}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token)))
    }

    async fn wait_scan(&mut self) -> Result<Option<Authorized>, SignInError> {
        let Some(rx) = self.scanned.as_mut() else { return Ok(None) };
        match tokio::time::timeout(QR_LIFETIME, rx).await {
            Ok(Ok(phone)) => {
                self.scanned = None;
                if phone == TWO_FA_PHONE {
                    self.phone = Some(phone);
                    return Err(SignInError::PasswordRequired { hint: Some(TWO_FA_HINT.into()) });
                }
                Ok(Some(authorized(&phone)))
            }
            Ok(Err(_)) | Err(_) => Ok(None),
        }
    }

    async fn check_password(&mut self, password: &str) -> Result<Authorized, SignInError> {
        let phone = self.phone.clone().ok_or(SignInError::Backend(BackendError::Other("no password was asked".into())))?;
        if password != TWO_FA_PASSWORD {
            return Err(SignInError::InvalidPassword);
        }
        Ok(authorized(&phone))
    }

    async fn cancel(&mut self) {
        self.sim.world.lock().expect("lock").qr_scans.remove(&self.matrix_user);
    }
}
