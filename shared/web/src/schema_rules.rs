//! The rules of the desk's parsers (`optout_core::model`, `Desk::submit`) written into the OpenAPI
//! document where utoipa's attributes cannot say them: patterns built from the same limits and
//! character classes as the parsers, the fields a request kind requires (`if`/`then`), whether the
//! operator requires a phone number, and an optional header that is never `null`. The document
//! then refuses what the server refuses. What no schema can check stays with the server (an upload
//! that exists, an email domain that IDNA accepts, links that are duplicates once normalised, a
//! phone number that its country's numbering plan has).

use optout_core::countries::COUNTRIES;
use optout_core::model::CaseKind;
use optout_core::model::{
    EMAIL_MAX, NAME_MAX, PHONE_INPUT_MAX, PHONE_SEPARATORS, REASON_MAX, REASON_MIN, URL_MAX,
    URLS_MAX,
};
use optout_core::settings::Settings;
use serde_json::{Value, json};

/// What `str::trim` removes: Unicode `White_Space` (as a character-class body).
const WS: &str = r"\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
/// What a one-line field must not contain: controls, bidi overrides, invisible formatting.
const FORBIDDEN: &str = r"\u0000-\u001F\u007F-\u009F\u200B-\u200F\u202A-\u202E\u2066-\u2069\uFEFF";

/// `inner` with the surrounding white space the parsers trim.
fn trimmed(inner: &str) -> String {
    format!("^[{WS}]*(?:{inner})[{WS}]*$")
}

/// A name: 1 to `NAME_MAX` characters once trimmed, none forbidden.
fn name_pattern() -> String {
    let edge = format!("[^{WS}{FORBIDDEN}]");
    let middle = format!("[^{FORBIDDEN}]");
    trimmed(&format!("{edge}(?:{middle}{{0,{}}}{edge})?", NAME_MAX - 2))
}

/// The reason: `REASON_MIN` to `REASON_MAX` characters once trimmed (CRLF counting as one),
/// line breaks allowed, nothing else forbidden.
fn reason_pattern() -> String {
    let edge = format!("[^{WS}{FORBIDDEN}]");
    let unit = format!(r"(?:[^{FORBIDDEN}]|\r?\n)");
    trimmed(&format!(
        "{edge}{unit}{{{},{}}}{edge}",
        REASON_MIN - 2,
        REASON_MAX - 2
    ))
}

/// An ISO 3166-1 alpha-2 code of the list, in either case.
fn country_pattern() -> String {
    let mut groups: Vec<(char, String)> = Vec::new();
    for (code, _, _) in COUNTRIES {
        let mut c = code.chars();
        let (Some(first), Some(second)) = (c.next(), c.next()) else {
            continue;
        };
        let pair = format!("{second}{}", second.to_ascii_lowercase());
        match groups.last_mut() {
            Some((f, seconds)) if *f == first => seconds.push_str(&pair),
            _ => groups.push((first, pair)),
        }
    }
    let alternatives: Vec<String> = groups
        .iter()
        .map(|(f, s)| format!("[{f}{}][{s}]", f.to_ascii_lowercase()))
        .collect();
    trimmed(&alternatives.join("|"))
}

/// An email address as `Email::parse` reads it: an ASCII local part of at most 64 characters
/// without a dot at either end or twice, then a domain of at least two labels (letters, digits,
/// non-ASCII, inner hyphens) whose last has two characters or more and is not all digits. The
/// IDNA check of a non-ASCII domain and the byte limits stay with the server.
fn email_pattern() -> String {
    // ASCII graphic characters but `"(),.:;<>@[\]`.
    let local = r"[!#-'*+\-/-9=?A-Z\^-~]";
    // Letters and digits, and what is non-ASCII but neither white space nor forbidden.
    let c = r"A-Za-z0-9\u00A1-\u167F\u1681-\u1FFF\u2010-\u2027\u2030-\u205E\u2060-\u2065\u206A-\u2FFF\u3001-\uFEFE\uFF00-\uFFFF";
    let label = format!(r"[{c}](?:[{c}\-]{{0,61}}[{c}])?");
    let tld = format!(r"(?![0-9]+[{WS}]*$)[{c}][{c}\-]{{0,61}}[{c}]");
    trimmed(&format!(
        r"(?=[^@]{{1,64}}@){local}+(?:\.{local}+)*@(?:{label}\.)+{tld}"
    ))
}

/// A phone number as `Phone::parse_in` reads it, in its shape: at most `PHONE_INPUT_MAX`
/// characters once trimmed, digits and `PHONE_SEPARATORS`, a `+` only first (then a country code,
/// which does not start with 0), at least three digits. Whether the number is one of its
/// country's numbering plan stays with the server (`invalid_phone_for_country`).
fn phone_pattern() -> String {
    let seps: String = PHONE_SEPARATORS
        .iter()
        .map(|c| match c {
            '-' | '\\' | ']' | '^' => format!("\\{c}"),
            c => c.to_string(),
        })
        .collect();
    let sep = format!("[{seps}]");
    // The trimmed text: a first and a last character that are not white space, at most
    // `PHONE_INPUT_MAX` in all.
    let edge = format!("[0-9+{}]", seps.replace(' ', ""));
    let length = format!(
        "(?={edge}(?:[0-9+{seps}]{{0,{}}}{edge})?[{WS}]*$)",
        PHONE_INPUT_MAX - 2
    );
    trimmed(&format!(
        r"{length}(?:\+{sep}*[1-9]|{sep}*[0-9])(?:{sep}*[0-9]){{2,}}{sep}*"
    ))
}

/// An http(s) link with a host and no user name (the server parses the rest).
fn url_pattern() -> String {
    format!(r"[Hh][Tt][Tt][Pp][Ss]?://[^{WS}{FORBIDDEN}/?#@\\]+(?:[/?#][^{WS}{FORBIDDEN}]*)?")
}

/// The key of an upload form (`valid_upload_key`).
pub const UPLOAD_KEY_PATTERN: &str = "^uploads/[A-Za-z0-9_-]{22}$";

/// An `Idempotency-Key`: 8 to 128 visible ASCII characters.
const IDEMPOTENCY_KEY_PATTERN: &str = "^[!-~]{8,128}$";

/// Replaces the schema of `properties[name]`, keeping its description.
fn set(properties: &mut Value, name: &str, mut schema: Value) {
    if let Some(d) = properties[name].get("description").cloned() {
        schema["description"] = d;
    }
    properties[name] = schema;
}

/// Writes the rules into `doc` (the document as JSON) for a desk with `settings`.
pub fn apply(doc: &mut Value, settings: &Settings) {
    case_request(&mut doc["components"]["schemas"]["CaseRequest"], settings);
    doc["components"]["schemas"]["PhotoRequest"]["properties"]["upload_key"]["pattern"] =
        json!(UPLOAD_KEY_PATTERN);
    // A complaint's text is read as a request's reason is.
    set(
        &mut doc["components"]["schemas"]["ComplaintRequest"]["properties"],
        "complaint",
        json!({ "type": "string", "pattern": reason_pattern() }),
    );
    if let Some(params) = doc["paths"]["/v1/cases"]["post"]["parameters"].as_array_mut() {
        for p in params.iter_mut().filter(|p| p["name"] == "Idempotency-Key") {
            p["required"] = json!(false);
            p["schema"] = json!({ "type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN });
        }
    }
}

fn case_request(schema: &mut Value, settings: &Settings) {
    let p = &mut schema["properties"];
    let text = |pattern: String| json!({ "type": "string", "pattern": pattern });
    set(p, "country", text(country_pattern()));
    set(p, "first_name", text(name_pattern()));
    set(p, "last_name", text(name_pattern()));
    set(
        p,
        "email",
        json!({ "type": "string", "maxLength": EMAIL_MAX, "pattern": email_pattern() }),
    );
    set(p, "reason", text(reason_pattern()));
    let lang = trimmed("[Ee][Nn]|[Tt][Hh]");
    set(
        p,
        "lang",
        json!({ "type": ["string", "null"], "pattern": lang }),
    );
    if settings.phone_required {
        set(p, "phone", text(phone_pattern()));
    } else {
        // Blank or absent is no phone number.
        let phone = format!("^[{WS}]*$|{}", phone_pattern());
        set(
            p,
            "phone",
            json!({ "type": ["string", "null"], "pattern": phone }),
        );
    }
    // An opt-out ignores links; a notice reads them (blank lines skipped).
    set(
        p,
        "source_urls",
        json!({ "type": "array", "items": { "type": "string" } }),
    );
    set(p, "upload_key", json!({ "type": ["string", "null"] }));
    let url = url_pattern();
    // What each kind requires, from the kind's own answers (a new kind needs nothing here).
    let rules: Vec<Value> = CaseKind::ALL
        .into_iter()
        .map(|kind| {
            let mut required = Vec::new();
            let mut props = serde_json::Map::new();
            if kind.takes_photo() {
                required.push("upload_key");
                props.insert(
                    "upload_key".into(),
                    json!({ "type": "string", "pattern": UPLOAD_KEY_PATTERN }),
                );
            } else {
                props.insert("upload_key".into(), json!({ "type": "null" }));
            }
            if kind.needs_consent() {
                required.push("consent");
                props.insert("consent".into(), json!({ "const": true }));
            }
            if kind.needs_good_faith() {
                required.push("good_faith");
                props.insert("good_faith".into(), json!({ "const": true }));
            }
            if !kind.offers_faces() {
                props.insert("exclude_faces".into(), json!({ "const": false }));
            }
            if kind.takes_links() {
                required.push("source_urls");
                props.insert(
                    "source_urls".into(),
                    json!({
                        "items": { "maxLength": URL_MAX, "pattern": trimmed(&format!("(?:{url})?")) },
                        "contains": { "pattern": trimmed(&url) },
                        "maxContains": URLS_MAX,
                    }),
                );
            }
            json!({
                "if": { "properties": { "kind": { "const": kind.as_str() } } },
                "then": { "required": required, "properties": props },
            })
        })
        .collect();
    schema["allOf"] = Value::Array(rules);
    if settings.phone_required
        && let Some(r) = schema["required"].as_array_mut()
    {
        r.push(json!("phone"));
    }
}
