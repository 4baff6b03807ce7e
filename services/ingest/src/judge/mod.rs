//! Stage 3, judge: decode one record and judge it — ACCEPT, WARN or QUARANTINE, with rule ids and
//! messages. Built-in envelope rules and rules as data ([`rules`], [`validate`]); version safety
//! for the whole batch ([`versions`]): the one place a verdict is made.

use std::sync::Arc;

use lgma_domain::LocalAuthorities;

use crate::decode::resolve::Resolution;
use crate::decode::{DecodeFailure, ReaderSchema, Scalar};
use crate::source::RawRecord;
use rules::RuleSet;
use validate::{check_envelope, check_payload, Envelope, Finding};

pub mod rules;
pub mod validate;
pub mod versions;

/// One record after decoding and judging.
#[derive(Clone)]
pub struct Judged<'a> {
    pub raw: &'a RawRecord,
    pub schema_id: u32,
    pub env: Envelope,
    pub cells: Vec<Scalar>,
    pub has_payload: bool,
    pub findings: Vec<Finding>,
    pub decoded: bool,
    /// Detail for the DLQ header only (may quote data; never stored in ClickHouse).
    pub dlq_detail: Option<String>,
}

/// Decodes and validates one record: [`decode`], then [`validate`] when it decoded. Version
/// safety comes after, record by record in log order ([`versions::check_version`]).
pub fn judge<'a>(
    raw: &'a RawRecord,
    resolution: impl FnOnce(u32) -> Result<Arc<Result<Resolution, String>>, DecodeFailure>,
    schema: &ReaderSchema,
    rules: &RuleSet,
    councils: &LocalAuthorities,
) -> Judged<'a> {
    let mut judged = decode(raw, resolution);
    if judged.decoded {
        validate(&mut judged, schema, rules, councils);
    }
    judged
}

/// Decodes one record: framing, the compiled resolution of its writer schema id (`resolution`:
/// unknown or unusable ids are verdicts) and the body into the envelope and payload cells. A
/// record that does not decode comes back with its quarantine finding and `decoded == false`.
pub fn decode<'a>(
    raw: &'a RawRecord,
    resolution: impl FnOnce(u32) -> Result<Arc<Result<Resolution, String>>, DecodeFailure>,
) -> Judged<'a> {
    let mut judged = Judged {
        raw,
        schema_id: 0,
        env: Envelope::default(),
        cells: Vec::new(),
        has_payload: false,
        findings: Vec::new(),
        decoded: false,
        dlq_detail: None,
    };
    let fail = |judged: &mut Judged<'a>, failure: DecodeFailure, detail: Option<String>| {
        judged
            .findings
            .push(Finding::quarantine(failure.rule_id(), failure.message()));
        judged.dlq_detail = detail;
    };
    let bytes = match raw.value.as_deref() {
        None | Some([]) => {
            fail(&mut judged, DecodeFailure::Tombstone, None);
            return judged;
        }
        Some(b) => b,
    };
    let framed = match lgma_core::framing::decode(bytes) {
        Ok(f) => f,
        Err(e) => {
            fail(&mut judged, DecodeFailure::NotFramed(e.to_string()), None);
            return judged;
        }
    };
    judged.schema_id = framed.schema_id;
    let resolution = match resolution(framed.schema_id) {
        Ok(r) => r,
        Err(failure) => {
            fail(&mut judged, failure, None);
            return judged;
        }
    };
    let mut decoded = match resolution
        .as_ref()
        .as_ref()
        .map_err(|e| DecodeFailure::Body(e.clone()))
        .and_then(|r| r.decode(framed.body))
    {
        Ok(d) => d,
        Err(DecodeFailure::Body(detail)) => {
            // The message can quote decoded values: DLQ header only.
            fail(
                &mut judged,
                DecodeFailure::Body("see DLQ header lgma.detail".into()),
                Some(detail),
            );
            return judged;
        }
        Err(failure) => {
            fail(&mut judged, failure, None);
            return judged;
        }
    };
    judged.decoded = true;
    judged.env = Envelope::from_scalars(&mut decoded.envelope);
    judged.has_payload = decoded.has_payload;
    judged.cells = decoded.cells;
    judged
}

/// Validates a decoded record: the envelope rules, then the entity's rules on its payload
/// (which normalise cells in place: enum spellings, Eircodes).
pub fn validate(
    judged: &mut Judged<'_>,
    schema: &ReaderSchema,
    rules: &RuleSet,
    councils: &LocalAuthorities,
) {
    judged.findings = check_envelope(&mut judged.env, judged.has_payload, councils);
    if judged.has_payload {
        let payload_findings = check_payload(schema, rules, &mut judged.cells);
        judged.findings.extend(payload_findings);
    }
}
