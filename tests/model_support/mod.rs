//! Shared by the model quality tests: test scenes (a synthetic terraced surface scanned with
//! rate-dependent feedback lag, or the real .ibw HeightRetrace decimated), and the experiment that
//! trains on a few "acquired" tiles, reconstructs the whole frame and scores SR against the aligned
//! nearest and bicubic baselines on the unacquired tiles.
#![allow(dead_code)]

use afm_drivers::{PixelRect, Raster, ScanRegion};
use afm_spark::figures::{loss_curve_png, sr_comparison_png};
use afm_spark::metrics::{baseline, score, ImageScores};
use afm_spark::reconstruct::{acquired_mask, reconstruct, MeasuredPatch, ReconstructConfig};
use afm_spark::train::{train, Normalizer, TilePair, TrainConfig};
use afm_spark::upsample::{strided_region, GridMap, Interpolation};
use ndarray::{s, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

/// A ground-truth HR frame and the LR frame of the same area, with their geometry.
pub struct Scene {
    /// Ground truth on the HR grid (the HR scan), metres.
    pub hr: Array2<f32>,
    /// The LR frame as acquired, metres.
    pub lr: Array2<f32>,
    /// LR frame → HR grid.
    pub map: GridMap,
}

/// The HR region: square, 10 nm pitch.
fn hr_geometry(n: usize) -> (ScanRegion, Raster) {
    (ScanRegion::square(0.0, 0.0, (n - 1) as f64 * 10e-9), Raster::square(n))
}

/// Builds a scene from an HR frame and its `[::step, ::step]` LR frame.
pub fn strided_scene(hr: Array2<f32>, lr: Array2<f32>, step: usize) -> Scene {
    let (hr_region, hr_raster) = hr_geometry(hr.nrows());
    let lr_raster = Raster::new(lr.ncols(), lr.nrows());
    let map = GridMap {
        src_region: strided_region(&hr_region, &hr_raster, step, &lr_raster),
        src_raster: lr_raster,
        dst_region: hr_region,
        dst_raster: hr_raster,
    };
    Scene { hr, lr, map }
}

/// Terraces with wavy step edges, grains and mild roughness: height in metres at HR pixel (x, y).
fn terrace_surface(n: usize, seed: u64) -> impl Fn(f64, f64) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let step_m = 1.0e-9;
    let grains: Vec<(f64, f64, f64, f64)> = (0..(n * n / 4000).max(8))
        .map(|_| {
            let (x, y) = (rng.random::<f64>() * n as f64, rng.random::<f64>() * n as f64);
            (x, y, rng.random_range(1.5..5.0), rng.random_range(0.3..1.2) * step_m)
        })
        .collect();
    let width = n as f64 / 7.0;
    move |x: f64, y: f64| {
        let phase = (x * 0.8 + y * 0.6) / width + 0.25 * (y / 37.0).sin() + 0.15 * (x / 23.0).cos();
        let terraces = phase.floor() * step_m;
        let bumps: f64 = grains
            .iter()
            .map(|&(gx, gy, s, h)| {
                let d2 = (x - gx).powi(2) + (y - gy).powi(2);
                if d2 < 25.0 * s * s {
                    h * (-d2 / (2.0 * s * s)).exp()
                } else {
                    0.0
                }
            })
            .sum();
        let rough = 0.05 * step_m * ((x / 3.1).sin() * (y / 4.3).cos());
        terraces + bumps + rough
    }
}

/// One scan line: the z feedback follows the surface with time constants (in HR pixels of travel)
/// `tau_up` uphill and `tau_down` downhill (tapping-mode "parachuting"), sampled every HR pixel,
/// recorded every `step`-th sample.
fn scan_line(surface: &dyn Fn(f64, f64) -> f64, y: f64, n: usize, step: usize, tau_up: f64, tau_down: f64) -> Vec<f64> {
    let (a_up, a_down) = (1.0 - (-1.0 / tau_up).exp(), 1.0 - (-1.0 / tau_down).exp());
    let mut z = surface(0.0, y);
    let mut out = Vec::with_capacity(n / step);
    for x in 0..n {
        let s = surface(x as f64, y);
        z += (s - z) * if s > z { a_up } else { a_down };
        if x % step == 0 {
            out.push(z);
        }
    }
    out
}

/// Synthetic scene: an `n`² HR scan (lag τ 0.3/1.5 px, white noise) and an (n/4)² LR scan at 4× the
/// line rate (lag 4× longer in distance, more noise, random line offsets), LR pixel k on HR pixel 4k.
pub fn terrace_scene(n: usize, seed: u64) -> Scene {
    let surface = terrace_surface(n, seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 1);
    let noise = |rng: &mut ChaCha8Rng, sigma: f64| sigma * (rng.random::<f64>() + rng.random::<f64>() + rng.random::<f64>() - 1.5) * 2.0;
    let mut hr = Array2::<f32>::zeros((n, n));
    for r in 0..n {
        for (c, z) in scan_line(&surface, r as f64, n, 1, 0.3, 1.5).into_iter().enumerate() {
            hr[[r, c]] = (z + noise(&mut rng, 0.02e-9)) as f32;
        }
    }
    let m = n / 4;
    let mut lr = Array2::<f32>::zeros((m, m));
    for r in 0..m {
        let offset = noise(&mut rng, 0.08e-9);
        for (c, z) in scan_line(&surface, (4 * r) as f64, n, 4, 1.2, 6.0).into_iter().enumerate() {
            lr[[r, c]] = (z + offset + noise(&mut rng, 0.03e-9)) as f32;
        }
    }
    strided_scene(hr, lr, 4)
}

/// Channel 0 (HeightRetrace) of the test .ibw, 256×256, rows = lines. `None` when the file is absent.
pub fn read_ibw_height(path: &str) -> Option<Array2<f32>> {
    let bytes = std::fs::read(path).ok()?;
    let n = 256;
    let data = bytes.get(384..384 + 4 * n * n)?;
    let values: Vec<f32> = data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    // column-major [points, lines]: element (p, l) at p + n·l, i.e. row-major [line][point]
    Array2::from_shape_vec((n, n), values).ok()
}

/// The real image as ground truth, LR = HR[::4, ::4].
pub fn ibw_scene(path: &str) -> Option<Scene> {
    let hr = read_ibw_height(path)?;
    let lr = hr.slice(s![..;4, ..;4]).to_owned();
    Some(strided_scene(hr, lr, 4))
}

/// 12 evenly spread tiles of an 8 × 8 grid as (tile row, tile col); the last two serve validation.
pub const SPREAD_PICKS: [(usize, usize); 12] =
    [(0, 1), (0, 5), (1, 3), (2, 0), (2, 6), (3, 2), (4, 4), (4, 7), (5, 1), (6, 5), (7, 2), (7, 6)];

/// What to run.
pub struct Experiment {
    /// Tiles per side.
    pub grid: usize,
    /// Acquired tiles (tile row, tile col), in pick order.
    pub picks: Vec<(usize, usize)>,
    /// Training settings.
    pub train: TrainConfig,
    /// Reconstruction settings (each is run and scored after the one training).
    pub recons: Vec<ReconstructConfig>,
    /// Interpolation of x0.
    pub x0_method: Interpolation,
    /// Where to write the comparison panels and the loss curve, if anywhere.
    pub fig_dir: Option<std::path::PathBuf>,
}

/// Scores of one reconstruction setting.
#[derive(Debug)]
pub struct ReconScores {
    /// SR (patches pasted back).
    pub sr: ImageScores,
    /// SR without pasting.
    pub inferred: ImageScores,
    /// Reconstruction wall time, s.
    pub recon_s: f64,
}

/// What came out.
#[derive(Debug)]
pub struct Outcome {
    /// Per reconstruction setting.
    pub recons: Vec<ReconScores>,
    /// Aligned bicubic.
    pub bicubic: ImageScores,
    /// Aligned nearest.
    pub nearest: ImageScores,
    /// Steps run.
    pub steps: usize,
    /// Mean step time, ms.
    pub step_ms: f64,
    /// Training wall time, s.
    pub train_s: f64,
    /// Step of the kept weights.
    pub best_step: usize,
}

/// Trains on the picked tiles, reconstructs, scores.
pub fn run(scene: &Scene, exp: &Experiment) -> Outcome {
    let (rows, cols) = scene.hr.dim();
    let tile = rows / exp.grid;
    let x0 = scene.map.resample(scene.lr.view(), exp.x0_method).unwrap();
    let bicubic = baseline(scene.lr.view(), &scene.map, Interpolation::Bicubic).unwrap();
    let nearest = baseline(scene.lr.view(), &scene.map, Interpolation::Nearest).unwrap();
    let rects: Vec<PixelRect> =
        exp.picks.iter().map(|&(tr, tc)| PixelRect { col: tc * tile, row: tr * tile, cols: tile, rows: tile }).collect();
    let cut = |a: &Array2<f32>, r: &PixelRect| a.slice(s![r.row..r.row + r.rows, r.col..r.col + r.cols]).to_owned();
    let pairs: Vec<TilePair> = rects.iter().map(|r| TilePair { x0: cut(&x0, r), x1: cut(&scene.hr, r) }).collect();
    let patches: Vec<MeasuredPatch> = rects.iter().map(|r| MeasuredPatch { rect: *r, data: cut(&scene.hr, r) }).collect();
    let norm = Normalizer::from_lr(scene.lr.view()).unwrap();
    let out = train(&pairs, norm, &exp.train, tch::Device::Cpu, None, &mut |_| {}).unwrap();
    let mask = acquired_mask((rows, cols), rects.iter().copied());
    let sc = |a: &Array2<f32>| score(a.view(), scene.hr.view(), mask.view()).unwrap();
    let recons = exp
        .recons
        .iter()
        .map(|cfg| {
            let t = Instant::now();
            let rec = reconstruct(&out.model, x0.view(), &patches, cfg).unwrap();
            let recon_s = t.elapsed().as_secs_f64();
            if let Some(dir) = &exp.fig_dir {
                std::fs::create_dir_all(dir).unwrap();
                let name = format!("panels-steps{}-stride{:?}.png", cfg.steps, cfg.stride_px);
                sr_comparison_png(&dir.join(name), scene.lr.view(), rec.sr_m.view(), Some(scene.hr.view()), &rects).unwrap();
                sr_comparison_png(&dir.join("bicubic.png"), scene.lr.view(), bicubic.view(), Some(scene.hr.view()), &rects).unwrap();
                loss_curve_png(&dir.join("loss.png"), &out.history).unwrap();
            }
            ReconScores { sr: sc(&rec.sr_m), inferred: sc(&rec.inferred_m), recon_s }
        })
        .collect();
    Outcome {
        recons,
        bicubic: sc(&bicubic),
        nearest: sc(&nearest),
        steps: out.steps,
        step_ms: out.mean_step_ms,
        train_s: out.train_s,
        best_step: out.best_step,
    }
}
