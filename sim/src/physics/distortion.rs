//! Deterministic scanner distortions: thermal drift (the sample moves relative to the scanner at a
//! constant velocity, driven by the instrument clock, so repeated scans of one region disagree),
//! sample tilt (a plane fixed to the sample), and scanner bow (a z error that depends only on the
//! absolute scanner position, so a tile and the full frame see the same bow where they overlap).

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
        // Ambient drift is 1–10 nm/min laterally once the instrument has warmed up; we take the middle
        // of that range on a log scale: (3.3, −2.4) nm/min, 4.1 nm/min in all (6.8e-11 m/s), and
        // 3 nm/min in z. Over a 512-line frame at 1 Hz that is 35 nm, 1.8 px at a 10 µm scan size.
        Self { enabled: true, x_m_per_s: 5.5e-11, y_m_per_s: -4.0e-11, z_m_per_s: 5e-11 }
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

/// Sample tilt: the sample's plane is not the scanner's xy plane. Heights gain
/// `slope_x·x + slope_y·y`, with (x, y) the sample point under the tip in scanner coordinates (the
/// plane moves with the sample under drift and creep; without them it is the plane of the scanner
/// position).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TiltConfig {
    /// Apply the tilt.
    pub enabled: bool,
    /// Height gained per metre along x, m/m (0.01 = 1 % ≈ 0.57°).
    pub slope_x_m_per_m: f64,
    /// Height gained per metre along y, m/m.
    pub slope_y_m_per_m: f64,
}

impl Default for TiltConfig {
    fn default() -> Self {
        // A sample glued to a disc sits 0.1–1° off the scanner plane; 0.5 % (0.29°) is 50 nm over a
        // 10 µm frame, far more than atomic steps, so the raw image is dominated by it, as real ones are.
        Self { enabled: true, slope_x_m_per_m: 4e-3, slope_y_m_per_m: -3e-3 }
    }
}

impl TiltConfig {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::finite("physics.tilt.slope_x_m_per_m", self.slope_x_m_per_m, "m/m")?;
        ConfigError::finite("physics.tilt.slope_y_m_per_m", self.slope_y_m_per_m, "m/m")
    }

    /// The tilt's height at sample point (`x_m`, `y_m`) (scanner coordinates), metres (0 when disabled).
    #[inline]
    pub fn z_m(&self, x_m: f64, y_m: f64) -> f64 {
        if self.enabled {
            self.slope_x_m_per_m * x_m + self.slope_y_m_per_m * y_m
        } else {
            0.0
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
