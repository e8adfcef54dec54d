//! Valid inputs for the use cases: submissions of each kind and small photos.

use image::{ImageEncoder, RgbImage};

use super::png_by_rows;
use crate::i18n::Lang;
use crate::model::CaseKind;
use crate::requester::SubmissionInput;

/// The side of the photos [`photo_png`] and [`photo_jpeg`] make (above the smallest accepted).
pub const PHOTO_SIDE: u32 = 96;

/// A valid face opt-out of the photo uploaded under `upload_key` (English, Thailand, with phone).
pub fn face_input(upload_key: &str) -> SubmissionInput {
    SubmissionInput {
        kind: Some(CaseKind::FaceOptOut),
        lang: Lang::En,
        country: "TH".into(),
        first_name: "Somchai".into(),
        last_name: "Jaidee".into(),
        email: "somchai@example.org".into(),
        phone: "+66 81 234 5678".into(),
        reason: "Please never index my face again.".into(),
        consent: true,
        good_faith: false,
        exclude_faces: false,
        source_urls: Vec::new(),
        upload_key: Some(upload_key.to_owned()),
        idempotency_key: None,
    }
}

/// A valid image opt-out of the image uploaded under `upload_key` (English, Thailand, with
/// phone), its faces not asked to be excluded.
pub fn image_input(upload_key: &str) -> SubmissionInput {
    SubmissionInput {
        kind: Some(CaseKind::ImageOptOut),
        reason: "I took this photo and own it; please stop indexing it.".into(),
        ..face_input(upload_key)
    }
}

/// A valid DSA notice about the images at `urls` (English, Germany, with phone).
pub fn dsa_input(urls: &[&str]) -> SubmissionInput {
    SubmissionInput {
        kind: Some(CaseKind::DsaNotice),
        lang: Lang::En,
        country: "DE".into(),
        first_name: "Anna".into(),
        last_name: "Schmidt".into(),
        email: "anna@example.de".into(),
        phone: "+49 30 1234 5678".into(),
        reason: "These images show me and were published without my consent.".into(),
        consent: false,
        good_faith: true,
        exclude_faces: false,
        source_urls: urls.iter().map(|u| (*u).to_owned()).collect(),
        upload_key: None,
        idempotency_key: None,
    }
}

/// A valid PNG photo of [`PHOTO_SIDE`]² pixels; different seeds give different bytes.
pub fn photo_png(seed: u8) -> Vec<u8> {
    png_by_rows(PHOTO_SIDE, PHOTO_SIDE, |x, y| {
        [
            (x as u8).wrapping_mul(3) ^ seed,
            (y as u8).wrapping_add(seed),
            seed,
        ]
    })
}

/// A valid JPEG photo of [`PHOTO_SIDE`]² pixels; different seeds give different bytes.
pub fn photo_jpeg(seed: u8) -> Vec<u8> {
    jpeg_by_pixels(PHOTO_SIDE, PHOTO_SIDE, |x, y| {
        [(x as u8) ^ seed, (y as u8).wrapping_mul(2), seed]
    })
}

/// A `w`×`h` JPEG (quality 85) of a smooth gradient, the test picture of the decoders.
pub fn gradient_jpeg(w: u32, h: u32) -> Vec<u8> {
    jpeg_by_pixels(w, h, |x, y| [(x % 256) as u8, (y % 256) as u8, 128])
}

/// A `w`×`h` JPEG (quality 85) whose pixel at (x, y) is `px(x, y)`. Panics if encoding fails (a
/// test helper).
pub fn jpeg_by_pixels(w: u32, h: u32, px: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |x, y| image::Rgb(px(x, y)));
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .expect("JPEG encoding");
    out
}
