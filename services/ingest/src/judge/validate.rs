//! Turns a decoded event into a verdict: ACCEPT, WARN (stored, flagged) or QUARANTINE.
//!
//! Built-in envelope rules (ids `envelope.*`, `version.stale`, `version.duplicate`) apply to every topic; entity rules
//! come from `schemas/rules/<entity>.toml`. Messages name field, value and rule, except that a value
//! of a `pii` field is never repeated: quarantine reasons are stored in ClickHouse and logged.

use lgma_domain::eircode::Eircode;
use lgma_domain::LocalAuthorities;

use crate::decode::schema::{ascii_cased, day_from_epoch_days, ReaderSchema, Scalar, Text};
use crate::judge::rules::{Check, Format, RuleSet, Severity};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Accept,
    Warn,
    Quarantine,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Accept => "ACCEPT",
            Verdict::Warn => "WARN",
            Verdict::Quarantine => "QUARANTINE",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule_id: String,
    pub severity: Severity,
    pub message: String,
}

impl Finding {
    pub fn quarantine(rule_id: &str, message: impl Into<String>) -> Self {
        Self {
            rule_id: rule_id.into(),
            severity: Severity::Quarantine,
            message: message.into(),
        }
    }
    pub fn warn(rule_id: &str, message: impl Into<String>) -> Self {
        Self {
            rule_id: rule_id.into(),
            severity: Severity::Warn,
            message: message.into(),
        }
    }
}

pub fn verdict_of(findings: &[Finding]) -> Verdict {
    match findings.iter().map(|f| f.severity).max() {
        None => Verdict::Accept,
        Some(Severity::Warn) => Verdict::Warn,
        Some(Severity::Quarantine) => Verdict::Quarantine,
    }
}

/// The envelope every council event starts with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Envelope {
    pub event_id: Text,
    pub operation: Text,
    pub entity_id: Text,
    pub entity_version: i64,
    pub la_code: Text,
    pub source_system: Text,
    pub occurred_at: i64,
    pub published_at: i64,
}

impl Envelope {
    /// The envelope of a decoded record; its strings move out of `cells` (no copies).
    pub fn from_scalars(cells: &mut [Scalar]) -> Self {
        let mut s = |i: usize| match cells.get_mut(i) {
            Some(Scalar::Str(v)) => std::mem::take(v),
            _ => Text::default(),
        };
        let (event_id, operation, entity_id) = (s(0), s(1), s(2));
        let (la_code, source_system) = (s(4), s(5));
        let n = |i: usize| match cells.get(i) {
            Some(Scalar::Int(v)) | Some(Scalar::Ts(v)) => *v,
            _ => 0,
        };
        Self {
            event_id,
            operation,
            entity_id,
            entity_version: n(3),
            la_code,
            source_system,
            occurred_at: n(6),
            published_at: n(7),
        }
    }
}

/// Shows a value in a message unless the field is personal data.
fn shown(schema: &ReaderSchema, field: usize, value: &Scalar) -> String {
    if schema.leaves[field].pii.is_some() {
        return "<redacted: personal data>".into();
    }
    match value {
        Scalar::Str(s) => safe_form(s),
        Scalar::Null => "null".into(),
        other => format!("{other:?}"), // numbers, dates, booleans: short by nature
    }
}

/// Longest council-sent text a reason quotes, in characters.
const SHOWN_CHARS: usize = 24;

/// A council-sent value as a reason may quote it: at most [`SHOWN_CHARS`] characters, control and
/// other invisible characters escaped, the full length said when cut — enough for the council to
/// find the record, never a way to copy free text (or a payload) into the quarantine.
pub fn safe_form(value: &str) -> String {
    let total = value.chars().count();
    let mut out = String::with_capacity(SHOWN_CHARS + 16);
    out.push('"');
    for c in value.chars().take(SHOWN_CHARS) {
        if c.is_control() || c == '"' || c == '\\' || (!c.is_ascii() && !c.is_alphanumeric()) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('"');
    if total > SHOWN_CHARS {
        out.push_str(&format!("… ({total} characters)"));
    }
    out
}

/// Checks the envelope; canonicalises an la_code given as a council name (WARN).
pub fn check_envelope(
    env: &mut Envelope,
    has_payload: bool,
    councils: &LocalAuthorities,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    if uuid::Uuid::parse_str(&env.event_id).is_err() {
        findings.push(Finding::quarantine(
            "envelope.event_id",
            format!(
                "field `event_id` value {} is not a UUID",
                safe_form(&env.event_id)
            ),
        ));
    }
    if env.entity_id.trim().is_empty() {
        findings.push(Finding::quarantine(
            "envelope.entity_id",
            "field `entity_id` is empty",
        ));
    }
    if env.entity_version < 0 {
        findings.push(Finding::quarantine(
            "envelope.entity_version",
            format!(
                "field `entity_version` value {} is negative",
                env.entity_version
            ),
        ));
    }
    if councils.by_code(&env.la_code).is_none() {
        match councils.resolve(&env.la_code) {
            Some(la) => {
                findings.push(Finding::warn(
                    "envelope.la_code_alias",
                    format!(
                        "field `la_code` value {} is a council name, mapped to {}",
                        safe_form(&env.la_code),
                        la.la_code
                    ),
                ));
                env.la_code = Text::new(&la.la_code);
            }
            None => findings.push(Finding::quarantine(
                "envelope.la_code",
                format!(
                    "field `la_code` value {} is not a known local authority code",
                    safe_form(&env.la_code)
                ),
            )),
        }
    }
    if env.operation != "DELETE" && !has_payload {
        findings.push(Finding::quarantine(
            "envelope.payload_missing",
            format!("operation {} carries no payload", safe_form(&env.operation)),
        ));
    }
    findings
}

/// Longest spelling lower-cased on the stack by [`lowered`].
const LOWERED_INLINE: usize = 64;

/// `raw` trimmed and lower-cased as the enum maps key it: in `buf` when it is short ASCII (every
/// spelling we know; no allocation per cell), else an owned copy.
fn lowered<'b>(raw: &'b str, buf: &'b mut [u8; LOWERED_INLINE]) -> std::borrow::Cow<'b, str> {
    let trimmed = raw.trim();
    // Non-ASCII text takes Unicode's lower case, as the maps' keys were made.
    match trimmed.is_ascii().then(|| ascii_cased(trimmed, buf, false)) {
        Some(Some(text)) => std::borrow::Cow::Borrowed(text),
        _ => std::borrow::Cow::Owned(trimmed.to_lowercase()),
    }
}

/// Applies an entity's rules to the payload cells, canonicalising mapped enum and Eircode values.
pub fn check_payload(schema: &ReaderSchema, rules: &RuleSet, cells: &mut [Scalar]) -> Vec<Finding> {
    let mut findings = Vec::new();
    for rule in &rules.rules {
        let finding = |message: String| Finding {
            rule_id: rule.id.clone(),
            severity: rule.severity,
            message,
        };
        match &rule.check {
            Check::Required { field } => {
                let missing = match &cells[*field] {
                    Scalar::Null => true,
                    Scalar::Str(s) => s.trim().is_empty(),
                    _ => false,
                };
                if missing {
                    findings.push(finding(format!(
                        "field `{}` is required but missing (rule {})",
                        schema.leaves[*field].name, rule.id
                    )));
                }
            }
            Check::EnumMap { field, lookup } => {
                if let Scalar::Str(raw) = &cells[*field] {
                    let mut buf = [0u8; LOWERED_INLINE];
                    match lookup.get(lowered(raw, &mut buf).as_ref()) {
                        Some(canonical) if canonical == raw => {}
                        Some(canonical) => cells[*field] = Scalar::Str(canonical.clone()),
                        None => findings.push(finding(format!(
                            "field `{}` value {} is not a known spelling (rule {})",
                            schema.leaves[*field].name,
                            shown(schema, *field, &cells[*field]),
                            rule.id
                        ))),
                    }
                }
            }
            Check::Range { field, min, max } => {
                if let Some(v) = cells[*field].as_f64() {
                    let low = min.is_some_and(|m| v < m);
                    let high = max.is_some_and(|m| v > m);
                    if low || high {
                        findings.push(finding(format!(
                            "field `{}` value {} is outside [{}, {}] (rule {})",
                            schema.leaves[*field].name,
                            shown(schema, *field, &cells[*field]),
                            min.map_or("-inf".into(), |m| m.to_string()),
                            max.map_or("+inf".into(), |m| m.to_string()),
                            rule.id
                        )));
                    }
                }
            }
            Check::Format { field, format } => {
                if let Scalar::Str(raw) = &cells[*field] {
                    let accepted = match format {
                        Format::Pattern(regex) => regex.is_match(raw),
                        Format::Eircode => match Eircode::parse(raw) {
                            Some(code) => {
                                // Stored in its 7-character form; no copy when typed that way.
                                if code.as_str() != raw {
                                    cells[*field] = Scalar::Str(Text::new(code.as_str()));
                                }
                                true
                            }
                            None => false,
                        },
                    };
                    if !accepted {
                        findings.push(finding(format!(
                            "field `{}` value {} does not match the expected format (rule {})",
                            schema.leaves[*field].name,
                            shown(schema, *field, &cells[*field]),
                            rule.id
                        )));
                    }
                }
            }
            Check::Ppsn { field } => {
                if let Scalar::Str(raw) = &cells[*field] {
                    if !lgma_domain::ppsn::is_valid_typed(raw) {
                        findings.push(finding(format!(
                            "field `{}` value {} is not a valid PPS number (format or check letter; rule {})",
                            schema.leaves[*field].name,
                            shown(schema, *field, &cells[*field]),
                            rule.id
                        )));
                    }
                }
            }
            Check::DateOrder { earlier, later } => {
                // Compared as day numbers; calendar dates are made only for the message.
                let (a, b) = (cells[*earlier].epoch_day(), cells[*later].epoch_day());
                if let (Some(a), Some(b)) = (a, b) {
                    if b < a {
                        let shown = |leaf: usize, day: i64| {
                            if schema.leaves[leaf].pii.is_some() {
                                "<redacted: personal data>".into()
                            } else {
                                day_from_epoch_days(day)
                                    .map_or_else(|| day.to_string(), |d| d.to_string())
                            }
                        };
                        findings.push(finding(format!(
                            "field `{}` value {} is before field `{}` value {} (rule {})",
                            schema.leaves[*later].name,
                            shown(*later, b),
                            schema.leaves[*earlier].name,
                            shown(*earlier, a),
                            rule.id
                        )));
                    }
                }
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    #[test]
    fn enum_spellings_lower_on_the_stack_as_the_map_keys_them() {
        let mut buf = [0u8; super::LOWERED_INLINE];
        let short = super::lowered("  Emergency Accommodation ", &mut buf);
        assert!(matches!(short, std::borrow::Cow::Borrowed(_)));
        assert_eq!(short, "emergency accommodation");
        // Beyond the stack buffer, or not ASCII: the same answer, owned.
        let long = format!(" {} ", "AB".repeat(40));
        let mut buf = [0u8; super::LOWERED_INLINE];
        assert_eq!(super::lowered(&long, &mut buf), "ab".repeat(40));
        let mut buf = [0u8; super::LOWERED_INLINE];
        assert_eq!(super::lowered(" Dún Laoghaire ", &mut buf), "dún laoghaire");
    }

    #[test]
    fn quoted_values_are_short_and_visible() {
        assert_eq!(safe_form("DC"), "\"DC\"");
        let long = "x".repeat(500);
        let shown = safe_form(&long);
        assert!(
            shown.len() < 60 && shown.ends_with("(500 characters)"),
            "{shown}"
        );
        let hostile = "a\nb\u{202e}c\"d\\";
        let shown = safe_form(hostile);
        assert!(
            !shown.contains('\n') && !shown.contains('\u{202e}'),
            "{shown}"
        );
        assert_eq!(safe_form("Dún Laoghaire"), "\"Dún Laoghaire\"");
    }

    use super::*;
    use crate::decode::schema::tests::TEST_SCHEMA;
    use std::path::Path;

    fn setup() -> (ReaderSchema, RuleSet) {
        let schema = ReaderSchema::parse("lgma.test.person", TEST_SCHEMA).expect("schema");
        let rules = RuleSet::parse(
            Path::new("t.toml"),
            r#"
            entity = "test.person"
            version = "7"
            [[rule]]
            id = "person.ppsn"
            kind = "ppsn"
            field = "ppsn"
            [[rule]]
            id = "person.gender"
            kind = "enum_map"
            field = "gender"
            values = { FEMALE = ["F"], MALE = ["M"] }
            [[rule]]
            id = "person.adults"
            kind = "range"
            field = "adults"
            min = 1
            max = 12
            severity = "warn"
            [[rule]]
            id = "person.eircode"
            kind = "format"
            field = "site_eircode"
            format = "eircode"
            [[rule]]
            id = "person.dob_before_presented"
            kind = "date_order"
            earlier = "date_of_birth"
            later = "presented_at"
            "#,
            "test.person",
            &schema,
        )
        .expect("rules");
        (schema, rules)
    }

    fn cells(ppsn: &str, gender: &str, adults: i64, eircode: &str) -> Vec<Scalar> {
        vec![
            Scalar::Str(ppsn.into()),
            Scalar::Str("Mary Murphy".into()),
            Scalar::Date(7000),
            Scalar::Null,
            Scalar::Null,
            Scalar::Str(gender.into()),
            Scalar::Int(adults),
            Scalar::Ts(1_700_000_000_000),
            Scalar::Str(eircode.into()),
            Scalar::Null,
            Scalar::List(vec![]),
        ]
    }

    #[test]
    fn clean_event_is_accepted_and_canonicalised() {
        let (schema, rules) = setup();
        let mut c = cells("6433435F", "f", 2, "d02 x285");
        let findings = check_payload(&schema, &rules, &mut c);
        assert_eq!(findings, vec![]);
        assert_eq!(c[5], Scalar::Str("FEMALE".into()));
        assert_eq!(c[8], Scalar::Str("D02X285".into()));
    }

    #[test]
    fn malformed_eircode_is_found_and_left_as_typed() {
        let (schema, rules) = setup();
        for bad in ["D02 X28", "D02  X285", "B02X285", "D02X28O"] {
            let mut c = cells("6433435F", "M", 2, bad);
            let findings = check_payload(&schema, &rules, &mut c);
            let ids: Vec<_> = findings.iter().map(|f| f.rule_id.as_str()).collect();
            assert_eq!(ids, ["person.eircode"], "{bad}");
            assert_eq!(c[8], Scalar::Str(bad.into()), "{bad}");
        }
    }

    #[test]
    fn bad_ppsn_is_quarantined_without_repeating_it() {
        let (schema, rules) = setup();
        let mut c = cells("6433435E", "M", 2, "D02X285");
        let findings = check_payload(&schema, &rules, &mut c);
        assert_eq!(verdict_of(&findings), Verdict::Quarantine);
        assert_eq!(findings[0].rule_id, "person.ppsn");
        assert!(!findings[0].message.contains("6433435"));
        assert!(findings[0].message.contains("redacted"));
    }

    #[test]
    fn out_of_range_warns_and_unknown_spelling_quarantines() {
        let (schema, rules) = setup();
        let mut c = cells("6433435F", "Other", 40, "D02X285");
        let findings = check_payload(&schema, &rules, &mut c);
        let ids: Vec<_> = findings.iter().map(|f| f.rule_id.as_str()).collect();
        assert_eq!(ids, ["person.gender", "person.adults"]);
        assert!(findings[0].message.contains("\"Other\""));
        assert!(findings[1].message.contains("40"));
        assert_eq!(verdict_of(&findings[1..]), Verdict::Warn);
    }

    #[test]
    fn date_order_violation_is_found() {
        let (schema, rules) = setup();
        let mut c = cells("6433435F", "M", 2, "D02X285");
        c[7] = Scalar::Ts(0); // presented on 1970-01-01, before the birth date
        let findings = check_payload(&schema, &rules, &mut c);
        assert_eq!(findings[0].rule_id, "person.dob_before_presented");
        assert!(findings[0].message.contains("redacted"));
    }

    #[test]
    fn envelope_rules() {
        let councils = LocalAuthorities::embedded().expect("reference");
        let mut env = Envelope {
            event_id: "not-a-uuid".into(),
            operation: "UPDATE".into(),
            entity_id: "A1".into(),
            entity_version: 1,
            la_code: "Dublin City Council".into(),
            ..Envelope::default()
        };
        let findings = check_envelope(&mut env, false, &councils);
        let ids: Vec<_> = findings.iter().map(|f| f.rule_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "envelope.event_id",
                "envelope.la_code_alias",
                "envelope.payload_missing"
            ]
        );
        assert_eq!(env.la_code, "DC");
        env.la_code = "ZZ".into();
        let findings = check_envelope(&mut env, true, &councils);
        assert!(findings.iter().any(|f| f.rule_id == "envelope.la_code"));
    }
}
