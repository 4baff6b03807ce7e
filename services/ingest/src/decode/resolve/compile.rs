//! Compiling a resolution: pairing every writer field with its reader field (or skipping it),
//! reader defaults for the fields the writer lacks, promotions, enum symbols, unions; each reader
//! leaf mapped to its cell index. Done once per writer schema id.

use apache_avro::schema::{RecordSchema, ResolvedSchema, Schema, UuidSchema};

use super::{Conv, Node, Out, Read, Resolution};
use crate::decode::schema::{
    leaf_count, leaf_kind, Kind, ReaderSchema, Scalar, Text, ENVELOPE_FIELDS,
};

struct Compiler<'w> {
    names: &'w std::collections::HashMap<apache_avro::schema::Name, &'w Schema>,
}

impl Resolution {
    /// Pairs `writer` with our reader schema; `Err` means no record of this writer can be read.
    pub fn compile(writer: &Schema, reader: &ReaderSchema) -> Result<Self, String> {
        let resolved = ResolvedSchema::try_from(writer).map_err(|e| e.to_string())?;
        let compiler = Compiler {
            names: resolved.get_names(),
        };
        let Schema::Record(reader_top) = &reader.schema else {
            return Err("reader schema is not a record".into());
        };
        let writer_top = compiler.deref(writer)?;
        let Schema::Record(writer_top) = writer_top else {
            return Err("writer schema is not a record".into());
        };
        let root = compiler.top(writer_top, reader_top)?;
        Ok(Self {
            root,
            cells: reader.leaves.len(),
        })
    }
}

fn conv_of(reader: &Schema) -> Option<Conv> {
    if matches!(reader, Schema::Uuid(_)) {
        return Some(Conv::Uuid);
    }
    leaf_kind(reader).map(|(kind, _)| match kind {
        Kind::Bool => Conv::Bool,
        Kind::Int | Kind::Long => Conv::Int,
        Kind::Float | Kind::Double => Conv::Float,
        Kind::Str => Conv::Str,
        Kind::Date => Conv::Date,
        Kind::TimestampMillis => Conv::Ts,
    })
}

/// The primitive encoding of a writer type (None for complex types).
fn read_of(writer: &Schema) -> Option<Read> {
    Some(match writer {
        Schema::Null => Read::Null,
        Schema::Boolean => Read::Bool,
        Schema::Int | Schema::Date | Schema::TimeMillis => Read::Int,
        Schema::Long
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => Read::Long,
        Schema::Float => Read::Float,
        Schema::Double => Read::Double,
        Schema::Bytes | Schema::String | Schema::BigDecimal => Read::Bytes,
        Schema::Uuid(UuidSchema::String) | Schema::Uuid(UuidSchema::Bytes) => Read::Bytes,
        Schema::Uuid(UuidSchema::Fixed(f)) | Schema::Fixed(f) | Schema::Duration(f) => {
            Read::Fixed(f.size)
        }
        Schema::Decimal(d) => match &d.inner {
            apache_avro::schema::InnerDecimalSchema::Bytes => Read::Bytes,
            apache_avro::schema::InnerDecimalSchema::Fixed(f) => Read::Fixed(f.size),
        },
        _ => return None,
    })
}

/// Whether bytes read as `read` may become the reader cell `conv` (Avro promotions).
fn promotes(read: Read, conv: Conv) -> bool {
    matches!(
        (read, conv),
        (Read::Bool, Conv::Bool)
            | (Read::Int, Conv::Int | Conv::Float | Conv::Date | Conv::Ts)
            | (Read::Long, Conv::Int | Conv::Float | Conv::Ts)
            | (Read::Float | Read::Double, Conv::Float)
            | (Read::Bytes, Conv::Str | Conv::Uuid)
            | (Read::Fixed(16), Conv::Uuid)
    )
}

impl<'w> Compiler<'w> {
    fn deref<'a>(&'a self, schema: &'a Schema) -> Result<&'a Schema, String> {
        match schema {
            Schema::Ref { name } => self
                .names
                .get(name)
                .copied()
                .ok_or_else(|| format!("writer references unknown type {name}")),
            s => Ok(s),
        }
    }

    /// The envelope: fields before `payload` land in `env`, the payload's leaves in `cells`.
    fn top(&self, writer: &RecordSchema, reader: &RecordSchema) -> Result<Node, String> {
        let payload_pos = ENVELOPE_FIELDS.len() - 1;
        let mut fields = Vec::with_capacity(writer.fields.len());
        let mut seen = vec![false; reader.fields.len()];
        for wf in &writer.fields {
            match reader.fields.iter().position(|rf| rf.name == wf.name) {
                Some(j) if j < payload_pos => {
                    seen[j] = true;
                    fields.push(self.field(&wf.schema, &reader.fields[j].schema, Out::Env(j))?);
                }
                Some(j) if j == payload_pos => {
                    seen[j] = true;
                    let mut cursor = 0;
                    let node = self.node(&wf.schema, &reader.fields[j].schema, &mut cursor)?;
                    fields.push(mark_present(node));
                }
                _ => fields.push(self.skip(&wf.schema)?),
            }
        }
        let mut defaults = Vec::new();
        for (j, rf) in reader.fields.iter().enumerate() {
            if seen[j] {
                continue;
            }
            let default = rf.default.as_ref().ok_or_else(|| {
                format!("field `{}` missing from the writer, no default", rf.name)
            })?;
            if j < payload_pos {
                defaults.push((Out::Env(j), default_scalar(&rf.schema, default)?));
            } else if j == payload_pos {
                let mut cursor = 0;
                default_cells(&rf.schema, default, &mut cursor, &mut defaults)?;
            }
        }
        Ok(Node::Record { fields, defaults })
    }

    /// An envelope field: a single cell (possibly nullable).
    fn field(&self, writer: &Schema, reader: &Schema, out: Out) -> Result<Node, String> {
        let writer = self.deref(writer)?;
        if let Schema::Union(u) = writer {
            let branches = u
                .variants()
                .iter()
                .map(|b| self.field(b, reader, out).unwrap_or_else(Node::Fail))
                .collect();
            return Ok(Node::Union(branches));
        }
        if let Schema::Union(u) = reader {
            if matches!(writer, Schema::Null) {
                return Ok(Node::Prim {
                    read: Read::Null,
                    conv: Conv::Str,
                    out: Out::Discard,
                });
            }
            let inner = u
                .variants()
                .iter()
                .find(|v| !matches!(v, Schema::Null))
                .ok_or("reader union without a non-null branch")?;
            return self.field(writer, inner, out);
        }
        self.leaf(writer, reader, out)
    }

    fn leaf(&self, writer: &Schema, reader: &Schema, out: Out) -> Result<Node, String> {
        if let Schema::Enum(re) = reader {
            let Schema::Enum(we) = writer else {
                return Err(format!(
                    "writer {writer:?} cannot be read as enum {}",
                    re.name
                ));
            };
            let symbols = we
                .symbols
                .iter()
                .map(|s| {
                    if re.symbols.contains(s) {
                        Ok(Text::new(s))
                    } else {
                        re.default
                            .as_deref()
                            .map(Text::new)
                            .ok_or_else(|| format!("enum symbol {s} unknown to our schema"))
                    }
                })
                .collect();
            return Ok(Node::Enum { symbols, out });
        }
        let conv =
            conv_of(reader).ok_or_else(|| format!("reader type {reader:?} is not a leaf"))?;
        // A writer enum read as a string keeps its symbol.
        if let (Schema::Enum(we), Conv::Str) = (writer, conv) {
            return Ok(Node::Enum {
                symbols: we.symbols.iter().map(|s| Ok(Text::new(s))).collect(),
                out,
            });
        }
        let read =
            read_of(writer).ok_or_else(|| format!("writer type {writer:?} is not a leaf"))?;
        if !promotes(read, conv) {
            return Err(format!("writer {writer:?} cannot be read as {reader:?}"));
        }
        Ok(Node::Prim { read, conv, out })
    }

    /// A payload subtree: reader leaves are numbered from `cursor` (as `plan_for` numbers them).
    fn node(&self, writer: &Schema, reader: &Schema, cursor: &mut usize) -> Result<Node, String> {
        let writer = self.deref(writer)?;
        let start = *cursor;
        let width = leaf_count(reader);
        if let Schema::Union(u) = writer {
            let mut branches = Vec::with_capacity(u.variants().len());
            let mut any = false;
            for b in u.variants() {
                let mut c = start;
                match self.node(b, reader, &mut c) {
                    Ok(n) => {
                        any = true;
                        branches.push(n);
                    }
                    Err(e) => branches.push(Node::Fail(e)),
                }
            }
            if !any {
                return Err(format!("no branch of the writer union fits {reader:?}"));
            }
            *cursor = start + width;
            return Ok(Node::Union(branches));
        }
        let node = match reader {
            Schema::Union(u) => {
                if matches!(writer, Schema::Null) {
                    Node::Prim {
                        read: Read::Null,
                        conv: Conv::Str,
                        out: Out::Discard,
                    }
                } else {
                    let mut c = start;
                    let mut found = None;
                    for v in u.variants() {
                        if matches!(v, Schema::Null) {
                            continue;
                        }
                        found = Some(self.node(writer, v, &mut c)?);
                        break;
                    }
                    found.ok_or("reader union without a non-null branch")?
                }
            }
            Schema::Record(rr) => {
                let Schema::Record(wr) = writer else {
                    return Err(format!(
                        "writer {writer:?} cannot be read as record {}",
                        rr.name
                    ));
                };
                let mut starts = Vec::with_capacity(rr.fields.len());
                let mut at = start;
                for rf in &rr.fields {
                    starts.push(at);
                    at += leaf_count(&rf.schema);
                }
                let mut seen = vec![false; rr.fields.len()];
                let mut fields = Vec::with_capacity(wr.fields.len());
                for wf in &wr.fields {
                    match rr.fields.iter().position(|rf| rf.name == wf.name) {
                        Some(j) => {
                            seen[j] = true;
                            let mut c = starts[j];
                            fields.push(self.node(&wf.schema, &rr.fields[j].schema, &mut c)?);
                        }
                        None => fields.push(self.skip(&wf.schema)?),
                    }
                }
                let mut defaults = Vec::new();
                for (j, rf) in rr.fields.iter().enumerate() {
                    if seen[j] {
                        continue;
                    }
                    let default = rf.default.as_ref().ok_or_else(|| {
                        format!("field `{}` missing from the writer, no default", rf.name)
                    })?;
                    let mut c = starts[j];
                    default_cells(&rf.schema, default, &mut c, &mut defaults)?;
                }
                Node::Record { fields, defaults }
            }
            Schema::Array(ra) => {
                let Schema::Array(wa) = writer else {
                    return Err(format!("writer {writer:?} cannot be read as an array"));
                };
                let mut c = start;
                let item = self.node(&wa.items, &ra.items, &mut c)?;
                Node::Array {
                    item: Box::new(item),
                    collect: Some(start..start + width),
                }
            }
            // Types our layout does not keep: read past whatever the writer sent.
            Schema::Map(_)
            | Schema::Bytes
            | Schema::Fixed(_)
            | Schema::Decimal(_)
            | Schema::Null => self.skip(writer)?,
            other if leaf_kind(other).is_some() => self.leaf(writer, other, Out::Cell(start))?,
            _ => self.skip(writer)?,
        };
        *cursor = start + width;
        Ok(node)
    }

    /// Reads past a writer value nobody keeps.
    fn skip(&self, writer: &Schema) -> Result<Node, String> {
        let writer = self.deref(writer)?;
        Ok(match writer {
            Schema::Record(r) => Node::Record {
                fields: r
                    .fields
                    .iter()
                    .map(|f| self.skip(&f.schema))
                    .collect::<Result<_, _>>()?,
                defaults: Vec::new(),
            },
            Schema::Enum(_) => Node::Prim {
                read: Read::Long,
                conv: Conv::Int,
                out: Out::Discard,
            },
            Schema::Array(a) => Node::Array {
                item: Box::new(self.skip(&a.items)?),
                collect: None,
            },
            Schema::Map(m) => Node::Map(Box::new(self.skip(&m.types)?)),
            Schema::Union(u) => Node::Union(
                u.variants()
                    .iter()
                    .map(|v| self.skip(v))
                    .collect::<Result<_, _>>()?,
            ),
            other => Node::Prim {
                read: read_of(other).ok_or_else(|| format!("cannot skip {other:?}"))?,
                conv: Conv::Str,
                out: Out::Discard,
            },
        })
    }
}

fn mark_present(node: Node) -> Node {
    match node {
        Node::Union(branches) => Node::Union(
            branches
                .into_iter()
                .map(|b| match b {
                    b @ (Node::Prim {
                        read: Read::Null, ..
                    }
                    | Node::Fail(_)) => b,
                    b => Node::Present(Box::new(b)),
                })
                .collect(),
        ),
        n @ Node::Prim {
            read: Read::Null, ..
        } => n,
        n => Node::Present(Box::new(n)),
    }
}

/// A JSON default as one cell of the reader type.
fn default_scalar(reader: &Schema, json: &serde_json::Value) -> Result<Scalar, String> {
    if json.is_null() {
        return Ok(Scalar::Null);
    }
    let reader = match reader {
        // A union's default is of its first branch.
        Schema::Union(u) => u.variants().first().ok_or("empty union")?,
        r => r,
    };
    let conv = conv_of(reader).ok_or_else(|| format!("default {json} for {reader:?}"))?;
    let bad = || format!("default {json} does not fit {reader:?}");
    Ok(match conv {
        Conv::Bool => Scalar::Bool(json.as_bool().ok_or_else(bad)?),
        Conv::Int => Scalar::Int(json.as_i64().ok_or_else(bad)?),
        Conv::Float => Scalar::Float(json.as_f64().ok_or_else(bad)?),
        Conv::Str | Conv::Uuid => Scalar::Str(Text::new(json.as_str().ok_or_else(bad)?)),
        Conv::Date => Scalar::Date(
            json.as_i64()
                .and_then(|d| i32::try_from(d).ok())
                .ok_or_else(bad)?,
        ),
        Conv::Ts => Scalar::Ts(json.as_i64().ok_or_else(bad)?),
    })
}

/// The cells a reader field's JSON default fills (leaves numbered from `cursor`).
fn default_cells(
    reader: &Schema,
    json: &serde_json::Value,
    cursor: &mut usize,
    out: &mut Vec<(Out, Scalar)>,
) -> Result<(), String> {
    let start = *cursor;
    let width = leaf_count(reader);
    *cursor = start + width;
    if json.is_null() || width == 0 {
        return Ok(()); // cells start as Null
    }
    match (reader, json) {
        (Schema::Union(u), _) => {
            let first = u.variants().first().ok_or("empty union")?;
            let mut c = start;
            default_cells(first, json, &mut c, out)
        }
        (Schema::Record(r), serde_json::Value::Object(map)) => {
            let mut c = start;
            for f in &r.fields {
                match map.get(&f.name).or(f.default.as_ref()) {
                    Some(v) => default_cells(&f.schema, v, &mut c, out)?,
                    None => c += leaf_count(&f.schema),
                }
            }
            Ok(())
        }
        (Schema::Array(a), serde_json::Value::Array(items)) => {
            if items.is_empty() {
                for i in start..start + width {
                    out.push((Out::Cell(i), Scalar::List(Vec::new())));
                }
                return Ok(());
            }
            if width != 1 {
                return Err("non-empty defaults for arrays of records are not supported".into());
            }
            let list = items
                .iter()
                .map(|v| default_scalar(&a.items, v))
                .collect::<Result<_, _>>()?;
            out.push((Out::Cell(start), Scalar::List(list)));
            Ok(())
        }
        (other, v) => {
            out.push((Out::Cell(start), default_scalar(other, v)?));
            Ok(())
        }
    }
}
