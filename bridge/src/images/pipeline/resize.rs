//! Thumbnail sizes and resampling. Each thumbnail is made from the next larger one (1200 → 480 →
//! 160), which costs a fraction of resampling the full picture three times and is not visibly
//! different at these ratios. The largest thumbnail is made from the picture with Lanczos3; the
//! smaller ones from a thumbnail with Catmull-Rom (a cubic: two lobes fewer, half the taps), which
//! is as sharp to the eye at 2.5 and 3 × and scores within 0.0005 SSIM of Lanczos3 there (see
//! docs/BENCHMARKS.md, "Images").

use super::{Resampler, TARGET_SIZES};
use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, RgbImage, RgbaImage};

/// Thumbnail sizes (width, height) for an upright picture, smallest first: every target long side
/// below the picture's, plus one at its own long side capped at the largest target. Never larger
/// than the picture.
pub fn sizes(width: u32, height: u32) -> Vec<(u32, u32)> {
    let long = width.max(height);
    let largest = TARGET_SIZES[TARGET_SIZES.len() - 1];
    let mut longs: Vec<u32> = TARGET_SIZES.into_iter().filter(|&t| t < long).collect();
    let top = long.min(largest);
    if !longs.contains(&top) {
        longs.push(top);
    }
    longs
        .into_iter()
        .map(|target| scaled(width, height, target))
        .collect()
}

/// `(width, height)` scaled so the long side is `target`, the short side rounded (at least 1).
fn scaled(width: u32, height: u32, target: u32) -> (u32, u32) {
    let long = width.max(height);
    let short = width.min(height);
    if target >= long {
        return (width, height);
    }
    let short =
        ((u64::from(short) * u64::from(target) + u64::from(long) / 2) / u64::from(long)).max(1);
    let short = short as u32;
    if width >= height {
        (target, short)
    } else {
        (short, target)
    }
}

/// Makes one image per size (`sizes` smallest first, as [`sizes`] returns them), in the same
/// pixel layout as `pixels` (RGB8 or RGBA8). Returned in the order of `sizes`.
pub fn resize_all(
    pixels: &DynamicImage,
    sizes: &[(u32, u32)],
    resampler: Resampler,
) -> Vec<DynamicImage> {
    let mut resizer = Resizer::new();
    let mut out: Vec<DynamicImage> = Vec::with_capacity(sizes.len());
    for &(width, height) in sizes.iter().rev() {
        let filter = if out.is_empty() {
            FilterType::Lanczos3
        } else {
            FilterType::CatmullRom
        };
        let source = out.last().unwrap_or(pixels);
        let thumbnail = if (width, height) == (source.width(), source.height()) {
            source.clone()
        } else {
            match resampler {
                Resampler::FastImageResize => fast(&mut resizer, source, width, height, filter),
                Resampler::ImageCrate => {
                    source.resize_exact(width, height, image::imageops::FilterType::Lanczos3)
                }
            }
        };
        out.push(thumbnail);
    }
    out.reverse();
    out
}

fn fast(
    resizer: &mut Resizer,
    source: &DynamicImage,
    width: u32,
    height: u32,
    filter: FilterType,
) -> DynamicImage {
    let pixel_type = match source {
        DynamicImage::ImageRgba8(_) => PixelType::U8x4,
        _ => PixelType::U8x3,
    };
    let src = ImageRef::new(
        source.width(),
        source.height(),
        source.as_bytes(),
        pixel_type,
    )
    .expect("an RGB8/RGBA8 buffer matches its own size");
    let mut dst = Image::new(width, height, pixel_type);
    // RGBA premultiplied by alpha while resampling (so transparent pixels' colours never bleed
    // into the edges) and divided back after.
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(filter))
        .use_alpha(true);
    resizer
        .resize(&src, &mut dst, &options)
        .expect("source and destination have the same pixel type");
    let buffer = dst.into_vec();
    match pixel_type {
        PixelType::U8x4 => DynamicImage::ImageRgba8(
            RgbaImage::from_raw(width, height, buffer).expect("buffer of the destination size"),
        ),
        _ => DynamicImage::ImageRgb8(
            RgbImage::from_raw(width, height, buffer).expect("buffer of the destination size"),
        ),
    }
}
