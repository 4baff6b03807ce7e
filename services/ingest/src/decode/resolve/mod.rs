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

use crate::decode::schema::{Scalar, Text, ENVELOPE_FIELDS};
use crate::decode::DecodeFailure;

mod compile;

/// A record decoded into our reader layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The eight envelope fields before `payload`, as `ReaderSchema::flatten` (the reference path)
    /// returns them (inline: no allocation per record).
    pub envelope: [Scalar; ENVELOPE_CELLS],
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
        symbols: Vec<Result<Text, String>>,
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

impl Resolution {
    /// Decodes one Avro body (without the Confluent framing) into our layout.
    pub fn decode(&self, body: &[u8]) -> Result<Decoded, DecodeFailure> {
        let mut state = State {
            env: Default::default(),
            // Not `vec![Scalar::Null; n]`: that clones the first cell n - 1 times.
            cells: std::iter::repeat_with(|| Scalar::Null)
                .take(self.cells)
                .collect(),
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

/// The envelope's cells: every envelope field but `payload`.
pub const ENVELOPE_CELLS: usize = ENVELOPE_FIELDS.len() - 1;

struct State {
    env: [Scalar; ENVELOPE_CELLS],
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

/// A UUID in its canonical text (lower-case, hyphenated), formatted on the stack.
fn uuid_text(id: uuid::Uuid) -> Text {
    let mut buf = uuid::Uuid::encode_buffer();
    Text::new(id.hyphenated().encode_lower(&mut buf))
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
                        Conv::Uuid if b.len() == 16 => Scalar::Str(uuid_text(
                            uuid::Uuid::from_slice(b).map_err(|e| e.to_string())?,
                        )),
                        Conv::Uuid => {
                            let s = std::str::from_utf8(b).map_err(|e| e.to_string())?;
                            Scalar::Str(uuid_text(
                                uuid::Uuid::parse_str(s)
                                    .map_err(|e| format!("invalid uuid: {e}"))?,
                            ))
                        }
                        _ => Scalar::Str(Text::new(
                            std::str::from_utf8(b).map_err(|e| format!("invalid UTF-8: {e}"))?,
                        )),
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
    use crate::decode::schema::ReaderSchema;
    use apache_avro::Schema;

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
            assert_eq!(fast.envelope.to_vec(), env);
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
            Scalar::Str(uuid::Uuid::from_u128(0x1234).to_string().into())
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
