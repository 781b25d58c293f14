//! The picture pipeline: legacy picture bytes in, the shop's renditions out (WebP and JPEG at
//! [`TARGET_SIZES`] on the long side, plus the original with its metadata stripped).
//!
//! Pure and synchronous: no I/O, no async, no clock except the stage timer of [`process_timed`].
//! CPU-bound (tens of milliseconds for a 4 MP photo): callers run it on a blocking thread. Every
//! [`PictureError`] is permanent: the same bytes fail the same way, so a failed picture is never
//! retried. `docs/IMAGES.md` explains the choices (formats, limits, colour, metadata, sizes, names).
//!
//! The output for a given input and [`PIPELINE_VERSION`] is deterministic on a given machine (the
//! SIMD paths of the resizer and libwebp may round differently on another CPU; that is harmless,
//! since keys are named by the input's hash and the version, never by the output's).

mod colour;
mod decode;
mod encode;
mod jpeg;
mod original;
mod resize;
mod sniff;
#[cfg(test)]
mod tests;

use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

/// Goes into the S3 keys. Bump it whenever the outputs for the same input change (sizes, quality,
/// encoder, colour handling), so new renditions never overwrite cached old ones.
pub const PIPELINE_VERSION: &str = "v2";

/// Long sides of the thumbnails, in pixels. A picture is never upscaled: sizes at or above its long
/// side are replaced by one rendition at its own long side (capped at the largest target).
pub const TARGET_SIZES: [u32; 3] = [160, 480, 1200];

/// WebP quality (libwebp's 0–100 scale) of the thumbnails.
pub const WEBP_QUALITY: f32 = 78.0;

/// JPEG quality (libjpeg's 0–100 scale) of the fallback thumbnails.
pub const JPEG_QUALITY: u8 = 82;

/// The background transparent pixels are flattened onto in JPEG outputs (which have no alpha).
pub const JPEG_BACKGROUND: [u8; 3] = [0xFF, 0xFF, 0xFF];

/// What a picture may cost. Checked in this order: bytes, then pixels (from the header, before
/// any pixel is decoded), then the decoder's allocations.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Input size in bytes.
    pub max_bytes: usize,
    /// Width × height, after reading the header.
    pub max_pixels: u64,
    /// Largest allocation the decoder may make, in bytes (the `image` crate's `max_alloc`).
    pub max_alloc: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024 * 1024,
            max_pixels: 40_000_000,
            // 40 MP of 16-bit RGBA is 320 MB; the limit leaves room for that and no more.
            max_alloc: 512 * 1024 * 1024,
        }
    }
}

/// How a rendition is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Webp,
    Jpeg,
    /// Only for the original of a PNG or GIF picture.
    Png,
}

impl OutputFormat {
    /// File extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Webp => "webp",
            OutputFormat::Jpeg => "jpg",
            OutputFormat::Png => "png",
        }
    }

    /// The `Content-Type` to upload with.
    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Webp => "image/webp",
            OutputFormat::Jpeg => "image/jpeg",
            OutputFormat::Png => "image/png",
        }
    }
}

/// One output file.
#[derive(Clone)]
pub struct Rendition {
    /// File name under the picture's key prefix: `160.webp`, `480.jpg`, `original.jpg`.
    pub name: String,
    /// The larger of width and height.
    pub long_side: u32,
    pub width: u32,
    pub height: u32,
    pub format: OutputFormat,
    pub content_type: &'static str,
    /// `true` for the original (the full-size picture, metadata stripped).
    pub is_original: bool,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Rendition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendition")
            .field("name", &self.name)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("bytes", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// A processed picture.
#[derive(Clone, Debug)]
pub struct Processed {
    /// SHA-256 of the input bytes (the key prefix of every rendition).
    pub sha256: [u8; 32],
    /// Upright size, after EXIF orientation.
    pub width: u32,
    pub height: u32,
    /// `"JPEG"`, `"PNG"`, `"WebP"` or `"GIF"`.
    pub source_format: &'static str,
    /// Thumbnails from the smallest up, WebP before JPEG at each size, then the original.
    pub renditions: Vec<Rendition>,
}

/// Why a picture cannot be processed. All of them are permanent: the same bytes fail again.
/// `to_string()` is shown to operators as the item's picture error.
#[derive(Debug, thiserror::Error)]
pub enum PictureError {
    #[error("the picture is empty (0 bytes)")]
    Empty,
    #[error("picture is {} bytes ({}), over the {} limit", .bytes, mib(*.bytes as u64), mib(*.limit as u64))]
    TooLarge { bytes: usize, limit: usize },
    #[error(
        "picture is {}×{} = {} MP, over the {} MP limit",
        .width, .height, megapixels(u64::from(*.width) * u64::from(*.height)), megapixels(*.limit)
    )]
    TooManyPixels { width: u32, height: u32, limit: u64 },
    /// Decoding would allocate more than [`Limits::max_alloc`].
    #[error("decoding the picture would need more than the {} memory limit", mib(*.limit))]
    TooMuchMemory { limit: u64 },
    /// A recognised format or feature we do not decode (`"HEIC"`, `"AVIF"`, `"TIFF"`, …).
    #[error("unsupported format {0} (upload a JPEG, PNG, WebP or GIF)")]
    Unsupported(String),
    #[error("not a picture: the bytes are not a JPEG, PNG, WebP or GIF file")]
    NotAnImage,
    /// The format was recognised but the file is damaged; the text starts with the format.
    #[error("truncated or corrupt {0}")]
    Corrupt(String),
}

fn mib(bytes: u64) -> String {
    let mib = bytes as f64 / (1024.0 * 1024.0);
    if bytes.is_multiple_of(1024 * 1024) {
        format!("{mib:.0} MiB")
    } else {
        format!("{mib:.1} MiB")
    }
}

fn megapixels(pixels: u64) -> String {
    let mp = pixels as f64 / 1e6;
    if pixels.is_multiple_of(1_000_000) || mp >= 100.0 {
        format!("{mp:.0}")
    } else {
        format!("{mp:.1}")
    }
}

/// Wall time spent in each stage of one [`process_timed`] call.
#[derive(Clone, Copy, Debug, Default)]
pub struct StageTimes {
    /// SHA-256 of the input.
    pub hash: Duration,
    /// Format sniffing, header, limits, and the JPEG end-of-image check.
    pub header: Duration,
    /// Pixels decoded and converted to 8-bit RGB(A).
    pub decode: Duration,
    /// Layout (RGB or RGBA), and an ICC profile to sRGB on the thumbnails (near zero without a
    /// profile; for a re-encoded original, its conversion counts in `original`).
    pub colour: Duration,
    /// EXIF orientation (zero when upright).
    pub orientation: Duration,
    pub resize: Duration,
    pub encode_webp: Duration,
    pub encode_jpeg: Duration,
    /// The metadata-free original (segment stripping, or a re-encode).
    pub original: Duration,
}

impl StageTimes {
    pub fn total(&self) -> Duration {
        self.hash
            + self.header
            + self.decode
            + self.colour
            + self.orientation
            + self.resize
            + self.encode_webp
            + self.encode_jpeg
            + self.original
    }
}

/// Which resampler makes the thumbnails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Resampler {
    /// `fast_image_resize`, SIMD: Lanczos3 for the largest thumbnail, Catmull-Rom for the smaller
    /// ones (made from the next larger). What the workers use.
    #[default]
    FastImageResize,
    /// The `image` crate's own `resize` with Lanczos3 at every size: the benchmark's reference only.
    ImageCrate,
}

/// Decodes `bytes`, applies orientation and colour, and makes every rendition.
pub fn process(bytes: &[u8], limits: &Limits) -> Result<Processed, PictureError> {
    process_timed(bytes, limits, Resampler::FastImageResize).map(|(processed, _)| processed)
}

/// [`process`] with a choice of resampler, also returning the time spent in each stage.
pub fn process_timed(
    bytes: &[u8],
    limits: &Limits,
    resampler: Resampler,
) -> Result<(Processed, StageTimes), PictureError> {
    let mut times = StageTimes::default();
    let mut clock = Instant::now();
    let mut lap = |slot: &mut Duration| {
        let now = Instant::now();
        *slot += now - clock;
        clock = now;
    };

    if bytes.is_empty() {
        return Err(PictureError::Empty);
    }
    if bytes.len() > limits.max_bytes {
        return Err(PictureError::TooLarge {
            bytes: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    let format = sniff::sniff(bytes)?;
    let header = decode::Header::read(bytes, format, limits)?;
    lap(&mut times.header);

    let decoded = header.decode()?;
    lap(&mut times.decode);

    let (mut pixels, to_srgb) = colour::prepare(decoded.pixels, decoded.icc_profile.as_deref());
    lap(&mut times.colour);

    let upright = decoded.orientation == image::metadata::Orientation::NoTransforms;
    pixels.apply_orientation(decoded.orientation);
    lap(&mut times.orientation);

    let (width, height) = (pixels.width(), pixels.height());
    let sizes = resize::sizes(width, height);
    let thumbnails = resize::resize_all(&pixels, &sizes, resampler);
    lap(&mut times.resize);

    let thumbnails: Vec<_> = thumbnails.into_iter().map(|t| to_srgb.apply(t)).collect();
    lap(&mut times.colour);

    let mut renditions = Vec::with_capacity(thumbnails.len() * 2 + 1);
    for thumbnail in &thumbnails {
        let webp = encode::webp(thumbnail, WEBP_QUALITY);
        renditions.push(rendition(thumbnail, OutputFormat::Webp, webp));
        lap(&mut times.encode_webp);
        let jpeg = encode::jpeg(thumbnail, JPEG_QUALITY, encode::Chroma::Subsampled);
        renditions.push(rendition(thumbnail, OutputFormat::Jpeg, jpeg));
        lap(&mut times.encode_jpeg);
    }
    drop(thumbnails);

    let (original_format, original_bytes) = match original::plan(format, upright) {
        original::Plan::Strip => original::strip(bytes, format)?,
        original::Plan::Reencode => original::reencode(&to_srgb.apply(pixels), format),
    };
    renditions.push(Rendition {
        name: format!("original.{}", original_format.extension()),
        long_side: width.max(height),
        width,
        height,
        format: original_format,
        content_type: original_format.content_type(),
        is_original: true,
        bytes: original_bytes,
    });
    lap(&mut times.original);

    let sha256: [u8; 32] = Sha256::digest(bytes).into();
    lap(&mut times.hash);

    Ok((
        Processed {
            sha256,
            width,
            height,
            source_format: format.name(),
            renditions,
        },
        times,
    ))
}

fn rendition(thumbnail: &image::DynamicImage, format: OutputFormat, bytes: Vec<u8>) -> Rendition {
    let (width, height) = (thumbnail.width(), thumbnail.height());
    let long_side = width.max(height);
    Rendition {
        name: format!("{long_side}.{}", format.extension()),
        long_side,
        width,
        height,
        format,
        content_type: format.content_type(),
        is_original: false,
        bytes,
    }
}
