//! The Eircode: a routing key (letter + two digits, or D6W) and a four-character unique identifier.

use std::sync::OnceLock;

use regex::Regex;

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

/// True if `eircode` is in stored form (see [`crate::compact_upper`]) and well formed.
pub fn is_valid(eircode: &str) -> bool {
    static STORED: OnceLock<Regex> = OnceLock::new();
    STORED
        .get_or_init(|| Regex::new(STORED_PATTERN).expect("constant regex compiles"))
        .is_match(eircode)
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
    fn field_and_text_patterns() {
        let re = Regex::new(PATTERN).expect("compiles");
        for good in ["D02 X285", "D6W1234", "A65F4E2", "T12 AC34"] {
            assert!(re.is_match(good), "{good}");
        }
        for bad in ["B12 3456", "D02 X28", "D6X1234", "d02x285"] {
            assert!(!re.is_match(bad), "{bad}");
        }
        let text = Regex::new(IN_TEXT_PATTERN).expect("compiles");
        let caps = text.captures("12 Main St, Dublin d02 x285").expect("found");
        assert_eq!(&caps[1], "d02");
    }
}
