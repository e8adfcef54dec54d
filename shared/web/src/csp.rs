//! The Content-Security-Policy: one for every page, widened for images on the admin case page
//! when the photo store serves photos itself.

use http::HeaderValue;

/// The Content-Security-Policy of every response that does not set its own.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self' https:; base-uri 'none'; frame-ancestors 'none'";

/// [`CONTENT_SECURITY_POLICY`] that also lets images come from `origin` (`scheme://host[:port]`):
/// the admin case page's, when the photo store serves photos itself (AWS: the photo route
/// redirects to S3, and a policy blocks a redirected image whose origin it does not list).
/// `None` when `origin` is not a plain http(s) origin, so that it cannot widen the policy.
pub fn csp_with_image_origin(origin: &str) -> Option<HeaderValue> {
    let host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))?;
    let plain = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !plain {
        return None;
    }
    let policy = CONTENT_SECURITY_POLICY.replacen(
        "img-src 'self' data:",
        &format!("img-src 'self' data: {origin}"),
        1,
    );
    HeaderValue::from_str(&policy).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_origin_widens_img_src_only() {
        let v = csp_with_image_origin("https://photos.s3.eu-west-1.amazonaws.com").unwrap();
        let v = v.to_str().unwrap();
        assert!(v.contains("img-src 'self' data: https://photos.s3.eu-west-1.amazonaws.com;"));
        assert_eq!(
            v.replace(" https://photos.s3.eu-west-1.amazonaws.com", ""),
            CONTENT_SECURITY_POLICY
        );
        assert!(
            csp_with_image_origin("http://127.0.0.1:5000")
                .unwrap()
                .to_str()
                .unwrap()
                .contains("img-src 'self' data: http://127.0.0.1:5000;")
        );
        for bad in [
            "",
            "https://",
            "*",
            "https://*",
            "https://a; script-src *",
            "https://a/path",
            "https://user@a",
            "ftp://a",
            "'unsafe-inline'",
        ] {
            assert!(csp_with_image_origin(bad).is_none(), "{bad}");
        }
    }
}
