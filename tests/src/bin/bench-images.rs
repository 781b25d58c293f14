//! `bench-images`: what one picture costs in the bridge's image pipeline. Pure CPU, no stack needed.
//!
//! - `stages` (the default): `--runs` × `--pictures` demo JPEGs (2000 × 2000, quality 85, drawn by
//!   the demo loader's renderer) through `bridge::images::pipeline::process_timed`, per stage, then
//!   the same outputs with the `image` crate's own resize as the reference, then `vipsthumbnail`
//!   for the same sizes and formats if it is on the PATH. Pin it to one core from the command line
//!   (`taskset -c 1`); vipsthumbnail inherits the pinning.
//! - `throughput`: pictures per second with `--threads` workers (default: every core).
//! - `peak`: processes one of the largest allowed inputs once and prints the process's peak RSS
//!   (`VmHWM`); run each input in its own process.
//!
//! Figures and method: docs/BENCHMARKS.md, "Images".

use anyhow::{Context, bail};
use bridge::images::pipeline::{self, Limits, Resampler, StageTimes};
use clap::{Parser, Subcommand, ValueEnum};
use image::{DynamicImage, ImageEncoder};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tests::legacy::pictures::{self, Look, PictureFormat, PictureSpec};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    mode: Option<Mode>,
}

#[derive(Subcommand)]
enum Mode {
    /// Per-stage times on the current core(s), with the references.
    Stages {
        #[arg(long, default_value_t = 5)]
        runs: usize,
        #[arg(long, default_value_t = 100)]
        pictures: usize,
        /// Side of the square demo picture, in pixels.
        #[arg(long, default_value_t = 2000)]
        size: u32,
        /// Skip vipsthumbnail even if it is installed.
        #[arg(long)]
        no_vips: bool,
        /// Embed this ICC profile in every picture (e.g.
        /// /usr/share/color/icc/ghostscript/a98.icc), to time the conversion to sRGB.
        #[arg(long)]
        icc: Option<std::path::PathBuf>,
        /// Add film grain of ± this much per channel before encoding, for a picture that
        /// compresses more like a photo than the flat demo drawings (0: the demo's own).
        #[arg(long, default_value_t = 0)]
        grain: u8,
    },
    /// Pictures per second with several workers.
    Throughput {
        #[arg(long, default_value_t = 5)]
        runs: usize,
        #[arg(long, default_value_t = 100)]
        pictures: usize,
        #[arg(long, default_value_t = 2000)]
        size: u32,
        /// Worker threads (default: available parallelism).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// One picture of each kind the demo database holds (CMYK, alpha, EXIF-rotated, the huge
    /// PNG, …): what comes out and how long it takes (CPU time of this thread, mean of `--repeat`).
    Formats {
        #[arg(long, default_value_t = 5)]
        repeat: u32,
    },
    /// Peak RSS of one process handling one large input.
    Peak {
        #[arg(value_enum)]
        input: PeakInput,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum PeakInput {
    /// A 40 MP (7296 × 5472) quality-85 JPEG: the pixel limit.
    Jpeg40mp,
    /// A 40 MP 16-bit RGBA PNG: the largest decode buffer the limits allow (320 MB).
    Png16bit40mp,
    /// The demo's noisy 2800 × 2200 PNG over 16 MiB.
    HugePng,
}

fn main() -> anyhow::Result<()> {
    match Args::parse().mode.unwrap_or(Mode::Stages {
        runs: 5,
        pictures: 100,
        size: 2000,
        no_vips: false,
        icc: None,
        grain: 0,
    }) {
        Mode::Stages {
            runs,
            pictures,
            size,
            no_vips,
            icc,
            grain,
        } => stages(runs, pictures, size, no_vips, icc.as_deref(), grain),
        Mode::Throughput {
            runs,
            pictures,
            size,
            threads,
        } => throughput(runs, pictures, size, threads),
        Mode::Formats { repeat } => formats(repeat.max(1)),
        Mode::Peak { input } => peak(input),
    }
}

/// `count` demo pictures: every look in turn, each with its own colours.
fn demo_jpegs(count: usize, size: u32) -> anyhow::Result<Vec<Vec<u8>>> {
    const LOOKS: [Look; 8] = [
        Look::Bowler,
        Look::Fedora,
        Look::TopHat,
        Look::Sombrero,
        Look::Beanie,
        Look::Crown,
        Look::Wizard,
        Look::Deerstalker,
    ];
    (0..count)
        .map(|i| {
            let spec = PictureSpec {
                look: LOOKS[i % LOOKS.len()],
                format: PictureFormat::Jpeg,
                width: size,
                height: size,
                seed: i as u64,
            };
            Ok(pictures::render(&spec)?.bytes)
        })
        .collect()
}

fn stages(
    runs: usize,
    count: usize,
    size: u32,
    no_vips: bool,
    icc: Option<&Path>,
    grain: u8,
) -> anyhow::Result<()> {
    let mut inputs = demo_jpegs(count, size)?;
    if grain > 0 {
        for (i, jpeg) in inputs.iter_mut().enumerate() {
            *jpeg = with_grain(jpeg, grain, i as u64)?;
        }
        println!("film grain of ±{grain} added before encoding");
    }
    if let Some(path) = icc {
        let profile = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        for jpeg in &mut inputs {
            *jpeg = with_icc_profile(jpeg, &profile)?;
        }
        println!("every picture carries the ICC profile {}", path.display());
    }
    let mean_kib = inputs.iter().map(Vec::len).sum::<usize>() as f64 / count as f64 / 1024.0;
    println!("{count} demo JPEGs, {size} × {size}, quality 85, {mean_kib:.0} KiB on average");
    describe_outputs(&inputs)?;

    for (label, resampler) in [
        ("pipeline (fast_image_resize)", Resampler::FastImageResize),
        ("reference (image crate resize)", Resampler::ImageCrate),
    ] {
        // Warm-up: one pass over the pictures, not counted.
        run_once(&inputs, resampler)?;
        let (mut walls, mut cpus) = (Vec::new(), Vec::new());
        let mut stage_sum = StageTimes::default();
        for _ in 0..runs {
            let (wall, cpu, stages) = run_once(&inputs, resampler)?;
            walls.push(wall / count as u32);
            cpus.push(cpu / count as u32);
            stage_sum = add(stage_sum, stages);
        }
        report(label, &walls, &cpus, &stage_sum, runs * count);
    }

    if no_vips {
        return Ok(());
    }
    match which("vipsthumbnail") {
        Some(vips) => vips_thumbnail(&vips, &inputs, runs)?,
        None => println!("vipsthumbnail: not installed (apt-get install -y libvips-tools)"),
    }
    Ok(())
}

/// One pass over `inputs`: wall time, CPU time of this thread, and the stage times.
/// The JPEG decoded, covered in grain of ±`amount` (smoothed over two pixels, so it looks more
/// like sensor noise than static) and encoded again at quality 85.
fn with_grain(jpeg: &[u8], amount: u8, seed: u64) -> anyhow::Result<Vec<u8>> {
    let mut rgb = image::load_from_memory(jpeg)?.into_rgb8();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut previous = 0i16;
    let span = i16::from(amount) * 2 + 1;
    for value in rgb.iter_mut() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let noise = (state % span as u64) as i16 - i16::from(amount);
        let smooth = (noise + previous) / 2;
        previous = noise;
        *value = (i16::from(*value) + smooth).clamp(0, 255) as u8;
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 85).encode(
        rgb.as_raw(),
        u16::try_from(rgb.width())?,
        u16::try_from(rgb.height())?,
        jpeg_encoder::ColorType::Rgb,
    )?;
    Ok(out)
}

/// The JPEG with an APP2 `ICC_PROFILE` segment (one chunk) right after SOI.
fn with_icc_profile(jpeg: &[u8], profile: &[u8]) -> anyhow::Result<Vec<u8>> {
    let length = u16::try_from(2 + 12 + 2 + profile.len()).context("profile over 64 KiB")?;
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE2]);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(b"ICC_PROFILE\0\x01\x01");
    out.extend_from_slice(profile);
    out.extend_from_slice(&jpeg[2..]);
    Ok(out)
}

fn run_once(
    inputs: &[Vec<u8>],
    resampler: Resampler,
) -> anyhow::Result<(Duration, Duration, StageTimes)> {
    let limits = Limits::default();
    let mut sum = StageTimes::default();
    let cpu = thread_cpu()?;
    let start = Instant::now();
    for bytes in inputs {
        let (processed, times) = pipeline::process_timed(bytes, &limits, resampler)?;
        std::hint::black_box(processed);
        sum = add(sum, times);
    }
    Ok((start.elapsed(), thread_cpu()? - cpu, sum))
}

/// CPU time this thread has run (`/proc/thread-self/schedstat`): unlike wall time, it does not
/// count the time other processes on the shared machine had the core.
fn thread_cpu() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    let ns: u64 = stat
        .split_whitespace()
        .next()
        .context("empty schedstat")?
        .parse()?;
    Ok(Duration::from_nanos(ns))
}

fn add(a: StageTimes, b: StageTimes) -> StageTimes {
    StageTimes {
        hash: a.hash + b.hash,
        header: a.header + b.header,
        decode: a.decode + b.decode,
        colour: a.colour + b.colour,
        orientation: a.orientation + b.orientation,
        resize: a.resize + b.resize,
        encode_webp: a.encode_webp + b.encode_webp,
        encode_jpeg: a.encode_jpeg + b.encode_jpeg,
        original: a.original + b.original,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Median and spread of a list of per-picture durations, in ms.
fn spread(durations: &[Duration]) -> String {
    let mut sorted = durations.to_vec();
    sorted.sort();
    format!(
        "{:.2} ms (min {:.2}, max {:.2})",
        ms(sorted[sorted.len() / 2]),
        ms(sorted[0]),
        ms(sorted[sorted.len() - 1])
    )
}

fn report(label: &str, walls: &[Duration], cpus: &[Duration], sum: &StageTimes, pictures: usize) {
    let n = pictures as f64;
    let mean = |d: Duration| ms(d) / n;
    println!(
        "{label}, per picture, median of {} runs: CPU {}; wall {}",
        walls.len(),
        spread(cpus),
        spread(walls)
    );
    println!(
        "  stages (wall, mean ms/picture): decode {:.2} | colour {:.2} | orientation {:.2} | \
         resize {:.2} | encode webp {:.2} | encode jpeg {:.2} | original {:.2} | hash {:.2} | \
         header {:.2} | sum {:.2}",
        mean(sum.decode),
        mean(sum.colour),
        mean(sum.orientation),
        mean(sum.resize),
        mean(sum.encode_webp),
        mean(sum.encode_jpeg),
        mean(sum.original),
        mean(sum.hash),
        mean(sum.header),
        mean(sum.total()),
    );
}

/// Every output's size (median and max over the pictures) and its quality: SSIM (luma, 11 × 11
/// Gaussian window) and PSNR (RGB) of the decoded output against a reference thumbnail made from
/// the full decoded picture in one step with the `image` crate's Lanczos3 (exact, in floating
/// point), so the figures count the pipeline's resizing and its encoding together. The originals
/// are the input's own pixels and are left out.
fn describe_outputs(inputs: &[Vec<u8>]) -> anyhow::Result<()> {
    /// One output name's figures over every picture.
    struct Output {
        name: String,
        sizes: Vec<usize>,
        ssims: Vec<f64>,
        psnrs: Vec<f64>,
    }
    let limits = Limits::default();
    let mut outputs: Vec<Output> = Vec::new();
    // Every output's bytes in one digest: two builds (say, other SIMD code paths in libwebp) that
    // make the same files print the same digest.
    let mut digest = std::collections::hash_map::DefaultHasher::new();
    for bytes in inputs {
        let processed = pipeline::process(bytes, &limits)?;
        let full = image::load_from_memory(bytes)?.into_rgb8();
        for r in &processed.renditions {
            std::hash::Hash::hash(&r.bytes, &mut digest);
            let index = match outputs.iter().position(|o| o.name == r.name) {
                Some(i) => i,
                None => {
                    outputs.push(Output {
                        name: r.name.clone(),
                        sizes: Vec::new(),
                        ssims: Vec::new(),
                        psnrs: Vec::new(),
                    });
                    outputs.len() - 1
                }
            };
            let output = &mut outputs[index];
            output.sizes.push(r.bytes.len());
            if r.is_original {
                continue;
            }
            let reference = image::imageops::resize(
                &full,
                r.width,
                r.height,
                image::imageops::FilterType::Lanczos3,
            );
            let decoded = image::load_from_memory(&r.bytes)?.into_rgb8();
            output.ssims.push(quality::ssim(&decoded, &reference));
            output.psnrs.push(quality::psnr(&decoded, &reference));
        }
    }
    println!(
        "outputs over the {} pictures (size median / max; quality against a one-step Lanczos3 \
         reference, mean (min)):",
        inputs.len()
    );
    for mut output in outputs {
        output.sizes.sort_unstable();
        let quality = if output.ssims.is_empty() {
            String::new()
        } else {
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
            let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
            format!(
                "; SSIM {:.4} ({:.4}), PSNR {:.2} dB ({:.2})",
                mean(&output.ssims),
                min(&output.ssims),
                mean(&output.psnrs),
                min(&output.psnrs)
            )
        };
        println!(
            "  {:<13} {:7.1} KiB / {:7.1} KiB{quality}",
            output.name,
            kib(output.sizes[output.sizes.len() / 2]),
            kib(output.sizes[output.sizes.len() - 1]),
        );
    }
    println!("  (target: 480.webp < 40 KB)");
    println!(
        "  digest of every output's bytes: {:016x}",
        std::hash::Hasher::finish(&digest)
    );
    Ok(())
}

/// SSIM and PSNR, small and slow: for the benchmark's quality figures only.
mod quality {
    use image::RgbImage;

    /// Mean SSIM of the luma (BT.601) of two pictures of the same size, over every 11 × 11 window
    /// (Gaussian, σ = 1.5) that fits, with the usual constants (K1 = 0.01, K2 = 0.03, L = 255).
    pub fn ssim(a: &RgbImage, b: &RgbImage) -> f64 {
        assert_eq!(
            a.dimensions(),
            b.dimensions(),
            "SSIM of pictures of one size"
        );
        let (width, height) = (a.width() as usize, a.height() as usize);
        if width < 11 || height < 11 {
            return if a == b { 1.0 } else { 0.0 };
        }
        let weights: Vec<f64> = (-5i32..=5)
            .map(|i| (-f64::from(i * i) / (2.0 * 1.5 * 1.5)).exp())
            .collect();
        let total: f64 = weights.iter().sum();
        let kernel: Vec<f64> = weights.iter().map(|w| w / total).collect();
        let (x, y) = (luma(a), luma(b));
        let product =
            |p: &[f64], q: &[f64]| p.iter().zip(q).map(|(u, v)| u * v).collect::<Vec<_>>();
        let blur = |v: &[f64]| blur(v, width, height, &kernel);
        let (mx, my) = (blur(&x), blur(&y));
        let (sxx, syy, sxy) = (
            blur(&product(&x, &x)),
            blur(&product(&y, &y)),
            blur(&product(&x, &y)),
        );
        let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
        let sum: f64 = (0..mx.len())
            .map(|i| {
                let (ux, uy) = (mx[i], my[i]);
                let (vx, vy, cxy) = (sxx[i] - ux * ux, syy[i] - uy * uy, sxy[i] - ux * uy);
                ((2.0 * ux * uy + c1) * (2.0 * cxy + c2))
                    / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
            })
            .sum();
        sum / mx.len() as f64
    }

    /// PSNR over the R, G and B samples, in dB (capped at 99 for identical pictures).
    pub fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
        let squared: f64 = a
            .as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(&p, &q)| (f64::from(p) - f64::from(q)).powi(2))
            .sum();
        let mse = squared / a.as_raw().len() as f64;
        if mse == 0.0 {
            99.0
        } else {
            (10.0 * (255.0 * 255.0 / mse).log10()).min(99.0)
        }
    }

    fn luma(picture: &RgbImage) -> Vec<f64> {
        picture
            .pixels()
            .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
            .collect()
    }

    /// Separable convolution keeping only the positions where the whole kernel fits.
    fn blur(values: &[f64], width: usize, height: usize, kernel: &[f64]) -> Vec<f64> {
        let reach = kernel.len() - 1;
        let (out_width, out_height) = (width - reach, height - reach);
        let mut rows = vec![0.0; out_width * height];
        for y in 0..height {
            let line = &values[y * width..(y + 1) * width];
            for x in 0..out_width {
                rows[y * out_width + x] = kernel.iter().zip(&line[x..]).map(|(k, v)| k * v).sum();
            }
        }
        let mut out = vec![0.0; out_width * out_height];
        for y in 0..out_height {
            for x in 0..out_width {
                out[y * out_width + x] = kernel
                    .iter()
                    .enumerate()
                    .map(|(i, k)| k * rows[(y + i) * out_width + x])
                    .sum();
            }
        }
        out
    }
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}

/// The same three sizes in the same two formats with libvips: one `vipsthumbnail` process per size
/// and format over all pictures (so process start-up is spread over them), shrink-on-load and all.
/// `VIPS_CONCURRENCY=1` keeps it to one worker thread.
fn vips_thumbnail(vips: &Path, inputs: &[Vec<u8>], runs: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut files = Vec::new();
    for (i, bytes) in inputs.iter().enumerate() {
        let path = dir.path().join(format!("p{i:03}.jpg"));
        std::fs::write(&path, bytes)?;
        files.push(path);
    }
    let out = dir.path().join("out");
    std::fs::create_dir(&out)?;
    let once = || -> anyhow::Result<Duration> {
        let start = Instant::now();
        for size in pipeline::TARGET_SIZES {
            for (ext, options) in [
                (
                    "webp",
                    format!("[Q={},effort=2,strip]", pipeline::WEBP_QUALITY),
                ),
                (
                    "jpg",
                    format!(
                        "[Q={},strip,interlace,optimize_coding]",
                        pipeline::JPEG_QUALITY
                    ),
                ),
            ] {
                let status = Command::new(vips)
                    .env("VIPS_CONCURRENCY", "1")
                    .arg("--size")
                    .arg(format!("{size}x{size}"))
                    .arg("-o")
                    .arg(format!("{}/%s_{size}.{ext}{options}", out.display()))
                    .args(&files)
                    .status()?;
                if !status.success() {
                    bail!("vipsthumbnail failed: {status}");
                }
            }
        }
        Ok(start.elapsed())
    };
    once()?; // warm-up
    let (mut walls, mut cpus) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let cpu = children_cpu()?;
        walls.push(once()? / inputs.len() as u32);
        cpus.push((children_cpu()? - cpu) / inputs.len() as u32);
    }
    let version = Command::new(vips).arg("--version").output()?;
    println!(
        "vipsthumbnail ({}), per picture, median of {} runs: CPU {}; wall {}",
        String::from_utf8_lossy(&version.stdout).trim(),
        walls.len(),
        spread(&cpus),
        spread(&walls)
    );
    println!(
        "  6 processes per run (3 sizes × WebP and JPEG) over all pictures, each decoding every \
         picture again with shrink-on-load; no original, no hash"
    );
    Ok(())
}

fn throughput(runs: usize, count: usize, size: u32, threads: Option<usize>) -> anyhow::Result<()> {
    let threads = threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1)
    });
    let inputs = demo_jpegs(count, size)?;
    let limits = Limits::default();
    let pass = || -> anyhow::Result<Duration> {
        let next = AtomicUsize::new(0);
        let start = Instant::now();
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| -> anyhow::Result<()> {
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(bytes) = inputs.get(i) else {
                                return Ok(());
                            };
                            std::hint::black_box(pipeline::process(bytes, &limits)?);
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker.join().expect("worker panicked")?;
            }
            Ok::<_, anyhow::Error>(())
        })?;
        Ok(start.elapsed())
    };
    pass()?; // warm-up
    let (mut rates, mut cpus) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let cpu = process_cpu()?;
        rates.push(count as f64 / pass()?.as_secs_f64());
        cpus.push((process_cpu()? - cpu) / count as u32);
    }
    rates.sort_by(f64::total_cmp);
    cpus.sort();
    let cpu = cpus[cpus.len() / 2];
    println!(
        "{threads} threads: {:.1} pictures/s median of {runs} runs (min {:.1}, max {:.1}), {count} \
         pictures of {size} × {size} per run; CPU {:.2} ms/picture, so {:.1} pictures/s if the \
         {threads} cores were ours alone",
        rates[rates.len() / 2],
        rates[0],
        rates[rates.len() - 1],
        ms(cpu),
        threads as f64 * 1e3 / ms(cpu)
    );
    Ok(())
}

fn formats(repeat: u32) -> anyhow::Result<()> {
    let limits = Limits::default();
    for format in [
        PictureFormat::Jpeg,
        PictureFormat::Png,
        PictureFormat::CmykJpeg,
        PictureFormat::AlphaPng,
        PictureFormat::ExifRotatedJpeg,
        PictureFormat::HugeNoisyPng,
    ] {
        let (width, height) = match format {
            PictureFormat::HugeNoisyPng => (2800, 2200),
            _ => (1600, 1200),
        };
        let picture = pictures::render(&PictureSpec {
            look: Look::Cowboy,
            format,
            width,
            height,
            seed: 20,
        })?;
        let (processed, mut times) =
            pipeline::process_timed(&picture.bytes, &limits, Resampler::FastImageResize)?;
        let cpu = thread_cpu()?;
        for _ in 0..repeat {
            times = add(
                times,
                pipeline::process_timed(&picture.bytes, &limits, Resampler::FastImageResize)?.1,
            );
        }
        let elapsed = (thread_cpu()? - cpu) / repeat;
        let outputs: Vec<String> = processed
            .renditions
            .iter()
            .map(|r| {
                format!(
                    "{} {}×{} {:.1} KiB",
                    r.name,
                    r.width,
                    r.height,
                    kib(r.bytes.len())
                )
            })
            .collect();
        println!(
            "{format:?} {}×{} {:.1} KiB → {}×{} in {:.1} ms CPU: {}",
            picture.width,
            picture.height,
            kib(picture.bytes.len()),
            processed.width,
            processed.height,
            ms(elapsed),
            outputs.join(", ")
        );
        let mean = |d: Duration| ms(d) / f64::from(repeat + 1);
        println!(
            "  stages (wall, mean ms): decode {:.1} | colour {:.1} | orientation {:.1} | resize \
             {:.1} | encode webp {:.1} | encode jpeg {:.1} | original {:.1}",
            mean(times.decode),
            mean(times.colour),
            mean(times.orientation),
            mean(times.resize),
            mean(times.encode_webp),
            mean(times.encode_jpeg),
            mean(times.original),
        );
    }
    Ok(())
}

fn kib(bytes: usize) -> f64 {
    bytes as f64 / 1024.0
}

fn peak(input: PeakInput) -> anyhow::Result<()> {
    let render = |format, width, height| {
        pictures::render(&PictureSpec {
            look: Look::Sombrero,
            format,
            width,
            height,
            seed: 18,
        })
    };
    let (label, bytes) = match input {
        PeakInput::Jpeg40mp => ("40 MP JPEG", render(PictureFormat::Jpeg, 7296, 5472)?.bytes),
        PeakInput::HugePng => (
            "demo noisy PNG",
            render(PictureFormat::HugeNoisyPng, 2800, 2200)?.bytes,
        ),
        PeakInput::Png16bit40mp => {
            let png = render(PictureFormat::Png, 7296, 5472)?.bytes;
            let rgba16 = image::load_from_memory(&png)?.into_rgba16();
            let mut out = Vec::new();
            image::codecs::png::PngEncoder::new_with_quality(
                &mut out,
                image::codecs::png::CompressionType::Fast,
                image::codecs::png::FilterType::Adaptive,
            )
            .write_image(
                DynamicImage::ImageRgba16(rgba16.clone()).as_bytes(),
                rgba16.width(),
                rgba16.height(),
                image::ExtendedColorType::Rgba16,
            )?;
            ("40 MP 16-bit RGBA PNG", out)
        }
    };
    // Only the pipeline's own peak counts: the input was made above, in this process, so the
    // high-water mark is reset first (writing 5 to clear_refs) where the kernel allows it.
    let before = vm_hwm()?;
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let reset = vm_hwm()?;
    let start = Instant::now();
    let processed = pipeline::process(&bytes, &Limits::default())?;
    let elapsed = start.elapsed();
    let after = vm_hwm()?;
    println!(
        "{label}: {:.1} MiB in, {} × {}, {} renditions in {:.0} ms; peak RSS {:.0} MiB \
         (before processing: {:.0} MiB; high-water mark reset to {:.0} MiB)",
        bytes.len() as f64 / 1048576.0,
        processed.width,
        processed.height,
        processed.renditions.len(),
        ms(elapsed),
        after as f64 / 1024.0,
        before as f64 / 1024.0,
        reset as f64 / 1024.0,
    );
    Ok(())
}

/// CPU time of this process, all threads (`utime` + `stime` in `/proc/self/stat`, in clock ticks
/// of 10 ms).
fn process_cpu() -> anyhow::Result<Duration> {
    stat_ticks(11)
}

/// CPU time of this process's waited-for children (`cutime` + `cstime` in `/proc/self/stat`, in
/// clock ticks of 10 ms).
fn children_cpu() -> anyhow::Result<Duration> {
    stat_ticks(13)
}

/// The sum of two clock-tick fields of `/proc/self/stat` (`first` counted from `state`, field 3, as
/// 0), as a duration.
fn stat_ticks(first: usize) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The command name (which may hold spaces) ends at the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("no command name in /proc/self/stat")?
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[first].parse::<u64>()? + fields[first + 1].parse::<u64>()?;
    Ok(Duration::from_millis(ticks * 10))
}

/// Peak resident set size of this process, in KiB.
fn vm_hwm() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .context("no VmHWM in /proc/self/status")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("VmHWM value")?
        .parse()?)
}
