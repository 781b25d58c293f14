//! Pictures made in code, every odd case the legacy database may hold, and what comes out: sizes,
//! formats, orientation, colour, no metadata, and the errors an operator reads.

use super::*;
use image::{
    DynamicImage, ImageDecoder, ImageEncoder, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage,
    codecs::png::PngEncoder,
};
use std::io::Cursor;

// ---- picture makers -------------------------------------------------------------------------

/// A photo-ish picture: smooth gradients and some texture, so encoders have work to do.
fn photo(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let ripple = ((x as f32 * 0.21).sin() * (y as f32 * 0.17).cos() * 24.0) as i32;
        let c = |v: f32| (v * 200.0 + 28.0) as i32;
        Rgb([
            (c(fx) + ripple).clamp(0, 255) as u8,
            (c(fy) - ripple).clamp(0, 255) as u8,
            (c(1.0 - fx * fy) + ripple / 2).clamp(0, 255) as u8,
        ])
    })
}

/// A picture whose top-left quadrant is red and the rest blue.
fn quadrant(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        if x < width / 2 && y < height / 2 {
            Rgb([220, 20, 20])
        } else {
            Rgb([20, 20, 220])
        }
    })
}

struct JpegOptions<'a> {
    quality: u8,
    progressive: bool,
    app_segments: &'a [(u8, &'a [u8])],
    icc: Option<&'a [u8]>,
}

const PLAIN: JpegOptions<'static> = JpegOptions {
    quality: 85,
    progressive: false,
    app_segments: &[],
    icc: None,
};

fn jpeg(rgb: &RgbImage, options: &JpegOptions) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, options.quality);
    encoder.set_progressive(options.progressive);
    for (nr, data) in options.app_segments {
        encoder.add_app_segment(*nr, data).unwrap();
    }
    if let Some(icc) = options.icc {
        encoder.add_icc_profile(icc).unwrap();
    }
    encoder
        .encode(
            rgb.as_raw(),
            rgb.width() as u16,
            rgb.height() as u16,
            jpeg_encoder::ColorType::Rgb,
        )
        .unwrap();
    out
}

fn png(pixels: &DynamicImage, icc: Option<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = PngEncoder::new(&mut out);
    if let Some(icc) = icc {
        encoder.set_icc_profile(icc).unwrap();
    }
    encoder
        .write_image(
            pixels.as_bytes(),
            pixels.width(),
            pixels.height(),
            pixels.color().into(),
        )
        .unwrap();
    out
}

/// EXIF (APP1 payload) with an orientation and a GPS IFD holding the map datum "WGS-84" (a
/// string to look for in the outputs), little-endian.
fn exif_with_gps(orientation: u16) -> Vec<u8> {
    let mut e = b"Exif\0\0II*\0".to_vec();
    e.extend_from_slice(&8u32.to_le_bytes()); // IFD0 at 8
    e.extend_from_slice(&2u16.to_le_bytes()); // two entries
    e.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation, SHORT, 1
    e.extend_from_slice(&3u16.to_le_bytes());
    e.extend_from_slice(&1u32.to_le_bytes());
    e.extend_from_slice(&orientation.to_le_bytes());
    e.extend_from_slice(&[0, 0]);
    e.extend_from_slice(&0x8825u16.to_le_bytes()); // GPS IFD pointer, LONG, 1
    e.extend_from_slice(&4u16.to_le_bytes());
    e.extend_from_slice(&1u32.to_le_bytes());
    e.extend_from_slice(&38u32.to_le_bytes()); // GPS IFD right after IFD0 (8 + 2 + 24 + 4)
    e.extend_from_slice(&0u32.to_le_bytes()); // no IFD1
    e.extend_from_slice(&1u16.to_le_bytes()); // GPS IFD: one entry
    e.extend_from_slice(&0x0012u16.to_le_bytes()); // GPSMapDatum, ASCII, 7 bytes at 56
    e.extend_from_slice(&2u16.to_le_bytes());
    e.extend_from_slice(&7u32.to_le_bytes());
    e.extend_from_slice(&56u32.to_le_bytes());
    e.extend_from_slice(&0u32.to_le_bytes());
    e.extend_from_slice(b"WGS-84\0");
    e
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// zlib with stored (uncompressed) deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let mut blocks = data.chunks(65_535).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xFF, 0xFF]);
    }
    while let Some(block) = blocks.next() {
        out.push(u8::from(blocks.peek().is_none()));
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

/// A hand-written PNG: `IHDR` for the size and colour type, extra chunks before `IDAT`.
fn raw_png(
    width: u32,
    height: u32,
    colour_type: u8,
    extra: &[(&[u8; 4], Vec<u8>)],
    scanlines: &[u8],
) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, colour_type, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &ihdr);
    for (kind, data) in extra {
        png_chunk(&mut out, kind, data);
    }
    png_chunk(&mut out, b"IDAT", &zlib_stored(scanlines));
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// Lossy WebP from libwebp, wrapped in an extended (VP8X) file with an EXIF chunk.
fn webp_with_exif(rgb: &RgbImage, exif: &[u8]) -> Vec<u8> {
    let simple = webp::Encoder::from_rgb(rgb.as_raw(), rgb.width(), rgb.height())
        .encode(80.0)
        .to_vec();
    assert_eq!(&simple[12..16], b"VP8 ");
    let vp8 = &simple[12..];
    let mut vp8x = vec![0x08, 0, 0, 0];
    vp8x.extend_from_slice(&(rgb.width() - 1).to_le_bytes()[..3]);
    vp8x.extend_from_slice(&(rgb.height() - 1).to_le_bytes()[..3]);
    let mut body = b"WEBP".to_vec();
    for (kind, data) in [(b"VP8X", &vp8x[..]), (b"EXIF", exif)] {
        body.extend_from_slice(kind);
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        if data.len() % 2 == 1 {
            body.push(0);
        }
        if kind == b"VP8X" {
            body.extend_from_slice(vp8);
        }
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

// ---- checks ---------------------------------------------------------------------------------

fn ok(bytes: &[u8]) -> Processed {
    process(bytes, &Limits::default()).unwrap()
}

fn decode(rendition: &Rendition) -> DynamicImage {
    let format = match rendition.format {
        OutputFormat::Webp => ImageFormat::WebP,
        OutputFormat::Jpeg => ImageFormat::Jpeg,
        OutputFormat::Png => ImageFormat::Png,
    };
    image::load_from_memory_with_format(&rendition.bytes, format)
        .unwrap_or_else(|e| panic!("{} does not decode: {e}", rendition.name))
}

fn exif_of(rendition: &Rendition) -> Option<Vec<u8>> {
    let cursor = Cursor::new(&rendition.bytes);
    match rendition.format {
        OutputFormat::Webp => image::codecs::webp::WebPDecoder::new(cursor)
            .unwrap()
            .exif_metadata()
            .unwrap(),
        OutputFormat::Jpeg => image::codecs::jpeg::JpegDecoder::new(cursor)
            .unwrap()
            .exif_metadata()
            .unwrap(),
        OutputFormat::Png => image::codecs::png::PngDecoder::new(cursor)
            .unwrap()
            .exif_metadata()
            .unwrap(),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every rendition decodes to its stated size, carries no metadata, and the thumbnails have the
/// expected long sides in order.
fn assert_sound(processed: &Processed, longs: &[u32]) {
    let names: Vec<&str> = processed
        .renditions
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    let mut expected: Vec<String> = longs
        .iter()
        .flat_map(|l| [format!("{l}.webp"), format!("{l}.jpg")])
        .collect();
    let original = processed.renditions.last().unwrap();
    expected.push(original.name.clone());
    assert_eq!(names, expected);
    assert!(original.is_original && original.name.starts_with("original."));
    assert_eq!(
        (original.width, original.height),
        (processed.width, processed.height)
    );
    for r in &processed.renditions {
        let pixels = decode(r);
        assert_eq!(
            (pixels.width(), pixels.height()),
            (r.width, r.height),
            "{}",
            r.name
        );
        assert_eq!(r.long_side, r.width.max(r.height), "{}", r.name);
        assert!(
            r.long_side <= processed.width.max(processed.height),
            "{} upscaled",
            r.name
        );
        assert_eq!(r.content_type, r.format.content_type());
        assert_eq!(exif_of(r), None, "{} has EXIF", r.name);
        for marker in [
            &b"Exif\0\0"[..],
            b"WGS-84",
            b"http://ns.adobe.com/xap",
            b"tEXt",
        ] {
            assert!(
                !contains(&r.bytes, marker),
                "{} contains {marker:?}",
                r.name
            );
        }
    }
}

fn pixel(image: &DynamicImage, x: u32, y: u32) -> [u8; 4] {
    image.to_rgba8().get_pixel(x, y).0
}

fn close(a: [u8; 4], b: [u8; 4], tolerance: u8) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= tolerance)
}

// ---- sizes ----------------------------------------------------------------------------------

#[test]
fn sizes_never_upscale_and_end_at_the_picture_or_1200() {
    assert_eq!(
        resize::sizes(2000, 1500),
        [(160, 120), (480, 360), (1200, 900)]
    );
    assert_eq!(
        resize::sizes(1500, 2000),
        [(120, 160), (360, 480), (900, 1200)]
    );
    assert_eq!(
        resize::sizes(1200, 1200),
        [(160, 160), (480, 480), (1200, 1200)]
    );
    assert_eq!(resize::sizes(300, 200), [(160, 107), (300, 200)]);
    assert_eq!(resize::sizes(160, 90), [(160, 90)]);
    assert_eq!(resize::sizes(100, 50), [(100, 50)]);
    assert_eq!(resize::sizes(5000, 3), [(160, 1), (480, 1), (1200, 1)]);
    assert_eq!(resize::sizes(1, 1), [(1, 1)]);
}

#[test]
fn a_jpeg_photo_gives_three_sizes_in_webp_and_jpeg_and_the_original() {
    let bytes = jpeg(&photo(2000, 1500), &PLAIN);
    let processed = ok(&bytes);
    assert_eq!((processed.width, processed.height), (2000, 1500));
    assert_eq!(processed.source_format, "JPEG");
    assert_eq!(processed.sha256, <[u8; 32]>::from(Sha256::digest(&bytes)));
    assert_sound(&processed, &[160, 480, 1200]);
    let r480 = &processed.renditions[2];
    assert_eq!(
        (r480.name.as_str(), r480.width, r480.height),
        ("480.webp", 480, 360)
    );
    // An upright JPEG's original is its own bytes (nothing to strip here but trailing nothing).
    assert_eq!(processed.renditions.last().unwrap().bytes, bytes);
}

#[test]
fn a_small_picture_is_not_upscaled() {
    let processed = ok(&png(&DynamicImage::ImageRgb8(photo(300, 200)), None));
    assert_sound(&processed, &[160, 300]);
    let largest = &processed.renditions[2];
    assert_eq!((largest.width, largest.height), (300, 200));
}

#[test]
fn a_single_pixel_and_a_thin_strip() {
    let dot = ok(&png(&DynamicImage::ImageRgb8(photo(1, 1)), None));
    assert_sound(&dot, &[1]);
    let strip = ok(&png(&DynamicImage::ImageRgb8(photo(3000, 2)), None));
    assert_sound(&strip, &[160, 480, 1200]);
    let r160 = &strip.renditions[0];
    assert_eq!((r160.width, r160.height), (160, 1));
}

#[test]
fn the_same_bytes_give_the_same_outputs() {
    let bytes = jpeg(&photo(900, 700), &PLAIN);
    let (a, b) = (ok(&bytes), ok(&bytes));
    for (x, y) in a.renditions.iter().zip(&b.renditions) {
        assert_eq!(x.bytes, y.bytes, "{}", x.name);
    }
}

// ---- formats --------------------------------------------------------------------------------

#[test]
fn progressive_jpeg() {
    let bytes = jpeg(
        &photo(800, 600),
        &JpegOptions {
            progressive: true,
            ..PLAIN
        },
    );
    assert_sound(&ok(&bytes), &[160, 480, 800]);
}

/// Device CMYK as Photoshop writes it (Adobe APP14, inverted), every component full size, stored
/// as plain CMYK or as YCCK.
fn cmyk_jpeg(rgb: &RgbImage, colour: jpeg_encoder::ColorType) -> Vec<u8> {
    let mut cmyk = Vec::new();
    for p in rgb.pixels() {
        let max = p.0.into_iter().max().unwrap();
        let ink = |c: u8| ((u32::from(max - c) * 255) / u32::from(max)) as u8;
        cmyk.extend_from_slice(&[ink(p[0]), ink(p[1]), ink(p[2]), 255 - max]);
    }
    let mut bytes = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, 90);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_1_1);
    encoder
        .encode(&cmyk, rgb.width() as u16, rgb.height() as u16, colour)
        .unwrap();
    bytes
}

#[test]
fn cmyk_and_ycck_jpegs_come_out_in_their_colours_not_inverted() {
    for colour in [
        jpeg_encoder::ColorType::Cmyk,
        jpeg_encoder::ColorType::CmykAsYcck,
    ] {
        let bytes = cmyk_jpeg(&quadrant(400, 300), colour);
        assert!(contains(&bytes, b"Adobe"));
        let processed = ok(&bytes);
        assert_sound(&processed, &[160, 400]);
        for r in &processed.renditions[2..] {
            let out = decode(r); // 400 px and the original
            let (red, blue) = (pixel(&out, 50, 50), pixel(&out, 350, 250));
            assert!(
                close(red, [220, 20, 20, 255], 30),
                "{colour:?} {}: {red:?}",
                r.name
            );
            assert!(
                close(blue, [20, 20, 220, 255], 30),
                "{colour:?} {}: {blue:?}",
                r.name
            );
        }
        // Upright: the original is the input, Adobe marker and all.
        assert_eq!(processed.renditions.last().unwrap().bytes, bytes);
    }
}

#[test]
fn png_8_and_16_bit_grey_and_palette() {
    let rgb16 = DynamicImage::ImageRgb8(photo(640, 480)).into_rgb16();
    assert_sound(
        &ok(&png(&DynamicImage::ImageRgb16(rgb16), None)),
        &[160, 480, 640],
    );
    let grey = DynamicImage::ImageRgb8(photo(500, 500)).into_luma8();
    assert_sound(
        &ok(&png(&DynamicImage::ImageLuma8(grey), None)),
        &[160, 480, 500],
    );

    // Palette: two colours, left half index 0 (green), right half index 1 (magenta).
    let (w, h) = (200u32, 100u32);
    let mut scanlines = Vec::new();
    for _ in 0..h {
        scanlines.push(0); // filter: none
        scanlines.extend((0..w).map(|x| u8::from(x >= w / 2)));
    }
    let bytes = raw_png(
        w,
        h,
        3,
        &[(b"PLTE", vec![0, 200, 0, 200, 0, 200])],
        &scanlines,
    );
    let processed = ok(&bytes);
    assert_sound(&processed, &[160, 200]);
    let out = decode(&processed.renditions[2]);
    assert!(close(pixel(&out, 20, 50), [0, 200, 0, 255], 16));
    assert!(close(pixel(&out, 180, 50), [200, 0, 200, 255], 16));
}

#[test]
fn alpha_is_kept_in_webp_and_flattened_on_white_in_jpeg() {
    // Transparent, a half-transparent black shadow, opaque blue.
    let rgba = RgbaImage::from_fn(600, 400, |x, _| match x {
        0..200 => Rgba([0, 0, 0, 0]),
        200..400 => Rgba([0, 0, 0, 90]),
        _ => Rgba([30, 90, 200, 255]),
    });
    let processed = ok(&png(&DynamicImage::ImageRgba8(rgba), None));
    assert_sound(&processed, &[160, 480, 600]);
    let webp = decode(&processed.renditions[4]);
    let jpeg = decode(&processed.renditions[5]);
    assert_eq!(processed.renditions[5].name, "600.jpg");
    assert_eq!(pixel(&webp, 50, 200)[3], 0);
    assert!(close(pixel(&webp, 500, 200), [30, 90, 200, 255], 12));
    assert!(
        close(pixel(&jpeg, 50, 200), [255, 255, 255, 255], 4),
        "{:?}",
        pixel(&jpeg, 50, 200)
    );
    assert!(close(pixel(&jpeg, 500, 200), [30, 90, 200, 255], 12));
    // The shadow: alpha kept to a few levels in WebP; black at 90/255 over white in JPEG.
    let shadow = pixel(&webp, 300, 200);
    assert!(shadow[3].abs_diff(90) <= 4, "{shadow:?}");
    assert!(
        close(pixel(&jpeg, 300, 200), [165, 165, 165, 255], 6),
        "{:?}",
        pixel(&jpeg, 300, 200)
    );
    // The original stays a lossless PNG with its alpha.
    let original = decode(processed.renditions.last().unwrap());
    assert_eq!(pixel(&original, 50, 200), [0, 0, 0, 0]);
}

#[test]
fn an_opaque_rgba_png_is_treated_as_rgb() {
    let rgba = DynamicImage::ImageRgb8(photo(300, 300)).into_rgba8();
    let processed = ok(&png(&DynamicImage::ImageRgba8(rgba), None));
    assert!(!decode(&processed.renditions[0]).color().has_alpha());
}

#[test]
fn animated_gif_gives_its_first_frame_and_a_png_original() {
    use image::{Delay, Frame, codecs::gif::GifEncoder};
    let frame = |colour: [u8; 4]| {
        Frame::from_parts(
            RgbaImage::from_pixel(320, 240, Rgba(colour)),
            0,
            0,
            Delay::from_numer_denom_ms(100, 1),
        )
    };
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut bytes);
        encoder
            .encode_frames([frame([200, 0, 0, 255]), frame([0, 0, 200, 255])])
            .unwrap();
    }
    let processed = ok(&bytes);
    assert_eq!(processed.source_format, "GIF");
    assert_sound(&processed, &[160, 320]);
    assert_eq!(processed.renditions.last().unwrap().name, "original.png");
    let out = decode(&processed.renditions[1]);
    assert!(
        close(pixel(&out, 80, 60), [200, 0, 0, 255], 16),
        "{:?}",
        pixel(&out, 80, 60)
    );
}

#[test]
fn webp_with_exif_loses_it_in_every_output() {
    let bytes = webp_with_exif(&photo(640, 480), &exif_with_gps(1));
    assert!(contains(&bytes, b"WGS-84"));
    let processed = ok(&bytes);
    assert_eq!(processed.source_format, "WebP");
    assert_sound(&processed, &[160, 480, 640]);
    let original = processed.renditions.last().unwrap();
    assert_eq!(original.name, "original.webp");
    // Stripped, not re-encoded: the VP8 bitstream is the input's.
    let exif_chunk = 8 + exif_with_gps(1).len().next_multiple_of(2);
    assert_eq!(original.bytes.len(), bytes.len() - exif_chunk);
}

// ---- metadata and orientation ---------------------------------------------------------------

#[test]
fn exif_and_gps_are_stripped_and_icc_and_adobe_kept_in_an_upright_jpeg_original() {
    let icc = ColorProfileBytes::srgb();
    let xmp = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>";
    let bytes = jpeg(
        &photo(800, 600),
        &JpegOptions {
            app_segments: &[(1, &exif_with_gps(1)), (1, xmp), (13, b"Photoshop 3.0\0")],
            icc: Some(&icc),
            ..PLAIN
        },
    );
    let processed = ok(&bytes);
    assert_sound(&processed, &[160, 480, 800]);
    let original = processed.renditions.last().unwrap();
    assert!(original.bytes.len() < bytes.len());
    let mut decoder = image::codecs::jpeg::JpegDecoder::new(Cursor::new(&original.bytes)).unwrap();
    assert_eq!(decoder.icc_profile().unwrap().as_deref(), Some(&icc[..]));
    assert!(!contains(&original.bytes, b"Photoshop 3.0"));
}

#[test]
fn orientation_6_turns_the_picture_clockwise() {
    // Stored 200 × 100 with the red quadrant top left; displayed turned clockwise, 100 × 200,
    // with the red quadrant top right.
    let bytes = jpeg(
        &quadrant(200, 100),
        &JpegOptions {
            app_segments: &[(1, &exif_with_gps(6))],
            ..PLAIN
        },
    );
    let processed = ok(&bytes);
    assert_eq!((processed.width, processed.height), (100, 200));
    assert_sound(&processed, &[160, 200]);
    let red = [220, 20, 20, 255];
    for r in &processed.renditions {
        let out = decode(r);
        let (w, h) = (out.width(), out.height());
        assert!(
            close(pixel(&out, w * 3 / 4, h / 8), red, 40),
            "{} top right",
            r.name
        );
        assert!(
            !close(pixel(&out, w / 4, h / 8), red, 40),
            "{} top left",
            r.name
        );
    }
    // The original had to be re-encoded upright.
    assert_eq!(processed.renditions.last().unwrap().name, "original.jpg");
}

#[test]
fn png_text_and_exif_chunks_are_dropped_from_the_original() {
    let (w, h) = (64u32, 48u32);
    let mut scanlines = Vec::new();
    for y in 0..h {
        scanlines.push(0);
        scanlines.extend((0..w).flat_map(|x| [x as u8 * 4, y as u8 * 5, 128]));
    }
    let mut exif = exif_with_gps(1);
    exif.drain(..6); // eXIf holds the TIFF structure without the "Exif\0\0" prefix
    let bytes = raw_png(
        w,
        h,
        2,
        &[
            (b"tEXt", b"Comment\0shot at home".to_vec()),
            (b"eXIf", exif),
        ],
        &scanlines,
    );
    let processed = ok(&bytes);
    assert_sound(&processed, &[64]);
    let original = processed.renditions.last().unwrap();
    assert!(!contains(&original.bytes, b"eXIf") && !contains(&original.bytes, b"shot at home"));
    assert_eq!(decode(original).to_rgb8().as_raw(), &{
        let mut rgb = Vec::new();
        for y in 0..h {
            rgb.extend((0..w).flat_map(|x| [x as u8 * 4, y as u8 * 5, 128]));
        }
        rgb
    });
}

#[test]
fn a_png_turned_by_its_exif_chunk_is_stored_upright() {
    let mut exif = exif_with_gps(3); // 180°
    exif.drain(..6);
    let (w, h) = (120u32, 80u32);
    let rgb = quadrant(w, h);
    let mut scanlines = Vec::new();
    for row in rgb.rows() {
        scanlines.push(0);
        scanlines.extend(row.flat_map(|p| p.0));
    }
    let processed = ok(&raw_png(w, h, 2, &[(b"eXIf", exif)], &scanlines));
    assert_eq!((processed.width, processed.height), (120, 80));
    assert_sound(&processed, &[120]);
    let original = processed.renditions.last().unwrap();
    assert_eq!(original.name, "original.png");
    // Red was top left; turned half a turn it is bottom right, exactly (PNG is lossless).
    let out = decode(original);
    assert_eq!(pixel(&out, 110, 70), [220, 20, 20, 255]);
    assert_eq!(pixel(&out, 10, 10), [20, 20, 220, 255]);
}

// ---- colour ---------------------------------------------------------------------------------

struct ColorProfileBytes;

impl ColorProfileBytes {
    fn srgb() -> Vec<u8> {
        moxcms::ColorProfile::new_srgb().encode().unwrap()
    }
    fn display_p3() -> Vec<u8> {
        moxcms::ColorProfile::new_display_p3().encode().unwrap()
    }
}

/// `colour` (Display P3) in sRGB, as moxcms makes it directly.
fn p3_in_srgb(colour: [u8; 3]) -> [u8; 4] {
    let p3 = moxcms::ColorProfile::new_display_p3();
    let transform = p3
        .create_transform_8bit(
            moxcms::Layout::Rgb,
            &moxcms::ColorProfile::new_srgb(),
            moxcms::Layout::Rgb,
            moxcms::TransformOptions::default(),
        )
        .unwrap();
    let mut out = [0u8; 3];
    transform.transform(&colour, &mut out).unwrap();
    // A P3 green is more saturated than sRGB's: the conversion visibly moves it.
    assert!(
        out.iter().zip(colour).any(|(e, c)| e.abs_diff(c) > 8),
        "{colour:?} → {out:?}"
    );
    [out[0], out[1], out[2], 255]
}

#[test]
fn a_display_p3_picture_is_converted_to_srgb() {
    let colour = [60u8, 170, 60];
    let want = p3_in_srgb(colour);
    let rgb = RgbImage::from_pixel(300, 200, Rgb(colour));
    let bytes = png(
        &DynamicImage::ImageRgb8(rgb),
        Some(ColorProfileBytes::display_p3()),
    );
    let processed = ok(&bytes);
    assert_sound(&processed, &[160, 300]);
    for r in &processed.renditions[..4] {
        let got = pixel(&decode(r), 50, 50);
        assert!(close(got, want, 6), "{}: {got:?} vs {want:?}", r.name);
    }
    // The original is the input without metadata, its profile kept (browsers apply it).
    let original = processed.renditions.last().unwrap();
    let mut decoder = image::codecs::png::PngDecoder::new(Cursor::new(&original.bytes)).unwrap();
    assert!(decoder.icc_profile().unwrap().is_some());
}

#[test]
fn a_rotated_display_p3_jpeg_has_an_srgb_original() {
    let colour = [60u8, 170, 60];
    let want = p3_in_srgb(colour);
    let icc = ColorProfileBytes::display_p3();
    let bytes = jpeg(
        &RgbImage::from_pixel(300, 200, Rgb(colour)),
        &JpegOptions {
            quality: 95,
            app_segments: &[(1, &exif_with_gps(6))],
            icc: Some(&icc),
            ..PLAIN
        },
    );
    let processed = ok(&bytes);
    assert_eq!((processed.width, processed.height), (200, 300));
    assert_sound(&processed, &[160, 300]);
    let original = processed.renditions.last().unwrap();
    let got = pixel(&decode(original), 100, 150);
    assert!(close(got, want, 6), "{got:?} vs {want:?}");
    let mut decoder = image::codecs::jpeg::JpegDecoder::new(Cursor::new(&original.bytes)).unwrap();
    assert_eq!(decoder.icc_profile().unwrap(), None);
}

#[test]
fn a_grey_picture_with_a_grey_profile() {
    let grey = image::GrayImage::from_fn(200, 100, |x, _| image::Luma([(x + 20) as u8]));
    let profile = moxcms::ColorProfile::new_gray_with_gamma(2.2)
        .encode()
        .unwrap();
    let processed = ok(&png(&DynamicImage::ImageLuma8(grey), Some(profile)));
    assert_sound(&processed, &[160, 200]);
    let p = pixel(&decode(&processed.renditions[2]), 100, 50);
    assert!(p[0] == p[1] && p[1] == p[2], "still grey: {p:?}");
}

// ---- bad pictures ---------------------------------------------------------------------------

fn err(bytes: &[u8]) -> PictureError {
    process(bytes, &Limits::default()).unwrap_err()
}

#[test]
fn zero_bytes() {
    let e = err(&[]);
    assert!(matches!(e, PictureError::Empty));
    assert_eq!(e.to_string(), "the picture is empty (0 bytes)");
}

#[test]
fn heic_and_avif_are_named_as_unsupported() {
    let heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic\0\0\0\0";
    let e = err(heic);
    assert!(matches!(&e, PictureError::Unsupported(f) if f == "HEIC"));
    assert_eq!(
        e.to_string(),
        "unsupported format HEIC (upload a JPEG, PNG, WebP or GIF)"
    );
    let avif = b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf\0\0\0\0";
    assert!(matches!(err(avif), PictureError::Unsupported(f) if f == "AVIF"));
    let heif = b"\0\0\0\x14ftypmif1\0\0\0\0mif1";
    assert!(matches!(err(heif), PictureError::Unsupported(f) if f == "HEIF"));
    let tiff = b"II*\0\x08\0\0\0";
    assert!(matches!(err(tiff), PictureError::Unsupported(f) if f == "TIFF"));
    let bmp = b"BM\x46\0\0\0\0\0\0\0\x36\0\0\0";
    assert!(matches!(err(bmp), PictureError::Unsupported(f) if f == "BMP"));
}

#[test]
fn random_bytes_and_text_are_not_an_image() {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let e = err(&random);
    assert!(matches!(e, PictureError::NotAnImage), "{e}");
    assert!(matches!(err(b"hello, world"), PictureError::NotAnImage));
    assert_eq!(
        PictureError::NotAnImage.to_string(),
        "not a picture: the bytes are not a JPEG, PNG, WebP or GIF file"
    );
}

#[test]
fn a_truncated_jpeg_is_corrupt() {
    let bytes = jpeg(&photo(800, 600), &PLAIN);
    for cut in [bytes.len() / 2, bytes.len() - 2, 300, 4] {
        let e = err(&bytes[..cut]);
        assert!(matches!(e, PictureError::Corrupt(_)), "cut at {cut}: {e}");
        assert!(
            e.to_string().starts_with("truncated or corrupt JPEG: "),
            "{e}"
        );
    }
}

#[test]
fn a_truncated_png_or_gif_or_webp_is_corrupt() {
    let png_bytes = png(&DynamicImage::ImageRgb8(photo(400, 300)), None);
    let webp_bytes = webp_with_exif(&photo(400, 300), &exif_with_gps(1));
    let mut gif_bytes = Vec::new();
    image::codecs::gif::GifEncoder::new(&mut gif_bytes)
        .encode_frame(image::Frame::new(RgbaImage::from_pixel(
            100,
            100,
            Rgba([9, 9, 9, 255]),
        )))
        .unwrap();
    for (name, bytes) in [("PNG", png_bytes), ("WebP", webp_bytes), ("GIF", gif_bytes)] {
        let e = err(&bytes[..bytes.len() / 2]);
        assert!(matches!(e, PictureError::Corrupt(_)), "{name}: {e}");
        assert!(
            e.to_string()
                .starts_with(&format!("truncated or corrupt {name}: ")),
            "{e}"
        );
        assert!(!e.to_string().contains("Format error"), "{e}");
    }
}

#[test]
fn a_decompression_bomb_is_refused_from_its_header() {
    // 100 000 × 100 000 RGB claimed; a single scanline of data follows.
    let bytes = raw_png(100_000, 100_000, 2, &[], &[0; 16]);
    assert!(bytes.len() < 200);
    let e = err(&bytes);
    assert!(
        matches!(
            e,
            PictureError::TooManyPixels {
                width: 100_000,
                height: 100_000,
                limit: 40_000_000
            }
        ),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "picture is 100000×100000 = 10000 MP, over the 40 MP limit"
    );
    let e = PictureError::TooManyPixels {
        width: 12_000,
        height: 9_000,
        limit: 40_000_000,
    };
    assert_eq!(
        e.to_string(),
        "picture is 12000×9000 = 108 MP, over the 40 MP limit"
    );
}

#[test]
fn over_the_byte_limit() {
    let bytes = jpeg(&photo(400, 300), &PLAIN);
    let limits = Limits {
        max_bytes: 1000,
        ..Limits::default()
    };
    let e = process(&bytes, &limits).unwrap_err();
    assert!(
        matches!(e, PictureError::TooLarge { limit: 1000, .. }),
        "{e}"
    );
    let e = PictureError::TooLarge {
        bytes: 70 * 1024 * 1024 + 100 * 1024,
        limit: 64 * 1024 * 1024,
    };
    assert_eq!(
        e.to_string(),
        "picture is 73502720 bytes (70.1 MiB), over the 64 MiB limit"
    );
}

#[test]
fn over_the_allocation_limit() {
    let bytes = png(&DynamicImage::ImageRgb8(photo(1000, 1000)), None);
    let limits = Limits {
        max_alloc: 1024 * 1024,
        ..Limits::default()
    };
    let e = process(&bytes, &limits).unwrap_err();
    assert!(matches!(e, PictureError::TooMuchMemory { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "decoding the picture would need more than the 1 MiB memory limit"
    );
}
