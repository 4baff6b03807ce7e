//! Onboarding the shipped sample files: good rows map, every bad row is reported by line and column.

use lgma_publisher::onboard::{jsonl, npad};
use lgma_sim::encode::Encoder;
use lgma_sim::model::{ApplicationStatus, Decision, Entity, Operation};
use lgma_sim::Topic;
use rand::SeedableRng;

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../schemas/samples/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("sample file")
}

fn rng() -> rand_chacha::ChaCha8Rng {
    rand_chacha::ChaCha8Rng::seed_from_u64(1)
}

#[test]
fn npad_sample_maps_every_row_with_canonical_values() {
    let mapped = npad::map(
        &sample("planning_npad.csv"),
        "test",
        1_750_000_000_000,
        &mut rng(),
    )
    .unwrap();
    assert!(mapped.errors.is_empty(), "{:?}", mapped.errors);
    assert_eq!((mapped.rows, mapped.events.len()), (8, 8));
    let encoder = Encoder::offline().unwrap();
    let (line, first) = &mapped.events[0];
    assert_eq!(*line, 2);
    assert_eq!(first.la_code(), "DC");
    let Some(Entity::PlanningApplication(app)) = first.entity() else {
        panic!("planning")
    };
    assert_eq!(app.status, ApplicationStatus::DECIDED);
    assert_eq!(app.decision, Some(Decision::GRANTED_WITH_CONDITIONS));
    assert_eq!(app.decision_raw.as_deref(), Some("CONDITIONAL"));
    assert_eq!(app.development_eircode.as_deref(), Some("D01F5P2"));
    // Version = the latest date in the row (decision date here).
    assert_eq!(first.meta().entity_version, app.decision_date.unwrap());
    // The alias "Dun Laoghaire Rathdown County" resolves; a received-only row is a CREATE.
    let (_, second) = &mapped.events[1];
    assert_eq!(
        (second.la_code(), second.meta().operation),
        ("DR", Operation::CREATE)
    );
    for (_, event) in &mapped.events {
        encoder
            .encode_body(event)
            .expect("every mapped row encodes");
    }
}

#[test]
fn broken_npad_rows_are_reported_by_line_and_column_crlf_and_lf() {
    let crlf = sample("planning_npad_broken.csv");
    assert!(
        crlf.windows(2).any(|w| w == b"\r\n"),
        "sample uses CRLF like most exports"
    );
    let lf: Vec<u8> = crlf.iter().copied().filter(|b| *b != b'\r').collect();
    for bytes in [crlf, lf] {
        let mapped = npad::map(&bytes, "test", 0, &mut rng()).unwrap();
        let found: Vec<(u64, &str)> = mapped
            .errors
            .iter()
            .map(|e| (e.line, e.column.as_str()))
            .collect();
        assert_eq!(
            found,
            vec![
                (4, "DecisionDate"),
                (6, "ApplicationStatus"),
                (7, "DevelopmentPostcode")
            ]
        );
        assert_eq!(mapped.rows, 6);
        let good_lines: Vec<u64> = mapped.events.iter().map(|(l, _)| *l).collect();
        assert_eq!(good_lines, vec![2, 3, 5], "no row silently dropped");
    }
}

#[test]
fn npad_missing_required_column_is_a_file_error() {
    let csv = b"PlanningAuthority,ApplicationNumber\nDublin City Council,1/24\n";
    let err = npad::map(csv, "test", 0, &mut rng()).unwrap_err();
    assert_eq!(
        (err.line, err.column.as_str()),
        (1, "DevelopmentDescription")
    );
}

#[test]
fn jsonl_samples_map_and_broken_lines_name_the_field() {
    for topic in Topic::ALL
        .into_iter()
        .filter(|t| *t != Topic::PlanningApplication)
    {
        let text = String::from_utf8(sample(&format!("{}.jsonl", topic.name()))).unwrap();
        let mapped = jsonl::map(&text, topic, "test", 0, &mut rng());
        assert!(mapped.errors.is_empty(), "{topic:?}: {:?}", mapped.errors);
        assert_eq!(mapped.events.len(), 5);
    }
    let text = String::from_utf8(sample("lgma.homelessness.presentation_broken.jsonl")).unwrap();
    let mapped = jsonl::map(&text, Topic::Presentation, "test", 0, &mut rng());
    let found: Vec<(u64, &str)> = mapped
        .errors
        .iter()
        .map(|e| (e.line, e.column.as_str()))
        .collect();
    assert_eq!(found, vec![(2, "payload.gender"), (4, "payload.ppsn")]);
    assert_eq!(mapped.events.len(), 3);
}

#[test]
fn jsonl_delete_needs_entity_id_and_no_payload() {
    let text = concat!(
        r#"{"la_code":"DC","entity_version":3,"occurred_at":1,"operation":"DELETE","entity_id":"DC-U1","payload":null}"#,
        "\n",
        r#"{"la_code":"DC","entity_version":3,"occurred_at":1,"operation":"DELETE","payload":null}"#,
        "\n",
        r#"{"la_code":"QQ","entity_version":2,"occurred_at":1,"payload":null}"#,
        "\n",
    );
    let mapped = jsonl::map(text, Topic::DwellingUnit, "test", 0, &mut rng());
    assert_eq!(mapped.events.len(), 1);
    assert!(mapped.events[0].1.entity().is_none());
    let found: Vec<(u64, &str)> = mapped
        .errors
        .iter()
        .map(|e| (e.line, e.column.as_str()))
        .collect();
    assert_eq!(
        found,
        vec![
            (2, "entity_id"),
            (3, "la_code"),
            (3, "entity_id"),
            (3, "payload")
        ]
    );
}
