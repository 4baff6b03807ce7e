//! The Confluent wire format: a zero magic byte, a big-endian 4-byte schema id, then the Avro body.
//!
//! Every Confluent client (Java, Python, .NET, Go, Rust) frames records this way, so publishers need no
//! library of ours to talk to the platform.

use crate::{Error, Result};

pub const MAGIC_BYTE: u8 = 0;
pub const HEADER_LEN: usize = 5;

/// A borrowed view of a framed message: no copy of the body is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framed<'a> {
    pub schema_id: u32,
    pub body: &'a [u8],
}

/// Splits a Confluent-framed message into schema id and Avro body.
pub fn decode(bytes: &[u8]) -> Result<Framed<'_>> {
    match bytes {
        [] => Err(Error::EmptyMessage),
        [first, ..] if *first != MAGIC_BYTE => Err(Error::BadMagic { found: *first }),
        _ if bytes.len() < HEADER_LEN => Err(Error::TooShort { len: bytes.len() }),
        _ => {
            let id = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
            Ok(Framed {
                schema_id: id,
                body: &bytes[HEADER_LEN..],
            })
        }
    }
}

/// Appends the header and body to `out`, so a caller can reuse one buffer per batch.
pub fn encode_into(schema_id: u32, body: &[u8], out: &mut Vec<u8>) {
    out.reserve(HEADER_LEN + body.len());
    out.push(MAGIC_BYTE);
    out.extend_from_slice(&schema_id.to_be_bytes());
    out.extend_from_slice(body);
}

pub fn encode(schema_id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    encode_into(schema_id, body, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_empty_short_and_unframed() {
        assert!(matches!(decode(&[]), Err(Error::EmptyMessage)));
        assert!(matches!(
            decode(&[0, 0, 1]),
            Err(Error::TooShort { len: 3 })
        ));
        assert!(matches!(
            decode(b"{\"json\":1}"),
            Err(Error::BadMagic { found: b'{' })
        ));
    }

    #[test]
    fn reads_big_endian_id() {
        let framed = decode(&[0, 0, 0, 1, 2, 9, 9]).expect("framed");
        assert_eq!(framed.schema_id, 258);
        assert_eq!(framed.body, &[9, 9]);
    }

    proptest! {
        #[test]
        fn round_trips(id in any::<u32>(), body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let bytes = encode(id, &body);
            let framed = decode(&bytes).expect("own encoding decodes");
            prop_assert_eq!(framed.schema_id, id);
            prop_assert_eq!(framed.body, &body[..]);
        }
    }
}
