//! Verification of an uploaded photo: the bytes decide the type (never the name or the declared
//! type alone), the size and pixel count are bounded before decoding, and the image is decoded in
//! full under explicit [`image::Limits`] so truncated or corrupt files are refused at intake.

use image::{ImageDecoder, ImageFormat, ImageReader, Limits};
use sha2::{Digest, Sha256};
use std::io::Cursor;

use crate::error::{FieldCode, FieldCodeWithLimit};

/// Bounds on accepted photos.
#[derive(Debug, Clone, Copy)]
pub struct PhotoLimits {
    pub max_bytes: u64,
    pub max_side: u32,
    pub max_pixels: u64,
    pub min_side: u32,
}

impl Default for PhotoLimits {
    fn default() -> Self {
        PhotoLimits {
            max_bytes: 10 * 1024 * 1024,
            max_side: 12_000,
            max_pixels: 50_000_000,
            min_side: 64,
        }
    }
}

impl PhotoLimits {
    /// The decoder limits: dimensions and a memory bound that fits the largest accepted image.
    pub fn image_limits(&self) -> Limits {
        let mut l = Limits::default();
        l.max_image_width = Some(self.max_side);
        l.max_image_height = Some(self.max_side);
        // RGBA8 of the largest accepted image plus decoder scratch space.
        l.max_alloc = Some(self.max_pixels * 4 + 64 * 1024 * 1024);
        l
    }
}

/// The accepted photo types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoType {
    Jpeg,
    Png,
    Webp,
}

impl PhotoType {
    pub fn mime(self) -> &'static str {
        match self {
            PhotoType::Jpeg => "image/jpeg",
            PhotoType::Png => "image/png",
            PhotoType::Webp => "image/webp",
        }
    }
    /// Sniffs the type from the first bytes.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(PhotoType::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(PhotoType::Png)
        } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(PhotoType::Webp)
        } else {
            None
        }
    }
    /// Reads a declared content type (`image/jpeg; charset=...` is read as `image/jpeg`).
    pub fn from_mime(mime: &str) -> Option<Self> {
        let base = mime
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match base.as_str() {
            "image/jpeg" | "image/jpg" | "image/pjpeg" => Some(PhotoType::Jpeg),
            "image/png" => Some(PhotoType::Png),
            "image/webp" => Some(PhotoType::Webp),
            _ => None,
        }
    }
    fn format(self) -> ImageFormat {
        match self {
            PhotoType::Jpeg => ImageFormat::Jpeg,
            PhotoType::Png => ImageFormat::Png,
            PhotoType::Webp => ImageFormat::WebP,
        }
    }
}

/// What verification learnt about an accepted photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPhoto {
    pub kind: PhotoType,
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
    pub sha256: String,
}

/// Verifies a photo. `declared` is the content type the client gave, if any: it must be a
/// supported type and agree with the bytes.
pub fn verify(
    bytes: &[u8],
    declared: Option<&str>,
    limits: &PhotoLimits,
) -> Result<VerifiedPhoto, FieldCodeWithLimit> {
    if bytes.is_empty() {
        return Err(FieldCode::Required.into());
    }
    if bytes.len() as u64 > limits.max_bytes {
        return Err(FieldCodeWithLimit(
            FieldCode::FileTooLarge,
            Some(limits.max_bytes),
        ));
    }
    let declared_type = match declared
        .map(str::trim)
        .filter(|d| !d.is_empty() && *d != "application/octet-stream")
    {
        Some(d) => Some(PhotoType::from_mime(d).ok_or(FieldCode::UnsupportedType)?),
        None => None,
    };
    let kind = PhotoType::sniff(bytes).ok_or(FieldCode::UnsupportedType)?;
    if declared_type.is_some_and(|d| d != kind) {
        return Err(FieldCode::TypeMismatch.into());
    }
    if kind == PhotoType::Jpeg && !jpeg_is_complete(bytes) {
        return Err(FieldCode::CorruptImage.into());
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), kind.format());
    reader.limits(limits.image_limits());
    let mut decoder = reader.into_decoder().map_err(|e| classify(&e))?;
    let (width, height) = decoder.dimensions();
    if width > limits.max_side || height > limits.max_side {
        return Err(FieldCodeWithLimit(
            FieldCode::ImageTooLarge,
            Some(limits.max_side as u64),
        ));
    }
    if width as u64 * height as u64 > limits.max_pixels {
        return Err(FieldCodeWithLimit(
            FieldCode::TooManyPixels,
            Some(limits.max_pixels),
        ));
    }
    if width < limits.min_side || height < limits.min_side {
        return Err(FieldCodeWithLimit(
            FieldCode::ImageTooSmall,
            Some(limits.min_side as u64),
        ));
    }
    decoder
        .set_limits(limits.image_limits())
        .map_err(|e| classify(&e))?;
    // Decode it all: a truncated or corrupt file fails here, not in the embedding worker.
    let mut buf = vec![0u8; decoder.total_bytes() as usize];
    decoder.read_image(&mut buf).map_err(|e| classify(&e))?;
    Ok(VerifiedPhoto {
        kind,
        bytes: bytes.len() as u64,
        width,
        height,
        sha256: hex::encode(Sha256::digest(bytes)),
    })
}

/// Walks the marker structure of a JPEG and tells whether it reaches its end-of-image marker.
/// Decoders forgive truncated files (they fill the missing part with grey); intake must not.
fn jpeg_is_complete(b: &[u8]) -> bool {
    let mut i = 2; // after SOI
    while i + 1 < b.len() {
        if b[i] != 0xFF {
            return false;
        }
        let marker = b[i + 1];
        match marker {
            0xFF => i += 1, // fill byte
            0xD9 => return true,
            0xD0..=0xD7 | 0x01 => i += 2,
            _ => {
                if i + 3 >= b.len() {
                    return false;
                }
                let len = u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize;
                if len < 2 {
                    return false;
                }
                i += 2 + len;
                if marker == 0xDA {
                    // Entropy-coded data runs to the next marker that is not a stuffed 0xFF00 or a restart.
                    while i + 1 < b.len() {
                        if b[i] == 0xFF && b[i + 1] != 0x00 && !(0xD0..=0xD7).contains(&b[i + 1]) {
                            break;
                        }
                        i += 1;
                    }
                }
            }
        }
    }
    false
}

fn classify(e: &image::ImageError) -> FieldCodeWithLimit {
    match e {
        image::ImageError::Limits(_) => FieldCode::ImageTooLarge.into(),
        image::ImageError::Unsupported(_) => FieldCode::UnsupportedType.into(),
        _ => FieldCode::CorruptImage.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageEncoder, RgbImage};

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
            .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_pixel(w, h, image::Rgb([1, 2, 3]));
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    /// A PNG that declares `w`×`h` pixels but carries almost no data: a decompression bomb header.
    pub fn png_bomb(w: u32, h: u32) -> Vec<u8> {
        let mut p = png(64, 64);
        // IHDR data starts at byte 16: width, height (big endian); fix the CRC after it.
        p[16..20].copy_from_slice(&w.to_be_bytes());
        p[20..24].copy_from_slice(&h.to_be_bytes());
        let crc = crc32(&p[12..29]);
        p[29..33].copy_from_slice(&crc.to_be_bytes());
        p
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for &b in data {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }

    #[test]
    fn accepts_real_images() {
        let l = PhotoLimits::default();
        let v = verify(&jpeg(320, 240), Some("image/jpeg"), &l).unwrap();
        assert_eq!((v.kind, v.width, v.height), (PhotoType::Jpeg, 320, 240));
        assert_eq!(v.sha256.len(), 64);
        assert_eq!(
            verify(&png(100, 80), None, &l).unwrap().kind,
            PhotoType::Png
        );
    }

    #[test]
    fn refuses_bad_files() {
        let l = PhotoLimits::default();
        let j = jpeg(320, 240);
        assert_eq!(verify(b"", None, &l).unwrap_err().0, FieldCode::Required);
        assert_eq!(
            verify(b"hello world, not an image", None, &l)
                .unwrap_err()
                .0,
            FieldCode::UnsupportedType
        );
        assert_eq!(
            verify(&j, Some("image/png"), &l).unwrap_err().0,
            FieldCode::TypeMismatch
        );
        assert_eq!(
            verify(&j, Some("image/gif"), &l).unwrap_err().0,
            FieldCode::UnsupportedType
        );
        assert_eq!(
            verify(&j, Some("text/html"), &l).unwrap_err().0,
            FieldCode::UnsupportedType
        );
        assert_eq!(
            verify(&j[..j.len() / 2], None, &l).unwrap_err().0,
            FieldCode::CorruptImage
        );
        let mut corrupt = png(100, 80);
        let n = corrupt.len();
        corrupt[n - 20..n - 12].copy_from_slice(b"garbage!");
        assert_eq!(
            verify(&corrupt, None, &l).unwrap_err().0,
            FieldCode::CorruptImage
        );
        assert_eq!(
            verify(&png(20, 20), None, &l).unwrap_err().0,
            FieldCode::ImageTooSmall
        );
        let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;";
        assert_eq!(
            verify(gif, None, &l).unwrap_err().0,
            FieldCode::UnsupportedType
        );
        let small = PhotoLimits {
            max_bytes: 1000,
            ..l
        };
        assert_eq!(
            verify(&j, None, &small).unwrap_err().0,
            FieldCode::FileTooLarge
        );
    }

    #[test]
    fn refuses_decompression_bombs_without_allocating() {
        let l = PhotoLimits::default();
        let err = verify(&png_bomb(50_000, 50_000), Some("image/png"), &l).unwrap_err();
        assert!(
            matches!(err.0, FieldCode::ImageTooLarge | FieldCode::TooManyPixels),
            "{err:?}"
        );
        let err = verify(&png_bomb(10_000, 10_000), Some("image/png"), &l).unwrap_err();
        assert_eq!(err.0, FieldCode::TooManyPixels);
    }
}
