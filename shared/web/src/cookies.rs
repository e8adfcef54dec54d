//! The cookies a request sends, parsed by the `cookie` crate.

use cookie::Cookie;
use http::{HeaderMap, header};

/// The value of every cookie called `name`, in the order the request sent them (each `Cookie`
/// header, left to right): a browser sends several cookies of one name when pages of other paths
/// (or a forger) set their own. Pairs that do not parse (no `=`, no name) and headers that are
/// not visible ASCII are skipped.
pub fn values<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(move |c| c.name() == name)
        .filter_map(|c| c.value_raw())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::COOKIE, HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    fn all<'a>(h: &'a HeaderMap, name: &'a str) -> Vec<&'a str> {
        values(h, name).collect()
    }

    #[test]
    fn every_value_of_the_name_in_order() {
        let h = headers(&[
            b"a=1; lang=th;b=2",
            b" lang = en ;lang=; langx=fr",
            b"lang=x=y",
        ]);
        assert_eq!(all(&h, "lang"), ["th", "en", "", "x=y"]);
        assert_eq!(all(&h, "b"), ["2"]);
        assert!(all(&h, "la").is_empty());
        assert!(all(&HeaderMap::new(), "lang").is_empty());
    }

    #[test]
    fn malformed_pairs_are_skipped_and_never_panic() {
        let h = headers(&[
            b"",
            b";;; ;",
            b"=",
            b"=th; lang",
            b"lang; noequals; lang=ok",
            b"lang=\"th\"",
            // Not visible ASCII: the whole header is skipped.
            b"lang=\xe0\xb9\x84\xe0\xb8\x97\xe0\xb8\xa2; lang=no",
        ]);
        assert_eq!(all(&h, "lang"), ["ok", "\"th\""]);

        // Every string of up to 6 of these characters.
        let alphabet = [b'l', b'=', b';', b' ', b'"', b'\t'];
        let mut words: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..6 {
            let longer: Vec<Vec<u8>> = words
                .iter()
                .filter(|w| w.len() == words.last().map_or(0, Vec::len))
                .flat_map(|w| {
                    alphabet.iter().map(move |&c| {
                        let mut w = w.clone();
                        w.push(c);
                        w
                    })
                })
                .collect();
            words.extend(longer);
        }
        assert_eq!(words.len(), (0..=6).map(|k| 6usize.pow(k)).sum::<usize>());
        for w in &words {
            let h = headers(&[w]);
            for v in values(&h, "l") {
                assert!(!v.contains(';'), "{w:?}: {v:?}");
            }
        }
    }
}
