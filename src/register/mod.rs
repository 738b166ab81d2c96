//! Registration of an HR frame (a patch, a zoom) against the levelled LR frame (DESIGN.md §1.4a): the
//! frame's position is where the instrument said it scanned, then a sub-pixel shift found by
//! normalised cross-correlation with the LR within ±`max_shift_lr_px` LR pixels, then (for heights)
//! the frame's offset — and its tilt, when levelling asks for a plane — fitted to the LR.
//!
//! A frame whose correlation peak is low or not unique is flagged ambiguous: its shift is reported but
//! it is kept out of training.

mod fit;
mod line_shifts;
mod search;

pub use fit::{fit_gain_offset, fit_relative_plane, GainOffset};
pub use line_shifts::undo_line_shifts;
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
    /// A shift less certain than this, as a standard error in the frame's own pixels, is ambiguous: a
    /// nearly featureless frame correlates highly with any nearby shift of the LR. The standard error is
    /// the peak's spread (how far the shift can move before the correlation falls by the mismatch
    /// `1 − peak` it already has, `√(2·(1 − peak) / curvature)`, along the direction the content pins
    /// down) over the square root of the number of LR pixels compared: the Cramér–Rao bound of a
    /// correlation whose mismatch is independent from one LR pixel to the next. The mismatch is
    /// correlated in practice, so the true error runs larger (about 2× on the dry run). Default ¼ of a
    /// pixel, the precision registration aims at. (Left out of the serialised config at its default,
    /// so that a session journaled before it existed keeps its config hash and can be resumed.)
    #[serde(skip_serializing_if = "is_default_max_shift_sigma")]
    pub max_shift_sigma_frame_px: f64,
    /// The channel whose images are registered, when not the one reconstructed: one with more contrast
    /// at the LR's resolution (amplitude or deflection for a flat film's height). Its LR and frames are
    /// levelled by their own kind; the shifts found move the reconstructed channel's frames. The closed
    /// loop then acquires this channel too. (Left out of the serialised config when unset.)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// A direction along which the correlation's curvature is less than this fraction of the
    /// strongest is not pinned down by the content (a straight edge): its component comes from the
    /// motion model of drift and creep fitted to every patch, when there is one.
    pub min_curvature_ratio: f64,
    /// Undo the drift and creep within each patch: move every line by the motion model's prediction
    /// of how far it lies from the patch's mean shift (needs the motion model: closed-loop runs);
    /// each patch is then registered again with those shifts undone and the model fitted again.
    pub undo_line_motion: bool,
}

/// The default of [`RegisterConfig::max_shift_sigma_frame_px`], frame pixels.
pub const DEFAULT_MAX_SHIFT_SIGMA_FRAME_PX: f64 = 0.25;

fn is_default_max_shift_sigma(v: &f64) -> bool {
    *v == DEFAULT_MAX_SHIFT_SIGMA_FRAME_PX
}

impl Default for RegisterConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_shift_lr_px: 2.0,
            min_peak: 0.5,
            min_peak_ratio: 1.05,
            max_shift_sigma_frame_px: DEFAULT_MAX_SHIFT_SIGMA_FRAME_PX,
            channel: None,
            min_curvature_ratio: 0.1,
            undo_line_motion: true,
        }
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
        if self.max_shift_sigma_frame_px.is_nan() || self.max_shift_sigma_frame_px <= 0.0 {
            return Err(format!(
                "register.max_shift_sigma_frame_px = {}: must be > 0 frame pixels (inf for no limit)",
                self.max_shift_sigma_frame_px
            ));
        }
        if self.channel.as_deref().is_some_and(|c| c.trim().is_empty()) {
            return Err("register.channel = \"\": name a channel (e.g. \"Amplitude\"), or leave it out to register the reconstructed one".into());
        }
        if !(self.min_curvature_ratio.is_finite() && (0.0..=1.0).contains(&self.min_curvature_ratio)) {
            return Err(format!("register.min_curvature_ratio = {}: must lie in [0, 1]", self.min_curvature_ratio));
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
    /// The shift the correlation alone found, LR pixels (points, lines); `shift_lr_px` differs from it
    /// along a weak direction filled in by the motion model.
    pub measured_lr_px: [f64; 2],
    /// Unit vector (points, lines) of the direction the content does not pin down, when the
    /// correlation's curvature along it is below `min_curvature_ratio` of the strongest.
    pub weak_axis: Option<[f64; 2]>,
    /// Smallest over largest curvature of the correlation peak (1: a round peak, 0: a ridge).
    pub curvature_ratio: f64,
    /// How far, LR pixels, the shift can move along the direction the content pins down (across the
    /// edges when there is a weak axis, else the flattest direction) before the correlation falls by
    /// the mismatch `1 − peak` it already has: a scale of the shift's uncertainty.
    #[serde(default)]
    pub spread_lr_px: f64,
    /// The shift's standard error along that direction, in the frame's own pixels: `spread_lr_px` over
    /// the square root of the LR pixels compared, brought to the frame's pitch (see
    /// [`RegisterConfig::max_shift_sigma_frame_px`]).
    #[serde(default)]
    pub sigma_frame_px: f64,
    /// Curvature of the correlation at its peak, `−Hessian` in 1/LR px² (points, lines).
    #[serde(default)]
    pub curvature: [[f64; 2]; 2],
    /// Whether the component along `weak_axis` came from the motion model.
    pub from_motion_model: bool,
    /// Whether the components the correlation pins down came from the motion model's fit too: it
    /// weighs this frame's measurement together with every other frame's, and is taken where the
    /// measurement agrees with it within the scatter of all frames' measurements about it.
    #[serde(default)]
    pub pinned_from_motion_model: bool,
    /// The correlation ridge along a straight edge ran into the search window's border: the measured
    /// component along `weak_axis` is clipped and says nothing. The motion model fills that component
    /// in; without one it is taken as 0 (the stated position, `weak_from_stated`).
    #[serde(default)]
    pub ridge_at_border: bool,
    /// Whether the component along `weak_axis` is 0, the frame's stated position, because the ridge
    /// was clipped and no motion model could fill it in (along a straight edge a shift changes
    /// little of the content, so the frame is still trained on).
    #[serde(default)]
    pub weak_from_stated: bool,
    /// Whether the shift was searched at all (false: registration off, the shift is 0).
    pub searched: bool,
    /// Low, non-unique or flat peak, or a peak on the border of the search window: not trained on.
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
            measured_lr_px: [0.0; 2],
            weak_axis: None,
            curvature_ratio: 0.0,
            spread_lr_px: 0.0,
            sigma_frame_px: 0.0,
            curvature: [[0.0; 2]; 2],
            from_motion_model: false,
            pinned_from_motion_model: false,
            ridge_at_border: false,
            weak_from_stated: false,
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
    let [sx, sy] = found.shift_lr_px;
    let peak_ratio = (found.peak / found.second_peak.max(0.01)).min(100.0);
    let ((strong, weak), eigen_vector_of_smallest) = eigen(found.curvature);
    let curvature_ratio = if strong > 0.0 { (weak / strong).max(0.0) } else { 0.0 };
    let weak_axis = (curvature_ratio < cfg.min_curvature_ratio).then_some(eigen_vector_of_smallest);
    let on_border = sx.abs() >= cfg.max_shift_lr_px - 0.25 || sy.abs() >= cfg.max_shift_lr_px - 0.25;
    // Along a straight edge the peak is a ridge and where the search stopped along it means nothing:
    // only a border reached across the edge makes the shift unknown.
    let across_on_border = match weak_axis {
        Some(w) => on_border && (-w[1] * sx + w[0] * sy).abs() >= cfg.max_shift_lr_px - 0.25,
        None => on_border,
    };
    let (pinned, pinned_axis) = match weak_axis {
        Some(w) => (strong, [-w[1], w[0]]),
        None => (weak, eigen_vector_of_smallest),
    };
    let spread_lr_px = shift_spread_lr_px(found.peak, pinned);
    let sigma_frame_px = shift_sigma_frame_px(spread_lr_px, found.compared_lr_px2, pinned_axis, lr, frame);
    let ambiguous = found.peak < cfg.min_peak
        || peak_ratio < cfg.min_peak_ratio
        || across_on_border
        // a shift whose standard error is not a number is as unsure as one above the limit
        || sigma_frame_px.is_nan()
        || sigma_frame_px > cfg.max_shift_sigma_frame_px;
    let mut r = Registration {
        shift_x_m: 0.0,
        shift_y_m: 0.0,
        shift_lr_px: found.shift_lr_px,
        shift_frame_px: [0.0; 2],
        peak: found.peak,
        second_peak: found.second_peak,
        peak_ratio,
        measured_lr_px: found.shift_lr_px,
        weak_axis,
        curvature_ratio,
        spread_lr_px,
        sigma_frame_px,
        curvature: found.curvature,
        from_motion_model: false,
        pinned_from_motion_model: false,
        ridge_at_border: on_border && !across_on_border,
        weak_from_stated: false,
        searched: true,
        ambiguous,
    };
    r.set_shift_lr_px(found.shift_lr_px, lr, frame);
    Ok(r)
}

impl Registration {
    /// Keeps the measured component of the shift across `weak_axis` and sets the one along it to
    /// `along_lr_px` (LR pixels). Returns false, changing nothing, without a weak axis.
    pub fn set_weak_component(&mut self, along_lr_px: f64) -> bool {
        let Some(w) = self.weak_axis else { return false };
        let u = [-w[1], w[0]];
        let across = u[0] * self.measured_lr_px[0] + u[1] * self.measured_lr_px[1];
        self.shift_lr_px = [across * u[0] + along_lr_px * w[0], across * u[1] + along_lr_px * w[1]];
        true
    }

    /// Sets the component of the shift along the unit direction `u` to `value_lr_px` (LR pixels),
    /// keeping the component across it.
    pub fn set_component(&mut self, u: [f64; 2], value_lr_px: f64) {
        let now = u[0] * self.shift_lr_px[0] + u[1] * self.shift_lr_px[1];
        self.shift_lr_px = [self.shift_lr_px[0] + (value_lr_px - now) * u[0], self.shift_lr_px[1] + (value_lr_px - now) * u[1]];
    }

    /// The correlation's curvature at its peak along the unit direction `u`, 1/LR px².
    pub fn curvature_along(&self, u: [f64; 2]) -> f64 {
        let c = self.curvature;
        u[0] * (c[0][0] * u[0] + c[0][1] * u[1]) + u[1] * (c[1][0] * u[0] + c[1][1] * u[1])
    }

    /// Takes the stated position (0) along `weak_axis`, keeping the measured component across it;
    /// marks `weak_from_stated`. Nothing changes without a weak axis.
    pub fn take_weak_component_as_stated(&mut self) {
        if self.set_weak_component(0.0) {
            self.weak_from_stated = true;
        }
    }

    /// Sets the shift (LR pixels) and its forms in metres and in the frame's pixels.
    pub fn set_shift_lr_px(&mut self, shift: [f64; 2], lr: &GeoImage, frame: &GeoImage) {
        let (lr_px, lr_py) = lr.pitch_m();
        let (f_px, f_py) = frame.pitch_m();
        self.shift_lr_px = shift;
        (self.shift_x_m, self.shift_y_m) = (shift[0] * lr_px, shift[1] * lr_py);
        self.shift_frame_px = [if f_px > 0.0 { self.shift_x_m / f_px } else { 0.0 }, if f_py > 0.0 { self.shift_y_m / f_py } else { 0.0 }];
    }
}

/// How far (LR pixels) a shift can move before a correlation peak of height `peak` and curvature
/// `curvature` (1/LR px²) falls by the mismatch `1 − peak`: `√(2·(1 − peak) / curvature)`, infinite for
/// a peak without curvature.
pub fn shift_spread_lr_px(peak: f64, curvature: f64) -> f64 {
    if curvature > 0.0 {
        (2.0 * (1.0 - peak).max(0.0) / curvature).sqrt()
    } else {
        f64::INFINITY
    }
}

/// The standard error (frame pixels) of a shift whose spread is `spread_lr_px` along the unit direction
/// `u` (LR pixel axes), measured over `compared_lr_px2` LR pixels: `spread / √compared`, brought from
/// the LR's pitch to the frame's along `u`. Infinite when nothing was compared.
pub fn shift_sigma_frame_px(spread_lr_px: f64, compared_lr_px2: f64, u: [f64; 2], lr: &GeoImage, frame: &GeoImage) -> f64 {
    let ((lr_px, lr_py), (f_px, f_py)) = (lr.pitch_m(), frame.pitch_m());
    if compared_lr_px2 <= 0.0 || f_px <= 0.0 || f_py <= 0.0 {
        return f64::INFINITY;
    }
    let frame_px_per_lr_px = (u[0] * lr_px / f_px).hypot(u[1] * lr_py / f_py);
    spread_lr_px / compared_lr_px2.sqrt() * frame_px_per_lr_px
}

/// Eigenvalues (largest, smallest) of a symmetric 2 × 2 matrix and the unit eigenvector of the smallest.
pub fn eigen(m: [[f64; 2]; 2]) -> ((f64, f64), [f64; 2]) {
    let (a, b, d) = (m[0][0], m[0][1], m[1][1]);
    let mean = 0.5 * (a + d);
    let r = (0.25 * (a - d).powi(2) + b * b).sqrt();
    let (hi, lo) = (mean + r, mean - r);
    // (b, lo − a) is an eigenvector of lo unless b = 0, then the axis with the smaller diagonal.
    let v = if b.abs() > 1e-15 * (a.abs() + d.abs()).max(f64::MIN_POSITIVE) {
        let (x, y) = (b, lo - a);
        let n = x.hypot(y);
        [x / n, y / n]
    } else if a <= d {
        [1.0, 0.0]
    } else {
        [0.0, 1.0]
    };
    ((hi, lo), v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use afm_drivers::{Raster, ScanRegion};
    use ndarray::Array2;

    /// Straight edges along y (a sum of waves in x) with a faint slope along y: the correlation is a
    /// ridge along y.
    fn edges_along_y(x: f64, y: f64) -> f64 {
        let k = 2.0 * std::f64::consts::PI / 1e-6;
        (k * 1.3 * x).sin() + 0.5 * (k * 2.9 * x + 0.7).sin() + 0.02 * y / 1e-6
    }

    /// The surface displaced by (`dx_m`, `dy_m`), sampled `n` × `n` over `region`.
    fn sampled(region: ScanRegion, n: usize, (dx_m, dy_m): (f64, f64)) -> GeoImage {
        let raster = Raster::square(n);
        let data = Array2::from_shape_fn((n, n), |(r, c)| {
            let (x, y) = region.pixel_position_m(&raster, c as f64, r as f64);
            edges_along_y(x - dx_m, y - dy_m) as f32
        });
        GeoImage::new(data, region, "m")
    }

    /// The LR shows the surface where it is; the frame's content is displaced by (dx, dy).
    fn frame_shifted_by(dx_m: f64, dy_m: f64) -> (GeoImage, GeoImage) {
        (sampled(ScanRegion::square(0.0, 0.0, 4e-6), 64, (0.0, 0.0)), sampled(ScanRegion::square(0.3e-6, -0.2e-6, 1e-6), 64, (dx_m, dy_m)))
    }

    /// `f` sampled `n` × `n` over `region`, with fine pseudo-noise of amplitude `noise` that depends on
    /// the sampling position (so the LR and the frame see independent noise).
    fn sample(f: impl Fn(f64, f64) -> f64, region: ScanRegion, n: usize, noise: f64) -> GeoImage {
        let raster = Raster::square(n);
        let data = Array2::from_shape_fn((n, n), |(r, c)| {
            let (x, y) = region.pixel_position_m(&raster, c as f64, r as f64);
            let k = (x * 1e9).round() * 7.0 + (y * 1e9).round() * 13.0;
            (f(x, y) + noise * ((k * 12.9898).sin() + (k * 78.233).sin() + (k * 37.719).sin())) as f32
        });
        GeoImage::new(data, region, "m")
    }

    #[test]
    fn the_config_check_names_the_field_and_value() {
        assert_eq!(RegisterConfig::default().validate(), Ok(()));
        let unlimited = RegisterConfig { max_shift_sigma_frame_px: f64::INFINITY, ..Default::default() };
        assert_eq!(unlimited.validate(), Ok(()));
        for bad in [0.0, -1.0, f64::NAN] {
            let err = RegisterConfig { max_shift_sigma_frame_px: bad, ..Default::default() }.validate().unwrap_err();
            assert!(err.starts_with(&format!("register.max_shift_sigma_frame_px = {bad}")), "{err}");
        }
        let err = RegisterConfig { max_shift_lr_px: 0.1, ..Default::default() }.validate().unwrap_err();
        assert!(err.contains("register.max_shift_lr_px = 0.1"), "{err}");
    }

    #[test]
    fn a_flat_correlation_peak_is_ambiguous_by_default_but_a_sharp_one_under_the_same_noise_is_not() {
        let cfg = RegisterConfig::default();
        let k = 2.0 * std::f64::consts::PI / 1e-6;
        // one slow swell (wavelengths 4–5 µm over a 1 µm frame): next to featureless at the LR's pitch
        let swell = |x: f64, y: f64| (k * x / 4.0).sin() * (k * y / 5.0 + 0.3).cos();
        // the same amplitude in features of about 1 µm
        let texture = |x: f64, y: f64| (k * 1.3 * x + 0.4).sin() * (k * 0.9 * y).cos() + 0.6 * (k * (0.7 * x + 1.7 * y)).sin();
        let (lr_region, frame_region) = (ScanRegion::square(0.0, 0.0, 4e-6), ScanRegion::square(0.3e-6, -0.2e-6, 1e-6));
        let flat = register(&sample(swell, lr_region, 64, 0.01), &sample(swell, frame_region, 64, 0.01), &cfg).unwrap();
        let sharp = register(&sample(texture, lr_region, 64, 0.01), &sample(texture, frame_region, 64, 0.01), &cfg).unwrap();
        eprintln!(
            "flat: peak {:.4}, spread {:.2} LR px, σ {:.2} frame px; sharp: peak {:.4}, spread {:.2} LR px, σ {:.2} frame px",
            flat.peak, flat.spread_lr_px, flat.sigma_frame_px, sharp.peak, sharp.spread_lr_px, sharp.sigma_frame_px
        );
        assert!(flat.peak > cfg.min_peak && flat.peak_ratio > cfg.min_peak_ratio, "the peak tests alone pass it: {flat:?}");
        assert!(flat.sigma_frame_px > cfg.max_shift_sigma_frame_px && flat.ambiguous, "{flat:?}");
        assert!(sharp.sigma_frame_px < 0.5 * cfg.max_shift_sigma_frame_px && !sharp.ambiguous, "{sharp:?}");
        // with no limit the standard error is reported, not acted on
        let unlimited = RegisterConfig { max_shift_sigma_frame_px: f64::INFINITY, ..Default::default() };
        let reported = register(&sample(swell, lr_region, 64, 0.01), &sample(swell, frame_region, 64, 0.01), &unlimited);
        assert!(reported.is_ok_and(|r| !r.ambiguous && (r.sigma_frame_px - flat.sigma_frame_px).abs() < 1e-12));
        assert!((shift_spread_lr_px(0.98, 0.5) - 0.2832).abs() < 1e-3 && shift_spread_lr_px(0.9, 0.0).is_infinite());
    }

    #[test]
    fn the_standard_error_falls_with_the_root_of_the_compared_area_and_is_counted_in_frame_pixels() {
        // LR pitch 4 µm / 63, frame pitch 1 µm / 63: four frame pixels per LR pixel on both axes
        let lr = sample(|_, _| 0.0, ScanRegion::square(0.0, 0.0, 4e-6), 64, 0.0);
        let frame = sample(|_, _| 0.0, ScanRegion::square(0.0, 0.0, 1e-6), 64, 0.0);
        let diagonal = [std::f64::consts::FRAC_1_SQRT_2; 2];
        for u in [[1.0, 0.0], [0.0, 1.0], diagonal] {
            let small = shift_sigma_frame_px(0.5, 100.0, u, &lr, &frame);
            assert!((small - 0.5 / 10.0 * 4.0).abs() < 1e-9, "{small}");
            let large = shift_sigma_frame_px(0.5, 1600.0, u, &lr, &frame);
            assert!((large - small / 4.0).abs() < 1e-9, "16× the area: a quarter of the error, {large} vs {small}");
        }
        assert!(shift_sigma_frame_px(0.5, 0.0, [1.0, 0.0], &lr, &frame).is_infinite());
    }

    #[test]
    fn a_ridge_clipped_along_an_edge_keeps_its_across_component_but_a_border_across_it_is_ambiguous() {
        let cfg = RegisterConfig::default();
        let lr_pitch = 4e-6 / 63.0;
        // 3 LR px along the edges (beyond the ±2 px window), half a pixel across them
        let (lr, frame) = frame_shifted_by(0.5 * lr_pitch, 3.0 * lr_pitch);
        let r = register(&lr, &frame, &cfg).unwrap();
        let w = r.weak_axis.expect("straight edges leave a weak axis");
        assert!(w[1].abs() > 0.95, "weak axis {w:?} should run along y");
        assert!(r.ridge_at_border && !r.ambiguous, "{r:?}");
        assert!((r.measured_lr_px[0].abs() - 0.5).abs() < 0.1, "across the edges the shift is found: {:?}", r.measured_lr_px);
        // Without a motion model the component along the edges is the stated position (0), the one
        // across them is kept.
        let mut stated = r;
        stated.take_weak_component_as_stated();
        assert!(stated.weak_from_stated, "{stated:?}");
        let along = w[0] * stated.shift_lr_px[0] + w[1] * stated.shift_lr_px[1];
        let across = |s: [f64; 2]| -w[1] * s[0] + w[0] * s[1];
        assert!(along.abs() < 1e-12, "along the edges: {along}");
        assert!((across(stated.shift_lr_px) - across(r.measured_lr_px)).abs() < 1e-12, "{stated:?}");
        assert!(r.measured_lr_px[1].abs() > 1.5, "the clipped ridge measured far along the edges: {:?}", r.measured_lr_px);
        // 3 LR px across the edges: the shift lies outside the window
        let (lr, frame) = frame_shifted_by(3.0 * lr_pitch, 0.0);
        let r = register(&lr, &frame, &cfg).unwrap();
        assert!(r.ambiguous && !r.ridge_at_border, "{r:?}");
    }
}
