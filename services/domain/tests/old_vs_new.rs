//! The byte-level, allocation-free Eircode and PPSN checks give the answers of the regex /
//! upper-case-copy implementations they replaced (`legacy`), on generated inputs near and far
//! from valid ones and exhaustively on every one-character change of valid ones.

mod legacy;

use lgma_domain::eircode::{self, Eircode};
use lgma_domain::ppsn;
use proptest::prelude::*;

fn agree_eircode(s: &str) {
    assert_eq!(
        eircode::is_valid(s),
        legacy::eircode_is_valid(s),
        "is_valid {s:?}"
    );
    assert_eq!(
        eircode::is_field(s),
        legacy::eircode_is_field(s),
        "is_field {s:?}"
    );
    assert_eq!(
        Eircode::parse(s).map(|e| e.to_string()),
        legacy::eircode_typed(s),
        "parse {s:?}"
    );
}

/// The Kelvin sign (U+212A) is the one known difference (see `find_in_text`).
fn agree_in_text(s: &str) {
    if s.contains('\u{212a}') {
        return;
    }
    assert_eq!(
        eircode::find_in_text(s).map(|e| e.routing_key().to_string()),
        legacy::routing_key_in_text(s),
        "find_in_text {s:?}"
    );
}

fn agree_ppsn(s: &str) {
    assert_eq!(
        ppsn::is_valid(s),
        legacy::ppsn_is_valid(s),
        "is_valid {s:?}"
    );
    assert_eq!(
        ppsn::is_valid_typed(s),
        legacy::ppsn_typed(s),
        "typed {s:?}"
    );
}

/// Characters worth trying at any position: every ASCII byte, Unicode whitespace, accents.
fn alphabet() -> impl Iterator<Item = char> {
    (0u8..128).map(char::from).chain([
        '\u{a0}', '\u{2003}', '\u{3000}', 'é', 'Ä', 'ß', 'ı', '\u{212a}',
    ])
}

/// Every string made from `valid` by replacing, inserting or deleting one character.
fn one_change(valid: &str, check: impl Fn(&str)) {
    let chars: Vec<char> = valid.chars().collect();
    for i in 0..=chars.len() {
        for c in alphabet() {
            let mut replaced = chars.clone();
            if i < chars.len() {
                replaced[i] = c;
                check(&replaced.iter().collect::<String>());
            }
            let mut inserted = chars.clone();
            inserted.insert(i, c);
            check(&inserted.iter().collect::<String>());
        }
        if i < chars.len() {
            let mut deleted = chars.clone();
            deleted.remove(i);
            check(&deleted.iter().collect::<String>());
        }
    }
}

#[test]
fn eircode_every_one_character_change() {
    for valid in [
        "D02X285",
        "D02 X285",
        "d6w xy12",
        "A65F4E2",
        " T12 AC34 ",
        "Y35 9999",
        "W23\u{a0}0K0K",
    ] {
        one_change(valid, agree_eircode);
    }
}

#[test]
fn eircode_in_text_every_one_character_change() {
    for valid in [
        "12 Main St, Dublin 2, D02 X285",
        "Apt 4,d6w xy12",
        "A65F4E2 Kilkenny",
        "Rathmines_D06 X2X2, T12AC34",
        "Sráid Mhór, Ráth Maonais H91 ÉX25 W23 0K0K",
        "H91X2",
    ] {
        one_change(valid, agree_in_text);
    }
}

#[test]
fn ppsn_every_one_character_change() {
    for valid in [
        "6433435F",
        "6433435OA",
        "6433435IH",
        " 1234567t w",
        "0000000W",
    ] {
        one_change(valid, agree_ppsn);
    }
}

#[test]
fn ppsn_every_check_letter_and_ninth_character() {
    // For a spread of digit strings, every check byte and every 9th byte (or none).
    for seed in 0..40u32 {
        let digits = format!("{:07}", seed.wrapping_mul(49_999) % 10_000_000);
        for check in 0u8..128 {
            let base = format!("{digits}{}", check as char);
            agree_ppsn(&base);
            for ninth in 0u8..128 {
                agree_ppsn(&format!("{base}{}", ninth as char));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn eircode_near_valid(s in "[ \t]?[AC-FHKNPRTV-Yac-fhknprtv-yBbDd][0-9W6w]{2}[ \u{a0}]{0,2}[0-9A-Za-z]{3,5}[ \t]?") {
        agree_eircode(&s);
    }

    #[test]
    fn eircode_any(s in "\\PC{0,10}") {
        agree_eircode(&s);
    }

    #[test]
    fn eircode_in_address(s in "([a-zé ,_0-9]{0,4}[AC-FHKNPRTV-Yac-fhknprtv-yBbDd][0-9W6w]{2} ?[0-9A-Za-z]{3,5}){1,3}[ ,\u{301}é]?") {
        agree_in_text(&s);
    }

    #[test]
    fn eircode_in_any_text(s in "\\PC{0,14}") {
        agree_in_text(&s);
    }

    #[test]
    fn ppsn_near_valid(s in "[ ]?[0-9 ]{6,9}[A-Za-z][A-Za-z ]{0,2}") {
        agree_ppsn(&s);
    }

    #[test]
    fn ppsn_any(s in "\\PC{0,12}") {
        agree_ppsn(&s);
    }
}
