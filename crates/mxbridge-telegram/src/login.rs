//! The login flows, written once over [`LoginAttempt`] / [`QrAttempt`]: phone number →
//! code → 2FA password (each wrong answer asks again), and a QR code to scan in the
//! Telegram app (Settings → Devices → Link Desktop Device).

use async_trait::async_trait;
use mxbridge_core::network::login::{Display, InputField, LoginError, LoginProcess, LoginStep, NewLogin};
use mxbridge_core::secret::Secret;

use crate::backend::{Authorized, BackendError, CodeRequestError, LoginAttempt, QrAttempt, SignInError};
use crate::ids;

const PHONE_EXAMPLE: &str = "+4412345678";

/// A phone number in international format, with spaces, dashes and dots removed;
/// `None` when it is not one.
pub fn normalise_phone(input: &str) -> Option<String> {
    let compact: String = input.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
    let digits = compact.strip_prefix('+')?;
    let ok = (7..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) && !digits.starts_with('0');
    ok.then_some(compact)
}

fn ask_phone(note: &str) -> LoginStep {
    LoginStep::Input {
        step_id: "phone".into(),
        instructions: format!(
            "{note}Logging in gives the bridge full access to your Telegram account. Send your phone number in international format, e.g. `{PHONE_EXAMPLE}`."
        ),
        fields: vec![InputField { id: "phone".into(), label: format!("Phone number (like {PHONE_EXAMPLE})"), secret: false }],
    }
}

fn ask_code(note: &str) -> LoginStep {
    LoginStep::Input {
        step_id: "code".into(),
        instructions: format!("{note}Telegram sent a login code to your Telegram app (or by SMS)."),
        fields: vec![InputField { id: "code".into(), label: "The login code".into(), secret: true }],
    }
}

fn ask_password(note: &str, hint: Option<&str>) -> LoginStep {
    let hint = hint.filter(|h| !h.is_empty()).map(|h| format!(" (hint: {h})")).unwrap_or_default();
    LoginStep::Input {
        step_id: "password".into(),
        instructions: format!("{note}Your account has two-step verification."),
        fields: vec![InputField { id: "password".into(), label: format!("Your Telegram password{hint}"), secret: true }],
    }
}

fn unreachable(e: BackendError) -> LoginError {
    match e {
        BackendError::FloodWait(s) => LoginError::Refused(format!("Telegram asks to wait {s} s before the next login attempt")),
        other => LoginError::Unreachable(other.to_string()),
    }
}

fn done(auth: Authorized, phone: Option<&str>) -> LoginStep {
    let phone = phone.map(str::to_owned).or_else(|| auth.me.phone.clone());
    let remote_name = match &phone {
        Some(p) => format!("{} ({p})", auth.me.name),
        None => auth.me.name.clone(),
    };
    LoginStep::Done(NewLogin {
        id: ids::login_id(auth.me.id),
        remote_name,
        metadata: serde_json::json!({"user_id": auth.me.id, "name": auth.me.name, "phone": phone}),
        secret: Secret::new(auth.session),
    })
}

enum PhoneState {
    Phone,
    Code(String),
    Password(String, Option<String>),
}

/// Phone number, code, then the 2FA password when the account has one.
pub(crate) struct PhoneLogin {
    attempt: Box<dyn LoginAttempt>,
    state: PhoneState,
}

impl PhoneLogin {
    pub(crate) fn new(attempt: Box<dyn LoginAttempt>) -> Self {
        Self { attempt, state: PhoneState::Phone }
    }
}

#[async_trait]
impl LoginProcess for PhoneLogin {
    async fn start(&mut self) -> Result<LoginStep, LoginError> {
        Ok(ask_phone(""))
    }

    async fn submit(&mut self, values: Vec<(String, String)>) -> Result<LoginStep, LoginError> {
        let value = values.into_iter().next().map(|(_, v)| v).unwrap_or_default();
        match &self.state {
            PhoneState::Phone => {
                let Some(phone) = normalise_phone(&value) else {
                    return Ok(ask_phone("That is not a phone number in international format: start with + and the country code. "));
                };
                match self.attempt.request_code(&phone).await {
                    Ok(()) => {
                        self.state = PhoneState::Code(phone);
                        Ok(ask_code(""))
                    }
                    Err(e @ (CodeRequestError::InvalidPhone | CodeRequestError::NotRegistered)) => Ok(ask_phone(&format!("{e}. "))),
                    Err(CodeRequestError::Backend(e)) => Err(unreachable(e)),
                }
            }
            PhoneState::Code(phone) => {
                let code: String = value.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
                match self.attempt.sign_in(&code).await {
                    Ok(auth) => Ok(done(auth, Some(phone))),
                    Err(SignInError::InvalidCode) => Ok(ask_code("That code is wrong; try again, or send `cancel`. ")),
                    Err(SignInError::CodeExpired) => {
                        let phone = phone.clone();
                        self.attempt.request_code(&phone).await.map_err(|e| LoginError::Other(e.to_string()))?;
                        Ok(ask_code("That code expired, so Telegram sent a new one. "))
                    }
                    Err(SignInError::PasswordRequired { hint }) => {
                        let step = ask_password("", hint.as_deref());
                        self.state = PhoneState::Password(phone.clone(), hint);
                        Ok(step)
                    }
                    Err(SignInError::Backend(e)) => Err(unreachable(e)),
                    Err(e @ SignInError::InvalidPassword) => Err(LoginError::Other(e.to_string())),
                }
            }
            PhoneState::Password(phone, hint) => match self.attempt.check_password(&value).await {
                Ok(auth) => Ok(done(auth, Some(phone))),
                Err(SignInError::InvalidPassword) => Ok(ask_password(
                    "That password is wrong; try again, or send `cancel` (reset it in the Telegram app if you forgot it). ",
                    hint.as_deref(),
                )),
                Err(SignInError::Backend(e)) => Err(unreachable(e)),
                Err(e) => Err(LoginError::Other(e.to_string())),
            },
        }
    }

    async fn wait(&mut self) -> Result<LoginStep, LoginError> {
        Err(LoginError::Other("this flow has nothing to wait for".into()))
    }

    async fn cancel(&mut self) {
        self.attempt.cancel().await;
    }
}

/// A QR code to scan in the Telegram app, refreshed when it expires.
pub(crate) struct QrLogin {
    attempt: Box<dyn QrAttempt>,
    codes_left: u32,
}

impl QrLogin {
    pub(crate) fn new(attempt: Box<dyn QrAttempt>) -> Self {
        Self { attempt, codes_left: 10 }
    }

    async fn show(&mut self) -> Result<LoginStep, LoginError> {
        if self.codes_left == 0 {
            self.attempt.cancel().await;
            return Err(LoginError::TimedOut("no QR code was scanned in time".into()));
        }
        self.codes_left -= 1;
        let link = self.attempt.token_link().await.map_err(unreachable)?;
        Ok(LoginStep::Display {
            step_id: "qr".into(),
            instructions: "Scan this code in the Telegram app: Settings → Devices → Link Desktop Device.".into(),
            show: Display::Qr(link),
        })
    }
}

#[async_trait]
impl LoginProcess for QrLogin {
    async fn start(&mut self) -> Result<LoginStep, LoginError> {
        self.show().await
    }

    async fn submit(&mut self, values: Vec<(String, String)>) -> Result<LoginStep, LoginError> {
        let password = values.into_iter().next().map(|(_, v)| v).unwrap_or_default();
        match self.attempt.check_password(&password).await {
            Ok(auth) => Ok(done(auth, None)),
            Err(SignInError::InvalidPassword) => Ok(ask_password("That password is wrong; try again, or send `cancel`. ", None)),
            Err(SignInError::Backend(e)) => Err(unreachable(e)),
            Err(e) => Err(LoginError::Other(e.to_string())),
        }
    }

    async fn wait(&mut self) -> Result<LoginStep, LoginError> {
        match self.attempt.wait_scan().await {
            Ok(Some(auth)) => Ok(done(auth, None)),
            Ok(None) => self.show().await,
            Err(SignInError::PasswordRequired { hint }) => Ok(ask_password("", hint.as_deref())),
            Err(SignInError::Backend(e)) => Err(unreachable(e)),
            Err(e) => Err(LoginError::Other(e.to_string())),
        }
    }

    async fn cancel(&mut self) {
        self.attempt.cancel().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_phone_numbers_need_international_format() {
        assert_eq!(normalise_phone("+44 1234-5678"), Some("+4412345678".into()));
        assert_eq!(normalise_phone("+1 (555) 000.1001"), Some("+15550001001".into()));
        for bad in ["4412345678", "+0441234567", "+44", "+44abc45678", "", "+1234567890123456", "call me"] {
            assert_eq!(normalise_phone(bad), None, "{bad}");
        }
    }
}
