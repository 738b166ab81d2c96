//! Levelling of AFM images before anything else looks at them (DESIGN.md §1.0), in Gwyddion's order:
//! a least-squares plane fit removes the sample tilt, then line alignment by the median of
//! differences removes the offset of each scan line against the previous one. Both steps can ignore
//! pixels (a mask: only `true` pixels are fitted), and both are applied to every pixel.
//!
//! Raw frames are never changed in place: levelling returns a new array and what it removed.

mod lines;
mod plane;

pub use lines::{align_lines, align_lines_to, line_offsets};
pub use plane::{fit_plane, fit_plane_through, Plane, PlaneFit};

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

/// How an image is levelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum LevelMode {
    /// Left as acquired.
    #[serde(rename = "none")]
    None,
    /// The least-squares plane removed.
    #[serde(rename = "plane")]
    Plane,
    /// The plane removed, then each line aligned to the previous one by the median of differences.
    #[default]
    #[serde(rename = "plane+lines")]
    PlaneLines,
}

impl LevelMode {
    /// The name as written in configs.
    pub fn name(self) -> &'static str {
        match self {
            LevelMode::None => "none",
            LevelMode::Plane => "plane",
            LevelMode::PlaneLines => "plane+lines",
        }
    }
}

/// How the HR frames' heights are brought onto the levelled LR frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum HrFrameLevelling {
    /// Each frame on its own: its offset and tilt fitted to the LR under it, then (with `plane+lines`)
    /// each line's offset. Right when every scan has its own z offset (z drift, line jumps); the LR's
    /// own errors at the scale of a frame and a line become the frame's.
    #[default]
    #[serde(rename = "each")]
    Each,
    /// Levelled as the LR was, together: what levelling removed from the LR (plane, line offsets) is
    /// removed from every HR pixel at the same place, then one plane is fitted over all the frames at
    /// once (the scanner's one z reference); frames and lines keep the heights they measured relative
    /// to one another. Right when the z reference holds from scan to scan (no z drift, no line jumps).
    #[serde(rename = "joint")]
    Joint,
}

/// `[level]`: how the LR frame, every HR frame and a replayed ground truth are levelled.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LevelConfig {
    /// `none | plane | plane+lines`; unset: `plane+lines` for height channels, `none` for the others
    /// (amplitude, phase, deflection carry no sample tilt).
    pub mode: Option<LevelMode>,
    /// Fit only the pixels within this many robust standard deviations (1.4826 × median absolute
    /// deviation) of a first plane fit, so that particles or tall features do not tilt the plane;
    /// unset: every pixel.
    pub exclude_outliers_sigma: Option<f64>,
    /// How the HR frames' heights are brought onto the levelled LR: `each` (default) or `joint`.
    pub hr_frames: HrFrameLevelling,
}

impl LevelConfig {
    /// The mode for a channel: the configured one, else by kind.
    pub fn mode_for(&self, height: bool) -> LevelMode {
        self.mode.unwrap_or(if height { LevelMode::PlaneLines } else { LevelMode::None })
    }

    /// Checks the ranges; the message names the field and value.
    pub fn validate(&self) -> Result<(), String> {
        match self.exclude_outliers_sigma {
            Some(k) if !(k.is_finite() && k > 0.0) => Err(format!("level.exclude_outliers_sigma = {k}: must be a positive number")),
            _ => Ok(()),
        }
    }

    /// Levels `image` of a height (`height = true`) or other channel.
    pub fn apply(&self, image: ArrayView2<f32>, height: bool) -> Levelled {
        let mode = self.mode_for(height);
        let mask = match (mode, self.exclude_outliers_sigma) {
            (LevelMode::None, _) | (_, None) => None,
            (_, Some(k)) => Some(inlier_mask(image, k)),
        };
        level(image, mode, mask.as_ref().map(|m| m.view()))
    }
}

/// Pixels within `k` robust standard deviations of the residual of a first plane fit.
pub fn inlier_mask(image: ArrayView2<f32>, k: f64) -> Array2<bool> {
    let plane = fit_plane(image, None);
    let residual: Vec<f64> = image.indexed_iter().map(|((r, c), &v)| v as f64 - plane.at(r as f64, c as f64)).collect();
    let mut sorted: Vec<f64> = residual.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let med = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    let mut dev: Vec<f64> = sorted.iter().map(|v| (v - med).abs()).collect();
    dev.sort_by(f64::total_cmp);
    let sigma = 1.4826 * dev.get(dev.len() / 2).copied().unwrap_or(0.0);
    let (_, points) = image.dim();
    Array2::from_shape_fn(image.dim(), |(r, c)| sigma == 0.0 || (residual[r * points + c] - med).abs() <= k * sigma)
}

/// What levelling removed from an image.
#[derive(Debug, Clone, PartialEq)]
pub struct Levelled {
    /// The levelled image, `[line, point]`, in the image's unit.
    pub data: Array2<f32>,
    /// The plane removed (zero for [`LevelMode::None`]).
    pub plane: Plane,
    /// The offset removed from each line after the plane (empty unless lines were aligned).
    pub line_offsets: Vec<f64>,
}

/// Levels `image` (indexed `[line, point]`) as `mode` says, fitting only where `mask` is true (all
/// pixels when `None`). The mean of the fitted pixels is kept: the plane is removed about it, and
/// the line offsets are shifted to sum to zero, so a levelled image keeps its overall height.
pub fn level(image: ArrayView2<f32>, mode: LevelMode, mask: Option<ArrayView2<bool>>) -> Levelled {
    let mut data = image.to_owned();
    let mut plane = Plane::default();
    let mut offsets = Vec::new();
    if mode != LevelMode::None {
        plane = fit_plane(data.view(), mask);
        plane.subtract_tilt(&mut data);
    }
    if mode == LevelMode::PlaneLines {
        offsets = line_offsets(data.view(), mask);
        for (mut row, &o) in data.rows_mut().into_iter().zip(&offsets) {
            row.mapv_inplace(|v| (v as f64 - o) as f32);
        }
    }
    Levelled { data, plane, line_offsets: offsets }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plane_and_line_offsets_are_removed_to_float_tolerance() {
        let (rows, cols) = (40, 56);
        // a surface with structure along the lines and a small feature across a few lines, tilted, with
        // a different offset on every line
        let surface =
            |r: usize, c: usize| 1e-9 * (0.3 * c as f64).sin() + if (10..13).contains(&r) && (20..24).contains(&c) { 2e-9 } else { 0.0 };
        let line_offset = |r: usize| 2e-9 * ((r * 37 % 11) as f64 - 5.0);
        let raw = Array2::from_shape_fn((rows, cols), |(r, c)| {
            (-830e-9 + 3e-9 * c as f64 - 1.5e-9 * r as f64 + surface(r, c) + line_offset(r)) as f32
        });
        let out = level(raw.view(), LevelMode::PlaneLines, None);
        // what is left is the clean surface levelled alone (levelling also removes the surface's own
        // least-squares slope), up to one constant
        let clean = Array2::from_shape_fn((rows, cols), |(r, c)| surface(r, c) as f32);
        let reference = level(clean.view(), LevelMode::PlaneLines, None).data;
        let diff = Array2::from_shape_fn((rows, cols), |(r, c)| out.data[[r, c]] as f64 - reference[[r, c]] as f64);
        let mean = diff.mean().unwrap_or(0.0);
        let worst = diff.iter().map(|d| (d - mean).abs()).fold(0.0, f64::max);
        // f32 holds −830 nm to about 6e-14 m: the residual is that rounding, nothing more
        assert!(worst < 3e-13, "residual after levelling {worst:e} m");
        assert_eq!(out.line_offsets.len(), rows);
        // none leaves the image as it is
        assert_eq!(level(raw.view(), LevelMode::None, None).data, raw);
    }

    #[test]
    fn outlier_exclusion_keeps_a_particle_from_tilting_the_plane() {
        let floor = |r: usize, c: usize| 1e-9 * c as f64 - 0.5e-9 * r as f64;
        let img = Array2::from_shape_fn((48, 48), |(r, c)| {
            (floor(r, c) + if (30..44).contains(&r) && (30..44).contains(&c) { 40e-9 } else { 0.0 }) as f32
        });
        let cfg = LevelConfig { mode: Some(LevelMode::Plane), exclude_outliers_sigma: Some(3.0), ..LevelConfig::default() };
        let out = cfg.apply(img.view(), true);
        assert!((out.plane.slope_per_point - 1e-9).abs() < 1e-12, "{:?}", out.plane);
        let naive = LevelConfig { exclude_outliers_sigma: None, ..cfg }.apply(img.view(), true);
        assert!((naive.plane.slope_per_point - 1e-9).abs() > 1e-11);
        assert_eq!(LevelConfig::default().mode_for(true), LevelMode::PlaneLines);
        assert_eq!(LevelConfig::default().mode_for(false), LevelMode::None);
        assert!(LevelConfig { exclude_outliers_sigma: Some(-1.0), ..cfg }.validate().is_err());
    }
}
