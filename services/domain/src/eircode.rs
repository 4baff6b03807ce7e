//! The Eircode: a routing key (letter + two digits, or D6W) and a four-character unique identifier.
//!
//! The checks are byte-level and allocation-free (ingest runs them on every Eircode it judges and
//! every address it generalises): no regex, no upper-case copy. The patterns stay as text: they
//! are the specification `tests/old_vs_new.rs` holds the byte-level checks to, and a council's
//! own format rule may still be a pattern.

macro_rules! routing_key {
    () => {
        "(?:[AC-FHKNPRTV-Y][0-9]{2}|D6W)"
    };
}
macro_rules! unique_id {
    () => {
        "[0-9AC-FHKNPRTV-Y]{4}"
    };
}

/// Letters a routing key may start with.
pub const ROUTING_LETTERS: &[u8] = b"ACDEFHKNPRTVWXY";
/// Characters of the unique identifier.
pub const UNIQUE_CHARS: &[u8] = b"0123456789ACDEFHKNPRTVWXY";

/// A whole field: uppercase, with or without the space.
pub const PATTERN: &str = concat!("^", routing_key!(), " ?", unique_id!(), "$");
/// The stored form: 7 uppercase characters, no space.
pub const STORED_PATTERN: &str = concat!("^", routing_key!(), unique_id!(), "$");
/// An Eircode inside free text, any case; group 1 is the routing key.
pub const IN_TEXT_PATTERN: &str = concat!(r"(?i)\b(", routing_key!(), ") ?", unique_id!(), r"\b");

/// `[AC-FHKNPRTV-Y]`: a routing key's letter.
const fn is_routing_letter(b: u8) -> bool {
    matches!(
        b,
        b'A' | b'C'..=b'F' | b'H' | b'K' | b'N' | b'P' | b'R' | b'T' | b'V'..=b'Y'
    )
}

/// `[0-9AC-FHKNPRTV-Y]`: a unique identifier's character.
const fn is_unique_char(b: u8) -> bool {
    b.is_ascii_digit() || is_routing_letter(b)
}

/// The routing key `[AC-FHKNPRTV-Y][0-9]{2}` or `D6W`, uppercase.
fn is_routing_key(key: [u8; 3]) -> bool {
    (is_routing_letter(key[0]) && key[1].is_ascii_digit() && key[2].is_ascii_digit())
        || key == *b"D6W"
}

/// Routing key and unique identifier, uppercase, no space.
fn is_stored(code: &[u8; 7]) -> bool {
    is_routing_key([code[0], code[1], code[2]]) && code[3..].iter().all(|b| is_unique_char(*b))
}

/// An Eircode in stored form: 7 uppercase ASCII characters, no space. Lives on the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Eircode([u8; 7]);

impl Eircode {
    pub fn as_str(&self) -> &str {
        // Only built from bytes `is_stored` accepted: ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The routing key (`D02`, `D6W`, `A65`...).
    pub fn routing_key(&self) -> &str {
        &self.as_str()[..3]
    }

    /// An Eircode as a council typed it: surrounding whitespace and case do not matter, one space
    /// may separate the routing key from the identifier. `None` if it is not an Eircode.
    ///
    /// Gives the answer of trimming, upper-casing, matching [`PATTERN`] and then
    /// [`crate::compact_upper`] (what ingest's format rule did), without a copy on the heap.
    pub fn parse(typed: &str) -> Option<Self> {
        let bytes = typed.trim().as_bytes();
        let mut code = [0u8; 7];
        match bytes.len() {
            7 => code.copy_from_slice(bytes),
            8 if bytes[3] == b' ' => {
                code[..3].copy_from_slice(&bytes[..3]);
                code[3..].copy_from_slice(&bytes[4..]);
            }
            _ => return None,
        }
        code.make_ascii_uppercase();
        is_stored(&code).then_some(Self(code))
    }
}

impl std::fmt::Display for Eircode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first Eircode in free text (an address as typed): what [`IN_TEXT_PATTERN`] finds, without
/// a regex. Case does not matter, one space may separate the routing key from the identifier
/// ([`Eircode::parse`] judges each candidate), and the code must stand as a word of its own
/// (Unicode word boundaries, as `\b` in the pattern). One difference: the pattern's
/// case-insensitive `K` also matches the Kelvin sign (U+212A); this does not, as no council types
/// one in an Eircode.
pub fn find_in_text(text: &str) -> Option<Eircode> {
    let bytes = text.as_bytes();
    // A match is 7 or 8 ASCII bytes; every start is an ASCII byte, hence a char boundary.
    for start in 0..bytes.len().saturating_sub(6) {
        let rest = &bytes[start..];
        // Most bytes of an address fail on the first or second byte: skipped before parsing.
        if !is_routing_letter(rest[0].to_ascii_uppercase())
            || !(rest[1].is_ascii_digit() || rest[1] == b'6')
        {
            continue;
        }
        let end = start + if rest[3] == b' ' { 8 } else { 7 };
        let Some(code) = text.get(start..end).and_then(Eircode::parse) else {
            continue;
        };
        let word = |c: Option<char>| c.is_some_and(regex_syntax::is_word_character);
        if !word(text[..start].chars().next_back()) && !word(text[end..].chars().next()) {
            return Some(code);
        }
    }
    None
}

/// True if `eircode` is in stored form (see [`crate::compact_upper`]) and well formed: the
/// answer of [`STORED_PATTERN`].
pub fn is_valid(eircode: &str) -> bool {
    <&[u8; 7]>::try_from(eircode.as_bytes()).is_ok_and(is_stored)
}

/// True if `field` is a whole Eircode, uppercase, with or without the space: the answer of
/// [`PATTERN`].
pub fn is_field(field: &str) -> bool {
    let bytes = field.as_bytes();
    match bytes.len() {
        7 => is_valid(field),
        8 => {
            bytes[3] == b' '
                && is_routing_key([bytes[0], bytes[1], bytes[2]])
                && bytes[4..].iter().all(|b| is_unique_char(*b))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compact_upper;

    #[test]
    fn stored_form() {
        assert!(is_valid("D02X285"));
        assert!(is_valid("D6WXY12"));
        assert!(is_valid(&compact_upper("a65 f4e2")));
        assert!(!is_valid("B12X285"));
        assert!(!is_valid("D02 X285"));
        assert!(!is_valid("D02X28"));
    }

    #[test]
    fn whole_field() {
        for good in ["D02 X285", "D6W1234", "A65F4E2", "T12 AC34"] {
            assert!(is_field(good), "{good}");
        }
        for bad in ["B12 3456", "D02 X28", "D6X1234", "d02x285", "D02  X285", ""] {
            assert!(!is_field(bad), "{bad}");
        }
    }

    #[test]
    fn typed_form_is_trimmed_and_upper_cased() {
        let e = Eircode::parse("  d02 x285\t").expect("an Eircode");
        assert_eq!(e.as_str(), "D02X285");
        assert_eq!(e.routing_key(), "D02");
        assert_eq!(
            Eircode::parse("d6wxy12").map(|e| e.to_string()),
            Some("D6WXY12".into())
        );
        for bad in [
            "D02  X285",
            "D02-X285",
            "B12 3456",
            "D02 X28",
            "D02 X2850",
            "é02 X285",
        ] {
            assert_eq!(Eircode::parse(bad), None, "{bad}");
        }
    }
}
