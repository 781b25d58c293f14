//! "Keep the original too": the full-size picture without EXIF, GPS, XMP, IPTC or comments.
//!
//! Lossless where we can: an upright JPEG, PNG or WebP is copied with its metadata segments or
//! chunks removed (pixels, ICC profile and everything the decoder needs are kept byte for byte).
//! A picture that EXIF says to rotate is re-encoded upright (its stored pixels would be shown on
//! their side without the EXIF): JPEG at quality 92 with full chroma, WebP at quality 90, PNG
//! losslessly. A GIF becomes a PNG of its first frame. Re-encoded originals are sRGB, untagged.

use super::encode::{self, Chroma};
use super::sniff::Format;
use super::{OutputFormat, PictureError, jpeg};
use image::DynamicImage;

/// Quality of a re-encoded JPEG original.
const JPEG_ORIGINAL_QUALITY: u8 = 92;
/// Quality of a re-encoded WebP original.
const WEBP_ORIGINAL_QUALITY: f32 = 90.0;

/// How the original is made.
pub enum Plan {
    /// The input without its metadata.
    Strip,
    /// The decoded picture, upright and in sRGB, encoded again.
    Reencode,
}

pub fn plan(format: Format, upright: bool) -> Plan {
    match (format, upright) {
        (Format::Gif, _) | (_, false) => Plan::Reencode,
        _ => Plan::Strip,
    }
}

/// [`Plan::Strip`]: the input without its metadata, in its own format.
pub fn strip(bytes: &[u8], format: Format) -> Result<(OutputFormat, Vec<u8>), PictureError> {
    Ok(match format {
        Format::Jpeg => (OutputFormat::Jpeg, jpeg::strip_metadata(bytes)?),
        Format::Png => (OutputFormat::Png, strip_png(bytes)?),
        Format::Webp => (OutputFormat::Webp, strip_webp(bytes)?),
        Format::Gif => unreachable!("a GIF's original is re-encoded"),
    })
}

/// [`Plan::Reencode`]: `pixels` (upright, sRGB) as a JPEG, PNG or WebP after the source's format.
pub fn reencode(pixels: &DynamicImage, format: Format) -> (OutputFormat, Vec<u8>) {
    match format {
        Format::Jpeg => (
            OutputFormat::Jpeg,
            encode::jpeg(pixels, JPEG_ORIGINAL_QUALITY, Chroma::Full),
        ),
        Format::Png | Format::Gif => (OutputFormat::Png, encode::png(pixels)),
        Format::Webp => (
            OutputFormat::Webp,
            encode::webp(pixels, WEBP_ORIGINAL_QUALITY),
        ),
    }
}

/// PNG chunks kept: the critical ones and those that affect how pixels look. Dropped: text
/// (`tEXt`, `zTXt`, `iTXt`), `eXIf`, `tIME`, APNG frames (the first frame, `IDAT`, stays) and
/// anything private.
const PNG_KEPT: [&[u8; 4]; 11] = [
    b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"cICP", b"mDCV", b"cLLI", b"bKGD",
    b"pHYs",
];

fn strip_png(bytes: &[u8]) -> Result<Vec<u8>, PictureError> {
    let corrupt = || PictureError::Corrupt("PNG: a chunk runs past the end of the file".to_owned());
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..8]);
    let mut i = 8;
    loop {
        let header = bytes.get(i..i + 8).ok_or_else(corrupt)?;
        let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind: &[u8; 4] = header[4..8].try_into().expect("four bytes");
        let end = i + 12 + length;
        let chunk = bytes.get(i..end).ok_or_else(corrupt)?;
        // Critical chunks have an upper-case first letter.
        if kind[0].is_ascii_uppercase() || PNG_KEPT.contains(&kind) {
            out.extend_from_slice(chunk);
        }
        if kind == b"IEND" {
            return Ok(out);
        }
        i = end;
    }
}

/// WebP (RIFF) chunks without `EXIF` and `XMP `, with the extended header's flags for them cleared
/// and the RIFF size recomputed. Everything else (`VP8 `, `VP8L`, `VP8X`, `ALPH`, `ICCP`,
/// `ANIM`, `ANMF`) is kept.
fn strip_webp(bytes: &[u8]) -> Result<Vec<u8>, PictureError> {
    let corrupt =
        || PictureError::Corrupt("WebP: a chunk runs past the end of the file".to_owned());
    let riff_size = u32::from_le_bytes(bytes[4..8].try_into().expect("four bytes")) as usize;
    let end_of_riff = (riff_size + 8).min(bytes.len());
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..12]);
    let mut i = 12;
    while i + 8 <= end_of_riff {
        let kind: &[u8; 4] = bytes[i..i + 4].try_into().expect("four bytes");
        let length =
            u32::from_le_bytes(bytes[i + 4..i + 8].try_into().expect("four bytes")) as usize;
        let end = i + 8 + length + (length & 1);
        let chunk = bytes.get(i..end.min(end_of_riff)).ok_or_else(corrupt)?;
        if chunk.len() < 8 + length {
            return Err(corrupt());
        }
        match kind {
            b"EXIF" | b"XMP " => {}
            b"VP8X" => {
                let start = out.len();
                out.extend_from_slice(chunk);
                // Flags byte: ICC 0x20, alpha 0x10, EXIF 0x08, XMP 0x04, animation 0x02.
                if let Some(flags) = out.get_mut(start + 8) {
                    *flags &= !(0x08 | 0x04);
                }
            }
            _ => out.extend_from_slice(chunk),
        }
        i = end;
    }
    let size = u32::try_from(out.len() - 8).expect("under the byte limit");
    out[4..8].copy_from_slice(&size.to_le_bytes());
    Ok(out)
}
