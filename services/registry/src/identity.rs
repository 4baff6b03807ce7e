//! Schema identity.
//!
//! Two registrations are "the same schema" when their JSON is equal up to whitespace and object key
//! order, exactly as Confluent decides it. We deliberately do NOT use Avro's Parsing Canonical Form:
//! it drops `doc`, `default`, `aliases` and custom attributes (our `pii` tags), so a changed tag
//! would silently map to the old id. `normalize=true` additionally rewrites equivalent spellings
//! (namespaces folded into full names, `{"type":"string"}` → `"string"`), as Confluent's normalize does.

use apache_avro::Schema;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

/// A validated Avro schema: the text we store and serve, and the key identity is decided on.
#[derive(Debug, Clone)]
pub struct ParsedSchema {
    /// Compact JSON, keys in the order the client sent them: what `GET` returns.
    pub text: String,
    /// Compact JSON with keys sorted recursively: equal iff the schemas are "the same".
    pub identity: String,
    pub avro: Schema,
}

/// Parses and validates `raw` (optionally normalising it). Invalid JSON or Avro gives 42201.
pub fn parse(raw: &str, normalize: bool) -> Result<ParsedSchema> {
    let value: Value = serde_json::from_str(raw)
        .map_err(|e| Error::InvalidSchema(format!("Invalid schema: not valid JSON: {e}")))?;
    let value = if normalize {
        normalize_value(&value, None)
    } else {
        value
    };
    let text = value.to_string();
    let avro = Schema::parse_str(&text)
        .map_err(|e| Error::InvalidSchema(format!("Invalid schema {text}: {e}")))?;
    let identity = sorted(&value).to_string();
    Ok(ParsedSchema {
        text,
        identity,
        avro,
    })
}

/// Recursively sorts object keys so key order never changes identity.
pub fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for key in keys {
                out.insert(key.clone(), sorted(&map[key]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

fn qualify(name: &str, namespace: Option<&str>) -> String {
    if name.contains('.') || PRIMITIVES.contains(&name) {
        return name.to_string();
    }
    match namespace {
        Some(ns) if !ns.is_empty() => format!("{ns}.{name}"),
        _ => name.to_string(),
    }
}

fn namespace_of(fullname: &str) -> Option<String> {
    fullname.rsplit_once('.').map(|(ns, _)| ns.to_string())
}

/// Rewrites equivalent spellings into one form, keeping every attribute that carries meaning.
fn normalize_value(value: &Value, namespace: Option<&str>) -> Value {
    match value {
        Value::String(name) => Value::String(qualify(name, namespace)),
        Value::Array(branches) => Value::Array(
            branches
                .iter()
                .map(|b| normalize_value(b, namespace))
                .collect(),
        ),
        Value::Object(map) => normalize_object(map, namespace),
        other => other.clone(),
    }
}

fn normalize_object(map: &Map<String, Value>, namespace: Option<&str>) -> Value {
    let kind = map.get("type").and_then(Value::as_str).unwrap_or_default();
    if PRIMITIVES.contains(&kind) && map.len() == 1 {
        return Value::String(kind.to_string());
    }
    let mut out = Map::new();
    let mut inner_ns = namespace.map(str::to_string);
    if matches!(kind, "record" | "error" | "enum" | "fixed") {
        let own_ns = map
            .get("namespace")
            .and_then(Value::as_str)
            .or(namespace)
            .map(str::to_string);
        if let Some(name) = map.get("name").and_then(Value::as_str) {
            let full = qualify(name, own_ns.as_deref());
            inner_ns = namespace_of(&full);
            out.insert("name".into(), Value::String(full));
        }
    }
    for (key, item) in map {
        match key.as_str() {
            "name" if out.contains_key("name") => {}
            "namespace" if out.contains_key("name") => {}
            "fields" => {
                let fields = item
                    .as_array()
                    .map(|fs| {
                        fs.iter()
                            .map(|f| normalize_field(f, inner_ns.as_deref()))
                            .collect()
                    })
                    .unwrap_or_default();
                out.insert(key.clone(), Value::Array(fields));
            }
            "items" | "values" => {
                out.insert(key.clone(), normalize_value(item, inner_ns.as_deref()));
            }
            "type" if !PRIMITIVES.contains(&kind) && !item.is_string() => {
                out.insert(key.clone(), normalize_value(item, inner_ns.as_deref()));
            }
            _ => {
                out.insert(key.clone(), item.clone());
            }
        }
    }
    Value::Object(out)
}

fn normalize_field(field: &Value, namespace: Option<&str>) -> Value {
    let Some(map) = field.as_object() else {
        return field.clone();
    };
    let mut out = Map::new();
    for (key, item) in map {
        if key == "type" {
            out.insert(key.clone(), normalize_value(item, namespace));
        } else {
            out.insert(key.clone(), item.clone());
        }
    }
    Value::Object(out)
}

/// A stable GUID per schema identity (Confluent 8 returns one beside the numeric id).
pub fn guid(identity: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(identity.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    // Mark it as a name-based (v5-style) UUID so it is well-formed.
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(bytes).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"{"type":"record","name":"P","namespace":"lgma","fields":[{"name":"a","type":"string","pii":"direct"}]}"#;

    #[test]
    fn whitespace_and_key_order_do_not_change_identity() {
        let a = parse(BASE, false).unwrap();
        let b = parse(
            r#"{ "fields" : [ {"pii":"direct", "type":"string","name":"a"} ],
                "namespace":"lgma", "name":"P", "type":"record" }"#,
            false,
        )
        .unwrap();
        assert_eq!(a.identity, b.identity);
        assert_ne!(
            a.text, b.text,
            "the served text keeps the client's key order"
        );
    }

    #[test]
    fn custom_attributes_doc_default_and_aliases_change_identity() {
        let base = parse(BASE, false).unwrap().identity;
        for changed in [
            BASE.replace("\"direct\"", "\"indirect\""),
            BASE.replace(r#","pii":"direct""#, r#","pii":"direct","doc":"x""#),
            BASE.replace(r#","pii":"direct""#, r#","pii":"direct","default":"x""#),
            BASE.replace(r#","pii":"direct""#, r#","pii":"direct","aliases":["b"]"#),
        ] {
            let other = parse(&changed, false).unwrap().identity;
            assert_ne!(base, other, "{changed} must be a different schema");
        }
    }

    #[test]
    fn normalize_folds_namespaces_and_primitive_objects() {
        let a = parse(BASE, true).unwrap();
        let b = parse(
            r#"{"type":"record","name":"lgma.P","fields":[{"name":"a","type":{"type":"string"},"pii":"direct"}]}"#,
            true,
        )
        .unwrap();
        assert_eq!(a.identity, b.identity);
        let unnormalized = parse(
            r#"{"type":"record","name":"lgma.P","fields":[{"name":"a","type":{"type":"string"},"pii":"direct"}]}"#,
            false,
        )
        .unwrap();
        assert_ne!(a.identity, unnormalized.identity);
        // normalize keeps custom attributes
        assert!(a.text.contains("\"pii\":\"direct\""));
    }

    #[test]
    fn invalid_json_and_unknown_types_are_rejected() {
        assert!(matches!(
            parse("{not json", false),
            Err(Error::InvalidSchema(_))
        ));
        assert!(matches!(
            parse(
                r#"{"type":"record","name":"X","fields":[{"name":"a","type":"strnig"}]}"#,
                false
            ),
            Err(Error::InvalidSchema(_))
        ));
    }

    #[test]
    fn guid_is_stable_and_distinct() {
        let a = guid("x");
        assert_eq!(a, guid("x"));
        assert_ne!(a, guid("y"));
        assert_eq!(a.len(), 36);
    }
}
