//! The PPSN: seven digits, a check letter and an optional 9th character (domain.md §5).

/// Check letters by weighted sum modulo 23.
const LETTERS: &[u8; 23] = b"WABCDEFGHIJKLMNOPQRSTUV";

/// The value of a 9th character in the check sum: A=1 .. H=8; W, T, X or none count 0.
fn ninth_value(ninth: Option<char>) -> u32 {
    match ninth {
        Some(c @ 'A'..='H') => c as u32 - 'A' as u32 + 1,
        _ => 0,
    }
}

/// The check letter for seven digits (0..=9 each) and an optional 9th character.
pub fn check_letter(digits: &[u8; 7], ninth: Option<char>) -> char {
    let weighted: u32 = digits
        .iter()
        .zip((2..=8).rev())
        .map(|(d, w)| u32::from(*d) * w)
        .sum();
    LETTERS[((weighted + 9 * ninth_value(ninth)) % 23) as usize] as char
}

/// A PPSN as a person typed it: whitespace anywhere and case do not matter. The answer of
/// `is_valid(&compact_upper(typed))`, without the copy: the (at most 9) kept characters are
/// upper-cased into a stack buffer; a longer or non-ASCII input is not a PPSN.
pub fn is_valid_typed(typed: &str) -> bool {
    let mut buf = [0u8; 9];
    let mut len = 0;
    for c in typed.chars().filter(|c| !c.is_whitespace()) {
        if !c.is_ascii() || len == buf.len() {
            return false;
        }
        buf[len] = (c as u8).to_ascii_uppercase();
        len += 1;
    }
    is_valid_bytes(&buf[..len])
}

/// True if `ppsn` (stored form: no spaces, uppercase) is 7 digits, a check letter A..W and an
/// optional 9th character A, B, H, W, T or X, and the check letter is right.
pub fn is_valid(ppsn: &str) -> bool {
    is_valid_bytes(ppsn.as_bytes())
}

fn is_valid_bytes(bytes: &[u8]) -> bool {
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
    check_letter(&digits, ninth) == check as char
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_md_examples() {
        for good in ["6433435F", "6433435OA", "6433435IH"] {
            assert!(is_valid(good), "{good}");
        }
        for bad in [
            "6433435G",
            "6433435E",
            "6433435FA",
            "643343F",
            "6433435FZ",
            "ABCDEFGH",
            "",
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
        assert_eq!(check_letter(&[6, 4, 3, 3, 4, 3, 5], None), 'F');
    }

    #[test]
    fn typed_form_ignores_whitespace_and_case() {
        for good in [
            "6433435F",
            "6433435OA",
            "6433435IH",
            " 6433435 f ",
            "643 3435 oa",
            "6433435\u{a0}IH",
        ] {
            assert!(is_valid_typed(good), "{good:?}");
        }
        for bad in [
            "6433435E",
            "643343F",
            "6433435FZ",
            "6433435FAA",
            "6433435é",
            "ABCDEFGH",
            "",
        ] {
            assert!(!is_valid_typed(bad), "{bad:?}");
        }
    }
}
