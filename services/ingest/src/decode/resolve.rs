//! Writer -> reader resolution, compiled ONCE per writer schema id, then run per record.
//!
//! The generic path (`decode::reference::decode_body`) builds an apache-avro `Value` tree in the writer's
//! shape (a `String` per field name), resolves it into our reader schema (a name map per record)
//! and walks it again to flatten it into cells. A [`Resolution`] does the schema work once: it pairs
//! every writer field with its reader field (or marks it skipped), computes the reader defaults of
//! fields the writer lacks, and maps each reader leaf to its cell index. Decoding a record is then
//! one pass over the Avro bytes straight into `Vec<Scalar>`: no per-record schema lookup, no map,
//! and no allocation except the string cells themselves.
//!
//! Resolution follows the Avro spec rules the service relies on: fields matched by name, writer
//! fields our schema does not know skipped (never decoded into a cell), reader fields the writer
//! lacks filled from the reader default (no default: the writer is incompatible and every record of
//! it is quarantined as `envelope.decode`), numeric promotions (int -> long/float/double, long ->
//! float/double, float -> double), string <-> bytes, enum symbols by name (reader default for unknown
//! symbols), unions on either side.

use std::ops::Range;

use apache_avro::schema::{RecordSchema, ResolvedSchema, Schema, UuidSchema};

use crate::decode::schema::{leaf_kind, Kind, ReaderSchema, Scalar, ENVELOPE_FIELDS};
use crate::decode::DecodeFailure;

/// A record decoded into our reader layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The eight envelope fields before `payload`, as `ReaderSchema::flatten` (the reference path) returns them.
    pub envelope: Vec<Scalar>,
    /// One cell per reader payload leaf (`ReaderSchema::leaves`).
    pub cells: Vec<Scalar>,
    /// Whether the record carried a payload (DELETEs may not).
    pub has_payload: bool,
}

/// The compiled pairing of one writer schema with one reader schema.
#[derive(Debug)]
pub struct Resolution {
    root: Node,
    cells: usize,
}

#[derive(Debug, Clone, Copy)]
enum Out {
    Env(usize),
    Cell(usize),
    Discard,
}

/// How the writer's bytes are read.
#[derive(Debug, Clone, Copy)]
enum Read {
    Null,
    Bool,
    Int,
    Long,
    Float,
    Double,
    /// Length-prefixed bytes or string.
    Bytes,
    Fixed(usize),
}

/// Which cell the reader's type makes of it.
#[derive(Debug, Clone, Copy)]
enum Conv {
    Bool,
    Int,
    Float,
    Str,
    Uuid,
    Date,
    Ts,
}

#[derive(Debug)]
enum Node {
    Prim {
        read: Read,
        conv: Conv,
        out: Out,
    },
    /// Writer symbol index -> reader symbol (or why it cannot be read).
    Enum {
        symbols: Vec<Result<String, String>>,
        out: Out,
    },
    Record {
        fields: Vec<Node>,
        /// Reader fields the writer lacks: their default cells, set after the writer's fields.
        defaults: Vec<(Out, Scalar)>,
    },
    Union(Vec<Node>),
    Array {
        item: Box<Node>,
        /// Reader leaves collected into lists (None: the array is skipped).
        collect: Option<Range<usize>>,
    },
    Map(Box<Node>),
    /// The payload is present (sets `has_payload`), then decodes `inner`.
    Present(Box<Node>),
    /// A writer branch that cannot be read into our schema: an error if a record takes it.
    Fail(String),
}

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

    /// Decodes one Avro body (without the Confluent framing) into our layout.
    pub fn decode(&self, body: &[u8]) -> Result<Decoded, DecodeFailure> {
        let mut state = State {
            env: vec![Scalar::Null; ENVELOPE_FIELDS.len() - 1],
            cells: vec![Scalar::Null; self.cells],
            has_payload: false,
        };
        let mut cursor = Cursor { buf: body, pos: 0 };
        run(&self.root, &mut cursor, &mut state).map_err(DecodeFailure::Body)?;
        if cursor.pos != body.len() {
            return Err(DecodeFailure::Body(format!(
                "{} trailing bytes after the record",
                body.len() - cursor.pos
            )));
        }
        Ok(Decoded {
            envelope: state.env,
            cells: state.cells,
            has_payload: state.has_payload,
        })
    }
}

/// How many payload leaves a reader type contributes (exactly as `schema::plan_for` counts).
fn leaves_of(reader: &Schema) -> usize {
    match reader {
        Schema::Record(r) => r.fields.iter().map(|f| leaves_of(&f.schema)).sum(),
        Schema::Union(u) => u.variants().iter().map(leaves_of).sum(),
        Schema::Array(a) => leaves_of(&a.items),
        Schema::Map(_)
        | Schema::Bytes
        | Schema::Fixed(_)
        | Schema::Decimal(_)
        | Schema::Null
        | Schema::Ref { .. } => 0,
        other => usize::from(leaf_kind(other).is_some()),
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
                        Ok(s.clone())
                    } else {
                        re.default
                            .clone()
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
                symbols: we.symbols.iter().map(|s| Ok(s.clone())).collect(),
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
        let width = leaves_of(reader);
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
                    at += leaves_of(&rf.schema);
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
        Conv::Str | Conv::Uuid => Scalar::Str(json.as_str().ok_or_else(bad)?.to_string()),
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
    let width = leaves_of(reader);
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
                    None => c += leaves_of(&f.schema),
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

struct State {
    env: Vec<Scalar>,
    cells: Vec<Scalar>,
    has_payload: bool,
}

impl State {
    fn put(&mut self, out: Out, value: Scalar) {
        match out {
            Out::Env(i) => {
                if let Some(c) = self.env.get_mut(i) {
                    *c = value;
                }
            }
            Out::Cell(i) => {
                if let Some(c) = self.cells.get_mut(i) {
                    *c = value;
                }
            }
            Out::Discard => {}
        }
    }
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

const EOF: &str = "unexpected end of the Avro body";

impl<'a> Cursor<'a> {
    fn long(&mut self) -> Result<i64, String> {
        let mut value: u64 = 0;
        let mut shift = 0;
        loop {
            let byte = *self.buf.get(self.pos).ok_or(EOF)?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return Err("varint longer than 10 bytes".into());
            }
        }
        Ok(((value >> 1) as i64) ^ -((value & 1) as i64))
    }

    fn int(&mut self) -> Result<i64, String> {
        let v = self.long()?;
        i32::try_from(v).map_err(|_| format!("int out of range: {v}"))?;
        Ok(v)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).ok_or(EOF)?;
        let bytes = self.buf.get(self.pos..end).ok_or(EOF)?;
        self.pos = end;
        Ok(bytes)
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = self.long()?;
        let len = usize::try_from(len).map_err(|_| format!("negative length {len}"))?;
        self.take(len)
    }

    /// A block count of an array or map (a negative count is followed by the block's byte size).
    fn block(&mut self) -> Result<usize, String> {
        let n = self.long()?;
        if n < 0 {
            self.long()?;
        }
        usize::try_from(n.unsigned_abs()).map_err(|_| "block too large".to_string())
    }
}

fn run(node: &Node, cur: &mut Cursor<'_>, st: &mut State) -> Result<(), String> {
    match node {
        Node::Prim { read, conv, out } => {
            let value = match read {
                Read::Null => return Ok(()),
                Read::Bool => match cur.take(1)?[0] {
                    0 => Scalar::Bool(false),
                    1 => Scalar::Bool(true),
                    b => return Err(format!("invalid boolean byte {b}")),
                },
                Read::Int | Read::Long => {
                    let v = if matches!(read, Read::Int) {
                        cur.int()?
                    } else {
                        cur.long()?
                    };
                    if matches!(out, Out::Discard) {
                        return Ok(());
                    }
                    match conv {
                        Conv::Float => Scalar::Float(v as f64),
                        Conv::Date => Scalar::Date(v as i32),
                        Conv::Ts => Scalar::Ts(v),
                        _ => Scalar::Int(v),
                    }
                }
                Read::Float => {
                    let b = cur.take(4)?;
                    Scalar::Float(f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                }
                Read::Double => {
                    let b = cur.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    Scalar::Float(f64::from_le_bytes(a))
                }
                Read::Bytes | Read::Fixed(_) => {
                    let b = match read {
                        Read::Fixed(n) => cur.take(*n)?,
                        _ => cur.bytes()?,
                    };
                    if matches!(out, Out::Discard) {
                        return Ok(());
                    }
                    match conv {
                        Conv::Uuid if b.len() == 16 => Scalar::Str(
                            uuid::Uuid::from_slice(b)
                                .map_err(|e| e.to_string())?
                                .to_string(),
                        ),
                        Conv::Uuid => {
                            let s = std::str::from_utf8(b).map_err(|e| e.to_string())?;
                            Scalar::Str(
                                uuid::Uuid::parse_str(s)
                                    .map_err(|e| format!("invalid uuid: {e}"))?
                                    .to_string(),
                            )
                        }
                        _ => Scalar::Str(
                            std::str::from_utf8(b)
                                .map_err(|e| format!("invalid UTF-8: {e}"))?
                                .to_string(),
                        ),
                    }
                }
            };
            st.put(*out, value);
            Ok(())
        }
        Node::Enum { symbols, out } => {
            let i = cur.long()?;
            let symbol = usize::try_from(i)
                .ok()
                .and_then(|i| symbols.get(i))
                .ok_or_else(|| format!("enum index {i} out of range"))?;
            match symbol {
                Ok(s) => {
                    st.put(*out, Scalar::Str(s.clone()));
                    Ok(())
                }
                Err(e) => Err(e.clone()),
            }
        }
        Node::Record { fields, defaults } => {
            for f in fields {
                run(f, cur, st)?;
            }
            for (out, value) in defaults {
                st.put(*out, value.clone());
            }
            Ok(())
        }
        Node::Union(branches) => {
            let i = cur.long()?;
            let branch = usize::try_from(i)
                .ok()
                .and_then(|i| branches.get(i))
                .ok_or_else(|| format!("union index {i} out of range"))?;
            run(branch, cur, st)
        }
        Node::Array { item, collect } => {
            let range = collect.clone().unwrap_or(0..0);
            let mut lists: Vec<Vec<Scalar>> = vec![Vec::new(); range.len()];
            loop {
                let n = cur.block()?;
                if n == 0 {
                    break;
                }
                for _ in 0..n {
                    run(item, cur, st)?;
                    for (list, i) in lists.iter_mut().zip(range.clone()) {
                        if let Some(c) = st.cells.get_mut(i) {
                            list.push(std::mem::replace(c, Scalar::Null));
                        }
                    }
                }
            }
            for (list, i) in lists.into_iter().zip(range) {
                st.put(Out::Cell(i), Scalar::List(list));
            }
            Ok(())
        }
        Node::Map(value) => loop {
            let n = cur.block()?;
            if n == 0 {
                return Ok(());
            }
            for _ in 0..n {
                cur.bytes()?;
                run(value, cur, st)?;
            }
        },
        Node::Present(inner) => {
            st.has_payload = true;
            run(inner, cur, st)
        }
        Node::Fail(e) => Err(e.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::reference::decode_body;
    use crate::decode::schema::tests::{encode, event, old_writer_schema, payload, TEST_SCHEMA};

    /// Same cells as the generic apache-avro path (decode_body + flatten), for the same writer.
    #[test]
    fn agrees_with_the_generic_path() {
        let reader = ReaderSchema::parse("t", TEST_SCHEMA).expect("reader");
        let writer = Schema::parse_str(TEST_SCHEMA).expect("writer");
        let plan = Resolution::compile(&writer, &reader).expect("compiles");
        for value in [event(Some(payload(false)), false), event(None, false)] {
            let body = encode(&writer, value);
            let generic = decode_body(&writer, &reader, &body).expect("generic");
            let (env, cells) = reader.flatten(&generic).expect("flattens");
            let fast = plan.decode(&body).expect("fast");
            assert_eq!(fast.envelope, env);
            assert_eq!(fast.cells, cells);
            assert_eq!(fast.has_payload, ReaderSchema::has_payload(&generic));
        }
    }

    /// An older writer: lacks `tags` (reader default []) and has fields we do not know (skipped),
    /// also a top-level one after the payload.
    #[test]
    fn old_writer_resolves_with_defaults_and_skips_unknown_fields() {
        let reader = ReaderSchema::parse("t", TEST_SCHEMA).expect("reader");
        let writer = old_writer_schema(true);
        let plan = Resolution::compile(&writer, &reader).expect("compiles");
        let body = encode(&writer, event(Some(payload(true)), true));
        let d = plan.decode(&body).expect("decodes");
        assert_eq!(
            d.envelope[0],
            Scalar::Str(uuid::Uuid::from_u128(0x1234).to_string())
        );
        assert_eq!(d.envelope[1], Scalar::Str("UPDATE".into()));
        assert_eq!(d.envelope[3], Scalar::Int(3));
        assert_eq!(d.envelope[6], Scalar::Ts(1_700_000_000_000));
        assert_eq!(d.cells[0], Scalar::Str("6433435F".into()));
        assert_eq!(d.cells[2], Scalar::Date(7000));
        assert_eq!(d.cells[3], Scalar::Null);
        assert_eq!(d.cells[6], Scalar::Int(2));
        assert_eq!(d.cells[9], Scalar::Float(12.5));
        assert_eq!(d.cells[10], Scalar::List(vec![]));
        assert!(d.has_payload);
        assert!(!format!("{d:?}").contains("leak"));
        let truncated = plan.decode(&body[..body.len() / 2]);
        assert!(truncated.is_err());
        let mut longer = body.clone();
        longer.push(0);
        assert!(plan.decode(&longer).is_err(), "trailing bytes");
    }

    #[test]
    fn incompatible_writer_does_not_compile() {
        let reader = ReaderSchema::parse("t", TEST_SCHEMA).expect("reader");
        let writer = Schema::parse_str(&TEST_SCHEMA.replace(
            r#"{"name": "entity_id", "type": "string"}"#,
            r#"{"name": "entity_idx", "type": "string"}"#,
        ))
        .expect("writer");
        assert!(Resolution::compile(&writer, &reader).is_err());
    }
}
