//! JSON request bodies read into their types, with refusals for people: the field at fault by its
//! path (`source_urls[2]: invalid type: integer `5`, expected a string`), and never the name of a
//! Rust type (request types set `#[serde(expecting = ...)]` for that; see [`parse`]).

use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::error::Category;

/// The longest part of a message taken from the parser (it may quote the value sent).
const DETAIL_MAX: usize = 200;

/// Reads `body`, a JSON object, into `T`; on failure, a message that names what is wrong and
/// where. The body must be an object: serde would also read a struct from an array of its
/// fields in order, which the API does not document.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Err("The body is empty; send a JSON object.".into()),
        Some(b'{') => {}
        Some(_) => {
            return Err(match serde_json::from_slice::<IgnoredAny>(body) {
                Ok(_) => "The body must be a JSON object.".into(),
                Err(e) => format!("Malformed JSON: {e}."),
            });
        }
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| describe(e, body))?;
    de.end().map_err(|e| format!("Malformed JSON: {e}."))?;
    Ok(value)
}

fn describe(e: serde_path_to_error::Error<serde_json::Error>, body: &[u8]) -> String {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if inner.classify() != Category::Data {
        // serde_json reports some type errors (a number where an enum's string belongs) as
        // syntax errors: say so only when the body really is not JSON.
        if serde_json::from_slice::<IgnoredAny>(body).is_ok() {
            return format!("{path}: a value of the wrong type.");
        }
        return format!("Malformed JSON: {inner}.");
    }
    // serde_json ends data errors with the position; the path says more.
    let text = inner.to_string();
    let position = format!(" at line {} column {}", inner.line(), inner.column());
    let detail = text.strip_suffix(&position).unwrap_or(&text);
    let detail = match detail.char_indices().nth(DETAIL_MAX) {
        Some((i, _)) => format!("{}…", &detail[..i]),
        None => detail.to_owned(),
    };
    if path == "." {
        format!("{detail}.")
    } else {
        format!("{path}: {detail}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, expecting = "a JSON object")]
    #[allow(dead_code)]
    struct Req {
        kind: Kind,
        name: String,
        #[serde(default)]
        tags: Vec<String>,
        #[serde(default)]
        ok: bool,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case", expecting = "`a` or `b`")]
    enum Kind {
        A,
        B,
    }

    fn refusal(body: &str) -> String {
        parse::<Req>(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn refusals_name_the_field_and_no_rust_type() {
        assert!(parse::<Req>(br#" {"kind": "a", "name": "x"} "#).is_ok());
        for (body, expected) in [
            (
                r#"{"kind": "a", "name": 5}"#,
                "name: invalid type: integer `5`, expected a string.",
            ),
            (
                r#"{"kind": "a", "name": "x", "tags": ["y", 3]}"#,
                "tags[1]: invalid type: integer `3`, expected a string.",
            ),
            (
                r#"{"kind": "c", "name": "x"}"#,
                "kind: unknown variant `c`, expected `a` or `b`.",
            ),
            (
                r#"{"kind": 1, "name": "x"}"#,
                "kind: a value of the wrong type.",
            ),
            (
                r#"{"kind": "a", "name": "x", "ok": "yes"}"#,
                "ok: invalid type: string \"yes\", expected a boolean.",
            ),
            (r#"{"kind": "a"}"#, "missing field `name`."),
            (
                r#"{"kind": "a", "name": "x", "zz": 1}"#,
                "zz: unknown field `zz`, expected one of `kind`, `name`, `tags`, `ok`.",
            ),
            (
                "[\"a\", \"x\", [], true]",
                "The body must be a JSON object.",
            ),
            ("", "The body is empty; send a JSON object."),
            (
                "{\"kind\": ",
                "Malformed JSON: EOF while parsing a value at line 1 column 9.",
            ),
            (
                r#"{"kind": "a", "name": "x"} {}"#,
                "Malformed JSON: trailing characters at line 1 column 28.",
            ),
        ] {
            assert_eq!(refusal(body), expected, "{body}");
        }
        let long = format!(
            r#"{{"kind": "a", "name": "x", "ok": "{}"}}"#,
            "y".repeat(5000)
        );
        assert!(refusal(&long).chars().count() < DETAIL_MAX + 20);
    }
}
