//! Random measurement artefacts, all drawn from the scan's seeded RNG: white sensor noise on every
//! recorded height pixel, and 1/f-like line offsets (streaks) shared by the trace and retrace of a
//! line. Both are added to the recorded height after the feedback loop — they do not feed back.

use crate::config::ConfigError;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// White noise of the z (height) sensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SensorNoiseConfig {
    /// Add the noise.
    pub enabled: bool,
    /// Standard deviation of the noise on each recorded height pixel, metres RMS.
    pub rms_m: f64,
}

impl Default for SensorNoiseConfig {
    fn default() -> Self {
        Self { enabled: true, rms_m: 0.1e-9 }
    }
}

/// Line-to-line offsets with a 1/f-like spectrum (the horizontal streaks of real scans).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LineOffsetConfig {
    /// Add the offsets.
    pub enabled: bool,
    /// Standard deviation of the per-line offset, metres RMS.
    pub rms_m: f64,
}

impl Default for LineOffsetConfig {
    fn default() -> Self {
        Self { enabled: true, rms_m: 0.2e-9 }
    }
}

impl SensorNoiseConfig {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::non_negative("physics.sensor_noise.rms_m", self.rms_m, "m")
    }
}

impl LineOffsetConfig {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::non_negative("physics.line_offsets.rms_m", self.rms_m, "m")
    }
}

/// `lines` offsets with a 1/f-like spectrum and standard deviation `rms_m` (Voss–McCartney: the sum
/// of K Gaussian sources, source k redrawn every 2^k lines, each with variance rms² / K).
pub(crate) fn line_offsets<R: Rng>(lines: usize, rms_m: f64, rng: &mut R) -> Vec<f64> {
    let sources = (usize::BITS - lines.max(1).leading_zeros()) as usize + 1;
    let sd = rms_m / (sources as f64).sqrt();
    let draw = |rng: &mut R| -> f64 {
        let z: f64 = StandardNormal.sample(rng);
        sd * z
    };
    let mut values: Vec<f64> = (0..sources).map(|_| draw(rng)).collect();
    (0..lines)
        .map(|j| {
            for (k, v) in values.iter_mut().enumerate() {
                if j > 0 && j % (1usize << k) == 0 {
                    *v = draw(rng);
                }
            }
            values.iter().sum()
        })
        .collect()
}

/// Adds white Gaussian noise of standard deviation `rms_m` to every value.
pub(crate) fn add_white(values: &mut [f32], rms_m: f64, rng: &mut impl Rng) {
    for v in values {
        let n: f64 = StandardNormal.sample(rng);
        *v = (*v as f64 + rms_m * n) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn line_offsets_are_red_with_the_configured_rms() {
        // Pool many frames: per-frame variance of a 1/f process scatters a lot.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let (mut var, mut diff_var, mut n) = (0.0, 0.0, 0.0);
        for _ in 0..200 {
            let o = line_offsets(512, 1e-9, &mut rng);
            var += o.iter().map(|v| v * v).sum::<f64>();
            diff_var += o.windows(2).map(|w| (w[1] - w[0]).powi(2)).sum::<f64>();
            n += o.len() as f64;
        }
        let rms = (var / n).sqrt();
        assert!((rms - 1e-9).abs() < 0.05e-9, "rms {rms:e}");
        // White noise would give a lag-1 difference variance of 2σ²; a red spectrum far less.
        assert!(diff_var / n < 0.5 * var / n, "not red: {} vs {}", diff_var / n, var / n);
    }
}
