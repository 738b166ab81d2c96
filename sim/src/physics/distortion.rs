//! Deterministic scanner distortions: thermal drift (the sample moves relative to the scanner at a
//! constant velocity, driven by the instrument clock, so repeated scans of one region disagree), and
//! scanner bow (a z error that depends only on the absolute scanner position, so a tile and the full
//! frame see the same bow where they overlap).

use crate::config::ConfigError;
use serde::{Deserialize, Serialize};

/// Thermal drift of the sample relative to the scanner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DriftConfig {
    /// Apply drift.
    pub enabled: bool,
    /// Drift velocity along x, m/s (the sample feature moves by this much per second).
    pub x_m_per_s: f64,
    /// Drift velocity along y, m/s.
    pub y_m_per_s: f64,
    /// Drift velocity of the apparent height, m/s.
    pub z_m_per_s: f64,
}

impl Default for DriftConfig {
    fn default() -> Self {
        // About 1 nm/min laterally and 3 nm/min in z: a stable, but not thermalised, instrument.
        Self { enabled: true, x_m_per_s: 1.7e-11, y_m_per_s: -1.2e-11, z_m_per_s: 5e-11 }
    }
}

impl DriftConfig {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::finite("physics.drift.x_m_per_s", self.x_m_per_s, "m/s")?;
        ConfigError::finite("physics.drift.y_m_per_s", self.y_m_per_s, "m/s")?;
        ConfigError::finite("physics.drift.z_m_per_s", self.z_m_per_s, "m/s")
    }

    /// Displacement of the sample (x, y) and of the apparent height (z) at instrument time `t_s`, m.
    pub fn offset_m(&self, t_s: f64) -> (f64, f64, f64) {
        if self.enabled {
            (self.x_m_per_s * t_s, self.y_m_per_s * t_s, self.z_m_per_s * t_s)
        } else {
            (0.0, 0.0, 0.0)
        }
    }
}

/// Scanner bow: a paraboloidal z error `½·curvature·((x − cx)² + (y − cy)²)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BowConfig {
    /// Apply the bow.
    pub enabled: bool,
    /// Curvature of the bow, 1/m (100 /m → 1.25 nm at 5 µm from the centre).
    pub curvature_per_m: f64,
    /// x of the bow's centre in scanner coordinates, metres.
    pub center_x_m: f64,
    /// y of the bow's centre, metres.
    pub center_y_m: f64,
}

impl Default for BowConfig {
    fn default() -> Self {
        Self { enabled: true, curvature_per_m: 100.0, center_x_m: 0.0, center_y_m: 0.0 }
    }
}

impl BowConfig {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::finite("physics.bow.curvature_per_m", self.curvature_per_m, "1/m")?;
        ConfigError::finite("physics.bow.center_x_m", self.center_x_m, "m")?;
        ConfigError::finite("physics.bow.center_y_m", self.center_y_m, "m")
    }

    /// The bow's z error at scanner position (`x_m`, `y_m`), metres (0 when disabled).
    #[inline]
    pub fn z_m(&self, x_m: f64, y_m: f64) -> f64 {
        if self.enabled {
            0.5 * self.curvature_per_m * ((x_m - self.center_x_m).powi(2) + (y_m - self.center_y_m).powi(2))
        } else {
            0.0
        }
    }
}
