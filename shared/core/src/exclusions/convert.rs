//! The exclusion table's stored values as the matcher and the indexer API see them.

use optout_matcher::EntryValue;
use optout_matcher::wire::{WireEntry, WireState};

use crate::ports::{EntryState, ExclusionEntry, ExclusionValue};

/// The matcher's form of a stored value (the same typed value: parsed when it was read).
pub fn entry_value(v: &ExclusionValue) -> EntryValue {
    match v {
        ExclusionValue::Url(u) => EntryValue::Url(u.clone()),
        ExclusionValue::Sha256(h) => EntryValue::Sha256(*h),
        ExclusionValue::Pdq(h) => EntryValue::Pdq(*h),
        ExclusionValue::Face(e) => EntryValue::Face(e.clone()),
    }
}

/// An entry as the change feed and the snapshot carry it: id, position, state, kind and the
/// matching value in canonical form, nothing about its case.
pub fn wire_entry(e: &ExclusionEntry) -> WireEntry {
    let mut w = WireEntry::active(e.id, e.position, &entry_value(&e.value));
    if e.state == EntryState::Withdrawn {
        w.state = WireState::Withdrawn;
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CaseId;
    use optout_matcher::wire::WireValue;
    use optout_matcher::{FaceEmbedding, Kind, PdqHash, Sha256, normalize_url};

    fn entry(value: ExclusionValue, state: EntryState) -> ExclusionEntry {
        let now = chrono::Utc::now();
        ExclusionEntry {
            id: 7,
            position: 9,
            case_id: CaseId::new(now),
            value,
            state,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn urls_go_on_the_wire_normalised() {
        let u = normalize_url("HTTPS://Example.COM:443/a/b.jpg/?utm_source=x#frag").unwrap();
        let v = ExclusionValue::Url(u.clone());
        assert_eq!(entry_value(&v), EntryValue::Url(u));
        let w = wire_entry(&entry(v, EntryState::Active));
        assert_eq!(
            w.value,
            WireValue::Text("https://example.com/a/b.jpg".into())
        );
        assert_eq!((w.id, w.position, w.kind), (7, 9, Kind::Url));
        assert_eq!(w.state, WireState::Active);
    }

    #[test]
    fn hashes_are_lower_case_and_faces_unit_length() {
        let h = "AB".repeat(32);
        let w = wire_entry(&entry(
            ExclusionValue::Sha256(Sha256::from_hex(&h).unwrap()),
            EntryState::Withdrawn,
        ));
        assert_eq!(w.value, WireValue::Text("ab".repeat(32)));
        assert_eq!(w.state, WireState::Withdrawn);
        let w = wire_entry(&entry(
            ExclusionValue::Pdq(PdqHash::from_hex(&h).unwrap()),
            EntryState::Active,
        ));
        assert_eq!(
            (w.kind, w.value),
            (Kind::Pdq, WireValue::Text("ab".repeat(32)))
        );
        let mut face = vec![0.0f32; 128];
        face[3] = 2.0;
        let face = FaceEmbedding::normalized(&face).unwrap();
        let w = wire_entry(&entry(ExclusionValue::Face(face), EntryState::Active));
        let WireValue::Vector(v) = w.value else {
            panic!("a vector")
        };
        assert_eq!(v[3], 1.0);
    }

    #[test]
    fn stored_values_keep_their_json() {
        // The JSON of a value (`kind` and `value`) is what it was when values were strings.
        let sha = "ab".repeat(32);
        let cases = [
            (
                ExclusionValue::Sha256(Sha256::from_hex(&sha).unwrap()),
                format!(r#"{{"kind":"sha256","value":"{sha}"}}"#),
            ),
            (
                ExclusionValue::Pdq(PdqHash::from_hex(&sha).unwrap()),
                format!(r#"{{"kind":"pdq","value":"{sha}"}}"#),
            ),
            (
                ExclusionValue::Url(normalize_url("https://example.com/a.jpg").unwrap()),
                r#"{"kind":"url","value":"https://example.com/a.jpg"}"#.to_owned(),
            ),
        ];
        for (v, json) in cases {
            assert_eq!(serde_json::to_string(&v).unwrap(), json);
            assert_eq!(serde_json::from_str::<ExclusionValue>(&json).unwrap(), v);
        }
        let mut face = vec![0.0f32; 128];
        face[0] = 0.6;
        face[1] = -0.8;
        let v = ExclusionValue::Face(FaceEmbedding::new(&face).unwrap());
        let json = serde_json::to_string(&v).unwrap();
        assert!(
            json.starts_with(r#"{"kind":"face","value":[0.6,-0.8,0.0,"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<ExclusionValue>(&json).unwrap(), v);
        for bad in [
            r#"{"kind":"sha256","value":"xyz"}"#,
            r#"{"kind":"pdq","value":"00"}"#,
            r#"{"kind":"url","value":"ftp://example.com/a"}"#,
            r#"{"kind":"face","value":[1.0,0.0]}"#,
        ] {
            assert!(
                serde_json::from_str::<ExclusionValue>(bad).is_err(),
                "{bad}"
            );
        }
    }
}
