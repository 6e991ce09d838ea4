//! The names a real session learns about people: WhatsApp sends the phone's address book
//! (app-state sync) and push names (history sync) once after a link, so they are kept in a
//! file beside the login's store, readable only by the bridge's user, and deleted with it.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use tracing::warn;

use crate::backend::Contact;

/// The names the session learnt: from the phone's address book (app-state sync) and the
/// push names people set (history sync, messages, push-name updates). The address book
/// wins, as on the phone.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct KnownNames {
    address_book: HashMap<String, String>,
    push_names: HashMap<String, String>,
}

impl KnownNames {
    /// Learns names; returns the numbers whose best name changed, with that name.
    pub(crate) fn learn(&mut self, contacts: Vec<Contact>, address_book: bool) -> Vec<Contact> {
        let mut changed = Vec::new();
        for c in contacts {
            let before = self.best(&c.number);
            let map = if address_book { &mut self.address_book } else { &mut self.push_names };
            map.insert(c.number.clone(), c.name);
            let after = self.best(&c.number);
            if after != before
                && let Some(name) = after
            {
                changed.push(Contact { number: c.number, name });
            }
        }
        changed
    }

    pub(crate) fn best(&self, number: &str) -> Option<String> {
        self.address_book.get(number).or_else(|| self.push_names.get(number)).cloned()
    }

    /// Everyone known by name, address-book names first, sorted by name.
    pub(crate) fn all(&self) -> Vec<Contact> {
        let mut numbers: Vec<&String> = self.address_book.keys().chain(self.push_names.keys()).collect();
        numbers.sort();
        numbers.dedup();
        let mut all: Vec<Contact> = numbers.into_iter().filter_map(|n| Some(Contact { number: n.clone(), name: self.best(n)? })).collect();
        all.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()).then(a.number.cmp(&b.number)));
        all
    }
}

impl KnownNames {
    /// The names kept at `path`; none when there is no file yet (or it cannot be read).
    pub(crate) fn load(path: &Path) -> Self {
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                warn!(error = %e, "the kept WhatsApp contact names are not readable; starting without them");
                Self::default()
            }),
            Err(_) => Self::default(),
        }
    }

    /// Keeps the names at `path` (mode 0600), replacing the file whole.
    pub(crate) fn save(&self, path: &Path) -> io::Result<()> {
        let tmp = path.with_extension("tmp");
        let mut file = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        file.write_all(&serde_json::to_vec(self).map_err(io::Error::other)?)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn contact(number: &str, name: &str) -> Contact {
        Contact { number: number.into(), name: name.into() }
    }

    #[test]
    fn test_address_book_names_win_over_push_names_and_changes_are_reported() {
        let mut names = KnownNames::default();
        assert_eq!(
            names.learn(vec![contact("44002", "Ally"), contact("44003", "bob")], false),
            vec![contact("44002", "Ally"), contact("44003", "bob")]
        );
        assert_eq!(names.learn(vec![contact("44002", "Alice Smith")], true), vec![contact("44002", "Alice Smith")]);
        assert_eq!(names.learn(vec![contact("44002", "Ally 2")], false), vec![], "a new push name does not beat the address book");
        assert_eq!(names.learn(vec![contact("44003", "bob")], false), vec![], "nothing changed");
        assert_eq!(names.best("44002").as_deref(), Some("Alice Smith"));
        assert_eq!(names.best("44009"), None);
        assert_eq!(names.all(), vec![contact("44002", "Alice Smith"), contact("44003", "bob")], "each number once, by name");
    }

    #[test]
    fn test_names_are_kept_privately_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device-1.db.names.json");
        assert!(KnownNames::load(&path).all().is_empty(), "no file yet");
        let mut names = KnownNames::default();
        names.learn(vec![contact("44002", "Alice Smith")], true);
        names.learn(vec![contact("44003", "bob")], false);
        names.save(&path).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let mut back = KnownNames::load(&path);
        assert_eq!(back.all(), names.all());
        assert_eq!(back.learn(vec![contact("44002", "Ally")], false), vec![], "the address book still wins after a restart");
        fs::write(&path, b"not json").unwrap();
        assert!(KnownNames::load(&path).all().is_empty(), "a broken file is not fatal");
    }
}
