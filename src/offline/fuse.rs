//! `fuse`: the pipeline on a lab's existing data — an overview and one or more zooms scanned inside it.
//! Each zoom is registered inside the (levelled) overview, cut into tiles that become the training
//! pieces, and the overview's whole area is reconstructed at the zooms' pitch. With `score_folds = K`
//! the zoom tiles are split into K folds (tile i in fold i mod K); each fold is held out in turn, a
//! model is trained on the others, and SR and the fair baseline are scored on the held-out pixels
//! against the measured zoom itself.
//!
//! Output folder: `sr.npy` (the delivered reconstruction on the HR grid), `fair_baseline.npy`,
//! `lr.npy`, `acquired_mask.npy`, `registration.json`, `panels.png`, `metrics.json`, the model in
//! `model/`; with scoring, `folds/<k>/{sr,bicubic,truth,mask}.npy` (bicubic: the fair baseline; mask 1
//! on the fold's held-out pixels) and the folds' scores in `metrics.json`.

use super::OfflineError;
use crate::geo_image::GeoImage;
use crate::io;
use crate::level::{HrFrameLevelling, LevelConfig};
use crate::metrics::{psnr, ssim};
use crate::pipeline::{
    prepare, train_and_reconstruct, write_outputs, HrFrameInput, ModelOutcome, OutputChoice, PipelineInput, PrepareConfig, Prepared,
    RegistrationImages,
};
use crate::reconstruct::{mask_as_f32, paste_patches, ReconstructConfig};
use crate::register::RegisterConfig;
use crate::report::{MetricsReport, Timing};
use crate::train::{TrainConfig, TrainProgress};
use crate::upsample::Interpolation;
use afm_drivers::{PixelRect, Raster, ScanRegion};
use ndarray::{s, Array2};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Everything `fuse` needs besides the files.
#[derive(Debug, Clone)]
pub struct FuseOptions {
    /// Channel to fuse (label or name; default: the first height channel).
    pub channel: Option<String>,
    /// Side of the training tiles cut from the zooms, zoom pixels (multiple of 4).
    pub tile_px: usize,
    /// Levelling (each zoom on its own, whatever `hr_frames` says).
    pub level: LevelConfig,
    /// Registration (the search window, in overview pixels; `channel`: register the zooms in another
    /// channel of the same files).
    pub register: RegisterConfig,
    /// Training.
    pub train: TrainConfig,
    /// Reconstruction and the guard.
    pub reconstruct: ReconstructConfig,
    /// How the overview is brought onto the HR grid as the model input.
    pub model_input: Interpolation,
    /// Where the model runs.
    pub device: tch::Device,
    /// Hold out each of this many folds of the zoom tiles in turn and score (None: no scoring).
    pub score_folds: Option<usize>,
}

/// Whether `fuse` cross-fits two networks unless told otherwise (`fuse --cross-fit`, a suite's
/// `[[fuse]] cross_fit`): the guard then sees every zoom tile held out once instead of a few, for
/// twice the training time, which an offline fusion can afford.
pub const CROSS_FIT_BY_DEFAULT: bool = true;

/// The training `fuse` runs: `base` (a configuration's `[train]`, else the CPU dry-run setting) on
/// whole tiles when its crop exceeds `tile_px`, cross-fitted as `cross_fit` says, whatever `base` says.
pub fn fuse_training(base: Option<TrainConfig>, tile_px: usize, cross_fit: bool) -> TrainConfig {
    let mut train = base.unwrap_or_else(TrainConfig::cpu_dry_run);
    train.whole_tiles_if_crop_exceeds(tile_px);
    train.cross_fit = cross_fit;
    train
}

/// The scores of one held-out fold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldScores {
    /// The fold.
    pub fold: usize,
    /// Held-out pixels.
    pub pixels: usize,
    /// What the fold's run delivered.
    pub output: OutputChoice,
    /// Why: the guard's figures on the fold's own held-out patches (empty in files written before it).
    #[serde(default)]
    pub output_reason: String,
    /// PSNR of the delivered image on the held-out pixels, dB (data range of the measured zooms).
    pub psnr_sr_db: f64,
    /// PSNR of the fair baseline on the held-out pixels, dB.
    pub psnr_fair_db: f64,
    /// SSIM of the delivered image on the held-out pixels.
    pub ssim_sr: f64,
    /// SSIM of the fair baseline on the held-out pixels.
    pub ssim_fair: f64,
}

/// `metrics.json` of `fuse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FuseReport {
    /// The whole-overview reconstruction (trained on every zoom tile).
    pub run: MetricsReport,
    /// Each zoom's registered position: returned-geometry centre and the shift found, overview px.
    pub zooms: Vec<ZoomPlacement>,
    /// Per fold, when scored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folds: Vec<FoldScores>,
    /// Mean over the folds: PSNR of SR, of the fair baseline, and SSIM of both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<MeanScores>,
}

/// Mean fold scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanScores {
    /// Mean PSNR of SR (what each fold delivered), dB.
    pub psnr_sr_db: f64,
    /// Mean PSNR of the fair baseline, dB.
    pub psnr_fair_db: f64,
    /// Mean SSIM of SR.
    pub ssim_sr: f64,
    /// Mean SSIM of the fair baseline.
    pub ssim_fair: f64,
}

/// Where a zoom sits in the overview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoomPlacement {
    /// The zoom file.
    pub file: PathBuf,
    /// Its centre as the metadata says, in overview pixels (points, lines).
    pub metadata_center_overview_px: [f64; 2],
    /// The registration shift, overview pixels (points, lines).
    pub shift_overview_px: [f64; 2],
    /// Correlation peak and ratio; ambiguous registrations are not trained on.
    pub peak: f64,
    /// Peak over the best competing peak.
    pub peak_ratio: f64,
    /// Whether it was ambiguous.
    pub ambiguous: bool,
}

/// Reads each of `channels` of a data file (read once) as a [`GeoImage`] with its label, in order (its
/// own geometry; an error without one).
fn load_images(path: &Path, channels: &[Option<&str>]) -> Result<Vec<(GeoImage, String)>, OfflineError> {
    let loaded = io::load(path)?;
    if !loaded.geometry_known {
        return Err(OfflineError::invalid(
            path.display().to_string(),
            "no scan geometry",
            "fuse needs files that carry their scan region (.ibw, pyNSID .h5)",
        ));
    }
    channels
        .iter()
        .map(|&channel| {
            let ch = loaded.channel(channel)?;
            let image = GeoImage { data: ch.data.clone(), region: loaded.frame.region, raster: loaded.frame.raster, unit: ch.unit.clone() };
            Ok((image, ch.label()))
        })
        .collect()
}

/// The HR grid: the overview's area at the first zoom's pitch, placed so that the zoom's pixels (by
/// its returned geometry) fall on grid pixels.
pub fn hr_grid(overview: &GeoImage, zoom: &GeoImage) -> Result<(ScanRegion, Raster), OfflineError> {
    let o = &overview.region;
    if (o.angle_deg - zoom.region.angle_deg).abs() > 1e-9 {
        return Err(OfflineError::invalid(
            "--zoom",
            format!("{}°", zoom.region.angle_deg),
            format!("the overview is scanned at {}°", o.angle_deg),
        ));
    }
    let (px, py) = zoom.pitch_m();
    if !(px > 0.0 && py > 0.0) {
        return Err(OfflineError::invalid("--zoom", "pitch 0", "the zoom needs at least 2 × 2 pixels"));
    }
    // In the overview's own axes, relative to its centre.
    let (zx, zy) = zoom.region.local_offset_m(&zoom.raster, 0.0, 0.0);
    let (zx, zy) = {
        let (sx, sy) = zoom.region.local_to_scanner_m(zx, zy);
        let (col, row) = o.pixel_of_m(&overview.raster, sx, sy);
        overview.region.local_offset_m(&overview.raster, col, row)
    };
    let (left, bottom) = (-o.width_m / 2.0, -o.height_m / 2.0);
    let x0 = zx - ((zx - left) / px).floor() * px;
    let y0 = zy - ((zy - bottom) / py).floor() * py;
    let points = ((o.width_m / 2.0 - x0) / px + 1e-9).floor() as usize + 1;
    let lines = ((o.height_m / 2.0 - y0) / py + 1e-9).floor() as usize + 1;
    let (w, h) = ((points - 1) as f64 * px, (lines - 1) as f64 * py);
    let (cx, cy) = o.local_to_scanner_m(x0 + w / 2.0, y0 + h / 2.0);
    Ok((ScanRegion { center_x_m: cx, center_y_m: cy, width_m: w, height_m: h, angle_deg: o.angle_deg }, Raster::new(points, lines)))
}

/// The `tile × tile` tiles of a zoom, row-major from its first pixel.
pub fn zoom_tiles(zoom: &GeoImage, tile: usize) -> Vec<PixelRect> {
    let (nc, nr) = (zoom.raster.points / tile, zoom.raster.lines / tile);
    (0..nr).flat_map(|r| (0..nc).map(move |c| PixelRect { col: c * tile, row: r * tile, cols: tile, rows: tile })).collect()
}

/// The overview and its zooms as read, in the fused channel (and in `[register] channel` when
/// another), with the HR grid and the zoom tiles.
struct FuseData<'a> {
    overview: GeoImage,
    channel: String,
    zoom_paths: &'a [PathBuf],
    zooms: Vec<GeoImage>,
    register_on: Option<RegistrationImages>,
    hr_region: ScanRegion,
    hr_raster: Raster,
    tiles: Vec<Vec<PixelRect>>,
}

impl<'a> FuseData<'a> {
    fn load(overview_path: &Path, zoom_paths: &'a [PathBuf], opts: &FuseOptions) -> Result<Self, OfflineError> {
        if zoom_paths.is_empty() {
            return Err(OfflineError::invalid("--zoom", "(none)", "give at least one zoom"));
        }
        if opts.tile_px < 8 || opts.tile_px % 4 != 0 {
            return Err(OfflineError::invalid("--tile-px", opts.tile_px, "must be a multiple of 4, at least 8"));
        }
        // Each file read once: the fused channel, and the one registration runs on when one is named.
        let wanted: Vec<Option<&str>> =
            std::iter::once(opts.channel.as_deref()).chain(opts.register.channel.as_deref().map(Some)).collect();
        let mut overview_channels = load_images(overview_path, &wanted)?;
        let mut zoom_channels = zoom_paths.iter().map(|p| load_images(p, &wanted)).collect::<Result<Vec<_>, _>>()?;
        let (overview, channel) = overview_channels.remove(0);
        let zooms: Vec<GeoImage> = zoom_channels.iter_mut().map(|z| z.remove(0).0).collect();
        // What is left is the registration channel, when one was named and it is another.
        let register_on = overview_channels.pop().filter(|(_, label)| *label != channel).map(|(lr, label)| RegistrationImages {
            channel: label,
            lr,
            frames: zoom_channels.into_iter().map(|mut z| z.remove(0).0).collect(),
        });
        let (hr_region, hr_raster) = hr_grid(&overview, &zooms[0])?;
        let tiles: Vec<Vec<PixelRect>> = zooms.iter().map(|z| zoom_tiles(z, opts.tile_px)).collect();
        if tiles.iter().all(Vec::is_empty) {
            return Err(OfflineError::invalid("--tile-px", opts.tile_px, "larger than every zoom"));
        }
        Ok(Self { overview, channel, zoom_paths, zooms, register_on, hr_region, hr_raster, tiles })
    }

    /// The pipeline's input with the zoom tiles `keep` accepts (numbered over all zooms in order).
    fn input(&self, keep: &dyn Fn(usize) -> bool) -> PipelineInput {
        let mut index = 0;
        let frames = self
            .zooms
            .iter()
            .zip(self.zoom_paths)
            .zip(&self.tiles)
            .map(|((z, p), t)| {
                let pieces = t.iter().copied().filter(|_| {
                    let k = keep(index);
                    index += 1;
                    k
                });
                HrFrameInput { label: p.display().to_string(), image: z.clone(), requested: None, pieces: pieces.collect() }
            })
            .collect();
        PipelineInput {
            lr: self.overview.clone(),
            channel: self.channel.clone(),
            hr_region: self.hr_region,
            hr_raster: self.hr_raster,
            frames,
            motion: None,
            register_on: self.register_on.clone(),
        }
    }

    /// Levels and registers the zoom tiles `keep` accepts against the overview. Each zoom is levelled
    /// on its own (`[level] hr_frames` does not apply): a zoom is a scan of its own, taken at another
    /// time, its lines with their own offsets.
    fn prepare(&self, keep: &dyn Fn(usize) -> bool, opts: &FuseOptions) -> Result<Prepared, crate::pipeline::PipelineError> {
        let level = LevelConfig { hr_frames: HrFrameLevelling::Each, ..opts.level };
        prepare(&self.input(keep), &PrepareConfig { level, register: opts.register.clone(), model_input: opts.model_input })
    }
}

/// The first stages of `fuse` alone: the overview and every zoom tile levelled and registered (no
/// training), e.g. to see where the zooms lie.
pub fn prepare_fused(overview_path: &Path, zoom_paths: &[PathBuf], opts: &FuseOptions) -> Result<Prepared, OfflineError> {
    let data = FuseData::load(overview_path, zoom_paths, opts)?;
    data.prepare(&|_| true, opts).map_err(|e| OfflineError::stage("levelling and registration", e))
}

/// Runs `fuse` into `out` and returns its report.
pub fn fuse(
    overview_path: &Path,
    zoom_paths: &[PathBuf],
    opts: &FuseOptions,
    out: &Path,
    progress: &mut dyn FnMut(Option<usize>, TrainProgress),
) -> Result<FuseReport, OfflineError> {
    let data = FuseData::load(overview_path, zoom_paths, opts)?;
    let stage = |what: &str, e: &dyn std::fmt::Display| OfflineError::stage(what.to_string(), e);
    std::fs::create_dir_all(out).map_err(|e| OfflineError::output(out, e))?;

    // The whole overview, trained on every zoom tile.
    let all = data.prepare(&|_| true, opts).map_err(|e| stage("levelling and registration", &e))?;
    let (outcome, _) =
        train_and_reconstruct(&all, &opts.train, &opts.reconstruct, opts.device, &out.join("model"), None, &mut |p| progress(None, p))
            .map_err(|e| stage("training on every zoom tile", &e))?;
    tracing::info!("{}", outcome.reason);
    let outlines: Vec<_> = all.measured().iter().map(|m| m.rect).collect();
    let mut note = vec![("Overview".to_string(), overview_path.display().to_string())];
    note.extend(zoom_paths.iter().enumerate().map(|(k, z)| (format!("Zoom {}", k + 1), z.display().to_string())));
    write_outputs(out, None, &all, Some(&outcome), None, &outlines, opts.reconstruct.seam_px, &note)
        .map_err(|e| stage("writing the outputs", &e))?;
    let mut run = MetricsReport::new(None, Timing::default());
    run.record(&all, Some(&outcome), None);
    let zooms_report = placements(&data.overview, &data.zooms, zoom_paths, &all);

    let mut folds = Vec::new();
    if let Some(k) = opts.score_folds {
        if k < 2 {
            return Err(OfflineError::invalid("--score", k, "needs at least 2 folds"));
        }
        let truth = paste_patches(all.fair.view(), &all.measured(), 0).map_err(|e| stage("the measured mosaic", &e))?;
        for fold in 0..k {
            let prepared = data.prepare(&|i| i % k != fold, opts).map_err(|e| stage(&format!("fold {fold}: preparing"), &e))?;
            let dir = out.join("folds").join(fold.to_string());
            let (outcome, _) =
                train_and_reconstruct(&prepared, &opts.train, &opts.reconstruct, opts.device, &dir.join("model"), None, &mut |p| {
                    progress(Some(fold), p)
                })
                .map_err(|e| stage(&format!("fold {fold}: training"), &e))?;
            folds.push(score_fold(fold, &all, &prepared, &outcome, &truth, opts.reconstruct.seam_px, &dir)?);
        }
    }
    let mean = (!folds.is_empty()).then(|| {
        let n = folds.len() as f64;
        let m = |f: fn(&FoldScores) -> f64| folds.iter().map(f).sum::<f64>() / n;
        MeanScores {
            psnr_sr_db: m(|f| f.psnr_sr_db),
            psnr_fair_db: m(|f| f.psnr_fair_db),
            ssim_sr: m(|f| f.ssim_sr),
            ssim_fair: m(|f| f.ssim_fair),
        }
    });
    let report = FuseReport { run, zooms: zooms_report, folds, mean };
    let path = out.join("metrics.json");
    let text = serde_json::to_string_pretty(&report).map_err(|e| OfflineError::output(&path, e))?;
    std::fs::write(&path, text + "\n").map_err(|e| OfflineError::output(&path, e))?;
    Ok(report)
}

/// Scores what the fold's run delivered (`outcome`) on the fold's held-out pixels (measured in `all`,
/// not in `fold_run`), cropped to the zooms' bounding box, and writes
/// `folds/<k>/{sr,bicubic,truth,mask}.npy`.
fn score_fold(
    fold: usize,
    all: &Prepared,
    fold_run: &Prepared,
    outcome: &ModelOutcome,
    truth: &Array2<f32>,
    seam_px: usize,
    dir: &Path,
) -> Result<FoldScores, OfflineError> {
    let held = Array2::from_shape_fn(all.acquired.dim(), |i| all.acquired[i] && !fold_run.acquired[i]);
    let (r0, r1, c0, c1) =
        bounding_box(&all.acquired).ok_or_else(|| OfflineError::stage(format!("fold {fold}"), "no zoom pixel on the grid"))?;
    let crop = |a: &Array2<f32>| a.slice(s![r0..r1, c0..c1]).to_owned();
    let fair = fold_run.fair_pasted(seam_px).map_err(|e| OfflineError::stage(format!("fold {fold}"), e))?;
    let (sr, fair, truth) = (crop(&outcome.delivered), crop(&fair), crop(truth));
    let mask = held.slice(s![r0..r1, c0..c1]).to_owned();
    let metric = |e: crate::metrics::MetricsError| OfflineError::stage(format!("fold {fold}: scores"), e);
    let scores = FoldScores {
        fold,
        pixels: mask.iter().filter(|&&m| m).count(),
        output: outcome.output,
        output_reason: outcome.reason.clone(),
        psnr_sr_db: psnr(sr.view(), truth.view(), Some(mask.view())).map_err(metric)?,
        psnr_fair_db: psnr(fair.view(), truth.view(), Some(mask.view())).map_err(metric)?,
        ssim_sr: ssim(sr.view(), truth.view(), Some(mask.view())).map_err(metric)?,
        ssim_fair: ssim(fair.view(), truth.view(), Some(mask.view())).map_err(metric)?,
    };
    std::fs::create_dir_all(dir).map_err(|e| OfflineError::output(dir, e))?;
    for (name, data) in [("sr", &sr), ("bicubic", &fair), ("truth", &truth), ("mask", &mask_as_f32(&mask))] {
        let path = dir.join(format!("{name}.npy"));
        io::npy::write_array(&path, data).map_err(|e| OfflineError::output(&path, e))?;
    }
    Ok(scores)
}

/// Rows and columns (half-open) of the true pixels' bounding box.
fn bounding_box(mask: &Array2<bool>) -> Option<(usize, usize, usize, usize)> {
    let mut b: Option<(usize, usize, usize, usize)> = None;
    for ((r, c), &m) in mask.indexed_iter() {
        if m {
            b = Some(match b {
                None => (r, r + 1, c, c + 1),
                Some((r0, r1, c0, c1)) => (r0.min(r), r1.max(r + 1), c0.min(c), c1.max(c + 1)),
            });
        }
    }
    b
}

fn placements(overview: &GeoImage, zooms: &[GeoImage], paths: &[PathBuf], prepared: &Prepared) -> Vec<ZoomPlacement> {
    zooms
        .iter()
        .zip(paths)
        .zip(&prepared.frames)
        .map(|((z, p), f)| {
            let (col, row) = overview.region.pixel_of_m(&overview.raster, z.region.center_x_m, z.region.center_y_m);
            let r = f.registration;
            ZoomPlacement {
                file: p.clone(),
                metadata_center_overview_px: [col, row],
                shift_overview_px: r.shift_lr_px,
                peak: r.peak,
                peak_ratio: r.peak_ratio,
                ambiguous: r.ambiguous,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hr_grid_puts_zoom_pixels_on_grid_pixels_and_covers_the_overview() {
        let overview = GeoImage::new(Array2::zeros((64, 64)), ScanRegion::square(0.0, 0.0, 3e-6), "m");
        let zoom = GeoImage::new(Array2::zeros((32, 32)), ScanRegion::square(0.37e-6, -0.21e-6, 1e-6), "m");
        let (region, raster) = hr_grid(&overview, &zoom).unwrap();
        let (col, row) = region.pixel_of_m(
            &raster,
            zoom.region.pixel_position_m(&zoom.raster, 0.0, 0.0).0,
            zoom.region.pixel_position_m(&zoom.raster, 0.0, 0.0).1,
        );
        assert!((col - col.round()).abs() < 1e-6 && (row - row.round()).abs() < 1e-6, "{col} {row}");
        assert!(region.width_m <= 3e-6 + 1e-12 && region.width_m > 3e-6 - 2.0 * 1e-6 / 31.0, "{}", region.width_m);
        assert_eq!(zoom_tiles(&zoom, 16).len(), 4);
    }
}
