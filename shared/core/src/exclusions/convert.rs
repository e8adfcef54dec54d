//! The exclusion table's stored values as the matcher and the indexer API see them.

use optout_matcher::wire::{WireEntry, WireState, WireValue};
use optout_matcher::{
    CandidateError, Embedding, EntryValue, Kind, PdqHash, Sha256Digest, normalize_url,
};

use crate::ports::{EntryState, ExclusionEntry, ExclusionValue};

/// The matcher's form of a stored value: URLs normalised the way the indexer's links are (scheme
/// and host case, default ports, percent-encoding, trailing slash, fragment, tracking
/// parameters), hashes parsed, embeddings renormalised.
pub fn entry_value(v: &ExclusionValue) -> Result<EntryValue, CandidateError> {
    Ok(match v {
        ExclusionValue::Url(u) => EntryValue::Url(normalize_url(u)?),
        ExclusionValue::Sha256(h) => {
            EntryValue::Sha256(Sha256Digest::from_hex(h).map_err(CandidateError::Sha256)?)
        }
        ExclusionValue::Pdq(h) => {
            EntryValue::Pdq(PdqHash::from_hex(h).map_err(CandidateError::Pdq)?)
        }
        ExclusionValue::Face(e) => EntryValue::Face(Embedding::normalized(e)?),
    })
}

pub fn kind(v: &ExclusionValue) -> Kind {
    match v {
        ExclusionValue::Url(_) => Kind::Url,
        ExclusionValue::Sha256(_) => Kind::Sha256,
        ExclusionValue::Pdq(_) => Kind::Pdq,
        ExclusionValue::Face(_) => Kind::Face,
    }
}

/// An entry as the change feed and the snapshot carry it: id, position, state, kind and the
/// matching value in canonical form, nothing about its case. A value the matcher refuses (which
/// [`entry_value`] reports) is sent as stored, so a client refuses it the same way.
pub fn wire_entry(e: &ExclusionEntry) -> WireEntry {
    let value = match entry_value(&e.value) {
        Ok(EntryValue::Url(u)) => WireValue::Text(u.as_str().to_owned()),
        Ok(EntryValue::Sha256(d)) => WireValue::Text(d.to_hex()),
        Ok(EntryValue::Pdq(h)) => WireValue::Text(h.to_hex()),
        Ok(EntryValue::Face(f)) => WireValue::Vector(f.as_array().to_vec()),
        Err(_) => match &e.value {
            ExclusionValue::Face(v) => WireValue::Vector(v.clone()),
            ExclusionValue::Url(t) | ExclusionValue::Sha256(t) | ExclusionValue::Pdq(t) => {
                WireValue::Text(t.clone())
            }
        },
    };
    WireEntry {
        id: e.id,
        position: e.position,
        state: match e.state {
            EntryState::Active => WireState::Active,
            EntryState::Withdrawn => WireState::Withdrawn,
        },
        kind: kind(&e.value),
        value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CaseId;

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
    fn urls_are_normalised_for_matching_and_on_the_wire() {
        let v = ExclusionValue::Url("HTTPS://Example.COM:443/a/b.jpg/?utm_source=x#frag".into());
        let Ok(EntryValue::Url(u)) = entry_value(&v) else {
            panic!("a URL entry")
        };
        assert_eq!(u.as_str(), "https://example.com/a/b.jpg");
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
            ExclusionValue::Sha256(h.clone()),
            EntryState::Withdrawn,
        ));
        assert_eq!(w.value, WireValue::Text("ab".repeat(32)));
        assert_eq!(w.state, WireState::Withdrawn);
        let w = wire_entry(&entry(ExclusionValue::Pdq(h), EntryState::Active));
        assert_eq!(
            (w.kind, w.value),
            (Kind::Pdq, WireValue::Text("ab".repeat(32)))
        );
        let mut face = vec![0.0f32; 128];
        face[3] = 2.0;
        let w = wire_entry(&entry(ExclusionValue::Face(face), EntryState::Active));
        let WireValue::Vector(v) = w.value else {
            panic!("a vector")
        };
        assert!((v[3] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn unusable_values_are_refused_and_sent_as_stored() {
        for v in [
            ExclusionValue::Url("ftp://example.com/a".into()),
            ExclusionValue::Sha256("xyz".into()),
            ExclusionValue::Pdq("00".into()),
            ExclusionValue::Face(vec![0.0; 127]),
        ] {
            assert!(entry_value(&v).is_err(), "{v:?}");
            let w = wire_entry(&entry(v.clone(), EntryState::Active));
            match (&v, &w.value) {
                (ExclusionValue::Face(a), WireValue::Vector(b)) => assert_eq!(a, b),
                (ExclusionValue::Url(a), WireValue::Text(b))
                | (ExclusionValue::Sha256(a), WireValue::Text(b))
                | (ExclusionValue::Pdq(a), WireValue::Text(b)) => assert_eq!(a, b),
                other => panic!("{other:?}"),
            }
        }
    }
}
