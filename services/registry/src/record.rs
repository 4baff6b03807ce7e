//! The records of the store topic. Keys are JSON like Confluent's `_schemas` keys, so a human
//! reading the topic recognises them; a null value (tombstone) removes the key.
//!
//! Unlike Confluent, a SCHEMA key carries the proposing writer's `nonce`: two instances that race
//! for the same subject/version or id never write the same key, so compaction can never let a
//! losing proposal overwrite (and thereby reorder) the winning one. See `state.rs` and README.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "keytype", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Key {
    /// A claim of `version` of `subject` (the value names the id and schema).
    Schema {
        subject: String,
        version: u32,
        nonce: String,
    },
    /// Soft-deletion marker for the claim with this nonce.
    Deleted {
        subject: String,
        version: u32,
        nonce: String,
    },
    /// Compatibility level; `subject: null` is the global level.
    Config { subject: Option<String> },
    /// Mode; `subject: null` is the global mode.
    Mode { subject: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaValue {
    pub subject: String,
    pub version: u32,
    pub id: u32,
    #[serde(rename = "schemaType", default = "avro")]
    pub schema_type: String,
    pub schema: String,
    /// Named types this schema uses from other subjects' versions (Confluent `references`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    /// Data-contract metadata (Confluent 7.4+ `metadata`), stored as the client sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    /// Data-contract rules (Confluent 7.4+ `ruleSet`), stored as the client sent it.
    #[serde(rename = "ruleSet", default, skip_serializing_if = "Option::is_none")]
    pub rule_set: Option<serde_json::Value>,
}

/// A schema reference: `name` (the Avro full name it defines) is `version` of `subject`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reference {
    pub name: String,
    pub subject: String,
    pub version: i64,
}

fn avro() -> String {
    "AVRO".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletedValue {
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigValue {
    #[serde(rename = "compatibilityLevel")]
    pub compatibility_level: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeValue {
    pub mode: String,
}

/// A record ready to produce: JSON key and optional JSON value (None = tombstone).
#[derive(Debug, Clone)]
pub struct Record {
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

impl Record {
    pub fn new<V: Serialize>(key: &Key, value: Option<&V>) -> Self {
        // Serialising our own plain structs to JSON cannot fail.
        let key = serde_json::to_vec(key).unwrap_or_default();
        let value = value.map(|v| serde_json::to_vec(v).unwrap_or_default());
        Self { key, value }
    }

    pub fn tombstone(key: &Key) -> Self {
        Self::new::<()>(key, None)
    }
}
