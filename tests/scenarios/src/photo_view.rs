//! A reviewer looks at a large photo. The embedded mode serves it from its files; the AWS mode
//! answers `303 See Other` to a short-lived presigned S3 GET, because a Lambda response stops at
//! 6 MB while the form accepts 10 MB. Either way the browser gets the exact bytes, never cached,
//! and only the case page that shows the photo allows the photo store's origin for images.

use std::io::Cursor;
use std::sync::OnceLock;

use image::DynamicImage;
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;

use crate::scenarios::{case_page, decide, decision_form, login, status_token, submit_face};
use crate::{Mode, Reply, Req, fixture};

/// The largest response body a Lambda function can return (synchronous invocation).
const LAMBDA_RESPONSE_MAX: usize = 6 * 1024 * 1024;

/// A real portrait as a JPEG of about `target` bytes: the fixture scaled up, with faint noise so
/// that it does not compress (the face stays detectable: the detector sees it scaled down).
pub fn large_portrait_jpeg(target: usize) -> Vec<u8> {
    let portrait = image::load_from_memory(&fixture("person_a_1.jpg")).expect("a photo");
    // The size grows with the pixel count: measure it on a small copy, then aim once more.
    let mut width = 600u32;
    let mut jpeg = noisy_jpeg(&portrait, width);
    for _ in 0..2 {
        let scale = (target as f64 / jpeg.len() as f64).sqrt();
        width = (f64::from(width) * scale) as u32;
        jpeg = noisy_jpeg(&portrait, width);
        if jpeg.len().abs_diff(target) < target / 50 {
            break;
        }
    }
    jpeg
}

/// `portrait` at `width` pixels, with noise of ±24 levels, as a JPEG of quality 100. (Only
/// `DynamicImage`'s own methods: the image crate's code is optimised even in test builds.)
fn noisy_jpeg(portrait: &DynamicImage, width: u32) -> Vec<u8> {
    let height =
        (u64::from(portrait.height()) * u64::from(width) / u64::from(portrait.width())) as u32;
    let mut rgb = portrait
        .resize_exact(width, height, FilterType::Triangle)
        .into_rgb8();
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    for chunk in rgb.chunks_mut(4) {
        // xorshift64: cheap, deterministic noise, one draw for four samples.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        for (c, r) in chunk.iter_mut().zip(state.to_le_bytes().chunks(2)) {
            let n = i16::from(r[0] % 49) - 24;
            *c = (i16::from(*c) + n).clamp(0, 255) as u8;
        }
    }
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(rgb)
        .write_with_encoder(JpegEncoder::new_with_quality(&mut out, 100))
        .expect("JPEG");
    out.into_inner()
}

fn csp(r: &Reply) -> String {
    r.header("content-security-policy")
        .unwrap_or_default()
        .to_owned()
}

/// A face opt-out with a 9.5 MB photo: the reviewer's case page shows it, and the photo route
/// gives its exact bytes (embedded: 200 with the body; AWS: 303 to S3, nothing large through the
/// function). Without a session nothing is shown; after the decision the photo is gone, and so
/// is the photo store's origin from the page's policy.
pub async fn reviewer_views_a_large_photo(mode: &dyn Mode) {
    // Made once per test binary (a few seconds), shared by the two modes.
    static PHOTO: OnceLock<Vec<u8>> = OnceLock::new();
    let photo = PHOTO.get_or_init(|| large_portrait_jpeg(9_500_000)).clone();
    assert!(
        (9_000_000..10 * 1024 * 1024).contains(&photo.len()),
        "{} bytes",
        photo.len()
    );
    assert!(photo.len() > LAMBDA_RESPONSE_MAX);
    let email = mode.email("large-photo");
    let case = submit_face(mode, &email, photo.clone(), "scenario-large-photo").await;
    let id = case["id"].as_str().expect("case id").to_owned();
    let token = status_token(case["status_url"].as_str().expect("status url"));
    assert_eq!(mode.run_jobs().await, 1, "{}: one job", mode.name());
    let status = mode.send(Req::get(&format!("/v1/status/{token}"))).await;
    assert_eq!(
        status.json()["state"],
        "awaiting_review",
        "{}: the large photo went through the face pipeline",
        mode.name()
    );

    // The photo store's origin: AWS has one (the emulator's, for S3), the embedded mode none.
    let origin = mode
        .desk()
        .ports
        .photos
        .view_origin()
        .await
        .expect("the photo store's origin");
    assert_eq!(origin.is_some(), mode.name() == "aws", "{origin:?}");
    let img_src = match &origin {
        Some(o) => format!("img-src 'self' data: {o};"),
        None => "img-src 'self' data:;".to_owned(),
    };

    let alice = login(mode, "alice").await;
    let page = case_page(mode, &alice, &id).await;
    assert!(
        page.text()
            .contains(&format!("src=\"/admin/cases/{id}/photo\"")),
        "{}: the case page shows the photo",
        mode.name()
    );
    assert!(
        csp(&page).contains(&img_src),
        "{}: {}",
        mode.name(),
        csp(&page)
    );
    // No other page widens its policy.
    let queue = mode.send(Req::get("/admin").header("cookie", &alice)).await;
    assert!(
        csp(&queue).contains("img-src 'self' data:;"),
        "{}: {}",
        mode.name(),
        csp(&queue)
    );

    let path = format!("/admin/cases/{id}/photo");
    let r = mode.send(Req::get(&path)).await;
    assert_eq!(r.status, 403, "{}: the photo needs a session", mode.name());
    let r = mode.send(Req::get(&path).header("cookie", &alice)).await;
    assert_eq!(
        r.header("cache-control"),
        Some("no-store"),
        "{}",
        mode.name()
    );
    let (bytes, content_type, view_url) = match (mode.name(), r.status) {
        ("embedded", 200) => (
            r.body.clone(),
            r.header("content-type").unwrap_or_default().to_owned(),
            None,
        ),
        ("aws", 303) => {
            assert!(
                r.body.len() < 1024,
                "the redirect carries no photo: {} bytes",
                r.body.len()
            );
            assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
            let url = r.header("location").expect("a view URL").to_owned();
            let o = origin.as_deref().unwrap_or_default();
            assert!(url.starts_with(&format!("{o}/")), "the URL is on {o}");
            // Fetched as the browser does: without the session, straight from the store.
            let got = reqwest::get(&url).await.expect("the photo store answers");
            assert_eq!(got.status(), 200);
            assert_eq!(
                got.headers()["cache-control"],
                "no-store, private",
                "never cached"
            );
            assert_eq!(got.headers()["content-disposition"], "inline");
            let ct = got.headers()["content-type"]
                .to_str()
                .unwrap_or_default()
                .to_owned();
            let body = got.bytes().await.expect("the photo").to_vec();
            (body, ct, Some(url))
        }
        (m, status) => panic!("{m}: the photo route answered {status}: {}", r.text()),
    };
    assert_eq!(content_type, "image/jpeg", "{}", mode.name());
    assert_eq!(bytes.len(), photo.len(), "{}", mode.name());
    assert!(bytes == photo, "{}: the bytes differ", mode.name());

    // Decided: the photo is deleted; the route says so, the page no longer allows the store,
    // and a view URL handed out before gives nothing.
    let form = decision_form(mode, &alice, &id).await;
    let r = decide(mode, &alice, &id, &form, &[("decision", "approve")]).await;
    assert_eq!(r.status, 303, "{}: {}", mode.name(), r.text());
    let r = mode.send(Req::get(&path).header("cookie", &alice)).await;
    assert_eq!(r.status, 404, "{}", mode.name());
    let page = mode
        .send(Req::get(&format!("/admin/cases/{id}")).header("cookie", &alice))
        .await;
    assert!(page.text().contains("id=\"photo-gone\""), "{}", mode.name());
    assert!(
        csp(&page).contains("img-src 'self' data:;"),
        "{}: {}",
        mode.name(),
        csp(&page)
    );
    if let Some(url) = view_url {
        let again = reqwest::get(&url).await.expect("the photo store answers");
        assert!(
            again.status().is_client_error(),
            "a deleted photo's URL answered {}",
            again.status()
        );
    }
}
