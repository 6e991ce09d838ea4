//! Secrets: values that never print, and the cipher that keeps them encrypted at rest.
//!
//! Tokens, stored passwords and network sessions are wrapped in [`Secret`], whose `Debug`
//! is `[redacted]`, so a stray `?value` in a log line cannot leak them. The database holds
//! secrets encrypted with XChaCha20-Poly1305 under a key from the config or a key file
//! generated on first start.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

/// A value that must not appear in logs: `Debug` and `Display` print `[redacted]`.
///
/// Serde sees the bare value (`#[serde(transparent)]`), so config files and the
/// registration file hold plain strings. There is deliberately no `PartialEq`: compare
/// tokens with a constant-time comparison on [`expose`](Self::expose)d bytes.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a secret value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Loading a key or decrypting failed.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// A key given in the config is not base64 of 32 bytes.
    #[error(
        "the secret key is not the base64 encoding of 32 bytes (fix: restore the original key; with a new key, stored logins cannot be read and users must log in again)"
    )]
    BadKey,
    /// The key file does not hold base64 of 32 bytes.
    #[error(
        "the key file {path} is not a base64 32-byte key (fix: restore the original file; or delete it to generate a new key, after which every user must log in again)"
    )]
    BadKeyFile {
        /// Which file.
        path: PathBuf,
    },
    /// The key file could not be read or written.
    #[error("cannot use the key file {path}: {source} (fix: check that its folder exists and the bridge may read and write it)")]
    KeyFile {
        /// Which file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A stored secret does not decrypt: wrong key, or damaged data.
    #[error(
        "a stored secret cannot be decrypted: the key differs from the one it was stored with, or the data is damaged (fix: restore the original key file, or delete the login and log in again)"
    )]
    Undecryptable,
}

/// Current format of an encrypted blob: version byte, 24-byte nonce, ciphertext+tag.
const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;

/// Encrypts and decrypts secrets at rest.
#[derive(Clone)]
pub struct SecretCipher {
    aead: XChaCha20Poly1305,
}

impl fmt::Debug for SecretCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretCipher([redacted])")
    }
}

impl SecretCipher {
    fn from_key(key: &[u8]) -> Result<Self, SecretError> {
        let aead = XChaCha20Poly1305::new_from_slice(key).map_err(|_| SecretError::BadKey)?;
        Ok(Self { aead })
    }

    /// A cipher from a base64 32-byte key.
    pub fn from_base64_key(key: &str) -> Result<Self, SecretError> {
        let bytes = STANDARD.decode(key.trim()).map_err(|_| SecretError::BadKey)?;
        if bytes.len() != KEY_LEN {
            return Err(SecretError::BadKey);
        }
        Self::from_key(&bytes)
    }

    /// Reads the base64 key in `path`, or on first start generates a key and writes it there
    /// (mode 0600, creating the folder). Losing this file makes every stored secret unreadable.
    pub fn load_or_create_key_file(path: &Path) -> Result<Self, SecretError> {
        let io = |source| SecretError::KeyFile { path: path.to_owned(), source };
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_key_text(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(io)?;
                }
                let mut key = [0u8; KEY_LEN];
                rand::rng().fill_bytes(&mut key);
                write_new_private(path, format!("{}\n", STANDARD.encode(key)).as_bytes()).map_err(io)?;
                info!(path = %path.display(), "generated a new secret key file; back it up with the database");
                Self::from_key(&key)
            }
            Err(e) => Err(io(e)),
        }
    }

    fn from_key_text(path: &Path, text: &str) -> Result<Self, SecretError> {
        warn_if_readable_by_others(path);
        let bytes = STANDARD.decode(text.trim()).map_err(|_| SecretError::BadKeyFile { path: path.to_owned() })?;
        if bytes.len() != KEY_LEN {
            return Err(SecretError::BadKeyFile { path: path.to_owned() });
        }
        Self::from_key(&bytes)
    }

    /// Encrypts with a fresh random nonce.
    pub fn encrypt(&self, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self.aead.encrypt(XNonce::from_slice(&nonce), plaintext).expect("XChaCha20-Poly1305 encrypts any length");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypts a blob made by [`encrypt`](Self::encrypt).
    pub fn decrypt(&self, blob: &[u8]) -> Result<Vec<u8>, SecretError> {
        if blob.len() < 1 + NONCE_LEN || blob[0] != FORMAT_V1 {
            return Err(SecretError::Undecryptable);
        }
        let (nonce, sealed) = blob[1..].split_at(NONCE_LEN);
        self.aead.decrypt(XNonce::from_slice(nonce), sealed).map_err(|_| SecretError::Undecryptable)
    }
}

/// Writes a new file with owner-only permissions, all at once: the data goes to a temporary
/// file first, so a crash cannot leave a half-written key behind.
fn write_new_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut f| {
        f.write_all(data)?;
        f.sync_all()
    });
    match written.and_then(|()| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        warn!(path = %path.display(), "the secret key file is readable by other users; run `chmod 600` on it");
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> SecretCipher {
        SecretCipher::from_base64_key(&STANDARD.encode([9u8; 32])).unwrap()
    }

    #[test]
    fn test_round_trip_and_fresh_nonces() {
        let c = cipher();
        let a = c.encrypt(b"session data");
        let b = c.encrypt(b"session data");
        assert_ne!(a, b, "each encryption uses a new nonce");
        assert_eq!(c.decrypt(&a).unwrap(), b"session data");
        assert!(!a.windows(12).any(|w| w == b"session data"), "ciphertext does not contain the plaintext");
    }

    #[test]
    fn test_tampering_and_wrong_key_are_detected() {
        let c = cipher();
        let mut blob = c.encrypt(b"secret");
        let last = blob.len() - 1;
        blob[last] ^= 1;
        assert!(matches!(c.decrypt(&blob), Err(SecretError::Undecryptable)));
        let other = SecretCipher::from_base64_key(&STANDARD.encode([1u8; 32])).unwrap();
        assert!(other.decrypt(&c.encrypt(b"secret")).is_err());
        assert!(c.decrypt(b"short").is_err());
    }

    #[test]
    fn test_bad_keys_are_refused() {
        assert!(matches!(SecretCipher::from_base64_key("not base64!"), Err(SecretError::BadKey)));
        assert!(matches!(SecretCipher::from_base64_key(&STANDARD.encode([1u8; 16])), Err(SecretError::BadKey)));
    }

    fn temp_folder() -> std::path::PathBuf {
        std::env::temp_dir().join(format!("mxbridge-key-{:016x}", rand::random::<u64>()))
    }

    #[test]
    fn test_blob_layout_is_version_nonce_ciphertext_tag() {
        let blob = cipher().encrypt(b"abc");
        assert_eq!(blob[0], FORMAT_V1);
        assert_eq!(blob.len(), 1 + NONCE_LEN + 3 + 16);
        let mut other_version = blob.clone();
        other_version[0] = 2;
        assert!(matches!(cipher().decrypt(&other_version), Err(SecretError::Undecryptable)));
        assert_eq!(cipher().decrypt(&cipher().encrypt(b"")).unwrap(), b"", "empty secrets round-trip");
    }

    #[test]
    fn test_key_file_is_created_private_and_reloaded() {
        let dir = temp_folder();
        let path = dir.join("sub/bridge.key");
        let first = SecretCipher::load_or_create_key_file(&path).unwrap();
        let blob = first.encrypt(b"x");
        let second = SecretCipher::load_or_create_key_file(&path).unwrap();
        assert_eq!(second.decrypt(&blob).unwrap(), b"x", "the same key is read back");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(STANDARD.decode(text.trim()).unwrap().len(), KEY_LEN, "the file holds a base64 32-byte key");
        assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1, "no temporary file is left behind");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn test_damaged_key_file_is_refused_by_name() {
        let dir = temp_folder();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bridge.key");
        std::fs::write(&path, STANDARD.encode([1u8; 16])).unwrap();
        let err = SecretCipher::load_or_create_key_file(&path).unwrap_err();
        assert!(matches!(&err, SecretError::BadKeyFile { path: p } if p == &path));
        assert!(err.to_string().contains(&path.display().to_string()) && err.to_string().contains("fix:"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), STANDARD.encode([1u8; 16]).as_bytes(), "a bad key file is never overwritten");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn test_debug_is_redacted() {
        let s = Secret::new("hunter2".to_owned());
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        assert_eq!(format!("{:?}", Secret::new(vec![1u8, 2, 3])), "[redacted]");
        assert!(!format!("{:?}", cipher()).contains('9'));
    }

    #[test]
    fn test_serde_is_transparent() {
        let s: Secret<String> = serde_json::from_str("\"as-token\"").unwrap();
        assert_eq!(s.expose(), "as-token");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"as-token\"");
        assert_eq!(s.clone().into_inner(), "as-token");
    }
}
