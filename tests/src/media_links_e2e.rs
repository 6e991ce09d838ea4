//! Media links against the real Synapse: the shared demo bridge has `bridge.public_url`
//! set, so files from Matrix reach the network with a link anyone can open, and the
//! network can publish files of its own.

use std::time::Duration;

use mxbridge_demo::{Action, DemoHandle, LOGIN_CODE};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::demo_bridge::shared;
use crate::harness::matrix_client::TestUser;
use crate::harness::wait::wait_until;

const WAIT: Duration = Duration::from_secs(20);

fn notice(needle: &'static str) -> impl Fn(&Value) -> bool {
    let bot = shared().1.bot_user_id.to_string();
    move |ev| ev["sender"] == bot.as_str() && ev["content"]["body"].as_str().is_some_and(|b| b.contains(needle))
}

async fn say(user: &mut TestUser, room: &str, line: &str, needle: &'static str) {
    user.send_text(room, line).await;
    user.wait_for_event(room, WAIT, notice(needle)).await.unwrap_or_else(|e| panic!("{line}: no answer with {needle:?}: {e:?}"));
}

/// A logged-in user joined to a fresh DM portal with `contact`; returns the portal room.
async fn user_in_portal(prefix: &str, contact: &str) -> (TestUser, String) {
    let bot = shared().1.bot_user_id.to_string();
    let mut user = TestUser::register(prefix).await;
    let room = user.create_dm(&bot).await;
    user.wait_for_event(&room, WAIT, notice("management room")).await.expect("welcome");
    say(&mut user, &room, "login", "user name").await;
    say(&mut user, &room, &format!("u{}", rand::random::<u32>()), "code").await;
    say(&mut user, &room, LOGIN_CODE, "Logged in as").await;
    say(&mut user, &room, &format!("pm {contact}"), "accept the invite").await;
    let portal = user.wait_for_invite(WAIT, |_, _| true).await.expect("invite to the portal");
    user.join(&portal).await;
    (user, portal)
}

/// The link the network got with the file called `name`.
async fn link_sent_for(handle: &DemoHandle, name: &str) -> String {
    let found = wait_until(WAIT, Duration::from_millis(50), || {
        let link = handle.actions().into_iter().find_map(|a| match a {
            Action::Sent { content, .. } => content.media.filter(|m| m.name == name).map(|m| m.url),
            _ => None,
        });
        async move { link }
    })
    .await
    .unwrap_or_else(|_| panic!("the network got no file called {name}"));
    found.unwrap_or_else(|| panic!("the file {name} reached the network without a link"))
}

/// Fetches a link as a stranger would: no token, no Matrix account.
async fn fetch(method: reqwest::Method, url: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
    let resp = reqwest::Client::new().request(method, url).send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, headers, resp.bytes().await.expect("body").to_vec())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).unwrap_or_else(|| panic!("no {name} header")).to_str().unwrap()
}

fn assert_refused(status: StatusCode, body: &[u8], case: &str) {
    assert_eq!(status, StatusCode::NOT_FOUND, "{case}");
    let json: Value = serde_json::from_slice(body).unwrap_or_else(|_| panic!("{case}: not JSON"));
    assert_eq!(json["errcode"], "M_NOT_FOUND", "{case}");
}

/// The link with its signature changed in one character.
fn tampered(link: &str) -> String {
    let mut parts: Vec<String> = link.rsplitn(3, '/').map(str::to_owned).collect();
    let sig = &mut parts[1];
    let first = if sig.starts_with('A') { "B" } else { "A" };
    sig.replace_range(0..1, first);
    format!("{}/{}/{}", parts[2], parts[1], parts[0])
}

#[tokio::test]
async fn test_files_from_matrix_reach_the_network_as_working_links() {
    let (handle, config) = shared();
    let public_url = config.public_url.clone().expect("the demo fixture sets bridge.public_url");
    let (mut user, portal) = user_in_portal("linkuser", "linkfriend").await;

    let (png, _) = mxbridge_core::qr::render_png("a picture sent over the bridge").unwrap();
    let mxc = user.upload(png.clone(), "image/png").await;
    let name = format!("holiday ü {}.png", rand::random::<u16>());
    let image = json!({"msgtype": "m.image", "body": name, "filename": name, "url": mxc, "info": {"mimetype": "image/png"}});
    user.send_content(&portal, "m.room.message", image).await;
    let link = link_sent_for(handle, &name).await;
    assert!(link.starts_with(&format!("{public_url}/_mxbridge/media/")), "{link}");
    assert!(link.ends_with(&format!("/holiday%20%C3%BC%20{}", &name["holiday ü ".len()..])), "the name is percent-encoded: {link}");

    let (status, headers, body) = fetch(reqwest::Method::GET, &link).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(body, png, "the same bytes as uploaded");
    assert_eq!(header(&headers, "content-type"), "image/png");
    let disposition = header(&headers, "content-disposition");
    assert!(disposition.starts_with("inline;") && disposition.contains("filename*=UTF-8''holiday%20%C3%BC%20"), "{disposition}");
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    assert_eq!(header(&headers, "content-security-policy"), "default-src 'none'; sandbox");
    let (status, headers, body) = fetch(reqwest::Method::HEAD, &link).await;
    assert_eq!((status, header(&headers, "content-type"), body.len()), (StatusCode::OK, "image/png", 0), "HEAD");

    // A file that would run in a browser is downloaded, never shown.
    let page = b"<html><script>alert(1)</script></html>".to_vec();
    let page_mxc = user.upload(page.clone(), "text/html").await;
    let page_name = format!("page{}.html", rand::random::<u16>());
    let file = json!({"msgtype": "m.file", "body": page_name, "filename": page_name, "url": page_mxc, "info": {"mimetype": "text/html"}});
    user.send_content(&portal, "m.room.message", file).await;
    let page_link = link_sent_for(handle, &page_name).await;
    let (status, headers, body) = fetch(reqwest::Method::GET, &page_link).await;
    assert_eq!((status, body), (StatusCode::OK, page));
    assert!(header(&headers, "content-disposition").starts_with("attachment;"), "{headers:?}");
    assert_eq!(header(&headers, "content-security-policy"), "default-src 'none'; sandbox");

    // Neither a changed signature nor a valid signature on other media opens anything,
    // even media that exists on the homeserver.
    let (status, _, body) = fetch(reqwest::Method::GET, &tampered(&link)).await;
    assert_refused(status, &body, "tampered signature");
    let page_id = page_mxc.rsplit('/').next().unwrap();
    let image_id = mxc.rsplit('/').next().unwrap();
    let swapped = link.replace(&format!("/{image_id}/"), &format!("/{page_id}/"));
    assert_ne!(swapped, link);
    let (status, _, body) = fetch(reqwest::Method::GET, &swapped).await;
    assert_refused(status, &body, "another media id under this signature");
    let (status, _, body) = fetch(reqwest::Method::GET, &format!("{public_url}/_mxbridge/media/localhost/{image_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no signature: {}", String::from_utf8_lossy(&body));
}

#[tokio::test]
async fn test_network_publishes_a_file_as_a_link() {
    let (handle, _) = shared();
    assert_eq!(handle.links_enabled(), Some(true), "the shared bridge has links on");
    let text: String = (0..400).map(|i| format!("line {i} of a long message\n")).collect();
    let link = handle.publish(text.clone().into_bytes(), "text/plain", "long message.txt").await.expect("the network was started");
    let link = link.expect("the upload and link succeed");
    assert!(link.ends_with("/long%20message.txt"), "{link}");

    let (status, headers, body) = fetch(reqwest::Method::GET, &link).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(String::from_utf8(body).unwrap(), text, "the same bytes come back");
    assert!(header(&headers, "content-type").starts_with("text/plain"), "{headers:?}");
    let disposition = header(&headers, "content-disposition");
    assert!(disposition.starts_with("attachment;") && disposition.contains("filename=\"long message.txt\""), "{disposition}");

    let (status, _, body) = fetch(reqwest::Method::GET, &tampered(&link)).await;
    assert_refused(status, &body, "tampered published link");
}
