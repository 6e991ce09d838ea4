//! Secrets: values that never print, and the cipher that keeps them encrypted at rest.
//!
//! Tokens, stored passwords and network sessions are wrapped in [`Secret`], whose `Debug`
//! is `[redacted]`, so a stray `?value` in a log line cannot leak them. The database holds
//! secrets encrypted with XChaCha20-Poly1305 under a key from the config or a key file
//! generated on first start.

use std::fmt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// A value that must not appear in logs.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The key is not base64 of 32 bytes.
    #[error(
        "the secret key is not base64 of 32 bytes (fix: restore the original key, or remove it to generate a new one and log in again)"
    )]
    BadKey,
    /// The key file could not be read or written.
    #[error("cannot use the key file {path}: {source} (fix: check the folder exists and is writable by the bridge)")]
    KeyFile {
        /// Which file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A stored secret does not decrypt: wrong key, or damaged data.
    #[error(
        "a stored secret cannot be decrypted: the key differs from the one it was stored with, or the data is damaged (fix: restore the original key file, or log in again)"
    )]
    Undecryptable,
}

/// Current format of an encrypted blob: version byte, 24-byte nonce, ciphertext+tag.
const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 24;

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
        if bytes.len() != 32 {
            return Err(SecretError::BadKey);
        }
        Self::from_key(&bytes)
    }

    /// Reads the key file, or creates it (mode 0600) with a fresh key on first start.
    pub fn load_or_create_key_file(path: &Path) -> Result<Self, SecretError> {
        let io = |source| SecretError::KeyFile { path: path.display().to_string(), source };
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_base64_key(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(io)?;
                }
                let mut key = [0u8; 32];
                rand::rng().fill_bytes(&mut key);
                write_private(path, STANDARD.encode(key).as_bytes()).map_err(io)?;
                Self::from_key(&key)
            }
            Err(e) => Err(io(e)),
        }
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

#[cfg(unix)]
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(data)
}

#[cfg(not(unix))]
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, data)
}

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

    #[test]
    fn test_key_file_is_created_private_and_reloaded() {
        let dir = std::env::temp_dir().join(format!("mxbridge-key-{}-{}", std::process::id(), rand::random::<u32>()));
        let path = dir.join("sub/bridge.key");
        let first = SecretCipher::load_or_create_key_file(&path).unwrap();
        let blob = first.encrypt(b"x");
        let second = SecretCipher::load_or_create_key_file(&path).unwrap();
        assert_eq!(second.decrypt(&blob).unwrap(), b"x", "the same key is read back");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn test_debug_is_redacted() {
        let s = Secret::new("hunter2".to_owned());
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        assert!(!format!("{:?}", cipher()).contains('9'));
    }
}
