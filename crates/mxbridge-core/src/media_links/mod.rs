//! Links to Matrix media that the bridge serves itself, for networks whose users cannot
//! reach it: homeservers require authenticated media (MSC3916), so a plain mxc or HTTP
//! link is useless to someone on IRC or XMPP.
//!
//! A link opens only media the bridge signed, which is media that went over the bridge:
//! files sent from Matrix into a portal, and files a network [`publish`](MediaLinks::publish)es.
//! The bridge fetches the file as its bot on each request. Links are off unless
//! `bridge.public_url` is set.

pub(crate) mod signing;

use std::fmt;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tracing::debug;

use crate::matrix::intent::{Matrix, MatrixError};
use crate::secret::Secret;
use signing::Signer;

/// Largest file served through a link, as for files forwarded to networks.
pub(crate) const MAX_SERVED_BYTES: usize = 50 * 1024 * 1024;
/// Served files are held in memory whole; this bounds how many at once.
const CONCURRENT_FETCHES: usize = 4;

/// Publishing a file as a link failed.
#[derive(Debug, thiserror::Error)]
pub enum MediaLinkError {
    /// `bridge.public_url` is not set.
    #[error(
        "media links are off: set `bridge.public_url` in the bridge config to the address where people on the network reach the bridge's HTTP listener, then restart the bridge"
    )]
    Disabled,
    /// The homeserver did not take the upload.
    #[error("the file could not be uploaded to the homeserver: {0} (check that the homeserver is up and accepts files of this size)")]
    Upload(#[source] MatrixError),
    /// The homeserver answered the upload with a URI no link can be made for.
    #[error("the homeserver answered the upload with `{0}`, which is not a valid mxc URI (check the homeserver's media settings)")]
    BadUri(String),
}

/// Why a link was not served.
#[derive(Debug)]
pub(crate) enum FetchError {
    /// Not a link this bridge made, links are off, or the homeserver has no such file.
    /// One answer for all, so strangers learn nothing about the homeserver's media.
    NotFound,
    /// The link is good, but the homeserver did not hand over the file.
    Unavailable(MatrixError),
}

/// A file to answer a link with.
pub(crate) struct ServedFile {
    pub(crate) data: Vec<u8>,
    pub(crate) content_type: Option<String>,
    pub(crate) filename: String,
}

/// Makes and serves links to media on the homeserver. Cheap to clone; networks get one in
/// [`NetworkContext`](crate::network::NetworkContext).
#[derive(Clone)]
pub struct MediaLinks {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    signer: Signer,
    matrix: Matrix,
    fetches: Semaphore,
}

impl fmt::Debug for MediaLinks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaLinks").field("enabled", &self.enabled()).finish()
    }
}

impl MediaLinks {
    /// Links switched off: [`publish`](Self::publish) fails with [`MediaLinkError::Disabled`].
    pub fn disabled() -> Self {
        Self { inner: None }
    }

    /// Links under `public_url` when it is set, signed with a key derived from the as_token
    /// (a secret every bridge has, and which only the bridge and its homeserver know).
    pub(crate) fn new(public_url: Option<&str>, as_token: &Secret<String>, matrix: Matrix) -> Self {
        let inner = public_url.map(|base| {
            Arc::new(Inner { signer: Signer::new(base, as_token.expose().as_bytes()), matrix, fetches: Semaphore::new(CONCURRENT_FETCHES) })
        });
        Self { inner }
    }

    /// Whether `bridge.public_url` is set, so links can be made.
    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Uploads a file to the homeserver as the bridge bot and returns a public link to it,
    /// e.g. to hand a long text or a file to a network that cannot carry it.
    pub async fn publish(&self, data: Vec<u8>, mime: &str, filename: &str) -> Result<String, MediaLinkError> {
        let inner = self.inner.as_ref().ok_or(MediaLinkError::Disabled)?;
        let bytes = data.len();
        let mxc = inner.matrix.upload(data, mime, filename).await.map_err(MediaLinkError::Upload)?;
        let link = inner.signer.link(mxc.as_str(), filename).ok_or_else(|| MediaLinkError::BadUri(mxc.to_string()))?;
        debug!(bytes, mime, "published a file as a media link");
        Ok(link)
    }

    /// The link to an `mxc://` URI under a file name; `None` when links are off or the URI
    /// is not valid.
    pub(crate) fn link_for(&self, mxc: &str, filename: &str) -> Option<String> {
        self.inner.as_ref()?.signer.link(mxc, filename)
    }

    /// The file a request path names, after the route prefix and still percent-encoded.
    /// The signature is checked before the homeserver is asked anything.
    pub(crate) async fn fetch(&self, rest: &str) -> Result<ServedFile, FetchError> {
        let inner = self.inner.as_ref().ok_or(FetchError::NotFound)?;
        let Some(target) = inner.signer.verify(rest) else {
            debug!("refused a media link that this bridge did not make");
            return Err(FetchError::NotFound);
        };
        let _permit = inner.fetches.acquire().await.expect("the semaphore is never closed");
        match inner.matrix.download_media(&target.mxc(), MAX_SERVED_BYTES).await {
            Ok(file) => {
                debug!(server = %target.server, media_id = %target.media_id, bytes = file.data.len(), "serving a linked file");
                Ok(ServedFile { data: file.data, content_type: file.content_type, filename: target.filename })
            }
            Err(MatrixError::Http { status, .. }) if (400..500).contains(&status) => {
                debug!(server = %target.server, media_id = %target.media_id, status, "the homeserver has no file for a valid link");
                Err(FetchError::NotFound)
            }
            Err(e) => Err(FetchError::Unavailable(e)),
        }
    }
}
