//! whatsapp-rust's reasons (for a refused pairing code, a dropped connection, an unlink)
//! as sentences for the user that say what to do next: their type names mean nothing to
//! people reading the bot's messages.

use whatsapp_rust::wacore::net::DisconnectReason;
use whatsapp_rust::wacore::pair_code::PairCodeRejection;
use whatsapp_rust::wacore::types::events::ConnectFailureReason;

/// Why WhatsApp gave no pairing code (`None`: nothing was refused, the request failed or
/// went unanswered).
pub(crate) fn pairing_code_refused(rejection: Option<&PairCodeRejection>) -> String {
    match rejection {
        Some(PairCodeRejection::BadRequest | PairCodeRejection::RateOverlimit) => {
            "WhatsApp refused the pairing code, probably because too many were asked for this number: wait a few minutes and send `login phone` again, or use `login` to scan a QR code".into()
        }
        Some(PairCodeRejection::FeatureNotAvailable) => {
            "WhatsApp does not offer linking by phone number for this account: send `login` and scan the QR code instead".into()
        }
        Some(PairCodeRejection::Forbidden) => {
            "WhatsApp refused to link a device to this number: check the number (with its country code) and try again, or use `login` to scan a QR code".into()
        }
        Some(_) => "WhatsApp could not give a pairing code right now: try again in a few minutes, or use `login` to scan a QR code".into(),
        None => "The pairing code could not be requested from WhatsApp: check the number (with its country code) and try again, or use `login` to scan a QR code".into(),
    }
}

/// Why the connection to WhatsApp dropped; the bridge reconnects by itself.
pub(crate) fn connection_lost(reason: &DisconnectReason) -> String {
    let what = match reason {
        DisconnectReason::ServerClose { .. } => "WhatsApp closed the connection",
        DisconnectReason::StreamEnded | DisconnectReason::ReadError(_) => "the connection to WhatsApp broke",
        _ => "the connection to WhatsApp ended",
    };
    format!("{what}; the bridge reconnects by itself, nothing to do unless this lasts")
}

/// Why WhatsApp unlinked the device.
pub(crate) fn unlinked(reason: &ConnectFailureReason) -> String {
    match reason {
        ConnectFailureReason::AccountLocked => {
            "WhatsApp locked your account and unlinked the bridge: open WhatsApp on your phone to see why, then send `login` again".into()
        }
        _ => "WhatsApp unlinked the bridge (removed from your phone's linked devices, or the phone was offline for 14 days): send `login` to link it again".into(),
    }
}

/// Why WhatsApp refused a connection.
pub(crate) fn connect_refused(reason: &ConnectFailureReason) -> String {
    match reason {
        ConnectFailureReason::TempBanned => "WhatsApp temporarily banned this account: wait, the bridge connects again later".into(),
        ConnectFailureReason::ClientOutdated | ConnectFailureReason::BadUserAgent => {
            "WhatsApp refused this bridge's client as outdated: update the bridge".into()
        }
        ConnectFailureReason::InternalServerError | ConnectFailureReason::ServiceUnavailable => {
            "WhatsApp's servers are having trouble; the bridge tries again by itself".into()
        }
        r if r.is_logged_out() => unlinked(r),
        _ => "WhatsApp refused the connection; the bridge tries again by itself, and if this lasts, send `logout` then `login`".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every sentence the user can get, none naming a Rust type, each saying what to do.
    #[test]
    fn test_reasons_are_plain_sentences_that_say_what_to_do() {
        let mut texts = vec![
            pairing_code_refused(None),
            pairing_code_refused(Some(&PairCodeRejection::BadRequest)),
            pairing_code_refused(Some(&PairCodeRejection::RateOverlimit)),
            pairing_code_refused(Some(&PairCodeRejection::FeatureNotAvailable)),
            pairing_code_refused(Some(&PairCodeRejection::Forbidden)),
            pairing_code_refused(Some(&PairCodeRejection::InternalServerError)),
            connection_lost(&DisconnectReason::ServerClose { code: Some(1000), reason: "bye".into() }),
            connection_lost(&DisconnectReason::StreamEnded),
            connection_lost(&DisconnectReason::ReadError("os error 104".into())),
            connection_lost(&DisconnectReason::Unknown),
        ];
        for r in [
            ConnectFailureReason::Generic,
            ConnectFailureReason::LoggedOut,
            ConnectFailureReason::TempBanned,
            ConnectFailureReason::AccountLocked,
            ConnectFailureReason::UnknownLogout,
            ConnectFailureReason::ClientOutdated,
            ConnectFailureReason::ServiceUnavailable,
            ConnectFailureReason::Unknown(999),
        ] {
            texts.push(unlinked(&r));
            texts.push(connect_refused(&r));
        }
        for text in &texts {
            for internal in ["Error", "Rejection", "Reason", "StreamEnded", "ReadError", "ServerClose", "Unknown(", "{", "os error"] {
                assert!(!text.contains(internal), "`{internal}` reaches the user: {text}");
            }
            assert!(text.contains(':') || text.contains(';'), "no next step in: {text}");
        }
        assert!(pairing_code_refused(Some(&PairCodeRejection::FeatureNotAvailable)).contains("`login`"));
        assert!(unlinked(&ConnectFailureReason::LoggedOut).contains("send `login`"));
        assert!(connect_refused(&ConnectFailureReason::ClientOutdated).contains("update the bridge"));
        assert!(connect_refused(&ConnectFailureReason::LoggedOut).contains("send `login`"), "a logout refusal says to link again");
    }
}
