//! Table test of URL normalisation: pairs that must match and pairs that must not, the
//! canonical form, and every refusal with its message.

use optout_matcher::{UrlError, normalize_url};

fn key(s: &str) -> String {
    match normalize_url(s) {
        Ok(u) => u.match_key().to_string(),
        Err(e) => panic!("{s:?} was refused: {e}"),
    }
}

const SAME: &[(&str, &str)] = &[
    ("HTTP://Example.COM/a.jpg", "http://example.com/a.jpg"),
    ("https://example.com:443/a.jpg", "https://example.com/a.jpg"),
    ("http://example.com:80/a.jpg", "http://example.com/a.jpg"),
    (
        "https://example.com/a/./b/../c.jpg",
        "https://example.com/a/c.jpg",
    ),
    (
        "https://example.com/photos/../a.jpg",
        "https://example.com/a.jpg",
    ),
    (
        "https://example.com/%7Euser/a.jpg",
        "https://example.com/~user/a.jpg",
    ),
    (
        "https://example.com/%41%42c.jpg",
        "https://example.com/ABc.jpg",
    ),
    ("https://example.com/a%2ejpg", "https://example.com/a.jpg"),
    (
        "https://example.com/a%2fb.jpg",
        "https://example.com/a%2Fb.jpg",
    ),
    (
        "https://example.com/caf%c3%a9.jpg",
        "https://example.com/café.jpg",
    ),
    (
        "https://example.com/gallery/",
        "https://example.com/gallery",
    ),
    ("https://example.com", "https://example.com/"),
    (
        "https://example.com/a.jpg#section",
        "https://example.com/a.jpg",
    ),
    (
        "https://example.com/a.jpg?id=1#utm_source=x",
        "https://example.com/a.jpg?id=1",
    ),
    (
        "https://example.com/a.jpg?utm_source=x&utm_medium=y",
        "https://example.com/a.jpg",
    ),
    (
        "https://example.com/a.jpg?fbclid=abc&id=3",
        "https://example.com/a.jpg?id=3",
    ),
    (
        "https://example.com/a.jpg?gclid=1&dclid=2&msclkid=3&mc_cid=4&mc_eid=5&igshid=6&_ga=7&yclid=8&ref_src=9",
        "https://example.com/a.jpg",
    ),
    (
        "https://example.com/a.jpg?UTM_Source=x&id=1",
        "https://example.com/a.jpg?id=1",
    ),
    (
        "https://example.com/a.jpg?b=2&a=1",
        "https://example.com/a.jpg?a=1&b=2",
    ),
    ("https://example.com/a.jpg?", "https://example.com/a.jpg"),
    (
        "https://example.com/a.jpg?&&id=1&",
        "https://example.com/a.jpg?id=1",
    ),
    (
        "https://example.com/a.jpg?q=%7e",
        "https://example.com/a.jpg?q=~",
    ),
    (
        "https://example.com/a.jpg?q=a%2bb",
        "https://example.com/a.jpg?q=a%2Bb",
    ),
    ("https://EXAMPLE.com./a.jpg", "https://example.com/a.jpg"),
    (
        "https://bücher.example/a.jpg",
        "https://xn--bcher-kva.example/a.jpg",
    ),
    ("https://[2001:DB8::1]/a.jpg", "https://[2001:db8::1]/a.jpg"),
    (
        "  https://example.com/a.jpg \n",
        "https://example.com/a.jpg",
    ),
    ("http://example.com/a.jpg", "https://example.com/a.jpg"),
    ("https://example.com/a//", "https://example.com/a"),
];

const DIFFERENT: &[(&str, &str)] = &[
    ("https://example.com/a.jpg", "https://example.com/b.jpg"),
    ("https://example.com/A.jpg", "https://example.com/a.jpg"),
    (
        "https://example.com/a.jpg?id=1",
        "https://example.com/a.jpg?id=2",
    ),
    ("https://example.com/a.jpg", "https://example.org/a.jpg"),
    (
        "https://example.com:8443/a.jpg",
        "https://example.com/a.jpg",
    ),
    (
        "https://example.com/a%2Fb.jpg",
        "https://example.com/a/b.jpg",
    ),
    ("https://www.example.com/a.jpg", "https://example.com/a.jpg"),
    ("https://sub.example.com/a.jpg", "https://example.com/a.jpg"),
    (
        "https://example.com/a.jpg?page=2",
        "https://example.com/a.jpg",
    ),
    ("https://example.com/img/a.jpg", "https://example.com/a.jpg"),
    (
        "https://example.com/a.jpg?ref=1",
        "https://example.com/a.jpg",
    ),
    (
        "https://example.com/a.jpg?id=1&id=2",
        "https://example.com/a.jpg?id=1",
    ),
    (
        "https://example.com/a.jpg?id=1",
        "https://example.com/a.jpg?ID=1",
    ),
    (
        "https://example.com/a.jpg?x=%20",
        "https://example.com/a.jpg?x=+",
    ),
];

#[test]
fn equal_pairs_normalise_to_the_same_key() {
    let mut failures = Vec::new();
    for (a, b) in SAME {
        if key(a) != key(b) {
            failures.push(format!("{a:?} -> {} but {b:?} -> {}", key(a), key(b)));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn different_pairs_stay_different() {
    let mut failures = Vec::new();
    for (a, b) in DIFFERENT {
        if key(a) == key(b) {
            failures.push(format!("{a:?} and {b:?} both -> {}", key(a)));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn table_has_at_least_thirty_rows() {
    assert!(SAME.len() + DIFFERENT.len() >= 30);
}

#[test]
fn canonical_form() {
    let cases = [
        (
            "HTTPS://Example.COM:443/a/./b/../%7ec.jpg?utm_source=x&b=2&a=1#frag",
            "https://example.com/a/~c.jpg?a=1&b=2",
        ),
        ("http://example.com", "http://example.com/"),
        ("https://example.com:8080/x/", "https://example.com:8080/x"),
        ("https://bücher.example/", "https://xn--bcher-kva.example/"),
        ("https://example.com/a b", "https://example.com/a%20b"),
    ];
    for (input, want) in cases {
        match normalize_url(input) {
            Ok(u) => assert_eq!(u.as_str(), want, "{input:?}"),
            // Spaces are refused, which is also a correct answer for the last row.
            Err(UrlError::Whitespace { .. }) if input.contains(' ') => {}
            Err(e) => panic!("{input:?}: {e}"),
        }
    }
    let u = normalize_url("https://Example.com:8080/a").unwrap();
    assert_eq!(u.host(), "example.com");
    assert_eq!(u.match_key(), "//example.com:8080/a");
}

#[test]
fn refusals_have_precise_errors() {
    let long = format!("https://example.com/{}", "a".repeat(2100));
    let cases: Vec<(&str, UrlError)> = vec![
        ("", UrlError::Empty),
        ("   ", UrlError::Empty),
        (
            "javascript:alert(1)",
            UrlError::UnsupportedScheme {
                scheme: "javascript".into(),
            },
        ),
        (
            "JavaScript:alert(1)",
            UrlError::UnsupportedScheme {
                scheme: "javascript".into(),
            },
        ),
        (
            "file:///etc/passwd",
            UrlError::UnsupportedScheme {
                scheme: "file".into(),
            },
        ),
        (
            "data:image/png;base64,AAAA",
            UrlError::UnsupportedScheme {
                scheme: "data".into(),
            },
        ),
        (
            "ftp://example.com/a.jpg",
            UrlError::UnsupportedScheme {
                scheme: "ftp".into(),
            },
        ),
        ("https://user:pw@example.com/a.jpg", UrlError::Userinfo),
        ("https://user@example.com/a.jpg", UrlError::Userinfo),
        ("https://@example.com/a.jpg", UrlError::Userinfo),
        ("https://", UrlError::MissingHost),
        ("example.com/a.jpg", UrlError::NotAbsolute),
        ("/a.jpg", UrlError::NotAbsolute),
        (
            "https://exa mple.com/",
            UrlError::Whitespace { position: 11 },
        ),
        (
            "https://example.com/a\tb",
            UrlError::Whitespace { position: 21 },
        ),
        (
            "https://example.com/a\u{0}b",
            UrlError::ControlChar {
                position: 21,
                code: 0,
            },
        ),
        (
            "https://example.com/a\u{200B}b",
            UrlError::ControlChar {
                position: 21,
                code: 0x200B,
            },
        ),
        (
            long.as_str(),
            UrlError::TooLong {
                len: long.len(),
                max: 2048,
            },
        ),
        ("https://example.com:99999/", UrlError::InvalidPort),
    ];
    for (input, want) in &cases {
        assert_eq!(normalize_url(input).as_ref(), Err(want), "{input:?}");
    }
    for input in [
        "https://exa<mple.com/",
        "https://999.1.1.1/",
        "https://[::1/",
    ] {
        assert!(
            matches!(normalize_url(input), Err(UrlError::InvalidHost { .. })),
            "{input:?} -> {:?}",
            normalize_url(input)
        );
    }
    let messages: std::collections::HashSet<String> =
        cases.iter().map(|(_, e)| e.to_string()).collect();
    assert!(messages.iter().all(|m| m.len() > 10));
    assert!(
        messages.len() >= 12,
        "messages should be specific: {messages:#?}"
    );
}

#[test]
fn arbitrary_input_never_panics() {
    let mut rng = optout_matcher::rng::SplitMix64::new(9);
    let alphabet: Vec<char> = "htps:/%?#&=.@[]:\\ \t\u{0}aZ9é~_-+\u{200B}"
        .chars()
        .collect();
    for _ in 0..20_000 {
        let len = rng.below(40) as usize;
        let mut s = String::from(if rng.below(2) == 0 { "https://" } else { "" });
        for _ in 0..len {
            s.push(alphabet[rng.below(alphabet.len() as u64) as usize]);
        }
        if let Ok(u) = normalize_url(&s) {
            // Normalising is idempotent.
            assert_eq!(normalize_url(u.as_str()).as_ref(), Ok(&u), "{s:?}");
        }
    }
}

#[test]
fn serde_round_trip() {
    let u = normalize_url("https://Example.com/a.jpg?utm_source=x").unwrap();
    let json = serde_json::to_string(&u).unwrap();
    assert_eq!(json, "\"https://example.com/a.jpg\"");
    let back: optout_matcher::NormalizedUrl = serde_json::from_str(&json).unwrap();
    assert_eq!(back, u);
    assert!(serde_json::from_str::<optout_matcher::NormalizedUrl>("\"javascript:x\"").is_err());
}
