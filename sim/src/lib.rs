//! afm-sim: the digital twin of afm-spark — ground-truth surfaces (procedural or loaded by the root
//! package), a composable, seeded scan-physics model (PI z feedback with tapping-mode loss of contact
//! and slew limit, paraboloid tip dilation with optional double tip, sensor noise, 1/f line offsets,
//! thermal drift, piezo creep after offset moves, sample tilt, scanner bow), and [`SimulatedAfm`],
//! which implements [`afm_drivers::Instrument`].
//!
//! Model choices worth knowing when using it:
//! - **Pixel value** = the z command averaged over the pixel's dwell (half a pitch either side of its
//!   position), as a controller averages its samples per pixel: so the value sits at the pixel's
//!   position whatever the controller's update step.
//! - **Controller updates are phase-locked to the absolute scanner position** (every tip-speed /
//!   feedback-rate metres), and each line starts with a lead-in (`physics.overscan_s`, automatic by
//!   default), so a tile scanned at the **same tip speed** as the full frame reproduces its crop
//!   (noise off). Same tip speed means tile line rate = full rate × full width / tile width:
//!   a 64-pixel tile of a 512-pixel frame spans 63 pitches of 511, i.e. ×8.11, not ×8. At ×8 exactly
//!   the tip is 1.4 % slower, the updates land elsewhere, and the tile differs from the crop by
//!   ~1 % of the height range RMS (up to ~25 % on single pixels at sharp edges).
//! - **Randomness** (sensor noise, line offsets) is drawn from streams derived from the seed and the
//!   request, so a request gives the same noise whatever ran before; only drift and creep follow
//!   history (the instrument clock and the offset moves, see [`ScannerState`]).
//! - **Ground truth** for metrics: [`SimulatedAfm::ground_truth`] (no tip, feedback, noise, drift,
//!   creep, tilt, bow). **Known truth of each scan** (the sample's displacement per line, for
//!   registration tests): [`SimulatedAfm::scan_truths`], [`ScanTruth`].
//!
//! ```no_run
//! use afm_sim::{SimConfig, SimulatedAfm, SurfaceSpec};
//! let surface = SurfaceSpec::default().generate(1).expect("valid spec");
//! let afm = SimulatedAfm::new(surface, SimConfig::default()).expect("valid config");
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod bench;
pub mod config;
pub mod error;
pub mod instrument;
pub mod physics;
pub mod surface;

pub use config::{ConfigError, LimitsConfig, SimConfig};
pub use error::SimError;
pub use instrument::{ScanTiming, ScanTruth, ScannerState, SimulatedAfm, CHANNELS};
pub use physics::{
    BowConfig, CreepConfig, CreepMove, CreepState, DoubleTipConfig, DriftConfig, FeedbackConfig, LineOffsetConfig, PhysicsConfig,
    SensorNoiseConfig, TiltConfig, TipConfig,
};
pub use surface::{
    GrainsSpec, GratingLayout, GratingSpec, Interpolation, ParticlesSpec, StepDirection, StepSpec, Surface, SurfaceError, SurfaceSpec,
    TerracesSpec,
};
