//! Image decoding under explicit limits, with EXIF orientation applied, never more pixels than the
//! pipeline needs.
//!
//! The detector sees at most 640×640 pixels and PDQ 64×64, so a large photo is decoded *reduced*:
//! onto a grid where every `factor`×`factor` block is one pixel, the factor chosen so that the
//! longer side stays at least [`crate::engine::REDUCED_LONG_SIDE`]. JPEG reduces in the DCT domain
//! (1/2, 1/4, 1/8), PNG and lossy WebP row by row as they decode (see
//! [`optout_core::pixels`]): a 49-megapixel PNG costs about a megapixel of memory, not 147 MB.
//! When the face is small in the reduced picture, [`decode_region`] decodes again only the part
//! around it, at the resolution the embedder needs. Photos under twice the reduced size are
//! decoded whole, as they always were.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};
use optout_core::photo::PhotoType;
use optout_core::pixels::{self, PixelError, Rect, Variant};

use crate::error::AnalyzeError;

/// Largest accepted side, in pixels.
pub const MAX_SIDE: u32 = 12_000;
/// Largest accepted pixel count.
pub const MAX_PIXELS: u64 = 50_000_000;
/// Largest single allocation a decoder may make.
pub const MAX_ALLOC: u64 = 512 * 1024 * 1024;
/// A second, closer decode around a small face keeps at most this many pixels of the grid it
/// decodes onto: JPEG decodes whole grids (37 MB of RGB at this size), the other formats only the
/// region.
pub const REGION_MAX_GRID_PIXELS: u64 = 12_500_000;

/// What the headers say (nothing decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub kind: PhotoType,
    /// Stored size (before EXIF orientation).
    pub width: u32,
    pub height: u32,
    pub orientation: Orientation,
    pub variant: Variant,
}

impl Header {
    /// Upright size (after EXIF orientation).
    pub fn upright_size(&self) -> (u32, u32) {
        if swaps_axes(self.orientation) {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }
}

/// How the pixels of a decoded picture relate to the upright, full-resolution photo: the picture
/// is `window` of the grid of `factor` over the stored photo, turned upright.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GridMap {
    pub orientation: Orientation,
    /// Stored size of the photo.
    pub full: (u32, u32),
    pub factor: u32,
    /// The part of the stored grid decoded.
    pub window: Rect,
}

impl GridMap {
    fn is_identity(&self) -> bool {
        self.factor == 1 && self.window.x0 == 0 && self.window.y0 == 0
    }

    /// A point of the decoded picture in the upright full-resolution photo (pixel centres at
    /// integer coordinates).
    pub fn to_full(&self, p: [f32; 2]) -> [f32; 2] {
        if self.is_identity() {
            return p;
        }
        let win = (self.window.width(), self.window.height());
        let s = unorient(self.orientation, win, p);
        let f = self.factor as f32;
        let g = [s[0] + self.window.x0 as f32, s[1] + self.window.y0 as f32];
        let stored = [(g[0] + 0.5) * f - 0.5, (g[1] + 0.5) * f - 0.5];
        orient(self.orientation, self.full, stored)
    }

    /// A point of the upright full-resolution photo in the decoded picture.
    pub fn from_full(&self, p: [f32; 2]) -> [f32; 2] {
        if self.is_identity() {
            return p;
        }
        let stored = unorient(self.orientation, self.full, p);
        let f = self.factor as f32;
        let g = [(stored[0] + 0.5) / f - 0.5, (stored[1] + 0.5) / f - 0.5];
        let s = [g[0] - self.window.x0 as f32, g[1] - self.window.y0 as f32];
        orient(
            self.orientation,
            (self.window.width(), self.window.height()),
            s,
        )
    }
}

/// A decoded, upright RGB picture.
pub struct Decoded {
    pub image: RgbImage,
    /// Upright size at full resolution.
    pub full_width: u32,
    pub full_height: u32,
    /// `image` size / full size (1.0 unless the photo was decoded reduced).
    pub scale: f32,
    /// Where the picture's pixels are in the full-resolution photo.
    pub map: GridMap,
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

/// Where stored point `p` of a `w`×`h` picture goes when `o` turns the picture upright (as
/// [`DynamicImage::apply_orientation`] does).
pub fn orient(o: Orientation, (w, h): (u32, u32), [x, y]: [f32; 2]) -> [f32; 2] {
    let (w, h) = ((w as f32) - 1.0, (h as f32) - 1.0);
    match o {
        Orientation::NoTransforms => [x, y],
        Orientation::Rotate90 => [h - y, x],
        Orientation::Rotate180 => [w - x, h - y],
        Orientation::Rotate270 => [y, w - x],
        Orientation::FlipHorizontal => [w - x, y],
        Orientation::FlipVertical => [x, h - y],
        Orientation::Rotate90FlipH => [y, x],
        Orientation::Rotate270FlipH => [h - y, w - x],
    }
}

/// The inverse of [`orient`]: the stored point of upright point `p` (`w`×`h` is the stored size).
pub fn unorient(o: Orientation, (w, h): (u32, u32), [u, v]: [f32; 2]) -> [f32; 2] {
    let (w, h) = ((w as f32) - 1.0, (h as f32) - 1.0);
    match o {
        Orientation::NoTransforms => [u, v],
        Orientation::Rotate90 => [v, h - u],
        Orientation::Rotate180 => [w - u, h - v],
        Orientation::Rotate270 => [w - v, u],
        Orientation::FlipHorizontal => [w - u, v],
        Orientation::FlipVertical => [u, h - v],
        Orientation::Rotate90FlipH => [v, u],
        Orientation::Rotate270FlipH => [w - v, h - u],
    }
}

fn orient_image(img: RgbImage, o: Orientation) -> RgbImage {
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

fn photo_type(f: ImageFormat) -> Result<PhotoType, AnalyzeError> {
    match f {
        ImageFormat::Jpeg => Ok(PhotoType::Jpeg),
        ImageFormat::Png => Ok(PhotoType::Png),
        ImageFormat::WebP => Ok(PhotoType::Webp),
        _ => Err(AnalyzeError::UnsupportedFormat),
    }
}

/// Reads the headers: type, size (checked against the limits), EXIF orientation, variant.
pub fn read_header(bytes: &[u8]) -> Result<Header, AnalyzeError> {
    let format = sniff(bytes)?;
    let kind = photo_type(format)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(map_image_error)?;
    let (width, height) = decoder.dimensions();
    check_size(width, height)?;
    // The JPEG decoder the reduced path uses reads EXIF the same way.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let variant = pixels::variant(bytes, kind)
        .ok_or_else(|| AnalyzeError::Decode("unrecognised image structure".into()))?;
    Ok(Header {
        kind,
        width,
        height,
        orientation,
        variant,
    })
}

/// Decode at full resolution (the whole picture; for small photos and tools).
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
    let image = orient_image(img, orientation);
    let (full_width, full_height) = image.dimensions();
    Ok(Decoded {
        image,
        full_width,
        full_height,
        scale: 1.0,
        map: GridMap {
            orientation,
            full: (w, h),
            factor: 1,
            window: Rect {
                x0: 0,
                y0: 0,
                x1: w,
                y1: h,
            },
        },
    })
}

/// The reduction [`decode_reduced`] applies to a photo of `header`: the largest (that its format
/// can decode) whose longer side stays at least `min_long_side`; 1 for photos under twice that.
pub fn reduction(header: &Header, min_long_side: u32) -> u32 {
    let long = header.width.max(header.height);
    if long < 2 * min_long_side.max(1) {
        return 1;
    }
    pixels::supported_factor(header.kind, long / min_long_side.max(1))
}

/// Decode reduced so that the longer side stays at least `min_long_side` (see [`reduction`]);
/// photos under twice that decode whole, at full resolution.
pub fn decode_reduced(bytes: &[u8], min_long_side: u32) -> Result<Decoded, AnalyzeError> {
    let header = read_header(bytes)?;
    let factor = reduction(&header, min_long_side);
    if factor == 1 {
        return decode_full(bytes);
    }
    decode_grid(bytes, &header, factor, None)
}

/// Decode, at `factor` (one [`pixels::supported_factor`] allows), the part of the photo around
/// `region` (upright full-resolution pixels: x0, y0, x1, y1; clamped to the photo), turned upright.
/// Only that part is kept, and for PNG and lossy WebP only that part is ever held.
pub fn decode_region(
    bytes: &[u8],
    header: &Header,
    factor: u32,
    region: [f32; 4],
) -> Result<Decoded, AnalyzeError> {
    let f = factor.max(1);
    let (gw, gh) = pixels::grid_size(header.width, header.height, f);
    let full = (header.width, header.height);
    // The region's corners in the stored grid.
    let corners = [
        [region[0], region[1]],
        [region[2], region[1]],
        [region[0], region[3]],
        [region[2], region[3]],
    ]
    .map(|p| {
        let s = unorient(header.orientation, full, p);
        [s[0] / f as f32, s[1] / f as f32]
    });
    let lo = |i: usize| corners.iter().map(|c| c[i]).fold(f32::INFINITY, f32::min);
    let hi = |i: usize| {
        corners
            .iter()
            .map(|c| c[i])
            .fold(f32::NEG_INFINITY, f32::max)
    };
    let clamp = |v: f32, n: u32| {
        if v.is_finite() {
            v.clamp(0.0, n as f32) as u32
        } else {
            0
        }
    };
    let window = Rect {
        x0: clamp(lo(0).floor() - 1.0, gw),
        y0: clamp(lo(1).floor() - 1.0, gh),
        x1: clamp(hi(0).ceil() + 2.0, gw),
        y1: clamp(hi(1).ceil() + 2.0, gh),
    };
    if window.width() == 0 || window.height() == 0 {
        return Err(AnalyzeError::Decode(
            "the region is outside the photo".into(),
        ));
    }
    decode_grid(bytes, header, f, Some(window))
}

fn decode_grid(
    bytes: &[u8],
    header: &Header,
    factor: u32,
    window: Option<Rect>,
) -> Result<Decoded, AnalyzeError> {
    let size = (header.width, header.height);
    let stored = pixels::decode_grid(bytes, header.kind, size, factor, window, MAX_ALLOC)
        .map_err(map_pixel_error)?;
    let (gw, gh) = pixels::grid_size(header.width, header.height, factor);
    let window = window.unwrap_or(Rect {
        x0: 0,
        y0: 0,
        x1: gw,
        y1: gh,
    });
    let image = orient_image(stored, header.orientation);
    let (full_width, full_height) = header.upright_size();
    Ok(Decoded {
        image,
        full_width,
        full_height,
        scale: 1.0 / factor as f32,
        map: GridMap {
            orientation: header.orientation,
            full: size,
            factor,
            window,
        },
    })
}

/// Bytes the analysis of a photo of `header` holds at its peak for decoding (an estimate, for the
/// decode gate): the reduced decode, or the closer one around a small face, whichever is larger,
/// and PDQ's work on the reduced picture.
pub fn analysis_cost(header: &Header, min_long_side: u32) -> u64 {
    let (w, h) = (header.width, header.height);
    let px = u64::from(w) * u64::from(h);
    let factor = reduction(header, min_long_side);
    if factor == 1 {
        // Whole, at worst 16-bit RGBA, then RGB; PDQ's two float planes.
        return px * (8 + 3 + 8);
    }
    let grid = |f: u32| {
        let (gw, gh) = pixels::grid_size(w, h, f);
        u64::from(gw) * u64::from(gh)
    };
    let reduced = grid(factor);
    let first = pixels::decode_cost(header.variant, w, h, reduced) + 8 * reduced;
    let region = match header.kind {
        PhotoType::Jpeg => {
            let mut f = 1;
            while f < factor && grid(f) > REGION_MAX_GRID_PIXELS {
                f *= 2;
            }
            if f < factor { grid(f) } else { 0 }
        }
        // A region around one face: about a megapixel at most.
        PhotoType::Png | PhotoType::Webp => 1 << 20,
    };
    first.max(pixels::decode_cost(header.variant, w, h, region) + 3 * reduced)
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

fn map_pixel_error(e: PixelError) -> AnalyzeError {
    match e {
        PixelError::Limits(_) => AnalyzeError::TooLarge {
            width: 0,
            height: 0,
            max_side: MAX_SIDE,
            max_pixels: MAX_PIXELS,
        },
        PixelError::Unsupported(_) => AnalyzeError::UnsupportedFormat,
        other => AnalyzeError::Decode(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::ImageEncoder;
    use optout_core::testing::gradient_jpeg;

    use optout_core::testing::png_by_rows as png_rows;

    #[test]
    fn rejects_junk_empty_and_truncated() {
        assert!(matches!(decode_full(&[]), Err(AnalyzeError::Empty)));
        assert!(matches!(
            decode_full(b"hello world, not an image"),
            Err(AnalyzeError::UnsupportedFormat)
        ));
        let j = gradient_jpeg(300, 200);
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
        let j = gradient_jpeg(1024, 512);
        let d = decode_reduced(&j, 256).unwrap();
        assert_eq!((d.full_width, d.full_height), (1024, 512));
        assert_eq!(d.image.dimensions(), (256, 128));
        assert!((d.scale - 0.25).abs() < 1e-6);
        let d = decode_reduced(&j, 600).unwrap();
        assert_eq!(d.image.dimensions(), (1024, 512));
    }

    /// The pipeline never holds a 7000x7000 photo: it decodes the grid it needs (JPEG at 1/4
    /// a side in the DCT domain, PNG folded row by row at 1/7), and a region around a face.
    #[test]
    fn a_49_megapixel_photo_decodes_to_what_the_pipeline_needs() {
        let side = 7000;
        let png = png_rows(side, side, |x, y| {
            if (3000..3100).contains(&x) && (2000..2100).contains(&y) {
                [250, 10, 10]
            } else {
                [(x / 28) as u8, (y / 28) as u8, 90]
            }
        });
        let d = decode_reduced(&png, 960).unwrap();
        assert_eq!(d.image.dimensions(), (1000, 1000), "1/7 a side");
        assert_eq!((d.full_width, d.full_height), (side, side));
        // a 7x7 block of the red square is red
        assert_eq!(d.image.get_pixel(430, 290).0, [250, 10, 10]);
        // the region decode holds the region only, at the asked factor
        let header = read_header(&png).unwrap();
        let r = decode_region(&png, &header, 1, [2990.0, 1990.0, 3110.0, 2110.0]).unwrap();
        assert!(
            r.image.width() <= 124 && r.image.height() <= 124,
            "{:?}",
            r.image.dimensions()
        );
        let p = r.map.from_full([3050.0, 2050.0]);
        let px = r.image.get_pixel(p[0].round() as u32, p[1].round() as u32);
        assert_eq!(px.0, [250, 10, 10]);
        assert!(analysis_cost(&header, 960) < 16 << 20);

        let img = RgbImage::from_fn(side, side, |x, y| {
            image::Rgb([(x / 28) as u8, (y / 28) as u8, 90])
        });
        let mut jpg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpg, 80)
            .write_image(img.as_raw(), side, side, image::ExtendedColorType::Rgb8)
            .unwrap();
        drop(img);
        let d = decode_reduced(&jpg, 960).unwrap();
        assert_eq!(d.image.dimensions(), (1750, 1750), "1/4 a side");
        let header = read_header(&jpg).unwrap();
        let r = decode_region(&jpg, &header, 2, [100.0, 100.0, 400.0, 300.0]).unwrap();
        assert!(
            r.image.width() <= 153 && r.image.height() <= 103,
            "{:?}",
            r.image.dimensions()
        );
    }

    #[test]
    fn orientation_maps_points_like_the_image_crate() {
        let stored = RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8, y as u8, 0]));
        for o in [
            Orientation::NoTransforms,
            Orientation::Rotate90,
            Orientation::Rotate180,
            Orientation::Rotate270,
            Orientation::FlipHorizontal,
            Orientation::FlipVertical,
            Orientation::Rotate90FlipH,
            Orientation::Rotate270FlipH,
        ] {
            let up = orient_image(stored.clone(), o);
            for y in 0..3 {
                for x in 0..5 {
                    let [u, v] = orient(o, (5, 3), [x as f32, y as f32]);
                    assert_eq!(
                        up.get_pixel(u as u32, v as u32).0,
                        [x as u8, y as u8, 0],
                        "{o:?}"
                    );
                    assert_eq!(unorient(o, (5, 3), [u, v]), [x as f32, y as f32], "{o:?}");
                }
            }
            // a grid map of factor 1 over the whole picture is the identity, turned or not
            let map = GridMap {
                orientation: o,
                full: (5, 3),
                factor: 2,
                window: Rect {
                    x0: 1,
                    y0: 0,
                    x1: 3,
                    y1: 2,
                },
            };
            let p = [1.25, 0.5];
            let back = map.from_full(map.to_full(p));
            assert!(
                (back[0] - p[0]).abs() < 1e-4 && (back[1] - p[1]).abs() < 1e-4,
                "{o:?}"
            );
        }
    }

    #[test]
    fn too_small_and_too_large_headers() {
        assert!(matches!(
            decode_full(&gradient_jpeg(8, 8)),
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
        assert!(decode_reduced(&png, 960).is_err());
    }
}
