//! Checks the homeserver's token on every request, in constant time.
//!
//! The token may come as `Authorization: Bearer` or, from older homeservers, as the
//! `access_token` query parameter; when both are present both must match, so a valid
//! header cannot smuggle a wrong query token or the other way round.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::AsError;

/// Constant-time equality of a presented token and the expected one.
pub(crate) fn token_matches(presented: &str, expected: &str) -> bool {
    bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
}

fn query_token(query: Option<&str>) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == "access_token").then(|| percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned())
    })
}

pub(crate) async fn require_hs_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let header = req.headers().get(axum::http::header::AUTHORIZATION).map(|v| v.to_str().unwrap_or(""));
    let bearer = match header {
        Some(h) => match h.strip_prefix("Bearer ") {
            Some(t) => Some(t.trim().to_owned()),
            None => return AsError::forbidden().into_response(),
        },
        None => None,
    };
    let query = query_token(req.uri().query());
    let expected = state.hs_token.expose();
    let ok = match (&bearer, &query) {
        (None, None) => return AsError::missing_token().into_response(),
        (Some(b), None) => token_matches(b, expected),
        (None, Some(q)) => token_matches(q, expected),
        (Some(b), Some(q)) => token_matches(b, expected) & token_matches(q, expected),
    };
    if !ok {
        return AsError::forbidden().into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_token_comparison() {
        assert!(token_matches("secret-token", "secret-token"));
        assert!(!token_matches("secret-tokeN", "secret-token"));
        assert!(!token_matches("secret", "secret-token"));
        assert!(!token_matches("", "secret-token"));
    }

    #[test]
    fn test_query_token_is_decoded() {
        assert_eq!(query_token(Some("a=1&access_token=x%2By")).as_deref(), Some("x+y"));
        assert_eq!(query_token(Some("a=1")), None);
        assert_eq!(query_token(None), None);
    }
}
