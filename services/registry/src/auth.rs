//! HTTP basic auth and per-subject authorisation.
//!
//! Three roles, in the spirit of Confluent's RBAC (`DeveloperRead`, `DeveloperWrite` on a
//! prefixed `Subject:` resource, `ClusterAdmin`):
//!
//! * `read`: every GET, schema lookups (`POST /subjects/{s}`) and compatibility checks.
//! * `write`: also register, delete versions and subjects, and set or delete the subject-level
//!   config and mode, but only on subjects starting with one of the user's `subjects` prefixes
//!   (`"*"` means every subject). A `write` user without `subjects` is a start-up error: the
//!   file must say which subjects a council owns.
//! * `admin`: everything, including the global `/config` and `/mode`, on any subject.
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
    Admin,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    name: String,
    password_sha256: String,
    role: Role,
    /// Subject prefixes a `write` user may change; `"*"` is every subject.
    subjects: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(default)]
    users: Vec<UserEntry>,
}

/// An authenticated user: what the authorisation checks need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    /// Subject prefixes a `write` user may change (empty for `read`; ignored for `admin`).
    prefixes: Vec<String>,
    all_subjects: bool,
}

impl Principal {
    /// May this user register, delete or reconfigure `subject`?
    pub fn may_write_subject(&self, subject: &str) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Read => false,
            Role::Write => {
                self.all_subjects
                    || self
                        .prefixes
                        .iter()
                        .any(|p| subject.starts_with(p.as_str()))
            }
        }
    }

    /// May this user change the global config and mode?
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

#[derive(Debug)]
pub struct Users {
    by_name: HashMap<String, (Vec<u8>, Principal)>,
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
            let name = user.name;
            let digest = hex::decode(user.password_sha256.trim())
                .ok()
                .filter(|d| d.len() == 32)
                .ok_or_else(|| {
                    Error::Config(format!(
                        "user {name}: password_sha256 must be 64 hex characters"
                    ))
                })?;
            let (prefixes, all_subjects) = match (user.role, user.subjects) {
                (Role::Write, None) => {
                    return Err(Error::Config(format!(
                        "user {name}: role \"write\" needs `subjects = [\"prefix.\", ...]`, the \
                         subject prefixes it may register, delete and configure (e.g. \
                         [\"dublin-city.\"]); use [\"*\"] for every subject, or role \"admin\""
                    )))
                }
                (Role::Write, Some(list)) => {
                    if list.is_empty() || list.iter().any(|p| p.trim().is_empty()) {
                        return Err(Error::Config(format!(
                            "user {name}: `subjects` must list non-empty prefixes (\"*\" for every subject)"
                        )));
                    }
                    let all = list.iter().any(|p| p == "*");
                    (list, all)
                }
                (role, Some(_)) => {
                    return Err(Error::Config(format!(
                        "user {name}: `subjects` applies to role \"write\" only ({role:?} \
                         users read everything{})",
                        if role == Role::Admin {
                            " and write everything"
                        } else {
                            ""
                        }
                    )))
                }
                (_, None) => (Vec::new(), false),
            };
            let principal = Principal {
                name: name.clone(),
                role: user.role,
                prefixes,
                all_subjects,
            };
            if by_name.insert(name.clone(), (digest, principal)).is_some() {
                return Err(Error::Config(format!("user {name} is listed twice")));
            }
        }
        if by_name.is_empty() {
            return Err(Error::Config(
                "no [[users]]: nobody could use the registry".into(),
            ));
        }
        Ok(Self { by_name })
    }

    /// The user in an `Authorization: Basic ...` header, if the credentials are right.
    pub fn authenticate(&self, header: &str) -> Option<&Principal> {
        let encoded = header
            .strip_prefix("Basic ")
            .or_else(|| header.strip_prefix("basic "))?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (name, password) = text.split_once(':')?;
        let (expected, principal) = self.by_name.get(name)?;
        let actual = Sha256::digest(password.as_bytes());
        // Constant-time comparison: no early exit on the first differing byte.
        let diff = expected
            .iter()
            .zip(actual.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        (diff == 0).then_some(principal)
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

    fn digest() -> String {
        hex::encode(Sha256::digest(b"s3cret"))
    }

    fn user(name: &str, role: &str, subjects: Option<&str>) -> String {
        let subjects = subjects
            .map(|s| format!("subjects = {s}\n"))
            .unwrap_or_default();
        format!(
            "[[users]]\nname = \"{name}\"\npassword_sha256 = \"{}\"\nrole = \"{role}\"\n{subjects}",
            digest()
        )
    }

    #[test]
    fn roles_and_wrong_passwords() {
        let users = Users::parse(&format!(
            "{}{}{}",
            user("ro", "read", None),
            user("rw", "write", Some("[\"dublin-city.\"]")),
            user("root", "admin", None)
        ))
        .unwrap();
        let role = |u: &str, p: &str| users.authenticate(&header(u, p)).map(|p| p.role);
        assert_eq!(role("ro", "s3cret"), Some(Role::Read));
        assert_eq!(role("rw", "s3cret"), Some(Role::Write));
        assert_eq!(role("root", "s3cret"), Some(Role::Admin));
        assert_eq!(role("rw", "wrong"), None);
        assert_eq!(role("nobody", "s3cret"), None);
        assert_eq!(users.authenticate("Bearer x"), None);
        assert_eq!(users.authenticate("Basic !!!"), None);
    }

    #[test]
    fn subject_prefixes() {
        let users = Users::parse(&format!(
            "{}{}{}{}",
            user("ro", "read", None),
            user(
                "dublin",
                "write",
                Some("[\"dublin-city.\", \"lgma.planning.application\"]")
            ),
            user("all", "write", Some("[\"*\"]")),
            user("root", "admin", None)
        ))
        .unwrap();
        let who = |u: &str| users.authenticate(&header(u, "s3cret")).unwrap().clone();
        let dublin = who("dublin");
        assert!(dublin.may_write_subject("dublin-city.planning-value"));
        assert!(dublin.may_write_subject("lgma.planning.application-value"));
        assert!(!dublin.may_write_subject("cork-city.planning-value"));
        assert!(!dublin.may_write_subject("dublin-city"));
        assert!(!dublin.may_write_subject("lgma.planning.decision-value"));
        assert!(!dublin.is_admin());
        assert!(who("all").may_write_subject("anything"));
        assert!(!who("all").is_admin());
        assert!(!who("ro").may_write_subject("dublin-city.x"));
        assert!(who("root").may_write_subject("x"));
        assert!(who("root").is_admin());
    }

    /// The production example (infra/deploy) loads once its placeholders are real digests, and
    /// refuses to load as shipped.
    #[test]
    fn production_users_example_parses_with_digests_filled_in() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../infra/deploy/registry-users.example.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(Users::parse(&text)
            .unwrap_err()
            .to_string()
            .contains("64 hex"));
        let users = Users::parse(&text.replace("<sha256 hex of the password>", &digest())).unwrap();
        let who = |u: &str| users.authenticate(&header(u, "s3cret")).unwrap().clone();
        assert!(who("dublin-city").may_write_subject("dublin-city.planning-value"));
        assert!(!who("dublin-city").may_write_subject("cork-city.planning-value"));
        assert!(!who("dublin-city").may_write_subject("lgma.planning.application-value"));
        assert!(who("lgma-platform-ci").may_write_subject("lgma.planning.application-value"));
        assert!(!who("lgma-platform-ci").is_admin());
        let ingest = who("lgma-ingest");
        assert!(ingest.may_write_subject("lgma.planning.application.enriched-value"));
        assert!(!ingest.may_write_subject("lgma.planning.application-value"));
        assert_eq!(who("lgma-reader").role, Role::Read);
        assert!(who("registry-admin").is_admin());
    }

    #[test]
    fn config_errors_fail_closed() {
        let err = |text: &str| Users::parse(text).unwrap_err().to_string();
        assert!(
            err("[[users]]\nname=\"a\"\npassword_sha256=\"xyz\"\nrole=\"read\"\n")
                .contains("64 hex")
        );
        // A write user must say which subjects it owns.
        assert!(err(&user("w", "write", None)).contains("needs `subjects"));
        assert!(err(&user("w", "write", Some("[]"))).contains("non-empty"));
        assert!(err(&user("w", "write", Some("[\"\"]"))).contains("non-empty"));
        assert!(err(&user("r", "read", Some("[\"x\"]"))).contains("write\" only"));
        assert!(err(&user("a", "admin", Some("[\"x\"]"))).contains("write\" only"));
        assert!(err(&user("x", "superuser", None)).contains("unknown variant"));
        assert!(err(&format!(
            "{}{}",
            user("a", "read", None),
            user("a", "admin", None)
        ))
        .contains("twice"));
        assert!(err("").contains("no [[users]]"));
        // A misspelt key is an error, not a silently ignored restriction.
        assert!(err(&format!(
            "{}subject = [\"x\"]\n",
            user("w", "write", Some("[\"*\"]"))
        ))
        .contains("unknown field"));
    }
}
