//! The checks as they were before they became byte-level (regexes, upper-case copies), kept as
//! the oracle of `tests/old_vs_new.rs` and the baseline of `benches/rules.rs`. Never in the
//! library.

#![allow(dead_code)]

use std::sync::OnceLock;

use lgma_domain::{compact_upper, eircode};
use regex::Regex;

fn field() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(eircode::PATTERN).expect("constant regex compiles"))
}

fn stored() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(eircode::STORED_PATTERN).expect("constant regex compiles"))
}

/// The old `eircode::is_valid`.
pub fn eircode_is_valid(s: &str) -> bool {
    stored().is_match(s)
}

/// The format rule's regex (`PATTERN`) on a field.
pub fn eircode_is_field(s: &str) -> bool {
    field().is_match(s)
}

/// Ingest's Eircode format rule before: trim, upper-case copy, regex, `compact_upper` copy.
pub fn eircode_typed(raw: &str) -> Option<String> {
    let candidate = raw.trim().to_ascii_uppercase();
    field()
        .is_match(&candidate)
        .then(|| compact_upper(&candidate))
}

/// Ingest's routing key from free text before: [`eircode::IN_TEXT_PATTERN`]'s first match, its
/// first three characters upper-cased.
pub fn routing_key_in_text(text: &str) -> Option<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re =
        RE.get_or_init(|| Regex::new(eircode::IN_TEXT_PATTERN).expect("constant regex compiles"));
    re.captures(text).map(|c| c[1].to_ascii_uppercase())
}

/// The old `ppsn::is_valid` (stored form).
pub fn ppsn_is_valid(ppsn: &str) -> bool {
    let bytes = ppsn.as_bytes();
    if !(bytes.len() == 8 || bytes.len() == 9) || !bytes[..7].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let check = bytes[7];
    if !(b'A'..=b'W').contains(&check) {
        return false;
    }
    let ninth = bytes.get(8).map(|b| *b as char);
    if !matches!(ninth, None | Some('A' | 'B' | 'H' | 'W' | 'T' | 'X')) {
        return false;
    }
    let mut digits = [0u8; 7];
    for (d, b) in digits.iter_mut().zip(bytes) {
        *d = b - b'0';
    }
    lgma_domain::ppsn::check_letter(&digits, ninth) == check as char
}

/// Ingest's PPSN rule before: `compact_upper` copy, then the stored-form check.
pub fn ppsn_typed(raw: &str) -> bool {
    ppsn_is_valid(&compact_upper(raw))
}
