//! Format rules from domain.md the publisher must respect (and the simulator deliberately breaks).

use std::sync::OnceLock;

use regex::Regex;

const PPSN_LETTERS: &[u8; 23] = b"WABCDEFGHIJKLMNOPQRSTUV";

/// The check letter for seven digits and an optional 9th character (A=1..H=8, W or none=0).
pub fn ppsn_check_letter(digits: &[u8; 7], ninth: Option<char>) -> char {
    let weighted: u32 = digits
        .iter()
        .zip((2..=8).rev())
        .map(|(d, w)| u32::from(*d) * w)
        .sum();
    let ninth_value = match ninth {
        Some(c @ 'A'..='H') => c as u32 - 'A' as u32 + 1,
        _ => 0,
    };
    PPSN_LETTERS[((weighted + 9 * ninth_value) % 23) as usize] as char
}

/// True if `ppsn` has the PPSN format and a correct check letter.
pub fn ppsn_is_valid(ppsn: &str) -> bool {
    static FORMAT: OnceLock<Regex> = OnceLock::new();
    let format = FORMAT.get_or_init(|| Regex::new(r"^\d{7}[A-W][ABHWTX]?$").expect("static regex"));
    if !format.is_match(ppsn) {
        return false;
    }
    let bytes = ppsn.as_bytes();
    let mut digits = [0u8; 7];
    for (d, b) in digits.iter_mut().zip(bytes) {
        *d = b - b'0';
    }
    let ninth = bytes.get(8).map(|b| *b as char);
    ppsn_check_letter(&digits, ninth) == bytes[7] as char
}

/// Eircode in storage form: 7 uppercase characters, no space.
pub fn eircode_is_valid(eircode: &str) -> bool {
    static FORMAT: OnceLock<Regex> = OnceLock::new();
    FORMAT
        .get_or_init(|| {
            Regex::new(r"^(?:[AC-FHKNPRTV-Y][0-9]{2}|D6W)[0-9AC-FHKNPRTV-Y]{4}$")
                .expect("static regex")
        })
        .is_match(eircode)
}

/// Normalises a user-typed Eircode (`d02 x285` → `D02X285`) before validation.
pub fn normalise_eircode(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_md_examples() {
        assert!(ppsn_is_valid("6433435F"));
        assert!(ppsn_is_valid("6433435OA"));
        assert!(ppsn_is_valid("6433435IH"));
        assert!(!ppsn_is_valid("6433435G"));
        assert!(!ppsn_is_valid("6433435FA"));
        assert!(!ppsn_is_valid("643343F"));
    }

    #[test]
    fn eircodes() {
        assert!(eircode_is_valid("D02X285"));
        assert!(eircode_is_valid("D6WXY12"));
        assert!(eircode_is_valid(&normalise_eircode("a65 f4e2")));
        assert!(!eircode_is_valid("B12X285"));
        assert!(!eircode_is_valid("D02 X285"));
        assert!(!eircode_is_valid("D02X28"));
    }
}
