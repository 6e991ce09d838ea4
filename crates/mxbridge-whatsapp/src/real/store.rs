//! Where the real backend keeps each login's whatsapp-rust store: one SQLite file per
//! login under the configured data directory, readable only by the bridge's user. The
//! device identity, Signal sessions and app state live there, whatever database the core
//! uses, so a restart reconnects without linking again.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// One login's store file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct StoreFile {
    /// The SQLite file.
    pub(crate) path: PathBuf,
}

impl StoreFile {
    /// A new, empty store file for a device being linked, created with mode 0600 in a
    /// directory with mode 0700 (made if missing). Its name is random: the account is
    /// only known once the link succeeds.
    pub(crate) fn create(data_dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(data_dir)?;
        fs::set_permissions(data_dir, fs::Permissions::from_mode(0o700))?;
        let name = format!("device-{:016x}.db", rand::random::<u64>());
        let path = data_dir.join(name);
        OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
        Ok(Self { path })
    }

    /// The URL whatsapp-rust's SQLite store opens.
    pub(crate) fn url(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }

    /// Makes sure the file (and SQLite's side files) are readable only by the bridge's user,
    /// also when SQLite created them with the process umask.
    pub(crate) fn restrict(&self) -> io::Result<()> {
        for path in self.all_files() {
            if path.exists() {
                fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
            }
        }
        Ok(())
    }

    /// Deletes the store and SQLite's side files (`logout`, `delete-session`, an abandoned
    /// link). A missing file is not an error.
    pub(crate) fn delete(&self) -> io::Result<()> {
        for path in self.all_files() {
            match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// The file of people's names learnt for this login ([`super::names`]).
    pub(crate) fn names_path(&self) -> PathBuf {
        PathBuf::from(format!("{}.names.json", self.path.to_string_lossy()))
    }

    fn all_files(&self) -> Vec<PathBuf> {
        let base = self.path.to_string_lossy().into_owned();
        vec![
            self.path.clone(),
            PathBuf::from(format!("{base}-wal")),
            PathBuf::from(format!("{base}-shm")),
            PathBuf::from(format!("{base}-journal")),
            self.names_path(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_store_file_is_private_and_deleted_with_its_side_files() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("wa");
        let store = StoreFile::create(&data).unwrap();
        assert_eq!(store.path.parent(), Some(data.as_path()));
        assert!(store.path.file_name().unwrap().to_string_lossy().starts_with("device-"));
        assert_eq!(fs::metadata(&store.path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700);
        let other = StoreFile::create(&data).unwrap();
        assert_ne!(store, other, "one file per login");

        let wal = PathBuf::from(format!("{}-wal", store.url()));
        fs::write(&wal, b"x").unwrap();
        fs::set_permissions(&wal, fs::Permissions::from_mode(0o644)).unwrap();
        store.restrict().unwrap();
        assert_eq!(fs::metadata(&wal).unwrap().permissions().mode() & 0o777, 0o600);
        fs::write(store.names_path(), b"{}").unwrap();
        store.delete().unwrap();
        assert!(!store.path.exists() && !wal.exists() && !store.names_path().exists(), "the kept names go with the store");
        store.delete().unwrap();
        assert!(other.path.exists());
    }
}
