//! Settings of the sliding-window reconstruction (serde; unknown keys rejected).

use serde::{Deserialize, Serialize};

/// How the whole HR image is reconstructed from x0 and the measured patches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconstructConfig {
    /// Side of the square inference tiles, pixels (multiple of 4); `None` = the training tile shape.
    pub tile_px: Option<usize>,
    /// Distance between tile origins, pixels; `None` = tile side / 3 (per axis).
    pub stride_px: Option<usize>,
    /// Euler steps from t = 0 to t = 1 (`steps_infer`). Measured on the dry run: 1 step reconstructs
    /// as well as 10 (34.59 vs 34.41 dB on the unacquired region) in a tenth of the time — with x0 the
    /// LR and no noise the learned flow is nearly straight — so 1 is the default.
    pub steps: usize,
    /// Tiles integrated together.
    pub batch_size: usize,
    /// Width of the feathered seam where measured patches are pasted back, pixels; 0 = hard paste.
    pub seam_px: usize,
    /// Smallest blending weight of a tile pixel (the 2-D Hann window is floored here so that border
    /// pixels have weight).
    pub window_floor: f64,
    /// The guard: SR is delivered only when it beats the fair baseline on the held-out acquired
    /// patches (pooled) by more than this, dB. A margin, because the held-out gain is the best of
    /// many evaluations on a few patches: a gain of a few tenths of a dB there is within what
    /// selection and the choice of patches alone give (measured: +0.27 dB held out, −0.50 dB on the
    /// rest) …
    pub guard_min_gain_db: f64,
    /// The learned input filter's own test uses this margin instead of `guard_min_gain_db`, dB (its
    /// t and losing patches are held to the same limits). The filter's evidence is not a best of
    /// many: it is a closed-form least-squares fit of fixed size, each patch predicted by the fit on
    /// the others (leave one out), not a checkpoint chosen on the patches it is judged on. So the
    /// selection margin does not apply, and any sure gain (t above `guard_min_t`) is one.
    pub guard_filter_min_gain_db: f64,
    /// … and no held-out patch loses more than this to the fair baseline, dB (with `[train] cross_fit`,
    /// where every patch is held out once, a quarter of them may); otherwise the fair baseline with the
    /// patches pasted.
    pub guard_max_patch_loss_db: f64,
    /// … and the gain is sure: Student's t of the fair baseline's minus SR's squared error, paired
    /// over blocks of 2 × 2 LR pixels of the held-out pixels and shrunk for the correlation of
    /// neighbouring blocks, is as sure as a normal variable at this t (2 ≈ 97.7 % one-sided): above
    /// Student's quantile at that confidence for the blocks' effective number (2.08 for 32 blocks
    /// that do not correlate). The input filter's own test takes its blocks as independent (t above
    /// this). The filtered fair baseline is delivered only when the input filter's gain is also as
    /// sure over its patches themselves: their t above Student's quantile at this t's confidence.
    pub guard_min_t: f64,
    /// Low-frequency data consistency: SR takes its features finer than a Gaussian of this many LR
    /// pixels from the network and everything coarser from the fair baseline (the LR); 0 = off.
    pub lr_anchor_sigma_lr_px: f64,
}

impl Default for ReconstructConfig {
    fn default() -> Self {
        Self {
            tile_px: None,
            stride_px: None,
            steps: 1,
            batch_size: 64,
            seam_px: 4,
            window_floor: 1e-3,
            guard_min_gain_db: 0.5,
            guard_filter_min_gain_db: 0.0,
            guard_max_patch_loss_db: 0.5,
            guard_min_t: 2.0,
            lr_anchor_sigma_lr_px: 4.0,
        }
    }
}

/// A setting out of range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("reconstruct.{field} = {value}: {why}")]
pub struct ReconstructConfigError {
    /// The offending field.
    pub field: &'static str,
    /// Its value.
    pub value: String,
    /// What is expected.
    pub why: &'static str,
}

impl ReconstructConfig {
    /// The fast CPU setting measured with `TrainConfig::cpu_dry_run` on 512² frames with 64-px tiles:
    /// stride 32 px (tile/2: 4 tiles cover a pixel instead of 9), 1 Euler step, 4-px feathered seam.
    pub fn cpu_dry_run() -> Self {
        Self { stride_px: Some(32), ..Self::default() }
    }

    /// Checks every range; the error names the field and value.
    pub fn validate(&self) -> Result<(), ReconstructConfigError> {
        let err = |field, value: String, why| Err(ReconstructConfigError { field, value, why });
        if let Some(t) = self.tile_px {
            if t < 4 || t % 4 != 0 {
                return err("tile_px", t.to_string(), "must be a positive multiple of 4");
            }
        }
        if self.stride_px == Some(0) {
            return err("stride_px", "0".into(), "must be ≥ 1");
        }
        if self.steps < 1 {
            return err("steps", self.steps.to_string(), "must be ≥ 1");
        }
        if self.batch_size < 1 {
            return err("batch_size", self.batch_size.to_string(), "must be ≥ 1");
        }
        if !self.guard_min_gain_db.is_finite() {
            return err("guard_min_gain_db", self.guard_min_gain_db.to_string(), "must be a finite number of dB");
        }
        if !self.guard_filter_min_gain_db.is_finite() {
            return err("guard_filter_min_gain_db", self.guard_filter_min_gain_db.to_string(), "must be a finite number of dB");
        }
        if !(self.guard_max_patch_loss_db.is_finite() && self.guard_max_patch_loss_db >= 0.0) {
            return err("guard_max_patch_loss_db", self.guard_max_patch_loss_db.to_string(), "must be a finite number of dB ≥ 0");
        }
        if !(self.guard_min_t.is_finite() && self.guard_min_t >= 0.0) {
            return err("guard_min_t", self.guard_min_t.to_string(), "must be a finite number ≥ 0");
        }
        if !(self.lr_anchor_sigma_lr_px.is_finite() && (0.0..=64.0).contains(&self.lr_anchor_sigma_lr_px)) {
            return err("lr_anchor_sigma_lr_px", self.lr_anchor_sigma_lr_px.to_string(), "must lie in [0, 64] LR pixels (0 = off)");
        }
        if !(self.window_floor > 0.0 && self.window_floor <= 1.0) {
            return err("window_floor", self.window_floor.to_string(), "must be in (0, 1]");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_out_of_range_guard_setting_is_refused_by_name() {
        assert_eq!(ReconstructConfig::default().validate(), Ok(()));
        // an old config without the filter's margin takes the default
        let old: ReconstructConfig = toml::from_str("guard_min_gain_db = 0.5\nguard_min_t = 2.0\n").unwrap();
        assert_eq!(old.guard_filter_min_gain_db, 0.0);
        for (cfg, field) in [
            (ReconstructConfig { guard_filter_min_gain_db: f64::NAN, ..ReconstructConfig::default() }, "guard_filter_min_gain_db"),
            (ReconstructConfig { guard_min_gain_db: f64::INFINITY, ..ReconstructConfig::default() }, "guard_min_gain_db"),
            (ReconstructConfig { guard_min_t: -1.0, ..ReconstructConfig::default() }, "guard_min_t"),
        ] {
            let err = cfg.validate().unwrap_err();
            assert_eq!(err.field, field);
            assert!(err.to_string().starts_with(&format!("reconstruct.{field} = ")), "{err}");
        }
    }
}
