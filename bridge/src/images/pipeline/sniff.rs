//! Which format the bytes are, from their magic numbers (never from a name or a MIME type the
//! legacy system stored). Formats we do not decode are named, so the operator reads "HEIC", not
//! "not an image".

use super::PictureError;

/// A format the pipeline decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    Webp,
    Gif,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "JPEG",
            Format::Png => "PNG",
            Format::Webp => "WebP",
            Format::Gif => "GIF",
        }
    }

    pub fn image_format(self) -> image::ImageFormat {
        match self {
            Format::Jpeg => image::ImageFormat::Jpeg,
            Format::Png => image::ImageFormat::Png,
            Format::Webp => image::ImageFormat::WebP,
            Format::Gif => image::ImageFormat::Gif,
        }
    }
}

pub fn sniff(bytes: &[u8]) -> Result<Format, PictureError> {
    let unsupported = |name: &str| Err(PictureError::Unsupported(name.to_owned()));
    let at = |offset: usize, magic: &[u8]| bytes.get(offset..offset + magic.len()) == Some(magic);

    if at(0, &[0xFF, 0xD8, 0xFF]) {
        return Ok(Format::Jpeg);
    }
    if at(0, b"\x89PNG\r\n\x1a\n") {
        return Ok(Format::Png);
    }
    if at(0, b"GIF87a") || at(0, b"GIF89a") {
        return Ok(Format::Gif);
    }
    if at(0, b"RIFF") && at(8, b"WEBP") {
        return Ok(Format::Webp);
    }
    if at(4, b"ftyp") {
        return unsupported(iso_media_name(bytes));
    }
    if at(0, b"II*\0") || at(0, b"MM\0*") {
        return unsupported("TIFF");
    }
    if at(0, b"BM") && bytes.len() >= 14 && at(6, &[0, 0, 0, 0]) {
        return unsupported("BMP");
    }
    if at(0, &[0xFF, 0x0A]) || at(0, b"\0\0\0\x0cJXL \r\n\x87\n") {
        return unsupported("JPEG XL");
    }
    if at(0, b"\0\0\0\x0cjP  \r\n\x87\n") || at(0, &[0xFF, 0x4F, 0xFF, 0x51]) {
        return unsupported("JPEG 2000");
    }
    if at(0, b"8BPS") {
        return unsupported("PSD (Photoshop)");
    }
    if at(0, &[0, 0, 1, 0]) && bytes.len() >= 6 {
        return unsupported("ICO");
    }
    if at(0, b"qoif") {
        return unsupported("QOI");
    }
    if at(0, b"%PDF") {
        return unsupported("PDF");
    }
    if looks_like_svg(bytes) {
        return unsupported("SVG");
    }
    Err(PictureError::NotAnImage)
}

/// ISO base media files (`ftyp` box): HEIF/HEIC and AVIF pictures, or a video.
fn iso_media_name(bytes: &[u8]) -> &'static str {
    // The box size (big-endian, first four bytes) bounds the major brand, minor version and the
    // compatible brands.
    let size = bytes
        .get(0..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .unwrap_or(0)
        .clamp(16, 256)
        .min(bytes.len());
    let major = bytes.get(8..12);
    // The major brand first: an AVIF may list `mif1` among its compatible brands, and so on.
    let brands = major
        .into_iter()
        .chain(bytes.get(16..size).unwrap_or(&[]).chunks_exact(4));
    let mut heif = false;
    for brand in brands {
        match brand {
            b"avif" | b"avis" => return "AVIF",
            b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" => return "HEIC",
            b"mif1" | b"msf1" => heif = true,
            _ => {}
        }
    }
    match major {
        _ if heif => "HEIF",
        Some(b"jxl ") => "JPEG XL",
        Some(b"qt  ") => "QuickTime video",
        _ => "MP4/ISO media",
    }
}

fn looks_like_svg(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(512)];
    let text = String::from_utf8_lossy(head);
    let text = text.trim_start_matches('\u{feff}').trim_start();
    (text.starts_with("<?xml") || text.starts_with("<svg") || text.starts_with("<!DOCTYPE svg"))
        && text.contains("<svg")
}
