//! Files XMPP users share as XEP-0066 links (HTTP upload, then the URL): fetched and handed
//! to the core as media, so Matrix users get the file and not only a link.

use std::time::Duration;

use mxbridge_core::network::content::{Media, MediaKind};

/// Largest file fetched from an XMPP user's link.
const MAX_FILE_BYTES: usize = 50 * 1024 * 1024;

/// Why a file could not be fetched; the message then goes on as a plain link.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Not an http(s) URL.
    #[error("not an http(s) link")]
    NotHttp,
    /// The request failed or the server refused.
    #[error("could not fetch the file: {0}")]
    Http(String),
    /// Bigger than the bridge carries.
    #[error("the file is larger than {MAX_FILE_BYTES} bytes")]
    TooLarge,
}

/// Fetches a shared file.
pub async fn fetch(http: &reqwest::Client, url: &str) -> Result<Media, FetchError> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(FetchError::NotHttp);
    }
    let mut resp = http.get(url).timeout(Duration::from_secs(60)).send().await.map_err(|e| FetchError::Http(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(FetchError::Http(resp.status().to_string()));
    }
    if resp.content_length().is_some_and(|n| n > MAX_FILE_BYTES as u64) {
        return Err(FetchError::TooLarge);
    }
    let mime = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned());
    let mut data = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| FetchError::Http(e.to_string()))? {
        if data.len() + chunk.len() > MAX_FILE_BYTES {
            return Err(FetchError::TooLarge);
        }
        data.extend_from_slice(&chunk);
    }
    let name = url.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or("file").split('?').next().unwrap_or("file").to_owned();
    let kind = match mime.as_deref().map(|m| m.split('/').next().unwrap_or("")) {
        Some("image") => MediaKind::Image,
        Some("video") => MediaKind::Video,
        Some("audio") => MediaKind::Audio,
        _ => MediaKind::File,
    };
    Ok(Media { kind, name, mime, data, url: None })
}
