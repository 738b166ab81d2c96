//! A benchmark suite file (`configs/eval-real.toml`): real images replayed through the closed loop at
//! several budgets and strategies (random with several seeds), and `fuse --score` cases on real
//! overview/zoom pairs — every case scored as SR against the fair baseline. Paths in the file are
//! relative to the working directory (the project root).
//!
//! ```toml
//! base_config = "configs/replay.toml"
//! budgets = [8, 20]
//! strategies = ["farthest_first", "random", "uniform"]
//! random_seeds = 5
//! [[replay]]
//! file = "../shared/data/P0089OP0027.ibw"
//! channel = "HeightRetrace"
//! [[fuse]]
//! overview = "../shared/data/PTO_Funakubo0004.h5"
//! zooms = ["../shared/data/PTO_Funakubo0005.h5"]
//! channel = "AmplitudeRetrace"
//! score = 4
//! ```

use super::grid::{EvalGrid, EvalSurface};
use super::row::EvalRow;
use super::EvalError;
use crate::config::RunSpec;
use crate::offline::fuse::{fuse, fuse_training, FuseOptions, FuseReport};
use crate::offline::ConfigSections;
use crate::select::SelectionStrategy;
use crate::upsample::Interpolation;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// One replayed image.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayCase {
    /// The image file.
    pub file: PathBuf,
    /// Its channel (default: the first height channel).
    #[serde(default)]
    pub channel: Option<String>,
}

/// One overview/zoom pair scored by holding out folds of the zoom tiles.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FuseCase {
    /// The overview.
    pub overview: PathBuf,
    /// The zooms inside it.
    pub zooms: Vec<PathBuf>,
    /// The channel.
    pub channel: String,
    /// Folds held out in turn.
    #[serde(default = "default_folds")]
    pub score: usize,
    /// Side of the zoom tiles, zoom px.
    #[serde(default = "default_tile")]
    pub tile_px: usize,
    /// Cross-fit two networks, as `fuse --cross-fit` (default
    /// [`CROSS_FIT_BY_DEFAULT`](crate::offline::fuse::CROSS_FIT_BY_DEFAULT)); overrides the base
    /// config's `[train] cross_fit` for this case.
    #[serde(default = "default_cross_fit")]
    pub cross_fit: bool,
}

fn default_folds() -> usize {
    4
}
fn default_tile() -> usize {
    64
}
fn default_cross_fit() -> bool {
    crate::offline::fuse::CROSS_FIT_BY_DEFAULT
}

/// The suite file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSuite {
    /// The run configuration every replay starts from (its [train], [reconstruct] … also serve the
    /// fuse cases).
    pub base_config: PathBuf,
    /// Patch budgets of the replays.
    pub budgets: Vec<usize>,
    /// Strategies of the replays.
    pub strategies: Vec<SelectionStrategy>,
    /// Seeds of the random strategy (its runs differ by `[run] seed`).
    #[serde(default = "default_seeds")]
    pub random_seeds: usize,
    /// Replayed images.
    #[serde(default)]
    pub replay: Vec<ReplayCase>,
    /// Overview/zoom pairs.
    #[serde(default)]
    pub fuse: Vec<FuseCase>,
}

fn default_seeds() -> usize {
    5
}

impl EvalSuite {
    /// Reads and checks a suite file.
    pub fn load(path: &Path) -> Result<Self, EvalError> {
        let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
        let suite: Self = toml::from_str(&text).map_err(|e| EvalError::io(path, e.to_string().trim().replace('\n', " ")))?;
        if suite.random_seeds == 0 {
            return Err(EvalError::io(path, "random_seeds = 0: give at least one seed"));
        }
        for f in &suite.fuse {
            if f.zooms.is_empty() || f.score < 2 {
                return Err(EvalError::io(path, format!("fuse case {}: needs at least one zoom and score ≥ 2", f.overview.display())));
            }
        }
        Ok(suite)
    }

    /// The replays as an evaluation grid.
    pub fn grid(&self) -> EvalGrid {
        EvalGrid {
            surfaces: self.replay.iter().map(|r| EvalSurface::File { path: r.file.clone(), channel: r.channel.clone() }).collect(),
            budgets: self.budgets.clone(),
            strategies: self.strategies.clone(),
            random_seeds: self.random_seeds,
        }
    }
}

/// The folder of a fuse case inside the evaluation folder.
pub fn fuse_folder(case: &FuseCase) -> PathBuf {
    let stem = |p: &Path| p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let zooms: Vec<String> = case.zooms.iter().map(|z| stem(z)).collect();
    PathBuf::from(format!("fuse-{}-{}-{}", stem(&case.overview), zooms.join("+"), case.channel))
}

/// Runs one fuse case with the base configuration's sections into `out/<fuse_folder>` and returns its
/// row: the fold means of SR and the fair baseline on the held-out pixels in the "unacquired" columns.
pub fn run_fuse_case(case: &FuseCase, base: &RunSpec, out: &Path, device: tch::Device) -> EvalRow {
    let folder = fuse_folder(case);
    let label = folder.to_string_lossy().into_owned();
    let dir = out.join(&folder);
    let sections = ConfigSections {
        train: Some(base.config.train.clone()),
        reconstruct: Some(base.config.reconstruct.clone()),
        level: Some(base.config.level),
        register: Some(crate::register::RegisterConfig::default()),
        ..ConfigSections::default()
    };
    let opts = FuseOptions {
        channel: Some(case.channel.clone()),
        tile_px: case.tile_px,
        level: sections.level.unwrap_or_default(),
        register: sections.register.clone().unwrap_or_default(),
        train: fuse_training(sections.train.clone(), case.tile_px, case.cross_fit),
        reconstruct: sections.reconstruct.clone().unwrap_or_default(),
        model_input: Interpolation::Bicubic,
        device,
        score_folds: Some(case.score),
    };
    let started = std::time::Instant::now();
    let result = fuse(&case.overview, &case.zooms, &opts, &dir, &mut |_, _| {});
    fuse_row(&label, case, result.as_ref().map_err(|e| e.to_string()), started.elapsed().as_secs_f64())
}

/// The row of a fuse case's report (or its failure).
fn fuse_row(label: &str, case: &FuseCase, report: Result<&FuseReport, String>, wall_s: f64) -> EvalRow {
    let strategy = format!("fuse-{}fold", case.score);
    let mut row = EvalRow::named(label, &strategy, label);
    row.wall_s = Some(wall_s);
    match report {
        Err(e) => row.status = format!("failed: {e}"),
        Ok(r) => {
            if let Some(m) = &r.mean {
                row.psnr_sr_unacquired_db = Some(m.psnr_sr_db);
                row.psnr_fair_unacquired_db = Some(m.psnr_fair_db);
                row.ssim_sr_unacquired = Some(m.ssim_sr);
                row.ssim_fair_unacquired = Some(m.ssim_fair);
            }
            let sr = r.folds.iter().filter(|f| f.output == crate::pipeline::OutputChoice::Sr).count();
            row.output = format!("sr in {sr} of {} folds", r.folds.len());
            row.n_patches = r.folds.len();
            row.device = r.run.device.clone();
            row.train_steps = r.run.training.as_ref().map(|t| t.steps);
            row.status = "ok".into();
        }
    }
    row
}
