//! The public media link route, driven through the router against a scripted homeserver.

use std::sync::Mutex;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use ruma::OwnedUserId;
use tower::ServiceExt;

use super::tests::harness;
use super::*;
use crate::matrix::intent::Matrix;

const AS_TOKEN: &str = "as-token-for-media-tests-0123456789";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\nnot really a picture";
const HTML: &[u8] = b"<script>alert(document.cookie)</script>";

/// Path and `Authorization` header of one request to the homeserver.
type Seen = (String, Option<String>);

/// A homeserver with two files (`hs/png`, `hs/html`), one that fails (`hs/broken`), that
/// records every request.
#[derive(Clone, Default)]
struct Homeserver {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Homeserver {
    async fn start() -> (Self, Matrix) {
        let hs = Self::default();
        let recorder = hs.clone();
        let app = Router::new().fallback(move |req: Request| {
            let recorder = recorder.clone();
            async move {
                let auth = req.headers().get("authorization").map(|v| v.to_str().unwrap().to_owned());
                recorder.seen.lock().unwrap().push((req.uri().to_string(), auth));
                match req.uri().path() {
                    "/_matrix/client/v1/media/download/hs/png" => ([("content-type", "image/png")], PNG).into_response(),
                    "/_matrix/client/v1/media/download/hs/html" => ([("content-type", "text/html")], HTML).into_response(),
                    "/_matrix/client/v1/media/download/hs/broken" => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                    _ => (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({"errcode": "M_NOT_FOUND", "error": "Not found"})))
                        .into_response(),
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let bot: OwnedUserId = UserId::parse("@bot:hs").unwrap();
        (hs, Matrix::new(&base, Secret::new(AS_TOKEN.to_owned()), bot))
    }

    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A router serving links under `https://bridge.test`, its link maker, and the homeserver.
async fn setup() -> (AppState, MediaLinks, Homeserver) {
    let (hs, matrix) = Homeserver::start().await;
    let links = MediaLinks::new(Some("https://bridge.test"), &Secret::new(AS_TOKEN.to_owned()), matrix);
    (harness().await.state.with_media_links(links.clone()), links, hs)
}

fn path_of(links: &MediaLinks, mxc: &str, name: &str) -> String {
    links.link_for(mxc, name).unwrap().strip_prefix("https://bridge.test").unwrap().to_owned()
}

/// Sends a request without any token and returns status, headers and body.
async fn get(state: &AppState, method: &str, uri: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
    let req = axum::http::Request::builder().method(method).uri(uri).body(Body::empty()).unwrap();
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    (parts.status, parts.headers, axum::body::to_bytes(body, 1 << 20).await.unwrap().to_vec())
}

fn assert_not_found(status: StatusCode, headers: &HeaderMap, body: &[u8], case: &str) {
    assert_eq!(status, StatusCode::NOT_FOUND, "{case}");
    assert_eq!(headers["content-type"], "application/json", "{case}");
    let json: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(json["errcode"], "M_NOT_FOUND", "{case}");
}

#[tokio::test]
async fn test_valid_link_serves_the_file_without_a_token() {
    let (state, links, hs) = setup().await;
    let path = path_of(&links, "mxc://hs/png", "holiday photo.png");
    let (status, headers, body) = get(&state, "GET", &path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, PNG);
    assert_eq!(headers["content-type"], "image/png", "the homeserver's type");
    assert_eq!(headers["content-disposition"], "inline; filename=\"holiday photo.png\"; filename*=UTF-8''holiday%20photo.png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["content-security-policy"], "default-src 'none'; sandbox");
    let seen = hs.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, "/_matrix/client/v1/media/download/hs/png", "authenticated media endpoint");
    assert_eq!(seen[0].1.as_deref(), Some(format!("Bearer {AS_TOKEN}").as_str()), "fetched as the bot");

    let (status, headers, body) = get(&state, "HEAD", &path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "image/png");
    assert!(body.is_empty(), "HEAD has no body");
}

#[tokio::test]
async fn test_html_is_downloaded_not_shown() {
    let (state, links, _hs) = setup().await;
    let (status, headers, body) = get(&state, "GET", &path_of(&links, "mxc://hs/html", "page.html")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, HTML);
    assert!(headers["content-disposition"].to_str().unwrap().starts_with("attachment;"));
    assert_eq!(headers["content-security-policy"], "default-src 'none'; sandbox");
}

#[tokio::test]
async fn test_bad_links_are_404_and_never_reach_the_homeserver() {
    let (state, links, hs) = setup().await;
    let good = path_of(&links, "mxc://hs/png", "a.png");
    let parts: Vec<&str> = good.rsplitn(3, '/').collect(); // [name, sig, prefix/server/media]
    let (name, sig, head) = (parts[0], parts[1], parts[2]);
    let mut flipped = sig.to_owned().into_bytes();
    flipped[5] = if flipped[5] == b'x' { b'y' } else { b'x' };
    let flipped = String::from_utf8(flipped).unwrap();
    let other_media = path_of(&links, "mxc://hs/other", "a.png");
    let cases = [
        format!("{head}/{flipped}/{name}"),
        format!("{head}/{sig}/b.png"),
        format!("/_mxbridge/media/hs/html/{sig}/{name}"),
        format!("/_mxbridge/media/elsewhere/png/{sig}/{name}"),
        format!("/_mxbridge/media/hs/png%2F..%2Fhtml/{sig}/{name}"),
        format!("/_mxbridge/media/hs/p.ng/{sig}/{name}"),
        format!("{head}/{name}"),
        format!("{head}/{sig}/{name}/more"),
        format!("{head}//{name}"),
        format!("{head}/{sig}/%FF"),
        other_media.replace("/other/", "/png/"),
    ];
    for case in &cases {
        let (status, headers, body) = get(&state, "GET", case).await;
        assert_not_found(status, &headers, &body, case);
    }
    assert!(hs.requests().is_empty(), "no bad link reached the homeserver: {:?}", hs.requests());
    let (status, _, _) = get(&state, "GET", &good).await;
    assert_eq!(status, StatusCode::OK, "the untampered link still works");
}

#[tokio::test]
async fn test_missing_media_looks_like_a_bad_link() {
    let (state, links, hs) = setup().await;
    let (status, headers, gone) = get(&state, "GET", &path_of(&links, "mxc://hs/deleted", "a.png")).await;
    assert_not_found(status, &headers, &gone, "deleted media");
    assert_eq!(hs.requests().len(), 1);
    let good = path_of(&links, "mxc://hs/png", "a.png");
    let (_, _, forged) = get(&state, "GET", &good.replace("/a.png", "/b.png")).await;
    assert_eq!(gone, forged, "a stranger cannot tell missing media from a forged link");

    let (status, headers, body) = get(&state, "GET", &path_of(&links, "mxc://hs/broken", "a.png")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "a valid link whose homeserver fails");
    assert_eq!(headers["content-type"], "application/json");
    assert!(String::from_utf8(body).unwrap().contains("try again later"));
}

#[tokio::test]
async fn test_links_off_serve_nothing() {
    let (_, links, hs) = setup().await;
    let state = harness().await.state;
    let (status, headers, body) = get(&state, "GET", &path_of(&links, "mxc://hs/png", "a.png")).await;
    assert_not_found(status, &headers, &body, "links off");
    assert!(hs.requests().is_empty());
    let (status, _, _) = get(&state, "POST", &path_of(&links, "mxc://hs/png", "a.png")).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn test_publish_needs_links_on() {
    let err = MediaLinks::disabled().publish(b"x".to_vec(), "text/plain", "a.txt").await.unwrap_err();
    assert!(matches!(err, crate::media_links::MediaLinkError::Disabled));
    assert!(err.to_string().contains("`bridge.public_url`"), "{err}");
    assert!(!MediaLinks::disabled().enabled());
}
