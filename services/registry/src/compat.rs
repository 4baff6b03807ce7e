//! Compatibility levels and an Avro schema-resolution checker.
//!
//! apache-avro 0.22's `SchemaCompatibility` reports enum/union gaps only as a "partial" match,
//! gives no location, and does not resolve a named-type reference against an inline definition
//! in the other schema. Confluent reports each incompatibility with a type and a JSON-pointer-like
//! location, so this module implements the Avro spec's resolution rules itself (reader = the
//! schema that decodes, writer = the schema the bytes were written with).

use std::collections::HashSet;
use std::fmt;

use apache_avro::schema::{Name, NamesRef, ResolvedSchema};
use apache_avro::Schema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Level {
    None,
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
}

impl Level {
    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text.to_ascii_uppercase().as_str() {
            "NONE" => Level::None,
            "BACKWARD" => Level::Backward,
            "BACKWARD_TRANSITIVE" => Level::BackwardTransitive,
            "FORWARD" => Level::Forward,
            "FORWARD_TRANSITIVE" => Level::ForwardTransitive,
            "FULL" => Level::Full,
            "FULL_TRANSITIVE" => Level::FullTransitive,
            _ => return Err(Error::InvalidCompatibilityLevel),
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "NONE",
            Level::Backward => "BACKWARD",
            Level::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Level::Forward => "FORWARD",
            Level::ForwardTransitive => "FORWARD_TRANSITIVE",
            Level::Full => "FULL",
            Level::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    fn transitive(self) -> bool {
        matches!(
            self,
            Level::BackwardTransitive | Level::ForwardTransitive | Level::FullTransitive
        )
    }

    /// (new schema must read old data, old schema must read new data)
    fn directions(self) -> (bool, bool) {
        match self {
            Level::None => (false, false),
            Level::Backward | Level::BackwardTransitive => (true, false),
            Level::Forward | Level::ForwardTransitive => (false, true),
            Level::Full | Level::FullTransitive => (true, true),
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reason two schemas do not resolve, in Confluent's vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incompatibility {
    pub kind: &'static str,
    pub location: String,
    pub message: String,
}

impl fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Incompatibility{{type:{}, location:{}, message:{}}}",
            self.kind, self.location, self.message
        )
    }
}

/// An existing version to check against (oldest first).
pub struct Previous<'a> {
    pub version: u32,
    pub schema: &'a Schema,
    /// Schemas `schema` references (named types defined in other subjects' versions).
    pub deps: &'a [Schema],
    pub text: &'a str,
}

/// Checks `new` against `previous` (ordered oldest → newest) at `level`. Empty result: compatible.
/// Messages follow Confluent's verbose format (one incompatibility per line plus context lines).
pub fn check(new: &Schema, previous: &[Previous<'_>], level: Level) -> Vec<String> {
    check_with(new, &[], previous, level)
}

/// [`check`] for a new schema that references the named types in `new_deps`.
pub fn check_with(
    new: &Schema,
    new_deps: &[Schema],
    previous: &[Previous<'_>],
    level: Level,
) -> Vec<String> {
    let (backward, forward) = level.directions();
    if !backward && !forward {
        return Vec::new();
    }
    let targets: Vec<&Previous<'_>> = if level.transitive() {
        previous.iter().rev().collect()
    } else {
        previous.last().into_iter().collect()
    };
    let mut messages = Vec::new();
    for old in targets {
        let mut found = Vec::new();
        if backward {
            found.extend(can_read_with(old.schema, old.deps, new, new_deps));
        }
        if forward {
            found.extend(can_read_with(new, new_deps, old.schema, old.deps));
        }
        if !found.is_empty() {
            messages.extend(found.iter().map(ToString::to_string));
            messages.push(format!("{{oldSchemaVersion: {}}}", old.version));
            messages.push(format!("{{oldSchema: '{}'}}", old.text));
            messages.push(format!("{{compatibility: '{level}'}}"));
        }
    }
    messages
}

/// Can data written with `writer` be read with `reader`? Returns every reason it cannot.
pub fn can_read(writer: &Schema, reader: &Schema) -> Vec<Incompatibility> {
    can_read_with(writer, &[], reader, &[])
}

/// [`can_read`] where each schema may use named types defined in its referenced schemas.
pub fn can_read_with(
    writer: &Schema,
    writer_deps: &[Schema],
    reader: &Schema,
    reader_deps: &[Schema],
) -> Vec<Incompatibility> {
    // Definitions before use: apache-avro resolves the list in order.
    let w_all: Vec<&Schema> = writer_deps.iter().chain(std::iter::once(writer)).collect();
    let r_all: Vec<&Schema> = reader_deps.iter().chain(std::iter::once(reader)).collect();
    let (Ok(w_names), Ok(r_names)) = (
        ResolvedSchema::try_from(w_all),
        ResolvedSchema::try_from(r_all),
    ) else {
        return vec![Incompatibility {
            kind: "TYPE_MISMATCH",
            location: "/".into(),
            message: "a named type reference could not be resolved".into(),
        }];
    };
    let mut checker = Checker {
        writer_names: w_names.get_names(),
        reader_names: r_names.get_names(),
        in_progress: HashSet::new(),
        out: Vec::new(),
    };
    checker.check(writer, reader, "");
    checker.out
}

/// The kind data is encoded as: logical types resolve as their underlying Avro type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Fixed,
    Other,
}

fn kind(schema: &Schema) -> Kind {
    use apache_avro::schema::{DecimalSchema, InnerDecimalSchema, UuidSchema};
    match schema {
        Schema::Null => Kind::Null,
        Schema::Boolean => Kind::Boolean,
        Schema::Int | Schema::Date | Schema::TimeMillis => Kind::Int,
        Schema::Long
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => Kind::Long,
        Schema::Float => Kind::Float,
        Schema::Double => Kind::Double,
        Schema::Bytes
        | Schema::BigDecimal
        | Schema::Uuid(UuidSchema::Bytes)
        | Schema::Decimal(DecimalSchema {
            inner: InnerDecimalSchema::Bytes,
            ..
        }) => Kind::Bytes,
        Schema::String | Schema::Uuid(UuidSchema::String) => Kind::String,
        Schema::Fixed(_)
        | Schema::Duration(_)
        | Schema::Uuid(UuidSchema::Fixed(_))
        | Schema::Decimal(DecimalSchema {
            inner: InnerDecimalSchema::Fixed(_),
            ..
        }) => Kind::Fixed,
        _ => Kind::Other,
    }
}

fn promotable(writer: Kind, reader: Kind) -> bool {
    use Kind::*;
    writer == reader && writer != Fixed && writer != Other
        || matches!(
            (writer, reader),
            (Int, Long | Float | Double)
                | (Long, Float | Double)
                | (Float, Double)
                | (String, Bytes)
                | (Bytes, String)
        )
}

fn type_name(schema: &Schema) -> String {
    match schema {
        Schema::Record(r) => format!("record {}", r.name.fullname(None)),
        Schema::Enum(e) => format!("enum {}", e.name.fullname(None)),
        Schema::Fixed(f) => format!("fixed {}", f.name.fullname(None)),
        Schema::Array(_) => "array".into(),
        Schema::Map(_) => "map".into(),
        Schema::Union(_) => "union".into(),
        other => format!("{:?}", kind(other)).to_lowercase(),
    }
}

struct Checker<'a> {
    writer_names: &'a NamesRef<'a>,
    reader_names: &'a NamesRef<'a>,
    /// (writer name, reader name) pairs being checked: recursive types terminate here.
    in_progress: HashSet<(String, String)>,
    out: Vec<Incompatibility>,
}

impl<'a> Checker<'a> {
    fn resolve<'s>(names: &'a NamesRef<'a>, schema: &'s Schema) -> &'s Schema
    where
        'a: 's,
    {
        match schema {
            Schema::Ref { name } => names
                .get(name)
                .copied()
                .or_else(|| lookup_by_fullname(names, name))
                .unwrap_or(schema),
            other => other,
        }
    }

    fn push(&mut self, kind: &'static str, location: &str, message: String) {
        self.out.push(Incompatibility {
            kind,
            location: if location.is_empty() {
                "/".into()
            } else {
                location.into()
            },
            message,
        });
    }

    /// Does `r` (after alias resolution) name the same type as `w`? Unqualified names as Avro Java does.
    fn names_match(
        w: &Name,
        r: &Name,
        r_aliases: Option<&Vec<apache_avro::schema::Alias>>,
    ) -> bool {
        w.name() == r.name()
            || r_aliases.is_some_and(|aliases| {
                aliases
                    .iter()
                    .any(|a| a.name() == w.name() || a.fullname(None) == w.fullname(None))
            })
    }

    fn check(&mut self, writer: &Schema, reader: &Schema, path: &str) {
        let w = Self::resolve(self.writer_names, writer);
        let r = Self::resolve(self.reader_names, reader);
        match (w, r) {
            (Schema::Union(wu), _) => {
                for (i, branch) in wu.variants().iter().enumerate() {
                    let before = self.out.len();
                    let mut probe = self.sub();
                    probe.check(branch, r, &format!("{path}/{i}"));
                    if !probe.out.is_empty() {
                        self.out.truncate(before);
                        self.push(
                            "MISSING_UNION_BRANCH",
                            &format!("{path}/{i}"),
                            format!("reader union lacking writer type: {}", type_name(branch)),
                        );
                    }
                }
            }
            (_, Schema::Union(ru)) => {
                let matched = ru.variants().iter().any(|branch| {
                    let mut probe = self.sub();
                    probe.check(w, branch, path);
                    probe.out.is_empty()
                });
                if !matched {
                    self.push(
                        "MISSING_UNION_BRANCH",
                        path,
                        format!("reader union lacking writer type: {}", type_name(w)),
                    );
                }
            }
            (Schema::Record(wr), Schema::Record(rr)) => {
                if !Self::names_match(&wr.name, &rr.name, rr.aliases.as_ref()) {
                    self.push(
                        "NAME_MISMATCH",
                        &format!("{path}/name"),
                        format!("expected: {}", wr.name.fullname(None)),
                    );
                    return;
                }
                let key = (wr.name.fullname(None), rr.name.fullname(None));
                if !self.in_progress.insert(key.clone()) {
                    return;
                }
                for (i, rf) in rr.fields.iter().enumerate() {
                    let wf = std::iter::once(&rf.name)
                        .chain(rf.aliases.iter())
                        .find_map(|n| wr.fields.iter().find(|wf| &wf.name == n));
                    match wf {
                        Some(wf) => {
                            self.check(&wf.schema, &rf.schema, &format!("{path}/fields/{i}/type"))
                        }
                        None if rf.default.is_none() => self.push(
                            "READER_FIELD_MISSING_DEFAULT_VALUE",
                            &format!("{path}/fields/{i}"),
                            rf.name.clone(),
                        ),
                        None => {}
                    }
                }
                self.in_progress.remove(&key);
            }
            (Schema::Enum(we), Schema::Enum(re)) => {
                if !Self::names_match(&we.name, &re.name, re.aliases.as_ref()) {
                    self.push(
                        "NAME_MISMATCH",
                        &format!("{path}/name"),
                        format!("expected: {}", we.name.fullname(None)),
                    );
                    return;
                }
                let missing: Vec<&String> = we
                    .symbols
                    .iter()
                    .filter(|s| !re.symbols.contains(s))
                    .collect();
                if !missing.is_empty() && re.default.is_none() {
                    let list: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
                    self.push(
                        "MISSING_ENUM_SYMBOLS",
                        &format!("{path}/symbols"),
                        format!("[{}]", list.join(", ")),
                    );
                }
            }
            (Schema::Array(wa), Schema::Array(ra)) => {
                self.check(&wa.items, &ra.items, &format!("{path}/items"))
            }
            (Schema::Map(wm), Schema::Map(rm)) => {
                self.check(&wm.types, &rm.types, &format!("{path}/values"))
            }
            (w, r) if kind(w) == Kind::Fixed && kind(r) == Kind::Fixed => {
                let (Some(wf), Some(rf)) = (fixed_of(w), fixed_of(r)) else {
                    return;
                };
                if !Self::names_match(&wf.name, &rf.name, rf.aliases.as_ref()) {
                    self.push(
                        "NAME_MISMATCH",
                        &format!("{path}/name"),
                        format!("expected: {}", wf.name.fullname(None)),
                    );
                } else if wf.size != rf.size {
                    self.push(
                        "FIXED_SIZE_MISMATCH",
                        &format!("{path}/size"),
                        format!("expected: {}, found: {}", wf.size, rf.size),
                    );
                }
            }
            (w, r) => {
                if !promotable(kind(w), kind(r)) {
                    self.push(
                        "TYPE_MISMATCH",
                        path,
                        format!(
                            "reader type: {} not compatible with writer type: {}",
                            type_name(r),
                            type_name(w)
                        ),
                    );
                }
            }
        }
    }

    fn sub(&self) -> Checker<'a> {
        Checker {
            writer_names: self.writer_names,
            reader_names: self.reader_names,
            in_progress: self.in_progress.clone(),
            out: Vec::new(),
        }
    }
}

fn lookup_by_fullname<'a>(names: &NamesRef<'a>, name: &Name) -> Option<&'a Schema> {
    let wanted = name.fullname(None);
    names
        .iter()
        .find(|(n, _)| n.fullname(None) == wanted)
        .map(|(_, s)| *s)
}

fn fixed_of(schema: &Schema) -> Option<&apache_avro::schema::FixedSchema> {
    use apache_avro::schema::{DecimalSchema, InnerDecimalSchema, UuidSchema};
    match schema {
        Schema::Fixed(f) | Schema::Duration(f) | Schema::Uuid(UuidSchema::Fixed(f)) => Some(f),
        Schema::Decimal(DecimalSchema {
            inner: InnerDecimalSchema::Fixed(f),
            ..
        }) => Some(f),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
