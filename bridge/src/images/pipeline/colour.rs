//! Colour: every output is sRGB without an embedded profile (what browsers assume for an untagged
//! picture). A picture with an ICC profile (Display P3 from a phone, Adobe RGB from a camera, a
//! grey profile) is converted to sRGB with `moxcms`; one without is taken as sRGB already. A
//! profile that does not parse, or that does not match the decoded pixels (a CMYK profile: the
//! JPEG decoder has already turned CMYK into RGB with the naive formula), is ignored, since a
//! picture with slightly-off colours beats a placeholder.
//!
//! An RGB profile is applied to the thumbnails after resizing, not to the full picture: a third of
//! the pixels for a 2000 px photo, and no visible difference (resampling is done on the encoded
//! values either way). A grey profile is applied before (it also turns grey into RGB).
//!
//! Also puts the pixels into the layout the rest of the pipeline works on: RGB8, or RGBA8 when
//! some pixel is not fully opaque.

use image::{DynamicImage, RgbImage, RgbaImage};
use moxcms::{ColorProfile, DataColorSpace, Layout, Transform8BitExecutor, TransformOptions};
use std::sync::Arc;

/// The conversion still to do on RGB(A) pixels, if any.
pub struct ToSrgb {
    transform: Option<Arc<Transform8BitExecutor>>,
}

/// Puts `pixels` (8-bit grey, grey + alpha, RGB or RGBA) into RGB8 or RGBA8, and returns the
/// conversion to sRGB to apply to them (or to what is made from them) later.
pub fn prepare(pixels: DynamicImage, icc_profile: Option<&[u8]>) -> (DynamicImage, ToSrgb) {
    let profile = icc_profile.and_then(|icc| ColorProfile::new_from_slice(icc).ok());
    let grey = matches!(
        pixels,
        DynamicImage::ImageLuma8(_) | DynamicImage::ImageLumaA8(_)
    );
    let pixels = match &profile {
        Some(profile) if grey && profile.color_space == DataColorSpace::Gray => {
            convert_grey(&pixels, profile).unwrap_or(pixels)
        }
        _ => pixels,
    };
    let pixels = into_layout(pixels);
    let layout = match pixels {
        DynamicImage::ImageRgba8(_) => Layout::Rgba,
        _ => Layout::Rgb,
    };
    let transform = profile
        .filter(|p| !grey && p.color_space == DataColorSpace::Rgb)
        .and_then(|p| {
            p.create_transform_8bit(
                layout,
                &ColorProfile::new_srgb(),
                layout,
                TransformOptions::default(),
            )
            .ok()
        });
    (pixels, ToSrgb { transform })
}

impl ToSrgb {
    /// Converts RGB8 or RGBA8 pixels (in the layout [`prepare`] returned) to sRGB.
    pub fn apply(&self, pixels: DynamicImage) -> DynamicImage {
        let Some(transform) = &self.transform else {
            return pixels;
        };
        let mut out = vec![0u8; pixels.as_bytes().len()];
        if transform.transform(pixels.as_bytes(), &mut out).is_err() {
            return pixels;
        }
        let (width, height) = (pixels.width(), pixels.height());
        match pixels {
            DynamicImage::ImageRgba8(_) => {
                RgbaImage::from_raw(width, height, out).map_or(pixels, DynamicImage::ImageRgba8)
            }
            _ => RgbImage::from_raw(width, height, out).map_or(pixels, DynamicImage::ImageRgb8),
        }
    }
}

/// RGB8, or RGBA8 when some pixel is not fully opaque.
fn into_layout(pixels: DynamicImage) -> DynamicImage {
    match pixels {
        DynamicImage::ImageRgb8(_) => pixels,
        DynamicImage::ImageRgba8(rgba) if rgba.as_raw().chunks_exact(4).all(|p| p[3] == 255) => {
            DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(rgba).into_rgb8())
        }
        DynamicImage::ImageRgba8(_) => pixels,
        DynamicImage::ImageLumaA8(_) => into_layout(DynamicImage::ImageRgba8(pixels.into_rgba8())),
        _ => DynamicImage::ImageRgb8(pixels.into_rgb8()),
    }
}

/// Grey (with or without alpha) through a grey profile into sRGB RGB(A), or `None` to leave it.
fn convert_grey(pixels: &DynamicImage, profile: &ColorProfile) -> Option<DynamicImage> {
    let (src_layout, dst_layout, channels) = match pixels {
        DynamicImage::ImageLuma8(_) => (Layout::Gray, Layout::Rgb, 3),
        DynamicImage::ImageLumaA8(_) => (Layout::GrayAlpha, Layout::Rgba, 4),
        _ => return None,
    };
    let transform = profile
        .create_transform_8bit(
            src_layout,
            &ColorProfile::new_srgb(),
            dst_layout,
            TransformOptions::default(),
        )
        .ok()?;
    let (width, height) = (pixels.width(), pixels.height());
    let mut out = vec![0u8; width as usize * height as usize * channels];
    transform.transform(pixels.as_bytes(), &mut out).ok()?;
    Some(if channels == 4 {
        DynamicImage::ImageRgba8(RgbaImage::from_raw(width, height, out)?)
    } else {
        DynamicImage::ImageRgb8(RgbImage::from_raw(width, height, out)?)
    })
}
