//! Linking the bridge as a WhatsApp device: QR codes that refresh, or a pairing code.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mxbridge_core::network::login::{Display, InputField, LoginError, LoginProcess, LoginStep, NewLogin};
use mxbridge_core::secret::Secret;
use tokio::sync::mpsc;

use crate::backend::{PairMethod, PairRequest, PairingUpdate, WhatsAppBackend};
use crate::jid;

/// How long a pairing step may wait for WhatsApp before the login gives up (a pairing code
/// is valid for about three minutes).
const STEP_TIMEOUT: Duration = Duration::from_secs(300);

const QR_INSTRUCTIONS: &str = "Scan this QR code with WhatsApp on your phone: WhatsApp → ⋮ (Settings on iPhone) → Linked devices → Link a device. It is replaced by a new one when it expires.";

/// A login in progress.
pub(crate) struct WhatsAppLogin {
    backend: Arc<dyn WhatsAppBackend>,
    requester: String,
    device_name: String,
    by_phone: bool,
    updates: Option<mpsc::Receiver<PairingUpdate>>,
}

impl WhatsAppLogin {
    pub(crate) fn new(backend: Arc<dyn WhatsAppBackend>, requester: String, device_name: String, by_phone: bool) -> Self {
        Self { backend, requester, device_name, by_phone, updates: None }
    }

    async fn begin(&mut self, method: PairMethod) -> Result<LoginStep, LoginError> {
        let request = PairRequest { method, device_name: self.device_name.clone(), requester: self.requester.clone() };
        let rx = self.backend.pair(request).await.map_err(|e| LoginError::Unreachable(e.to_string()))?;
        self.updates = Some(rx);
        self.next().await
    }

    async fn next(&mut self) -> Result<LoginStep, LoginError> {
        let Some(rx) = self.updates.as_mut() else { return Err(LoginError::Other("the login was not started".into())) };
        let update = tokio::time::timeout(STEP_TIMEOUT, rx.recv())
            .await
            .map_err(|_| LoginError::TimedOut("WhatsApp did not confirm the link in time".into()))?;
        step_of(update)
    }
}

fn ask_phone(note: &str) -> LoginStep {
    LoginStep::Input {
        step_id: "phone".into(),
        instructions: format!("{note}Log in with a pairing code instead of a QR code."),
        fields: vec![InputField {
            id: "phone".into(),
            label: "Your phone number with country code (like +4412345678)".into(),
            secret: false,
        }],
    }
}

/// What the user sees for one pairing update.
pub(crate) fn step_of(update: Option<PairingUpdate>) -> Result<LoginStep, LoginError> {
    match update {
        Some(PairingUpdate::Qr(code)) => Ok(LoginStep::Display { step_id: "qr".into(), instructions: QR_INSTRUCTIONS.into(), show: Display::Qr(code) }),
        Some(PairingUpdate::Code(code)) => Ok(LoginStep::Display {
            step_id: "code".into(),
            instructions: "On your phone, open WhatsApp → ⋮ (Settings on iPhone) → Linked devices → Link a device → Link with phone number instead, and type this code:".into(),
            show: Display::Code(code),
        }),
        Some(PairingUpdate::Paired { account, session }) => Ok(LoginStep::Done(NewLogin {
            id: jid::login_id(&account.number),
            remote_name: format!("+{} ({})", account.number, account.push_name),
            metadata: serde_json::to_value(&account).map_err(|e| LoginError::Other(e.to_string()))?,
            secret: Secret::new(session),
        })),
        Some(PairingUpdate::Expired) => Err(LoginError::TimedOut("no QR code was scanned before the last one expired".into())),
        Some(PairingUpdate::Failed(why)) => Err(LoginError::Refused(why)),
        None => Err(LoginError::Other("the link was interrupted".into())),
    }
}

#[async_trait]
impl LoginProcess for WhatsAppLogin {
    async fn start(&mut self) -> Result<LoginStep, LoginError> {
        if self.by_phone { Ok(ask_phone("")) } else { self.begin(PairMethod::Qr).await }
    }

    async fn submit(&mut self, values: Vec<(String, String)>) -> Result<LoginStep, LoginError> {
        if !self.by_phone || self.updates.is_some() {
            return Err(LoginError::Other("this step needs no answer: follow the instructions on your phone".into()));
        }
        let value = values.into_iter().next().map(|(_, v)| v).unwrap_or_default();
        match jid::normalize_number(&value) {
            Ok(number) => self.begin(PairMethod::Phone(number)).await,
            Err(e) => Ok(ask_phone(&format!("{e}. "))),
        }
    }

    async fn wait(&mut self) -> Result<LoginStep, LoginError> {
        self.next().await
    }

    async fn cancel(&mut self) {
        // Dropping the receiver tells the backend to stop showing codes.
        self.updates = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Account;
    use crate::config::SimConfig;
    use crate::sim::SimBackend;

    fn sim(config: SimConfig) -> Arc<dyn WhatsAppBackend> {
        Arc::new(SimBackend::new(config).0)
    }

    #[tokio::test]
    async fn test_qr_refreshes_then_expires() {
        let config = SimConfig { qr_refresh_seconds: 0.02, qr_codes: 2, qr_scan_after_seconds: 1.0, ..SimConfig::default() };
        let mut login = WhatsAppLogin::new(sim(config), "@u:hs".into(), "dev".into(), false);
        let LoginStep::Display { show: Display::Qr(first), .. } = login.start().await.unwrap() else { panic!() };
        let LoginStep::Display { show: Display::Qr(second), .. } = login.wait().await.unwrap() else { panic!() };
        assert_ne!(first, second);
        let err = login.wait().await.unwrap_err();
        assert!(matches!(err, LoginError::TimedOut(_)), "{err:?}");
        assert!(err.user_message().contains("Send `login`"));
    }

    #[tokio::test]
    async fn test_pairing_code_flow_asks_again_on_a_bad_number() {
        let config = SimConfig { pair_code_entered_after_seconds: 0.01, ..SimConfig::default() };
        let mut login = WhatsAppLogin::new(sim(config), "@u:hs".into(), "dev".into(), true);
        assert!(matches!(login.start().await.unwrap(), LoginStep::Input { step_id, .. } if step_id == "phone"));
        let again = login.submit(vec![("phone".into(), "0770".into())]).await.unwrap();
        assert!(matches!(again, LoginStep::Input { ref instructions, .. } if instructions.contains("country code")), "{again:?}");
        let LoginStep::Display { show: Display::Code(code), .. } =
            login.submit(vec![("phone".into(), "+44 1234 5678".into())]).await.unwrap()
        else {
            panic!()
        };
        assert_eq!(code.len(), 8);
        let LoginStep::Done(done) = login.wait().await.unwrap() else { panic!() };
        assert_eq!(done.id.as_str(), "+4412345678");
        assert_eq!(done.remote_name, "+4412345678 (Sim User)");
        let account: Account = serde_json::from_value(done.metadata).unwrap();
        assert_eq!(account.number, "4412345678");
    }
}
