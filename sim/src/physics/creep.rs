//! Piezo creep of the lateral scanner after an offset move. When the scan offset (the region centre)
//! jumps by Δ, the piezo reaches most of the new position at once and then keeps extending in the
//! direction of the jump, logarithmically in time: `creep(t) = γ·Δ·log10(1 + t/τ)`, t measured from
//! the end of the move (the regularised form of the usual `γ·log10(t / 0.1 s)` law of open-loop
//! piezo actuators, with γ ≈ 0.01–0.02 per decade). Creep of successive jumps superposes (linear
//! viscoelasticity: a jump out and straight back creeps back to where it started), and each jump stops
//! creeping `saturation_s` after its move, which bounds it at `γ·log10(1 + saturation_s/τ)·Δ`.
//! Creep follows the instrument clock only; the state that carries it is part of
//! [`crate::ScannerState`], so a resumed run continues exactly.

use crate::config::ConfigError;
use serde::{Deserialize, Serialize};

/// Piezo creep after a change of the scan offset (the region centre).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CreepConfig {
    /// Apply creep.
    pub enabled: bool,
    /// γ: creep per decade of time after the move, as a fraction of the jump (0.01 = 1 % per decade).
    pub fraction_per_decade: f64,
    /// τ: time scale of the logarithm, seconds (`creep = γ·Δ·log10(1 + t/τ)`).
    pub tau_s: f64,
    /// A jump stops creeping this long after its move, seconds; bounds its creep at
    /// `γ·log10(1 + saturation_s/τ)` of the jump.
    pub saturation_s: f64,
}

impl Default for CreepConfig {
    fn default() -> Self {
        // An open-loop tube or stack: 1 % of the jump per decade after 0.1 s (the low end of the
        // 1–2 % per decade usual for piezo actuators); 2 % of the jump 10 s after the move, and at most
        // 4 % once it stops creeping (1000 s after the move).
        Self { enabled: true, fraction_per_decade: 0.01, tau_s: 0.1, saturation_s: 1000.0 }
    }
}

impl CreepConfig {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::non_negative("physics.creep.fraction_per_decade", self.fraction_per_decade, "per decade")?;
        ConfigError::positive("physics.creep.tau_s", self.tau_s, "s")?;
        ConfigError::non_negative("physics.creep.saturation_s", self.saturation_s, "s")
    }

    /// The creep of one jump `elapsed_s` after the end of its move, as a fraction of the jump:
    /// `γ·log10(1 + min(elapsed_s, saturation_s)/τ)`; 0 before the move ends or when disabled.
    pub fn fraction_after(&self, elapsed_s: f64) -> f64 {
        if !self.enabled || elapsed_s.is_nan() || elapsed_s <= 0.0 {
            return 0.0;
        }
        self.fraction_per_decade * (elapsed_s.min(self.saturation_s) / self.tau_s).ln_1p() / std::f64::consts::LN_10
    }
}

/// One offset jump that is still creeping.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CreepMove {
    /// Instrument clock at the end of the move, seconds.
    pub end_clock_s: f64,
    /// The jump of the offset along x (new centre − old centre), metres.
    pub jump_x_m: f64,
    /// The jump of the offset along y, metres.
    pub jump_y_m: f64,
}

/// The scanner's creep history: the offset it was last moved to, the creep of jumps that have stopped
/// creeping, and the jumps still creeping.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CreepState {
    /// The scan offset (region centre) last commanded, scanner x, metres.
    pub offset_x_m: f64,
    /// The scan offset last commanded, scanner y, metres.
    pub offset_y_m: f64,
    /// Summed final creep of the jumps that no longer creep, x, metres.
    pub settled_x_m: f64,
    /// Summed final creep of the jumps that no longer creep, y, metres.
    pub settled_y_m: f64,
    /// The jumps still creeping, oldest first.
    pub moves: Vec<CreepMove>,
}

impl CreepState {
    /// No creep, the offset at (`x_m`, `y_m`).
    pub fn at_offset(x_m: f64, y_m: f64) -> Self {
        Self { offset_x_m: x_m, offset_y_m: y_m, ..Self::default() }
    }

    /// The state after a move to the offset (`x_m`, `y_m`) that ends at `end_clock_s`. A jump is
    /// recorded when the offset changes and creep is enabled; jumps that have finished creeping by
    /// then are folded into the settled creep.
    pub fn after_move(&self, config: &CreepConfig, end_clock_s: f64, x_m: f64, y_m: f64) -> Self {
        let mut next = self.clone();
        let (jump_x_m, jump_y_m) = (x_m - self.offset_x_m, y_m - self.offset_y_m);
        (next.offset_x_m, next.offset_y_m) = (x_m, y_m);
        if !config.enabled {
            return next;
        }
        let (done, creeping): (Vec<CreepMove>, Vec<CreepMove>) =
            next.moves.iter().partition(|m| end_clock_s - m.end_clock_s >= config.saturation_s);
        for m in &done {
            let f = config.fraction_after(config.saturation_s);
            next.settled_x_m += f * m.jump_x_m;
            next.settled_y_m += f * m.jump_y_m;
        }
        next.moves = creeping;
        if jump_x_m != 0.0 || jump_y_m != 0.0 {
            next.moves.push(CreepMove { end_clock_s, jump_x_m, jump_y_m });
        }
        next
    }

    /// How far the scanner has crept beyond its commanded position at `clock_s`, (x, y) metres: in the
    /// direction of the jumps (the tip stands at commanded + creep). (0, 0) when disabled.
    pub fn creep_m(&self, config: &CreepConfig, clock_s: f64) -> (f64, f64) {
        if !config.enabled {
            return (0.0, 0.0);
        }
        self.moves.iter().fold((self.settled_x_m, self.settled_y_m), |(x, y), m| {
            let f = config.fraction_after(clock_s - m.end_clock_s);
            (x + f * m.jump_x_m, y + f * m.jump_y_m)
        })
    }
}
