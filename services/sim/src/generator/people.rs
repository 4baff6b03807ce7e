//! Plausible personal details: names, PPS numbers, Eircodes, addresses.
//!
//! Everything is drawn from the seeded RNG, so the same seed gives the same (fictional) people.

use rand::seq::SliceRandom;
use rand::Rng;

use lgma_domain::eircode::{ROUTING_LETTERS, UNIQUE_CHARS};
use lgma_domain::ppsn::check_letter as ppsn_check_letter;

const FORENAMES: &[&str] = &[
    "Aoife",
    "Ciara",
    "Niamh",
    "Saoirse",
    "Siobhán",
    "Emma",
    "Sarah",
    "Mary",
    "Grace",
    "Chloe",
    "Seán",
    "Conor",
    "Jack",
    "Patrick",
    "Cian",
    "Darragh",
    "Michael",
    "John",
    "Oisín",
    "Liam",
    "Adam",
    "Fionn",
    "Roisín",
    "Eimear",
    "Tomás",
    "Declan",
    "Ana",
    "Piotr",
    "Oluwaseun",
    "Mohammed",
    "Andrei",
    "Maria",
];
const SURNAMES: &[&str] = &[
    "Murphy",
    "Kelly",
    "O'Sullivan",
    "Walsh",
    "Smith",
    "O'Brien",
    "Byrne",
    "Ryan",
    "O'Connor",
    "O'Neill",
    "O'Reilly",
    "Doyle",
    "McCarthy",
    "Gallagher",
    "Doherty",
    "Kennedy",
    "Lynch",
    "Murray",
    "Quinn",
    "Moore",
    "McLoughlin",
    "Carroll",
    "Connolly",
    "Daly",
    "Nowak",
    "Kowalski",
    "Popescu",
    "Okafor",
    "Khan",
    "Silva",
];
const STREETS: &[&str] = &[
    "Main Street",
    "Church Road",
    "Station Road",
    "Green Lane",
    "Parnell Street",
    "O'Connell Street",
    "Bridge Street",
    "Mill Road",
    "Abbey Park",
    "Castle View",
    "Sráid an Mhuilinn",
    "Ashgrove Court",
    "Meadow Vale",
    "Hillside Drive",
    "Riverside Walk",
    "Cathedral Close",
];

pub fn forename(rng: &mut impl Rng) -> String {
    FORENAMES.choose(rng).copied().unwrap_or("Alex").to_string()
}

pub fn surname(rng: &mut impl Rng) -> String {
    SURNAMES
        .choose(rng)
        .copied()
        .unwrap_or("Murphy")
        .to_string()
}

pub fn address(rng: &mut impl Rng, town: &str) -> String {
    format!(
        "{} {}, {}",
        rng.gen_range(1..240),
        STREETS.choose(rng).copied().unwrap_or("Main Street"),
        town
    )
}

/// A PPSN with a correct check letter (10% with the newer 9th character).
pub fn ppsn(rng: &mut impl Rng) -> String {
    let mut digits = [0u8; 7];
    for d in digits.iter_mut() {
        *d = rng.gen_range(0..10);
    }
    let ninth = match rng.gen_range(0..10) {
        0 => Some('A'),
        1 => Some('W'),
        _ => None,
    };
    let check = ppsn_check_letter(&digits, ninth);
    let mut out: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
    out.push(check);
    if let Some(c) = ninth {
        out.push(c);
    }
    out
}

/// A well-formed PPSN whose check letter is wrong.
pub fn bad_ppsn(rng: &mut impl Rng) -> String {
    let good = ppsn(rng);
    let mut chars: Vec<char> = good.chars().collect();
    let right = chars[7];
    let letters: Vec<char> = ('A'..='W').filter(|c| *c != right).collect();
    chars[7] = *letters.choose(rng).unwrap_or(&'A');
    chars.into_iter().collect()
}

/// A syntactically valid Eircode (storage form); Dublin councils get D-routing keys.
pub fn eircode(rng: &mut impl Rng, dublin: bool) -> String {
    let routing = if dublin {
        if rng.gen_ratio(1, 25) {
            "D6W".to_string()
        } else {
            format!("D{:02}", rng.gen_range(1..25))
        }
    } else {
        let letter = ROUTING_LETTERS[rng.gen_range(0..ROUTING_LETTERS.len())] as char;
        format!("{letter}{:02}", rng.gen_range(10..100))
    };
    let unique: String = (0..4)
        .map(|_| UNIQUE_CHARS[rng.gen_range(0..UNIQUE_CHARS.len())] as char)
        .collect();
    routing + &unique
}

/// An Eircode that fails the format: a forbidden routing letter, a bad length, or a lowercase/space form.
pub fn bad_eircode(rng: &mut impl Rng) -> String {
    match rng.gen_range(0..4) {
        0 => format!("B{:02}X285", rng.gen_range(10..100)),
        1 => format!("D{:02}X28", rng.gen_range(1..25)),
        2 => "D6XAB12".to_string(),
        _ => format!("Q{:02}ZZZZ", rng.gen_range(10..100)),
    }
}

/// A v4-shaped UUID from the seeded RNG (deterministic per seed).
pub fn uuid(rng: &mut impl Rng) -> String {
    uuid::Builder::from_random_bytes(rng.gen())
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lgma_domain::eircode::is_valid as eircode_is_valid;
    use lgma_domain::ppsn::is_valid as ppsn_is_valid;
    use rand::SeedableRng;

    #[test]
    fn generated_identifiers_follow_the_rules() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..2000 {
            assert!(ppsn_is_valid(&ppsn(&mut rng)));
            assert!(!ppsn_is_valid(&bad_ppsn(&mut rng)));
            assert!(eircode_is_valid(&eircode(&mut rng, true)));
            assert!(eircode_is_valid(&eircode(&mut rng, false)));
            assert!(!eircode_is_valid(&bad_eircode(&mut rng)));
        }
    }
}
