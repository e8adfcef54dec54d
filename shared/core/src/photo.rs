//! Verification of an uploaded photo: the bytes decide the type (never the name or the declared
//! type alone), the size and pixel count are bounded before decoding, and every pixel is decoded
//! under explicit [`image::Limits`] so truncated or corrupt files are refused at intake. Large
//! pictures are decoded without keeping their pixels ([`crate::pixels`]); [`inspect`] is the check
//! without decoding, for page views.

use image::{ImageDecoder, ImageReader, Limits};
use optout_matcher::Sha256;
use std::io::Cursor;

use crate::error::{FieldCode, FieldCodeWithLimit};
use crate::pixels::{self, PixelError, Variant};

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

pub use crate::pixels::PhotoType;

/// What verification learnt about an accepted photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPhoto {
    pub kind: PhotoType,
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
    pub sha256: Sha256,
}

/// What the headers of a photo say, checked against the limits (no pixel decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InspectedPhoto {
    pub kind: PhotoType,
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
    pub variant: Variant,
}

impl InspectedPhoto {
    /// Whether [`verify_inspected`] decodes it whole with the `image` crate (small pictures, as
    /// they always were) rather than with the reducing decoders of [`crate::pixels`].
    fn decoded_whole(&self) -> bool {
        self.width.max(self.height) < SMALL_LONG_SIDE
    }

    /// Bytes the decode of [`verify_inspected`] holds at its peak (an estimate, for the decode
    /// gate).
    pub fn verify_cost(&self) -> u64 {
        if self.decoded_whole() {
            // At worst 16-bit RGBA (8 bytes a pixel).
            8 * u64::from(self.width) * u64::from(self.height)
        } else {
            // JPEG at 1/8 a side, the others row by row (or whole when they must).
            let kept = u64::from(self.width.div_ceil(8)) * u64::from(self.height.div_ceil(8));
            let kept = if self.kind == PhotoType::Jpeg {
                kept
            } else {
                0
            };
            pixels::decode_cost(self.variant, self.width, self.height, kept)
        }
    }
}

/// Pictures whose longer side is under this are verified by decoding them whole (at most 3.7
/// megapixels, 11 MB of RGB), as before; larger ones by the decoders of [`crate::pixels`], which
/// keep no pixel (the face pipeline reduces pictures above the same size).
pub const SMALL_LONG_SIDE: u32 = 1920;

/// Checks what can be checked without decoding: the type from the bytes (and its agreement with
/// the declared type), the file size, the dimensions from the header, and for a JPEG that its
/// markers run to the end. This is what a page view may afford; [`verify`] decodes too.
pub fn inspect(
    bytes: &[u8],
    declared: Option<&str>,
    limits: &PhotoLimits,
) -> Result<InspectedPhoto, FieldCodeWithLimit> {
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
    let decoder = reader.into_decoder().map_err(|e| classify(&e))?;
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
    let variant = pixels::variant(bytes, kind).ok_or(FieldCode::CorruptImage)?;
    Ok(InspectedPhoto {
        kind,
        bytes: bytes.len() as u64,
        width,
        height,
        variant,
    })
}

/// Verifies a photo: [`inspect`], then every pixel decoded, so that a truncated or corrupt file is
/// refused at intake and not in the embedding worker. `declared` is the content type the client
/// gave, if any: it must be a supported type and agree with the bytes.
pub fn verify(
    bytes: &[u8],
    declared: Option<&str>,
    limits: &PhotoLimits,
) -> Result<VerifiedPhoto, FieldCodeWithLimit> {
    let inspected = inspect(bytes, declared, limits)?;
    verify_inspected(bytes, &inspected, limits)
}

/// The decoding half of [`verify`], for bytes [`inspect`] accepted. Small pictures are decoded
/// whole; larger ones are decoded without keeping their pixels (PNG row by row, JPEG at 1/8 a
/// side, lossy WebP into its planes), so that the check of a 49-megapixel upload costs a few MB.
pub fn verify_inspected(
    bytes: &[u8],
    inspected: &InspectedPhoto,
    limits: &PhotoLimits,
) -> Result<VerifiedPhoto, FieldCodeWithLimit> {
    let size = (inspected.width, inspected.height);
    if inspected.decoded_whole() {
        let mut reader = ImageReader::with_format(Cursor::new(bytes), inspected.kind.format());
        reader.limits(limits.image_limits());
        let mut decoder = reader.into_decoder().map_err(|e| classify(&e))?;
        decoder
            .set_limits(limits.image_limits())
            .map_err(|e| classify(&e))?;
        let mut buf = vec![0u8; decoder.total_bytes() as usize];
        decoder.read_image(&mut buf).map_err(|e| classify(&e))?;
    } else {
        let max_alloc = limits.image_limits().max_alloc.unwrap_or(u64::MAX);
        pixels::check(bytes, inspected.kind, size, max_alloc).map_err(|e| match e {
            PixelError::Limits(_) => FieldCode::ImageTooLarge.into(),
            PixelError::Unsupported(_) => FieldCode::UnsupportedType.into(),
            PixelError::Corrupt(_) | PixelError::Request(_) => {
                FieldCodeWithLimit::from(FieldCode::CorruptImage)
            }
        })?;
    }
    Ok(VerifiedPhoto {
        kind: inspected.kind,
        bytes: inspected.bytes,
        width: inspected.width,
        height: inspected.height,
        sha256: Sha256::of(bytes),
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
    use crate::testing::gradient_jpeg;
    use image::{ImageEncoder, RgbImage};

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
        let v = verify(&gradient_jpeg(320, 240), Some("image/jpeg"), &l).unwrap();
        assert_eq!((v.kind, v.width, v.height), (PhotoType::Jpeg, 320, 240));
        assert_eq!(v.sha256, Sha256::of(&gradient_jpeg(320, 240)));
        assert_eq!(
            verify(&png(100, 80), None, &l).unwrap().kind,
            PhotoType::Png
        );
    }

    #[test]
    fn refuses_bad_files() {
        let l = PhotoLimits::default();
        let j = gradient_jpeg(320, 240);
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

    use crate::testing::png_by_rows as png_streamed;

    /// Flips bits in the middle of the first IDAT chunk's data (the header stays valid).
    fn damage_pixel_data(png: &mut [u8]) {
        let at = png.windows(4).position(|w| w == b"IDAT").unwrap() + 4;
        let len = u32::from_be_bytes(png[at - 8..at - 4].try_into().unwrap()) as usize;
        for b in &mut png[at + len / 2..at + len / 2 + 16] {
            *b ^= 0xA5;
        }
    }

    #[test]
    fn inspect_reads_headers_only_and_verify_decodes_every_pixel() {
        let l = PhotoLimits::default();
        for (w, h) in [(300, 200), (2400, 2000)] {
            let good = png_streamed(w, h, |x, y| [(x % 251) as u8, (y % 241) as u8, 7]);
            let mut bad = good.clone();
            damage_pixel_data(&mut bad);
            let seen = inspect(&bad, Some("image/png"), &l).unwrap();
            assert_eq!((seen.kind, seen.width, seen.height), (PhotoType::Png, w, h));
            assert_eq!(
                verify(&bad, Some("image/png"), &l).unwrap_err().0,
                FieldCode::CorruptImage,
                "{w}x{h}"
            );
            let v = verify(&good, Some("image/png"), &l).unwrap();
            assert_eq!((v.width, v.height), (w, h));
            // and a truncated file
            assert_eq!(
                verify(&good[..good.len() * 2 / 3], None, &l).unwrap_err().0,
                FieldCode::CorruptImage
            );
        }
        // inspect still refuses what the headers give away
        assert_eq!(
            inspect(&png_bomb(10_000, 10_000), None, &l).unwrap_err().0,
            FieldCode::TooManyPixels
        );
        assert_eq!(
            inspect(&gradient_jpeg(320, 240), Some("image/png"), &l)
                .unwrap_err()
                .0,
            FieldCode::TypeMismatch
        );
        let j = gradient_jpeg(320, 240);
        assert_eq!(
            inspect(&j[..j.len() / 2], None, &l).unwrap_err().0,
            FieldCode::CorruptImage
        );
    }

    /// A 49-megapixel upload is verified without holding its pixels: its decode is estimated (and
    /// gated) at a few MB, where decoding it whole took 147 MB.
    #[test]
    fn a_49_megapixel_png_is_verified_row_by_row() {
        let l = PhotoLimits::default();
        let big = png_streamed(7000, 7000, |x, y| [(x / 28) as u8, (y / 28) as u8, 90]);
        let seen = inspect(&big, None, &l).unwrap();
        assert_eq!(seen.variant, Variant::PngSequential);
        assert!(seen.verify_cost() < 2 << 20, "{}", seen.verify_cost());
        assert!(seen.verify_cost() < crate::decode_gate::HEAVY_DECODE_BYTES);
        verify_inspected(&big, &seen, &l).unwrap();
        let mut bad = big;
        damage_pixel_data(&mut bad);
        assert_eq!(
            verify(&bad, None, &l).unwrap_err().0,
            FieldCode::CorruptImage
        );
        // A large JPEG is checked at 1/8 a side.
        let j = gradient_jpeg(4000, 3000);
        let seen = inspect(&j, None, &l).unwrap();
        assert_eq!(seen.variant, Variant::JpegBaseline);
        assert!(seen.verify_cost() < 2 << 20, "{}", seen.verify_cost());
        verify(&j, Some("image/jpeg"), &l).unwrap();
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
