//! Building Energy Rating bands (domain.md §3).

/// Bands and their upper bounds in kWh/m²/yr; above the last is G.
pub const BANDS: [(&str, f64); 14] = [
    ("A1", 25.0),
    ("A2", 50.0),
    ("A3", 75.0),
    ("B1", 100.0),
    ("B2", 125.0),
    ("B3", 150.0),
    ("C1", 175.0),
    ("C2", 200.0),
    ("C3", 225.0),
    ("D1", 260.0),
    ("D2", 300.0),
    ("E1", 340.0),
    ("E2", 380.0),
    ("F", 450.0),
];

/// The band of an energy use in kWh/m²/yr.
pub fn band(kwh_m2_yr: f64) -> &'static str {
    BANDS
        .iter()
        .find(|(_, upper)| kwh_m2_yr <= *upper)
        .map_or("G", |(band, _)| band)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_at_boundaries() {
        assert_eq!(band(25.0), "A1");
        assert_eq!(band(25.1), "A2");
        assert_eq!(band(260.0), "D1");
        assert_eq!(band(450.0), "F");
        assert_eq!(band(451.0), "G");
    }
}
