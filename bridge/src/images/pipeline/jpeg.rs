//! JPEG marker segments, walked without decoding: to refuse a file cut short (no end-of-image
//! marker) and to copy a JPEG without its metadata segments.

use super::PictureError;

/// Fails unless the JPEG's segments and entropy-coded data run to an end-of-image marker.
pub fn check_complete(bytes: &[u8]) -> Result<(), PictureError> {
    walk(bytes, |_, _| {})
}

/// The JPEG's bytes up to its end-of-image marker, without the segments that carry metadata:
/// APP1 (EXIF, XMP), APP13 (IPTC, Photoshop), COM, APP2 other than the ICC profile (e.g. the MPF
/// index of appended pictures), APP3–APP12 and APP15, a JFXX thumbnail, and anything after the end
/// of the picture (phones append more pictures there, each with its own EXIF). The JFIF APP0, the
/// ICC profile (APP2 `ICC_PROFILE`) and the Adobe APP14 (which says how to read CMYK) are kept, as
/// is everything the decoder needs.
pub fn strip_metadata(bytes: &[u8]) -> Result<Vec<u8>, PictureError> {
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..2]);
    walk(bytes, |piece, marker| {
        if marker.is_none_or(keep_segment_with(piece)) {
            out.extend_from_slice(piece);
        }
    })?;
    Ok(out)
}

/// Whether to keep a marker segment (`piece` starts with `FF marker`, then the length).
fn keep_segment_with(piece: &[u8]) -> impl Fn(u8) -> bool + '_ {
    move |marker| {
        let payload = piece.get(4..).unwrap_or(&[]);
        match marker {
            0xE0 => !payload.starts_with(b"JFXX\0"),
            0xE2 => payload.starts_with(b"ICC_PROFILE\0"),
            0xEE => payload.starts_with(b"Adobe"),
            0xE1 | 0xE3..=0xED | 0xEF | 0xFE => false,
            _ => true,
        }
    }
}

/// Calls `visit` with each piece after SOI, in order: a marker segment with `Some(marker)`, or
/// entropy-coded data with `None`; the last piece is the EOI marker.
fn walk(bytes: &[u8], mut visit: impl FnMut(&[u8], Option<u8>)) -> Result<(), PictureError> {
    let truncated =
        || PictureError::Corrupt("JPEG: the file ends before its end-of-image marker".to_owned());
    let len = bytes.len();
    let mut i = 2;
    loop {
        if i >= len {
            return Err(truncated());
        }
        if bytes[i] != 0xFF {
            return Err(PictureError::Corrupt(format!(
                "JPEG: expected a marker at byte {i}"
            )));
        }
        // Any number of 0xFF fill bytes may precede a marker.
        while i + 1 < len && bytes[i + 1] == 0xFF {
            i += 1;
        }
        let marker = *bytes.get(i + 1).ok_or_else(truncated)?;
        match marker {
            0xD9 => {
                visit(&bytes[i..i + 2], Some(marker));
                return Ok(());
            }
            // Markers without a length: restart markers (stray ones are harmless) and TEM.
            0xD0..=0xD7 | 0x01 => {
                visit(&bytes[i..i + 2], Some(marker));
                i += 2;
            }
            _ => {
                let length = bytes.get(i + 2..i + 4).ok_or_else(truncated)?;
                let length = usize::from(u16::from_be_bytes([length[0], length[1]]));
                if length < 2 {
                    return Err(PictureError::Corrupt(format!(
                        "JPEG: a segment at byte {i} has length {length}"
                    )));
                }
                let end = i + 2 + length;
                visit(bytes.get(i..end).ok_or_else(truncated)?, Some(marker));
                i = end;
                if marker == 0xDA {
                    // Entropy-coded data runs to the next marker that is neither a stuffed zero
                    // nor a restart marker.
                    let start = i;
                    loop {
                        let ff = bytes[i..]
                            .iter()
                            .position(|&b| b == 0xFF)
                            .ok_or_else(truncated)?;
                        i += ff;
                        match bytes.get(i + 1).ok_or_else(truncated)? {
                            0x00 | 0xD0..=0xD7 => i += 2,
                            0xFF => i += 1,
                            _ => break,
                        }
                    }
                    visit(&bytes[start..i], None);
                }
            }
        }
    }
}
