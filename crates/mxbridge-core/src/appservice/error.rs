//! Matrix error bodies for the Appservice API: the one place an error becomes a status and
//! an errcode. 5xx are logged at `error`, 4xx at `debug`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answer.
#[derive(Debug)]
pub struct AsError {
    status: StatusCode,
    errcode: &'static str,
    message: String,
}

impl AsError {
    fn new(status: StatusCode, errcode: &'static str, message: impl Into<String>) -> Self {
        Self { status, errcode, message: message.into() }
    }

    /// 401: the homeserver sent no token.
    pub fn missing_token() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN", "no hs_token was given: send `Authorization: Bearer <hs_token>`")
    }

    /// 403: the token is wrong.
    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "M_FORBIDDEN",
            "the hs_token does not match the registration: check the registration file the homeserver loaded",
        )
    }

    /// 404 for an unknown route, 405 for a known route and wrong method.
    pub fn unrecognized(method_not_allowed: bool) -> Self {
        if method_not_allowed {
            Self::new(StatusCode::METHOD_NOT_ALLOWED, "M_UNRECOGNIZED", "this endpoint does not support that method")
        } else {
            Self::new(StatusCode::NOT_FOUND, "M_UNRECOGNIZED", "unknown endpoint")
        }
    }

    /// 404: no such user, room or protocol.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "M_NOT_FOUND", what)
    }

    /// 400: the body is not JSON.
    pub fn not_json(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "M_NOT_JSON", detail)
    }

    /// 400: the JSON does not have the promised shape.
    pub fn bad_json(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "M_BAD_JSON", detail)
    }

    /// 502: the homeserver did not hand over something the bridge was asked to serve.
    pub fn bad_gateway(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "M_UNKNOWN", detail)
    }

    /// 503: the bridge cannot take responsibility now; the homeserver should retry.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "M_UNKNOWN", detail)
    }
}

impl IntoResponse for AsError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), errcode = self.errcode, message = %self.message, "appservice request failed");
        } else {
            tracing::debug!(status = self.status.as_u16(), errcode = self.errcode, message = %self.message, "appservice request refused");
        }
        (self.status, Json(json!({"errcode": self.errcode, "error": self.message}))).into_response()
    }
}
