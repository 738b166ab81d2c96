//! `SimConfig`: everything about the simulated instrument besides its surface — the physics, the
//! seed, timing (moves, settling, real time) and the limits it reports. Every field carries its unit.

use crate::physics::PhysicsConfig;
use crate::surface::Surface;
use afm_drivers::InstrumentLimits;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A configuration value out of its valid range.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ConfigError {
    /// `field` = `value` violates `reason`.
    #[error("sim config {field} = {value} is invalid: {reason}")]
    Invalid {
        /// Dotted path of the field, e.g. "physics.tip.tip_radius_m".
        field: String,
        /// The value given, with its unit.
        value: String,
        /// What is required.
        reason: String,
    },
}

impl ConfigError {
    /// An [`ConfigError::Invalid`].
    pub fn invalid(field: impl Into<String>, value: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError::Invalid { field: field.into(), value: value.into(), reason: reason.into() }
    }

    pub(crate) fn positive(field: &str, v: f64, unit: &str) -> Result<(), ConfigError> {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err(Self::invalid(field, format!("{v} {unit}"), "must be a finite number > 0"))
        }
    }

    pub(crate) fn non_negative(field: &str, v: f64, unit: &str) -> Result<(), ConfigError> {
        if v.is_finite() && v >= 0.0 {
            Ok(())
        } else {
            Err(Self::invalid(field, format!("{v} {unit}"), "must be a finite number ≥ 0"))
        }
    }

    pub(crate) fn finite(field: &str, v: f64, unit: &str) -> Result<(), ConfigError> {
        if v.is_finite() {
            Ok(())
        } else {
            Err(Self::invalid(field, format!("{v} {unit}"), "must be finite"))
        }
    }
}

/// The limits the simulator reports. Unset scanner ranges default to the surface's extent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Reachable x range of the scanner, metres (`None`: the surface's x extent).
    pub x_range_m: Option<(f64, f64)>,
    /// Reachable y range of the scanner, metres (`None`: the surface's y extent).
    pub y_range_m: Option<(f64, f64)>,
    /// Largest scan size, metres (`None`: the larger side of the scanner range).
    pub max_scan_size_m: Option<f64>,
    /// Fewest and most points per line.
    pub points_range: (usize, usize),
    /// Fewest and most lines per frame.
    pub lines_range: (usize, usize),
    /// Slowest and fastest line rate, Hz (lines per second).
    pub line_rate_range_hz: (f64, f64),
    /// Fastest tip speed, m/s (`None`: no limit besides the line rate).
    pub max_tip_speed_m_per_s: Option<f64>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            x_range_m: None,
            y_range_m: None,
            max_scan_size_m: None,
            points_range: (2, 4096),
            lines_range: (2, 4096),
            line_rate_range_hz: (0.01, 200.0),
            max_tip_speed_m_per_s: None,
        }
    }
}

/// The simulated instrument's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// Seed of every random effect; scans derive their streams from it and the request.
    pub seed: u64,
    /// The scan physics.
    pub physics: PhysicsConfig,
    /// Settling time charged before every scan (after the move), seconds.
    pub settle_s: f64,
    /// Speed of moves between scans (from where the last scan ended to where the next starts), m/s.
    pub move_speed_m_per_s: f64,
    /// Sleep for the instrument time of every scan (abortable); false: return as soon as computed.
    pub realtime: bool,
    /// With `realtime`: wall seconds slept per instrument second (0.25 replays a dry run 4× faster;
    /// the instrument clock, drift and creep still advance by the full instrument time).
    pub time_scale: f64,
    /// The limits reported by `limits()`.
    pub limits: LimitsConfig,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            physics: PhysicsConfig::default(),
            settle_s: 1.0,
            move_speed_m_per_s: 10e-6,
            realtime: false,
            time_scale: 1.0,
            limits: LimitsConfig::default(),
        }
    }
}

impl SimConfig {
    /// Checks every field; the first problem is returned with its path.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.physics.validate()?;
        ConfigError::non_negative("settle_s", self.settle_s, "s")?;
        ConfigError::positive("move_speed_m_per_s", self.move_speed_m_per_s, "m/s")?;
        ConfigError::positive("time_scale", self.time_scale, "")?;
        let l = &self.limits;
        for (field, range) in [("limits.x_range_m", l.x_range_m), ("limits.y_range_m", l.y_range_m)] {
            if let Some((lo, hi)) = range {
                if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                    return Err(ConfigError::invalid(field, format!("({lo}, {hi}) m"), "needs finite lo < hi"));
                }
            }
        }
        if let Some(v) = l.max_scan_size_m {
            ConfigError::positive("limits.max_scan_size_m", v, "m")?;
        }
        if let Some(v) = l.max_tip_speed_m_per_s {
            ConfigError::positive("limits.max_tip_speed_m_per_s", v, "m/s")?;
        }
        for (field, (lo, hi)) in [("limits.points_range", l.points_range), ("limits.lines_range", l.lines_range)] {
            if lo == 0 || lo > hi {
                return Err(ConfigError::invalid(field, format!("({lo}, {hi})"), "needs 1 ≤ lo ≤ hi"));
            }
        }
        let (lo, hi) = l.line_rate_range_hz;
        if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && lo <= hi) {
            return Err(ConfigError::invalid("limits.line_rate_range_hz", format!("({lo}, {hi}) Hz"), "needs 0 < lo ≤ hi"));
        }
        Ok(())
    }

    /// The limits reported for `surface`: unset scanner ranges become the surface's extent.
    pub fn instrument_limits(&self, surface: &Surface) -> InstrumentLimits {
        let r = surface.region();
        let l = &self.limits;
        let x = l.x_range_m.unwrap_or((r.center_x_m - r.width_m / 2.0, r.center_x_m + r.width_m / 2.0));
        let y = l.y_range_m.unwrap_or((r.center_y_m - r.height_m / 2.0, r.center_y_m + r.height_m / 2.0));
        InstrumentLimits {
            max_scan_size_m: l.max_scan_size_m.unwrap_or((x.1 - x.0).max(y.1 - y.0)),
            x_range_m: x,
            y_range_m: y,
            points_range: l.points_range,
            lines_range: l.lines_range,
            line_rate_range_hz: l.line_rate_range_hz,
            max_tip_speed_m_per_s: l.max_tip_speed_m_per_s,
            channels: crate::instrument::CHANNELS.iter().map(|c| c.to_string()).collect(),
        }
    }
}
