//! Encoders: lossy WebP with libwebp (the `image` crate only writes lossless WebP), JPEG with
//! `jpeg-encoder` (progressive in two scans, optimised Huffman tables), PNG with `image`. None of them writes any
//! metadata: no EXIF, XMP, ICC or comments.

use super::JPEG_BACKGROUND;
use image::{DynamicImage, ImageEncoder, RgbImage};

/// Lossy WebP; RGBA keeps its alpha (losslessly compressed alpha plane at `quality`).
pub fn webp(pixels: &DynamicImage, quality: f32) -> Vec<u8> {
    let (width, height) = (pixels.width(), pixels.height());
    let encoder = match pixels {
        DynamicImage::ImageRgba8(p) => webp::Encoder::from_rgba(p.as_raw(), width, height),
        DynamicImage::ImageRgb8(p) => webp::Encoder::from_rgb(p.as_raw(), width, height),
        _ => unreachable!("the pipeline works on RGB8 or RGBA8"),
    };
    let mut config = webp::WebPConfig::new().expect("libwebp's default configuration");
    config.quality = quality;
    // Method 2 of 0–6: half the time of the default 4 (the rate-distortion search of 3 and up
    // doubles the cost) for files 5–15 % larger; see docs/BENCHMARKS.md, "Images".
    config.method = 2;
    // One segment instead of the default four: libwebp then skips its analysis pass (at method 2
    // it only feeds the segmentation), a third of the encoding time. The single quantiser costs
    // size at equal quality: 19 % on the flat demo drawings (whose SSIM goes up), 31 % on grainy
    // photo-like pictures (SSIM 0.003 lower); a lower quality to win the size back made the grainy
    // ones visibly smoother (docs/IMAGES.md, docs/BENCHMARKS.md "Images").
    config.segments = 1;
    config.alpha_compression = 1;
    // Alpha quantised to 176 levels instead of kept losslessly: the same file sizes and no visible
    // difference on cut-out edges and soft shadows, for a third less encoding time (the lossless
    // alpha plane cost more than the colour at 100).
    config.alpha_quality = 90;
    // One thread, so the output never depends on scheduling.
    config.thread_level = 0;
    encoder
        .encode_advanced(&config)
        .expect("libwebp encodes an RGB(A) picture of at most 16383 px a side")
        .to_vec()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chroma {
    /// 4:2:0, for thumbnails.
    Subsampled,
    /// 4:4:4, for a re-encoded original.
    Full,
}

/// Progressive JPEG in two scans (DC, then all of AC): a blurred preview first, like the default
/// four scans, for the same encoding time and a quarter less size (jpeg-encoder's four scans split
/// AC into bands that each cost their own end-of-block codes). Alpha is flattened onto
/// [`JPEG_BACKGROUND`].
pub fn jpeg(pixels: &DynamicImage, quality: u8, chroma: Chroma) -> Vec<u8> {
    let flattened;
    let rgb = match pixels {
        DynamicImage::ImageRgb8(p) => p,
        DynamicImage::ImageRgba8(p) => {
            flattened = flatten(p);
            &flattened
        }
        _ => unreachable!("the pipeline works on RGB8 or RGBA8"),
    };
    let width = u16::try_from(rgb.width()).expect("JPEG outputs are at most 65535 px a side");
    let height = u16::try_from(rgb.height()).expect("JPEG outputs are at most 65535 px a side");
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    encoder.set_progressive_scans(2);
    encoder.set_optimized_huffman_tables(true);
    encoder.set_sampling_factor(match chroma {
        Chroma::Subsampled => jpeg_encoder::SamplingFactor::F_2_2,
        Chroma::Full => jpeg_encoder::SamplingFactor::F_1_1,
    });
    encoder
        .encode(rgb.as_raw(), width, height, jpeg_encoder::ColorType::Rgb)
        .expect("encoding into a Vec cannot fail");
    out
}

/// Lossless PNG (default compression, adaptive filters).
pub fn png(pixels: &DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Default,
        image::codecs::png::FilterType::Adaptive,
    )
    .write_image(
        pixels.as_bytes(),
        pixels.width(),
        pixels.height(),
        pixels.color().into(),
    )
    .expect("encoding into a Vec cannot fail");
    out
}

/// Composites RGBA over the JPEG background.
fn flatten(rgba: &image::RgbaImage) -> RgbImage {
    let mut out = Vec::with_capacity(rgba.as_raw().len() / 4 * 3);
    for p in rgba.as_raw().chunks_exact(4) {
        let a = u32::from(p[3]);
        for c in 0..3 {
            let over = u32::from(p[c]) * a + u32::from(JPEG_BACKGROUND[c]) * (255 - a);
            out.push(((over + 127) / 255) as u8);
        }
    }
    RgbImage::from_raw(rgba.width(), rgba.height(), out).expect("three bytes per pixel")
}
