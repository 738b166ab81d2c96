//! Tapping-mode z feedback: a discrete PI loop updated at `feedback_rate_hz` on the amplitude error.
//!
//! The tip's rest height above the surface is the gap `g = z − s`. The oscillation amplitude is
//! `A = clamp(A_sp + g, 0, A_free)`, and the controller drives the error `e = A − A_sp` to zero:
//! `integral −= i_gain·dt·e`, `z_target = integral − p_gain·e`, and the z piezo moves towards the
//! target by at most `z_slew_m_per_s·dt` per update. On a downhill edge the tip leaves the surface,
//! the amplitude saturates at `A_free`, and the error — hence the descent speed — is bounded by
//! `A_free − A_sp`: the "parachuting" tail. Uphill the bound is `A_sp`, so uphill edges are sharper.

use crate::config::ConfigError;
use serde::{Deserialize, Serialize};

/// Z feedback parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeedbackConfig {
    /// Model the feedback loop; off = the z command follows the (tip-dilated) surface exactly.
    pub enabled: bool,
    /// Controller update rate, Hz (samples per second of the z loop).
    pub feedback_rate_hz: f64,
    /// Proportional gain, dimensionless (metres of z per metre of error).
    pub p_gain: f64,
    /// Integral gain, 1/s (metres of z per second per metre of error).
    pub i_gain_per_s: f64,
    /// Free oscillation amplitude of the cantilever, metres.
    pub free_amplitude_m: f64,
    /// Amplitude setpoint, metres (< `free_amplitude_m`).
    pub setpoint_amplitude_m: f64,
    /// Tapping-mode loss of contact: bound the error to `[−A_sp, A_free − A_sp]` (off: linear loop).
    pub loss_of_contact: bool,
    /// Fastest z piezo motion, m/s (`None`: unlimited).
    pub z_slew_m_per_s: Option<f64>,
}

impl Default for FeedbackConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            feedback_rate_hz: 2000.0,
            p_gain: 0.1,
            i_gain_per_s: 1500.0,
            free_amplitude_m: 20e-9,
            setpoint_amplitude_m: 16e-9,
            loss_of_contact: true,
            z_slew_m_per_s: Some(100e-6),
        }
    }
}

impl FeedbackConfig {
    /// Checks the parameters, including the stability of the discrete loop
    /// (`i_gain_per_s / feedback_rate_hz + 2·p_gain < 2`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::positive("physics.feedback.feedback_rate_hz", self.feedback_rate_hz, "Hz")?;
        ConfigError::non_negative("physics.feedback.p_gain", self.p_gain, "")?;
        ConfigError::positive("physics.feedback.i_gain_per_s", self.i_gain_per_s, "1/s")?;
        ConfigError::positive("physics.feedback.free_amplitude_m", self.free_amplitude_m, "m")?;
        ConfigError::positive("physics.feedback.setpoint_amplitude_m", self.setpoint_amplitude_m, "m")?;
        if self.setpoint_amplitude_m >= self.free_amplitude_m {
            return Err(ConfigError::invalid(
                "physics.feedback.setpoint_amplitude_m",
                format!("{} m", self.setpoint_amplitude_m),
                format!("must be below free_amplitude_m = {} m", self.free_amplitude_m),
            ));
        }
        if let Some(v) = self.z_slew_m_per_s {
            ConfigError::positive("physics.feedback.z_slew_m_per_s", v, "m/s")?;
        }
        let loop_gain = self.i_gain_per_s / self.feedback_rate_hz + 2.0 * self.p_gain;
        if self.enabled && loop_gain >= 2.0 {
            return Err(ConfigError::invalid(
                "physics.feedback",
                format!("i_gain_per_s / feedback_rate_hz + 2·p_gain = {loop_gain:.3}"),
                "the discrete loop is unstable unless this is < 2 (lower the gains or raise the rate)",
            ));
        }
        Ok(())
    }

    /// The controller period, seconds.
    pub fn period_s(&self) -> f64 {
        1.0 / self.feedback_rate_hz
    }
}

/// The state of the z loop.
#[derive(Debug, Clone)]
pub(crate) struct Controller {
    z_m: f64,
    integral_m: f64,
    i_dt: f64,
    p_gain: f64,
    err_lo_m: f64,
    err_hi_m: f64,
    max_dz_m: f64,
    setpoint_m: f64,
    last_amp_m: f64,
}

impl Controller {
    pub fn new(cfg: &FeedbackConfig) -> Self {
        let dt = cfg.period_s();
        let (err_lo_m, err_hi_m) = if cfg.loss_of_contact {
            (-cfg.setpoint_amplitude_m, cfg.free_amplitude_m - cfg.setpoint_amplitude_m)
        } else {
            (f64::NEG_INFINITY, f64::INFINITY)
        };
        Self {
            z_m: 0.0,
            integral_m: 0.0,
            i_dt: cfg.i_gain_per_s * dt,
            p_gain: cfg.p_gain,
            err_lo_m,
            err_hi_m,
            max_dz_m: cfg.z_slew_m_per_s.map_or(f64::INFINITY, |v| v * dt),
            setpoint_m: cfg.setpoint_amplitude_m,
            last_amp_m: cfg.setpoint_amplitude_m,
        }
    }

    /// Puts the loop at rest on a surface of height `surface_m`.
    pub fn settle(&mut self, surface_m: f64) {
        self.z_m = surface_m;
        self.integral_m = surface_m;
        self.last_amp_m = self.setpoint_m;
    }

    /// The amplitude measured at the most recent update, metres.
    pub fn last_amplitude_m(&self) -> f64 {
        self.last_amp_m
    }

    /// The z command now, metres.
    pub fn z_m(&self) -> f64 {
        self.z_m
    }

    /// One controller update over a surface of height `surface_m` (already tip-dilated, with bow
    /// and drift). Returns the amplitude measured at this update, metres; the new z command is in
    /// [`Controller::z_m`].
    #[inline]
    pub fn step(&mut self, surface_m: f64) -> f64 {
        let err = (self.z_m - surface_m).clamp(self.err_lo_m, self.err_hi_m);
        self.integral_m -= self.i_dt * err;
        let target = self.integral_m - self.p_gain * err;
        self.z_m += (target - self.z_m).clamp(-self.max_dz_m, self.max_dz_m);
        self.last_amp_m = self.setpoint_m + err;
        self.last_amp_m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downhill_descent_is_bounded_by_the_free_amplitude() {
        let cfg = FeedbackConfig { z_slew_m_per_s: None, ..Default::default() };
        let mut c = Controller::new(&cfg);
        c.settle(100e-9);
        // Surface drops by 100 nm: the error saturates at A_free − A_sp = 4 nm, so once saturated
        // each update lowers z by exactly i_gain·dt·4 nm = 3 nm (the P term is a constant offset).
        let mut zs = vec![c.z_m()];
        for _ in 0..10 {
            c.step(0.0);
            zs.push(c.z_m());
        }
        let per_update = (1500.0 / 2000.0) * 4e-9;
        for w in zs.windows(2).skip(1) {
            let drop = w[0] - w[1];
            assert!((drop - per_update).abs() < 1e-15, "drop {drop:e} per update");
        }
        // Uphill (surface rises 100 nm above z): bounded by A_sp = 16 nm, four times faster.
        let mut c = Controller::new(&cfg);
        c.settle(0.0);
        c.step(100e-9);
        let z1 = c.z_m();
        c.step(100e-9);
        assert!((c.z_m() - z1 - 0.75 * 16e-9).abs() < 1e-15);
    }

    #[test]
    fn slew_limit_and_stability_check() {
        let cfg = FeedbackConfig { z_slew_m_per_s: Some(1e-6), ..Default::default() };
        let mut c = Controller::new(&cfg);
        c.settle(0.0);
        c.step(100e-9);
        assert!((c.z_m() - 1e-6 / 2000.0).abs() < 1e-18);
        let unstable = FeedbackConfig { feedback_rate_hz: 500.0, ..Default::default() };
        assert!(unstable.validate().is_err());
        assert!(FeedbackConfig::default().validate().is_ok());
    }
}
