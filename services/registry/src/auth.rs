//! Optional HTTP basic auth with two roles: `read` (GET, lookups, compatibility checks) and
//! `write` (also register, delete, config and mode changes).
//!
//! The users file stores SHA-256 hex digests, never clear passwords, so the file itself is not a
//! credential leak. Run the registry behind TLS when auth matters: basic auth is clear text.

use std::collections::HashMap;
use std::path::Path;

use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Read,
    Write,
}

#[derive(Debug, Deserialize)]
struct UserEntry {
    name: String,
    password_sha256: String,
    role: Role,
}

#[derive(Debug, Deserialize)]
struct UsersFile {
    #[serde(default)]
    users: Vec<UserEntry>,
}

#[derive(Debug)]
pub struct Users {
    by_name: HashMap<String, (Vec<u8>, Role)>,
}

impl Users {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("users file {}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| Error::Config(format!("users file {}: {e}", path.display())))
    }

    pub fn parse(text: &str) -> Result<Self> {
        let file: UsersFile = toml::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        let mut by_name = HashMap::new();
        for user in file.users {
            let digest = hex::decode(user.password_sha256.trim())
                .ok()
                .filter(|d| d.len() == 32)
                .ok_or_else(|| {
                    Error::Config(format!(
                        "user {}: password_sha256 must be 64 hex characters",
                        user.name
                    ))
                })?;
            by_name.insert(user.name, (digest, user.role));
        }
        Ok(Self { by_name })
    }

    /// The role of the user in an `Authorization: Basic ...` header, if the credentials are right.
    pub fn authenticate(&self, header: &str) -> Option<Role> {
        let encoded = header
            .strip_prefix("Basic ")
            .or_else(|| header.strip_prefix("basic "))?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (name, password) = text.split_once(':')?;
        let (expected, role) = self.by_name.get(name)?;
        let actual = Sha256::digest(password.as_bytes());
        // Constant-time comparison: no early exit on the first differing byte.
        let diff = expected
            .iter()
            .zip(actual.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        (diff == 0).then_some(*role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        )
    }

    #[test]
    fn roles_and_wrong_passwords() {
        let digest = hex::encode(Sha256::digest(b"s3cret"));
        let users = Users::parse(&format!(
            "[[users]]\nname = \"ro\"\npassword_sha256 = \"{digest}\"\nrole = \"read\"\n\
             [[users]]\nname = \"rw\"\npassword_sha256 = \"{digest}\"\nrole = \"write\"\n"
        ))
        .unwrap();
        assert_eq!(
            users.authenticate(&header("ro", "s3cret")),
            Some(Role::Read)
        );
        assert_eq!(
            users.authenticate(&header("rw", "s3cret")),
            Some(Role::Write)
        );
        assert_eq!(users.authenticate(&header("rw", "wrong")), None);
        assert_eq!(users.authenticate(&header("nobody", "s3cret")), None);
        assert_eq!(users.authenticate("Bearer x"), None);
        assert_eq!(users.authenticate("Basic !!!"), None);
    }

    #[test]
    fn bad_digest_is_a_config_error() {
        assert!(
            Users::parse("[[users]]\nname=\"a\"\npassword_sha256=\"xyz\"\nrole=\"read\"\n")
                .is_err()
        );
    }
}
