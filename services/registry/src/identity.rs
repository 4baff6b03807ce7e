//! Schema identity.
//!
//! Two registrations are "the same schema" when they describe the same Avro schema with the same
//! attributes, as Confluent decides it: Confluent compares `AvroSchema.canonicalString()` (Avro's
//! own `Schema.toString()`), which writes every name relative to its enclosing namespace and a
//! primitive without attributes as a bare string, but keeps `doc`, defaults, aliases and custom
//! attributes. So our identity is the schema with every name resolved to its full name, primitive
//! objects without attributes folded to strings and keys sorted recursively: a record written with
//! names inheriting the enclosing namespace and the same record with explicit namespaces are one
//! schema, while a change to `doc`, a default, aliases or a custom attribute (our `pii` tags) is a
//! new schema. We deliberately do NOT use Avro's Parsing Canonical Form: it drops exactly those
//! attributes. `normalize=true` stores and serves the resolved form instead of the client's text.

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
    /// Names resolved, primitive objects folded, keys sorted: equal iff the schemas are "the same".
    pub identity: String,
    /// The client's JSON with keys sorted (what identity was before names were resolved; the store
    /// keeps "one id per exact text" on this, so logs written by earlier versions replay unchanged).
    pub raw_identity: String,
    pub avro: Schema,
    /// The schemas this one references (transitively), parsed: named types `avro` refers to.
    pub deps: Vec<Schema>,
}

/// Parses and validates `raw` (optionally normalising it). Invalid JSON or Avro gives 42201.
pub fn parse(raw: &str, normalize: bool) -> Result<ParsedSchema> {
    parse_with(raw, normalize, &[])
}

/// Like [`parse`], resolving named types against `deps`: the texts of the referenced schemas.
pub fn parse_with(raw: &str, normalize: bool, deps: &[String]) -> Result<ParsedSchema> {
    let value: Value = serde_json::from_str(raw)
        .map_err(|e| Error::InvalidSchema(format!("Invalid schema: not valid JSON: {e}")))?;
    let raw_identity = sorted(&value).to_string();
    let value = if normalize {
        normalize_value(&value, None)
    } else {
        value
    };
    let text = value.to_string();
    let (avro, deps) = if deps.is_empty() {
        let avro = Schema::parse_str(&text)
            .map_err(|e| Error::InvalidSchema(format!("Invalid schema {text}: {e}")))?;
        (avro, Vec::new())
    } else {
        Schema::parse_str_with_list(&text, deps).map_err(|e| {
            Error::InvalidSchema(format!("Invalid schema {text} with references: {e}"))
        })?
    };
    let identity = canonical_identity(&value);
    Ok(ParsedSchema {
        text,
        identity,
        raw_identity,
        avro,
        deps,
    })
}

/// Identity of a schema's JSON: names resolved, primitive objects folded, keys sorted.
pub fn canonical_identity(value: &Value) -> String {
    sorted(&normalize_value(value, None)).to_string()
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
    if map.len() == 1 {
        if let Some(inner) = map.get("type") {
            // `{"type": "string"}`, `{"type": "Address"}`, `{"type": {...}}`: just the type.
            return normalize_value(inner, namespace);
        }
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
            // Aliases of a named type are names too, relative to its namespace.
            "aliases" if out.contains_key("name") => {
                let aliases = item
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|alias| match alias.as_str() {
                                Some(n) => Value::String(qualify(n, inner_ns.as_deref())),
                                None => alias.clone(),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.insert(key.clone(), Value::Array(aliases));
            }
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
        // Identity resolves names either way; normalize changes the stored text.
        assert_eq!(a.identity, unnormalized.identity);
        assert_ne!(a.text, unnormalized.text);
        assert_eq!(a.text, b.text);
        // normalize keeps custom attributes
        assert!(a.text.contains("\"pii\":\"direct\""));
    }

    /// Mirrors Confluent's identity (`MD5.ofSchema` over `AvroSchema.canonicalString()`, i.e.
    /// Avro's `Schema.toString()`, which writes names relative to the enclosing namespace): the
    /// same schema written with inherited names and with explicit namespaces is ONE schema, for
    /// records, arrays, maps, unions, grandchildren and mixed spellings.
    #[test]
    fn inherited_and_explicit_namespaces_are_one_schema() {
        let pairs = [
            // nested record
            (
                r#"{"type":"record","name":"P","namespace":"lgma","fields":[{"name":"a","type":{"type":"record","name":"A","fields":[{"name":"x","type":"int"}]}}]}"#,
                r#"{"type":"record","name":"P","namespace":"lgma","fields":[{"name":"a","type":{"type":"record","name":"A","namespace":"lgma","fields":[{"name":"x","type":"int"}]}}]}"#,
            ),
            // full names instead of namespace, and a reference by short name vs full name
            (
                r#"{"type":"record","name":"P","namespace":"lgma","fields":[{"name":"a","type":{"type":"enum","name":"E","symbols":["X"]}},{"name":"b","type":"E"}]}"#,
                r#"{"type":"record","name":"lgma.P","fields":[{"name":"a","type":{"type":"enum","name":"lgma.E","symbols":["X"]}},{"name":"b","type":"lgma.E"}]}"#,
            ),
            // array items and map values
            (
                r#"{"type":"record","name":"P","namespace":"lgma","fields":[{"name":"a","type":{"type":"array","items":{"type":"record","name":"I","fields":[]}}},{"name":"m","type":{"type":"map","values":{"type":"fixed","name":"F","size":2}}}]}"#,
                r#"{"type":"record","name":"P","namespace":"lgma","fields":[{"name":"a","type":{"type":"array","items":{"type":"record","name":"I","namespace":"lgma","fields":[]}}},{"name":"m","type":{"type":"map","values":{"type":"fixed","name":"lgma.F","size":2}}}]}"#,
            ),
            // union branches
            (
                r#"{"type":"record","name":"P","namespace":"lgma","fields":[{"name":"u","type":["null",{"type":"record","name":"U","fields":[]}]}]}"#,
                r#"{"type":"record","name":"P","namespace":"lgma","fields":[{"name":"u","type":["null",{"type":"record","name":"U","namespace":"lgma","fields":[]}]}]}"#,
            ),
            // grandchild inherits the child's explicit namespace
            (
                r#"{"type":"record","name":"P","namespace":"lgma","fields":[{"name":"c","type":{"type":"record","name":"C","namespace":"other","fields":[{"name":"g","type":{"type":"record","name":"G","fields":[]}}]}}]}"#,
                r#"{"type":"record","name":"P","namespace":"lgma","fields":[{"name":"c","type":{"type":"record","name":"other.C","fields":[{"name":"g","type":{"type":"record","name":"G","namespace":"other","fields":[]}}]}}]}"#,
            ),
            // mixed: primitive objects without attributes are the bare primitive
            (
                r#"{"type":"record","name":"P","namespace":"lgma","fields":[{"name":"s","type":{"type":"string"}},{"name":"r","type":{"type":"record","name":"R","fields":[]}}]}"#,
                r#"{"namespace":"lgma","type":"record","name":"lgma.P","fields":[{"name":"s","type":"string"},{"name":"r","type":{"type":"record","name":"lgma.R","fields":[]}}]}"#,
            ),
        ];
        for (a, b) in pairs {
            let (pa, pb) = (parse(a, false).unwrap(), parse(b, false).unwrap());
            assert_eq!(pa.identity, pb.identity, "\n{a}\n{b}");
            assert_ne!(pa.raw_identity, pb.raw_identity);
            assert_eq!(
                pa.text,
                a.replace(' ', ""),
                "served text stays the client's"
            );
        }
        // A different namespace really is a different schema.
        let other = parse(&BASE.replace("\"lgma\"", "\"other\""), false).unwrap();
        assert_ne!(parse(BASE, false).unwrap().identity, other.identity);
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
