//! Registration of an HR frame (a patch, a zoom) against the levelled LR frame (DESIGN.md §1.4a): the
//! frame's position is where the instrument said it scanned, then a sub-pixel shift found by
//! normalised cross-correlation with the LR within ±`max_shift_lr_px` LR pixels, then (for heights)
//! the frame's offset — and its tilt, when levelling asks for a plane — fitted to the LR.
//!
//! A frame whose correlation peak is low or not unique is flagged ambiguous: its shift is reported but
//! it is kept out of training.

mod fit;
mod search;

pub use fit::{fit_gain_offset, fit_relative_plane, GainOffset};
pub use search::{find_shift, ShiftSearch};

use crate::geo_image::GeoImage;
use crate::upsample::GridMapError;
use serde::{Deserialize, Serialize};

/// `[register]`: how HR frames are registered against the LR frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegisterConfig {
    /// Search for a sub-pixel shift (false: the returned geometry is taken as it is).
    pub enabled: bool,
    /// Largest shift searched, LR pixels, along each axis.
    pub max_shift_lr_px: f64,
    /// A correlation peak below this (NCC) is ambiguous.
    pub min_peak: f64,
    /// A peak less than this many times the best competing peak (more than 1 LR px away) is ambiguous.
    pub min_peak_ratio: f64,
}

impl Default for RegisterConfig {
    fn default() -> Self {
        Self { enabled: true, max_shift_lr_px: 2.0, min_peak: 0.5, min_peak_ratio: 1.05 }
    }
}

impl RegisterConfig {
    /// Checks every range; the error names the field and value.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.max_shift_lr_px.is_finite() && self.max_shift_lr_px >= 0.25 && self.max_shift_lr_px <= 16.0) {
            return Err(format!("register.max_shift_lr_px = {}: must lie in [0.25, 16] LR pixels", self.max_shift_lr_px));
        }
        if !(self.min_peak.is_finite() && (-1.0..=1.0).contains(&self.min_peak)) {
            return Err(format!("register.min_peak = {}: must lie in [-1, 1] (a correlation)", self.min_peak));
        }
        if !(self.min_peak_ratio.is_finite() && self.min_peak_ratio >= 1.0) {
            return Err(format!("register.min_peak_ratio = {}: must be ≥ 1", self.min_peak_ratio));
        }
        Ok(())
    }
}

/// Where an HR frame really lies against the LR, and how sure that is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    /// Shift of the frame's content from its returned region along its points (fast) axis, metres.
    pub shift_x_m: f64,
    /// Shift along its lines (slow) axis, metres.
    pub shift_y_m: f64,
    /// The same shift in LR pixels (points, lines).
    pub shift_lr_px: [f64; 2],
    /// The same shift in the frame's own pixels (points, lines).
    pub shift_frame_px: [f64; 2],
    /// Normalised cross-correlation at the peak (1 = identical up to gain and offset).
    pub peak: f64,
    /// The best competing peak more than 1 LR px from it (0 when there is none).
    pub second_peak: f64,
    /// peak ÷ second peak (capped at 100).
    pub peak_ratio: f64,
    /// Whether the shift was searched at all (false: registration off, the shift is 0).
    pub searched: bool,
    /// Low or non-unique peak, or a peak on the border of the search window: not trained on.
    pub ambiguous: bool,
}

impl Registration {
    /// No search: the returned geometry as it is (peak values 0).
    pub fn identity() -> Self {
        Self {
            shift_x_m: 0.0,
            shift_y_m: 0.0,
            shift_lr_px: [0.0; 2],
            shift_frame_px: [0.0; 2],
            peak: 0.0,
            second_peak: 0.0,
            peak_ratio: 0.0,
            searched: false,
            ambiguous: false,
        }
    }
}

/// Why a frame could not be registered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegisterError {
    /// The frame and the LR are not related by an axis-aligned resampling.
    #[error(transparent)]
    Geometry(#[from] GridMapError),
    /// Too little of the frame lies inside the LR frame (with the search margin).
    #[error("only {cols}×{rows} px of the frame lie inside the LR frame with a ±{margin_lr_px} LR px margin: too few to register")]
    OutsideLr {
        /// Usable frame columns.
        cols: usize,
        /// Usable frame rows.
        rows: usize,
        /// The search margin, LR px.
        margin_lr_px: f64,
    },
}

/// Registers `frame` against `lr` (both levelled): the shift and its quality. With registration off,
/// the identity.
pub fn register(lr: &GeoImage, frame: &GeoImage, cfg: &RegisterConfig) -> Result<Registration, RegisterError> {
    if !cfg.enabled {
        return Ok(Registration::identity());
    }
    let found = find_shift(lr, frame, cfg.max_shift_lr_px)?;
    let (lr_px, lr_py) = lr.pitch_m();
    let (f_px, f_py) = frame.pitch_m();
    let [sx, sy] = found.shift_lr_px;
    let (shift_x_m, shift_y_m) = (sx * lr_px, sy * lr_py);
    let peak_ratio = (found.peak / found.second_peak.max(0.01)).min(100.0);
    let on_border = sx.abs() >= cfg.max_shift_lr_px - 0.25 || sy.abs() >= cfg.max_shift_lr_px - 0.25;
    let ambiguous = found.peak < cfg.min_peak || peak_ratio < cfg.min_peak_ratio || on_border;
    Ok(Registration {
        shift_x_m,
        shift_y_m,
        shift_lr_px: found.shift_lr_px,
        shift_frame_px: [if f_px > 0.0 { shift_x_m / f_px } else { 0.0 }, if f_py > 0.0 { shift_y_m / f_py } else { 0.0 }],
        peak: found.peak,
        second_peak: found.second_peak,
        peak_ratio,
        searched: true,
        ambiguous,
    })
}
