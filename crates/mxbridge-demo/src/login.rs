//! The demo network's two login flows.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mxbridge_core::ids::LoginId;
use mxbridge_core::network::login::{Display, InputField, LoginError, LoginProcess, LoginStep, NewLogin};
use mxbridge_core::secret::Secret;

use crate::{LOGIN_CODE, Shared};

/// User name, then a code. A wrong code asks again; the flow never locks out.
#[derive(Default)]
pub(crate) struct PasswordLogin {
    username: Option<String>,
}

fn ask_username(note: &str) -> LoginStep {
    LoginStep::Input {
        step_id: "username".into(),
        instructions: format!("{note}Log in to the demo network."),
        fields: vec![InputField { id: "username".into(), label: "Your demo user name (letters and digits)".into(), secret: false }],
    }
}

fn ask_code(note: &str) -> LoginStep {
    LoginStep::Input {
        step_id: "code".into(),
        instructions: format!("{note}The demo network sent you a code."),
        fields: vec![InputField { id: "code".into(), label: format!("The code (it is {LOGIN_CODE})"), secret: true }],
    }
}

#[async_trait]
impl LoginProcess for PasswordLogin {
    async fn start(&mut self) -> Result<LoginStep, LoginError> {
        Ok(ask_username(""))
    }

    async fn submit(&mut self, values: Vec<(String, String)>) -> Result<LoginStep, LoginError> {
        let value = values.into_iter().next().map(|(_, v)| v).unwrap_or_default();
        match &self.username {
            None => {
                if value.is_empty() || !value.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Ok(ask_username("That user name has characters the demo network does not allow. "));
                }
                self.username = Some(value);
                Ok(ask_code(""))
            }
            Some(name) => {
                if value != LOGIN_CODE {
                    return Ok(ask_code("That code is wrong; try again, or send `cancel`. "));
                }
                Ok(LoginStep::Done(NewLogin {
                    id: LoginId::new(format!("demo:{name}")),
                    remote_name: name.clone(),
                    metadata: serde_json::json!({"flow": "password"}),
                    secret: Secret::new(LOGIN_CODE.as_bytes().to_vec()),
                }))
            }
        }
    }

    async fn wait(&mut self) -> Result<LoginStep, LoginError> {
        Err(LoginError::Other("this flow has nothing to wait for".into()))
    }

    async fn cancel(&mut self) {}
}

/// Shows a QR code that refreshes until scanned (through the demo handle) or exhausted.
pub(crate) struct QrLogin {
    matrix_user: String,
    shared: Arc<Shared>,
    refresh: Duration,
    codes_left: u32,
    generation: u32,
    scanned: Option<tokio::sync::mpsc::UnboundedReceiver<String>>,
}

impl QrLogin {
    pub(crate) fn new(matrix_user: String, shared: Arc<Shared>, refresh: Duration, codes: u32) -> Self {
        Self { matrix_user, shared, refresh, codes_left: codes, generation: 0, scanned: None }
    }

    fn next_code(&mut self) -> LoginStep {
        self.generation += 1;
        self.codes_left = self.codes_left.saturating_sub(1);
        LoginStep::Display {
            step_id: "qr".into(),
            instructions: "Scan this code with the demo app (Settings → Linked devices).".into(),
            show: Display::Qr(format!("demo-login:{}:{}", self.matrix_user, self.generation)),
        }
    }
}

#[async_trait]
impl LoginProcess for QrLogin {
    async fn start(&mut self) -> Result<LoginStep, LoginError> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.shared.pending_scans.lock().expect("lock").insert(self.matrix_user.clone(), tx);
        self.scanned = Some(rx);
        Ok(self.next_code())
    }

    async fn submit(&mut self, _values: Vec<(String, String)>) -> Result<LoginStep, LoginError> {
        Err(LoginError::Other("scan the QR code instead of typing".into()))
    }

    async fn wait(&mut self) -> Result<LoginStep, LoginError> {
        let Some(rx) = self.scanned.as_mut() else {
            return Err(LoginError::Other("the login was not started".into()));
        };
        tokio::select! {
            account = rx.recv() => match account {
                Some(account) => Ok(LoginStep::Done(NewLogin {
                    id: LoginId::new(format!("demo:{account}")),
                    remote_name: account.clone(),
                    metadata: serde_json::json!({"flow": "qr"}),
                    secret: Secret::new(format!("qr:{account}").into_bytes()),
                })),
                None => Err(LoginError::Other("the login was abandoned".into())),
            },
            _ = tokio::time::sleep(self.refresh) => {
                if self.codes_left == 0 {
                    self.shared.pending_scans.lock().expect("lock").remove(&self.matrix_user);
                    return Err(LoginError::TimedOut("no QR code was scanned in time".into()));
                }
                Ok(self.next_code())
            }
        }
    }

    async fn cancel(&mut self) {
        self.shared.pending_scans.lock().expect("lock").remove(&self.matrix_user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn test_wrong_code_asks_again() {
        let mut l = PasswordLogin::default();
        assert!(matches!(l.start().await.unwrap(), LoginStep::Input { step_id, .. } if step_id == "username"));
        assert!(
            matches!(l.submit(vec![("username".into(), "bad name!".into())]).await.unwrap(), LoginStep::Input { step_id, .. } if step_id == "username")
        );
        assert!(
            matches!(l.submit(vec![("username".into(), "alice".into())]).await.unwrap(), LoginStep::Input { step_id, .. } if step_id == "code")
        );
        match l.submit(vec![("code".into(), "000000".into())]).await.unwrap() {
            LoginStep::Input { step_id, instructions, .. } => {
                assert_eq!(step_id, "code");
                assert!(instructions.contains("wrong"));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(l.submit(vec![("code".into(), LOGIN_CODE.into())]).await.unwrap(), LoginStep::Done(n) if n.id.as_str() == "demo:alice")
        );
    }

    #[tokio::test]
    async fn test_qr_refreshes_then_times_out() {
        let shared = Arc::new(Shared::default());
        let mut l = QrLogin::new("@u:hs".into(), shared.clone(), Duration::from_millis(20), 2);
        let first = l.start().await.unwrap();
        let second = l.wait().await.unwrap();
        let (LoginStep::Display { show: Display::Qr(a), .. }, LoginStep::Display { show: Display::Qr(b), .. }) = (first, second) else {
            panic!()
        };
        assert_ne!(a, b, "refreshed");
        assert!(matches!(l.wait().await, Err(LoginError::TimedOut(_))));
        assert!(shared.pending_scans.lock().unwrap().is_empty());
    }
}
