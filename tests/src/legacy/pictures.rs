//! Hat illustrations for the demo data: flat shapes (crown and brim, cones, domes) on a simple
//! background, drawn from a seed into a pixel buffer and encoded as JPEG or PNG, including the odd
//! files the bridge's image pipeline must cope with (CMYK JPEG, PNG with alpha, EXIF-rotated JPEG,
//! a PNG over 16 MiB). Pure computation, no I/O; call it from a blocking thread.
//!
//! Everything is drawn with horizontal spans copied by doubling, so a picture costs a few memcpys
//! per row even in a debug build of this crate.

use anyhow::{Context, ensure};
use image::{ExtendedColorType, ImageEncoder, RgbImage, codecs::png};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The size the large picture must exceed: 16 MiB, where MySQL's medium packet and many client
/// buffers stop.
pub const LARGE_PICTURE_MIN_BYTES: usize = 16 * 1024 * 1024;

/// The shape family drawn for a hat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Look {
    Bowler,
    Fedora,
    TopHat,
    Cowboy,
    Sombrero,
    Boater,
    Beanie,
    Bobble,
    Propeller,
    FlatCap,
    BaseballCap,
    Bucket,
    Beret,
    Deerstalker,
    Fez,
    PartyCone,
    Wizard,
    Santa,
    Jester,
    Crown,
    Helmet,
    Viking,
    Toque,
    CheeseWedge,
}

/// How the picture is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PictureFormat {
    /// Baseline RGB JPEG, quality 85.
    Jpeg,
    /// 8-bit RGB PNG.
    Png,
    /// Four-component JPEG with an Adobe APP14 marker (inverted CMYK, as Photoshop writes it).
    CmykJpeg,
    /// RGBA PNG whose background is fully transparent and whose shadow is half transparent.
    AlphaPng,
    /// JPEG whose pixels are stored turned 90° anticlockwise, with EXIF orientation 6 (rotate 90°
    /// clockwise to display), like a phone photo.
    ExifRotatedJpeg,
    /// RGB PNG covered in film grain so it stays over [`LARGE_PICTURE_MIN_BYTES`].
    HugeNoisyPng,
}

/// What to draw: everything about the picture follows from these fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PictureSpec {
    pub look: Look,
    pub format: PictureFormat,
    /// Upright width and height, in pixels.
    pub width: u32,
    pub height: u32,
    pub seed: u64,
}

impl PictureSpec {
    /// Random size (mostly 600–1200 px, some up to 2000 px, square or 4:3 either way) and colours.
    pub fn random(look: Look, format: PictureFormat, rng: &mut impl Rng) -> Self {
        let (width, height) = match format {
            // 2800 × 2200 × 3 bytes of grain: 18.5 MB raw, about 17.6 MiB as PNG.
            PictureFormat::HugeNoisyPng => (2800, 2200),
            _ => {
                let long = if rng.random_bool(0.7) {
                    rng.random_range(600..=1200)
                } else {
                    rng.random_range(1200..=2000)
                };
                let short = (long * 3 / 4).max(600);
                match rng.random_range(0..3) {
                    0 => (long, long),
                    1 => (long, short),
                    _ => (short, long),
                }
            }
        };
        Self {
            look,
            format,
            width,
            height,
            seed: rng.random(),
        }
    }
}

/// An encoded picture.
#[derive(Clone, Debug)]
pub struct Picture {
    pub bytes: Vec<u8>,
    pub mime: &'static str,
    /// As stored in the file (for [`PictureFormat::ExifRotatedJpeg`], width and height swapped).
    pub width: u32,
    pub height: u32,
    pub format: PictureFormat,
}

/// Draws and encodes a picture. CPU-bound (tens of milliseconds to a second): not on an executor.
pub fn render(spec: &PictureSpec) -> anyhow::Result<Picture> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let alpha = spec.format == PictureFormat::AlphaPng;
    let mut canvas = Canvas::new(
        spec.width as usize,
        spec.height as usize,
        if alpha { 4 } else { 3 },
    );
    let palette = Palette::random(spec.look, &mut rng);
    if alpha {
        // Fully transparent background: only the hat and its shadow are painted.
        canvas.px.fill(0);
    } else {
        canvas.background(&palette);
    }
    let shadow = if alpha {
        [0, 0, 0, 90]
    } else {
        palette.floor.shade(0.75)
    };
    draw_hat(&mut canvas, spec.look, &palette, shadow, &mut rng);

    let (w, h) = (spec.width, spec.height);
    let picture = |bytes, mime, width, height| Picture {
        bytes,
        mime,
        width,
        height,
        format: spec.format,
    };
    Ok(match spec.format {
        PictureFormat::Jpeg => picture(
            encode_jpeg(&canvas.px, w, h, jpeg_encoder::ColorType::Rgb, None)?,
            "image/jpeg",
            w,
            h,
        ),
        PictureFormat::CmykJpeg => {
            let cmyk = rgb_to_cmyk(&canvas.px);
            picture(
                encode_jpeg(&cmyk, w, h, jpeg_encoder::ColorType::Cmyk, None)?,
                "image/jpeg",
                w,
                h,
            )
        }
        PictureFormat::ExifRotatedJpeg => {
            let upright = RgbImage::from_raw(w, h, canvas.px).context("canvas size")?;
            // Stored turned 90° anticlockwise; orientation 6 tells the viewer to turn it clockwise.
            let stored = image::imageops::rotate270(&upright);
            let bytes = encode_jpeg(
                stored.as_raw(),
                h,
                w,
                jpeg_encoder::ColorType::Rgb,
                Some(&exif_orientation(6)),
            )?;
            picture(bytes, "image/jpeg", h, w)
        }
        PictureFormat::Png => picture(
            encode_png(&canvas.px, w, h, ExtendedColorType::Rgb8)?,
            "image/png",
            w,
            h,
        ),
        PictureFormat::AlphaPng => picture(
            encode_png(&canvas.px, w, h, ExtendedColorType::Rgba8)?,
            "image/png",
            w,
            h,
        ),
        PictureFormat::HugeNoisyPng => {
            add_grain(&mut canvas.px, &mut rng);
            let bytes = encode_png(&canvas.px, w, h, ExtendedColorType::Rgb8)?;
            ensure!(
                bytes.len() > LARGE_PICTURE_MIN_BYTES,
                "the large picture came out at {} bytes, not over 16 MiB",
                bytes.len()
            );
            picture(bytes, "image/png", w, h)
        }
    })
}

fn encode_jpeg(
    px: &[u8],
    width: u32,
    height: u32,
    colour: jpeg_encoder::ColorType,
    exif: Option<&[u8]>,
) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 85);
    if colour == jpeg_encoder::ColorType::Cmyk {
        // Every component at full resolution, as Photoshop writes CMYK. (The encoder's default
        // keeps only K at full resolution; zune-jpeg, behind the `image` crate, decodes that to
        // near-black, while libjpeg-turbo gets it right.)
        encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_1_1);
    }
    if let Some(exif) = exif {
        encoder.add_app_segment(1, exif)?;
    }
    encoder.encode(px, u16::try_from(width)?, u16::try_from(height)?, colour)?;
    Ok(out)
}

fn encode_png(
    px: &[u8],
    width: u32,
    height: u32,
    colour: ExtendedColorType,
) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    png::PngEncoder::new_with_quality(
        &mut out,
        png::CompressionType::Fast,
        png::FilterType::Adaptive,
    )
    .write_image(px, width, height, colour)?;
    Ok(out)
}

/// An EXIF APP1 payload holding only IFD0 with one Orientation (0x0112) entry, little-endian.
pub fn exif_orientation(orientation: u16) -> Vec<u8> {
    let mut exif = b"Exif\0\0".to_vec();
    exif.extend_from_slice(b"II*\0"); // TIFF header, little-endian
    exif.extend_from_slice(&8u32.to_le_bytes()); // IFD0 right after the header
    exif.extend_from_slice(&1u16.to_le_bytes()); // one entry
    exif.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
    exif.extend_from_slice(&3u16.to_le_bytes()); // SHORT
    exif.extend_from_slice(&1u32.to_le_bytes()); // count
    exif.extend_from_slice(&orientation.to_le_bytes());
    exif.extend_from_slice(&[0, 0]); // value padded to 4 bytes
    exif.extend_from_slice(&0u32.to_le_bytes()); // no IFD1
    exif
}

/// Naive device CMYK (no ICC profile), 0 = no ink; the encoder inverts it as Adobe does.
fn rgb_to_cmyk(rgb: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rgb.len() / 3 * 4);
    for p in rgb.chunks_exact(3) {
        let max = p[0].max(p[1]).max(p[2]);
        let k = 255 - max;
        if max == 0 {
            out.extend_from_slice(&[0, 0, 0, 255]);
        } else {
            let ink = |c: u8| ((u32::from(max - c) * 255) / u32::from(max)) as u8;
            out.extend_from_slice(&[ink(p[0]), ink(p[1]), ink(p[2]), k]);
        }
    }
    out
}

/// Film grain of ±64 on every channel: random bytes compress badly, which is the point.
fn add_grain(px: &mut [u8], rng: &mut impl Rng) {
    let mut noise = vec![0u8; px.len()];
    rng.fill_bytes(&mut noise);
    for (p, n) in px.iter_mut().zip(noise) {
        *p = p.saturating_add_signed((n as i8) >> 1);
    }
}

/// A colour as RGBA; three-channel canvases ignore the alpha.
type Colour = [u8; 4];

trait Shade {
    /// Multiplies the RGB channels (below 1 darker, above 1 lighter).
    fn shade(self, factor: f32) -> Colour;
}

impl Shade for Colour {
    fn shade(self, factor: f32) -> Colour {
        let f = |c: u8| (f32::from(c) * factor).clamp(0.0, 255.0) as u8;
        [f(self[0]), f(self[1]), f(self[2]), self[3]]
    }
}

fn hsv(hue: f32, sat: f32, val: f32) -> Colour {
    let h = hue.rem_euclid(360.0) / 60.0;
    let c = val * sat;
    let x = c * (1.0 - (h % 2.0 - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = val - c;
    let to = |v: f32| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    [to(r), to(g), to(b), 255]
}

struct Palette {
    body: Colour,
    band: Colour,
    accent: Colour,
    sky_top: Colour,
    sky_bottom: Colour,
    floor: Colour,
}

impl Palette {
    fn random(look: Look, rng: &mut impl Rng) -> Self {
        // (hue range, saturation range, value range) of the hat's body colour, per look.
        let (hue, sat, val): ((f32, f32), (f32, f32), (f32, f32)) = match look {
            Look::Bowler | Look::TopHat => ((0.0, 360.0), (0.0, 0.3), (0.08, 0.3)),
            Look::Fedora | Look::Cowboy | Look::FlatCap | Look::Deerstalker => {
                ((20.0, 40.0), (0.3, 0.7), (0.25, 0.6))
            }
            Look::Sombrero | Look::Boater => ((38.0, 52.0), (0.4, 0.7), (0.75, 0.95)),
            Look::Fez | Look::Santa => ((350.0, 365.0), (0.75, 0.95), (0.6, 0.85)),
            Look::Crown | Look::CheeseWedge => ((44.0, 54.0), (0.8, 1.0), (0.85, 1.0)),
            Look::Toque => ((0.0, 360.0), (0.0, 0.05), (0.92, 0.98)),
            Look::Helmet | Look::Viking => ((30.0, 60.0), (0.3, 0.8), (0.45, 0.9)),
            Look::Wizard => ((230.0, 290.0), (0.5, 0.9), (0.25, 0.6)),
            _ => ((0.0, 360.0), (0.5, 0.9), (0.5, 0.95)),
        };
        let body = hsv(
            rng.random_range(hue.0..hue.1),
            rng.random_range(sat.0..=sat.1),
            rng.random_range(val.0..=val.1),
        );
        let band = hsv(
            rng.random_range(0.0..360.0),
            rng.random_range(0.3..0.9),
            rng.random_range(0.1..0.5),
        );
        let accent = hsv(
            rng.random_range(0.0..360.0),
            rng.random_range(0.6..1.0),
            rng.random_range(0.7..1.0),
        );
        let sky_hue = rng.random_range(0.0..360.0);
        Self {
            body,
            band,
            accent,
            sky_top: hsv(sky_hue, rng.random_range(0.05..0.25), 0.97),
            sky_bottom: hsv(sky_hue + 30.0, rng.random_range(0.1..0.35), 0.85),
            floor: hsv(
                rng.random_range(20.0..50.0),
                rng.random_range(0.1..0.3),
                rng.random_range(0.55..0.8),
            ),
        }
    }
}

/// A pixel buffer with span-based filled shapes (no anti-aliasing: it is a demo).
struct Canvas {
    w: usize,
    h: usize,
    channels: usize,
    px: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Half {
    Full,
    Top,
}

impl Canvas {
    fn new(w: usize, h: usize, channels: usize) -> Self {
        Self {
            w,
            h,
            channels,
            px: vec![0; w * h * channels],
        }
    }

    /// Fills pixels `x0..x1` of row `y` (clipped) by copying the first pixel in doubling chunks.
    fn span(&mut self, y: usize, x0: f32, x1: f32, colour: Colour) {
        if y >= self.h {
            return;
        }
        let x0 = x0.round().max(0.0) as usize;
        let x1 = (x1.round().max(0.0) as usize).min(self.w);
        if x0 >= x1 {
            return;
        }
        let ch = self.channels;
        let start = (y * self.w + x0) * ch;
        let row = &mut self.px[start..start + (x1 - x0) * ch];
        row[..ch].copy_from_slice(&colour[..ch]);
        let mut filled = ch;
        while filled < row.len() {
            let n = filled.min(row.len() - filled);
            row.copy_within(0..n, filled);
            filled += n;
        }
    }

    /// A vertical gradient sky down to the horizon, then a plain floor.
    fn background(&mut self, palette: &Palette) {
        let horizon = self.h * 62 / 100;
        for y in 0..self.h {
            let colour = if y < horizon {
                let t = y as f32 / horizon as f32;
                let mix = |a: u8, b: u8| (f32::from(a) * (1.0 - t) + f32::from(b) * t) as u8;
                let (a, b) = (palette.sky_top, palette.sky_bottom);
                [mix(a[0], b[0]), mix(a[1], b[1]), mix(a[2], b[2]), 255]
            } else {
                palette.floor
            };
            self.span(y, 0.0, self.w as f32, colour);
        }
    }

    fn ellipse(&mut self, cx: f32, cy: f32, rx: f32, ry: f32, half: Half, colour: Colour) {
        if rx <= 0.0 || ry <= 0.0 {
            return;
        }
        let y0 = (cy - ry).floor().max(0.0) as usize;
        let y1 = match half {
            Half::Full => (cy + ry).ceil(),
            Half::Top => cy.ceil(),
        };
        let y1 = (y1.max(0.0) as usize).min(self.h);
        for y in y0..y1 {
            let dy = (y as f32 + 0.5 - cy) / ry;
            if dy.abs() <= 1.0 {
                let half_width = rx * (1.0 - dy * dy).sqrt();
                self.span(y, cx - half_width, cx + half_width, colour);
            }
        }
    }

    /// A convex polygon, scanline by scanline.
    fn polygon(&mut self, points: &[(f32, f32)], colour: Colour) {
        let min_y = points.iter().map(|p| p.1).fold(f32::INFINITY, f32::min);
        let max_y = points.iter().map(|p| p.1).fold(f32::NEG_INFINITY, f32::max);
        let y0 = min_y.floor().max(0.0) as usize;
        let y1 = (max_y.ceil().max(0.0) as usize).min(self.h);
        for y in y0..y1 {
            let sy = y as f32 + 0.5;
            let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
            for (i, a) in points.iter().enumerate() {
                let b = points[(i + 1) % points.len()];
                if (a.1 <= sy && sy < b.1) || (b.1 <= sy && sy < a.1) {
                    let x = a.0 + (sy - a.1) / (b.1 - a.1) * (b.0 - a.0);
                    lo = lo.min(x);
                    hi = hi.max(x);
                }
            }
            if lo <= hi {
                self.span(y, lo, hi, colour);
            }
        }
    }
}

/// Draws in hat units: x across from the hat's centre, y up from the brim (negative is up), one
/// unit being about the picture's shorter side.
struct Pen<'a> {
    canvas: &'a mut Canvas,
    cx: f32,
    base: f32,
    unit: f32,
}

impl Pen<'_> {
    fn at(&self, x: f32, y: f32) -> (f32, f32) {
        (self.cx + x * self.unit, self.base + y * self.unit)
    }

    fn ellipse(&mut self, x: f32, y: f32, rx: f32, ry: f32, colour: Colour) {
        let (cx, cy) = self.at(x, y);
        self.canvas
            .ellipse(cx, cy, rx * self.unit, ry * self.unit, Half::Full, colour);
    }

    fn dome(&mut self, x: f32, y: f32, rx: f32, ry: f32, colour: Colour) {
        let (cx, cy) = self.at(x, y);
        self.canvas
            .ellipse(cx, cy, rx * self.unit, ry * self.unit, Half::Top, colour);
    }

    fn polygon(&mut self, points: &[(f32, f32)], colour: Colour) {
        let points: Vec<(f32, f32)> = points.iter().map(|&(x, y)| self.at(x, y)).collect();
        self.canvas.polygon(&points, colour);
    }

    fn rect(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, colour: Colour) {
        self.polygon(&[(x0, y0), (x1, y0), (x1, y1), (x0, y1)], colour);
    }

    fn triangle(&mut self, a: (f32, f32), b: (f32, f32), c: (f32, f32), colour: Colour) {
        self.polygon(&[a, b, c], colour);
    }
}

fn draw_hat(canvas: &mut Canvas, look: Look, pal: &Palette, shadow: Colour, rng: &mut impl Rng) {
    let (w, h) = (canvas.w as f32, canvas.h as f32);
    let unit = w.min(h) * rng.random_range(0.8..0.95);
    let cx = w / 2.0 + rng.random_range(-0.04..0.04) * unit;
    let base = h * 0.62 + unit * 0.1;
    let mut pen = Pen {
        canvas,
        cx,
        base,
        unit,
    };
    let body = pal.body;
    let dark = body.shade(0.7);
    let light = body.shade(1.3);

    pen.ellipse(0.03, 0.03, 0.46, 0.06, shadow);
    match look {
        Look::Bowler => {
            pen.ellipse(0.0, 0.0, 0.34, 0.07, dark);
            pen.dome(0.0, -0.02, 0.24, 0.30, body);
            pen.rect(-0.235, -0.08, 0.235, -0.02, pal.band);
            pen.ellipse(-0.1, -0.2, 0.04, 0.07, light);
        }
        Look::Fedora => {
            pen.ellipse(0.0, 0.0, 0.4, 0.085, dark);
            pen.rect(-0.21, -0.26, 0.21, -0.02, body);
            pen.dome(0.0, -0.26, 0.21, 0.07, body);
            pen.ellipse(0.0, -0.29, 0.08, 0.03, dark);
            pen.rect(-0.21, -0.09, 0.21, -0.02, pal.band);
        }
        Look::TopHat => {
            pen.ellipse(0.0, 0.0, 0.36, 0.06, dark);
            pen.polygon(
                &[(-0.19, -0.02), (0.19, -0.02), (0.21, -0.55), (-0.21, -0.55)],
                body,
            );
            pen.ellipse(0.0, -0.55, 0.21, 0.04, light);
            pen.rect(-0.19, -0.12, 0.19, -0.03, pal.band);
        }
        Look::Cowboy => {
            pen.ellipse(0.0, 0.0, 0.46, 0.1, dark);
            pen.polygon(
                &[(-0.46, 0.0), (-0.3, 0.02), (-0.38, -0.04), (-0.46, -0.12)],
                dark,
            );
            pen.polygon(
                &[(0.46, 0.0), (0.46, -0.12), (0.38, -0.04), (0.3, 0.02)],
                dark,
            );
            pen.rect(-0.19, -0.3, 0.19, -0.03, body);
            pen.dome(0.0, -0.3, 0.19, 0.06, body);
            pen.ellipse(0.0, -0.32, 0.07, 0.025, dark);
            pen.rect(-0.19, -0.1, 0.19, -0.04, pal.band);
        }
        Look::Sombrero => {
            pen.ellipse(0.0, 0.0, 0.5, 0.15, body);
            pen.ellipse(0.0, 0.0, 0.44, 0.12, pal.accent);
            pen.ellipse(0.0, 0.0, 0.40, 0.10, body);
            pen.polygon(
                &[(-0.15, -0.02), (0.15, -0.02), (0.09, -0.4), (-0.09, -0.4)],
                body,
            );
            pen.ellipse(0.0, -0.4, 0.09, 0.04, light);
            pen.rect(-0.145, -0.1, 0.145, -0.04, pal.accent);
        }
        Look::Boater => {
            pen.ellipse(0.0, 0.0, 0.38, 0.07, dark);
            pen.rect(-0.23, -0.17, 0.23, -0.02, body);
            pen.ellipse(0.0, -0.17, 0.23, 0.05, light);
            pen.rect(-0.23, -0.1, 0.23, -0.03, pal.band);
            pen.rect(-0.23, -0.08, 0.23, -0.06, pal.accent);
        }
        Look::Beanie | Look::Bobble | Look::Propeller => {
            pen.dome(0.0, -0.08, 0.3, 0.36, body);
            pen.rect(-0.31, -0.14, 0.31, 0.0, dark);
            for i in 0..9 {
                let x = -0.28 + i as f32 * 0.07;
                pen.rect(x, -0.14, x + 0.015, 0.0, body.shade(0.55));
            }
            if look == Look::Bobble {
                pen.ellipse(0.0, -0.46, 0.1, 0.1, pal.accent);
            }
            if look == Look::Propeller {
                pen.rect(-0.05, -0.44, 0.05, -0.14, pal.accent);
                pen.rect(-0.01, -0.53, 0.01, -0.43, [60, 60, 60, 255]);
                pen.ellipse(-0.13, -0.53, 0.13, 0.03, [220, 40, 40, 255]);
                pen.ellipse(0.13, -0.53, 0.13, 0.03, [40, 80, 220, 255]);
            }
        }
        Look::FlatCap => {
            pen.dome(-0.02, -0.04, 0.32, 0.16, body);
            pen.ellipse(-0.02, -0.04, 0.32, 0.03, dark);
            pen.ellipse(0.22, -0.03, 0.16, 0.045, dark);
        }
        Look::BaseballCap => {
            pen.dome(0.0, -0.04, 0.26, 0.26, body);
            pen.ellipse(0.26, -0.03, 0.22, 0.05, dark);
            pen.rect(-0.005, -0.3, 0.005, -0.04, dark);
            pen.ellipse(0.0, -0.3, 0.03, 0.02, pal.accent);
            pen.ellipse(-0.08, -0.14, 0.07, 0.05, pal.accent);
        }
        Look::Bucket => {
            pen.polygon(
                &[(-0.24, -0.06), (0.24, -0.06), (0.36, 0.04), (-0.36, 0.04)],
                dark,
            );
            pen.polygon(
                &[(-0.2, -0.26), (0.2, -0.26), (0.24, -0.06), (-0.24, -0.06)],
                body,
            );
            pen.ellipse(0.0, -0.26, 0.2, 0.04, light);
            pen.rect(-0.235, -0.1, 0.235, -0.07, pal.band);
        }
        Look::Beret => {
            pen.ellipse(0.0, -0.03, 0.22, 0.04, dark);
            pen.ellipse(0.0, -0.12, 0.34, 0.12, body);
            pen.rect(-0.01, -0.28, 0.01, -0.23, dark);
            pen.ellipse(-0.12, -0.16, 0.08, 0.03, light);
        }
        Look::Deerstalker => {
            pen.ellipse(-0.26, -0.03, 0.14, 0.04, dark);
            pen.ellipse(0.26, -0.03, 0.14, 0.04, dark);
            pen.dome(0.0, -0.04, 0.26, 0.28, body);
            for row in 0..4 {
                for col in 0..6 {
                    if (row + col) % 2 == 0 {
                        let (x, y) = (-0.18 + col as f32 * 0.06, -0.2 + row as f32 * 0.04);
                        pen.rect(x, y, x + 0.03, y + 0.02, dark);
                    }
                }
            }
            pen.ellipse(0.0, -0.33, 0.04, 0.02, pal.accent);
        }
        Look::Fez => {
            pen.polygon(
                &[(-0.16, -0.02), (0.16, -0.02), (0.12, -0.34), (-0.12, -0.34)],
                body,
            );
            pen.ellipse(0.0, -0.34, 0.12, 0.03, dark);
            pen.polygon(
                &[
                    (-0.005, -0.345),
                    (0.012, -0.345),
                    (0.175, -0.2),
                    (0.16, -0.2),
                ],
                [20, 20, 20, 255],
            );
            pen.ellipse(0.17, -0.16, 0.025, 0.05, [20, 20, 20, 255]);
        }
        Look::PartyCone => {
            pen.triangle((-0.2, 0.0), (0.2, 0.0), (0.0, -0.55), body);
            for _ in 0..10 {
                let t: f32 = rng.random_range(0.1..0.85);
                let x = rng.random_range(-0.15..0.15) * (1.0 - t);
                pen.ellipse(x, -0.55 * t, 0.02, 0.02, pal.accent);
            }
            pen.ellipse(0.0, 0.0, 0.2, 0.03, dark);
            pen.ellipse(0.0, -0.56, 0.06, 0.06, pal.accent.shade(0.8));
        }
        Look::Wizard => {
            pen.ellipse(0.0, 0.0, 0.42, 0.08, dark);
            pen.triangle((-0.2, -0.02), (0.2, -0.02), (0.06, -0.62), body);
            for _ in 0..6 {
                let t: f32 = rng.random_range(0.15..0.7);
                let (x, y) = (rng.random_range(-0.12..0.12) * (1.0 - t), -0.62 * t);
                pen.polygon(
                    &[(x, y - 0.03), (x + 0.02, y), (x, y + 0.03), (x - 0.02, y)],
                    [240, 200, 60, 255],
                );
            }
            pen.rect(-0.19, -0.1, 0.19, -0.04, pal.band);
        }
        Look::Santa => {
            pen.polygon(
                &[(-0.22, -0.06), (0.22, -0.06), (0.12, -0.46), (-0.04, -0.5)],
                body,
            );
            pen.triangle((-0.04, -0.5), (0.12, -0.46), (0.32, -0.3), body.shade(0.85));
            pen.ellipse(0.0, -0.04, 0.25, 0.07, [245, 245, 240, 255]);
            pen.ellipse(0.33, -0.28, 0.07, 0.07, [245, 245, 240, 255]);
        }
        Look::Jester => {
            pen.triangle((-0.25, -0.05), (-0.05, -0.05), (-0.42, -0.42), body);
            pen.triangle((0.05, -0.05), (0.25, -0.05), (0.42, -0.42), body);
            pen.triangle((-0.1, -0.05), (0.1, -0.05), (0.0, -0.55), pal.accent);
            for (x, y) in [(-0.42, -0.42), (0.0, -0.55), (0.42, -0.42)] {
                pen.ellipse(x, y, 0.04, 0.04, [235, 190, 40, 255]);
            }
            pen.ellipse(0.0, -0.03, 0.3, 0.06, pal.band);
        }
        Look::Crown => {
            pen.rect(-0.27, -0.12, 0.27, 0.0, body);
            for i in 0..5 {
                let x0 = -0.27 + i as f32 * 0.108;
                pen.triangle((x0, -0.12), (x0 + 0.108, -0.12), (x0 + 0.054, -0.32), body);
                pen.ellipse(x0 + 0.054, -0.325, 0.02, 0.02, light);
                let jewel = [[200, 30, 40, 255], [30, 60, 200, 255], [30, 160, 70, 255]][i % 3];
                pen.ellipse(x0 + 0.054, -0.06, 0.025, 0.03, jewel);
            }
        }
        Look::Helmet | Look::Viking => {
            if look == Look::Viking {
                let horn = [240, 230, 200, 255];
                pen.triangle((-0.3, -0.26), (-0.2, -0.06), (-0.47, -0.48), horn);
                pen.triangle((0.3, -0.26), (0.2, -0.06), (0.47, -0.48), horn);
            }
            pen.dome(0.0, -0.02, 0.3, 0.32, body);
            pen.ellipse(0.0, -0.01, 0.34, 0.05, dark);
            pen.ellipse(-0.12, -0.2, 0.05, 0.08, light);
            if look == Look::Viking {
                pen.rect(-0.03, -0.34, 0.03, -0.02, dark);
            }
        }
        Look::Toque => {
            pen.rect(-0.16, -0.24, 0.16, -0.01, body);
            for i in 0..6 {
                let x = -0.13 + i as f32 * 0.05;
                pen.rect(x, -0.24, x + 0.008, -0.01, body.shade(0.85));
            }
            pen.ellipse(-0.12, -0.32, 0.14, 0.12, light);
            pen.ellipse(0.12, -0.32, 0.14, 0.12, light);
            pen.ellipse(0.0, -0.38, 0.16, 0.14, body);
        }
        Look::CheeseWedge => {
            pen.polygon(
                &[(0.32, 0.0), (0.18, -0.34), (0.24, -0.36), (0.38, -0.03)],
                body.shade(0.8),
            );
            pen.triangle((-0.32, 0.0), (0.32, 0.0), (0.18, -0.34), body);
            for _ in 0..7 {
                let t: f32 = rng.random_range(0.1..0.7);
                let x = rng.random_range(-0.2..0.22) * (1.0 - t) + 0.1 * t;
                let r = rng.random_range(0.015..0.04);
                pen.ellipse(x, -0.34 * t, r, r * 0.8, body.shade(0.75));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(format: PictureFormat) -> PictureSpec {
        PictureSpec {
            look: Look::TopHat,
            format,
            width: 640,
            height: 480,
            seed: 7,
        }
    }

    #[test]
    fn the_same_spec_gives_the_same_bytes() {
        let a = render(&spec(PictureFormat::Jpeg)).unwrap();
        let b = render(&spec(PictureFormat::Jpeg)).unwrap();
        assert_eq!(a.bytes, b.bytes);
    }

    #[test]
    fn cmyk_jpeg_decodes_to_the_drawn_colours() {
        let rgb = render(&spec(PictureFormat::Png)).unwrap();
        let cmyk = render(&spec(PictureFormat::CmykJpeg)).unwrap();
        let rgb = image::load_from_memory(&rgb.bytes).unwrap().to_rgb8();
        let cmyk = image::load_from_memory(&cmyk.bytes).unwrap().to_rgb8();
        // A sky pixel (top left) and a hat pixel (centre) survive the round trip closely.
        for (x, y) in [(5, 5), (320, 250)] {
            let (a, b) = (rgb.get_pixel(x, y).0, cmyk.get_pixel(x, y).0);
            for c in 0..3 {
                assert!(a[c].abs_diff(b[c]) < 24, "pixel ({x},{y}): {a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn exif_rotated_jpeg_is_stored_on_its_side() {
        let picture = render(&spec(PictureFormat::ExifRotatedJpeg)).unwrap();
        assert_eq!((picture.width, picture.height), (480, 640));
        let mut decoder =
            image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(&picture.bytes)).unwrap();
        use image::ImageDecoder as _;
        assert_eq!(decoder.dimensions(), (480, 640));
        assert_eq!(
            decoder.orientation().unwrap(),
            image::metadata::Orientation::Rotate90
        );
    }

    #[test]
    fn alpha_png_has_transparent_and_opaque_pixels() {
        let picture = render(&spec(PictureFormat::AlphaPng)).unwrap();
        let rgba = image::load_from_memory(&picture.bytes).unwrap().to_rgba8();
        assert_eq!(rgba.get_pixel(0, 0).0[3], 0);
        assert_eq!(rgba.get_pixel(320, 250).0[3], 255);
    }
}
