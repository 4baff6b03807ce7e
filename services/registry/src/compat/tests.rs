//! The compatibility matrix: evolutions that must pass and must fail at each level.

use super::*;

fn rec(fields: &str) -> Schema {
    Schema::parse_str(&format!(
        r#"{{"type":"record","name":"Presentation","namespace":"lgma","fields":[{fields}]}}"#
    ))
    .unwrap()
}

const V1: &str = r#"{"name":"id","type":"string"},{"name":"adults","type":"int"}"#;

fn ok(writer: &Schema, reader: &Schema) -> bool {
    can_read(writer, reader).is_empty()
}

/// (description, old, new, backward_ok, forward_ok)
fn cases() -> Vec<(&'static str, Schema, Schema, bool, bool)> {
    let v1 = rec(V1);
    vec![
        (
            "add field with default",
            v1.clone(),
            rec(&format!(
                r#"{V1},{{"name":"gender","type":"string","default":"U"}}"#
            )),
            true,
            true,
        ),
        (
            "add field without default",
            v1.clone(),
            rec(&format!(r#"{V1},{{"name":"gender","type":"string"}}"#)),
            false,
            true,
        ),
        (
            "add optional field with null default",
            v1.clone(),
            rec(&format!(
                r#"{V1},{{"name":"note","type":["null","string"],"default":null}}"#
            )),
            true,
            true,
        ),
        (
            "remove field that had a default",
            rec(&format!(
                r#"{V1},{{"name":"gender","type":"string","default":"U"}}"#
            )),
            v1.clone(),
            true,
            true,
        ),
        (
            "remove field without default",
            v1.clone(),
            rec(r#"{"name":"id","type":"string"}"#),
            true,
            false,
        ),
        (
            "change type string to int",
            v1.clone(),
            rec(r#"{"name":"id","type":"int"},{"name":"adults","type":"int"}"#),
            false,
            false,
        ),
        (
            "promote int to long",
            v1.clone(),
            rec(r#"{"name":"id","type":"string"},{"name":"adults","type":"long"}"#),
            true,
            false,
        ),
        (
            "promote int to double",
            v1.clone(),
            rec(r#"{"name":"id","type":"string"},{"name":"adults","type":"double"}"#),
            true,
            false,
        ),
        (
            "string to bytes",
            v1.clone(),
            rec(r#"{"name":"id","type":"bytes"},{"name":"adults","type":"int"}"#),
            true,
            true,
        ),
        (
            "widen to optional union",
            v1.clone(),
            rec(r#"{"name":"id","type":["null","string"]},{"name":"adults","type":"int"}"#),
            true,
            false,
        ),
        (
            "rename field with alias",
            v1.clone(),
            rec(
                r#"{"name":"presentation_id","type":"string","aliases":["id"]},{"name":"adults","type":"int"}"#,
            ),
            true,
            false,
        ),
        (
            "rename field without alias",
            v1.clone(),
            rec(r#"{"name":"presentation_id","type":"string"},{"name":"adults","type":"int"}"#),
            false,
            false,
        ),
        (
            "change doc only",
            v1.clone(),
            rec(r#"{"name":"id","type":"string","doc":"the id"},{"name":"adults","type":"int"}"#),
            true,
            true,
        ),
        (
            "add pii tag only",
            v1.clone(),
            rec(r#"{"name":"id","type":"string","pii":"direct"},{"name":"adults","type":"int"}"#),
            true,
            true,
        ),
        (
            "add enum symbol",
            rec(r#"{"name":"t","type":{"type":"enum","name":"T","symbols":["NEW","REPEAT"]}}"#),
            rec(
                r#"{"name":"t","type":{"type":"enum","name":"T","symbols":["NEW","REPEAT","TRANSFER"]}}"#,
            ),
            true,
            false,
        ),
        (
            "add enum symbol with reader default",
            rec(
                r#"{"name":"t","type":{"type":"enum","name":"T","symbols":["NEW","REPEAT","UNKNOWN"],"default":"UNKNOWN"}}"#,
            ),
            rec(
                r#"{"name":"t","type":{"type":"enum","name":"T","symbols":["NEW","REPEAT","UNKNOWN","TRANSFER"],"default":"UNKNOWN"}}"#,
            ),
            true,
            true,
        ),
        (
            "rename record",
            rec(V1),
            Schema::parse_str(&format!(
                r#"{{"type":"record","name":"Other","namespace":"lgma","fields":[{V1}]}}"#
            ))
            .unwrap(),
            false,
            false,
        ),
        (
            "change namespace only",
            rec(V1),
            Schema::parse_str(&format!(
                r#"{{"type":"record","name":"Presentation","namespace":"other","fields":[{V1}]}}"#
            ))
            .unwrap(),
            true,
            true,
        ),
        (
            "fixed size change",
            rec(r#"{"name":"h","type":{"type":"fixed","name":"H","size":16}}"#),
            rec(r#"{"name":"h","type":{"type":"fixed","name":"H","size":32}}"#),
            false,
            false,
        ),
        (
            "array item promotion",
            rec(r#"{"name":"xs","type":{"type":"array","items":"int"}}"#),
            rec(r#"{"name":"xs","type":{"type":"array","items":"long"}}"#),
            true,
            false,
        ),
        (
            "map value type change",
            rec(r#"{"name":"m","type":{"type":"map","values":"string"}}"#),
            rec(r#"{"name":"m","type":{"type":"map","values":"boolean"}}"#),
            false,
            false,
        ),
        (
            "add union branch",
            rec(r#"{"name":"v","type":["null","string"]}"#),
            rec(r#"{"name":"v","type":["null","string","long"]}"#),
            true,
            false,
        ),
        (
            "timestamp-millis on long stays long",
            rec(r#"{"name":"at","type":"long"}"#),
            rec(r#"{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}}"#),
            true,
            true,
        ),
    ]
}

#[test]
fn matrix_backward_and_forward() {
    for (name, old, new, backward, forward) in cases() {
        assert_eq!(
            ok(&old, &new),
            backward,
            "BACKWARD: {name}: {:?}",
            can_read(&old, &new)
        );
        assert_eq!(
            ok(&new, &old),
            forward,
            "FORWARD: {name}: {:?}",
            can_read(&new, &old)
        );
    }
}

#[test]
fn levels_combine_directions() {
    let text = "x";
    for (name, old, new, backward, forward) in cases() {
        let prev = [Previous {
            version: 1,
            schema: &old,
            deps: &[],
            text,
        }];
        let at = |level| check(&new, &prev, level).is_empty();
        assert!(at(Level::None), "{name}");
        assert_eq!(at(Level::Backward), backward, "{name}");
        assert_eq!(at(Level::BackwardTransitive), backward, "{name}");
        assert_eq!(at(Level::Forward), forward, "{name}");
        assert_eq!(at(Level::ForwardTransitive), forward, "{name}");
        assert_eq!(at(Level::Full), backward && forward, "{name}");
        assert_eq!(at(Level::FullTransitive), backward && forward, "{name}");
    }
}

#[test]
fn transitive_checks_every_version_not_just_the_latest() {
    // v1 {id}, v2 {id, x default}, v3 {id, x without default}: v3 reads v2 data but not v1 data.
    let v1 = rec(r#"{"name":"id","type":"string"}"#);
    let v2 = rec(r#"{"name":"id","type":"string"},{"name":"x","type":"int","default":0}"#);
    let v3 = rec(r#"{"name":"id","type":"string"},{"name":"x","type":"int"}"#);
    let prev = [
        Previous {
            version: 1,
            schema: &v1,
            deps: &[],
            text: "v1",
        },
        Previous {
            version: 2,
            schema: &v2,
            deps: &[],
            text: "v2",
        },
    ];
    assert!(check(&v3, &prev, Level::Backward).is_empty());
    let msgs = check(&v3, &prev, Level::BackwardTransitive);
    assert!(
        msgs.iter()
            .any(|m| m.contains("READER_FIELD_MISSING_DEFAULT_VALUE")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter().any(|m| m.contains("oldSchemaVersion: 1")),
        "{msgs:?}"
    );
}

#[test]
fn verbose_messages_name_the_field_and_location() {
    let old = rec(V1);
    let new = rec(&format!(r#"{V1},{{"name":"gender","type":"string"}}"#));
    let found = can_read(&old, &new);
    assert_eq!(
        found,
        vec![Incompatibility {
            kind: "READER_FIELD_MISSING_DEFAULT_VALUE",
            location: "/fields/2".into(),
            message: "gender".into()
        }]
    );
}

#[test]
fn recursive_types_terminate() {
    let s = Schema::parse_str(
        r#"{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"],"default":null}]}"#,
    )
    .unwrap();
    assert!(can_read(&s, &s).is_empty());
}

#[test]
fn reference_resolves_against_inline_definition() {
    // writer references T defined earlier; reader defines it inline at the second use.
    let writer = rec(
        r#"{"name":"a","type":{"type":"enum","name":"T","symbols":["X"]}},{"name":"b","type":"T"}"#,
    );
    let reader = rec(
        r#"{"name":"b","type":{"type":"enum","name":"T","symbols":["X"]}},{"name":"a","type":"T"}"#,
    );
    assert!(
        can_read(&writer, &reader).is_empty(),
        "{:?}",
        can_read(&writer, &reader)
    );
}

#[test]
fn apache_avro_agrees_on_the_clear_cases() {
    use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};
    // Where the library says Full, we must also say compatible; where it errors, we must too.
    for (name, old, new, backward, _) in cases() {
        match SchemaCompatibility::can_read(&old, &new) {
            Ok(Compatibility::Full) => {
                assert!(backward, "{name}: library Full, we say incompatible")
            }
            Err(_) => assert!(!backward, "{name}: library error, we say compatible"),
            Ok(Compatibility::Partial) => {
                assert!(!backward, "{name}: partial means some data fails")
            }
        }
    }
}

#[test]
fn level_parsing() {
    assert_eq!(
        Level::parse("full_transitive").unwrap(),
        Level::FullTransitive
    );
    assert!(matches!(
        Level::parse("SOMETIMES"),
        Err(Error::InvalidCompatibilityLevel)
    ));
}

/// Documents where apache-avro 0.22's checker falls short, which is why `can_read` exists.
#[test]
fn apache_avro_gaps_that_our_checker_covers() {
    use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};
    // 1. A missing enum symbol is only "Partial" (no reason, no location); we report it precisely.
    let old = rec(r#"{"name":"t","type":{"type":"enum","name":"T","symbols":["A","B"]}}"#);
    let new = rec(r#"{"name":"t","type":{"type":"enum","name":"T","symbols":["A"]}}"#);
    assert_eq!(
        SchemaCompatibility::can_read(&old, &new).ok(),
        Some(Compatibility::Partial)
    );
    let ours = can_read(&old, &new);
    assert_eq!(ours.len(), 1);
    assert_eq!(
        (
            ours[0].kind,
            ours[0].location.as_str(),
            ours[0].message.as_str()
        ),
        ("MISSING_ENUM_SYMBOLS", "/fields/0/type/symbols", "[B]")
    );
    // 2. Named-type reference vs inline definition in the other schema.
    let writer = rec(
        r#"{"name":"a","type":{"type":"enum","name":"T","symbols":["X"]}},{"name":"b","type":"T"}"#,
    );
    let reader = rec(
        r#"{"name":"b","type":{"type":"enum","name":"T","symbols":["X"]}},{"name":"a","type":"T"}"#,
    );
    let library = SchemaCompatibility::can_read(&writer, &reader);
    assert!(
        library.is_err(),
        "apache-avro 0.22 wrongly calls these incompatible: {library:?}"
    );
    assert!(can_read(&writer, &reader).is_empty());
}
