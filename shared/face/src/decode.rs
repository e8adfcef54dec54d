//! Image decoding under explicit limits, with EXIF orientation applied.
//!
//! Large JPEGs can be decoded at 1/2, 1/4 or 1/8 scale in the DCT domain (`jpeg-decoder`), which
//! is what the detector and PDQ need; the engine decodes full resolution again only when a face
//! would otherwise be too small for the embedder.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

use crate::error::AnalyzeError;

/// Largest accepted side, in pixels.
pub const MAX_SIDE: u32 = 12_000;
/// Largest accepted pixel count.
pub const MAX_PIXELS: u64 = 50_000_000;
/// Largest single allocation a decoder may make.
pub const MAX_ALLOC: u64 = 512 * 1024 * 1024;

/// A decoded, upright RGB picture.
pub struct Decoded {
    pub image: RgbImage,
    /// Upright size at full resolution.
    pub full_width: u32,
    pub full_height: u32,
    /// `image` size / full size (1.0 unless a reduced JPEG decode was asked for and possible).
    pub scale: f32,
}

fn limits() -> image::Limits {
    let mut l = image::Limits::default();
    l.max_image_width = Some(MAX_SIDE);
    l.max_image_height = Some(MAX_SIDE);
    l.max_alloc = Some(MAX_ALLOC);
    l
}

fn check_size(width: u32, height: u32) -> Result<(), AnalyzeError> {
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(AnalyzeError::TooLarge {
            width,
            height,
            max_side: MAX_SIDE,
            max_pixels: MAX_PIXELS,
        });
    }
    if width < 16 || height < 16 {
        return Err(AnalyzeError::TooSmall { width, height });
    }
    Ok(())
}

fn swaps_axes(o: Orientation) -> bool {
    matches!(
        o,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

fn orient(img: RgbImage, o: Orientation) -> RgbImage {
    if o == Orientation::NoTransforms {
        return img;
    }
    let mut d = DynamicImage::ImageRgb8(img);
    d.apply_orientation(o);
    d.into_rgb8()
}

/// Which format the bytes are (only JPEG, PNG and WebP are accepted).
pub fn sniff(bytes: &[u8]) -> Result<ImageFormat, AnalyzeError> {
    if bytes.is_empty() {
        return Err(AnalyzeError::Empty);
    }
    match image::guess_format(bytes) {
        Ok(f @ (ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP)) => Ok(f),
        _ => Err(AnalyzeError::UnsupportedFormat),
    }
}

/// Decode at full resolution.
pub fn decode_full(bytes: &[u8]) -> Result<Decoded, AnalyzeError> {
    let format = sniff(bytes)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(map_image_error)?;
    let (w, h) = decoder.dimensions();
    check_size(w, h)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let img = DynamicImage::from_decoder(decoder).map_err(map_image_error)?;
    let img = match img {
        DynamicImage::ImageRgb8(i) => i,
        other => other.into_rgb8(),
    };
    let image = orient(img, orientation);
    let (full_width, full_height) = image.dimensions();
    Ok(Decoded {
        image,
        full_width,
        full_height,
        scale: 1.0,
    })
}

/// Decode, reduced in the DCT domain (JPEG only) so that the longer side stays at least
/// `min_long_side`; other formats, and JPEGs too small to reduce, decode at full resolution.
pub fn decode_reduced(bytes: &[u8], min_long_side: u32) -> Result<Decoded, AnalyzeError> {
    if sniff(bytes)? != ImageFormat::Jpeg {
        return decode_full(bytes);
    }
    let mut dec = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    dec.set_max_decoding_buffer_size(MAX_ALLOC as usize);
    dec.read_info()
        .map_err(|e| AnalyzeError::Decode(e.to_string()))?;
    let Some(info) = dec.info() else {
        return Err(AnalyzeError::Decode("no JPEG header".into()));
    };
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    check_size(w, h)?;
    let long = w.max(h);
    if long < 2 * min_long_side {
        return decode_full(bytes);
    }
    // ask for the smallest size whose longer side is >= min_long_side
    let req = |v: u32| {
        ((u64::from(v) * u64::from(min_long_side)).div_ceil(u64::from(long))).clamp(1, 65_535)
            as u16
    };
    let (sw, sh) = dec
        .scale(req(w), req(h))
        .map_err(|e| AnalyzeError::Decode(e.to_string()))?;
    let pixels = dec
        .decode()
        .map_err(|e| AnalyzeError::Decode(e.to_string()))?;
    let Some(info) = dec.info() else {
        return Err(AnalyzeError::Decode("no JPEG header".into()));
    };
    let (sw, sh) = (u32::from(sw), u32::from(sh));
    let n = sw as usize * sh as usize;
    let rgb: Vec<u8> = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 if pixels.len() >= 3 * n => {
            let mut p = pixels;
            p.truncate(3 * n);
            p
        }
        jpeg_decoder::PixelFormat::L8 if pixels.len() >= n => {
            pixels[..n].iter().flat_map(|&v| [v, v, v]).collect()
        }
        jpeg_decoder::PixelFormat::L16 if pixels.len() >= 2 * n => pixels[..2 * n]
            .chunks_exact(2)
            .flat_map(|c| [c[0], c[0], c[0]])
            .collect(),
        jpeg_decoder::PixelFormat::CMYK32 if pixels.len() >= 4 * n => pixels[..4 * n]
            .chunks_exact(4)
            .flat_map(|c| {
                let k = u16::from(c[3]);
                [c[0], c[1], c[2]].map(|v| ((u16::from(v) * k) / 255) as u8)
            })
            .collect(),
        _ => return Err(AnalyzeError::Decode("unexpected JPEG output size".into())),
    };
    let Some(img) = RgbImage::from_raw(sw, sh, rgb) else {
        return Err(AnalyzeError::Decode("unexpected JPEG output size".into()));
    };
    let orientation = dec
        .exif_data()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    let (full_width, full_height) = if swaps_axes(orientation) {
        (h, w)
    } else {
        (w, h)
    };
    let image = orient(img, orientation);
    let scale = image.width() as f32 / full_width as f32;
    Ok(Decoded {
        image,
        full_width,
        full_height,
        scale,
    })
}

fn map_image_error(e: image::ImageError) -> AnalyzeError {
    match e {
        image::ImageError::Limits(_) => AnalyzeError::TooLarge {
            width: 0,
            height: 0,
            max_side: MAX_SIDE,
            max_pixels: MAX_PIXELS,
        },
        image::ImageError::Unsupported(_) => AnalyzeError::UnsupportedFormat,
        other => AnalyzeError::Decode(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
            .encode_image(&img)
            .unwrap();
        out
    }

    #[test]
    fn rejects_junk_empty_and_truncated() {
        assert!(matches!(decode_full(&[]), Err(AnalyzeError::Empty)));
        assert!(matches!(
            decode_full(b"hello world, not an image"),
            Err(AnalyzeError::UnsupportedFormat)
        ));
        let j = jpeg(300, 200);
        for cut in [3, 20, 200, j.len() / 2] {
            let _ = decode_full(&j[..cut]);
            let _ = decode_reduced(&j[..cut], 64);
        }
        assert!(matches!(
            decode_full(b"GIF89a......"),
            Err(AnalyzeError::UnsupportedFormat)
        ));
    }

    #[test]
    fn reduced_decode_keeps_the_long_side() {
        let j = jpeg(1024, 512);
        let d = decode_reduced(&j, 256).unwrap();
        assert_eq!((d.full_width, d.full_height), (1024, 512));
        assert_eq!(d.image.dimensions(), (256, 128));
        assert!((d.scale - 0.25).abs() < 1e-6);
        let d = decode_reduced(&j, 600).unwrap();
        assert_eq!(d.image.dimensions(), (1024, 512));
    }

    #[test]
    fn too_small_and_too_large_headers() {
        assert!(matches!(
            decode_full(&jpeg(8, 8)),
            Err(AnalyzeError::TooSmall { .. })
        ));
        // a PNG header claiming 20000 x 10 pixels
        let mut png = Vec::new();
        image::codecs::png::PngEncoder::new(&mut png)
            .write_image(&[0u8; 30], 10, 1, image::ExtendedColorType::Rgb8)
            .unwrap();
        // IHDR width is at offset 16..20
        png[16..20].copy_from_slice(&20_000u32.to_be_bytes());
        assert!(decode_full(&png).is_err());
    }
    use image::ImageEncoder;
}
