//! The sections of a run configuration file, as serde types with their defaults. Every key carries
//! its unit in its name; the shipped configs in `configs/` comment each one.

use crate::select::SelectionWeights;
use crate::upsample::Interpolation;
use afm_drivers::{Directions, InstrumentLimits, MicroscopePolicy};
use serde::{Deserialize, Serialize};

/// A whole run configuration as written in TOML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Run identity and seed.
    #[serde(default)]
    pub run: RunSection,
    /// The full-resolution frame to reconstruct.
    pub frame: FrameSection,
    /// The fast, coarse LR frame.
    #[serde(default)]
    pub lr: LrSection,
    /// Tile indicators and farthest-first selection.
    pub select: SelectSection,
    /// Levelling of the LR frame, the HR patches and a replayed ground truth.
    #[serde(default)]
    pub level: crate::level::LevelConfig,
    /// Registration of every HR patch against the LR frame.
    #[serde(default)]
    pub register: crate::register::RegisterConfig,
    /// The microscope backend, its safety policy and timing.
    #[serde(default)]
    pub instrument: InstrumentSection,
    /// The digital twin (used when `instrument.backend = "simulator"`, and by `serve-sim`).
    #[serde(default)]
    pub simulator: SimulatorSection,
    /// Lab peripherals read after every frame and logged beside it (`[[peripherals]]`).
    #[serde(default)]
    pub peripherals: Vec<afm_drivers::peripherals::ModbusConfig>,
    /// Training of TinyUNetFlow (defaults: the original AFM-SPARK hyper-parameters).
    #[serde(default)]
    pub train: crate::train::TrainConfig,
    /// Sliding-window reconstruction.
    #[serde(default)]
    pub reconstruct: crate::reconstruct::ReconstructConfig,
}

impl RunConfig {
    /// HR pixels of one tile of the selection grid (points, lines); a grid of 0 counts as 1.
    pub fn tile_px(&self) -> (usize, usize) {
        let grid = self.select.grid.max(1);
        (self.frame.hr_points / grid, self.frame.hr_lines / grid)
    }
}

/// What the reconstruction is scored against in a simulated run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GroundTruthKind {
    /// A full HR frame scanned by the simulator at the HR rate: exactly what the slow full scan the
    /// plan replaces would have delivered (tip, feedback and noise included).
    #[default]
    HrScan,
    /// The clean surface itself at the HR pixel positions (no tip, feedback, noise, drift or bow).
    Surface,
}

/// `[simulator]`: the surface and physics of the digital twin. Seed, settling and move speed come
/// from `[run]` and `[instrument]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimulatorSection {
    /// The procedural surface (`kind = "terraces" | "grains" | "particles" | "grating" | "step"` and
    /// its fields); ignored when `surface_file` is set.
    pub surface: afm_sim::SurfaceSpec,
    /// A real HR image (.ibw, Gwyddion .gwy, pyNSID .h5 or .npy) replayed as the surface, with its physical size
    /// (real-surface replay; `afm-spark run --ground-truth FILE` sets it).
    pub surface_file: Option<std::path::PathBuf>,
    /// Channel of `surface_file` (label such as "HeightRetrace" or name "Height"; default: the first
    /// height channel).
    pub surface_channel: Option<String>,
    /// The scan physics (feedback, tip, noise, drift, bow), each effect switchable.
    pub physics: afm_sim::PhysicsConfig,
    /// Sleep for the instrument time of each scan (a live-like dry run); false: as fast as computed.
    pub realtime: bool,
    /// With `realtime`: wall seconds per instrument second (default 1; 0.25 replays 4× faster).
    pub time_scale: Option<f64>,
    /// Limits the simulated instrument reports (scanner range defaults to the surface extent).
    pub limits: afm_sim::LimitsConfig,
    /// What metrics compare the reconstruction with.
    pub ground_truth: GroundTruthKind,
}

/// `[run]`: identity and reproducibility.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunSection {
    /// A short name for the run (used in folder names and reports).
    pub name: String,
    /// Seed of the simulator (surface and scan noise); training has its own `[train] seed`.
    pub seed: u64,
    /// Where the model runs: "auto" (CUDA when available), "cpu" or "cuda".
    pub device: crate::device::DeviceChoice,
    /// CPU threads libtorch may use (None: libtorch's default, one per physical core). On a machine
    /// shared with other heavy jobs, 1 avoids threads spinning against each other.
    pub threads: Option<usize>,
}

impl Default for RunSection {
    fn default() -> Self {
        Self { name: "run".into(), seed: 0, device: crate::device::DeviceChoice::Auto, threads: None }
    }
}

/// `[frame]`: the HR-equivalent frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameSection {
    /// Centre of the frame along the scanner x axis, metres.
    #[serde(default)]
    pub center_x_m: f64,
    /// Centre of the frame along the scanner y axis, metres.
    #[serde(default)]
    pub center_y_m: f64,
    /// Edge-to-edge width of the frame (Asylum `ScanSize`), metres.
    pub scan_size_m: f64,
    /// Edge-to-edge height, metres (default: square pixels).
    #[serde(default)]
    pub scan_height_m: Option<f64>,
    /// Scan rotation, degrees.
    #[serde(default)]
    pub angle_deg: f64,
    /// HR points per line.
    pub hr_points: usize,
    /// HR lines per frame.
    pub hr_lines: usize,
    /// Line rate of a full HR frame, lines per second.
    pub hr_line_rate_hz: f64,
    /// The channel reconstructed, e.g. "Height".
    #[serde(default = "default_channel")]
    pub channel: String,
    /// Which line passes to record.
    #[serde(default)]
    pub directions: Directions,
}

fn default_channel() -> String {
    "Height".into()
}

/// `[lr]`: how much faster and coarser the LR frame is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LrSection {
    /// LR line rate ÷ HR line rate (≥ 1).
    pub rate_factor: f64,
    /// HR points and lines ÷ LR points and lines.
    pub decimation: usize,
    /// How the LR frame is brought onto the HR grid as the model's input x0 (at its true physical
    /// positions, like the baselines).
    pub model_input: Interpolation,
}

impl Default for LrSection {
    fn default() -> Self {
        Self { rate_factor: 4.0, decimation: 4, model_input: Interpolation::Bicubic }
    }
}

/// `[select]`: indicators and farthest-first picks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectSection {
    /// Tiles per side of the tiling.
    #[serde(default = "default_grid")]
    pub grid: usize,
    /// How many tiles to scan at HR.
    pub n_select: usize,
    /// How tiles are chosen (farthest-first is the method; the others are references).
    #[serde(default)]
    pub strategy: crate::select::SelectionStrategy,
    /// Indicator weights and λ.
    #[serde(default)]
    pub weights: SelectionWeights,
    /// Texture cut-off radius as a fraction of the LR Nyquist (indicators run on the LR's own pixels).
    #[serde(default = "default_cutoff")]
    pub texture_cutoff_fraction_of_nyquist: f64,
    /// Settings of the `active` strategy (`[select.active]`).
    #[serde(default)]
    pub active: ActivePicking,
}

/// `[select.active]`: how the `active` strategy decides its picks after the farthest-first seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActivePicking {
    /// The first picks, made farthest-first before any model exists.
    pub seed_picks: usize,
    /// Optimiser steps the picking model trains on the patches so far before each decision (at least;
    /// during a real-time acquisition it keeps training between decisions).
    pub steps_per_pick: usize,
    /// Weight of the farthest-first score (distance in indicator space to the picks so far, standardised
    /// over the candidates) added to the standardised mean uncertainty of each candidate tile.
    pub indicator_blend: f64,
}

impl Default for ActivePicking {
    fn default() -> Self {
        Self { seed_picks: 4, steps_per_pick: 50, indicator_blend: 0.0 }
    }
}

fn default_grid() -> usize {
    8
}
fn default_cutoff() -> f64 {
    0.5
}

/// Which backend drives the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// The built-in digital twin.
    #[default]
    Simulator,
    /// An Asylum MFP-3D / Cypher through ZeroMQ-XOP and afm-spark's procedures inside Igor Pro (or
    /// `afm-spark serve-sim`, the fake), reached as `[instrument.bridge]` says.
    Mfp3d,
}

/// `[instrument]`: backend, timing estimates and safety policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InstrumentSection {
    /// The backend.
    pub backend: Backend,
    /// Settling time before each scan, seconds (used in the time accounting; the simulator takes it too).
    pub settle_s: f64,
    /// Speed of a move between scans, m/s (accounting and simulator).
    pub move_speed_m_per_s: f64,
    /// Timeouts and retries.
    pub policy: MicroscopePolicy,
    /// Narrower safe limits than the instrument's own (never wider).
    pub limits: Option<InstrumentLimits>,
    /// How to reach the bridge (backend "mfp3d").
    pub bridge: Option<afm_drivers::mfp3d::BridgeSettings>,
}

impl Default for InstrumentSection {
    fn default() -> Self {
        Self {
            backend: Backend::Simulator,
            settle_s: 1.0,
            move_speed_m_per_s: 10e-6,
            policy: MicroscopePolicy::default(),
            limits: None,
            bridge: None,
        }
    }
}
