//! What counts as an image: the `Content-Type` the server sends, and the first bytes it sends.
//!
//! The type must be `image/*` and not SVG: SVG is XML that can carry scripts, and it is not a
//! raster that the desk's hashers (SHA-256 of the file, PDQ of the pixels, face embedding) read.
//! The bytes must start with the magic number of a raster format, so a server that labels a
//! page or a script `image/jpeg` is refused. A raster labelled as another raster (a WebP sent as
//! `image/jpeg`, common behind image CDNs and conversion plug-ins) is accepted: it is an image,
//! and the decoders judge the bytes, not the label.

use optout_core::ports::FetchError;

/// How many bytes [`sniff`] needs to recognise every format it knows.
pub(crate) const SNIFF_LEN: usize = 12;

/// The longest content type quoted back in an error.
const MAX_QUOTED: usize = 64;

/// The `Content-Type` header as sent, when it names an image type other than SVG.
pub(crate) fn check_content_type(header: Option<&[u8]>) -> Result<String, FetchError> {
    let Some(raw) = header else {
        return Err(FetchError::NotImage("no content type".into()));
    };
    let Ok(text) = std::str::from_utf8(raw) else {
        return Err(FetchError::NotImage("unreadable content type".into()));
    };
    let text = text.trim();
    let essence = text
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let Some(subtype) = essence.strip_prefix("image/") else {
        return Err(FetchError::NotImage(format!(
            "content type {}",
            quoted(&essence)
        )));
    };
    if subtype.is_empty()
        || subtype.contains(['*', '/'])
        || subtype.chars().any(char::is_whitespace)
    {
        return Err(FetchError::NotImage(format!(
            "content type {}",
            quoted(&essence)
        )));
    }
    if subtype.starts_with("svg") {
        return Err(FetchError::NotImage(format!(
            "content type {} (SVG is not a raster image and can carry scripts)",
            quoted(&essence)
        )));
    }
    Ok(text.to_owned())
}

fn quoted(s: &str) -> String {
    match s.char_indices().nth(MAX_QUOTED) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None if s.is_empty() => "(empty)".into(),
        None => s.to_owned(),
    }
}

/// The raster formats [`sniff`] recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Raster {
    Jpeg,
    Png,
    Gif,
    WebP,
    Bmp,
    Tiff,
    Icon,
    /// AVIF and HEIF (an ISO-BMFF `ftyp` box with an image brand).
    Heif,
    JpegXl,
    Jpeg2000,
}

/// The raster format `head` (the first bytes of a body, at least [`SNIFF_LEN`] of them unless
/// the body is shorter) starts with, if any.
pub(crate) fn sniff(head: &[u8]) -> Option<Raster> {
    const HEIF_BRANDS: &[&[u8; 4]] = &[
        b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1",
    ];
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    if at(0, &[0xff, 0xd8, 0xff]) {
        Some(Raster::Jpeg)
    } else if at(0, b"\x89PNG\r\n\x1a\n") {
        Some(Raster::Png)
    } else if at(0, b"GIF87a") || at(0, b"GIF89a") {
        Some(Raster::Gif)
    } else if at(0, b"RIFF") && at(8, b"WEBP") {
        Some(Raster::WebP)
    } else if at(0, b"BM") && at(6, &[0, 0, 0, 0]) {
        // "BM", the file size, then four reserved zero bytes.
        Some(Raster::Bmp)
    } else if at(0, b"II*\0") || at(0, b"MM\0*") {
        Some(Raster::Tiff)
    } else if at(0, &[0, 0, 1, 0]) || at(0, &[0, 0, 2, 0]) {
        Some(Raster::Icon)
    } else if at(4, b"ftyp") && HEIF_BRANDS.iter().any(|brand| at(8, *brand)) {
        Some(Raster::Heif)
    } else if at(0, &[0xff, 0x0a]) || at(0, b"\0\0\0\x0cJXL \r\n\x87\n") {
        Some(Raster::JpegXl)
    } else if at(0, b"\0\0\0\x0cjP  \r\n\x87\n") || at(0, &[0xff, 0x4f, 0xff, 0x51]) {
        Some(Raster::Jpeg2000)
    } else {
        None
    }
}

/// `Ok` when the body starts like a raster image.
pub(crate) fn check_magic(head: &[u8], content_type: &str) -> Result<Raster, FetchError> {
    sniff(head).ok_or_else(|| {
        FetchError::NotImage(format!(
            "the bytes are not an image (sent as {})",
            quoted(content_type)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_types_pass_as_sent() {
        for t in [
            "image/jpeg",
            "image/png",
            "image/webp",
            "image/gif",
            "image/avif",
            "IMAGE/JPEG",
            "image/jpeg; charset=binary",
            " image/png ",
            "image/x-icon",
        ] {
            assert_eq!(
                check_content_type(Some(t.as_bytes())),
                Ok(t.trim().to_owned()),
                "{t}"
            );
        }
    }

    #[test]
    fn other_types_are_not_images() {
        for (t, why) in [
            (Some("text/html"), "content type text/html"),
            (Some("text/html; charset=utf-8"), "content type text/html"),
            (
                Some("image/svg+xml"),
                "content type image/svg+xml (SVG is not a raster image and can carry scripts)",
            ),
            (
                Some("Image/SVG+XML; charset=utf-8"),
                "content type image/svg+xml (SVG is not a raster image and can carry scripts)",
            ),
            (
                Some("application/octet-stream"),
                "content type application/octet-stream",
            ),
            (Some("image/"), "content type image/"),
            (Some("image/*"), "content type image/*"),
            (Some("imagejpeg"), "content type imagejpeg"),
            (Some(""), "content type (empty)"),
            (None, "no content type"),
        ] {
            assert_eq!(
                check_content_type(t.map(str::as_bytes)),
                Err(FetchError::NotImage(why.into())),
                "{t:?}"
            );
        }
        assert_eq!(
            check_content_type(Some(b"image/\xff")),
            Err(FetchError::NotImage("unreadable content type".into()))
        );
        let long = format!("text/{}", "x".repeat(200));
        let Err(FetchError::NotImage(why)) = check_content_type(Some(long.as_bytes())) else {
            panic!("a long type is not an image");
        };
        assert!(why.len() < 100, "{why}");
    }

    #[test]
    fn magic_numbers() {
        for (head, want) in [
            (&b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01"[..], Raster::Jpeg),
            (b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", Raster::Png),
            (b"GIF89a\x01\0\x01\0", Raster::Gif),
            (b"GIF87a\x01\0\x01\0", Raster::Gif),
            (b"RIFF\x24\0\0\0WEBPVP8 ", Raster::WebP),
            (b"BM\x36\0\0\0\0\0\0\0\x36\0", Raster::Bmp),
            (b"II*\0\x08\0\0\0", Raster::Tiff),
            (b"MM\0*\0\0\0\x08", Raster::Tiff),
            (b"\0\0\x01\0\x01\0\x10\x10", Raster::Icon),
            (b"\0\0\0\x1cftypavif\0\0\0\0", Raster::Heif),
            (b"\0\0\0\x18ftypheic\0\0\0\0", Raster::Heif),
            (b"\xff\x0a\xfa\x7f", Raster::JpegXl),
            (b"\0\0\0\x0cJXL \r\n\x87\n", Raster::JpegXl),
            (b"\0\0\0\x0cjP  \r\n\x87\n", Raster::Jpeg2000),
        ] {
            assert_eq!(sniff(head), Some(want), "{head:?}");
            assert_eq!(check_magic(head, "image/jpeg"), Ok(want));
        }
        for head in [
            &b""[..],
            b"\xff\xd8",
            b"<!doctype html><html>",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\">",
            b"<?xml version=\"1.0\"?>",
            b"RIFF\x24\0\0\0WAVEfmt ",
            b"BMW is a car",
            b"\0\0\0\x18ftypmp42\0\0\0\0",
            b"GIF90a",
            b"%PDF-1.7",
            b"PK\x03\x04",
        ] {
            assert_eq!(sniff(head), None, "{head:?}");
            assert_eq!(
                check_magic(head, "image/jpeg"),
                Err(FetchError::NotImage(
                    "the bytes are not an image (sent as image/jpeg)".into()
                ))
            );
        }
    }
}
