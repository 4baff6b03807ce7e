//! Roles by bearer token: the tokens file holds only SHA-256 digests of tokens, so a leaked config
//! does not leak access. No token = the `public` role (open data is open); a token that is present
//! but unknown is a 401 everywhere, so a typo never silently downgrades a caller. Roles are ordered:
//! admin ⊇ analyst ⊇ public.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Public,
    Analyst,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Public => "public",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }
}

/// Who is calling, as established by `auth::guard`.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub role: Role,
    pub anonymous: bool,
}

#[derive(Debug, Deserialize)]
struct TokensFile {
    #[serde(default)]
    tokens: Vec<TokenEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    name: String,
    /// Lowercase hex SHA-256 of the bearer token.
    sha256: String,
    role: Role,
}

/// Token digests → caller.
#[derive(Debug, Clone, Default)]
pub struct Tokens(HashMap<String, (String, Role)>);

impl Tokens {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Tokens {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::parse(&text).map_err(|reason| Error::Tokens {
            path: path.display().to_string(),
            reason,
        })
    }

    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let file: TokensFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut map = HashMap::new();
        for t in file.tokens {
            let digest = t.sha256.to_ascii_lowercase();
            if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("token `{}`: sha256 must be 64 hex digits", t.name));
            }
            if map.insert(digest, (t.name.clone(), t.role)).is_some() {
                return Err(format!("token `{}`: duplicate digest", t.name));
            }
        }
        Ok(Tokens(map))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The caller for an `Authorization` header value (absent = anonymous public).
    pub fn identify(&self, header: Option<&str>) -> Result<Caller> {
        let Some(value) = header else {
            return Ok(Caller {
                name: String::new(),
                role: Role::Public,
                anonymous: true,
            });
        };
        let token = value
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(Error::Unauthorized)?;
        let digest = hex::encode(Sha256::digest(token.as_bytes()));
        let (name, role) = self.0.get(&digest).ok_or(Error::Unauthorized)?;
        Ok(Caller {
            name: name.clone(),
            role: *role,
            anonymous: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        let d = |t: &str| hex::encode(Sha256::digest(t.as_bytes()));
        Tokens::parse(&format!(
            "[[tokens]]\nname = \"a\"\nsha256 = \"{}\"\nrole = \"analyst\"\n\
             [[tokens]]\nname = \"adm\"\nsha256 = \"{}\"\nrole = \"admin\"\n",
            d("analyst-secret"),
            d("admin-secret")
        ))
        .expect("parses")
    }

    #[test]
    fn identify() {
        let t = tokens();
        let c = t.identify(Some("Bearer analyst-secret")).expect("known");
        assert_eq!((c.name.as_str(), c.role), ("a", Role::Analyst));
        assert_eq!(
            t.identify(Some("Bearer admin-secret")).expect("ok").role,
            Role::Admin
        );
        assert!(t.identify(None).expect("anon").anonymous);
        for bad in [
            "Bearer wrong",
            "Bearer ",
            "Basic YWJj",
            "analyst-secret",
            "bearer analyst-secret",
        ] {
            assert!(
                matches!(t.identify(Some(bad)), Err(Error::Unauthorized)),
                "{bad}"
            );
        }
        assert!(Role::Admin > Role::Analyst && Role::Analyst > Role::Public);
    }

    #[test]
    fn bad_files_rejected() {
        assert!(Tokens::parse("[[tokens]]\nname=\"x\"\nsha256=\"abc\"\nrole=\"admin\"\n").is_err());
        assert!(Tokens::parse("[[tokens]]\nname=\"x\"\nsha256=\"abc\"\nrole=\"root\"\n").is_err());
    }
}
