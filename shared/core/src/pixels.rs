//! Decoding photos without holding more pixels than the caller needs.
//!
//! A 49-megapixel picture is 147 MB of RGB, yet the face pipeline needs about a megapixel of it
//! and intake verification needs none (only the proof that every pixel decodes). The decoders
//! here never build the whole picture when the format lets them avoid it:
//!
//! - PNG is decoded row by row (interlaced files pass by pass); each row is folded into the
//!   output at once.
//! - JPEG is decoded reduced in the DCT domain (1/2, 1/4 or 1/8 a side), which decodes every
//!   coefficient but keeps the reduced picture only.
//! - Lossy WebP is decoded into its YUV 4:2:0 planes (1.5 bytes a pixel, half the RGB size),
//!   converted row by row.
//! - Lossless and animated WebP have no such path in the decoder we use: they are decoded whole.
//!   [`decode_cost`] says so, and the decode gate runs such decodes alone.
//!
//! Pictures come out on a *grid*: every `factor`×`factor` block of the stored picture (blocks at
//! the right and bottom edges may be smaller) becomes one pixel, the mean of the block (for JPEG,
//! the DCT's reduced block, which is close to it). Coordinates are those of the stored picture,
//! before any EXIF orientation.

use image::ImageFormat;
use std::io::Cursor;

use image::RgbImage;

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
    /// The `image` crate's name of the format.
    pub fn format(self) -> ImageFormat {
        match self {
            PhotoType::Jpeg => ImageFormat::Jpeg,
            PhotoType::Png => ImageFormat::Png,
            PhotoType::Webp => ImageFormat::WebP,
        }
    }
}

/// Why pixels could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PixelError {
    /// A variant of the format the decoders do not handle.
    #[error("unsupported image: {0}")]
    Unsupported(String),
    /// Decoding would exceed the memory limit.
    #[error("image over the decoding limits: {0}")]
    Limits(String),
    /// The data is damaged or truncated.
    #[error("damaged image: {0}")]
    Corrupt(String),
    /// A request the decoder cannot serve (a JPEG factor other than 1, 2, 4 or 8, a window
    /// outside the grid).
    #[error("invalid decoding request: {0}")]
    Request(String),
}

/// A rectangle of a pixel grid: columns `x0..x1`, rows `y0..y1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
}

impl Rect {
    pub fn width(&self) -> u32 {
        self.x1.saturating_sub(self.x0)
    }
    pub fn height(&self) -> u32 {
        self.y1.saturating_sub(self.y0)
    }
}

/// The size of the grid of `factor` over a `width`×`height` picture.
pub fn grid_size(width: u32, height: u32, factor: u32) -> (u32, u32) {
    let f = factor.max(1);
    (width.div_ceil(f), height.div_ceil(f))
}

/// What a file is inside its format, as far as the decoding cost goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    PngSequential,
    PngInterlaced,
    JpegBaseline,
    /// Progressive (or lossless) JPEG: the decoder keeps every DCT coefficient, 2 bytes a sample.
    JpegProgressive,
    WebpLossy,
    WebpLossless,
    WebpAnimated,
}

/// Reads the variant from the headers (no pixel is decoded). `None` when the headers are not
/// those of `kind` (the caller refuses such files anyway).
pub fn variant(bytes: &[u8], kind: PhotoType) -> Option<Variant> {
    match kind {
        PhotoType::Png => {
            // IHDR's interlace method is its 13th data byte (file offset 28).
            let interlace = *bytes.get(28)?;
            Some(if interlace == 0 {
                Variant::PngSequential
            } else {
                Variant::PngInterlaced
            })
        }
        PhotoType::Jpeg => jpeg_frame_marker(bytes).map(|m| match m {
            0xC0 | 0xC1 => Variant::JpegBaseline,
            _ => Variant::JpegProgressive,
        }),
        PhotoType::Webp => {
            let chunks = webp_chunks(bytes)?;
            if chunks.iter().any(|c| &c.0 == b"ANMF")
                || chunks
                    .iter()
                    .find(|c| &c.0 == b"VP8X")
                    .and_then(|c| bytes.get(c.1.start))
                    .is_some_and(|flags| flags & 0x02 != 0)
            {
                Some(Variant::WebpAnimated)
            } else if chunks.iter().any(|c| &c.0 == b"VP8 ") {
                Some(Variant::WebpLossy)
            } else if chunks.iter().any(|c| &c.0 == b"VP8L") {
                Some(Variant::WebpLossless)
            } else {
                None
            }
        }
    }
}

/// Bytes a decode of a `width`×`height` picture of `variant` holds at its peak when it keeps a
/// grid of `kept` pixels (an estimate, within a few MB: the decoders' own buffers, without the
/// caller's).
pub fn decode_cost(variant: Variant, width: u32, height: u32, kept: u64) -> u64 {
    let px = u64::from(width) * u64::from(height);
    let out = kept * 3;
    match variant {
        // Two rows, the zlib window, one accumulator row.
        Variant::PngSequential => out + 16 * u64::from(width) + (1 << 20),
        // The same, plus an accumulator for the whole kept grid (passes revisit every row).
        Variant::PngInterlaced => out + 12 * kept + 16 * u64::from(width) + (1 << 20),
        // Component planes at the reduced size (at most 3 bytes a pixel) and the RGB output.
        Variant::JpegBaseline => 2 * out,
        // Every coefficient of three full-size components, 2 bytes each, at worst (4:4:4).
        Variant::JpegProgressive => 6 * px + 2 * out,
        // Y, U and V planes (4:2:0).
        Variant::WebpLossy => px * 3 / 2 + out,
        // ARGB of the whole picture, and its RGB copy.
        Variant::WebpLossless | Variant::WebpAnimated => 7 * px + out,
    }
}

/// The largest reduction `kind` can decode to that is at most `factor` (JPEG: 1, 2, 4 or 8).
pub fn supported_factor(kind: PhotoType, factor: u32) -> u32 {
    let f = factor.max(1);
    match kind {
        PhotoType::Jpeg => {
            let mut p = 1;
            while p * 2 <= f.min(8) {
                p *= 2;
            }
            p
        }
        PhotoType::Png | PhotoType::Webp => f,
    }
}

/// Decodes `bytes` onto the grid of `factor` and keeps `window` of it (all of it when `None`), in
/// stored orientation. `factor` must be one [`supported_factor`] returns. `width`×`height` is the
/// size the headers declared (checked against what the decoder finds); `max_alloc` bounds what the
/// decoders may allocate.
pub fn decode_grid(
    bytes: &[u8],
    kind: PhotoType,
    (width, height): (u32, u32),
    factor: u32,
    window: Option<Rect>,
    max_alloc: u64,
) -> Result<RgbImage, PixelError> {
    let f = factor.max(1);
    if supported_factor(kind, f) != f {
        return Err(PixelError::Request(format!("factor {f} for {kind:?}")));
    }
    let (gw, gh) = grid_size(width, height, f);
    let window = window.unwrap_or(Rect {
        x0: 0,
        y0: 0,
        x1: gw,
        y1: gh,
    });
    if window.width() == 0 || window.height() == 0 || window.x1 > gw || window.y1 > gh {
        return Err(PixelError::Request(format!(
            "window {window:?} outside the {gw}x{gh} grid"
        )));
    }
    match kind {
        PhotoType::Png => {
            // Interlaced rows come pass by pass: every row of the window stays open to the end.
            let interlaced = variant(bytes, kind) == Some(Variant::PngInterlaced);
            let mut sink = Shrinker::new((width, height), f, window, interlaced);
            png_rows(bytes, (width, height), max_alloc, &mut sink)?;
            Ok(sink.finish())
        }
        PhotoType::Jpeg => jpeg_grid(bytes, (width, height), f, window, max_alloc),
        PhotoType::Webp => {
            let mut sink = Shrinker::new((width, height), f, window, false);
            webp_rows(bytes, (width, height), max_alloc, &mut sink)?;
            Ok(sink.finish())
        }
    }
}

/// Decodes every pixel of `bytes` (so that damage anywhere in the data is found) and keeps none of
/// them: PNG row by row, JPEG at 1/8 a side, lossy WebP into its planes.
pub fn check(
    bytes: &[u8],
    kind: PhotoType,
    (width, height): (u32, u32),
    max_alloc: u64,
) -> Result<(), PixelError> {
    match kind {
        PhotoType::Png => png_rows(bytes, (width, height), max_alloc, &mut Discard),
        PhotoType::Jpeg => jpeg_decode(bytes, (width, height), 8, max_alloc).map(|_| ()),
        PhotoType::Webp => webp_rows(bytes, (width, height), max_alloc, &mut Discard),
    }
}

/// Where decoded rows go.
trait Rows {
    /// Whether the rows are wanted at all (if not, the decoder only proves they decode).
    fn wants_pixels(&self) -> bool {
        true
    }
    /// Pixels `x0, x0 + step, x0 + 2·step, …` of stored row `y`, 3 bytes each.
    fn put(&mut self, y: u32, x0: u32, step: u32, rgb: &[u8]);
}

/// Keeps nothing.
struct Discard;

impl Rows for Discard {
    fn wants_pixels(&self) -> bool {
        false
    }
    fn put(&mut self, _: u32, _: u32, _: u32, _: &[u8]) {}
}

/// Folds rows into the kept window of a grid: sums per block, then the rounded mean. Rows that
/// come in order need one accumulator row; rows that come in passes (`scattered`), one for the
/// whole window.
struct Shrinker {
    size: (u32, u32),
    f: u32,
    window: Rect,
    scattered: bool,
    acc: Vec<u32>,
    out: RgbImage,
}

impl Shrinker {
    fn new(size: (u32, u32), f: u32, window: Rect, scattered: bool) -> Shrinker {
        let rows = if scattered { window.height() } else { 1 };
        Shrinker {
            size,
            f,
            window,
            scattered,
            acc: vec![0; window.width() as usize * rows as usize * 3],
            out: RgbImage::new(window.width(), window.height()),
        }
    }

    /// Pixels a grid cell covers.
    fn cell_count(&self, gx: u32, gy: u32) -> u32 {
        let bw = self.f.min(self.size.0 - gx * self.f);
        let bh = self.f.min(self.size.1 - gy * self.f);
        bw * bh
    }

    /// Writes accumulator row `r` (grid row `gy`) out as means, and clears it.
    fn flush(&mut self, r: usize, gy: u32) {
        let w = self.window.width() as usize;
        for i in 0..w {
            let gx = self.window.x0 + i as u32;
            let n = self.cell_count(gx, gy);
            let a = &mut self.acc[(r * w + i) * 3..(r * w + i) * 3 + 3];
            let px = image::Rgb([0, 1, 2].map(|c| ((a[c] + n / 2) / n.max(1)) as u8));
            self.out.put_pixel(i as u32, gy - self.window.y0, px);
            a.fill(0);
        }
    }

    fn finish(mut self) -> RgbImage {
        if self.scattered {
            for r in 0..self.window.height() as usize {
                self.flush(r, self.window.y0 + r as u32);
            }
        }
        self.out
    }
}

impl Rows for Shrinker {
    fn put(&mut self, y: u32, x0: u32, step: u32, rgb: &[u8]) {
        let gy = y / self.f;
        if gy < self.window.y0 || gy >= self.window.y1 {
            return;
        }
        let r = if self.scattered {
            (gy - self.window.y0) as usize
        } else {
            0
        };
        let w = self.window.width() as usize;
        let first = self.window.x0 * self.f;
        let end = (self.window.x1 * self.f).min(self.size.0);
        let step = step.max(1);
        // The first pixel of this row at or after `first`.
        let skip = first.saturating_sub(x0).div_ceil(step);
        let mut x = x0 + skip * step;
        for p in rgb.chunks_exact(3).skip(skip as usize) {
            if x >= end {
                break;
            }
            let i = ((x / self.f - self.window.x0) as usize + r * w) * 3;
            self.acc[i] += u32::from(p[0]);
            self.acc[i + 1] += u32::from(p[1]);
            self.acc[i + 2] += u32::from(p[2]);
            x += step;
        }
        let last_row_of_cell = (y + 1).is_multiple_of(self.f) || y + 1 == self.size.1;
        if !self.scattered && last_row_of_cell {
            self.flush(0, gy);
        }
    }
}

fn corrupt(e: impl std::fmt::Display) -> PixelError {
    PixelError::Corrupt(e.to_string())
}

fn check_size(found: (u32, u32), declared: (u32, u32)) -> Result<(), PixelError> {
    if found == declared {
        Ok(())
    } else {
        Err(PixelError::Corrupt(format!(
            "the pixel data is {}x{}, the header said {}x{}",
            found.0, found.1, declared.0, declared.1
        )))
    }
}

/// The passes of Adam7 interlacing: (x offset, x step, y offset, y step).
const ADAM7: [(u32, u32, u32, u32); 7] = [
    (0, 8, 0, 8),
    (4, 8, 0, 8),
    (0, 4, 4, 8),
    (2, 4, 0, 4),
    (0, 2, 2, 4),
    (1, 2, 0, 2),
    (0, 1, 1, 2),
];

/// The rows of an Adam7 picture in file order: (x offset, x step, y, samples); passes with no
/// pixel are absent, as in the file.
fn adam7_rows(w: u32, h: u32) -> impl Iterator<Item = (u32, u32, u32, u32)> {
    ADAM7.into_iter().flat_map(move |(x0, dx, y0, dy)| {
        let samples = w.saturating_sub(x0).div_ceil(dx);
        let lines = if samples == 0 {
            0
        } else {
            h.saturating_sub(y0).div_ceil(dy)
        };
        (0..lines).map(move |l| (x0, dx, y0 + l * dy, samples))
    })
}

fn png_rows(
    bytes: &[u8],
    declared: (u32, u32),
    max_alloc: u64,
    sink: &mut dyn Rows,
) -> Result<(), PixelError> {
    use png::{ColorType, Transformations};
    let limits = png::Limits {
        bytes: usize::try_from(max_alloc).unwrap_or(usize::MAX),
    };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), limits);
    decoder.set_transformations(Transformations::EXPAND | Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(png_error)?;
    let (w, h) = (reader.info().width, reader.info().height);
    check_size((w, h), declared)?;
    let interlaced = reader.info().interlaced;
    let (color, _) = reader.output_color_type();
    let channels = match color {
        ColorType::Grayscale => 1,
        ColorType::GrayscaleAlpha => 2,
        ColorType::Rgb => 3,
        ColorType::Rgba => 4,
        ColorType::Indexed => {
            return Err(PixelError::Unsupported(
                "indexed colours not expanded".into(),
            ));
        }
    };
    let wants = sink.wants_pixels();
    let mut rgb = Vec::new();
    let mut order: Box<dyn Iterator<Item = (u32, u32, u32, u32)>> = if interlaced {
        Box::new(adam7_rows(w, h))
    } else {
        Box::new((0..h).map(move |y| (0, 1, y, w)))
    };
    while let Some(row) = reader.next_row().map_err(png_error)? {
        let Some((x0, step, y, samples)) = order.next() else {
            return Err(PixelError::Corrupt("more rows than the picture has".into()));
        };
        let data = row.data();
        if data.len() != samples as usize * channels {
            return Err(PixelError::Corrupt("a row of unexpected length".into()));
        }
        if !wants {
            continue;
        }
        rgb.clear();
        match channels {
            3 => rgb.extend_from_slice(data),
            4 => data
                .chunks_exact(4)
                .for_each(|p| rgb.extend_from_slice(&p[..3])),
            n => data
                .chunks_exact(n)
                .for_each(|p| rgb.extend_from_slice(&[p[0]; 3])),
        }
        sink.put(y, x0, step, &rgb);
    }
    if order.next().is_some() {
        return Err(PixelError::Corrupt("the pixel data ends early".into()));
    }
    Ok(())
}

fn png_error(e: png::DecodingError) -> PixelError {
    match e {
        png::DecodingError::LimitsExceeded => PixelError::Limits(e.to_string()),
        png::DecodingError::Parameter(_) => PixelError::Request(e.to_string()),
        other => corrupt(other),
    }
}

/// The marker of a JPEG's frame header (SOF0..SOF15 without DHT, JPG and DAC), if found before
/// the first scan.
fn jpeg_frame_marker(b: &[u8]) -> Option<u8> {
    let mut i = 2;
    while i + 3 < b.len() {
        if b[i] != 0xFF {
            return None;
        }
        let m = b[i + 1];
        match m {
            0xFF => i += 1,
            0xD0..=0xD7 | 0x01 => i += 2,
            0xC0..=0xCF if !matches!(m, 0xC4 | 0xC8 | 0xCC) => return Some(m),
            0xDA | 0xD9 => return None,
            _ => i += 2 + usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]])),
        }
    }
    None
}

/// Decodes a JPEG at 1/`f` a side (`f` = 1, 2, 4 or 8): the RGB pixels and their size.
fn jpeg_decode(
    bytes: &[u8],
    declared: (u32, u32),
    f: u32,
    max_alloc: u64,
) -> Result<(Vec<u8>, u32, u32), PixelError> {
    let mut dec = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    dec.set_max_decoding_buffer_size(usize::try_from(max_alloc).unwrap_or(usize::MAX));
    dec.read_info().map_err(jpeg_error)?;
    let info = dec
        .info()
        .ok_or_else(|| PixelError::Corrupt("no JPEG frame header".into()))?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    check_size((w, h), declared)?;
    let (gw, gh) = grid_size(w, h, f);
    let to_u16 = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
    let (sw, sh) = dec.scale(to_u16(gw), to_u16(gh)).map_err(jpeg_error)?;
    let (sw, sh) = (u32::from(sw), u32::from(sh));
    if (sw, sh) != (gw, gh) {
        return Err(PixelError::Request(format!(
            "the JPEG decoder reduced {w}x{h} to {sw}x{sh}, not {gw}x{gh}"
        )));
    }
    let pixels = dec.decode().map_err(jpeg_error)?;
    let info = dec
        .info()
        .ok_or_else(|| PixelError::Corrupt("no JPEG frame header".into()))?;
    let n = sw as usize * sh as usize;
    use jpeg_decoder::PixelFormat;
    let rgb = match info.pixel_format {
        PixelFormat::RGB24 if pixels.len() >= 3 * n => {
            let mut p = pixels;
            p.truncate(3 * n);
            p
        }
        PixelFormat::L8 if pixels.len() >= n => {
            pixels[..n].iter().flat_map(|&v| [v, v, v]).collect()
        }
        PixelFormat::L16 if pixels.len() >= 2 * n => pixels[..2 * n]
            .chunks_exact(2)
            .flat_map(|c| [c[0], c[0], c[0]])
            .collect(),
        PixelFormat::CMYK32 if pixels.len() >= 4 * n => pixels[..4 * n]
            .chunks_exact(4)
            .flat_map(|c| {
                let k = u16::from(c[3]);
                [c[0], c[1], c[2]].map(|v| ((u16::from(v) * k) / 255) as u8)
            })
            .collect(),
        _ => return Err(PixelError::Corrupt("unexpected JPEG output size".into())),
    };
    Ok((rgb, sw, sh))
}

fn jpeg_grid(
    bytes: &[u8],
    declared: (u32, u32),
    f: u32,
    window: Rect,
    max_alloc: u64,
) -> Result<RgbImage, PixelError> {
    let (rgb, sw, sh) = jpeg_decode(bytes, declared, f, max_alloc)?;
    let full = RgbImage::from_raw(sw, sh, rgb)
        .ok_or_else(|| PixelError::Corrupt("unexpected JPEG output size".into()))?;
    if window
        == (Rect {
            x0: 0,
            y0: 0,
            x1: sw,
            y1: sh,
        })
    {
        return Ok(full);
    }
    Ok(
        image::imageops::crop_imm(&full, window.x0, window.y0, window.width(), window.height())
            .to_image(),
    )
}

fn jpeg_error(e: jpeg_decoder::Error) -> PixelError {
    match e {
        jpeg_decoder::Error::Unsupported(u) => PixelError::Unsupported(format!("{u:?}")),
        other => corrupt(other),
    }
}

/// The chunks of a WebP file: fourcc and data range. `None` if the RIFF structure is broken.
fn webp_chunks(b: &[u8]) -> Option<Vec<([u8; 4], std::ops::Range<usize>)>> {
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WEBP" {
        return None;
    }
    let riff_end = (u32::from_le_bytes(b[4..8].try_into().ok()?) as usize)
        .checked_add(8)?
        .min(b.len());
    let mut chunks = Vec::new();
    let mut i = 12;
    while i + 8 <= riff_end {
        let fourcc: [u8; 4] = b[i..i + 4].try_into().ok()?;
        let len = u32::from_le_bytes(b[i + 4..i + 8].try_into().ok()?) as usize;
        let start = i + 8;
        let end = start.checked_add(len)?;
        if end > riff_end {
            return None;
        }
        chunks.push((fourcc, start..end));
        i = end + (len & 1);
    }
    Some(chunks)
}

fn webp_rows(
    bytes: &[u8],
    declared: (u32, u32),
    max_alloc: u64,
    sink: &mut dyn Rows,
) -> Result<(), PixelError> {
    let (w, h) = declared;
    let chunks =
        webp_chunks(bytes).ok_or_else(|| PixelError::Corrupt("broken RIFF structure".into()))?;
    match variant(bytes, PhotoType::Webp) {
        Some(Variant::WebpLossy) => {
            let planes = u64::from(w) * u64::from(h) * 3 / 2;
            if planes > max_alloc {
                return Err(PixelError::Limits(format!(
                    "{planes} bytes of planes, at most {max_alloc}"
                )));
            }
            let range = chunks
                .iter()
                .find(|c| &c.0 == b"VP8 ")
                .map(|c| c.1.clone())
                .ok_or_else(|| PixelError::Corrupt("no VP8 chunk".into()))?;
            let frame = image_webp::vp8::Vp8Decoder::decode_frame(Cursor::new(&bytes[range]))
                .map_err(corrupt)?;
            check_size((u32::from(frame.width), u32::from(frame.height)), declared)?;
            if sink.wants_pixels() {
                vp8_rows(&frame, sink)?;
            }
            Ok(())
        }
        _ => {
            // Lossless or animated: the decoder only decodes whole pictures.
            let mut dec = image_webp::WebPDecoder::new(Cursor::new(bytes)).map_err(webp_error)?;
            dec.set_memory_limit(usize::try_from(max_alloc).unwrap_or(usize::MAX));
            check_size(dec.dimensions(), declared)?;
            let len = dec
                .output_buffer_size()
                .ok_or_else(|| PixelError::Limits("picture too large".into()))?;
            if len as u64 > max_alloc {
                return Err(PixelError::Limits(format!(
                    "{len} bytes of pixels, at most {max_alloc}"
                )));
            }
            let channels = if dec.has_alpha() { 4 } else { 3 };
            let mut buf = vec![0u8; len];
            dec.read_image(&mut buf).map_err(webp_error)?;
            if sink.wants_pixels() {
                let stride = w as usize * channels;
                let mut rgb = Vec::with_capacity(w as usize * 3);
                for (y, row) in buf.chunks_exact(stride).enumerate() {
                    rgb.clear();
                    row.chunks_exact(channels)
                        .for_each(|p| rgb.extend_from_slice(&p[..3]));
                    sink.put(y as u32, 0, 1, &rgb);
                }
            }
            Ok(())
        }
    }
}

fn webp_error(e: image_webp::DecodingError) -> PixelError {
    match e {
        image_webp::DecodingError::MemoryLimitExceeded
        | image_webp::DecodingError::ImageTooLarge => PixelError::Limits(e.to_string()),
        image_webp::DecodingError::UnsupportedFeature(_) => PixelError::Unsupported(e.to_string()),
        other => corrupt(other),
    }
}

/// The rows of a VP8 frame as RGB: BT.601 studio-range YUV, chroma taken from the 2×2 block each
/// pixel is in.
fn vp8_rows(frame: &image_webp::vp8::Frame, sink: &mut dyn Rows) -> Result<(), PixelError> {
    let (w, h) = (usize::from(frame.width), usize::from(frame.height));
    let y_stride = w.div_ceil(16) * 16;
    let c_stride = y_stride / 2;
    if frame.ybuf.len() < y_stride * h || frame.ubuf.len() < c_stride * h.div_ceil(2) {
        return Err(PixelError::Corrupt("short VP8 planes".into()));
    }
    if frame.vbuf.len() < c_stride * h.div_ceil(2) {
        return Err(PixelError::Corrupt("short VP8 planes".into()));
    }
    let mut rgb = vec![0u8; w * 3];
    for y in 0..h {
        let ys = &frame.ybuf[y * y_stride..y * y_stride + w];
        let us = &frame.ubuf[(y / 2) * c_stride..];
        let vs = &frame.vbuf[(y / 2) * c_stride..];
        for (x, px) in rgb.chunks_exact_mut(3).enumerate() {
            let c = i32::from(ys[x]) - 16;
            let d = i32::from(us[x / 2]) - 128;
            let e = i32::from(vs[x / 2]) - 128;
            let clamp = |v: i32| ((v + 128) >> 8).clamp(0, 255) as u8;
            px[0] = clamp(298 * c + 409 * e);
            px[1] = clamp(298 * c - 100 * d - 208 * e);
            px[2] = clamp(298 * c + 516 * d);
        }
        sink.put(y as u32, 0, 1, &rgb);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageEncoder, Rgb};

    fn noise(w: u32, h: u32, seed: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let v = (x.wrapping_mul(73_856_093) ^ y.wrapping_mul(19_349_663) ^ seed)
                .wrapping_mul(2_654_435_761);
            Rgb([(v >> 24) as u8, (v >> 16) as u8, (v >> 8) as u8])
        })
    }

    fn png_of(img: &RgbImage) -> Vec<u8> {
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(
                img.as_raw(),
                img.width(),
                img.height(),
                image::ExtendedColorType::Rgb8,
            )
            .unwrap();
        out
    }

    /// The grid of `f` computed the plain way from the whole picture.
    fn plain_grid(img: &RgbImage, f: u32) -> RgbImage {
        let (gw, gh) = grid_size(img.width(), img.height(), f);
        RgbImage::from_fn(gw, gh, |gx, gy| {
            let mut s = [0u32; 3];
            let mut n = 0;
            for y in gy * f..((gy + 1) * f).min(img.height()) {
                for x in gx * f..((gx + 1) * f).min(img.width()) {
                    let p = img.get_pixel(x, y);
                    (0..3).for_each(|c| s[c] += u32::from(p[c]));
                    n += 1;
                }
            }
            Rgb(s.map(|v| ((v + n / 2) / n) as u8))
        })
    }

    /// A zlib stream of stored (uncompressed) blocks.
    fn zlib_stored(data: &[u8]) -> Vec<u8> {
        let mut out = vec![0x78, 0x01];
        let chunks: Vec<&[u8]> = data.chunks(65_535).collect();
        for (i, c) in chunks.iter().enumerate() {
            out.push(u8::from(i + 1 == chunks.len()));
            let len = c.len() as u16;
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&(!len).to_le_bytes());
            out.extend_from_slice(c);
        }
        let (mut a, mut b) = (1u32, 0u32);
        for &v in data {
            a = (a + u32::from(v)) % 65_521;
            b = (b + a) % 65_521;
        }
        out.extend_from_slice(&((b << 16) | a).to_be_bytes());
        out
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for &b in data {
            c ^= u32::from(b);
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

    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }

    /// An Adam7-interlaced RGB PNG (our encoder does not write them).
    fn interlaced_png(img: &RgbImage) -> Vec<u8> {
        let (w, h) = img.dimensions();
        let mut raw = Vec::new();
        for (x0, dx, y, samples) in adam7_rows(w, h) {
            raw.push(0); // filter: none
            for k in 0..samples {
                raw.extend_from_slice(&img.get_pixel(x0 + k * dx, y).0);
            }
        }
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&w.to_be_bytes());
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 1]);
        chunk(&mut out, b"IHDR", &ihdr);
        chunk(&mut out, b"IDAT", &zlib_stored(&raw));
        chunk(&mut out, b"IEND", &[]);
        out
    }

    #[test]
    fn png_grid_is_the_block_mean_of_the_picture() {
        let img = noise(203, 117, 7);
        let bytes = png_of(&img);
        for f in [1, 2, 3, 7, 40] {
            let got = decode_grid(&bytes, PhotoType::Png, (203, 117), f, None, 1 << 26).unwrap();
            assert!(got == plain_grid(&img, f), "factor {f}");
        }
        // a window of the grid is the same window of the whole grid
        let win = Rect {
            x0: 5,
            y0: 3,
            x1: 40,
            y1: 29,
        };
        let got = decode_grid(&bytes, PhotoType::Png, (203, 117), 3, Some(win), 1 << 26).unwrap();
        let whole = plain_grid(&img, 3);
        let want = image::imageops::crop_imm(&whole, 5, 3, 35, 26).to_image();
        assert!(got == want, "window");
    }

    #[test]
    fn interlaced_png_gives_the_same_pixels() {
        for (w, h) in [(37, 23), (1, 9), (9, 1), (64, 64)] {
            let img = noise(w, h, w * h);
            let bytes = interlaced_png(&img);
            assert!(
                image::load_from_memory(&bytes).unwrap().into_rgb8() == img,
                "our test encoder"
            );
            assert_eq!(
                variant(&bytes, PhotoType::Png),
                Some(Variant::PngInterlaced)
            );
            for f in [1, 2, 5] {
                let got = decode_grid(&bytes, PhotoType::Png, (w, h), f, None, 1 << 26).unwrap();
                assert!(got == plain_grid(&img, f), "{w}x{h} factor {f}");
            }
            check(&bytes, PhotoType::Png, (w, h), 1 << 26).unwrap();
        }
    }

    #[test]
    fn jpeg_grid_is_the_dct_reduction() {
        let img = noise(300, 200, 3);
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
            .encode_image(&img)
            .unwrap();
        assert_eq!(
            variant(&bytes, PhotoType::Jpeg),
            Some(Variant::JpegBaseline)
        );
        for f in [1, 2, 4, 8] {
            let got = decode_grid(&bytes, PhotoType::Jpeg, (300, 200), f, None, 1 << 26).unwrap();
            assert_eq!(got.dimensions(), grid_size(300, 200, f));
        }
        assert_eq!(supported_factor(PhotoType::Jpeg, 7), 4);
        assert_eq!(supported_factor(PhotoType::Jpeg, 30), 8);
        assert_eq!(supported_factor(PhotoType::Png, 7), 7);
        assert!(matches!(
            decode_grid(&bytes, PhotoType::Jpeg, (300, 200), 3, None, 1 << 26),
            Err(PixelError::Request(_))
        ));
        // a window is a crop of the reduced picture
        let whole = decode_grid(&bytes, PhotoType::Jpeg, (300, 200), 2, None, 1 << 26).unwrap();
        let win = Rect {
            x0: 10,
            y0: 20,
            x1: 50,
            y1: 60,
        };
        let part = decode_grid(&bytes, PhotoType::Jpeg, (300, 200), 2, Some(win), 1 << 26).unwrap();
        assert!(part == image::imageops::crop_imm(&whole, 10, 20, 40, 40).to_image());
    }

    #[test]
    fn lossless_webp_decodes_whole_and_says_so() {
        let img = noise(90, 70, 11);
        let mut bytes = Vec::new();
        image::codecs::webp::WebPEncoder::new_lossless(&mut bytes)
            .write_image(img.as_raw(), 90, 70, image::ExtendedColorType::Rgb8)
            .unwrap();
        assert_eq!(
            variant(&bytes, PhotoType::Webp),
            Some(Variant::WebpLossless)
        );
        let got = decode_grid(&bytes, PhotoType::Webp, (90, 70), 3, None, 1 << 26).unwrap();
        assert!(got == plain_grid(&img, 3));
        assert!(
            decode_cost(Variant::WebpLossless, 7000, 7000, 0)
                > decode_cost(Variant::WebpLossy, 7000, 7000, 0)
        );
    }

    #[test]
    fn damage_and_lies_are_errors() {
        let img = noise(120, 90, 5);
        let bytes = png_of(&img);
        // the header says another size
        assert!(matches!(
            check(&bytes, PhotoType::Png, (121, 90), 1 << 26),
            Err(PixelError::Corrupt(_))
        ));
        // damaged pixel data (the CRC of IDAT no longer matches)
        let mut bad = bytes.clone();
        let n = bad.len();
        bad[n / 2] ^= 0x55;
        assert!(check(&bad, PhotoType::Png, (120, 90), 1 << 26).is_err());
        // truncated
        assert!(check(&bytes[..n - 30], PhotoType::Png, (120, 90), 1 << 26).is_err());
        let window = Rect {
            x0: 0,
            y0: 0,
            x1: 500,
            y1: 1,
        };
        assert!(matches!(
            decode_grid(&bytes, PhotoType::Png, (120, 90), 1, Some(window), 1 << 26),
            Err(PixelError::Request(_))
        ));
    }
}
