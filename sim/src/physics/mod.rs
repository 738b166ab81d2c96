//! Scan physics: how a raster scan of a surface turns into recorded images. Each effect is a
//! submodule with its own config section and enable flag; `scan` composes them for one frame.
//!
//! Order of a scan: the tip-dilated surface (computed once per surface and tip) is displaced
//! laterally by thermal drift minus piezo creep (evaluated once per line, see [`crate::ScanTruth`]),
//! tilted (a plane fixed to the sample), offset by z drift and bowed; the z feedback loop tracks it at `feedback_rate_hz`
//! along each line's trace and retrace (with overscan before the first recorded pixel); the recorded
//! height is the z command; sensor noise and line offsets are added to the recorded height last.

mod creep;
mod distortion;
mod feedback;
mod line;
mod noise;
pub(crate) mod scan;
mod seed;
mod tip;

pub use creep::{CreepConfig, CreepMove, CreepState};
pub use distortion::{BowConfig, DriftConfig, TiltConfig};
pub use feedback::FeedbackConfig;
pub use noise::{LineOffsetConfig, SensorNoiseConfig};
pub use tip::{dilate_paraboloid, DoubleTipConfig, TipConfig};

use crate::config::ConfigError;
use crate::surface::Interpolation;
use serde::{Deserialize, Serialize};

/// Every physical effect of a simulated scan. `Default` gives realistic values with all effects on;
/// [`PhysicsConfig::ideal`] switches everything off (the recorded height is then the surface).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PhysicsConfig {
    /// How the surface is sampled between its grid points.
    pub interpolation: Interpolation,
    /// Lead-in before the first recorded pixel of each pass (and run-out after the last), seconds of
    /// travel at the scan's tip speed, so the feedback has settled when recording starts. The same
    /// time gives the same number of controller updates at any speed, so a tile and the full frame
    /// (same tip speed) agree. Not charged to instrument time: it happens within the turnaround.
    /// `None` (default): long enough for the loop to settle after a drop of the surface's whole
    /// height range — see [`PhysicsConfig::overscan_for_s`].
    pub overscan_s: Option<f64>,
    /// Z feedback loop.
    pub feedback: FeedbackConfig,
    /// Tip shape (dilation).
    pub tip: TipConfig,
    /// White noise on the recorded height.
    pub sensor_noise: SensorNoiseConfig,
    /// 1/f-like line offsets (streaks).
    pub line_offsets: LineOffsetConfig,
    /// Thermal drift.
    pub drift: DriftConfig,
    /// Piezo creep after offset moves.
    pub creep: CreepConfig,
    /// Sample tilt.
    pub tilt: TiltConfig,
    /// Scanner bow.
    pub bow: BowConfig,
}

impl Default for PhysicsConfig {
    fn default() -> Self {
        Self {
            interpolation: Interpolation::Bicubic,
            overscan_s: None,
            feedback: FeedbackConfig::default(),
            tip: TipConfig::default(),
            sensor_noise: SensorNoiseConfig::default(),
            line_offsets: LineOffsetConfig::default(),
            drift: DriftConfig::default(),
            creep: CreepConfig::default(),
            tilt: TiltConfig::default(),
            bow: BowConfig::default(),
        }
    }
}

impl PhysicsConfig {
    /// Every effect off: ideal tracking, a sharp tip, no noise, drift, creep, tilt or bow.
    pub fn ideal() -> Self {
        let mut p = Self::default();
        p.feedback.enabled = false;
        p.tip.enabled = false;
        p.sensor_noise.enabled = false;
        p.line_offsets.enabled = false;
        p.drift.enabled = false;
        p.creep.enabled = false;
        p.tilt.enabled = false;
        p.bow.enabled = false;
        p
    }

    /// Switches off every random effect (sensor noise and line offsets) and the history-dependent
    /// ones (drift and creep), keeping the deterministic physics of the position (feedback, tip,
    /// tilt, bow): a request then gives the same frame whatever was scanned before.
    pub fn without_noise(mut self) -> Self {
        self.sensor_noise.enabled = false;
        self.line_offsets.enabled = false;
        self.drift.enabled = false;
        self.creep.enabled = false;
        self
    }

    /// The lead-in time for a surface whose (tip-dilated) heights span `height_range_m`: the
    /// configured `overscan_s`, or else the time the loop needs to follow a drop of the whole range
    /// at its fastest descent (`i_gain·(A_free − A_sp)` with loss of contact, and the slew limit)
    /// plus 25 controller periods to settle; 0 with ideal tracking.
    pub fn overscan_for_s(&self, height_range_m: f64) -> f64 {
        if let Some(v) = self.overscan_s {
            return v;
        }
        let fb = &self.feedback;
        if !fb.enabled {
            return 0.0;
        }
        let mut descent_m_per_s = f64::INFINITY;
        if fb.loss_of_contact {
            descent_m_per_s = fb.i_gain_per_s * (fb.free_amplitude_m - fb.setpoint_amplitude_m);
        }
        if let Some(slew) = fb.z_slew_m_per_s {
            descent_m_per_s = descent_m_per_s.min(slew);
        }
        let follow_s = if descent_m_per_s.is_finite() { height_range_m.max(0.0) / descent_m_per_s } else { 0.0 };
        follow_s + 25.0 * fb.period_s()
    }

    /// Checks every section; the first problem is returned with its field path.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(v) = self.overscan_s {
            ConfigError::non_negative("physics.overscan_s", v, "s")?;
        }
        self.feedback.validate()?;
        self.tip.validate()?;
        self.sensor_noise.validate()?;
        self.line_offsets.validate()?;
        self.drift.validate()?;
        self.creep.validate()?;
        self.tilt.validate()?;
        self.bow.validate()
    }
}
