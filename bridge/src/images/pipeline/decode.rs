//! Header first, pixels second: the header's size is checked against [`Limits`] before a single
//! pixel is decoded (a 100 000 × 100 000 PNG is a few hundred bytes), and the decoder is then held
//! to the allocation limit while it works.

use super::sniff::Format;
use super::{Limits, PictureError, jpeg};
use image::error::LimitErrorKind;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageReader};
use std::io::Cursor;

/// A picture whose header passed the limits, ready to decode.
pub struct Header<'a> {
    format: Format,
    decoder: Box<dyn ImageDecoder + 'a>,
    limits: &'a Limits,
}

/// Decoded pixels, 8 bits per channel (grey, grey + alpha, RGB or RGBA), as stored (not yet
/// oriented), with what the file says about colour and orientation.
pub struct Decoded {
    pub pixels: DynamicImage,
    pub orientation: Orientation,
    pub icc_profile: Option<Vec<u8>>,
}

impl<'a> Header<'a> {
    pub fn read(bytes: &'a [u8], format: Format, limits: &'a Limits) -> Result<Self, PictureError> {
        if format == Format::Jpeg {
            // zune-jpeg (behind `image`) decodes a cut-off JPEG without complaint, filling the
            // missing part with grey; a picture with half its pixels is refused instead.
            jpeg::check_complete(bytes)?;
        }
        let mut reader = ImageReader::with_format(Cursor::new(bytes), format.image_format());
        reader.limits(image_limits(limits, None));
        let decoder = reader
            .into_decoder()
            .map_err(|e| map_error(e, format, limits))?;
        let (width, height) = decoder.dimensions();
        if u64::from(width) * u64::from(height) > limits.max_pixels {
            return Err(PictureError::TooManyPixels {
                width,
                height,
                limit: limits.max_pixels,
            });
        }
        // The `image` crate holds its decoders to `max_alloc` for their own buffers, but not the
        // output buffer `DynamicImage::from_decoder` allocates: that one is checked here.
        if decoder.total_bytes() > limits.max_alloc {
            return Err(PictureError::TooMuchMemory {
                limit: limits.max_alloc,
            });
        }
        let mut decoder: Box<dyn ImageDecoder + 'a> = Box::new(decoder);
        decoder
            .set_limits(image_limits(limits, Some((width, height))))
            .map_err(|e| map_error(e, format, limits))?;
        Ok(Self {
            format,
            decoder,
            limits,
        })
    }

    pub fn decode(mut self) -> Result<Decoded, PictureError> {
        // Metadata trouble (a broken EXIF block or ICC profile) never costs the picture: it is
        // shown upright and taken as sRGB.
        let orientation = self
            .decoder
            .orientation()
            .unwrap_or(Orientation::NoTransforms);
        let icc_profile = self.decoder.icc_profile().ok().flatten();
        let (format, limits) = (self.format, self.limits);
        let pixels =
            DynamicImage::from_decoder(self.decoder).map_err(|e| map_error(e, format, limits))?;
        let pixels = match pixels {
            p @ (DynamicImage::ImageLuma8(_)
            | DynamicImage::ImageLumaA8(_)
            | DynamicImage::ImageRgb8(_)
            | DynamicImage::ImageRgba8(_)) => p,
            p @ DynamicImage::ImageLuma16(_) => DynamicImage::ImageLuma8(p.into_luma8()),
            p @ DynamicImage::ImageLumaA16(_) => DynamicImage::ImageLumaA8(p.into_luma_alpha8()),
            p if p.color().has_alpha() => DynamicImage::ImageRgba8(p.into_rgba8()),
            p => DynamicImage::ImageRgb8(p.into_rgb8()),
        };
        Ok(Decoded {
            pixels,
            orientation,
            icc_profile,
        })
    }
}

/// The `image` crate's limits: the allocation cap always; once the header is read and passed, its
/// own width and height as the strict maximum.
fn image_limits(limits: &Limits, size: Option<(u32, u32)>) -> image::Limits {
    let mut out = image::Limits::default();
    out.max_alloc = Some(limits.max_alloc);
    out.max_image_width = size.map(|(w, _)| w);
    out.max_image_height = size.map(|(_, h)| h);
    out
}

fn map_error(error: ImageError, format: Format, limits: &Limits) -> PictureError {
    let name = format.name();
    match error {
        ImageError::Limits(e) => match e.kind() {
            LimitErrorKind::InsufficientMemory => PictureError::TooMuchMemory {
                limit: limits.max_alloc,
            },
            _ => PictureError::Corrupt(format!("{name}: {e}")),
        },
        ImageError::Unsupported(e) => PictureError::Unsupported(format!("{name} variant ({e})")),
        // The decoder's own words, without `image`'s "Format error decoding Png:" before them.
        ImageError::Decoding(e) => match std::error::Error::source(&e) {
            Some(cause) => PictureError::Corrupt(format!("{name}: {cause}")),
            None => PictureError::Corrupt(format!("{name}: {e}")),
        },
        ImageError::IoError(e) => PictureError::Corrupt(format!("{name}: {e}")),
        e => PictureError::Corrupt(format!("{name}: {e}")),
    }
}
