//! The body of a check request, read item by item so a bad candidate is reported with its index.

use optout_matcher::Candidate;
use optout_matcher::wire::MAX_BATCH;
use serde::Deserialize;

/// Why a check body was refused (each a 400).
#[derive(Debug, PartialEq)]
pub enum BodyError {
    /// Not JSON, or not an object with `candidates` as its only member.
    Malformed(String),
    Empty,
    TooMany(usize),
    /// Candidate `index` is not one of the four shapes.
    Candidate {
        index: usize,
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    candidates: Vec<serde_json::Value>,
}

/// The candidates of a `POST /v1/exclusions/check` body.
pub fn candidates(body: &[u8]) -> Result<Vec<Candidate>, BodyError> {
    let raw: Raw = serde_json::from_slice(body)
        .map_err(|e| BodyError::Malformed(format!("Malformed JSON: {e}")))?;
    if raw.candidates.is_empty() {
        return Err(BodyError::Empty);
    }
    if raw.candidates.len() > MAX_BATCH {
        return Err(BodyError::TooMany(raw.candidates.len()));
    }
    raw.candidates
        .into_iter()
        .enumerate()
        .map(|(index, v)| {
            Candidate::deserialize(v).map_err(|e| BodyError::Candidate {
                index,
                message: format!(
                    "candidates[{index}] must be {{\"url\": ...}}, {{\"sha256\": ...}}, {{\"pdq\": ...}} or {{\"face\": [...]}}: {e}"
                ),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_read_one_by_one() {
        let ok = br#"{"candidates": [{"url": "https://a.example/x"}, {"sha256": "00"}, {"face": [0.5, 1e3]}]}"#;
        let c = candidates(ok).unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[2], Candidate::Face(vec![0.5, 1000.0]));

        let bad = br#"{"candidates": [{"url": "https://a.example/x"}, {"pdq": 5}, {"nope": 1}]}"#;
        let Err(BodyError::Candidate { index, message }) = candidates(bad) else {
            panic!("refused")
        };
        assert_eq!(index, 1);
        assert!(message.contains("candidates[1]"), "{message}");
        let two_keys = br#"{"candidates": [{"url": "https://a.example/x", "pdq": "00"}]}"#;
        assert!(matches!(
            candidates(two_keys),
            Err(BodyError::Candidate { index: 0, .. })
        ));
        let face_with_text = br#"{"candidates": [{"sha256": "00"}, {"face": [0.1, "x"]}]}"#;
        assert!(matches!(
            candidates(face_with_text),
            Err(BodyError::Candidate { index: 1, .. })
        ));
    }

    #[test]
    fn the_envelope_is_strict() {
        for bad in [
            &b"not json"[..],
            b"[]",
            b"{}",
            br#"{"candidates": 1}"#,
            br#"{"candidates": [], "x": 1}"#,
        ] {
            assert!(
                matches!(candidates(bad), Err(BodyError::Malformed(_))),
                "{:?}",
                std::str::from_utf8(bad)
            );
        }
        assert_eq!(candidates(br#"{"candidates": []}"#), Err(BodyError::Empty));
        let many = format!(
            r#"{{"candidates": [{}]}}"#,
            vec![r#"{"sha256": "00"}"#; MAX_BATCH + 1].join(",")
        );
        assert_eq!(
            candidates(many.as_bytes()),
            Err(BodyError::TooMany(MAX_BATCH + 1))
        );
    }
}
