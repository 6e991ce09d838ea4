//! The real Telegram backend: MTProto user logins through grammers.
//!
//! Not reachable from the machines the tests run on, so only what needs no Telegram server
//! is tested here: session (de)serialisation, error mapping, the entity mapping, the retry
//! and reconnect policies. The flows themselves are proven on the simulated backend, which
//! runs the same bridge logic above [`TelegramBackend`].

mod account;
mod convert;
mod history;
mod login;
mod qr;
mod reactions;
mod session;
mod unbridged;
mod updates;

use std::num::NonZeroUsize;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use grammers_client::InvocationError;
use grammers_client::sender::{ConnectionParams, RetryContext, RetryPolicy};

use crate::backend::{BackendError, LoginAttempt, QrAttempt, TelegramAccount, TelegramBackend};
use crate::config::ApiCredentials;
use crate::session::AccountStore;

/// Telegram's servers.
pub struct RealBackend {
    api: ApiCredentials,
    device_model: String,
}

impl RealBackend {
    /// A backend with the operator's API credentials.
    pub fn new(api: ApiCredentials, device_model: String) -> Arc<Self> {
        Arc::new(Self { api, device_model })
    }
}

impl TelegramBackend for RealBackend {
    fn phone_login(&self) -> Box<dyn LoginAttempt> {
        Box::new(login::RealPhoneLogin::new(self.api.clone(), self.device_model.clone()))
    }

    fn qr_login(&self, _matrix_user: &str) -> Option<Box<dyn QrAttempt>> {
        Some(Box::new(qr::RealQrLogin::new(self.api.clone(), self.device_model.clone())))
    }

    fn restore(&self, session: &[u8], store: AccountStore) -> Result<Arc<dyn TelegramAccount>, BackendError> {
        let persisted = session::PersistedSession::from_bytes(session)?;
        Ok(Arc::new(account::RealAccount::new(self.api.api_id, self.device_model.clone(), persisted, store)))
    }
}

/// Connection settings: our device name, and I/O retries inside grammers. Flood waits are
/// not retried there: the crate's flood gate waits them out so that other calls queue.
pub(crate) fn connection_params(device_model: &str) -> ConnectionParams {
    ConnectionParams {
        device_model: device_model.to_owned(),
        app_version: env!("CARGO_PKG_VERSION").to_owned(),
        retry_policy: Box::new(IoRetries),
        updates_channel_capacity: NonZeroUsize::new(1000).expect("non-zero"),
        ..ConnectionParams::default()
    }
}

/// Retries a call twice after a dropped connection; everything else goes to the caller.
pub(crate) struct IoRetries;

impl RetryPolicy for IoRetries {
    fn should_retry(&self, ctx: &RetryContext) -> ControlFlow<(), Duration> {
        match ctx.error {
            InvocationError::Io(_) if ctx.fail_count.get() <= 2 => ControlFlow::Continue(Duration::from_secs(1)),
            _ => ControlFlow::Break(()),
        }
    }
}

/// The RPC error name, when the error is one.
pub(crate) fn rpc_name(e: &InvocationError) -> Option<&str> {
    match e {
        InvocationError::Rpc(rpc) => Some(rpc.name.as_str()),
        _ => None,
    }
}

/// What a grammers error means to the bridge.
pub(crate) fn backend_error(e: InvocationError) -> BackendError {
    match &e {
        InvocationError::Rpc(rpc) if rpc.code == 420 || rpc.name.starts_with("FLOOD_WAIT") => {
            BackendError::FloodWait(rpc.value.map(u64::from).unwrap_or(1))
        }
        InvocationError::Rpc(rpc)
            if matches!(
                rpc.name.as_str(),
                "AUTH_KEY_UNREGISTERED"
                    | "SESSION_REVOKED"
                    | "SESSION_EXPIRED"
                    | "USER_DEACTIVATED"
                    | "USER_DEACTIVATED_BAN"
                    | "AUTH_KEY_DUPLICATED"
            ) =>
        {
            BackendError::Revoked(rpc.name.clone())
        }
        InvocationError::Rpc(rpc) if rpc.name.ends_with("_INVALID") || rpc.name.ends_with("_EMPTY") || rpc.name.contains("NOT_FOUND") => {
            BackendError::NotFound(rpc.name.clone())
        }
        InvocationError::Rpc(rpc)
            if rpc.code == 403 || rpc.name.starts_with("CHAT_WRITE_FORBIDDEN") || rpc.name.ends_with("_FORBIDDEN") =>
        {
            BackendError::Refused(rpc.name.clone())
        }
        InvocationError::Io(_) | InvocationError::Dropped(_) => BackendError::Unreachable(e.to_string()),
        _ => BackendError::Other(e.to_string()),
    }
}

/// How long to wait before reconnect attempt `attempt` (1, 2, …): doubling from 1 s up to
/// 2 min, so a long outage costs few attempts and a short one heals fast.
pub(crate) fn reconnect_delay(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.saturating_sub(1).min(7)).min(Duration::from_secs(120))
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use grammers_client::sender::RpcError;

    use super::*;

    fn rpc(code: i32, message: &str) -> InvocationError {
        InvocationError::Rpc(RpcError::from(grammers_client::tl::types::RpcError { error_code: code, error_message: message.into() }))
    }

    #[test]
    fn test_telegram_errors_map_to_what_the_bridge_does_next() {
        assert_eq!(backend_error(rpc(420, "FLOOD_WAIT_31")), BackendError::FloodWait(31));
        assert_eq!(backend_error(rpc(401, "AUTH_KEY_UNREGISTERED")), BackendError::Revoked("AUTH_KEY_UNREGISTERED".into()));
        assert_eq!(backend_error(rpc(401, "SESSION_REVOKED")), BackendError::Revoked("SESSION_REVOKED".into()));
        assert_eq!(backend_error(rpc(400, "PEER_ID_INVALID")), BackendError::NotFound("PEER_ID_INVALID".into()));
        assert_eq!(backend_error(rpc(403, "CHAT_WRITE_FORBIDDEN")), BackendError::Refused("CHAT_WRITE_FORBIDDEN".into()));
        let io = InvocationError::Io(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset"));
        assert!(matches!(backend_error(io), BackendError::Unreachable(_)));
        assert_eq!(rpc_name(&rpc(400, "PHONE_CODE_EXPIRED")), Some("PHONE_CODE_EXPIRED"));
    }

    #[test]
    fn test_only_io_errors_are_retried_inside_grammers() {
        let ctx = |error, n| RetryContext { fail_count: NonZeroU32::new(n).unwrap(), slept_so_far: Duration::ZERO, error };
        let io = || InvocationError::Io(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset"));
        assert_eq!(IoRetries.should_retry(&ctx(io(), 1)), ControlFlow::Continue(Duration::from_secs(1)));
        assert_eq!(IoRetries.should_retry(&ctx(io(), 3)), ControlFlow::Break(()));
        assert_eq!(IoRetries.should_retry(&ctx(rpc(420, "FLOOD_WAIT_5"), 1)), ControlFlow::Break(()), "flood waits go to the flood gate");
    }

    #[test]
    fn test_reconnect_backoff_doubles_up_to_two_minutes() {
        let delays: Vec<u64> = (1..=10).map(|n| reconnect_delay(n).as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 32, 64, 120, 120, 120]);
    }
}
