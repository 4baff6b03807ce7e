//! `lgma.pseudonym_links`: during a key rotation's transition period (a domain's keys name a
//! previous key), every identifier ingest pseudonymises is also pseudonymised under the previous
//! key, and the pair (old pseudonym, new pseudonym) is written with the batch's entity rows.
//!
//! Why here: only ingest ever holds the clear identifier and both keys at once, so this is the one
//! place the link can be made without the platform storing clear identifiers. Rows are keyed so a
//! re-processed batch (exactly-once protocol: before the offset of record) re-inserts identical
//! keys that collapse; within a batch each link is written once. No previous key: nothing at all.

use std::collections::HashSet;

use crate::decode::schema::Scalar;
use crate::encode::row::write_json_str;
use crate::transform::pseudonymise::DomainKey;

/// The link rows of one batch (JSONEachRow), deduplicated.
#[derive(Debug, Default)]
pub struct Links {
    /// (domain, pseudonym column, old pseudonym) already written in this batch.
    seen: HashSet<(String, String, String)>,
    pub rows: Vec<u8>,
}

impl Links {
    /// Adds the links of one identifier cell (a string or a list of strings) of `column`, if
    /// `key` has a previous key. Empty and null identifiers have no pseudonym, hence no link.
    pub fn add(
        &mut self,
        domain: &str,
        column: &str,
        key: &DomainKey,
        clear: &Scalar,
        ingested_s: i64,
    ) {
        let Some(previous) = key.previous() else {
            return;
        };
        let mut one = |s: &str| {
            if s.trim().is_empty() {
                return;
            }
            let old = previous.pseudonym(s);
            if !self
                .seen
                .insert((domain.to_string(), column.to_string(), old.to_string()))
            {
                return;
            }
            let new = key.pseudonym(s);
            let out = &mut self.rows;
            out.extend_from_slice(b"{\"domain\":");
            write_json_str(domain, out);
            out.extend_from_slice(b",\"pseudonym_column\":");
            write_json_str(column, out);
            out.extend_from_slice(b",\"old_key_version\":");
            write_json_str(&previous.version, out);
            out.extend_from_slice(b",\"old_pseudonym\":");
            write_json_str(&old, out);
            out.extend_from_slice(b",\"new_key_version\":");
            write_json_str(&key.version, out);
            out.extend_from_slice(b",\"new_pseudonym\":");
            write_json_str(&new, out);
            out.extend_from_slice(format!(",\"ingested_at\":{ingested_s}}}\n").as_bytes());
        };
        match clear {
            Scalar::Str(s) => one(s),
            Scalar::List(items) => {
                for item in items {
                    if let Scalar::Str(s) = item {
                        one(s);
                    }
                }
            }
            _ => {}
        }
    }

    /// Number of link rows in the batch.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    const NEW: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

    #[derive(serde::Deserialize)]
    struct Row {
        domain: String,
        pseudonym_column: String,
        old_key_version: String,
        old_pseudonym: String,
        new_key_version: String,
        new_pseudonym: String,
        ingested_at: i64,
    }

    fn rows(links: &Links) -> Vec<Row> {
        String::from_utf8(links.rows.clone())
            .expect("utf8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("json row"))
            .collect()
    }

    #[test]
    fn one_row_per_identifier_and_column_deduplicated_without_clear_values() {
        let old = DomainKey::new("v1", OLD).expect("old");
        let key = DomainKey::new("v2", NEW)
            .expect("new")
            .with_previous(old.clone())
            .expect("transition");
        let mut links = Links::default();
        links.add(
            "homelessness",
            "client_id_pseudo",
            &key,
            &Scalar::Str("C-1".into()),
            7,
        );
        links.add(
            "homelessness",
            "client_id_pseudo",
            &key,
            &Scalar::Str(" c-1".into()),
            8,
        );
        links.add(
            "homelessness",
            "ppsn_pseudo",
            &key,
            &Scalar::Str("C-1".into()),
            7,
        );
        links.add("homelessness", "ppsn_pseudo", &key, &Scalar::Null, 7);
        links.add(
            "homelessness",
            "ppsn_pseudo",
            &key,
            &Scalar::Str("  ".into()),
            7,
        );
        let list = Scalar::List(vec![Scalar::Str("D-1".into()), Scalar::Str("D-2".into())]);
        links.add("homelessness", "dependant_ids_pseudo", &key, &list, 7);
        let rows = rows(&links);
        assert_eq!(rows.len(), 4);
        assert_eq!(links.len(), 4);
        let r = &rows[0];
        assert_eq!(
            (r.domain.as_str(), r.pseudonym_column.as_str()),
            ("homelessness", "client_id_pseudo")
        );
        assert_eq!(
            (r.old_key_version.as_str(), r.new_key_version.as_str()),
            ("v1", "v2")
        );
        assert_eq!(r.old_pseudonym, old.pseudonym("C-1"));
        assert_eq!(r.new_pseudonym, key.pseudonym("C-1"));
        assert_ne!(r.old_pseudonym, r.new_pseudonym);
        assert_eq!(r.ingested_at, 7);
        assert_eq!(rows[3].new_pseudonym, key.pseudonym("D-2"));
        let text = String::from_utf8_lossy(&links.rows);
        for clear in ["C-1", "c-1", "D-1", "D-2", OLD, NEW] {
            assert!(!text.contains(clear), "{clear} in link rows");
        }
    }

    #[test]
    fn nothing_without_a_previous_key() {
        let key = DomainKey::new("v2", NEW).expect("new");
        let mut links = Links::default();
        links.add(
            "homelessness",
            "client_id_pseudo",
            &key,
            &Scalar::Str("C-1".into()),
            7,
        );
        assert!(links.is_empty());
        assert!(links.rows.is_empty());
    }
}
