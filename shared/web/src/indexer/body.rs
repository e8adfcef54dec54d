//! The body of a check request, read item by item so a bad candidate is reported with its index
//! and the key at fault, in words (never a Rust type).

use optout_matcher::Candidate;
use optout_matcher::wire::MAX_BATCH;
use serde::Deserialize;
use serde_json::Value;

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
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct Raw {
    candidates: Vec<Value>,
}

/// The candidates of a `POST /v1/exclusions/check` body.
pub fn candidates(body: &[u8]) -> Result<Vec<Candidate>, BodyError> {
    let raw: Raw = crate::json_body::parse(body).map_err(BodyError::Malformed)?;
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
            candidate(v).map_err(|what| BodyError::Candidate {
                index,
                message: format!("candidates[{index}]{what}"),
            })
        })
        .collect()
}

const SHAPES: &str = "{\"url\": ...}, {\"sha256\": ...}, {\"pdq\": ...} or {\"face\": [...]}";

/// One candidate; on failure, what is wrong, starting with the path below the item.
fn candidate(v: Value) -> Result<Candidate, String> {
    let Value::Object(map) = v else {
        return Err(format!(": expected an object, one of {SHAPES}"));
    };
    if map.len() != 1 {
        return Err(format!(
            ": expected exactly one key, one of {SHAPES}; got {}",
            map.len()
        ));
    }
    let Some((key, value)) = map.into_iter().next() else {
        return Err(format!(": expected one of {SHAPES}"));
    };
    let text = |v: Value| match v {
        Value::String(s) => Ok(s),
        _ => Err(format!(".{key}: expected a string")),
    };
    match key.as_str() {
        "url" => text(value).map(Candidate::Url),
        "sha256" => text(value).map(Candidate::Sha256),
        "pdq" => text(value).map(Candidate::Pdq),
        "face" => {
            let Value::Array(items) = value else {
                return Err(".face: expected an array of numbers".into());
            };
            items
                .iter()
                .enumerate()
                // Out of range of a 32-bit float becomes infinite: the matcher refuses it.
                .map(|(i, x)| {
                    x.as_f64()
                        .map(|f| f as f32)
                        .ok_or(format!(".face[{i}]: expected a number"))
                })
                .collect::<Result<_, _>>()
                .map(Candidate::Face)
        }
        other => Err(format!(
            ": unknown key `{}`; expected one of {SHAPES}",
            other.chars().take(40).collect::<String>()
        )),
    }
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
        assert_eq!(message, "candidates[1].pdq: expected a string");
        let two_keys = br#"{"candidates": [{"url": "https://a.example/x", "pdq": "00"}]}"#;
        assert!(matches!(
            candidates(two_keys),
            Err(BodyError::Candidate { index: 0, .. })
        ));
        let face_with_text = br#"{"candidates": [{"sha256": "00"}, {"face": [0.1, "x"]}]}"#;
        assert_eq!(
            candidates(face_with_text),
            Err(BodyError::Candidate {
                index: 1,
                message: "candidates[1].face[1]: expected a number".into()
            })
        );
        let unknown = br#"{"candidates": [{"nope": 1}]}"#;
        let Err(BodyError::Candidate { message, .. }) = candidates(unknown) else {
            panic!("refused")
        };
        assert!(
            message.starts_with("candidates[0]: unknown key `nope`"),
            "{message}"
        );
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
