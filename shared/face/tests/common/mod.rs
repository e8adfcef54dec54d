//! Shared helpers of the real-photo tests: the fixtures and models made by `scripts/setup-models`.
//! Also included by path in the tests of `optout-face-prepare` and in the scenarios
//! (`tests/scenarios`): crates two levels below the repository's root, like this one.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use optout_face::FaceEngine;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn model_dir() -> PathBuf {
    match std::env::var_os("OPTOUT_MODEL_DIR").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => root().join(".cache/models"),
    }
}

/// Bytes of a test photo; fails (never skips) when the photos have not been fetched.
pub fn photo(name: &str) -> Vec<u8> {
    let path = root().join(".cache/fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "test photo {} is missing ({e}): run scripts/setup-models first",
            path.display()
        )
    })
}

pub fn engine() -> &'static FaceEngine {
    static ENGINE: OnceLock<FaceEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        FaceEngine::load(&model_dir())
            .unwrap_or_else(|e| panic!("cannot load the face models: {e}"))
    })
}

pub const PORTRAITS: [&str; 6] = [
    "person_a_1",
    "person_a_2",
    "person_b_1",
    "person_b_2",
    "impostor_1",
    "impostor_2",
];
pub const SAME_PERSON: [(&str, &str); 2] =
    [("person_a_1", "person_a_2"), ("person_b_1", "person_b_2")];

/// Test photo `name` shrunk `shrink` times, pasted at `at` on a flat `size` canvas of `color`.
pub fn shrunk_onto(
    name: &str,
    shrink: u32,
    size: (u32, u32),
    color: [u8; 3],
    at: (i64, i64),
) -> image::RgbImage {
    use image::imageops::{self, FilterType};
    let img = image::load_from_memory(&photo(name)).unwrap().into_rgb8();
    let (w, h) = (img.width() / shrink, img.height() / shrink);
    let small = imageops::resize(&img, w, h, FilterType::Triangle);
    let mut canvas = image::RgbImage::from_pixel(size.0, size.1, image::Rgb(color));
    imageops::replace(&mut canvas, &small, at.0, at.1);
    canvas
}

pub fn jpeg(img: &image::RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(img)
        .expect("encode");
    out
}

/// Insert an EXIF APP1 segment with the given orientation right after the JPEG SOI marker.
pub fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"MM\x00\x2a\x00\x00\x00\x08"); // big-endian, IFD0 at 8
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes()); // count
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    let mut payload = b"Exif\x00\x00".to_vec();
    payload.extend_from_slice(&tiff);
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}
