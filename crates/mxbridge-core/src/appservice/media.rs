//! The public route behind media links: no hs_token, because the people who open the
//! links are on the remote network. Only the link's signature lets a request through.
//!
//! Whatever a file holds, a browser must not run it in the bridge's origin: the answer
//! forbids sniffing and scripts, and only pictures, sound and video are shown inline.

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::AppState;
use super::error::AsError;
use crate::media_links::FetchError;
use crate::media_links::signing::ROUTE_PREFIX;

const FALLBACK_TYPE: &str = "application/octet-stream";
const CSP: &str = "default-src 'none'; sandbox";
/// The bytes behind a link never change, but an admin may still remove the file, so
/// caches keep it a day rather than forever.
const CACHE: &str = "public, max-age=86400";

/// RFC 8187 `attr-char`s stay as they are in `filename*`; everything else is encoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `GET` (and, through axum, `HEAD`) on a media link.
pub(crate) async fn serve(State(state): State<AppState>, uri: Uri) -> Response {
    let Some(rest) = uri.path().strip_prefix(ROUTE_PREFIX) else { return not_found() };
    match state.links.fetch(rest).await {
        Ok(file) => {
            let content_type = file.content_type.as_deref().and_then(|t| HeaderValue::from_str(t).ok());
            let content_type = content_type.unwrap_or(HeaderValue::from_static(FALLBACK_TYPE));
            let disposition = content_disposition(content_type.to_str().unwrap_or(FALLBACK_TYPE), &file.filename);
            let headers = [
                (CONTENT_TYPE, content_type),
                (CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).expect("the disposition is ASCII without controls")),
                (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
                (CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
                (CACHE_CONTROL, HeaderValue::from_static(CACHE)),
            ];
            (headers, file.data).into_response()
        }
        Err(FetchError::NotFound) => not_found(),
        Err(FetchError::Unavailable(e)) => {
            AsError::bad_gateway(format!("the bridge could not fetch this file from its homeserver ({e}); try again later")).into_response()
        }
    }
}

fn not_found() -> Response {
    AsError::not_found("no such file: check that the link was copied completely").into_response()
}

/// `inline` only where browsers show the file themselves without running anything in it;
/// SVG is a picture that can carry scripts, so it is downloaded too.
fn content_disposition(content_type: &str, filename: &str) -> String {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let shown = ["image/", "audio/", "video/"].iter().any(|p| essence.starts_with(p)) && essence != "image/svg+xml";
    let kind = if shown { "inline" } else { "attachment" };
    // Old clients read only `filename`, so it gets a plain ASCII stand-in.
    let ascii: String =
        filename.chars().map(|c| if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' { c } else { '_' }).collect();
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{}", utf8_percent_encode(filename, ATTR_CHAR))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_only_media_is_inline() {
        assert!(content_disposition("image/png", "a.png").starts_with("inline;"));
        assert!(content_disposition("Video/MP4; codecs=x", "a.mp4").starts_with("inline;"));
        assert!(content_disposition("audio/ogg", "a.ogg").starts_with("inline;"));
        for t in ["text/html", "image/svg+xml", "application/pdf", "text/plain; charset=utf-8", ""] {
            assert!(content_disposition(t, "x").starts_with("attachment;"), "{t}");
        }
    }

    #[test]
    fn test_file_name_is_quoted_safely() {
        assert_eq!(content_disposition("text/plain", "a b.txt"), "attachment; filename=\"a b.txt\"; filename*=UTF-8''a%20b.txt");
        assert_eq!(
            content_disposition("text/plain", "\"ü\\\".txt"),
            "attachment; filename=\"____.txt\"; filename*=UTF-8''%22%C3%BC%5C%22.txt"
        );
    }
}
