//! Media on the homeserver: uploads as the bot, and downloads through the authenticated
//! media API (MSC3916) with a size cap, read as it streams in.

use ruma::OwnedMxcUri;
use serde_json::Value;

use super::intent::{Matrix, MatrixError, MatrixResult, enc};

/// A file fetched from the homeserver.
#[derive(Clone, Debug)]
pub struct Downloaded {
    /// The bytes.
    pub data: Vec<u8>,
    /// The homeserver's `Content-Type`, when it sent one.
    pub content_type: Option<String>,
}

impl Matrix {
    /// Uploads media as the bot.
    pub async fn upload(&self, data: Vec<u8>, mime: &str, filename: &str) -> MatrixResult<OwnedMxcUri> {
        let url = format!("{}/_matrix/media/v3/upload?filename={}", self.inner.base, enc(filename));
        let resp = self
            .inner
            .http
            .post(url)
            .bearer_auth(self.inner.as_token.expose())
            .header(reqwest::header::CONTENT_TYPE, mime)
            .body(data)
            .send()
            .await
            .map_err(|e| MatrixError::Transport(e.without_url().to_string()))?;
        let status = resp.status();
        let v: Value = resp.json().await.map_err(|e| MatrixError::Decode(e.to_string()))?;
        if !status.is_success() {
            return Err(MatrixError::Http {
                status: status.as_u16(),
                errcode: v["errcode"].as_str().unwrap_or("M_UNKNOWN").to_owned(),
                message: v["error"].as_str().unwrap_or("").to_owned(),
            });
        }
        v["content_uri"].as_str().map(OwnedMxcUri::from).ok_or_else(|| MatrixError::Decode("upload answer has no content_uri".into()))
    }

    /// Downloads media (authenticated media endpoint), refusing files over `max_bytes`.
    pub async fn download(&self, mxc: &str, max_bytes: usize) -> MatrixResult<Vec<u8>> {
        self.download_media(mxc, max_bytes).await.map(|d| d.data)
    }

    /// Like [`download`](Self::download), keeping the homeserver's `Content-Type`, for
    /// serving the file onwards.
    pub async fn download_media(&self, mxc: &str, max_bytes: usize) -> MatrixResult<Downloaded> {
        let rest = mxc.strip_prefix("mxc://").ok_or_else(|| MatrixError::Decode(format!("`{mxc}` is not an mxc:// URI")))?;
        let (server, id) = rest.split_once('/').ok_or_else(|| MatrixError::Decode(format!("`{mxc}` has no media id")))?;
        let url = format!("{}/_matrix/client/v1/media/download/{}/{}", self.inner.base, enc(server), enc(id));
        let mut resp = self
            .inner
            .http
            .get(url)
            .bearer_auth(self.inner.as_token.expose())
            .send()
            .await
            .map_err(|e| MatrixError::Transport(e.without_url().to_string()))?;
        if !resp.status().is_success() {
            return Err(MatrixError::Http {
                status: resp.status().as_u16(),
                errcode: "M_UNKNOWN".into(),
                message: "media download failed".into(),
            });
        }
        let content_type = resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut data = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| MatrixError::Transport(e.without_url().to_string()))? {
            if data.len() + chunk.len() > max_bytes {
                return Err(MatrixError::Decode(format!("the file is larger than {max_bytes} bytes")));
            }
            data.extend_from_slice(&chunk);
        }
        Ok(Downloaded { data, content_type })
    }
}
